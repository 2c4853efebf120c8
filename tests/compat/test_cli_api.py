"""The gradient CLI surface through Django's test client: answer shapes, access and errors."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from runs.models import JobPhase, LogChunk, Run
from tests.factories import ClusterFactory, JobRunFactory, ProjectFactory, WorkflowFactory
from workflows.models import Secret, Workflow
from workflows.secret_values import decrypt_value
from workflows.services import api_key_create

SPEC = {
    "true": {"github": {"branches": {"only": "main"}}},
    "inputs": {"greeting": {"type": "string"}},
    "jobs": {
        "hello": {
            "uses": "container@v1",
            "with": {"image": "bash:5", "args": ["bash", "-c", "cat /inputs/greeting"]},
            "inputs": {"greeting": "workflow.inputs.greeting"},
        }
    },
}
INPUTS = {"inputs": {"greeting": {"value": "hello"}}}


class Gradient:
    """Requests as the CLI sends them: JSON bodies, the key in X-API-Key, paths under /gradient."""

    def __init__(self, key: str) -> None:
        self.client = Client(headers={"X-API-Key": key})

    def __call__(self, method: str, path: str, body: object = None, **params):
        send = getattr(self.client, method.lower())
        url = "/gradient/" + path.lstrip("/")
        if body is None:
            return send(url, params) if method == "GET" else send(url, query_params=params)
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        return send(url, data, content_type="application/json", query_params=params)


def _cli_for(user) -> Gradient:
    return Gradient(api_key_create(user=user, name="cli")[1])


def _error(response) -> str:
    assert response["Content-Type"] == "application/json"
    return response.json()["error"]["message"]


@pytest.fixture
def cli(owner) -> Gradient:
    return _cli_for(owner)


def test_every_request_needs_a_valid_api_key(db):
    assert _error(Client().get("/gradient/workflows")).startswith("an API key is required")
    response = Gradient("gw_not-a-key").__call__("GET", "workflows")
    assert response.status_code == 401
    assert _error(response) == "this API key is not valid"


def test_projects_create_in_the_team_the_user_owns_and_list_wrapped_in_data(cli, team):
    created = cli("POST", "projects/", {"name": "Demo"})
    assert created.status_code == 201
    handle = created.json()["handle"]
    assert team.projects.get().handle == handle

    listed = cli(
        "GET",
        "projects/",
        filter='{"offset":0,"where":{"dtDeleted":null},"order":"dtCreated desc"}',
    ).json()
    assert [row["handle"] for row in listed["data"]] == [handle]
    assert listed["data"][0]["name"] == "Demo"
    assert listed["data"][0]["dtCreated"].endswith("Z")
    assert cli("GET", "projects/", tagFilter="x").json()["data"] == []


def test_projects_details_filter_and_duplicate_name(cli, project):
    found = cli("GET", "projects/", filter=json.dumps({"where": {"handle": project.handle}}))
    assert [row["name"] for row in found.json()["data"]] == [project.name]
    duplicate = cli("POST", "projects/", {"name": project.name})
    assert duplicate.status_code == 400
    assert "already has a project" in _error(duplicate)


def test_namespace_is_a_bare_json_string(cli, team):
    assert cli("GET", "teams/namespace").json() == team.handle


def test_outsiders_see_none_of_the_teams_things(outsider, workflow):
    cli = _cli_for(outsider)
    assert cli("GET", "projects/").json()["data"] == []
    assert cli("GET", "workflows").json() == []
    for path in (
        f"workflows/{workflow.id}",
        f"workflows/{workflow.id}/runs",
        f"workflows/{workflow.id}/runs/1",
    ):
        response = cli("GET", path)
        assert response.status_code == 404, path
        assert str(workflow.id) in _error(response)
    refused = cli("POST", "workflows", {"name": "w", "projectId": workflow.project.handle})
    assert refused.status_code == 404
    secrets = cli("GET", "projects/secrets", projectId=workflow.project.handle)
    assert secrets.status_code == 404


def test_workflows_create_list_and_get(cli, project, member):
    created = cli("POST", "workflows", {"name": "wf1", "projectId": project.handle})
    assert created.status_code == 201
    workflow = Workflow.objects.get(pk=created.json()["id"])
    assert workflow.name == "wf1" and workflow.project == project

    other = WorkflowFactory(project=ProjectFactory(team=project.team))
    listed = cli("GET", "workflows", **{"filter[where][projectId]": project.handle}).json()
    assert [row["id"] for row in listed] == [str(workflow.id)]
    assert {row["id"] for row in _cli_for(member)("GET", "workflows").json()} == {
        str(workflow.id),
        str(other.id),
    }

    detail = cli("GET", f"workflows/{workflow.id}").json()
    assert detail == {
        "id": str(workflow.id),
        "name": "wf1",
        "projectId": project.handle,
        "teamId": project.team.handle,
        "dtCreated": detail["dtCreated"],
        "spec": None,
    }


def test_workflow_errors(cli, project):
    assert cli("POST", "workflows", {"name": "wf"}).status_code == 400
    unknown_project = cli("POST", "workflows", {"name": "wf", "projectId": "nope"})
    assert unknown_project.status_code == 404
    assert _error(unknown_project) == 'there is no project "nope" in your teams'
    assert cli("GET", "workflows", **{"filter[where][projectId]": "nope"}).status_code == 404
    for unknown in ("not-a-uuid", "3f9e2c1a-1111-2222-3333-444455556666"):
        response = cli("GET", f"workflows/{unknown}")
        assert response.status_code == 404
        assert _error(response) == f'there is no workflow "{unknown}" in your teams'


def test_run_submits_the_parsed_spec_with_on_restored(
    cli, workflow, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = cli(
            "POST",
            f"workflows/{workflow.id}/runs",
            {"spec": SPEC, "clusterId": None, "run": True, "markDefault": False, "inputs": INPUTS},
        )
    assert response.status_code == 201, response.content
    run = Run.objects.get()
    assert queued == [run.id]
    assert response.json()["status"]["logId"] == run.log_id
    assert response.json()["status"]["jobs"]["hello"]["phase"] == "PENDING"
    assert run.spec.text.startswith("on:\n  github:\n")
    assert run.spec.parsed["on"] == {"github": {"branches": {"only": "main"}}}
    assert run.inputs == {"greeting": {"value": "hello"}}
    assert run.cluster.handle == "local"


def test_run_on_a_named_cluster_and_mark_default(cli, workflow, queued):
    cluster = ClusterFactory(team=workflow.project.team, handle="gpu")
    body = {"spec": SPEC, "clusterId": "gpu", "markDefault": True, "inputs": INPUTS["inputs"]}
    assert cli("POST", f"workflows/{workflow.id}/runs", body).status_code == 201
    workflow.refresh_from_db()
    run = Run.objects.get()
    assert run.cluster == cluster
    assert workflow.default_spec == run.spec
    assert cli("GET", f"workflows/{workflow.id}").json()["spec"]["on"]


def test_invalid_spec_names_path_and_line(cli, workflow):
    spec = {
        "jobs": {
            "fetch": {
                "uses": "container@v1",
                "neds": ["x"],
                "with": {"image": "bash:5", "args": ["bash", "-c", 1]},
            }
        }
    }
    response = cli("POST", f"workflows/{workflow.id}/runs", {"spec": spec, "run": True})
    assert response.status_code == 400
    message = _error(response).splitlines()
    assert message[0].startswith("jobs.fetch.neds (line 4, column 5): unknown key")
    assert message[0].endswith('(did you mean "needs"?)')
    assert message[1].startswith("jobs.fetch.with.args[2] (line 11, column 11):")
    assert response.json()["validation"]["valid"] is False
    assert not Run.objects.exists()


def test_run_errors_outside_the_spec(cli, workflow):
    runs = f"workflows/{workflow.id}/runs"
    missing_input = cli("POST", runs, {"spec": SPEC, "run": True})
    assert _error(missing_input).startswith(
        'inputs.greeting: the run needs a value for input "greeting"'
    )
    no_cluster = cli("POST", runs, {"spec": SPEC, "clusterId": "nope", "inputs": INPUTS})
    assert _error(no_cluster).startswith('clusterId: there is no cluster "nope"')
    secret_spec = {**SPEC, "defaults": {"env": {"TOKEN": "secret:api-token"}}}
    missing_secret = cli("POST", runs, {"spec": secret_spec, "inputs": INPUTS})
    assert 'the secret "api-token" is not set' in _error(missing_secret)
    assert "defaults.env.TOKEN (line " in _error(missing_secret)
    not_run = cli("POST", runs, {"spec": SPEC, "inputs": INPUTS, "run": False})
    assert not_run.status_code == 400
    assert not Run.objects.exists()


def test_runs_list_and_status_document(cli, workflow, queued, django_assert_num_queries):
    for _ in range(3):
        body = {"spec": SPEC, "inputs": INPUTS}
        assert cli("POST", f"workflows/{workflow.id}/runs", body).status_code == 201
    # The key, the workflow, the runs with their clusters: not one query per run.
    with django_assert_num_queries(3):
        rows = cli("GET", f"workflows/{workflow.id}/runs").json()
    assert [row["id"] for row in rows] == [3, 2, 1]
    assert rows[0]["cluster"] == {"id": "local", "kind": "local"}
    assert rows[0]["status"]["phase"] == "PENDING"
    assert rows[0]["status"]["logId"].startswith("r-")

    document = cli("GET", f"workflows/{workflow.id}/runs/2").json()
    run = Run.objects.get(workflow=workflow, number=2)
    assert document["id"] == 2
    assert document["status"]["logId"] == run.log_id
    assert document["status"]["jobs"]["hello"]["logId"] == run.jobs.get().log_id
    assert document["inputs"] == {"greeting": {"value": "hello"}}
    for missing in ("4", "x"):
        response = cli("GET", f"workflows/{workflow.id}/runs/{missing}")
        assert response.status_code == 404
        assert _error(response) == f'workflow "{workflow.name}" has no run {missing}'


def test_runs_list_is_an_empty_array_without_runs(cli, workflow):
    assert cli("GET", f"workflows/{workflow.id}/runs").json() == []


def _job_with_lines(workflow, count: int, phase: str = JobPhase.RUNNING):
    job = JobRunFactory(run__workflow=workflow, phase=phase)
    lines = [[f"2026-11-27T10:00:{n:02d}Z", f"line {n}"] for n in range(1, count + 1)]
    LogChunk.objects.create(job=job, first_line=1, line_count=count, lines=lines)
    return job


def test_logs_of_a_running_job(cli, workflow):
    job = _job_with_lines(workflow, 3)
    rows = cli("GET", "jobs/logs", jobId=job.log_id, line=0, limit=10000).json()
    assert rows == [
        {"line": 1, "message": "line 1", "timestamp": "2026-11-27T10:00:01Z"},
        {"line": 2, "message": "line 2", "timestamp": "2026-11-27T10:00:02Z"},
        {"line": 3, "message": "line 3", "timestamp": "2026-11-27T10:00:03Z"},
    ]
    page = cli("GET", "jobs/logs", jobId=job.log_id, line=2, limit=1).json()
    assert [row["line"] for row in page] == [2]
    assert cli("GET", "jobs/logs", jobId=job.log_id, line=4, limit=5).json() == []


def test_logs_end_with_pseof_once_the_job_ended(cli, workflow):
    job = _job_with_lines(workflow, 2, phase=JobPhase.FAILED)
    rows = cli("GET", "jobs/logs", jobId=job.log_id, line=0, limit=10000).json()
    assert [(row["line"], row["message"]) for row in rows] == [
        (1, "line 1"),
        (2, "line 2"),
        (3, "PSEOF"),
    ]
    assert all(isinstance(row["timestamp"], str) for row in rows)
    full_page = cli("GET", "jobs/logs", jobId=job.log_id, line=1, limit=2).json()
    assert [row["message"] for row in full_page] == ["line 1", "line 2"]
    after = cli("GET", "jobs/logs", jobId=job.log_id, line=3, limit=2).json()
    assert [(row["line"], row["message"]) for row in after] == [(3, "PSEOF")]


def test_logs_of_a_job_without_output(cli, workflow):
    pending = JobRunFactory(run__workflow=workflow)
    rows = cli("GET", "jobs/logs", jobId=pending.log_id, line=0, limit=10000).json()
    assert [row["message"] for row in rows] == ["(no output yet: the job is PENDING)"]
    assert cli("GET", "jobs/logs", jobId=pending.log_id, line=1, limit=10).json() == []
    skipped = JobRunFactory(run__workflow=workflow, phase=JobPhase.SKIPPED)
    rows = cli("GET", "jobs/logs", jobId=skipped.log_id, line=0, limit=10000).json()
    assert [(row["line"], row["message"]) for row in rows] == [(1, "PSEOF")]


def test_logs_errors(cli, workflow, outsider):
    job = _job_with_lines(workflow, 1)
    assert _cli_for(outsider)("GET", "jobs/logs", jobId=job.log_id).status_code == 404
    unknown = cli("GET", "jobs/logs", jobId="j-nope", line=0, limit=10)
    assert _error(unknown) == 'there is no job with log id "j-nope" in your teams'
    bad_line = cli("GET", "jobs/logs", jobId=job.log_id, line="x")
    assert bad_line.status_code == 400
    assert _error(bad_line) == "line must be a whole number of at least 0, not 'x'"
    assert cli("GET", "jobs/logs", jobId=job.log_id, limit=0).status_code == 400


@pytest.mark.parametrize("scope", ["team", "project", "cluster"])
def test_secrets_set_list_delete(cli, team, project, scope):
    cluster = ClusterFactory(team=team)
    ids = {"team": team.handle, "project": project.handle, "cluster": cluster.handle}
    query = {f"{scope}Id": ids[scope]}
    base = f"{scope}s/secrets"
    for name in ("B_TOKEN", "a-key"):
        response = cli("PUT", f"{base}/{name}", {"value": "s3cr3t value"}, **query)
        assert response.status_code == 200
        assert "s3cr3t" not in response.content.decode()
    secret = Secret.objects.get(name="B_TOKEN")
    assert secret.scope == scope
    assert (secret.project, secret.cluster) == (
        project if scope == "project" else None,
        cluster if scope == "cluster" else None,
    )
    listed = cli("GET", base, **query)
    assert listed.json() == [{"name": "B_TOKEN"}, {"name": "a-key"}]
    assert "s3cr3t" not in listed.content.decode()

    assert cli("DELETE", f"{base}/B_TOKEN", **query).status_code == 204
    assert cli("GET", base, **query).json() == [{"name": "a-key"}]
    again = cli("DELETE", f"{base}/B_TOKEN", **query)
    assert again.status_code == 404
    assert _error(again) == f'there is no {scope} secret named "B_TOKEN"'


def test_team_secrets_default_to_the_users_team(cli, team):
    assert cli("PUT", "teams/secrets/TOKEN", {"value": "v"}).status_code == 200
    assert Secret.objects.get().team == team
    assert cli("GET", "teams/secrets").json() == [{"name": "TOKEN"}]


def test_secret_errors(cli, project, outsider):
    missing_id = cli("GET", "projects/secrets")
    assert _error(missing_id) == "projectId is required for project secrets (--id)"
    assert cli("GET", "clusters/secrets", clusterId="nope").status_code == 404
    assert cli("GET", "teams/secrets", teamId="nope").status_code == 404
    no_value = cli("PUT", "projects/secrets/X", {}, projectId=project.handle)
    assert _error(no_value) == "a secret needs a non-empty value"
    bad_name = cli("PUT", "teams/secrets/A B/c", {"value": "v"})
    assert bad_name.status_code == 400
    assert "letters, digits" in _error(bad_name)
    other_team = _cli_for(outsider)
    refused = other_team("PUT", "projects/secrets/X", {"value": "v"}, projectId=project.handle)
    assert refused.status_code == 404
    assert not Secret.objects.exists()


def test_only_owners_set_or_delete_secrets(cli, project, member):
    set_it = cli("PUT", "projects/secrets/TOKEN", {"value": "v"}, projectId=project.handle)
    assert set_it.status_code == 200
    as_member = _cli_for(member)

    overwrite = as_member(
        "PUT", "projects/secrets/TOKEN", {"value": "mine"}, projectId=project.handle
    )
    team_secret = as_member(
        "PUT", "teams/secrets/TOKEN", {"value": "mine"}, teamId=project.team.handle
    )
    refused = as_member("DELETE", "projects/secrets/TOKEN", projectId=project.handle)

    assert [overwrite.status_code, team_secret.status_code, refused.status_code] == [403] * 3
    assert _error(refused) == (
        "only the team's owners may manage secrets; ask one of the team's owners"
    )
    (kept,) = Secret.objects.all()
    assert decrypt_value(kept.ciphertext) == "v"
    assert cli("DELETE", "projects/secrets/TOKEN", projectId=project.handle).status_code == 204


def test_clusters_list_pages(cli, team, cluster, outsider):
    ClusterFactory(team=team, handle="gpu", name="GPU", kind="argo")
    ClusterFactory(team=outsider.teams.get(), handle="theirs")
    rows = cli("GET", "clusters/getClusters", filter='{"limit": 20, "offset": 0}').json()
    assert rows == [
        {"id": "gpu", "name": "GPU", "type": "Argo Workflows on Kubernetes", "teamId": team.handle},
        {"id": "local", "name": "Local engine", "type": "Local engine", "teamId": team.handle},
    ]
    second = cli("GET", "clusters/getClusters", filter='{"limit": 1, "offset": 1}').json()
    assert [row["id"] for row in second] == ["local"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{not json", "the request body is not valid JSON"),
        ("[1, 2]", "the request body must be a JSON object"),
        (b"\xff", "the request body is not valid JSON"),
    ],
)
def test_bad_bodies_answer_json_400(cli, project, body, message):
    response = cli("POST", "workflows", body)
    assert response.status_code == 400
    assert _error(response).startswith(message)


def test_bad_filter_answers_json_400(cli):
    response = cli("GET", "projects/", filter="{oops")
    assert response.status_code == 400
    assert _error(response).startswith("the filter parameter is not valid JSON")


def test_unknown_paths_and_methods_answer_json(cli, workflow):
    for path in ("datasets", "projects/x/deleteProject", "workflows/a/b/c/d"):
        response = cli("GET", path)
        assert response.status_code == 404
        assert _error(response).endswith("is not part of this server's gradient API")
    deleting = cli("POST", "projects/x/deleteProject", {})
    assert deleting.status_code == 404
    assert _error(deleting) == (
        "POST /gradient/projects/x/deleteProject is not part of this server's gradient API"
    )
    wrong_method = cli("DELETE", f"workflows/{workflow.id}")
    assert wrong_method.status_code == 405
    assert wrong_method["Allow"] == "GET"
    assert "DELETE is not allowed" in _error(wrong_method)


@pytest.mark.parametrize(
    ("path", "params", "queries"),
    [
        ("projects/", {}, 2),
        ("workflows", {}, 2),
        ("workflows", {"filter[where][projectId]": "p-0"}, 3),
        ("projects/secrets", {"projectId": "p-0"}, 3),
        ("teams/secrets", {}, 3),
        ("clusters/getClusters", {}, 2),
    ],
)
def test_lists_take_a_fixed_number_of_queries(
    cli, team, cluster, path, params, queries, django_assert_num_queries
):
    # The key's lookup, what the list is scoped to, then one query for all rows.
    for n in range(3):
        project = ProjectFactory(team=team, handle=f"p-{n}")
        WorkflowFactory(project=project)
        ClusterFactory(team=team)
        Secret.objects.create(team=team, scope="team", name=f"T{n}", ciphertext=b"")
        Secret.objects.create(
            team=team, scope="project", project=project, name=f"P{n}", ciphertext=b""
        )
    assert cli("GET", "teams/namespace").status_code == 200
    with django_assert_num_queries(queries):
        response = cli("GET", path, **params)
    assert response.status_code == 200
    rows = response.json()
    assert len(rows["data"] if isinstance(rows, dict) else rows) >= 1


@pytest.mark.parametrize(
    ("depth", "message"),
    [
        (150, "line 1, column 1: the spec nests more than 100 levels deep"),
        (5000, "the request body nests too deeply"),
    ],
)
def test_deeply_nested_specs_are_refused_with_json(cli, workflow, depth, message):
    body = '{"spec": {"jobs": ' + "[" * depth + "]" * depth + "}}"
    response = cli("POST", f"workflows/{workflow.id}/runs", body)
    assert response.status_code == 400
    assert _error(response) == message
