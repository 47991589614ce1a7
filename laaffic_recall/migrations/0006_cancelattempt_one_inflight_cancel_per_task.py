from django.db import migrations, models
from django.db.models import Count

NOTE = (
    "Still in flight beside another cancel of the same task when one cancel per task "
    "became the rule: the outcome is unknown until a sync of the task settles it."
)


def older_duplicates_become_unknown(apps, schema_editor):
    """Before the constraint: keep the newest pending row of a task, the others unknown."""
    attempt = apps.get_model("laaffic_recall", "CancelAttempt")
    task = apps.get_model("laaffic_recall", "RecallTask")
    pending = attempt.objects.filter(outcome="pending", task_key_id__isnull=False)
    crowded = (pending.values("task_key_id").annotate(n=Count("id")).filter(n__gt=1)).values_list(
        "task_key_id", flat=True
    )
    for key in list(crowded):
        rows = list(pending.filter(task_key_id=key).order_by("-started_at", "-id"))
        for row in rows[1:]:
            row.outcome = "unknown"
            row.error_detail = f"{row.error_detail} {NOTE}".strip()
            row.save(update_fields=["outcome", "error_detail"])
        task.objects.filter(key_id=key).update(cancel_in_doubt=True)  # the next sync settles it


class Migration(migrations.Migration):
    """At most one cancel in flight per task, whatever its type (1, 2 or 3)."""

    dependencies = [
        ("laaffic_recall", "0005_cancelattempt_append_only_base_manager"),
    ]

    operations = [
        migrations.RunPython(older_duplicates_become_unknown, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="cancelattempt",
            constraint=models.UniqueConstraint(
                condition=models.Q(("outcome", "pending")),
                fields=("task_key_id",),
                name="laaffic_one_inflight_cancel_per_task",
            ),
        ),
    ]
