"""The names, labels and shapes of the Argo compiler's input and output (pure, no Django).

``ClusterConfig`` and ``RunBinding`` are what runs.engine.argo.compiler
takes, ``Compiled`` what it gives; ``task_names`` and
``dataset_version_key`` are shared with the engine, which must name things
exactly as the manifests do.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import yaml

from runs.values import KeptOutput, ResolvedInputs, VersionSlot
from workflows.clusters import InstanceType

API_VERSION = "argoproj.io/v1alpha1"
ENTRYPOINT = "main"
LABEL_PREFIX = "gradient-workflows.io"
RUN_LABEL = f"{LABEL_PREFIX}/run-id"
JOB_LABEL = f"{LABEL_PREFIX}/job"
JOB_ANNOTATION = f"{LABEL_PREFIX}/job-name"
WORKFLOW_ANNOTATION = f"{LABEL_PREFIX}/workflow"
INSTANCE_TYPE_ANNOTATION = f"{LABEL_PREFIX}/instance-type"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "gradient-workflows"

DEFAULT_VOLUME_SIZE = "5Gi"
DEFAULT_TOOL_IMAGE = "busybox:1.36"
DEFAULT_TTL_STRATEGY = {"secondsAfterCompletion": 86400}
GPU_RESOURCE = "nvidia.com/gpu"
MAX_NAME = 63
PREVIEW_MODEL_ID = "assigned-when-the-run-is-submitted"

_DNS_INVALID = re.compile(r"[^a-z0-9-]+")


class CompileError(ValueError):
    """The spec cannot run on this cluster; ``problems`` are (spec path, message) pairs."""

    def __init__(self, problems: list[tuple[tuple, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(message for _, message in problems))


@dataclass(frozen=True)
class ClusterConfig:
    """What the compiler knows of an Argo cluster (the Cluster row's fields, as plain data).

    ``instance_types`` None means "no cluster chosen": instance types are
    noted in an annotation instead of being mapped. They are the typed shapes
    of workflows.clusters, the same the local engine reads; a mapping of JSON
    shapes (as a Cluster row stores them) is read into them here, so an
    unreadable one raises InstanceTypeError. ``default_instance_type`` is the
    type of jobs that name none, ``default_job_timeout_seconds`` the
    deadline of jobs whose spec sets none. ``settings`` keys read here:
    artifactRepository, volumeSize, volumeStorageClass, volumeAccessModes,
    podGC, ttlStrategy, serviceAccountName, toolImage, imagePullSecrets.
    """

    namespace: str | None = None
    instance_types: Mapping[str, InstanceType] | None = None
    settings: Mapping = field(default_factory=dict)
    default_instance_type: str | None = None
    default_job_timeout_seconds: int | None = None

    def __post_init__(self) -> None:
        if self.instance_types is not None and not all(
            isinstance(shape, InstanceType) for shape in self.instance_types.values()
        ):
            typed = {
                name: shape
                if isinstance(shape, InstanceType)
                else InstanceType.from_json(shape, name)
                for name, shape in self.instance_types.items()
            }
            object.__setattr__(self, "instance_types", typed)

    @property
    def s3(self) -> Mapping | None:
        """The artifact repository's S3 location (Argo's S3ArtifactRepository), if set."""
        repository = self.settings.get("artifactRepository") or {}
        return repository.get("s3") or None


@dataclass(frozen=True)
class RunBinding:
    """What a run fixes in its manifest; the default binding is the export preview.

    ``output_versions`` maps job -> dataset output -> the version reserved
    for it; ``model_ids`` maps a create-model job to its model's id;
    ``reused`` maps a job that succeeded in an earlier run and does not run
    again to its outputs (runs.values.EngineState has the same three).
    """

    name: str | None = None
    run_id: int | None = None
    workflow_label: str | None = None
    resolved_inputs: ResolvedInputs = field(default_factory=ResolvedInputs)
    output_versions: Mapping[str, Mapping[str, VersionSlot]] = field(default_factory=dict)
    model_ids: Mapping[str, str] = field(default_factory=dict)
    reused: Mapping[str, Mapping[str, KeptOutput]] = field(default_factory=dict)
    generate_name: str = "gradient-"

    @property
    def secret_name(self) -> str:
        """The run's Kubernetes Secret (the engine creates it before the Workflow)."""
        return f"{self.name or 'gradient-run'}-secrets"

    @property
    def registry_secret_name(self) -> str:
        """The run's image pull Secret: the logins of the team registries its jobs name."""
        return f"{self.name or 'gradient-run'}-registries"


@dataclass(frozen=True)
class Compiled:
    """A compiled run: the manifest, the Secret's keys and each job's task name.

    The manifest is fresh JSON-able data, except that its artifacts share the
    repository's credential selectors: copy it deeply before changing it.
    """

    manifest: dict
    secret_name: str
    secret_keys: dict[str, tuple[str, str]]
    """Key in the run's Secret -> ("secret", NAME) or ("literal", value)."""
    task_names: dict[str, str]
    """Job name -> its DAG task and template name."""
    registry_secret_name: str = ""
    registries: tuple[str, ...] = ()
    """The team registries whose logins the engine puts in ``registry_secret_name``."""


def dataset_version_key(prefix: str, dataset_id: str, version: str) -> str:
    """The artifact repository key of one dataset version (a tar.gz of its files)."""
    return f"{prefix}datasets/{dataset_id}/{version}.tgz"


def short_hash(text: str, length: int = 6) -> str:
    """A few hex digits of the text's SHA-1: keeps names derived from it apart."""
    return hashlib.sha1(text.encode()).hexdigest()[:length]


def dns_label(text: str) -> str:
    """The text as a lowercase DNS label (letters, digits and "-")."""
    label = _DNS_INVALID.sub("-", text.lower()).strip("-")
    return label or "x"


def task_names(job_names) -> dict[str, str]:
    """Job name -> a unique Kubernetes-safe task/template name (a DNS label).

    Argo puts the template name into pod names, which must be lowercase DNS
    names; a job name that is one already keeps it, any other gets a short
    hash of the exact job name so ``Train`` and ``train`` stay apart.
    """
    names: dict[str, str] = {}
    used = {ENTRYPOINT}
    for job_name in job_names:
        if job_name == dns_label(job_name) and len(job_name) <= MAX_NAME:
            if job_name not in used:
                names[job_name] = job_name
                used.add(job_name)
    for job_name in job_names:
        if job_name in names:
            continue
        base = dns_label(job_name)[: MAX_NAME - 13]
        length = 6
        candidate = f"{base}-{short_hash(job_name, length)}"
        while candidate in used:
            length += 2
            candidate = f"{base}-{short_hash(job_name, length)}"
        names[job_name] = candidate
        used.add(candidate)
    return names


class _ManifestDumper(yaml.SafeDumper):
    """YAML that people read: scripts as literal blocks, keys in manifest order, no anchors."""

    def ignore_aliases(self, data) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str):
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_ManifestDumper.add_representer(str, _represent_str)


def manifest_yaml(manifest: dict) -> str:
    """The manifest as YAML, as ``kubectl`` and ``argo submit`` take it."""
    return yaml.dump(
        manifest, Dumper=_ManifestDumper, sort_keys=False, allow_unicode=True, width=100
    )
