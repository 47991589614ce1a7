from django.db import migrations, models


class Migration(migrations.Migration):
    """An unknown vendor code beyond 32 bits no longer breaks finishing an audit row."""

    dependencies = [
        ("laaffic_recall", "0003_recalltask_cancel_in_doubt"),
    ]

    operations = [
        migrations.AlterField(
            model_name="cancelattempt",
            name="response_code",
            field=models.BigIntegerField(
                blank=True, db_index=True, null=True, verbose_name="response code"
            ),
        ),
    ]
