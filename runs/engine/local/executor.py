"""One attempt of one job on the local engine, from claim to settled phase.

The worker claims the job (PENDING -> RUNNING, which only one worker can win),
prepares its folders, runs it in the sandbox while storing its output and
watching for cancel, timeout and the lease, then records the outcome: outputs
committed on success, a retry when attempts are left, or a final phase.
"""

from __future__ import annotations

import functools
import logging
import os
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass
from datetime import timedelta

import psutil
from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from runs import queue
from runs.engine.local.actions import ActionError, action_plan
from runs.engine.local.sandbox import Sandbox, SandboxUnavailable
from runs.engine.local.scheduler import job_settled
from runs.engine.local.workspace import (
    OutputError,
    Workspace,
    outputs_check,
    read_string_output,
    workspace_prepare,
)
from runs.logs import LogWriter
from runs.masking import outputs_masked, run_secret_values
from runs.models import JobPhase, JobRun, Run
from runs.specs import spec_model
from runs.transitions import job_transition
from workflows.models import Cluster
from workflows.secret_values import SecretUnreadable
from workflows.selectors import dataset_find, secret_values
from workflows.services import dataset_version_commit, dataset_version_reserve
from workflows.spec import Job
from workflows.spec.durations import format_duration

logger = logging.getLogger(__name__)

CANCEL_CHECK_SECONDS = 0.25


@dataclass
class Outcome:
    ok: bool
    message: str
    exit_code: int | None = None
    canceled: bool = False
    outputs: dict | None = None
    # Set when the attempt's worker was lost: the lease it outlived, in seconds.
    lost_after: float | None = None


def _stop_process_tree(process: subprocess.Popen, grace: float) -> None:
    """SIGTERM the job's processes, then SIGKILL whatever is left after `grace` seconds."""
    try:
        tree = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        tree = []
    for child in reversed(tree):
        try:
            child.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _supervise(process: subprocess.Popen, writer: LogWriter, job_run: JobRun, job: Job) -> Outcome:
    """Stream the process's output until it ends, is canceled, or times out."""
    grace = settings.LOCAL_ENGINE_STOP_GRACE_SECONDS
    started = time.monotonic()
    timeout = job.timeout_seconds or job_run.run.cluster.default_job_timeout_seconds
    whose = "the job's" if job.timeout_seconds else "the cluster's default"
    deadline = started + timeout if timeout else None
    next_cancel_check = started + CANCEL_CHECK_SECONDS
    next_heartbeat = started + settings.LOCAL_ENGINE_HEARTBEAT_SECONDS
    fd = process.stdout.fileno()
    os.set_blocking(fd, False)
    selector = selectors.DefaultSelector()
    selector.register(fd, selectors.EVENT_READ)
    open_stream = True
    stopped: Outcome | None = None
    while open_stream:
        for _ in selector.select(timeout=0.05):
            try:
                data = os.read(fd, 1 << 16)
            except BlockingIOError:
                continue
            if data:
                writer.feed(data)
            else:
                open_stream = False
        writer.flush_if_due()
        now = time.monotonic()
        if stopped is None and now >= next_cancel_check:
            next_cancel_check = now + CANCEL_CHECK_SECONDS
            if Run.objects.filter(pk=job_run.run_id, cancel_requested=True).exists():
                writer.line("cancel requested: stopping the job")
                _stop_process_tree(process, grace)
                stopped = Outcome(ok=False, canceled=True, message="canceled")
        if stopped is None and deadline is not None and now >= deadline:
            limit = format_duration(timeout)
            writer.line(f"timeout of {limit} reached: stopping the job")
            _stop_process_tree(process, grace)
            stopped = Outcome(ok=False, message=f"timed out after {limit} ({whose} timeout)")
        if now >= next_heartbeat:
            next_heartbeat = now + settings.LOCAL_ENGINE_HEARTBEAT_SECONDS
            JobRun.objects.filter(pk=job_run.pk).update(heartbeat=timezone.now())
    selector.close()
    code = process.wait()
    if stopped is not None:
        stopped.exit_code = code
        return stopped
    if code == 0:
        return Outcome(ok=True, message="", exit_code=0)
    if code < 0:
        return Outcome(ok=False, message=f"killed by signal {-code}", exit_code=code)
    return Outcome(ok=False, message=f"exited with code {code}", exit_code=code)


def _intro(job: Job) -> str:
    image = job.params.get("image")
    if image:
        return (
            f'the spec asks for the image "{image}"; the local engine ran this job on the '
            "host's file system instead, in a bubblewrap sandbox"
        )
    return f"{job.uses} ran on the local engine"


def _run_attempt(job_run: JobRun, job: Job, workspace: Workspace, writer: LogWriter, secrets):
    plan = action_plan(job, workspace, secrets, job_run)
    env = {name: _env_value(value, secrets) for name, value in job.env.items()}
    sandbox = Sandbox(
        argv=plan.argv,
        env={**env, **plan.env},
        workdir=workspace.workdir,
        read_only={**workspace.read_only, **plan.read_only},
        writable=workspace.writable,
        network=job_run.run.cluster.allow_network,
        hostname=job.name[:63],
    )
    running = sandbox.start()
    try:
        outcome = _supervise(running.process, writer, job_run, job)
        if not outcome.ok and not outcome.canceled and running.out_of_memory():
            limit = settings.LOCAL_ENGINE_DEFAULT_MEMORY
            outcome.message = f"ran out of memory (limit {limit}, LOCAL_ENGINE_DEFAULT_MEMORY)"
    finally:
        running.close()
    if outcome.ok and plan.after is not None:
        plan.after(writer.line)
    return outcome


def _env_value(value: str, secrets: dict[str, str]) -> str:
    if value.startswith("secret:"):
        return secrets[value[len("secret:") :]]
    return value


def _collect_outputs(job_run: JobRun, job: Job, workspace: Workspace) -> dict:
    """String values read, then dataset versions committed (so a failure commits nothing)."""
    outputs_check(workspace)
    outputs: dict = {}
    for name in workspace.string_outputs:
        outputs[name] = {"value": read_string_output(workspace, name)}
    for name in workspace.volume_outputs:
        outputs[name] = {"volume": {"id": f"{job_run.run_id}/{job.name}/{name}"}}
    for name, staged in list(workspace.dataset_outputs.items()):
        project = job_run.run.workflow.project
        dataset = dataset_find(project=project, ref=job.outputs[name].with_["ref"])
        version = dataset_version_reserve(dataset=dataset, producing_job=job_run)
        dataset_version_commit(version=version, staged=staged)
        del workspace.dataset_outputs[name]
        outputs[name] = {
            "dataset": {
                "id": f"{dataset.name}:{version.version}",
                "isCommitted": True,
                "versionId": version.pk,
            }
        }
    return outputs


def _attempt_record(job_run: JobRun, outcome: Outcome) -> dict:
    return {
        "attempt": job_run.attempt,
        "started": job_run.started.isoformat() if job_run.started else None,
        "finished": timezone.now().isoformat(),
        "exitCode": outcome.exit_code,
        "message": outcome.message,
    }


def _settle(job_run: JobRun, job: Job, outcome: Outcome, writer: LogWriter | None = None) -> None:
    """Record the attempt and move the job on: retry, or its final phase.

    The job's last log lines are stored in the same transaction as the move,
    so a job is never final before its log is complete (the CLI's PSEOF
    relies on that), and the two cost one commit.
    """
    attempts = [*job_run.attempts, _attempt_record(job_run, outcome)]
    retry = not outcome.ok and not outcome.canceled and job_run.attempt <= job.retries
    if outcome.ok:
        to, message = JobPhase.SUCCEEDED, outcome.message
    elif outcome.canceled:
        to, message = JobPhase.CANCELED, outcome.message
    elif retry:
        to = JobPhase.PENDING
        message = (
            f"{_why_retried(job_run, outcome)}; "
            f"retrying, attempt {job_run.attempt + 1} of {job.retries + 1}"
        )
    else:
        to, message = JobPhase.FAILED, outcome.message
    move = functools.partial(
        job_transition,
        job_id=job_run.pk,
        to=to,
        expected=JobPhase.RUNNING,
        attempt=job_run.attempt,
        message=message,
        exit_code=outcome.exit_code,
        outputs=outcome.outputs,
        attempts=attempts,
    )
    if writer is None:
        moved = move()
    else:
        try:
            with transaction.atomic():
                writer.close()
                moved = move()
        except DatabaseError:
            # The job's phase must move on even when its last lines cannot be stored.
            logger.exception("could not store the last log lines of job %s", job_run.pk)
            moved = move()
    if not moved:
        return
    if retry:
        queue.jobs_execute([job_run.pk])
        return
    job_settled(job_run, to)


def _why_retried(job_run: JobRun, outcome: Outcome) -> str:
    if outcome.lost_after is not None:
        return f"attempt {job_run.attempt} was lost: no heartbeat for {outcome.lost_after:g} s"
    return f"attempt {job_run.attempt} failed ({outcome.message})"


def job_execute(job_id: int) -> None:
    """Claim the job and run its next attempt here; a job someone else holds is left alone."""
    # The project is read only by jobs that use secrets or write datasets.
    job_run = JobRun.objects.select_related("run", "run__cluster").get(pk=job_id)
    if job_run.phase == JobPhase.RUNNING:
        job_recover_if_lost(job_run)
        return
    if job_run.run.cancel_requested:
        canceled = job_transition(job_id=job_id, to=JobPhase.CANCELED, expected=JobPhase.PENDING)
        if canceled:
            job_settled(job_run, JobPhase.CANCELED)
        return
    if not job_transition(job_id=job_id, to=JobPhase.RUNNING, expected=JobPhase.PENDING):
        return
    # The claim moved the job to its next attempt; mirror it instead of reading it back.
    job_run.phase = JobPhase.RUNNING
    job_run.attempt += 1
    job_run.started = timezone.now()
    run = job_run.run
    job = spec_model(run).job(job_run.name)
    writer = LogWriter(job_run)
    workspace: Workspace | None = None
    try:
        secrets = (
            secret_values(project=run.workflow.project, cluster=run.cluster, names=job.secret_names)
            if job.secret_names
            else {}
        )
        # Every secret of the run, not only this job's: a secret another job
        # wrote to a string output this job reads must not show in its log.
        writer.mask_values([*secrets.values(), *run_secret_values(run)])
        if job_run.attempt > 1 and job_run.message:
            # Why the attempt before ended, as its settling wrote it (masked like the rest).
            writer.line(job_run.message)
        writer.line(_intro(job))
        producers = {i.source.job for i in job.inputs.values() if i.source.kind == "job"}
        upstream = {j.name: j for j in run.jobs.filter(name__in=producers)} if producers else {}
        workspace = workspace_prepare(run=run, job_run=job_run, job=job, upstream=upstream)
        outcome = _run_attempt(job_run, job, workspace, writer, secrets)
        if outcome.ok:
            outcome.outputs = outputs_masked(_collect_outputs(job_run, job, workspace), writer.mask)
    except (ActionError, OutputError, SandboxUnavailable, SecretUnreadable) as error:
        outcome = Outcome(ok=False, message=str(error))
    except Exception as error:  # a job must never take its worker down with it
        logger.exception("job %s failed inside the engine", job_id)
        outcome = Outcome(ok=False, message=f"the local engine failed: {error}")
    if not outcome.ok and outcome.message:
        writer.line(outcome.message)
    try:
        _settle(job_run, job, outcome, writer)
    finally:
        # After the dependents are queued: removing folders is off the critical path.
        if workspace is not None:
            workspace.discard()


def job_recover_if_lost(job_run: JobRun) -> bool:
    """A RUNNING job whose worker stopped beating: count the attempt as failed and move on."""
    lease = settings.LOCAL_ENGINE_LEASE_SECONDS
    cutoff = timezone.now() - timedelta(seconds=lease)
    if job_run.heartbeat is not None and job_run.heartbeat > cutoff:
        return False
    job = spec_model(job_run.run).job(job_run.name)
    outcome = Outcome(
        ok=False,
        message=f"the worker running attempt {job_run.attempt} was lost (no heartbeat for "
        f"{lease:g} s)",
        lost_after=lease,
    )
    _settle(job_run, job, outcome)
    return True


def jobs_recover_lost() -> int:
    """Settle every RUNNING local job whose worker died; returns how many were found.

    Argo's jobs have no heartbeat: the watcher follows them.
    """
    cutoff = timezone.now() - timedelta(seconds=settings.LOCAL_ENGINE_LEASE_SECONDS)
    lost = JobRun.objects.filter(
        phase=JobPhase.RUNNING, heartbeat__lt=cutoff, run__cluster__kind=Cluster.Kind.LOCAL
    ).select_related("run", "run__cluster", "run__workflow__project")
    return sum(job_recover_if_lost(job_run) for job_run in lost)
