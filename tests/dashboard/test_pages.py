"""The dashboard's pages through Django's test client: what each shows, and to whom."""

from __future__ import annotations

import html
import io

import pytest
from asgiref.sync import async_to_sync
from django.urls import reverse

from runs.models import Run
from runs.services import run_rerun, run_submit
from tests.specs import LISTING
from workflows.models import Cluster, Secret
from workflows.services import dataset_create, dataset_version_upload, workflow_create

pytestmark = pytest.mark.django_db


def text(response) -> str:
    """What the page says (entities decoded)."""
    return html.unescape(response.content.decode())


def _pages(scene) -> dict[str, str]:
    workflow, run = scene.workflow, scene.run
    return {
        "project": reverse("project", args=[scene.project.pk]),
        "workflow": reverse("workflow", args=[workflow.pk]),
        "run": reverse("run", args=[workflow.pk, run.number]),
        "job panel": reverse("job-panel", args=[workflow.pk, run.number, "prepare"]),
        "job log": reverse("job-log", args=[workflow.pk, run.number, "prepare"]),
        "diff": reverse("run-diff", args=[workflow.pk, run.number, scene.second.number]),
        "compare": reverse("run-compare", args=[workflow.pk]) + "?a=1&b=2",
    }


def test_an_anonymous_visitor_is_sent_to_log_in(client, scene):
    for name, url in {"home": reverse("home"), **_pages(scene)}.items():
        response = client.get(url)
        assert response.status_code == 302, name
        assert response["Location"].startswith("/accounts/login/"), name


def test_an_outsider_gets_404_for_every_page_of_the_team(client, scene, outsider):
    client.force_login(outsider)
    for name, url in _pages(scene).items():
        assert client.get(url).status_code == 404, name
    workflow, run = scene.workflow, scene.run
    for url in (
        reverse("run-rerun", args=[workflow.pk, run.number]),
        reverse("run-cancel", args=[workflow.pk, run.number]),
        reverse("workflow-new", args=[scene.project.pk]),
        reverse("project-secret-set", args=[scene.project.pk]),
        reverse("project-secret-delete", args=[scene.project.pk, "api-token"]),
    ):
        assert client.post(url, {"name": "x", "value": "y", "spec": "same"}).status_code == 404
    assert Run.objects.filter(workflow=workflow).count() == 2
    home = client.get(reverse("home")).content.decode()
    assert "Vision" not in home and "pipeline" not in home


def test_a_member_sees_every_page(client, scene, member):
    client.force_login(member)
    for name, url in _pages(scene).items():
        response = client.get(url, follow=True)
        assert response.status_code == 200, name


def test_home_lists_teams_projects_and_recent_runs(client, scene, member, team):
    client.force_login(member)
    page = client.get(reverse("home")).content.decode()
    assert team.name in page
    assert "Vision" in page
    assert "1 workflow" in page and "2 datasets" in page
    assert f"{reverse('run', args=[scene.workflow.pk, 2])}" in page


def test_project_page_shows_workflows_datasets_secret_names_and_clusters(client, scene, member):
    client.force_login(member)
    page = client.get(reverse("project", args=[scene.project.pk])).content.decode()
    assert "pipeline" in page and "#2" in page
    assert "raw" in page and "Raw images" in page and "v1" in page
    assert reverse("api-dataset-files", args=[scene.produced.dataset_id, "v1"]) in page
    assert "api-token" in page
    assert "s3cr3t-value" not in page
    assert "Local engine" in page
    assert "Only the team's owners" in page


def test_owners_set_and_delete_project_secrets(client, scene, owner):
    client.force_login(owner)
    url = reverse("project-secret-set", args=[scene.project.pk])
    response = client.post(url, {"name": "db-password", "value": "hunter22"}, follow=True)
    assert "Secret “db-password” is set." in text(response)
    assert "hunter22" not in text(response)
    assert Secret.objects.filter(project=scene.project, name="db-password").exists()

    url = reverse("project-secret-delete", args=[scene.project.pk, "db-password"])
    response = client.post(url, follow=True)
    assert "Secret “db-password” is deleted." in text(response)
    assert not Secret.objects.filter(project=scene.project, name="db-password").exists()


def test_a_bad_secret_name_is_refused_with_the_reason(client, scene, owner):
    client.force_login(owner)
    url = reverse("project-secret-set", args=[scene.project.pk])
    response = client.post(url, {"name": "no spaces", "value": "v"}, follow=True)
    assert "may contain letters, digits" in text(response)


def test_members_may_not_set_or_delete_secrets(client, scene, member):
    client.force_login(member)
    set_url = reverse("project-secret-set", args=[scene.project.pk])
    delete_url = reverse("project-secret-delete", args=[scene.project.pk, "api-token"])
    assert client.post(set_url, {"name": "x", "value": "y"}).status_code == 403
    assert client.post(delete_url).status_code == 403
    assert Secret.objects.filter(project=scene.project, name="api-token").exists()


def test_new_project_and_new_workflow(client, scene, member, team):
    client.force_login(member)
    response = client.post(reverse("project-new"), {"team": team.pk, "name": "Audio"})
    project = scene.project.__class__.objects.get(team=team, name="Audio")
    assert response["Location"] == reverse("project", args=[project.pk])

    response = client.post(reverse("workflow-new", args=[project.pk]), {"name": "train"})
    workflow = project.workflows.get(name="train")
    assert response["Location"] == reverse("workflow", args=[workflow.pk])
    page = client.get(response["Location"]).content.decode()
    assert "no default spec yet" in page

    response = client.post(
        reverse("workflow-new", args=[project.pk]), {"name": "train"}, follow=True
    )
    assert "already has a workflow named" in text(response)


def test_workflow_page_holds_the_spec_the_api_urls_and_the_runs(client, scene, member):
    client.force_login(member)
    workflow = scene.workflow
    page = client.get(reverse("workflow", args=[workflow.pk])).content.decode()
    assert 'id="spec-text"' in page and "wc -l /inputs/listing/files.txt" in page
    assert reverse("api-validate") in page and reverse("api-spec-schema") in page
    assert reverse("api-workflow-spec", args=[workflow.pk]) in page
    assert reverse("api-runs", args=[workflow.pk]) in page
    assert 'value="local"' in page
    assert page.index(">#2<") < page.index(">#1<")
    assert "Failed" in page and "12 s" in page


def test_run_page_holds_the_status_document_and_the_websocket_path(client, scene, member):
    client.force_login(member)
    run = scene.run
    response = client.get(reverse("run", args=[scene.workflow.pk, run.number]))
    page = text(response)
    document = response.context["document"]
    assert document["status"]["jobs"]["prepare"]["phase"] == "SUCCEEDED"
    assert f'data-ws-path="/ws/runs/{run.pk}/"' in page
    assert 'id="run-document"' in page
    assert "Re-run with default spec" in page
    assert 'id="cancel-form" hidden' in page
    assert "Argo manifest" not in page


def test_run_page_links_the_argo_manifest_on_argo_clusters(client, scene, member, team):
    client.force_login(member)
    argo = Cluster.objects.create(team=team, handle="gke", name="GKE", kind=Cluster.Kind.ARGO)
    Run.objects.filter(pk=scene.run.pk).update(cluster=argo)
    page = text(client.get(reverse("run", args=[scene.workflow.pk, scene.run.number])))
    manifest = reverse("api-run-argo-manifest", args=[str(scene.workflow.pk), "1"])
    assert f'href="{manifest}"' in page and "Argo manifest" in page


def test_job_panel_shows_data_spec_and_details(client, scene, member):
    client.force_login(member)
    workflow, run, produced = scene.workflow, scene.run, scene.produced
    page = client.get(
        reverse("job-panel", args=[workflow.pk, run.number, "prepare"])
    ).content.decode()
    raw = produced.dataset.project.datasets.get(name="raw").versions.get()
    assert reverse("api-dataset-file", args=[raw.dataset_id, "v1", "b/c.txt"]) in page
    assert (
        reverse("api-dataset-file", args=[produced.dataset_id, produced.version, "files.txt"])
        in page
    )
    assert "42 files" in page
    assert "prepare:\n  uses: container@v1" in page
    assert "report:" not in page
    assert "Exit code" in page and ">0<" in page

    page = client.get(
        reverse("job-panel", args=[workflow.pk, run.number, "report"])
    ).content.decode()
    assert "listings:v1" in page and "42 files" in page
    assert "# The report reads what prepare wrote." not in page
    assert "exited with code 3" in page

    missing = reverse("job-panel", args=[workflow.pk, run.number, "nope"])
    assert client.get(missing).status_code == 404


async def _collect(stream) -> bytes:
    return b"".join([chunk async for chunk in stream])


def test_job_log_downloads_as_text(client, scene, member):
    client.force_login(member)
    url = reverse("job-log", args=[scene.workflow.pk, scene.run.number, "prepare"])
    response = client.get(url)
    text = async_to_sync(_collect)(response.streaming_content).decode()
    assert response["Content-Disposition"] == 'attachment; filename="run-1-prepare.log"'
    assert text.splitlines()[0].endswith(" listing /inputs/raw")
    assert len(text.splitlines()) == 3


def test_rerun_starts_a_run_with_the_same_spec_or_the_default(client, scene, member):
    client.force_login(member)
    workflow, second = scene.workflow, scene.second
    url = reverse("run-rerun", args=[workflow.pk, second.number])
    response = client.post(url, {"spec": "same"})
    third = Run.objects.get(workflow=workflow, number=3)
    assert response["Location"] == reverse("run", args=[workflow.pk, 3])
    assert third.spec_id == second.spec_id and third.rerun_of_id == second.pk
    assert third.inputs == {"greeting": {"value": "bonjour"}}

    client.post(url, {"spec": "default"})
    fourth = Run.objects.get(workflow=workflow, number=4)
    assert fourth.spec_id == workflow.default_spec_id != second.spec_id


def test_rerun_failed_jobs_keeps_what_succeeded_and_says_why_it_cannot(client, scene, member):
    client.force_login(member)
    workflow, second = scene.workflow, scene.second
    page = text(client.get(reverse("run", args=[workflow.pk, second.number])))
    assert "Re-run failed jobs" in page
    url = reverse("run-rerun", args=[workflow.pk, second.number])

    response = client.post(url, {"spec": "failed"})

    third = Run.objects.get(workflow=workflow, number=3)
    assert response["Location"] == reverse("run", args=[workflow.pk, 3])
    assert dict(third.jobs.values_list("name", "phase")) == {
        "prepare": "SUCCEEDED",
        "report": "PENDING",
    }
    Run.objects.filter(pk=third.pk).update(phase="SUCCEEDED")
    response = client.post(
        reverse("run-rerun", args=[workflow.pk, 3]), {"spec": "failed"}, follow=True
    )
    assert "every job of run 3 succeeded; use a plain re-run instead" in text(response)
    assert Run.objects.filter(workflow=workflow).count() == 3


def test_cancel_asks_the_engine_and_says_so(
    client, scene, member, django_capture_on_commit_callbacks
):
    client.force_login(member)
    workflow = scene.workflow
    Run.objects.filter(pk=scene.second.pk).update(phase="RUNNING", finished=None)
    url = reverse("run-cancel", args=[workflow.pk, scene.second.number])
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(url, follow=True)
    assert "Cancel requested for run #2." in text(response)
    assert len(callbacks) == 1

    url = reverse("run-cancel", args=[workflow.pk, scene.run.number])
    response = client.post(url, follow=True)
    assert "had already ended (failed)" in text(response)


def test_diff_page_compares_spec_inputs_datasets_and_jobs(client, scene, member):
    client.force_login(member)
    workflow = scene.workflow
    response = client.get(reverse("run-compare", args=[workflow.pk]) + "?a=1&b=2")
    assert response["Location"] == reverse("run-diff", args=[workflow.pk, 1, 2])
    page = client.get(response["Location"]).content.decode()
    assert "wc -l /inputs/listing/files.txt" in page and "wc -c /inputs/listing/files.txt" in page
    assert 'class="diff-replace"' in page
    assert "+1</span>" in page and "−1</span>" in page
    assert "hello" in page and "bonjour" in page
    assert "prepare writes listing" in page and "listings:v1" in page
    assert "input raw" in page and "raw:v1" in page
    assert "+8.0 s" in page


GREETER = """\
inputs:
  greeting: {type: string, with: {value: hello}}
jobs:
  greet:
    uses: container@v1
    with: {image: bash:5, args: ["cat", "/inputs/greeting", "/inputs/name"]}
    inputs:
      greeting: workflow.inputs.greeting
      name: {type: string, with: {value: inline name}}
      scratch: {type: volume}
"""


def test_job_panel_shows_the_string_values_a_job_reads(client, scene, member, owner):
    workflow = workflow_create(project=scene.project, name="greeter", user=owner)
    run = run_submit(
        workflow=workflow, spec_text=GREETER, inputs={"greeting": {"value": "hi there"}}
    )
    client.force_login(member)

    page = text(client.get(reverse("job-panel", args=[workflow.pk, run.number, "greet"])))

    assert "hi there" in page and "inline name" in page
    assert "A workspace shared with later jobs" in page


def _more_of_everything(scene, owner) -> None:
    """Extra workflows, runs and datasets, so that a query per row would show in the counts."""
    for index in range(3):
        workflow = workflow_create(project=scene.project, name=f"extra-{index}", user=owner)
        run_submit(workflow=workflow, spec_text=LISTING, user=owner)
        dataset = dataset_create(project=scene.project, name=f"extra-{index}")
        dataset_version_upload(dataset=dataset, files=[("f", io.BytesIO(b"x"))])
    for _ in range(3):
        run_rerun(run=scene.run, user=owner)


@pytest.mark.parametrize(
    "page, queries",
    [("home", 5), ("project", 10), ("workflow", 6), ("run", 6), ("job panel", 6), ("diff", 6)],
)
def test_page_queries_are_pinned(
    client, scene, member, owner, page, queries, django_assert_num_queries
):
    _more_of_everything(scene, owner)
    client.force_login(member)
    url = {"home": reverse("home"), **_pages(scene)}[page]
    with django_assert_num_queries(queries):
        assert client.get(url).status_code == 200
