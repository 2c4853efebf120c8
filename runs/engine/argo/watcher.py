"""Watching Argo Workflows and applying them to runs: ``manage.py argo_watch``.

Where it runs, and why: one long-running process per deployment (beside the
Celery workers; ``make run`` can start it when Argo clusters exist). Per
Argo cluster it lists the dashboard's Workflows (label ``RUN_LABEL``) and
then watches from the list's resourceVersion, with bookmarks; a dropped
watch resumes from the last resourceVersion seen, and a 410 Gone (the
server no longer has history that old) re-lists. Every Workflow it sees is
handed to a small pool that reconciles one run at a time, always with the
newest state seen for it (older ones are skipped, not queued). Pods' logs
are followed by one thread per running pod (runs.engine.argo.logs).

A Celery task per Workflow event would put a watch in a task that never
ends and log streams in workers meant for short tasks; one process keeps
one watch per cluster and is the only writer of Argo jobs' phases and logs.
Restarting it loses nothing: it re-lists, and applying a status twice
changes nothing (transitions are conditional; log readers resume after the
last stored line).

``reconcile_now`` and ``reconcile_cluster_once`` do a single pass without
threads (``argo_watch --once``, tests).
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from django.db import close_old_connections, connections
from kubernetes.client.exceptions import ApiException

from runs.engine.argo import kube
from runs.engine.argo.compiler import RUN_LABEL
from runs.engine.argo.logs import FollowedLogs, SyncLogs, job_secret_values
from runs.engine.argo.reconcile import reconcile_run
from runs.models import Run, RunPhase
from runs.values import EngineState
from workflows.models import Cluster

logger = logging.getLogger(__name__)

WATCH_SECONDS = 300
RETRY_SECONDS = 5.0
CLUSTER_POLL_SECONDS = 30.0


class Expired(Exception):
    """The watch's resourceVersion is too old (410 Gone): list again."""


def _run_id(workflow: dict) -> int | None:
    value = (workflow.get("metadata", {}).get("labels") or {}).get(RUN_LABEL)
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def get_workflow(apis: kube.Apis, name: str) -> dict | None:
    """The Workflow called ``name`` in the cluster's namespace, or None when there is none."""
    try:
        return apis.custom.get_namespaced_custom_object(
            kube.GROUP,
            kube.VERSION,
            apis.namespace,
            kube.PLURAL,
            name,
            _request_timeout=kube.REQUEST_TIMEOUT,
        )
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def list_workflows(apis: kube.Apis) -> tuple[list[dict], str]:
    """The dashboard's Workflows in the namespace and the list's resourceVersion."""
    answer = apis.custom.list_namespaced_custom_object(
        kube.GROUP,
        kube.VERSION,
        apis.namespace,
        kube.PLURAL,
        label_selector=RUN_LABEL,
        _request_timeout=(5, 120),
    )
    return answer.get("items") or [], answer["metadata"].get("resourceVersion", "")


def vanished_runs(cluster: Cluster, seen: set[int], apis: kube.Apis) -> list[int]:
    """Active runs of the cluster whose Workflow no longer exists (confirmed one by one)."""
    candidates = (
        Run.objects.filter(cluster=cluster, phase__in=(RunPhase.PENDING, RunPhase.RUNNING))
        .exclude(pk__in=seen)
        .values_list("pk", "engine_state")
    )
    gone = []
    for run_id, stored in candidates:
        state = EngineState.from_json(stored)
        # Submitted after the list was taken, or not submitted yet: not gone.
        if state.uid and get_workflow(apis, state.name) is None:
            gone.append(run_id)
    return gone


def _sync_logs(apis: kube.Apis) -> SyncLogs:
    return SyncLogs(apis, job_secret_values)


def reconcile_now(run_id: int) -> None:
    """One pass over one run: read its Workflow and apply it, logs read inline."""
    run = Run.objects.select_related("cluster").get(pk=run_id)
    name = EngineState.from_json(run.engine_state).name
    if not name:
        return
    apis = kube.apis(run.cluster)
    reconcile_run(run_id, get_workflow(apis, name), _sync_logs(apis), apis)


def reconcile_cluster_once(cluster: Cluster) -> int:
    """One pass over every run of the cluster; returns how many runs were looked at."""
    apis = kube.apis(cluster)
    logs = _sync_logs(apis)
    items, _ = list_workflows(apis)
    seen: set[int] = set()
    for workflow in items:
        run_id = _run_id(workflow)
        if run_id is not None and Run.objects.filter(pk=run_id, cluster=cluster).exists():
            seen.add(run_id)
            reconcile_run(run_id, workflow, logs, apis)
    gone = vanished_runs(cluster, seen, apis)
    for run_id in gone:
        reconcile_run(run_id, None, logs, apis)
    return len(seen) + len(gone)


class Reconciler:
    """Applies the newest state seen of each run, one pass per run at a time, in a pool."""

    def __init__(self, stop: threading.Event, workers: int = 4) -> None:
        self.stop = stop
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="argo-reconcile")
        self.lock = threading.Lock()
        self.latest: dict[int, tuple[dict | None, kube.Apis]] = {}
        self.pending: set[int] = set()
        self.busy: set[int] = set()
        self.logs = FollowedLogs(
            apis=lambda job_run: kube.apis(Run.objects.get(pk=job_run.run_id).cluster),
            secrets=job_secret_values,
            on_done=self.poke,
            stop=stop,
        )

    def offer(self, run_id: int, workflow: dict | None, apis: kube.Apis) -> None:
        """Reconcile the run with this state soon (replacing any state not applied yet)."""
        with self.lock:
            self.latest[run_id] = (workflow, apis)
            self._schedule(run_id)

    def poke(self, run_id: int) -> None:
        """Reconcile the run again with the state last seen (a log has been stored to its end)."""
        with self.lock:
            if run_id in self.latest:
                self._schedule(run_id)

    def _schedule(self, run_id: int) -> None:
        self.pending.add(run_id)
        if run_id not in self.busy and not self.stop.is_set():
            self.busy.add(run_id)
            self.pool.submit(self._drain, run_id)

    def _drain(self, run_id: int) -> None:
        while True:
            with self.lock:
                if run_id not in self.pending or self.stop.is_set():
                    self.busy.discard(run_id)
                    connections.close_all()
                    return
                self.pending.discard(run_id)
                workflow, apis = self.latest[run_id]
            active = True
            try:
                reconcile_run(run_id, workflow, self.logs, apis)
                active = Run.objects.filter(
                    pk=run_id, phase__in=(RunPhase.PENDING, RunPhase.RUNNING)
                ).exists()
            except Exception:
                logger.exception("reconciling run %s failed", run_id)
            finally:
                close_old_connections()
            if not active:
                with self.lock:
                    if run_id not in self.pending:
                        self.latest.pop(run_id, None)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Wait for passes under way and the log followers (after ``stop`` is set)."""
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.logs.join(timeout)


class ClusterWatch(threading.Thread):
    """List, then watch, one cluster's Workflows, for as long as ``stop`` is not set."""

    def __init__(
        self,
        cluster_id: int,
        reconciler: Reconciler,
        stop: threading.Event,
        watch_seconds: int = WATCH_SECONDS,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        super().__init__(name=f"argo-watch-{cluster_id}", daemon=True)
        self.cluster_id = cluster_id
        self.reconciler = reconciler
        self.stop = stop
        self.watch_seconds = watch_seconds
        self.retry_seconds = retry_seconds
        self.lists = 0
        self.watches = 0

    def run(self) -> None:
        try:
            self._run()
        finally:
            connections.close_all()

    def _run(self) -> None:
        resource_version = ""
        while not self.stop.is_set():
            try:
                cluster = Cluster.objects.get(pk=self.cluster_id)
                apis = kube.apis(cluster)
                if not resource_version:
                    resource_version = self._list(cluster, apis)
                resource_version = self._watch(apis, resource_version)
            except Expired:
                resource_version = ""
            except Cluster.DoesNotExist:
                return
            except Exception as error:
                logger.warning("watching cluster %s: %s; again in a moment", self.cluster_id, error)
                self.stop.wait(self.retry_seconds)
            finally:
                close_old_connections()

    def _list(self, cluster: Cluster, apis: kube.Apis) -> str:
        items, resource_version = list_workflows(apis)
        self.lists += 1
        seen: set[int] = set()
        ours = set(
            Run.objects.filter(
                cluster=cluster, pk__in=[_run_id(item) for item in items if _run_id(item)]
            ).values_list("pk", flat=True)
        )
        for workflow in items:
            run_id = _run_id(workflow)
            if run_id in ours:
                seen.add(run_id)
                self.reconciler.offer(run_id, workflow, apis)
        for run_id in vanished_runs(cluster, seen, apis):
            self.reconciler.offer(run_id, None, apis)
        return resource_version

    def _watch(self, apis: kube.Apis, resource_version: str) -> str:
        response = apis.custom.list_namespaced_custom_object(
            kube.GROUP,
            kube.VERSION,
            apis.namespace,
            kube.PLURAL,
            label_selector=RUN_LABEL,
            watch=True,
            allow_watch_bookmarks=True,
            resource_version=resource_version,
            timeout_seconds=self.watch_seconds,
            _preload_content=False,
            _request_timeout=(5, self.watch_seconds + 30),
        )
        self.watches += 1
        partial = b""
        try:
            for data in response.stream(1 << 16):
                lines = (partial + data).split(b"\n")
                partial = lines.pop()
                for line in lines:
                    if line.strip():
                        resource_version = self._event(json.loads(line), apis, resource_version)
                if self.stop.is_set():
                    break
        finally:
            response.release_conn()
        return resource_version

    def _event(self, event: dict, apis: kube.Apis, resource_version: str) -> str:
        kind = event.get("type")
        obj = event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise Expired(obj.get("message", "resource version too old"))
            raise ApiException(status=obj.get("code"), reason=obj.get("message"))
        resource_version = obj.get("metadata", {}).get("resourceVersion") or resource_version
        if kind == "BOOKMARK":
            return resource_version
        run_id = _run_id(obj)
        if run_id is None or not Run.objects.filter(pk=run_id, cluster_id=self.cluster_id).exists():
            return resource_version
        self.reconciler.offer(run_id, None if kind == "DELETED" else obj, apis)
        return resource_version


class ArgoWatcher:
    """A ClusterWatch per Argo cluster (clusters added later are picked up) and one pool."""

    def __init__(
        self,
        *,
        workers: int = 4,
        watch_seconds: int = WATCH_SECONDS,
        retry_seconds: float = RETRY_SECONDS,
        cluster_poll_seconds: float = CLUSTER_POLL_SECONDS,
        stop: threading.Event | None = None,
    ) -> None:
        self.stop = stop or threading.Event()
        self.reconciler = Reconciler(self.stop, workers)
        self.watch_seconds = watch_seconds
        self.retry_seconds = retry_seconds
        self.cluster_poll_seconds = cluster_poll_seconds
        self.watches: dict[int, ClusterWatch] = {}

    def close(self, timeout: float = 10.0) -> None:
        """Stop watching and wait for the threads to end."""
        self.stop.set()
        for watch in self.watches.values():
            watch.join(timeout)
        self.reconciler.shutdown(timeout)

    def run(self) -> None:
        """Watch until ``stop`` is set."""
        try:
            while not self.stop.is_set():
                clusters = set(
                    Cluster.objects.filter(kind=Cluster.Kind.ARGO).values_list("pk", flat=True)
                )
                close_old_connections()
                for cluster_id in clusters:
                    watch = self.watches.get(cluster_id)
                    if watch is None or not watch.is_alive():
                        watch = ClusterWatch(
                            cluster_id,
                            self.reconciler,
                            self.stop,
                            self.watch_seconds,
                            self.retry_seconds,
                        )
                        self.watches[cluster_id] = watch
                        watch.start()
                self.stop.wait(self.cluster_poll_seconds)
        finally:
            self.close()
            connections.close_all()
