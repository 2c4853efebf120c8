"""The local engine stops a job at its cluster's default job timeout when its spec sets none."""

from __future__ import annotations

import pytest

from tests.runs.engine_helpers import job_log, wait_for_run
from tests.runs.test_local_engine import worker, world  # noqa: F401 (fixtures)
from workflows.models import Cluster

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("bubblewrap"),
]


def test_the_cluster_default_timeout_stops_a_job_without_one(world):  # noqa: F811
    world.team.clusters.update_or_create(
        handle="local",
        defaults={"name": "Local", "kind": Cluster.Kind.LOCAL, "default_job_timeout_seconds": 1},
    )

    run = world.submit(
        """
        jobs:
          slow:
            uses: container@v1
            with: {image: bash:5, args: ["sleep", "120"]}
          quick:
            timeout: 1m
            uses: container@v1
            with: {image: bash:5, args: ["true"]}
        """
    )
    run = wait_for_run(run, timeout=30)

    slow = run.jobs.get(name="slow")
    assert slow.phase == "FAILED"
    assert slow.message == "timed out after 1s (the cluster's default timeout)"
    assert "timeout of 1s reached" in job_log(run, "slow")
    assert run.jobs.get(name="quick").phase == "SUCCEEDED"
