import django.db.models.manager
from django.db import migrations


class Migration(migrations.Migration):
    """The audit log's base manager refuses delete() and updates (but SET_NULL's)."""

    dependencies = [
        ("laaffic_recall", "0004_cancelattempt_response_code_bigint"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="cancelattempt",
            options={
                "base_manager_name": "base_objects",
                "default_manager_name": "objects",
                "ordering": ["-started_at", "-id"],
                "verbose_name": "cancel attempt",
                "verbose_name_plural": "cancel attempts",
            },
        ),
        migrations.AlterModelManagers(
            name="cancelattempt",
            managers=[
                ("objects", django.db.models.manager.Manager()),
                ("base_objects", django.db.models.manager.Manager()),
            ],
        ),
    ]
