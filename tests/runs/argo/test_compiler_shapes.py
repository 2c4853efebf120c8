"""The Argo compiler reads the typed cluster shapes the local engine reads (workflows.clusters)."""

from __future__ import annotations

import pytest

from runs.engine.argo.compiler import ClusterConfig, CompileError, compile_workflow
from runs.engine.argo.engine import spec_manifest
from tests.factories import ClusterFactory
from tests.runs.argo.test_compiler import container_of, spec_of, template_of
from workflows.clusters import InstanceType
from workflows.services import SpecRejected

SPEC = """\
jobs:
  plain:
    uses: container@v1
    with: {image: bash:5, args: [echo, hi]}
  sized:
    uses: container@v1
    with: {image: bash:5, args: [echo, hi]}
    resources: {instance-type: G2}
    timeout: 5m
"""
SHAPES = {
    "small": InstanceType(cpu=0.5, memory_bytes=2**30, pids=512),
    "G2": InstanceType(cpu=8.0, memory_bytes=30 * 2**30, gpu=2, node_selector={"pool": "gpu"}),
}


def test_typed_shapes_become_requests_and_limits():
    compiled = compile_workflow(spec_of(SPEC), ClusterConfig(instance_types=SHAPES))

    sized = template_of(compiled, "sized")
    assert sized["nodeSelector"] == {"pool": "gpu"}
    assert container_of(sized)["resources"] == {
        "requests": {"cpu": "8", "memory": "30Gi", "nvidia.com/gpu": "2"},
        "limits": {"memory": "30Gi", "nvidia.com/gpu": "2"},
    }


def test_the_cluster_default_type_sizes_jobs_that_name_none():
    cluster = ClusterConfig(instance_types=SHAPES, default_instance_type="small")

    compiled = compile_workflow(spec_of(SPEC), cluster)

    assert container_of(template_of(compiled, "plain"))["resources"] == {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"memory": "1Gi"},
    }
    assert container_of(template_of(compiled, "sized"))["resources"]["limits"]["nvidia.com/gpu"]


def test_without_a_default_type_unnamed_jobs_have_no_resources():
    compiled = compile_workflow(spec_of(SPEC), ClusterConfig(instance_types=SHAPES))

    assert "resources" not in container_of(template_of(compiled, "plain"))


def test_the_cluster_default_timeout_applies_where_the_spec_sets_none():
    cluster = ClusterConfig(instance_types=SHAPES, default_job_timeout_seconds=3600)

    compiled = compile_workflow(spec_of(SPEC), cluster)

    assert template_of(compiled, "plain")["activeDeadlineSeconds"] == "3600"
    assert template_of(compiled, "sized")["activeDeadlineSeconds"] == "300"


def test_json_shapes_are_read_into_the_same_types():
    cluster = ClusterConfig(instance_types={"G2": {"cpu": 8, "memory": "30Gi", "gpu": 2}})

    assert cluster.instance_types["G2"] == InstanceType(cpu=8.0, memory_bytes=30 * 2**30, gpu=2)


def test_a_dangling_cluster_default_is_reported_as_the_cluster_s():
    cluster = ClusterConfig(instance_types=SHAPES, default_instance_type="gone")

    with pytest.raises(CompileError) as error:
        compile_workflow(spec_of(SPEC), cluster)

    ((path, message),) = error.value.problems
    assert path == ()
    assert 'default instance type "gone" is not one of its instance types' in message


@pytest.mark.django_db
def test_an_unreadable_stored_shape_refuses_the_spec_with_the_reason(team):
    cluster = ClusterFactory(
        team=team, kind="argo", handle="k8s", instance_types={"C4": {"memory": "lots"}}
    )

    with pytest.raises(SpecRejected) as error:
        spec_manifest(text=SPEC, cluster=cluster)

    (problem,) = error.value.errors
    assert 'cluster "k8s" cannot be used' in problem.message
    assert 'memory "lots" is not a quantity' in problem.message


@pytest.mark.django_db
def test_the_engine_passes_the_row_s_defaults(team):
    cluster = ClusterFactory(
        team=team,
        kind="argo",
        instance_types={"small": {"cpu": "500m"}},
        default_instance_type="small",
        default_job_timeout_seconds=60,
    )

    manifest = spec_manifest(text=SPEC.replace("G2", "small"), cluster=cluster)

    plain = next(t for t in manifest["spec"]["templates"] if t["name"] == "plain")
    assert plain["container"]["resources"] == {"requests": {"cpu": "500m"}}
    assert plain["activeDeadlineSeconds"] == "60"
