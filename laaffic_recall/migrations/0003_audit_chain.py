import django.utils.timezone
from django.db import migrations, models

# PostgreSQL only: a finished attempt cannot be updated or deleted, not even in SQL,
# except that a deleted user, task or node sets its link to NULL (on_delete=SET_NULL) and
# an unchained finished row gets its chain link once. No attempt can be deleted.
FREEZE_SQL = """
CREATE FUNCTION laaffic_recall_attempt_frozen() RETURNS trigger AS $$
DECLARE
    kept text[] := ARRAY['user_id', 'task_id', 'node_id', 'chain_seq', 'chain_mac'];
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'cancel attempt % cannot be deleted: the audit log is append-only',
            OLD.id USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF OLD.outcome IN ('pending', 'unknown') THEN
        RETURN NEW;
    END IF;
    IF (to_jsonb(NEW) - kept) = (to_jsonb(OLD) - kept)
       AND (NEW.user_id IS NULL OR NEW.user_id = OLD.user_id)
       AND (NEW.task_id IS NULL OR NEW.task_id = OLD.task_id)
       AND (NEW.node_id IS NULL OR NEW.node_id = OLD.node_id)
       AND ((NEW.chain_seq IS NOT DISTINCT FROM OLD.chain_seq
             AND NEW.chain_mac = OLD.chain_mac) OR OLD.chain_seq IS NULL)
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'cancel attempt % is finished and cannot be changed', OLD.id
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER laaffic_recall_attempt_frozen
    BEFORE UPDATE OR DELETE ON laaffic_recall_cancelattempt
    FOR EACH ROW EXECUTE FUNCTION laaffic_recall_attempt_frozen();
"""

UNFREEZE_SQL = """
DROP TRIGGER IF EXISTS laaffic_recall_attempt_frozen ON laaffic_recall_cancelattempt;
DROP FUNCTION IF EXISTS laaffic_recall_attempt_frozen();
"""


def freeze(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FREEZE_SQL, params=None)


def unfreeze(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(UNFREEZE_SQL, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("laaffic_recall", "0002_cancel_submission"),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditChainCheck",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "checked_at",
                    models.DateTimeField(
                        default=django.utils.timezone.now, verbose_name="checked at"
                    ),
                ),
                ("ok", models.BooleanField(verbose_name="verified")),
                ("links", models.BigIntegerField(default=0, verbose_name="links checked")),
                (
                    "through_seq",
                    models.BigIntegerField(
                        blank=True, null=True, verbose_name="verified up to link"
                    ),
                ),
                (
                    "through_row",
                    models.BigIntegerField(
                        blank=True, null=True, verbose_name="verified up to row"
                    ),
                ),
                (
                    "unchained",
                    models.BigIntegerField(
                        default=0, verbose_name="rows written before a key was set"
                    ),
                ),
                (
                    "problem_row",
                    models.BigIntegerField(
                        blank=True, null=True, verbose_name="first row in question"
                    ),
                ),
                ("problem", models.TextField(blank=True, verbose_name="problem")),
            ],
            options={
                "verbose_name": "audit chain check",
                "verbose_name_plural": "audit chain checks",
                "ordering": ["-checked_at", "-id"],
            },
        ),
        migrations.AddField(
            model_name="cancelattempt",
            name="chain_mac",
            field=models.CharField(blank=True, max_length=64, verbose_name="chain HMAC"),
        ),
        migrations.AddField(
            model_name="cancelattempt",
            name="chain_seq",
            field=models.BigIntegerField(
                blank=True, null=True, unique=True, verbose_name="chain link"
            ),
        ),
        migrations.RunPython(freeze, unfreeze),
    ]
