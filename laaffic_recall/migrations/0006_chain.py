"""Seals on open cancel attempts, MACed chain checks, and the audit log's database guards.

PostgreSQL: ``TRUNCATE`` of the attempts or the checks is refused, and a check can be
neither changed nor deleted (the attempts' row trigger comes from 0003). SQLite: a
finished attempt cannot be changed (except that a deleted user, task or node sets its
link to NULL, and an unchained row gets its chain link once), no attempt can be deleted,
and a check can be neither changed nor deleted. The database owner can still drop or
disable these triggers; the verifier then names what was changed.
"""

from django.db import migrations, models

ATTEMPTS = "laaffic_recall_cancelattempt"
CHECKS = "laaffic_recall_auditchaincheck"

POSTGRESQL_GUARDS = f"""
CREATE FUNCTION laaffic_recall_refuse_truncate() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% cannot be truncated: the audit log is append-only', TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION laaffic_recall_check_frozen() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit chain check % cannot be changed or deleted: the checks are '
        'append-only', OLD.id USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER laaffic_recall_attempt_no_truncate BEFORE TRUNCATE ON {ATTEMPTS}
    FOR EACH STATEMENT EXECUTE FUNCTION laaffic_recall_refuse_truncate();
CREATE TRIGGER laaffic_recall_check_no_truncate BEFORE TRUNCATE ON {CHECKS}
    FOR EACH STATEMENT EXECUTE FUNCTION laaffic_recall_refuse_truncate();
CREATE TRIGGER laaffic_recall_check_frozen BEFORE UPDATE OR DELETE ON {CHECKS}
    FOR EACH ROW EXECUTE FUNCTION laaffic_recall_check_frozen();
"""

POSTGRESQL_UNGUARD = f"""
DROP TRIGGER IF EXISTS laaffic_recall_attempt_no_truncate ON {ATTEMPTS};
DROP TRIGGER IF EXISTS laaffic_recall_check_no_truncate ON {CHECKS};
DROP TRIGGER IF EXISTS laaffic_recall_check_frozen ON {CHECKS};
DROP FUNCTION IF EXISTS laaffic_recall_refuse_truncate();
DROP FUNCTION IF EXISTS laaffic_recall_check_frozen();
"""

# Every column a finished attempt keeps as it is.
FROZEN_COLUMNS = (
    "id",
    "correlation_id",
    "username",
    "started_at",
    "finished_at",
    "duration",
    "cancel_type",
    "target_id",
    "task_key_id",
    "request_body",
    "http_status",
    "response_code",
    "response_message",
    "outcome",
    "confirmed_by_reread",
    "error_detail",
    "reason",
    "client_ip",
    "mirror_confirmed",
    "seal_mac",
)
UNCHANGED = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in FROZEN_COLUMNS)

SQLITE_GUARDS = [
    f"""
CREATE TRIGGER laaffic_recall_attempt_frozen BEFORE UPDATE ON {ATTEMPTS}
WHEN OLD.outcome NOT IN ('pending', 'unknown') AND NOT (
    {UNCHANGED}
    AND (NEW.user_id IS NULL OR NEW.user_id IS OLD.user_id)
    AND (NEW.task_id IS NULL OR NEW.task_id IS OLD.task_id)
    AND (NEW.node_id IS NULL OR NEW.node_id IS OLD.node_id)
    AND ((NEW.chain_seq IS OLD.chain_seq AND NEW.chain_mac IS OLD.chain_mac)
         OR OLD.chain_seq IS NULL)
)
BEGIN
    SELECT RAISE(ABORT, 'a finished cancel attempt cannot be changed');
END
""",
    f"""
CREATE TRIGGER laaffic_recall_attempt_kept BEFORE DELETE ON {ATTEMPTS}
BEGIN
    SELECT RAISE(ABORT, 'a cancel attempt cannot be deleted: the audit log is append-only');
END
""",
    f"""
CREATE TRIGGER laaffic_recall_check_frozen BEFORE UPDATE ON {CHECKS}
BEGIN
    SELECT RAISE(ABORT, 'an audit chain check cannot be changed: the checks are append-only');
END
""",
    f"""
CREATE TRIGGER laaffic_recall_check_kept BEFORE DELETE ON {CHECKS}
BEGIN
    SELECT RAISE(ABORT, 'an audit chain check cannot be deleted: the checks are append-only');
END
""",
]

SQLITE_TRIGGERS = (
    "laaffic_recall_attempt_frozen",
    "laaffic_recall_attempt_kept",
    "laaffic_recall_check_frozen",
    "laaffic_recall_check_kept",
)


def guard(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_GUARDS, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_GUARDS:
            schema_editor.execute(statement, params=None)


def unguard(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_UNGUARD, params=None)
    elif vendor == "sqlite":
        for name in SQLITE_TRIGGERS:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}", params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("laaffic_recall", "0005_admin_list_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditchaincheck",
            name="mac",
            field=models.CharField(blank=True, max_length=64, verbose_name="check HMAC"),
        ),
        migrations.AddField(
            model_name="auditchaincheck",
            name="through_mac",
            field=models.CharField(
                blank=True, max_length=64, verbose_name="HMAC of the last link verified"
            ),
        ),
        migrations.AddField(
            model_name="cancelattempt",
            name="seal_mac",
            field=models.CharField(blank=True, max_length=64, verbose_name="seal HMAC"),
        ),
        migrations.RunPython(guard, unguard),
    ]
