"""Team container registries on Argo: one dockerconfigjson Secret per run, in imagePullSecrets."""

from __future__ import annotations

import base64
import json

import pytest

from runs.engine.argo.compiler import ClusterConfig, RunBinding, compile_workflow
from runs.services import SubmissionError
from tests.runs.argo.conftest import NAMESPACE
from tests.runs.argo.test_compiler import spec_of
from workflows.models import ContainerRegistry
from workflows.services import container_registry_create

PASSWORD = "ghcr-Token-do-not-leak"
SPEC = """\
defaults:
  resources:
    container-registries: [ghcr]
jobs:
  build:
    uses: container@v1
    with: {image: ghcr.io/team/build:1, args: [make]}
  test:
    uses: container@v1
    with: {image: corp.example/test:1, args: [make, test]}
    resources:
      container-registries: [ghcr, corp]
"""
MAPPED = {"imagePullSecrets": {"corp": "corp-pull-secret"}}


def test_team_registries_share_the_run_s_pull_secret_and_mapped_ones_keep_theirs():
    compiled = compile_workflow(
        spec_of(SPEC), ClusterConfig(namespace="ml", settings=MAPPED), RunBinding(name="gw-7-x")
    )

    assert compiled.manifest["spec"]["imagePullSecrets"] == [
        {"name": "corp-pull-secret"},
        {"name": "gw-7-x-registries"},
    ]
    assert compiled.registries == ("ghcr",)
    assert compiled.registry_secret_name == "gw-7-x-registries"


def test_a_spec_without_team_registries_needs_no_pull_secret():
    spec = spec_of(SPEC.replace("[ghcr]", "[corp]").replace("[ghcr, corp]", "[corp]"))

    compiled = compile_workflow(spec, ClusterConfig(settings=MAPPED))

    assert compiled.manifest["spec"]["imagePullSecrets"] == [{"name": "corp-pull-secret"}]
    assert compiled.registries == ()


@pytest.fixture
def registries(world):
    for name, server in (("ghcr", "ghcr.io"), ("corp", "corp.example")):
        container_registry_create(
            team=world.team, name=name, server=server, username="robot", password=PASSWORD
        )


def test_submission_puts_the_logins_in_a_dockerconfigjson_secret(world, kube_api, registries):
    run = world.start(SPEC)

    assert run.phase == "RUNNING", run.message
    name = f"{run.engine_state['name']}-registries"
    secret = kube_api.secret(NAMESPACE, name)
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    config = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
    assert set(config["auths"]) == {"ghcr.io", "corp.example"}
    assert base64.b64decode(config["auths"]["ghcr.io"]["auth"]).decode() == f"robot:{PASSWORD}"
    assert secret["metadata"]["ownerReferences"][0]["uid"] == run.engine_state["uid"]
    workflow = kube_api.workflow(NAMESPACE, run.engine_state["name"])
    assert workflow["spec"]["imagePullSecrets"] == [{"name": name}]
    assert PASSWORD not in json.dumps(workflow)


def test_a_registry_deleted_before_the_start_fails_the_run_with_the_reason(
    world, kube_api, registries
):
    run = world.submit(SPEC)
    ContainerRegistry.objects.filter(name="corp").delete()

    from runs.engine.argo import engine

    engine.run_start(run.pk)
    run.refresh_from_db()

    assert run.phase == "FAILED"
    assert 'the container registry "corp" is no longer one of the team\'s registries' in (
        run.message
    )
    assert kube_api.workflow_names(NAMESPACE) == []


def test_a_name_the_cluster_maps_needs_no_team_registry(world, kube_api):
    world.cluster.settings = {**world.cluster.settings, **MAPPED}
    world.cluster.save()
    container_registry_create(
        team=world.team, name="ghcr", server="ghcr.io", username="robot", password=PASSWORD
    )

    run = world.start(SPEC)

    assert run.phase == "RUNNING", run.message
    workflow = kube_api.workflow(NAMESPACE, run.engine_state["name"])
    assert {"name": "corp-pull-secret"} in workflow["spec"]["imagePullSecrets"]


def test_an_unknown_name_is_refused_at_submission(world):
    with pytest.raises(SubmissionError) as caught:
        world.submit(SPEC)

    assert [error.path for error in caught.value.errors] == [
        "defaults.resources.container-registries[0]",
        "jobs.test.resources.container-registries[0]",
        "jobs.test.resources.container-registries[1]",
    ]
