"""The engines that run runs, behind one small interface.

An engine checks that a spec can run on a cluster before a run is created,
starts a PENDING run, cancels a run, and frees what it held once a run has
ended. `engine_for(cluster)` picks the local engine (Celery workers,
runs.engine.local) or Argo Workflows (runs.engine.argo), as Django picks a
database backend.

What is the same for every engine is not in the engines: phase changes,
finishing a run, skipping and canceling jobs are runs.transitions; queuing
work for the workers is runs.queue; re-queuing what a lost message left
behind is runs.engine.reconciler. No engine imports the task layer
(runs.tasks), which imports them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from runs.models import Run
    from workflows.models import Cluster
    from workflows.spec import WorkflowSpec

# A reason a spec cannot run on a cluster: the path in the spec, and what to fix.
Problem = tuple[tuple[str | int, ...], str]


class Engine(Protocol):
    def check(self, spec: WorkflowSpec, cluster: Cluster) -> list[Problem]:
        """What keeps `spec` from running on `cluster`; empty when it can run."""

    def start(self, run: Run) -> None:
        """Start a PENDING run; safe to call twice, a run that has moved on is left alone."""

    def cancel(self, run: Run) -> None:
        """Cancel the run: its jobs that have not started now, running ones as they stop."""

    def release(self, run: Run) -> None:
        """Free what the engine kept for a run that has just ended (folders, reservations),
        in the transaction that ended it; what is not in the database, once it commits."""


def engine_for(cluster: Cluster) -> Engine:
    """The engine that runs the runs of `cluster`."""
    from workflows.models import Cluster

    if cluster.kind == Cluster.Kind.ARGO:
        from runs.engine.argo.engine import ArgoEngine

        return ArgoEngine()
    from runs.engine.local.scheduler import LocalEngine

    return LocalEngine()


def run_end_if_done(run: Run, message: str | None = None) -> str | None:
    """End the run once every job is final and let its engine free what it held.

    The phase the run ended with, or None when it did not end here.
    """
    # Imported here: the Argo compiler, a package below this one, is used without Django.
    from runs.transitions import run_finish_if_done

    final = run_finish_if_done(run_id=run.pk, message=message)
    if final is not None:
        engine_for(run.cluster).release(run)
    return final
