"""`manage.py export_argo` and the argo-manifest endpoints (members only; others get 404)."""

from __future__ import annotations

import json
from io import StringIO

import pytest
import yaml
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from tests.factories import ClusterFactory, RunFactory, WorkflowFactory
from tests.runs.argo.schema import schema_errors
from tests.runs.argo.specgen import INSTANCE_TYPES
from workflows.services import spec_store

SPEC = """\
defaults:
  env:
    TOKEN: secret:api-token
jobs:
  prepare:
    uses: container@v1
    with: {image: bash:5, args: [echo, hi]}
    outputs: {note: {type: string}}
    resources: {instance-type: P4000}
  report:
    needs: [prepare]
    uses: script@v1
    with: {image: bash:5, script: cat /inputs/note}
    inputs: {note: prepare.outputs.note}
    timeout: 10m
    retries: 2
"""


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC)
    return path


@pytest.fixture
def argo_cluster(team):
    return ClusterFactory(
        team=team,
        handle="gpu-cluster",
        kind="argo",
        namespace="ml",
        instance_types=INSTANCE_TYPES,
        settings={"volumeSize": "10Gi", "podGC": {"strategy": "OnWorkflowSuccess"}},
    )


def _run(*args) -> str:
    out = StringIO()
    call_command("export_argo", *args, stdout=out)
    return out.getvalue()


def test_export_prints_yaml_by_default(spec_file, db):
    manifest = yaml.safe_load(_run(str(spec_file)))
    assert manifest["kind"] == "Workflow"
    assert schema_errors(manifest) == []
    report = next(t for t in manifest["spec"]["templates"] if t["name"] == "report")
    assert report["retryStrategy"]["limit"] == "2"


def test_export_with_a_cluster_as_json(spec_file, argo_cluster):
    manifest = json.loads(_run(str(spec_file), "--cluster", "gpu-cluster", "--json"))
    assert manifest["metadata"]["namespace"] == "ml"
    prepare = next(t for t in manifest["spec"]["templates"] if t["name"] == "prepare")
    assert prepare["nodeSelector"] == {"pool": "gpu", "gpu": "p4000"}
    assert manifest["spec"]["podGC"] == {"strategy": "OnWorkflowSuccess"}
    assert schema_errors(manifest) == []


def test_export_errors_name_the_line(tmp_path, argo_cluster):
    path = tmp_path / "bad.yaml"
    path.write_text(SPEC.replace("P4000", "Z80"))
    err = StringIO()
    with pytest.raises(CommandError, match='cannot run on cluster "gpu-cluster"'):
        call_command("export_argo", str(path), "--cluster", "gpu-cluster", stderr=err)
    assert "line 9, column" in err.getvalue()
    assert 'no instance type "Z80"' in err.getvalue()


def test_export_of_an_invalid_spec(tmp_path, db):
    path = tmp_path / "bad.yaml"
    path.write_text("jobs:\n  a:\n    uses: nothing@v1\n")
    with pytest.raises(CommandError, match="not valid"):
        call_command("export_argo", str(path), stderr=StringIO())


def test_export_of_an_unknown_cluster(spec_file, db):
    with pytest.raises(CommandError, match='no cluster "nope"'):
        call_command("export_argo", str(spec_file), "--cluster", "nope")


@pytest.fixture
def argo_run(team, argo_cluster):
    workflow = WorkflowFactory(project__team=team)
    stored = spec_store(text=SPEC, parsed={})
    return RunFactory(
        workflow=workflow,
        spec=stored,
        cluster=argo_cluster,
        engine_state={"name": "gw-9-x", "models": {}, "datasets": {}},
    )


def _url(run) -> str:
    return f"/api/v1/workflows/{run.workflow_id}/runs/{run.number}/argo-manifest"


@pytest.mark.parametrize("who,expected", [("owner", 200), ("member", 200), ("outsider", 404)])
def test_run_manifest_is_for_the_team_only(as_user, argo_run, who, expected):
    answer = as_user(who).get(_url(argo_run))
    assert answer.status_code == expected
    if expected == 200:
        manifest = answer.json()
        assert manifest["metadata"]["name"] == "gw-9-x"
        assert manifest["metadata"]["labels"]["gradient-workflows.io/run-id"] == str(argo_run.pk)
        assert schema_errors(manifest) == []


def test_run_manifest_as_yaml(as_user, argo_run):
    answer = as_user("member").get(_url(argo_run), HTTP_ACCEPT="application/yaml")
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("application/yaml")
    assert yaml.safe_load(answer.content)["kind"] == "Workflow"


def test_anonymous_gets_nothing(argo_run):
    assert APIClient().get(_url(argo_run)).status_code in (401, 403)


@pytest.mark.parametrize("who,expected", [("member", 200), ("outsider", 404)])
def test_spec_manifest_on_a_cluster(as_user, argo_cluster, who, expected):
    answer = as_user(who).post(
        "/api/v1/argo-manifest", {"spec": SPEC, "clusterId": "gpu-cluster"}, format="json"
    )
    assert answer.status_code == expected
    if expected == 200:
        assert answer.json()["metadata"]["namespace"] == "ml"


def test_spec_manifest_preview_and_errors(as_user, argo_cluster):
    preview = as_user("member").post("/api/v1/argo-manifest", {"spec": SPEC}, format="json")
    assert preview.status_code == 200
    assert preview.json()["metadata"]["generateName"] == "gradient-"
    bad = as_user("member").post(
        "/api/v1/argo-manifest",
        {"spec": SPEC.replace("P4000", "Z80"), "clusterId": str(argo_cluster.pk)},
        format="json",
    )
    assert bad.status_code == 400
    (error,) = bad.json()["errors"]
    assert error["path"] == "jobs.prepare.resources.instance-type"
    assert error["line"] == 9
    invalid = as_user("member").post(
        "/api/v1/argo-manifest", {"spec": "jobs: {}\nsteps: []\n"}, format="json"
    )
    assert invalid.status_code == 400
    assert invalid.json()["errors"]
