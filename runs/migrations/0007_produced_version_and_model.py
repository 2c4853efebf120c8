"""Which job produced a dataset version or registered a model: the links move to runs/.

They were columns of workflows' tables (DatasetVersion.producing_job,
Model.job_run), which made the workflows migrations depend on runs. Now a row
of ProducedVersion or ProducedModel holds each link, and workflows' first
migration no longer creates the columns. A database made before the move
still has them: their values are copied into the new rows, then the columns
are dropped. A database made after never had them, and nothing is copied.
"""

import django.db.models.deletion
from django.db import migrations, models

# (workflows model, old column, runs link model, the link's field to that model)
OLD_LINKS = [
    ("DatasetVersion", "producing_job_id", "ProducedVersion", "dataset_version"),
    ("RegisteredModel", "job_run_id", "ProducedModel", "model"),
]


class MoveOldLinks(migrations.operations.base.Operation):
    """Copy each old link column into its runs-side rows, then drop the column, where it exists."""

    reduces_to_sql = False

    def state_forwards(self, app_label, state):
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        connection = schema_editor.connection
        quote = schema_editor.quote_name
        for model_name, column, link_name, link_field in OLD_LINKS:
            model = from_state.apps.get_model("workflows", model_name)
            table = model._meta.db_table
            with connection.cursor() as cursor:
                columns = {
                    info.name
                    for info in connection.introspection.get_table_description(cursor, table)
                }
                if column not in columns:
                    continue
                cursor.execute(
                    f"SELECT {quote(model._meta.pk.column)}, {quote(column)} FROM {quote(table)} "
                    f"WHERE {quote(column)} IS NOT NULL"
                )
                rows = cursor.fetchall()
            link = from_state.apps.get_model("runs", link_name)
            link.objects.using(schema_editor.connection.alias).bulk_create(
                [link(**{f"{link_field}_id": pk, "job_id": job_id}) for pk, job_id in rows]
            )
            # A state that still has the old field, so that the schema editor
            # drops the column (and its foreign key and index) on any database.
            old_state = from_state.clone()
            old_state.add_field(
                "workflows",
                model_name.lower(),
                "old_link",
                models.ForeignKey(
                    "runs.JobRun",
                    on_delete=models.SET_NULL,
                    null=True,
                    db_column=column,
                    related_name="+",
                ),
                preserve_default=True,
            )
            old_model = old_state.apps.get_model("workflows", model_name)
            schema_editor.remove_field(old_model, old_model._meta.get_field("old_link"))

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        # Going back drops the link rows with their tables; the old columns are
        # not made again (the workflows migrations no longer have them).
        pass

    def describe(self):
        return "Move the old job links of dataset versions and models into runs' link rows"


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0006_reconciler_indexes"),
        ("workflows", "0005_stored_spec_registered_model"),
    ]

    operations = [
        migrations.CreateModel(
            name="ProducedVersion",
            fields=[
                (
                    "dataset_version",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="producer",
                        serialize=False,
                        to="workflows.datasetversion",
                    ),
                ),
                (
                    "job",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="produced_versions",
                        to="runs.jobrun",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="ProducedModel",
            fields=[
                (
                    "model",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="producer",
                        serialize=False,
                        to="workflows.registeredmodel",
                    ),
                ),
                (
                    "job",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="produced_models",
                        to="runs.jobrun",
                    ),
                ),
            ],
        ),
        MoveOldLinks(),
    ]
