"""One attempt of one job on the local engine, from claim to settled phase.

The worker claims the job (PENDING -> RUNNING, which only one worker can win),
prepares its folders, runs it in the sandbox while storing its output and
watching for cancel, timeout and the lease, then records the outcome: outputs
committed on success, a retry when attempts are left, or a final phase.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import psutil
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.utils import timezone

from runs import queue, rows
from runs.engine import run_end_if_done
from runs.engine.local.actions import ActionError, action_plan
from runs.engine.local.containers import (
    Container,
    Runtime,
    RuntimeUnavailable,
    container_name,
    container_remove_by_name,
    engine_environment,
    runtime_choice,
)
from runs.engine.local.gpus import GpuRequestTooLarge, gpus_acquire, gpus_release
from runs.engine.local.image_access import image_pulled, image_usable
from runs.engine.local.images import ImageError, PullStopped, image_pull, image_reference
from runs.engine.local.sandbox import (
    GroupNetwork,
    LimitError,
    Limits,
    Sandbox,
    SandboxUnavailable,
    format_bytes,
    group_networks,
    job_user,
    ready_sandboxes,
)
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
from runs.services import job_detail_set, job_version_reserve
from runs.specs import spec_model
from runs.transitions import job_claim, job_transition
from runs.values import (
    AttemptRecord,
    DatasetOutput,
    Output,
    StringOutput,
    VolumeOutput,
    attempts_from_json,
    attempts_to_json,
    outputs_to_json,
)
from workflows.clusters import InstanceType, InstanceTypeError, cluster_shapes
from workflows.models import Cluster
from workflows.registries import registry_auth_file
from workflows.secret_values import SecretUnreadable
from workflows.selectors import container_registry_credentials, dataset_find, secret_values
from workflows.services import dataset_version_commit
from workflows.spec import Job
from workflows.spec.durations import format_duration

logger = logging.getLogger(__name__)

CANCEL_CHECK_SECONDS = 0.25
# How often a job waiting for GPUs asks again whether enough are free.
GPU_WAIT_SECONDS = 2.0
# How often the size of a container job's writable folders is measured.
WRITABLE_CHECK_SECONDS = 2.0
# podman's and Docker's exit status when the engine itself failed to run the container.
ENGINE_FAILED = 125


@dataclass
class Outcome:
    ok: bool
    message: str
    exit_code: int | None = None
    canceled: bool = False
    outputs: dict[str, Output] | None = None
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


def _stop_container(container: Container, process: subprocess.Popen, grace: float) -> None:
    """SIGTERM the container's processes, SIGKILL after `grace`: the container, not its client.

    A container its engine does not stop may live on: it takes its group's
    network with it, so that no later job shares a network with it.
    """
    container.signal("TERM")
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        container.signal("KILL")
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            group_networks.forget(container.sandbox.network_group)
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


class _Watch:
    """What stops an attempt from outside: cancel, timeout, too much written; and its heartbeat.

    `check` is called every few tens of milliseconds while the image is
    pulled and while the job runs; it reads the database only on its own
    schedule. The first reason to stop is kept in `stopped`.
    """

    def __init__(self, job_run: JobRun, job: Job, writer: LogWriter) -> None:
        self.job_run, self.job, self.writer = job_run, job, writer
        now = time.monotonic()
        self.timeout = job.timeout_seconds or job_run.run.cluster.default_job_timeout_seconds
        self.deadline = now + self.timeout if self.timeout else None
        self.next_cancel_check = now + CANCEL_CHECK_SECONDS
        self.next_heartbeat = now + settings.LOCAL_ENGINE_HEARTBEAT_SECONDS
        self.next_size_check = now + WRITABLE_CHECK_SECONDS
        self.writable: tuple[list[Path], int] | None = None
        self.stopped: Outcome | None = None

    def bound_writable(self, folders: list[Path], limit: int) -> None:
        self.writable = (folders, limit)

    def check(self) -> Outcome | None:
        """A reason to stop now (only the first time one appears), else None."""
        if self.stopped is not None:
            return None
        now = time.monotonic()
        if now >= self.next_cancel_check:
            self.next_cancel_check = now + CANCEL_CHECK_SECONDS
            if Run.objects.filter(pk=self.job_run.run_id, cancel_requested=True).exists():
                self.writer.line("cancel requested: stopping the job")
                self.stopped = Outcome(ok=False, canceled=True, message="canceled")
        if self.stopped is None and self.deadline is not None and now >= self.deadline:
            limit = format_duration(self.timeout)
            whose = "the job's" if self.job.timeout_seconds else "the cluster's default"
            self.writer.line(f"timeout of {limit} reached: stopping the job")
            self.stopped = Outcome(ok=False, message=f"timed out after {limit} ({whose} timeout)")
        if self.stopped is None and self.writable is not None and now >= self.next_size_check:
            self.stopped = self._writable_exceeded()
            self.next_size_check = time.monotonic() + WRITABLE_CHECK_SECONDS
        if now >= self.next_heartbeat:
            self.next_heartbeat = now + settings.LOCAL_ENGINE_HEARTBEAT_SECONDS
            JobRun.objects.filter(pk=self.job_run.pk).update(heartbeat=timezone.now())
        return self.stopped

    def _writable_exceeded(self) -> Outcome | None:
        folders, limit = self.writable
        if folders_size(folders, stop_above=limit) <= limit:
            return None
        message = (
            f"wrote more than {format_bytes(limit)} into /workspace and /outputs "
            "(LOCAL_ENGINE_WRITABLE_MAX)"
        )
        self.writer.line(f"{message}: stopping the job")
        return Outcome(ok=False, message=message)


def folders_size(folders: list[Path], stop_above: int) -> int:
    """Bytes in the files under `folders`, counted until `stop_above` is passed."""
    total = 0
    for folder in folders:
        for root, _, files in os.walk(folder):
            for name in files:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(root, name)).st_blocks * 512
            if total > stop_above:
                return total
    return total


def _supervise(
    process: subprocess.Popen, writer: LogWriter, watch: _Watch, stop: Callable[[], None]
) -> Outcome:
    """Stream the process's output until it ends or `watch` finds a reason to stop it."""
    fd = process.stdout.fileno()
    os.set_blocking(fd, False)
    selector = selectors.DefaultSelector()
    selector.register(fd, selectors.EVENT_READ)
    open_stream = True
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
        if watch.check() is not None:
            stop()
    selector.close()
    code = process.wait()
    if watch.stopped is not None:
        watch.stopped.exit_code = code
        return watch.stopped
    if code == 0:
        return Outcome(ok=True, message="", exit_code=0)
    if code < 0:
        return Outcome(ok=False, message=f"killed by signal {-code}", exit_code=code)
    return Outcome(ok=False, message=f"exited with code {code}", exit_code=code)


def _intro(job: Job, runtime: Runtime) -> str:
    image = job.params.get("image")
    if image and runtime.in_container:
        return f'{job.uses} runs in the image "{image}" with {runtime.name}'
    if image:
        return (
            f'the spec asks for the image "{image}"; the local engine ran this job on the '
            f"host's file system instead, in a bubblewrap sandbox ({runtime.reason})"
        )
    return f"{job.uses} ran on the local engine"


def _run_attempt(
    job_run: JobRun,
    job: Job,
    workspace: Workspace,
    writer: LogWriter,
    secrets: dict[str, str],
    after: contextlib.ExitStack,
) -> Outcome:
    """Run the attempt; what it leaves to undo once the job has settled goes on `after`."""
    plan = action_plan(job, workspace, secrets, job_run)
    env = {name: _env_value(value, secrets) for name, value in job.env.items()}
    sandbox = Sandbox(
        argv=plan.argv,
        env={**env, **plan.env},
        workdir=workspace.workdir,
        read_only={**workspace.read_only, **plan.read_only},
        writable=workspace.writable,
        network=job_run.run.cluster.allow_network,
        network_group=f"workflow {job_run.run.workflow_id}",
        hostname=job.name[:63],
        limits=Limits.for_job(_instance_type(job_run, job, writer)),
    )
    watch = _Watch(job_run, job, writer)
    runtime = runtime_choice()
    if _in_container(job, runtime):
        outcome = _run_in_container(job_run, job, sandbox, runtime, writer, watch)
    else:
        if sandbox.limits.gpus:
            writer.line(
                f"the job asks for {sandbox.limits.gpus} GPU(s); a job on the host's file "
                "system gets none (GPUs go to jobs that run in their image)"
            )
        watch.bound_writable([sandbox.workdir, *sandbox.writable.values()], sandbox.limits.writable)
        running = sandbox.start()
        # Once its folders are its own again, the rest can wait until the job has settled.
        after.callback(running.close)
        grace = settings.LOCAL_ENGINE_STOP_GRACE_SECONDS
        try:
            outcome = _supervise(
                running.process, writer, watch, lambda: _stop_process_tree(running.process, grace)
            )
        finally:
            running.unmount()
        if not outcome.ok and not outcome.canceled and running.out_of_memory():
            limit = format_bytes(sandbox.limits.memory)
            outcome.message = f"ran out of memory (limit {limit})"
    if outcome.ok and plan.after is not None:
        plan.after(writer.line)
    return outcome


def _spares_prepare() -> None:
    """After a job: make what this process's next job of the same kind starts in (spares.py),
    and the network a new group's job takes (sandbox/network.py)."""
    ready_sandboxes.prepare_taken()
    group_networks.prepare()


def _in_container(job: Job, runtime: Runtime) -> bool:
    return runtime.in_container and bool(job.params.get("image"))


def _start(command: list[str], env: dict[str, str] | None = None, cwd=None) -> subprocess.Popen:
    """The job's process (or its container's client), its output in one pipe."""
    return subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )


# (image, team whose credentials pulled it or None) this worker process has
# seen usable in the engine's store: such a job starts without asking the engine.
_present_images: set[tuple[str, int | None]] = set()


def _registry_logins(job_run: JobRun, job: Job):
    """An auth file for the team registries the job names (removed after the pull), or None."""
    names = job.resources.container_registries
    if not names:
        return contextlib.nullcontext(None)
    team = job_run.run.workflow.project.team
    return registry_auth_file(container_registry_credentials(team=team, names=names))


def _image_ready(job_run: JobRun, job: Job, runtime: Runtime, writer: LogWriter, watch: _Watch):
    """Pull the job's image unless the engine has it; None when ready, else the outcome."""
    image = job.params["image"]
    reference = image_reference(image)
    # A job with its team's credentials may use only what they pulled (image_access.py).
    team_id = job_run.run.workflow.project.team_id if job.resources.container_registries else None
    if (reference.full, team_id) in _present_images:
        return None
    image_id = _image_id(runtime, reference.full)
    if image_id is None or not image_usable(image_id, team_id):

        def detail(message: str) -> None:
            job_detail_set(job_run=job_run, message=message)

        def tick() -> str | None:
            stopped = watch.check()
            return stopped.message if stopped else None

        try:
            with _registry_logins(job_run, job) as authfile:
                seconds = image_pull(
                    engine=list(runtime.engine),
                    docker=runtime.docker,
                    image=image,
                    log=writer.line,
                    detail=detail,
                    tick=tick,
                    authfile=authfile,
                )
        except PullStopped:
            return watch.stopped
        writer.line(f"pulled {reference.full} in {seconds:.1f} s")
        detail("")
        image_id = _image_id(runtime, reference.full)
        if image_id is None:
            raise ImageError(f"{reference.full} is not in the engine's store after its pull")
        image_pulled(image_id, team_id)
    _present_images.add((reference.full, team_id))
    return None


def _image_id(runtime: Runtime, name: str) -> str | None:
    """The id of the image `name` in the engine's store, None when it is not there."""
    answer = subprocess.run(
        [*runtime.engine, "image", "inspect", "--format", "{{.Id}}", name],
        capture_output=True,
        text=True,
        env=engine_environment(),
    )
    return answer.stdout.strip() or None if answer.returncode == 0 else None


def _instance_type(job_run: JobRun, job: Job, writer: LogWriter) -> InstanceType | None:
    """The job's shape on its cluster: the type it names, else the cluster's default."""
    shapes = cluster_shapes(job_run.run.cluster)
    found = shapes.for_job(job.resources.instance_type)
    if found is None and job.resources.instance_type:
        writer.line(
            f'the cluster defines no instance type "{job.resources.instance_type}": '
            "the default limits apply"
        )
    return found


def _gpus_wait(job_run: JobRun, count: int, watch: _Watch) -> tuple[int, ...] | None:
    """`count` whole GPUs of this host for the job, waiting while too few are free.

    None when the job was stopped (canceled, timed out) while it waited.
    """
    waiting = False
    while True:
        devices = gpus_acquire(job_id=job_run.pk, count=count)
        if devices is not None:
            if waiting:
                job_detail_set(job_run=job_run, message="")
            return devices
        if not waiting:
            waiting = True
            job_detail_set(job_run=job_run, message=f"waiting for {count} free GPU(s)")
        for _ in range(int(GPU_WAIT_SECONDS / CANCEL_CHECK_SECONDS)):
            if watch.check() is not None:
                return None
            time.sleep(CANCEL_CHECK_SECONDS)


def _run_in_container(
    job_run: JobRun, job: Job, sandbox: Sandbox, runtime: Runtime, writer, watch: _Watch
) -> Outcome:
    stopped = _image_ready(job_run, job, runtime, writer, watch)
    if stopped is not None:
        return stopped
    limits = sandbox.limits
    devices: tuple[int, ...] = ()
    if limits.gpus:
        devices = _gpus_wait(job_run, limits.gpus, watch)
        if devices is None:
            return watch.stopped
        writer.line(f"GPUs of this host given to the job: {', '.join(map(str, devices))}")
    container = Container(
        runtime=runtime,
        name=container_name(job_run.log_id, job_run.attempt),
        image=image_reference(job.params["image"]).full,
        sandbox=sandbox,
        limits=limits,
        gpu_devices=devices,
    )
    container.hand_over_folders()
    watch.bound_writable([sandbox.workdir, *sandbox.writable.values()], limits.writable)
    grace = settings.LOCAL_ENGINE_STOP_GRACE_SECONDS
    try:
        network = _container_network(runtime, sandbox)
        if network is not None:
            network.wait_ready()
            container.network_namespace = network.namespace
        command, env = container.command()
        # conmon leaves a file named "oom" in its working directory on cgroup v1:
        # the attempt's folder, which goes with the attempt.
        process = _start(command, env, cwd=sandbox.workdir.parent)
        outcome = _supervise(
            process, writer, watch, lambda: _stop_container(container, process, grace)
        )
        if watch.stopped is None and container.out_of_memory(outcome.exit_code):
            outcome.message = f"ran out of memory (limit {format_bytes(limits.memory)})"
        elif outcome.exit_code == ENGINE_FAILED:
            seen = {key for key in _present_images if key[0] == container.image}
            _present_images.difference_update(seen)
            outcome.message = (
                f"{runtime.name} could not start the container (exit {ENGINE_FAILED}); "
                "its error is in the log"
            )
    finally:
        container.remove()
        if devices:
            gpus_release(job_id=job_run.pk)
    return outcome


def _container_network(runtime: Runtime, sandbox: Sandbox) -> GroupNetwork | None:
    """The network a root worker keeps for a podman container's group (network on), else None."""
    if not sandbox.network or runtime.docker or job_user() is None:
        return None
    return group_networks.join(sandbox.network_group)


def _env_value(value: str, secrets: dict[str, str]) -> str:
    if value.startswith("secret:"):
        return secrets[value[len("secret:") :]]
    return value


def _collect_outputs(job_run: JobRun, job: Job, workspace: Workspace) -> dict[str, Output]:
    """String values read, then dataset versions committed (so a failure commits nothing)."""
    outputs_check(workspace)
    outputs: dict[str, Output] = {}
    for name in workspace.string_outputs:
        outputs[name] = StringOutput(read_string_output(workspace, name))
    for name in workspace.volume_outputs:
        outputs[name] = VolumeOutput(f"{job_run.run_id}/{job.name}/{name}")
    for name, staged in list(workspace.dataset_outputs.items()):
        project = job_run.run.workflow.project
        dataset = dataset_find(project=project, ref=job.outputs[name].with_["ref"])
        version = job_version_reserve(job=job_run, dataset=dataset)
        dataset_version_commit(version=version, staged=staged)
        del workspace.dataset_outputs[name]
        outputs[name] = DatasetOutput(id=f"{dataset.name}:{version.version}", version_id=version.pk)
    return outputs


def _attempt_record(job_run: JobRun, outcome: Outcome) -> AttemptRecord:
    return AttemptRecord(
        attempt=job_run.attempt,
        started=job_run.started.isoformat() if job_run.started else None,
        finished=timezone.now().isoformat(),
        exit_code=outcome.exit_code,
        message=outcome.message,
    )


def _settle(job_run: JobRun, job: Job, outcome: Outcome, writer: LogWriter | None = None) -> None:
    """Record the attempt and move the job on: retry, or its final phase.

    The job's last log lines are stored by the statement that moves it, so a
    job is never final before its log is complete (the CLI's PSEOF relies
    on that), and the two cost one round trip.
    """
    attempts = [*attempts_from_json(job_run.attempts), _attempt_record(job_run, outcome)]
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
        outputs=outputs_to_json(outcome.outputs) if outcome.outputs is not None else None,
        attempts=attempts_to_json(attempts),
    )
    if writer is None:
        moved = move()
    else:
        try:
            last_lines = writer.last_lines()
            moved = move(last_lines=last_lines)
            if not moved and last_lines is not None:
                # The attempt was settled elsewhere (lost, retried): the lines are still its log.
                writer.store(last_lines)
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


# The project is read only by jobs that use secrets or write datasets.
_job_with_run = rows.PreparedGet(JobRun.objects.select_related("run", "run__cluster"))


def _job_claim(job_id: int) -> JobRun | None:
    """Claim the job and read it with its run and cluster; once more on a new connection
    if the kept one broke. None when it was not claimed.

    A connection the task before used a moment ago is not checked before this
    first statement (gradient/celery.py); the database may have dropped it
    since, and then it never received the claim.
    """
    try:
        return job_claim(job_id=job_id, read=_job_with_run)
    except (InterfaceError, OperationalError):
        connection.close()
        return job_claim(job_id=job_id, read=_job_with_run)


def _unclaimed(job_id: int) -> None:
    """A job this task could not claim: one whose worker was lost, a canceled run's, or
    one another task holds (left alone).

    A job that is no longer PENDING (canceled after it was queued) may be what
    its run waited for: the run is ended here if it is done, since the job
    that queued this one did not ask (scheduler.job_settled).
    """
    job_run = _job_with_run.get(job_id)
    if job_run.phase == JobPhase.RUNNING:
        job_recover_if_lost(job_run)
        return
    if job_run.run.cancel_requested:
        canceled = job_transition(job_id=job_id, to=JobPhase.CANCELED, expected=JobPhase.PENDING)
        if canceled:
            job_settled(job_run, JobPhase.CANCELED)
            return
    run_end_if_done(job_run.run)


def job_execute(job_id: int) -> None:
    """Claim the job and run its next attempt here; a job it cannot claim, see `_unclaimed`."""
    job_run = _job_claim(job_id)
    if job_run is None:
        _unclaimed(job_id)
        return
    run = job_run.run
    job = spec_model(run).job(job_run.name)
    writer = LogWriter(job_run)
    workspace: Workspace | None = None
    after = contextlib.ExitStack()
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
        writer.line(_intro(job, runtime_choice()))
        producers = {i.source.job for i in job.inputs.values() if i.source.kind == "job"}
        upstream = {j.name: j for j in run.jobs.filter(name__in=producers)} if producers else {}
        workspace = workspace_prepare(run=run, job_run=job_run, job=job, upstream=upstream)
        outcome = _run_attempt(job_run, job, workspace, writer, secrets, after)
        if outcome.ok:
            outcome.outputs = outputs_masked(_collect_outputs(job_run, job, workspace), writer.mask)
    except (
        ActionError,
        GpuRequestTooLarge,
        ImageError,
        InstanceTypeError,
        LimitError,
        OutputError,
        RuntimeUnavailable,
        SandboxUnavailable,
        SecretUnreadable,
    ) as error:
        outcome = Outcome(ok=False, message=str(error))
    except Exception as error:  # a job must never take its worker down with it
        logger.exception("job %s failed inside the engine", job_id)
        outcome = Outcome(ok=False, message=f"the local engine failed: {error}")
    if not outcome.ok and outcome.message:
        writer.line(outcome.message)
    try:
        _settle(job_run, job, outcome, writer)
    finally:
        # After the dependents are queued: taking the sandbox down, removing
        # folders and making the next job's sandbox are off the critical path.
        after.close()
        if workspace is not None:
            workspace.discard()
        _spares_prepare()


def job_recover_if_lost(job_run: JobRun) -> bool:
    """A RUNNING job whose worker stopped beating: count the attempt as failed and move on."""
    lease = settings.LOCAL_ENGINE_LEASE_SECONDS
    cutoff = timezone.now() - timedelta(seconds=lease)
    if job_run.heartbeat is not None and job_run.heartbeat > cutoff:
        return False
    job = spec_model(job_run.run).job(job_run.name)
    _remove_lost_container(job_run)
    outcome = Outcome(
        ok=False,
        message=f"the worker running attempt {job_run.attempt} was lost (no heartbeat for "
        f"{lease:g} s)",
        lost_after=lease,
    )
    _settle(job_run, job, outcome)
    return True


def _remove_lost_container(job_run: JobRun) -> None:
    """A container whose worker died runs on: stop it if it is on this host."""
    try:
        runtime = runtime_choice()
    except RuntimeUnavailable:
        return
    if runtime.in_container:
        container_remove_by_name(runtime, container_name(job_run.log_id, job_run.attempt))


def jobs_recover_lost() -> int:
    """Settle every RUNNING local job whose worker died; returns how many were found.

    Argo's jobs have no heartbeat: the watcher follows them.
    """
    cutoff = timezone.now() - timedelta(seconds=settings.LOCAL_ENGINE_LEASE_SECONDS)
    lost = JobRun.objects.filter(
        phase=JobPhase.RUNNING, heartbeat__lt=cutoff, run__cluster__kind=Cluster.Kind.LOCAL
    ).select_related("run", "run__cluster", "run__workflow__project")
    return sum(job_recover_if_lost(job_run) for job_run in lost)
