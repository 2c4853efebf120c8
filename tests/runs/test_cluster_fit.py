"""Submission to a local cluster checks the instance types its jobs name against the cluster's."""

from __future__ import annotations

import pytest

from runs.services import SubmissionError, run_submit

SPEC = """\
jobs:
  train:
    uses: container@v1
    with: {image: bash:5, args: [echo, hi]}
    resources: {instance-type: C4}
"""


pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]


def _give_types(cluster, instance_types: dict) -> None:
    cluster.instance_types = instance_types
    cluster.save(update_fields=["instance_types"])


def test_a_local_cluster_without_types_runs_any_named_type(workflow):
    assert run_submit(workflow=workflow, spec_text=SPEC).jobs.count() == 1


def test_a_type_the_local_cluster_lacks_is_an_error_at_its_line(cluster, workflow):
    _give_types(cluster, {"small": {"cpu": 1}, "big": {"cpu": 8}})

    with pytest.raises(SubmissionError) as caught:
        run_submit(workflow=workflow, spec_text=SPEC)

    (error,) = caught.value.errors
    assert error.path == "jobs.train.resources.instance-type"
    assert error.line == 5
    assert 'this cluster has no instance type "C4" (known: big, small)' in error.message


def test_a_local_cluster_with_unreadable_shapes_refuses_the_run(cluster, workflow):
    _give_types(cluster, {"C4": {"memory": "lots"}})

    with pytest.raises(SubmissionError) as caught:
        run_submit(workflow=workflow, spec_text=SPEC)

    (error,) = caught.value.errors
    assert error.path == "clusterId"
    assert 'cluster "local" cannot be used: instance type "C4": memory "lots"' in error.message
