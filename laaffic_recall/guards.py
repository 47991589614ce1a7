"""Lift the audit log's database guards for work done as the database's owner.

The migrations make the audit log append-only in the database too: triggers refuse to
change a finished attempt, to delete an attempt, to change or delete a recorded chain
check, and (PostgreSQL) to ``TRUNCATE`` either table. A test suite that empties the
database between tests (Django's ``TransactionTestCase``, pytest-django's
``transaction=True``, a live server) or a benchmark that reuses a database does it as the
owner, with the triggers off: on PostgreSQL ``ALTER TABLE ... DISABLE TRIGGER USER``
(which only the table's owner may run), on SQLite dropped and made again afterwards from
their own SQL. Nothing here gives a role more than it already has.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from .models import AuditChainCheck, CancelAttempt

AUDIT_TABLES = (CancelAttempt._meta.db_table, AuditChainCheck._meta.db_table)


@contextmanager
def guards_lifted(connection: BaseDatabaseWrapper) -> Iterator[None]:
    """The audit log's triggers off on ``connection`` until the block ends."""
    triggers: list[tuple[str, str]] = []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending trigger events
            for table in AUDIT_TABLES:
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        elif connection.vendor == "sqlite":
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
        yield
    finally:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                for table in AUDIT_TABLES:
                    cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
            for _name, sql in triggers:
                cursor.execute(sql)


@contextmanager
def flushes_past_guards() -> Iterator[None]:
    """While the block runs, Django's flush (``manage.py flush``, a test case's teardown)
    empties the audit log too, with its guards lifted for the flush.

    For a host project's test suite, e.g. in a session-wide pytest fixture.
    """
    patched = {}
    for alias in connections:
        operations = type(connections[alias].ops)
        if operations in patched:
            continue
        flush = operations.execute_sql_flush
        patched[operations] = flush

        def execute_sql_flush(self, sql_list, flush=flush):
            with guards_lifted(self.connection):
                flush(self, sql_list)

        operations.execute_sql_flush = execute_sql_flush  # type: ignore[method-assign]
    try:
        yield
    finally:
        for operations, flush in patched.items():
            operations.execute_sql_flush = flush  # type: ignore[method-assign]
