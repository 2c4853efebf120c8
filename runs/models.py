"""Runs of workflows and the jobs inside them.

The JSON columns' shapes (resolved inputs, outputs, attempts, engine state)
are typed in runs.values; code reads them through it.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models


def _log_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(10)}"


def new_run_log_id() -> str:
    return _log_id("r")


def new_job_log_id() -> str:
    return _log_id("j")


class RunPhase(models.TextChoices):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"


class JobPhase(models.TextChoices):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    CANCELED = "CANCELED"


class RunQuerySet(models.QuerySet):
    """Runs, read with what their pages and lists show."""

    # Columns a run's summary never shows: the JSON ones grow with the spec, a
    # message with the error it tells.
    NOT_SUMMARIZED = ("inputs", "resolved_inputs", "engine_state", "message")

    def with_rerun_number(self) -> RunQuerySet:
        """Runs with their cluster and creator, and the run each re-runs read only for its
        summary (pages link to its number)."""
        return self.select_related("cluster", "created_by", "rerun_of").defer(
            *(f"rerun_of__{name}" for name in self.NOT_SUMMARIZED)
        )

    def summary(self) -> RunQuerySet:
        """Runs as lists show them (runs.selectors.run_summary): no column it does not show.

        A summary that starts reading one of them costs a query per run, which
        the pinned query counts of the list endpoints catch.
        """
        return self.with_rerun_number().defer(*self.NOT_SUMMARIZED)


class Run(models.Model):
    """One execution of a workflow: which spec, on which cluster, with which inputs."""

    class Reason(models.TextChoices):
        MANUAL = "manual"
        RERUN = "rerun"
        TRIGGER = "trigger"

    workflow = models.ForeignKey(
        "workflows.Workflow", on_delete=models.CASCADE, related_name="runs"
    )
    number = models.PositiveIntegerField()
    spec = models.ForeignKey("workflows.StoredSpec", on_delete=models.PROTECT, related_name="+")
    inputs = models.JSONField(default=dict, blank=True, help_text="Run-time inputs as supplied.")
    resolved_inputs = models.JSONField(
        default=dict,
        blank=True,
        help_text="Workflow inputs merged over defaults, dataset refs pinned to versions; "
        "inline dataset inputs of jobs under 'jobs'.",
    )
    cluster = models.ForeignKey("workflows.Cluster", on_delete=models.PROTECT, related_name="runs")
    phase = models.CharField(max_length=10, choices=RunPhase.choices, default=RunPhase.PENDING)
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    log_id = models.CharField(max_length=40, unique=True, default=new_run_log_id)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reason = models.CharField(max_length=10, choices=Reason.choices, default=Reason.MANUAL)
    rerun_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="reruns"
    )
    trigger = models.JSONField(default=dict, blank=True)
    message = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    engine_state = models.JSONField(
        default=dict, blank=True, help_text="What the engine keeps about the run (Argo name, uid)."
    )
    idempotency_key = models.CharField(
        max_length=200,
        blank=True,
        default="",
        help_text="The submission's Idempotency-Key header: a retry with it answers this run.",
    )
    request_fingerprint = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="SHA-256 of what was submitted with the key; another request may not reuse it.",
    )

    objects = RunQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workflow", "number"], name="run_number_unique"),
            models.UniqueConstraint(
                fields=["workflow", "created_by", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="run_idempotency_key_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["workflow", "-number"]),
            models.Index(fields=["workflow", "phase", "-number"]),
            # The reconciler reads the runs that have not ended every few seconds.
            models.Index(
                fields=["created"],
                name="run_open_idx",
                condition=models.Q(phase__in=["PENDING", "RUNNING"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.workflow} #{self.number}"


class JobRun(models.Model):
    """One job of a run: its phase, attempts, timing, exit code and outputs."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="jobs")
    name = models.CharField(max_length=200)
    position = models.PositiveIntegerField(help_text="Index in the spec's topological order.")
    phase = models.CharField(max_length=10, choices=JobPhase.choices, default=JobPhase.PENDING)
    attempt = models.PositiveSmallIntegerField(default=0)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    log_id = models.CharField(max_length=40, unique=True, default=new_job_log_id)
    exit_code = models.IntegerField(null=True, blank=True)
    message = models.TextField(blank=True)
    outputs = models.JSONField(default=dict, blank=True)
    heartbeat = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life from the worker running the job."
    )
    log_line_count = models.PositiveIntegerField(default=0)
    attempts = models.JSONField(
        default=list,
        blank=True,
        help_text="One entry per finished attempt: times, exit code, message.",
    )
    reused_from_run = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="For a job a re-run of failed jobs kept: the number of the run (of the same "
        "workflow) where it ran and succeeded.",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "name"], name="job_name_unique_in_run")
        ]
        indexes = [
            # Every job's end asks whether its run still has jobs to run: a seek, not a scan.
            models.Index(fields=["run", "phase"], name="job_run_phase_idx"),
            # Lost-job recovery looks for running jobs with an old heartbeat every few seconds.
            models.Index(
                fields=["heartbeat"],
                name="job_running_heartbeat_idx",
                condition=models.Q(phase="RUNNING"),
            ),
        ]
        ordering = ["run", "position"]

    def __str__(self) -> str:
        return f"{self.run} {self.name}"


class LogChunk(models.Model):
    """A batch of consecutive log lines of a job, as they arrived.

    Lines are stored in chunks rather than a row each so that a job printing
    tens of thousands of lines a second costs a few inserts, not thousands.
    """

    job = models.ForeignKey(JobRun, on_delete=models.CASCADE, related_name="log_chunks")
    first_line = models.PositiveIntegerField(help_text="Number of the chunk's first line (from 1).")
    line_count = models.PositiveIntegerField()
    lines = models.JSONField(help_text="[[timestamp, message], ...]")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "first_line"], name="log_chunk_unique")
        ]

    def __str__(self) -> str:
        return f"{self.job} lines {self.first_line}+{self.line_count}"


class GpuLease(models.Model):
    """One GPU of one worker host, held by the job running on it (see runs.engine.local.gpus)."""

    host = models.CharField(max_length=255)
    index = models.PositiveSmallIntegerField(help_text="The device index on the host.")
    job = models.ForeignKey(JobRun, on_delete=models.CASCADE, related_name="gpu_leases")
    acquired = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["host", "index"], name="one_lease_per_gpu")]

    def __str__(self) -> str:
        return f"GPU {self.index} of {self.host} for job {self.job_id}"


class ProducedVersion(models.Model):
    """A dataset version that a job committed as an output.

    The link lives here rather than as a field of DatasetVersion so that
    workflows/ needs nothing of runs/; a version outlives its job (the link
    goes with the job, the version stays).
    """

    dataset_version = models.OneToOneField(
        "workflows.DatasetVersion",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="producer",
    )
    job = models.ForeignKey(JobRun, on_delete=models.CASCADE, related_name="produced_versions")

    def __str__(self) -> str:
        return f"{self.dataset_version_id} by job {self.job_id}"


class ProducedModel(models.Model):
    """A registered model that a job's `create-model@v1` made; kept here as ProducedVersion is."""

    model = models.OneToOneField(
        "workflows.RegisteredModel",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="producer",
    )
    job = models.ForeignKey(JobRun, on_delete=models.CASCADE, related_name="produced_models")

    def __str__(self) -> str:
        return f"{self.model_id} by job {self.job_id}"
