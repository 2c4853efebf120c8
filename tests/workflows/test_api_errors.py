"""Bad input anywhere in the API: a 4xx with one body shape, never a 500, nothing written."""

import pytest
from rest_framework.test import APIClient

from runs.models import JobRun, Run
from tests.factories import (
    ClusterFactory,
    JobRunFactory,
    ProjectFactory,
    RunFactory,
    WorkflowFactory,
)
from workflows.models import Dataset, Project, Secret, StoredSpec, Workflow
from workflows.services import dataset_create, dataset_version_upload

BAD_BODIES = {
    "not-json": (b"{oops", "application/json"),
    "truncated": (b'{"name": "x"', "application/json"),
    "list": (b"[1, 2, 3]", "application/json"),
    "string": (b'"just a string"', "application/json"),
    "number": (b"42", "application/json"),
    "null": (b"null", "application/json"),
    "nan": (b'{"name": NaN}', "application/json"),
    "deep": (b"[" * 50000 + b"]" * 50000, "application/json"),
    "not-utf8": (b'{"name": "\xff"}', "application/json"),
    "wrong-types": (
        b'{"name": {"a": 1}, "spec": [1], "teamId": "x", "projectId": [], "value": {},'
        b' "inputs": 3, "clusterId": false, "markDefault": "x", "files": 1}',
        "application/json",
    ),
    "form": (b"name=x&teamId=1", "application/x-www-form-urlencoded"),
    "xml": (b"<name>x</name>", "application/xml"),
}

ENDPOINTS = [
    ("post", "/api/v1/projects"),
    ("post", "/api/v1/workflows"),
    ("post", "/api/v1/datasets"),
    ("put", "/api/v1/workflows/{workflow}/spec"),
    ("post", "/api/v1/workflows/{workflow}/runs"),
    ("post", "/api/v1/workflows/{workflow}/runs/1/rerun"),
    ("post", "/api/v1/datasets/{dataset}/versions"),
    ("put", "/api/v1/teams/{team}/secrets/token"),
    ("put", "/api/v1/projects/{project}/secrets/token"),
    ("put", "/api/v1/clusters/{cluster}/secrets/token"),
    ("post", "/api/v1/validate"),
]

UNKNOWN_IDS = [
    "/api/v1/teams/{missing}",
    "/api/v1/projects/{missing}",
    "/api/v1/projects/abc",
    "/api/v1/workflows/{missing}",
    "/api/v1/workflows/{missing}/spec",
    "/api/v1/workflows/{missing}/runs",
    "/api/v1/workflows/{workflow}/runs/77",
    "/api/v1/workflows/{workflow}/runs/1/jobs/nope/logs",
    "/api/v1/datasets/{missing}",
    "/api/v1/datasets/{dataset}/versions/v9/files",
    "/api/v1/datasets/{dataset}/versions/v1/files/nope.txt",
    "/api/v1/clusters/{missing}",
    "/api/v1/teams/{missing}/secrets",
    "/api/v1/projects/{missing}/secrets",
    "/api/v1/clusters/{missing}/secrets",
]


@pytest.fixture(autouse=True)
def _private_data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path


@pytest.fixture
def ids(team) -> dict[str, object]:
    project = ProjectFactory(team=team)
    cluster = ClusterFactory(team=team, handle="local")
    workflow = WorkflowFactory(project=project)
    run = RunFactory(workflow=workflow, number=1, cluster=cluster)
    JobRunFactory(run=run, name="hello")
    dataset = dataset_create(project=project, name="raw")
    return {
        "team": team.id,
        "project": project.id,
        "cluster": cluster.id,
        "workflow": workflow.id,
        "dataset": dataset.id,
        "missing": "999999",
    }


@pytest.fixture
def client(owner) -> APIClient:
    api = APIClient()
    api.force_authenticate(owner)
    return api


def _rows() -> dict[str, int]:
    models = [Project, Workflow, StoredSpec, Run, JobRun, Dataset, Secret]
    return {model.__name__: model.objects.count() for model in models}


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
@pytest.mark.parametrize("bad", list(BAD_BODIES))
def test_bad_bodies_are_a_4xx_with_a_detail_and_write_nothing(client, ids, method, url, bad):
    body, content_type = BAD_BODIES[bad]
    before = _rows()

    answer = getattr(client, method)(url.format(**ids), body, content_type=content_type)

    assert 400 <= answer.status_code < 500, answer.content[:300]
    payload = answer.json()
    assert isinstance(payload["detail"], str) and payload["detail"]
    assert set(payload) <= {"detail", "errors"}
    assert _rows() == before


@pytest.mark.django_db
@pytest.mark.parametrize("url", UNKNOWN_IDS)
def test_unknown_ids_are_a_json_404(client, ids, url):
    dataset_version_upload(
        dataset=Dataset.objects.get(pk=ids["dataset"]), files=[("a.txt", _file(b"a"))]
    )

    answer = client.get(url.format(**ids))

    assert answer.status_code == 404
    assert answer["Content-Type"] == "application/json"
    assert set(answer.json()) == {"detail"}


@pytest.mark.django_db
def test_an_unknown_method_is_405_with_a_detail(client, ids):
    answer = client.patch(f"/api/v1/workflows/{ids['workflow']}", {}, format="json")

    assert answer.status_code == 405
    assert answer.json() == {"detail": 'Method "PATCH" not allowed.'}


def _file(content: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("a.txt", content)
