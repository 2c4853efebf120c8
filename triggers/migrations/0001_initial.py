"""Repository links and push records move here from workflows/, with their rows.

Until this app existed, workflows' first migration created these two tables
(as workflows_repositorylink and workflows_pushtrigger), which made the
workflows migrations depend on runs. That migration no longer creates them,
so a database comes here in one of two ways: made before the move, it has the
tables and their rows, and they are kept; made after, it has none, and they
are created. Either way 0002 then gives the tables this app's names.
"""

import django.db.models.deletion
from django.db import migrations, models

OLD_TABLES = {
    "RepositoryLink": "workflows_repositorylink",
    "PushTrigger": "workflows_pushtrigger",
}


def create_tables_unless_there(apps, schema_editor):
    existing = set(schema_editor.connection.introspection.table_names())
    for name, table in OLD_TABLES.items():
        if table not in existing:
            # Creates the many-to-many table of PushTrigger.runs as well.
            schema_editor.create_model(apps.get_model("triggers", name))


def move_content_types(apps, schema_editor):
    """Admin permissions and log entries of the two models follow them here."""
    content_type = apps.get_model("contenttypes", "ContentType")
    for name in OLD_TABLES:
        model = name.lower()
        if not content_type.objects.filter(app_label="triggers", model=model).exists():
            content_type.objects.filter(app_label="workflows", model=model).update(
                app_label="triggers"
            )


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("runs", "0001_initial"),
        ("workflows", "0005_stored_spec_registered_model"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="RepositoryLink",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("clone_url", models.CharField(max_length=1000)),
                        ("default_branch", models.CharField(default="main", max_length=200)),
                        (
                            "token_secret",
                            models.CharField(
                                blank=True,
                                help_text="Name of a secret holding an access token.",
                                max_length=200,
                            ),
                        ),
                        (
                            "webhook_secret_ciphertext",
                            models.BinaryField(
                                help_text="The HMAC key GitHub signs deliveries with, encrypted like secrets."
                            ),
                        ),
                        (
                            "poll",
                            models.BooleanField(
                                default=False,
                                help_text="Ask the remote for new commits instead of waiting for webhooks.",
                            ),
                        ),
                        ("last_commit", models.CharField(blank=True, max_length=64)),
                        ("last_seen", models.DateTimeField(blank=True, null=True)),
                        (
                            "branch_heads",
                            models.JSONField(
                                blank=True,
                                default=dict,
                                help_text="Poll mode: the head last seen of each other branch the specs name.",
                            ),
                        ),
                        ("created", models.DateTimeField(auto_now_add=True)),
                        (
                            "project",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="repository",
                                to="workflows.project",
                            ),
                        ),
                    ],
                    options={"db_table": OLD_TABLES["RepositoryLink"]},
                ),
                migrations.CreateModel(
                    name="PushTrigger",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "source",
                            models.CharField(
                                choices=[("webhook", "Webhook"), ("poll", "Poll")], max_length=10
                            ),
                        ),
                        ("delivery_id", models.CharField(blank=True, max_length=100, null=True)),
                        ("branch", models.CharField(max_length=200)),
                        ("commit", models.CharField(max_length=64)),
                        ("commit_message", models.TextField(blank=True)),
                        ("author", models.CharField(blank=True, max_length=200)),
                        (
                            "outcome",
                            models.CharField(
                                choices=[
                                    ("started", "Started"),
                                    ("no-match", "No Match"),
                                    ("invalid", "Invalid"),
                                    ("failed", "Failed"),
                                ],
                                max_length=10,
                            ),
                        ),
                        (
                            "errors",
                            models.JSONField(
                                blank=True,
                                default=list,
                                help_text="Per spec file: validator errors, or why it failed.",
                            ),
                        ),
                        ("created", models.DateTimeField(auto_now_add=True)),
                        (
                            "project",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="push_triggers",
                                to="workflows.project",
                            ),
                        ),
                        (
                            "runs",
                            models.ManyToManyField(
                                blank=True, related_name="push_triggers", to="runs.run"
                            ),
                        ),
                    ],
                    options={
                        "db_table": OLD_TABLES["PushTrigger"],
                        "indexes": [
                            models.Index(
                                fields=["project", "-created"],
                                name="workflows_p_project_241dc7_idx",
                            ),
                            models.Index(
                                fields=["project", "branch", "commit"], name="push_trigger_push"
                            ),
                        ],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("project", "delivery_id"),
                                name="push_delivery_id_unique_in_project",
                            ),
                        ],
                    },
                ),
            ],
        ),
        migrations.RunPython(create_tables_unless_there, migrations.RunPython.noop),
        migrations.RunPython(move_content_types, migrations.RunPython.noop),
    ]
