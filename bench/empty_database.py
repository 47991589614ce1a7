"""Empty a benchmark's database as its owner would, past the audit log's guards.

The audit log is append-only in the database too: PostgreSQL refuses ``TRUNCATE`` of the
attempts and the checks, and SQLite refuses to delete an attempt. A benchmark that reuses
a database turns those triggers off for the flush (on PostgreSQL ``ALTER TABLE ... DISABLE
TRIGGER USER``; on SQLite the triggers are dropped and made again from their own SQL).
"""

from __future__ import annotations

AUDIT_TABLES = ("laaffic_recall_cancelattempt", "laaffic_recall_auditchaincheck")


def flush() -> None:
    """``manage.py flush`` of every table, the audit log's included."""
    from django.core.management import call_command
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in AUDIT_TABLES:
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            triggers = []
        else:
            marks = ", ".join("%s" for _ in AUDIT_TABLES)
            cursor.execute(
                f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                f"AND tbl_name IN ({marks})",
                AUDIT_TABLES,
            )
            triggers = cursor.fetchall()
            for name, _sql in triggers:
                cursor.execute(f"DROP TRIGGER {name}")
    try:
        call_command("flush", interactive=False, verbosity=0)
    finally:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                for table in AUDIT_TABLES:
                    cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
            for _name, sql in triggers:
                cursor.execute(sql)
