"""Indexes for the admin's lists at a million audit rows.

The audit list filtered by code or by user, newest first, reads a composite index in
order instead of sorting every match.

Trigram indexes for the "part of a name / username / reason" search (PostgreSQL):

The admin searches text with ``UPPER(column) LIKE UPPER('%term%')``, which a B-tree index
cannot serve: a search of a million audit rows read them all. A GIN trigram index on that
very expression can, on PostgreSQL (``pg_trgm``, a trusted extension: the database owner
may create it). Other databases get nothing here. Where the migrating role may not create
the extension (a managed database, a role that does not own it), the trigram indexes are
left out with a warning: the search still works, reading every row, and an administrator
can run ``CREATE EXTENSION pg_trgm`` and migrate this app back to 0004 and forward again.
"""

import logging

from django.db import DatabaseError, migrations, models, transaction

logger = logging.getLogger("laaffic_recall")

INDEXES = [
    ("laaffic_task_name_trgm", "laaffic_recall_recalltask", "task_name"),
    ("laaffic_attempt_username_trgm", "laaffic_recall_cancelattempt", "username"),
    ("laaffic_attempt_reason_trgm", "laaffic_recall_cancelattempt", "reason"),
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=schema_editor.connection.alias):  # a savepoint
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError as exc:
        logger.warning(
            "pg_trgm could not be created (%s): the admin's text search works without its "
            "trigram indexes, reading every row.",
            str(exc).strip().splitlines()[0],
        )
        return
    for name, table, column in INDEXES:
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" '
            f'USING gin ((UPPER("{column}"::text)) gin_trgm_ops)'
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _table, _column in INDEXES:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [("laaffic_recall", "0004_sync_runs")]

    operations = [
        migrations.AddIndex(
            model_name="cancelattempt",
            index=models.Index(
                fields=["response_code", "started_at"], name="laaffic_attempt_code_time"
            ),
        ),
        migrations.AddIndex(
            model_name="cancelattempt",
            index=models.Index(fields=["username", "started_at"], name="laaffic_attempt_user_time"),
        ),
        migrations.RunPython(create, drop, elidable=False),
    ]
