"""Job logs from Argo pods into the same log store, masked the same way, as the local engine.

A job's log is the output of the ``main`` container of each of its attempts'
pods, in order. Lines are read with Kubernetes' timestamps and stored with
them (to the millisecond), which is what lets a reader resume exactly after
a dropped stream or a restart of the watcher: it asks for lines since the
last stored timestamp and skips the lines it already has. Nothing else
writes into an Argo job's log, so the stored lines are always a prefix of
the pods' output.

A job moves to its final phase only once its pods' logs are stored to the
end, so "the job has ended" still means "its log is complete" for the API
and the gradient CLI.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from django.db import connections
from kubernetes.client.exceptions import ApiException

from runs.engine.argo.kube import TRANSIENT, Apis
from runs.engine.argo.status import Attempt
from runs.logs import BATCH_LINES, LogWriter, clean_line
from runs.masking import run_secret_values
from runs.models import JobRun, LogChunk, Run

logger = logging.getLogger(__name__)

CONTAINER = "main"
FOLLOW_READ_TIMEOUT = 120.0
"""Seconds without a byte after which a followed stream is presumed dead and reopened."""
REOPEN_SECONDS = 1.0


class PodLogWriter(LogWriter):
    """A LogWriter whose lines carry the pod's own timestamps."""

    def stamped_line(self, stamp: str, text: str) -> None:
        self.pending.append([stamp, clean_line(text, self.mask)])
        if len(self.pending) >= BATCH_LINES:
            self.flush()


def _stamp(raw: str) -> str | None:
    """A Kubernetes RFC3339(Nano) timestamp as the log store writes them (UTC, milliseconds)."""
    try:
        head, _, fraction = raw.rstrip("Z").partition(".")
        moment = datetime.fromisoformat(head).replace(tzinfo=UTC)
    except ValueError:
        return None
    millis = (fraction + "000")[:3] if fraction else "000"
    if not millis.isdigit():
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + millis + "Z"


class Cursor:
    """Where a job's stored log ends: the last timestamp and how many lines carry it."""

    def __init__(self, job_id: int) -> None:
        self.stamp = ""
        self.same = 0
        last = (
            LogChunk.objects.filter(job_id=job_id)
            .order_by("-first_line")
            .values_list("lines", flat=True)
            .first()
        )
        if last:
            self.stamp = last[-1][0]
            for stamp, _ in reversed(last):
                if stamp != self.stamp:
                    break
                self.same += 1
        self.skip = 0

    def since(self) -> str | None:
        """The sinceTime to ask for (whole seconds, so from the start of that second).

        A new read starts again before lines already stored: the ones that
        carry the last stamp are skipped by count.
        """
        self.skip = self.same
        return self.stamp[:19] + "Z" if self.stamp else None

    def wants(self, stamp: str) -> bool:
        """Whether a line stamped ``stamp`` is new (and count it as seen)."""
        if stamp < self.stamp:
            return False
        if stamp == self.stamp and self.skip > 0:
            self.skip -= 1
            return False
        if stamp != self.stamp:
            self.stamp, self.same = stamp, 0
        self.same += 1
        self.skip = 0
        return True


def open_log(apis: Apis, pod: str, *, follow: bool, since: str | None, read_timeout: float):
    """The raw log stream of the pod's main container, with timestamps."""
    query = [("container", CONTAINER), ("timestamps", "true")]
    if follow:
        query.append(("follow", "true"))
    if since:
        query.append(("sinceTime", since))
    return apis.api_client.call_api(
        "/api/v1/namespaces/{namespace}/pods/{name}/log",
        "GET",
        path_params={"namespace": apis.namespace, "name": pod},
        query_params=query,
        header_params={"Accept": "*/*"},
        auth_settings=["BearerToken"],
        _return_http_data_only=True,
        _preload_content=False,
        _request_timeout=(5, read_timeout),
    )


def copy_log(
    apis: Apis,
    pod: str,
    writer: PodLogWriter,
    cursor: Cursor,
    *,
    follow: bool,
    stop: threading.Event | None = None,
) -> bool:
    """Store the pod's new lines; False when the pod has no log to give (gone, never started)."""
    try:
        response = open_log(
            apis,
            pod,
            follow=follow,
            since=cursor.since(),
            read_timeout=FOLLOW_READ_TIMEOUT if follow else 60.0,
        )
    except ApiException as error:
        if error.status in (400, 404):
            return False
        raise
    partial = b""
    try:
        for data in response.stream(1 << 16):
            lines = (partial + data).split(b"\n")
            partial = lines.pop()
            for raw in lines:
                _store(raw, writer, cursor)
            writer.flush_if_due()
            if stop is not None and stop.is_set():
                break
        if partial:
            _store(partial, writer, cursor)
    finally:
        response.release_conn()
        writer.flush()
    return True


def _store(raw: bytes, writer: PodLogWriter, cursor: Cursor) -> None:
    text = raw.rstrip(b"\r").decode("utf-8", errors="replace")
    head, _, message = text.partition(" ")
    stamp = _stamp(head)
    if stamp is None:
        stamp, message = cursor.stamp or _stamp(datetime.now(UTC).isoformat()), text
    if cursor.wants(stamp):
        writer.stamped_line(stamp, message)


def job_secret_values(job_run: JobRun) -> list[str]:
    """The values to mask in a job's log: every secret of its run, as on the local engine."""
    run = Run.objects.select_related("workflow__project", "cluster").get(pk=job_run.run_id)
    return run_secret_values(run)


def _writer(job_id: int, masked: list[str]) -> PodLogWriter:
    job = JobRun.objects.only("pk", "name", "run_id", "log_line_count").get(pk=job_id)
    return PodLogWriter(job, masked)


class SyncLogs:
    """Reads pod logs inline: what a pod has printed so far, to the end once it has finished.

    Used by single reconcile passes (``argo_watch --once``, the tests); the
    long-running watcher follows pods with `FollowedLogs` instead.
    """

    def __init__(self, apis: Apis, secrets: Callable[[JobRun], list[str]]) -> None:
        self.apis = apis
        self.secrets = secrets
        self.done: set[tuple[int, str]] = set()

    def complete(self, job_run: JobRun, attempt: Attempt, attempt_final: bool) -> bool:
        key = (job_run.pk, attempt.pod)
        if key in self.done:
            return True
        writer = _writer(job_run.pk, self.secrets(job_run))
        try:
            copy_log(self.apis, attempt.pod, writer, Cursor(job_run.pk), follow=False)
        except (ApiException, *TRANSIENT) as error:
            logger.warning("cannot read the log of pod %s: %s", attempt.pod, error)
            return False
        if attempt_final:
            self.done.add(key)
        return attempt_final


class FollowedLogs:
    """One thread per pod streaming its log as it is written (the watcher's way)."""

    def __init__(
        self,
        apis: Callable[[JobRun], Apis],
        secrets: Callable[[JobRun], list[str]],
        on_done: Callable[[int], None],
        stop: threading.Event,
    ) -> None:
        self.apis = apis
        self.secrets = secrets
        self.on_done = on_done
        self.stop = stop
        self.lock = threading.Lock()
        self.threads: dict[tuple[int, str], threading.Thread] = {}
        self.final: dict[tuple[int, str], threading.Event] = {}
        self.done: set[tuple[int, str]] = set()

    def complete(self, job_run: JobRun, attempt: Attempt, attempt_final: bool) -> bool:
        key = (job_run.pk, attempt.pod)
        with self.lock:
            if key in self.done:
                return True
            final = self.final.setdefault(key, threading.Event())
            if attempt_final:
                final.set()
            thread = self.threads.get(key)
            if thread is None:
                thread = threading.Thread(
                    target=self._follow,
                    args=(job_run, attempt.pod, final),
                    name=f"argo-log-{attempt.pod}",
                    daemon=True,
                )
                self.threads[key] = thread
                thread.start()
        return False

    def join(self, timeout: float) -> None:
        """Wait for the followers to end (after ``stop`` is set)."""
        deadline = time.monotonic() + timeout
        with self.lock:
            threads = list(self.threads.values())
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _follow(self, job_run: JobRun, pod: str, final: threading.Event) -> None:
        key = (job_run.pk, pod)
        try:
            apis = self.apis(job_run)
            writer = _writer(job_run.pk, self.secrets(job_run))
            cursor = Cursor(job_run.pk)
            while not self.stop.is_set():
                ended = final.is_set()
                try:
                    available = copy_log(apis, pod, writer, cursor, follow=True, stop=self.stop)
                except (ApiException, *TRANSIENT) as error:
                    logger.info("log stream of pod %s dropped (%s); reopening", pod, error)
                    available = True
                    ended = False
                # A stream also ends when the container does; the pod's node
                # may report it only a moment later.
                if ended or (not available and final.is_set()):
                    break
                self.stop.wait(REOPEN_SECONDS)
            else:
                return
            with self.lock:
                self.done.add(key)
        except Exception:
            logger.exception("following the log of pod %s failed", pod)
            # Asking for another pass starts a new follower after a pause.
            time.sleep(REOPEN_SECONDS)
        finally:
            with self.lock:
                self.threads.pop(key, None)
            connections.close_all()
        if not self.stop.is_set():
            self.on_done(job_run.run_id)
