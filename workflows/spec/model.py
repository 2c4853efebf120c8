"""The typed, normalized form of a valid spec, for engines, the API and the editor.

Every class is a frozen dataclass. Mappings inside are plain dicts so they
serialize as they are; they are built fresh for the model (never shared with
``WorkflowSpec.data``) and must be treated as read-only.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal, TypeVar

from .graph import names_in

T = TypeVar("T")

ValueType = Literal["dataset", "string", "volume"]

# A string output holds at most this much UTF-8 text, on every engine.
STRING_OUTPUT_MAX_BYTES = 64 * 1024


def string_output_problem(name: str, value: str | None, size: int | None = None) -> str | None:
    """Why the value a job left in /outputs/NAME cannot be its string output, or None.

    The same rule on every engine; None for `value` means the file is missing.
    `size` (bytes) stands for a value too large to have been read.
    """
    if value is None:
        return f'the string output "{name}" is missing: the job must write the file /outputs/{name}'
    size = len(value.encode()) if size is None else size
    if size > STRING_OUTPUT_MAX_BYTES:
        return (
            f'the string output "{name}" is {size} bytes; string outputs hold at most '
            f"{STRING_OUTPUT_MAX_BYTES // 1024} KiB (use a dataset or volume output for more)"
        )
    if "\x00" in value:
        return f'the string output "{name}" contains a NUL character; write text'
    return None


SourceKind = Literal["workflow", "job", "inline"]


@dataclass(frozen=True)
class Resources:
    """Machine type and private registries of a job (or of the defaults)."""

    instance_type: str | None = None
    container_registries: tuple[str, ...] = ()


@dataclass(frozen=True)
class Defaults:
    """The spec's ``defaults:``: what every job starts from."""

    cluster_id: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    resources: Resources = field(default_factory=Resources)


@dataclass(frozen=True)
class Trigger:
    """The spec's ``on:``: pushes to these branches of the linked repository start a run."""

    branches: tuple[str, ...]


@dataclass(frozen=True)
class WorkflowInput:
    """A workflow-level input.

    ``default`` is the normalized ``with`` (dataset ``{"ref": ...}``, string
    ``{"value": ...}``, volume ``{}``); None means each run must supply it.
    """

    name: str
    type: ValueType
    default: dict | None


@dataclass(frozen=True)
class InputSource:
    """Where a job input comes from.

    kind ``workflow``: ``workflow_input`` names the workflow input; kind ``job``:
    ``job`` and ``output`` name an upstream job's output; kind ``inline``:
    ``with_`` is the normalized value.
    """

    kind: SourceKind
    workflow_input: str | None = None
    job: str | None = None
    output: str | None = None
    with_: dict | None = None


@dataclass(frozen=True)
class JobInput:
    """An input of a job, visible at ``/inputs/NAME``; its type is its source's type."""

    name: str
    type: ValueType
    source: InputSource


@dataclass(frozen=True)
class JobOutput:
    """An output of a job, written at ``/outputs/NAME``.

    ``with_`` is ``{"ref": NAME}`` for a dataset (the dataset that gets a new
    version) and ``{}`` for string and volume outputs.
    """

    name: str
    type: ValueType
    with_: dict


@dataclass(frozen=True)
class Job:
    """One job of a valid spec, with defaults merged in."""

    name: str
    uses: str
    action: str
    action_version: int
    params: dict
    """The ``with`` mapping as written."""
    needs: tuple[str, ...]
    inputs: dict[str, JobInput]
    outputs: dict[str, JobOutput]
    env: dict[str, str]
    """defaults.env overridden by the job's env; ``secret:NAME`` values are kept as they are."""
    resources: Resources
    timeout_seconds: int | None
    retries: int
    secret_names: tuple[str, ...]
    """Sorted names of the secrets the job uses (env and ``with``)."""
    _upstream_mask: int = field(default=0, repr=False, compare=False)
    _job_names: tuple[str, ...] = field(default=(), repr=False, compare=False)

    @cached_property
    def upstream(self) -> frozenset[str]:
        """Every job this one needs, directly or through other jobs."""
        return names_in(self._upstream_mask, self._job_names)

    def param_list(self, name: str) -> list[str]:
        """A ``with`` parameter written as a string or a list of strings (``command``,
        ``args``), as a list; empty when it is not there."""
        value = self.params.get(name)
        if value is None:
            return []
        if isinstance(value, str):
            return [value]
        return list(value)


@dataclass(frozen=True)
class WorkflowSpec:
    """A valid spec: jobs in run order (among ready jobs, document order first)."""

    jobs: tuple[Job, ...]
    inputs: dict[str, WorkflowInput]
    defaults: Defaults
    on: Trigger | None
    data: dict = field(repr=False)
    """The spec as submitted, as plain JSON-able data (shared: do not mutate)."""
    _by_name: dict[str, Job] = field(default_factory=dict, repr=False, compare=False)
    _dependents: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self._by_name:
            object.__setattr__(self, "_by_name", {job.name: job for job in self.jobs})
        if not self._dependents:
            dependents: dict[str, list[str]] = {job.name: [] for job in self.jobs}
            for job in self.jobs:
                for need in job.needs:
                    dependents[need].append(job.name)
            object.__setattr__(
                self, "_dependents", {name: tuple(names) for name, names in dependents.items()}
            )

    def job(self, name: str) -> Job:
        """The job called ``name``; KeyError if there is none."""
        return self._by_name[name]

    @property
    def job_names(self) -> tuple[str, ...]:
        """Job names in run order."""
        return tuple(job.name for job in self.jobs)

    @cached_property
    def secret_names(self) -> tuple[str, ...]:
        """Sorted names of every secret the spec refers to (defaults, env, ``with``)."""
        names: set[str] = set()
        for value in self.defaults.env.values():
            if value.startswith("secret:"):
                names.add(value[len("secret:") :])
        for job in self.jobs:
            names.update(job.secret_names)
        return tuple(sorted(names))

    def dependents(self, name: str) -> tuple[str, ...]:
        """Jobs that directly need ``name``, in run order; KeyError for an unknown job."""
        return self._dependents[name]

    def to_json(self) -> dict:
        """The spec as submitted, as a fresh JSON-able dict the caller may change."""
        return copy.deepcopy(self.data)


def trusted(cls: type[T], fields: dict[str, object]) -> T:
    """An instance of a frozen dataclass from every field's value, already checked.

    A frozen dataclass's ``__init__`` sets each field through
    ``object.__setattr__``; a 1,000-job spec has some 10,000 model objects and
    this builds them in half the time. ``fields`` must name every field (the
    tests compare with the normal constructor); ``__post_init__`` is not run.
    """
    obj = object.__new__(cls)
    obj.__dict__.update(fields)
    return obj
