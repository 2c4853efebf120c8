"""A database made before workflows/, runs/ and triggers/ were layered keeps its rows.

Such a database has what workflows' first migration used to create: the
tables of repository links and push records, and the columns
DatasetVersion.producing_job and Model.job_run pointing at runs. The test
goes back to the migrations it was at, gives the database those tables and
columns and some rows, migrates forward, and reads the rows back.
"""

import pytest
from django.db import connection, models
from django.db.migrations.executor import MigrationExecutor

from runs.models import JobRun, ProducedModel, ProducedVersion, Run
from triggers.models import PushTrigger, RepositoryLink
from workflows.models import RegisteredModel, StoredSpec, Workflow

# The last migrations of each app before the split.
BEFORE = [
    ("workflows", "0004_container_registry"),
    ("runs", "0006_reconciler_indexes"),
    ("triggers", None),
]
OLD_LINKS = {"datasetversion": "producing_job_id", "model": "job_run_id"}


def _migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return MigrationExecutor(connection)


def _old_database(executor: MigrationExecutor):
    """The state before the split, with the old link columns added to it and to the tables."""
    state = executor.loader.project_state(
        [(app, name) for app, name in BEFORE if name is not None]
    ).clone()
    for model_name, column in OLD_LINKS.items():
        state.add_field(
            "workflows",
            model_name,
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
    old = state.apps
    with connection.schema_editor() as editor:
        for model_name in OLD_LINKS:
            model = old.get_model("workflows", model_name)
            editor.add_field(model, model._meta.get_field("old_link"))
    return old


def _seed(old) -> dict:
    """Rows as the code before the split wrote them."""
    team = old.get_model("workflows", "Team").objects.create(name="T", handle="t")
    project = old.get_model("workflows", "Project").objects.create(team=team, name="P", handle="p")
    cluster = old.get_model("workflows", "Cluster").objects.create(team=team, handle="l", name="L")
    spec = old.get_model("workflows", "StoredSpec").objects.create(
        sha256="a" * 64, text="jobs: {}", parsed={}
    )
    workflow = old.get_model("workflows", "Workflow").objects.create(
        project=project, name="w", default_spec=spec
    )
    run = old.get_model("runs", "Run").objects.create(
        workflow=workflow, number=1, cluster=cluster, spec=spec, phase="SUCCEEDED"
    )
    job = old.get_model("runs", "JobRun").objects.create(run=run, name="train", position=0)
    dataset = old.get_model("workflows", "Dataset").objects.create(project=project, name="d")
    versions = old.get_model("workflows", "DatasetVersion").objects
    produced = versions.create(dataset=dataset, version="v1", is_committed=True, old_link=job)
    versions.create(dataset=dataset, version="v2", is_committed=True)
    model = old.get_model("workflows", "Model").objects.create(
        project=project, name="m", model_type="Custom", dataset_version=produced, old_link=job
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO workflows_repositorylink (project_id, clone_url, default_branch, "
            "token_secret, webhook_secret_ciphertext, poll, last_commit, branch_heads, created) "
            "VALUES (%s, 'https://git.example.org/r.git', 'main', '', %s, %s, '', %s, %s)",
            [project.pk, b"key", True, '{"dev": "' + "b" * 40 + '"}', "2026-11-29 12:00:00"],
        )
        cursor.execute(
            "INSERT INTO workflows_pushtrigger (project_id, source, delivery_id, branch, "
            '"commit", commit_message, author, outcome, errors, created) '
            "VALUES (%s, 'webhook', 'd-1', 'main', %s, '', '', 'started', '[]', %s)",
            [project.pk, "c" * 40, "2026-11-29 12:00:00"],
        )
        cursor.execute("SELECT id FROM workflows_pushtrigger")
        (push_id,) = cursor.fetchone()
        cursor.execute(
            "INSERT INTO workflows_pushtrigger_runs (pushtrigger_id, run_id) VALUES (%s, %s)",
            [push_id, run.pk],
        )
    return {"job": job.pk, "run": run.pk, "spec": spec.pk, "model": model.pk}


@pytest.mark.django_db(transaction=True)
def test_a_database_from_before_the_split_keeps_its_rows():
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    try:
        seeded = _seed(_old_database(_migrate(BEFORE)))
    finally:
        _migrate(latest)

    job = JobRun.objects.get(pk=seeded["job"])
    assert not ProducedVersion.objects.filter(dataset_version__version="v2").exists()
    assert list(job.produced_versions.values_list("dataset_version__version", flat=True)) == ["v1"]
    assert ProducedModel.objects.get(model_id=seeded["model"]).job_id == job.pk
    assert RegisteredModel.objects.get(pk=seeded["model"]).dataset_version.version == "v1"
    assert StoredSpec.objects.get(pk=seeded["spec"]).sha256 == "a" * 64
    assert Workflow.objects.get().default_spec_id == seeded["spec"]
    assert Run.objects.get(pk=seeded["run"]).spec_id == seeded["spec"]
    link = RepositoryLink.objects.get()
    assert (link.clone_url, link.poll, link.branch_heads) == (
        "https://git.example.org/r.git",
        True,
        {"dev": "b" * 40},
    )
    assert bytes(link.webhook_secret_ciphertext) == b"key"
    push = PushTrigger.objects.get()
    assert (push.delivery_id, push.project_id, list(push.runs.values_list("pk", flat=True))) == (
        "d-1",
        link.project_id,
        [seeded["run"]],
    )
    columns = {
        table: {
            c.name
            for c in connection.introspection.get_table_description(connection.cursor(), table)
        }
        for table in ("workflows_datasetversion", "workflows_registeredmodel")
    }
    assert "producing_job_id" not in columns["workflows_datasetversion"]
    assert "job_run_id" not in columns["workflows_registeredmodel"]
