"""Typed values of the JSON columns of runs and jobs.

Four columns hold JSON whose shape the code agrees on:

- ``Run.resolved_inputs``: what the run reads, fixed at submission
  (`ResolvedInputs`: workflow inputs merged over their defaults, and the
  inline dataset inputs of jobs, each dataset pinned to a version);
- ``JobRun.outputs``: what a job produced (`StringOutput`, `DatasetOutput`,
  `VolumeOutput`, read with `outputs_from_json`);
- ``JobRun.attempts``: one `AttemptRecord` per finished attempt;
- ``Run.engine_state``: what the Argo engine fixed before it created the
  run's Workflow (`EngineState`); the local engine keeps nothing there.

Each shape is a frozen dataclass with ``from_json`` and ``to_json``, like the
spec library's model (workflows/spec/model.py) and a cluster's
``InstanceType``: code reads a column through ``from_json`` and writes
``to_json()``, and nothing else looks inside the JSON. The columns stay JSON
in the form they have always had, because the status document shows parts of
them as they are stored.

``from_json`` reads every form stored so far: ``{}`` for a column never
written (a local run's engine state, a job that produced nothing), an Argo
state reserved but not yet submitted (no ``uid``) or written before re-runs
kept jobs (no ``reused``), a string output stored before secret values were
masked (no ``shown``), a local attempt (no ``pod``). ``to_json`` writes the
current form, and ``from_json(x.to_json()) == x`` for every value the code
makes; the tests hold every class to both.

Stored JSON is our own writing, so ``from_json`` does not check it the way
the spec library checks a user's spec; a row that does not have a shape at
all raises KeyError or TypeError. Mappings inside are plain dicts built fresh
for the value: treat them as read-only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import re

    from workflows.spec import Job, WorkflowSpec


# -- Run.resolved_inputs ---------------------------------------------------------------


@dataclass(frozen=True)
class PinnedVersion:
    """The committed dataset version a dataset input reads, fixed when the run was submitted."""

    id: str
    """``NAME:VERSION``, as the status document shows it."""
    dataset_id: Any
    version_id: int

    @property
    def version(self) -> str:
        """The version's name (``v3``)."""
        return self.id.rsplit(":", 1)[1]

    @classmethod
    def from_json(cls, data: dict) -> PinnedVersion:
        return cls(id=data["id"], dataset_id=data["datasetId"], version_id=data["versionId"])

    def to_json(self) -> dict:
        return {"id": self.id, "datasetId": self.dataset_id, "versionId": self.version_id}


@dataclass(frozen=True)
class ResolvedInput:
    """One input value of a run: its type, its normalized ``with`` and, for a dataset, the
    version it reads.

    ``with_`` is the spec's normalized form: ``{"ref": ...}`` for a dataset,
    ``{"value": ...}`` for a string, ``{}`` for a volume.
    """

    type: str
    with_: dict = field(default_factory=dict)
    dataset: PinnedVersion | None = None

    @property
    def value(self) -> str | None:
        """A string input's text."""
        return self.with_.get("value")

    @property
    def ref(self) -> str | None:
        """A dataset input's reference as written (``NAME`` or ``NAME:VERSION``)."""
        return self.with_.get("ref")

    @classmethod
    def from_json(cls, data: dict) -> ResolvedInput:
        pinned = data.get("dataset")
        return cls(
            type=data["type"],
            with_=dict(data.get("with") or {}),
            dataset=PinnedVersion.from_json(pinned) if pinned is not None else None,
        )

    def to_json(self) -> dict:
        data = {"type": self.type, "with": dict(self.with_)}
        if self.dataset is not None:
            data["dataset"] = self.dataset.to_json()
        return data


@dataclass(frozen=True)
class ResolvedInputs:
    """``Run.resolved_inputs``: every workflow input's value, and the jobs' inline dataset
    inputs (job -> input -> value), datasets pinned to versions."""

    workflow: dict[str, ResolvedInput] = field(default_factory=dict)
    jobs: dict[str, dict[str, ResolvedInput]] = field(default_factory=dict)

    def workflow_input(self, spec: WorkflowSpec, name: str) -> ResolvedInput | None:
        """The run's value of workflow input ``name``; its default when the run has none
        (a manifest previewed without a run); None when it has neither."""
        found = self.workflow.get(name)
        if found is None:
            declared = spec.inputs[name]
            if declared.default is not None:
                return ResolvedInput(type=declared.type, with_=dict(declared.default))
        return found

    def job_input(self, spec: WorkflowSpec, job: Job, name: str) -> ResolvedInput | None:
        """The value behind a job's input that comes from the workflow's inputs or is written
        inline; None for one that comes from another job's output."""
        job_input = job.inputs[name]
        source = job_input.source
        if source.kind == "workflow":
            return self.workflow_input(spec, source.workflow_input)
        if source.kind == "inline":
            found = self.jobs.get(job.name, {}).get(name)
            return found or ResolvedInput(type=job_input.type, with_=dict(source.with_ or {}))
        return None

    def pinned(self) -> list[tuple[str | None, str, PinnedVersion]]:
        """Every pinned version: (job or None for a workflow input, input name, version)."""
        found: list[tuple[str | None, str, PinnedVersion]] = [
            (None, name, value.dataset)
            for name, value in self.workflow.items()
            if value.dataset is not None
        ]
        for job, inputs in self.jobs.items():
            found += [
                (job, name, value.dataset)
                for name, value in inputs.items()
                if value.dataset is not None
            ]
        return found

    @classmethod
    def from_json(cls, data: dict | None) -> ResolvedInputs:
        data = data or {}
        return cls(
            workflow={
                name: ResolvedInput.from_json(value)
                for name, value in (data.get("workflow") or {}).items()
            },
            jobs={
                job: {name: ResolvedInput.from_json(value) for name, value in inputs.items()}
                for job, inputs in (data.get("jobs") or {}).items()
            },
        )

    def to_json(self) -> dict:
        return {
            "workflow": {name: value.to_json() for name, value in self.workflow.items()},
            "jobs": {
                job: {name: value.to_json() for name, value in inputs.items()}
                for job, inputs in self.jobs.items()
            },
        }


# -- JobRun.outputs --------------------------------------------------------------------


@dataclass(frozen=True)
class StringOutput:
    """A string a job wrote to /outputs/NAME.

    ``value`` is the real text (the job that reads it receives it); ``shown``
    is the text with the run's secret values masked, kept only when it
    differs. Every surface shows ``shown_value`` (see runs.masking).
    """

    value: str
    shown: str | None = None

    @property
    def shown_value(self) -> str:
        return self.value if self.shown is None else self.shown

    def masked(self, mask: re.Pattern, replacement: str) -> StringOutput:
        """This output with ``shown`` set when the mask hides part of its value."""
        shown = mask.sub(replacement, self.value)
        return self if shown == self.value else StringOutput(self.value, shown)

    @classmethod
    def from_json(cls, data: dict) -> StringOutput:
        return cls(value=data["value"], shown=data.get("shown"))

    def to_json(self) -> dict:
        data = {"value": self.value}
        if self.shown is not None:
            data["shown"] = self.shown
        return data


@dataclass(frozen=True)
class DatasetOutput:
    """The dataset version a job's dataset output committed."""

    id: str
    """``NAME:VERSION``."""
    version_id: int
    is_committed: bool = True

    @classmethod
    def from_json(cls, data: dict) -> DatasetOutput:
        dataset = data["dataset"]
        return cls(
            id=dataset["id"],
            version_id=dataset["versionId"],
            is_committed=dataset.get("isCommitted", True),
        )

    def to_json(self) -> dict:
        return {
            "dataset": {
                "id": self.id,
                "isCommitted": self.is_committed,
                "versionId": self.version_id,
            }
        }


@dataclass(frozen=True)
class VolumeOutput:
    """A volume a job wrote, which the jobs after it in the same run read."""

    id: str
    """``RUN/JOB/OUTPUT``."""

    @classmethod
    def from_json(cls, data: dict) -> VolumeOutput:
        return cls(id=data["volume"]["id"])

    def to_json(self) -> dict:
        return {"volume": {"id": self.id}}


Output = StringOutput | DatasetOutput | VolumeOutput


def output_from_json(data: dict) -> Output:
    """One stored output, of the kind its key says."""
    if "dataset" in data:
        return DatasetOutput.from_json(data)
    if "volume" in data:
        return VolumeOutput.from_json(data)
    return StringOutput.from_json(data)


def outputs_from_json(data: dict | None) -> dict[str, Output]:
    """``JobRun.outputs`` read whole: output name -> what the job produced."""
    return {name: output_from_json(entry) for name, entry in (data or {}).items()}


def outputs_to_json(outputs: dict[str, Output]) -> dict:
    """The stored form of a job's outputs."""
    return {name: output.to_json() for name, output in outputs.items()}


# -- JobRun.attempts -------------------------------------------------------------------


@dataclass(frozen=True)
class AttemptRecord:
    """One finished attempt of a job: when, how it ended and, on Argo, its pod."""

    attempt: int
    started: str | None
    """ISO 8601, like ``finished``."""
    finished: str | None
    exit_code: int | None
    message: str
    pod: str | None = None

    @property
    def seconds(self) -> float | None:
        """How long the attempt ran; None when a time is missing or unreadable."""
        try:
            started = datetime.fromisoformat(self.started)
            finished = datetime.fromisoformat(self.finished)
        except (TypeError, ValueError):
            return None
        return (finished - started).total_seconds()

    @classmethod
    def from_json(cls, data: dict) -> AttemptRecord:
        return cls(
            attempt=data["attempt"],
            started=data.get("started"),
            finished=data.get("finished"),
            exit_code=data.get("exitCode"),
            message=data.get("message") or "",
            pod=data.get("pod"),
        )

    def to_json(self) -> dict:
        data = {
            "attempt": self.attempt,
            "started": self.started,
            "finished": self.finished,
            "exitCode": self.exit_code,
            "message": self.message,
        }
        if self.pod is not None:
            data["pod"] = self.pod
        return data


def attempts_from_json(data: list | None) -> list[AttemptRecord]:
    """``JobRun.attempts`` read whole, oldest attempt first."""
    return [AttemptRecord.from_json(entry) for entry in data or ()]


def attempts_to_json(attempts: list[AttemptRecord]) -> list[dict]:
    return [attempt.to_json() for attempt in attempts]


# -- Run.engine_state ------------------------------------------------------------------


@dataclass(frozen=True)
class VersionSlot:
    """A dataset version an Argo Workflow reads or writes by its place in the artifact
    repository: one reserved for a job's dataset output before the Workflow is created
    (``name`` is the dataset's name), or one a re-run keeps from the run before."""

    dataset_id: Any
    version: str
    version_id: int
    name: str | None = None

    @classmethod
    def from_json(cls, data: dict) -> VersionSlot:
        return cls(
            dataset_id=data["datasetId"],
            version=data["version"],
            version_id=data["versionId"],
            name=data.get("name"),
        )

    def to_json(self) -> dict:
        data = {"datasetId": self.dataset_id, "version": self.version, "versionId": self.version_id}
        if self.name is not None:
            data["name"] = self.name
        return data


KeptOutput = StringOutput | VersionSlot
"""What a job a re-run keeps passes on: a string's text, or its dataset's version."""


def _kept_from_json(data: dict) -> KeptOutput:
    return StringOutput.from_json(data) if "value" in data else VersionSlot.from_json(data)


@dataclass(frozen=True)
class EngineState:
    """``Run.engine_state``: what the Argo engine fixed for the run before creating anything.

    Empty (``name`` None) for a run on the local engine and for an Argo run not
    submitted yet; ``uid`` is set once its Workflow exists.
    """

    name: str | None = None
    """The Workflow's name."""
    namespace: str | None = None
    secret: str | None = None
    """The run's Kubernetes Secret."""
    datasets: dict[str, dict[str, VersionSlot]] = field(default_factory=dict)
    """Job -> dataset output -> the version reserved for it."""
    models: dict[str, str] = field(default_factory=dict)
    """create-model job -> the id its model gets."""
    reused: dict[str, dict[str, KeptOutput]] = field(default_factory=dict)
    """A job a re-run of failed jobs keeps -> its outputs."""
    uid: str | None = None
    submitted: str | None = None
    """When the Workflow was created (ISO 8601)."""
    engine: str | None = None

    @property
    def reserved_version_ids(self) -> list[int]:
        return [slot.version_id for outputs in self.datasets.values() for slot in outputs.values()]

    @classmethod
    def from_json(cls, data: dict | None) -> EngineState:
        data = data or {}
        return cls(
            name=data.get("name"),
            namespace=data.get("namespace"),
            secret=data.get("secret"),
            datasets={
                job: {name: VersionSlot.from_json(slot) for name, slot in outputs.items()}
                for job, outputs in (data.get("datasets") or {}).items()
            },
            models=dict(data.get("models") or {}),
            reused={
                job: {name: _kept_from_json(kept) for name, kept in outputs.items()}
                for job, outputs in (data.get("reused") or {}).items()
            },
            uid=data.get("uid"),
            submitted=data.get("submitted"),
            engine=data.get("engine"),
        )

    def to_json(self) -> dict:
        if self.name is None:
            return {}
        data = {
            "engine": self.engine,
            "name": self.name,
            "namespace": self.namespace,
            "secret": self.secret,
            "datasets": {
                job: {name: slot.to_json() for name, slot in outputs.items()}
                for job, outputs in self.datasets.items()
            },
            "models": dict(self.models),
            "reused": {
                job: {name: kept.to_json() for name, kept in outputs.items()}
                for job, outputs in self.reused.items()
            },
        }
        if self.uid is not None:
            data["uid"] = self.uid
        if self.submitted is not None:
            data["submitted"] = self.submitted
        return data
