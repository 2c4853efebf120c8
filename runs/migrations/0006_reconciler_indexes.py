from django.db import migrations, models


class Migration(migrations.Migration):
    """Partial indexes for the reconciler's every-few-seconds reads: open runs, running jobs."""

    dependencies = [
        ("runs", "0005_run_idempotency_key"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="jobrun",
            index=models.Index(
                condition=models.Q(("phase", "RUNNING")),
                fields=["heartbeat"],
                name="job_running_heartbeat_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="run",
            index=models.Index(
                condition=models.Q(("phase__in", ["PENDING", "RUNNING"])),
                fields=["created"],
                name="run_open_idx",
            ),
        ),
    ]
