"""The shapes a cluster offers: instance types, read once into typed values.

A cluster's ``instance_types`` JSON maps a name to the machine a job asks for
with ``resources: {instance-type: NAME}``::

    {"C4":    {"cpu": "4", "memory": "8Gi", "pids": 4096},
     "P4000": {"cpu": 8, "memory": "30Gi", "gpu": 1,
               "nodeSelector": {"pool": "gpu"}, "tolerations": [...]}}

``cpu``, ``memory``, ``gpu`` and ``pids`` mean the same on every engine: the
local engine applies them as cgroup limits (and hands out ``gpu`` whole GPUs
of the worker host), Argo turns them into container requests and limits.
``nodeSelector``, ``tolerations``, ``resources`` (explicit Kubernetes
requests/limits) and ``gpuResource`` only mean something on Kubernetes and
are passed through there.

Quantities are written as Kubernetes writes them ("4Gi", "512Mi", "2",
"500m") or as plain JSON numbers; ``parse_cpu`` and ``parse_memory`` read
them and say what to write instead when they cannot. Nothing here imports
the ORM: the Argo compiler, which must stay pure, reads the same shapes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workflows.spec import Job, WorkflowSpec

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"m": Decimal("0.001"), "": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_DECIMAL |= {"P": 10**15, "E": 10**18}
_QUANTITY = re.compile(
    r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE]([+-]?[0-9]+))?\s*([A-Za-z]*)\s*$"
)
_KNOWN_KEYS = ("cpu", "memory", "gpu", "pids", "nodeSelector", "tolerations", "resources")
_KNOWN_KEYS += ("gpuResource",)


class InstanceTypeError(ValueError):
    """An instance type (or a cluster's default) that cannot be read; the message says why."""


def _quantity(value: object, what: str, example: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InstanceTypeError(f"{what} must be a number or a quantity like {example}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise InstanceTypeError(f"{what} must be a finite number, like {example}")
        number = Decimal(str(value))
    else:
        match = _QUANTITY.match(value)
        suffix = match.group(3) if match else None
        if match is None or (suffix not in _BINARY and suffix not in _DECIMAL):
            raise InstanceTypeError(
                f'{what} "{value}" is not a quantity; write a number with an optional suffix '
                f"(m, k, M, G, T, Ki, Mi, Gi, Ti), like {example}"
            )
        try:
            number = Decimal(match.group(1))
            if match.group(2):
                number = number.scaleb(int(match.group(2)))
        except InvalidOperation:
            raise InstanceTypeError(f'{what} "{value}" is not a number') from None
        number *= _BINARY.get(suffix) or _DECIMAL[suffix]
    if number <= 0:
        raise InstanceTypeError(f"{what} must be more than 0, like {example}")
    return number


def parse_cpu(value: object, what: str = "cpu") -> float:
    """CPU cores from "2", "1.5", "500m" or a number."""
    cores = _quantity(value, what, '"2" or "500m"')
    if cores < Decimal("0.001"):
        raise InstanceTypeError(f"{what} must be at least 1m (a thousandth of a core)")
    return float(cores)


def parse_memory(value: object, what: str = "memory") -> int:
    """Bytes from "4Gi", "512Mi", "1G", "1048576" or a number of bytes."""
    size = _quantity(value, what, '"4Gi" or "512Mi"')
    if size != size.to_integral_value():
        raise InstanceTypeError(
            f'{what} "{value}" is not a whole number of bytes; write it like "4Gi" or "512Mi"'
        )
    return int(size)


def _count(value: object, what: str, *, minimum: int) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InstanceTypeError(f"{what} must be a whole number of at least {minimum}")
    return value


def format_cpu(cores: float) -> str:
    """Cores as Kubernetes writes them: "2", or "1500m" for a fraction."""
    if float(cores).is_integer():
        return str(int(cores))
    return f"{round(cores * 1000)}m"


def format_memory(size: int) -> str:
    """Bytes as Kubernetes writes them, in the largest binary unit that divides them."""
    for suffix, unit in reversed(_BINARY.items()):
        if size % unit == 0:
            return f"{size // unit}{suffix}"
    return str(size)


@dataclass(frozen=True)
class InstanceType:
    """One machine shape of a cluster; None means "no limit of this kind"."""

    cpu: float | None = None
    memory_bytes: int | None = None
    gpu: int = 0
    pids: int | None = None
    node_selector: Mapping[str, str] = field(default_factory=dict)
    """Kubernetes only: the nodes a job of this type may run on."""
    tolerations: tuple[Mapping[str, Any], ...] = ()
    """Kubernetes only: the taints a job of this type tolerates."""
    resources: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Kubernetes only: explicit ``requests``/``limits``, which win over cpu/memory/gpu."""
    gpu_resource: str | None = None
    """Kubernetes only: the extended resource GPUs are counted in (nvidia.com/gpu by default)."""

    @classmethod
    def from_json(cls, data: object, name: str = "") -> InstanceType:
        """Read one instance type; InstanceTypeError names the key to fix."""
        where = f'instance type "{name}"' if name else "instance type"
        if not isinstance(data, Mapping):
            raise InstanceTypeError(
                f'{where} must be an object like {{"cpu": "2", "memory": "4Gi"}}'
            )
        unknown = sorted(set(data) - set(_KNOWN_KEYS))
        if unknown:
            raise InstanceTypeError(
                f"{where} has unknown keys {', '.join(unknown)}; known: {', '.join(_KNOWN_KEYS)}"
            )
        cpu = data.get("cpu")
        memory = data.get("memory")
        pids = data.get("pids")
        node_selector = data.get("nodeSelector") or {}
        if not isinstance(node_selector, Mapping) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in node_selector.items()
        ):
            raise InstanceTypeError(f"{where}: nodeSelector must map label names to text values")
        tolerations = data.get("tolerations") or []
        if not isinstance(tolerations, list) or not all(
            isinstance(item, Mapping) for item in tolerations
        ):
            raise InstanceTypeError(f"{where}: tolerations must be a list of objects")
        resources = data.get("resources") or {}
        if not isinstance(resources, Mapping) or not all(
            key in ("requests", "limits") and isinstance(value, Mapping)
            for key, value in resources.items()
        ):
            raise InstanceTypeError(
                f"{where}: resources must be an object with requests and/or limits objects"
            )
        gpu_resource = data.get("gpuResource")
        if gpu_resource is not None and (not isinstance(gpu_resource, str) or not gpu_resource):
            raise InstanceTypeError(f'{where}: gpuResource must be a name like "nvidia.com/gpu"')
        return cls(
            cpu=None if cpu is None else parse_cpu(cpu, f"{where}: cpu"),
            memory_bytes=None if memory is None else parse_memory(memory, f"{where}: memory"),
            gpu=_count(data.get("gpu") or 0, f"{where}: gpu", minimum=0),
            pids=None if pids is None else _count(pids, f"{where}: pids", minimum=1),
            node_selector=dict(node_selector),
            tolerations=tuple(dict(item) for item in tolerations),
            resources={
                key: {name: str(value) for name, value in limits.items()}
                for key, limits in resources.items()
            },
            gpu_resource=gpu_resource,
        )

    def to_json(self) -> dict:
        """The stored form, in Kubernetes quantities; ``from_json`` reads it back equal."""
        data: dict[str, Any] = {}
        if self.cpu is not None:
            data["cpu"] = format_cpu(self.cpu)
        if self.memory_bytes is not None:
            data["memory"] = format_memory(self.memory_bytes)
        if self.gpu:
            data["gpu"] = self.gpu
        if self.pids is not None:
            data["pids"] = self.pids
        if self.node_selector:
            data["nodeSelector"] = dict(self.node_selector)
        if self.tolerations:
            data["tolerations"] = [dict(item) for item in self.tolerations]
        if self.resources:
            data["resources"] = {key: dict(value) for key, value in self.resources.items()}
        if self.gpu_resource:
            data["gpuResource"] = self.gpu_resource
        return data


def instance_types_from_json(data: object) -> dict[str, InstanceType]:
    """A cluster's ``instance_types`` JSON read whole; InstanceTypeError on the first bad one."""
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise InstanceTypeError(
            'instance types must be an object mapping a name to a shape, like {"C4": {"cpu": '
            '"4", "memory": "8Gi"}}'
        )
    return {str(name): InstanceType.from_json(shape, str(name)) for name, shape in data.items()}


@dataclass(frozen=True)
class ClusterShapes:
    """What a cluster offers its jobs: instance types, the default type and default timeout."""

    instance_types: Mapping[str, InstanceType] = field(default_factory=dict)
    default_instance_type: str | None = None
    default_job_timeout_seconds: int | None = None

    def for_job(self, name: str | None) -> InstanceType | None:
        """The shape a job asking for ``name`` (or nothing: the default) gets; None: no limits.

        A cluster that defines no instance types runs every job unlimited,
        whatever it names. InstanceTypeError when the cluster defines some but
        not this one (its types changed after the run was submitted): running
        it without limits would be a surprise.
        """
        chosen = name or self.default_instance_type
        if not chosen or not self.instance_types:
            return None
        shape = self.instance_types.get(chosen)
        if shape is None:
            known = ", ".join(sorted(self.instance_types))
            raise InstanceTypeError(
                f'this cluster has no instance type "{chosen}" any more (known: {known})'
            )
        return shape


def cluster_shapes_validate(
    *, instance_types: object, default_instance_type: str | None, default_job_timeout_seconds
) -> ClusterShapes:
    """The typed shapes of a cluster's fields; InstanceTypeError says what to fix."""
    types = instance_types_from_json(instance_types)
    if default_instance_type and default_instance_type not in types:
        known = ", ".join(sorted(types)) or "none are defined"
        raise InstanceTypeError(
            f'the default instance type "{default_instance_type}" is not one of this cluster\'s '
            f"instance types (known: {known})"
        )
    if default_job_timeout_seconds is not None:
        _count(default_job_timeout_seconds, "the default job timeout in seconds", minimum=1)
    return ClusterShapes(
        instance_types=types,
        default_instance_type=default_instance_type or None,
        default_job_timeout_seconds=default_job_timeout_seconds,
    )


def cluster_shapes(cluster) -> ClusterShapes:
    """The typed shapes of a Cluster row (any object with its three fields)."""
    return cluster_shapes_validate(
        instance_types=cluster.instance_types,
        default_instance_type=cluster.default_instance_type or None,
        default_job_timeout_seconds=cluster.default_job_timeout_seconds,
    )


def cluster_instance_types(cluster) -> dict[str, InstanceType]:
    """A Cluster row's instance types by name."""
    return dict(cluster_shapes(cluster).instance_types)


def instance_type_problems(
    spec: WorkflowSpec,
    jobs: Iterable[Job],
    instance_types: Mapping[str, InstanceType],
    default_instance_type: str | None = None,
) -> list[tuple[tuple, str]]:
    """(spec path, message) for each place that names a type the cluster does not have.

    A job's own ``resources.instance-type`` is reported at its line, one from
    the spec's defaults at the defaults' line (once), and a dangling cluster
    default at no line, since the spec did not name it.
    """
    known = ", ".join(sorted(instance_types)) or "none are defined"
    defaults = ((spec.data.get("defaults") or {}).get("resources") or {}).get("instance-type")
    problems: list[tuple[tuple, str]] = []
    for job in jobs:
        name = job.resources.instance_type or default_instance_type
        if not name or name in instance_types:
            continue
        own = (spec.data["jobs"][job.name].get("resources") or {}).get("instance-type")
        if own or defaults:
            path = (
                ("jobs", job.name, "resources", "instance-type")
                if own
                else ("defaults", "resources", "instance-type")
            )
            message = (
                f'this cluster has no instance type "{name}" (known: {known}); choose one of '
                "them or ask the cluster's owner to add it"
            )
        else:
            path = ()
            message = (
                f'this cluster\'s default instance type "{name}" is not one of its instance '
                f"types (known: {known}); ask the cluster's owner to fix it"
            )
        if (path, message) not in problems:
            problems.append((path, message))
    return problems
