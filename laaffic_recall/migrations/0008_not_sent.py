import importlib

from django.db import migrations, models

# SQLite's guard names the columns a finished attempt keeps: it is made again with the two
# added here, and dropped while they are removed (PostgreSQL's compares whole rows).
chain = importlib.import_module("laaffic_recall.migrations.0006_chain")
flow = importlib.import_module("laaffic_recall.migrations.0007_flow")
ADDED = ("not_sent", "blocked_by")
FROZEN = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in (*chain.FROZEN_COLUMNS, *flow.ADDED, *ADDED))


def guard_added(apps, schema_editor):
    flow._attempt_triggers(schema_editor, FROZEN)


def guard_as_before(apps, schema_editor):
    flow._attempt_triggers(schema_editor, flow.FROZEN)


class Migration(migrations.Migration):
    dependencies = [
        ("laaffic_recall", "0007_flow"),
    ]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, guard_as_before),
        migrations.AddField(
            model_name="cancelattempt",
            name="blocked_by",
            field=models.BigIntegerField(blank=True, null=True, verbose_name="blocked by attempt"),
        ),
        migrations.AddField(
            model_name="cancelattempt",
            name="not_sent",
            field=models.CharField(
                blank=True,
                choices=[
                    ("in_flight", "another cancel of the task was in flight"),
                    ("in_doubt", "the outcome of an earlier cancel of the task was unknown"),
                    ("hidden", "the submitter may not see every task it would stop"),
                    ("unreadable", "LAAFFIC could not be read first"),
                    ("settings", "the app's LAAFFIC settings are incomplete"),
                    ("budget", "the action ran out of time before this one"),
                    ("not_mirrored", "the node is not in the local mirror"),
                    (
                        "no_tasks",
                        "LAAFFIC lists no recent recall task of the parent task id",
                    ),
                ],
                db_default="",
                max_length=16,
                verbose_name="not sent because",
            ),
        ),
        migrations.RunPython(guard_added, flow.unguard),
    ]
