"""The long-running watcher in a thread against the stand-in: list + watch, dropped watches,
410 Gone, followed logs, and a restart that loses nothing."""

from __future__ import annotations

import threading
import time

import pytest

from runs.engine.argo import engine
from runs.engine.argo.watcher import ArgoWatcher
from runs.models import Run
from runs.transitions import RUN_FINAL
from tests.runs.argo.argo_sim import Behavior
from tests.runs.argo.conftest import NAMESPACE, make_argo_world
from tests.runs.engine_helpers import job_log, phases

pytestmark = pytest.mark.integration


@pytest.fixture
def live_world(transactional_db, kube_api, s3, s3_endpoint, tmp_path, no_celery):
    return make_argo_world(kube_api, s3_endpoint, tmp_path)


class Running:
    """An ArgoWatcher in a thread, stopped and joined on exit."""

    def __init__(self, kube_api) -> None:
        self.kube_api = kube_api
        self.watcher = ArgoWatcher(
            workers=2, watch_seconds=2, retry_seconds=0.1, cluster_poll_seconds=0.2
        )
        self.thread = threading.Thread(target=self.watcher.run, daemon=True)

    def __enter__(self) -> ArgoWatcher:
        self.thread.start()
        return self.watcher

    def __exit__(self, *exc) -> None:
        self.watcher.stop.set()
        self.kube_api.drop_streams()
        self.thread.join(15)
        self.watcher.close(15)
        assert not self.thread.is_alive()


def wait_until(condition, timeout: float = 45.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {timeout} s")


def finished(run: Run) -> Run:
    run.refresh_from_db()
    return run if run.phase in RUN_FINAL else None


PIPE = """
jobs:
  first:
    uses: container@v1
    with: {image: bash:5, args: [bash, -c, "echo $TOKEN"]}
    env: {TOKEN: secret:token}
    outputs: {note: {type: string}}
  second:
    needs: [first]
    uses: script@v1
    with: {image: bash:5, script: cat /inputs/note}
    inputs: {note: first.outputs.note}
    retries: 1
  third:
    needs: [second]
    uses: container@v1
    with: {image: bash:5}
"""


def behaviors() -> dict[str, Behavior]:
    return {
        "first": Behavior(
            lines=tuple(f"first line {n}" for n in range(50)) + ("token t0p-s3cret-value",),
            parameters={"note": "from first"},
        ),
        "second": Behavior(fail_attempts=1, lines=tuple(f"second {n}" for n in range(20))),
        "third": Behavior(lines=("third",)),
    }


def assert_logs_are_the_pods(run: Run, sim, kube_api) -> None:
    for job in ("first", "second", "third"):
        pods = [pod for pod, owner in sim.pods.items() if owner == job]
        expected = [line for pod in pods for line in kube_api.pod_lines(NAMESPACE, pod)]
        expected = [line.replace("t0p-s3cret-value", "***") for line in expected]
        assert job_log(run, job).split("\n") == expected, job


def test_the_watcher_runs_a_workflow_through_dropped_watches_and_410(live_world, sim, kube_api):
    live_world.secret("token", "t0p-s3cret-value")
    sim.behaviors = behaviors()
    with Running(kube_api) as watcher:
        run = live_world.start(PIPE)
        sim.start(interval=0.05)
        wait_until(lambda: Run.objects.get(pk=run.pk).jobs.get(name="first").phase != "PENDING")
        kube_api.drop_streams()
        wait_until(lambda: Run.objects.get(pk=run.pk).jobs.get(name="second").attempt >= 1)
        kube_api.expire_watches()
        run = wait_until(lambda: finished(run), what="the run's end")
        (watch,) = watcher.watches.values()
        assert watch.lists >= 2, "the 410 Gone did not make the watcher list again"
        assert watch.watches >= 3

    assert run.phase == "SUCCEEDED", (phases(run), run.message)
    assert run.jobs.get(name="second").attempt == 2
    assert run.jobs.get(name="second").outputs == {}
    assert run.jobs.get(name="first").outputs == {"note": {"value": "from first"}}
    assert_logs_are_the_pods(run, sim, kube_api)


def test_a_restarted_watcher_loses_nothing(live_world, sim, kube_api):
    live_world.secret("token", "t0p-s3cret-value")
    sim.behaviors = behaviors()
    sim.behaviors["second"].hold = True
    with Running(kube_api):
        run = live_world.start(PIPE)
        sim.start(interval=0.05)
        wait_until(lambda: Run.objects.get(pk=run.pk).jobs.get(name="second").phase == "RUNNING")
    stopped_at = phases(run)
    pod = next(pod for pod, owner in sim.pods.items() if owner == "second")
    kube_api.pod_print(NAMESPACE, pod, "printed while nobody watched")
    sim.release("second")
    wait_until(
        lambda: (
            (kube_api.workflow(NAMESPACE, run.engine_state["name"])["status"]).get("phase")
            == "Succeeded"
        ),
        what="the workflow's end",
    )
    assert phases(run) == stopped_at

    with Running(kube_api):
        run = wait_until(lambda: finished(run), what="the run's end")

    assert run.phase == "SUCCEEDED", (phases(run), run.message)
    assert_logs_are_the_pods(run, sim, kube_api)
    assert "printed while nobody watched" in job_log(run, "second")


def test_cancel_while_watched(live_world, sim, kube_api):
    live_world.secret("token", "t0p-s3cret-value")
    sim.behaviors = behaviors()
    sim.behaviors["first"].hold = True
    with Running(kube_api):
        run = live_world.start(PIPE)
        sim.start(interval=0.05)
        wait_until(lambda: Run.objects.get(pk=run.pk).jobs.get(name="first").phase == "RUNNING")
        engine.run_cancel(run.pk)
        run = wait_until(lambda: finished(run), what="the run's end")
    assert run.phase == "CANCELED"
    assert phases(run) == {"first": "CANCELED", "second": "CANCELED", "third": "CANCELED"}
    assert "first line 49" in job_log(run, "first")
