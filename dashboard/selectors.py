"""What each dashboard page shows, read for one user; None means "not yours to see" (404)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from datetime import datetime

from django.core.paginator import Page, Paginator
from django.db.models import Count, OuterRef, Prefetch, QuerySet, Subquery
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from dashboard.diff import SpecDiff, spec_diff
from runs.models import JobRun, Run
from runs.selectors import job_get, run_status_document, runs_of
from runs.values import (
    DatasetOutput,
    Output,
    PinnedVersion,
    ResolvedInput,
    ResolvedInputs,
    StringOutput,
    VolumeOutput,
    attempts_from_json,
    outputs_from_json,
)
from workflows.access import Action, can
from workflows.models import (
    Cluster,
    Dataset,
    DatasetVersion,
    Project,
    Secret,
    Team,
    Workflow,
)
from workflows.selectors import (
    api_key_list,
    container_registry_list,
    dataset_version_files,
    project_get,
    project_list,
    secret_list,
    team_get,
    team_list,
    workflow_list,
)
from workflows.spec import parse_spec
from workflows.spec.yaml_locate import Locator

RUNS_PER_PAGE = 50
RECENT_RUNS = 10
COMPARE_CHOICES = 30
FILES_PER_VERSION = 200
VERSIONS_PER_DATASET = 10

STARTER_SPEC = """\
# A workflow is a set of jobs; `needs` orders them. Press Ctrl-Space for completion.
jobs:
  hello:
    uses: container@v1
    with:
      image: bash:5
      args: ["bash", "-c", "echo hello"]
"""


def seconds_between(started: datetime | None, finished: datetime | None) -> float | None:
    """How long something ran: until `finished`, or until now while it still runs."""
    if started is None:
        return None
    return ((finished or timezone.now()) - started).total_seconds()


# -- home ---------------------------------------------------------------------------


@dataclass
class TeamSection:
    team: Team
    role: str
    projects: list[Project] = field(default_factory=list)


def home_page(*, user) -> dict:
    """The user's teams with their projects (counted), and the latest runs across them."""
    sections = {team.pk: TeamSection(team=team, role=team.role) for team in team_list(user=user)}
    projects = project_list(user=user).annotate(
        workflow_count=Count("workflows", distinct=True),
        dataset_count=Count("datasets", distinct=True),
    )
    for project in projects:
        sections[project.team_id].projects.append(project)
    recent = (
        runs_of(user)
        .summary()
        .select_related("workflow", "workflow__project")
        .order_by("-created")[:RECENT_RUNS]
    )
    return {"sections": list(sections.values()), "recent_runs": list(recent)}


# -- project ------------------------------------------------------------------------


def _latest_run(field_name: str) -> Subquery:
    newest = Run.objects.filter(workflow=OuterRef("pk")).order_by("-number")
    return Subquery(newest.values(field_name)[:1])


def project_page(*, user, project_id: int) -> dict | None:
    """A project's workflows (with their latest run), datasets, secrets and clusters."""
    project = project_get(user=user, project_id=project_id)
    if project is None:
        return None
    workflows = workflow_list(user=user, project_id=project.pk).annotate(
        run_count=Count("runs", distinct=True),
        last_number=_latest_run("number"),
        last_phase=_latest_run("phase"),
        last_created=_latest_run("created"),
    )
    versions = (
        DatasetVersion.objects.filter(is_committed=True)
        .select_related("producer")
        .order_by("-created", "-id")
    )
    datasets = (
        Dataset.objects.filter(project=project)
        .prefetch_related(Prefetch("versions", queryset=versions, to_attr="version_list"))
        .order_by("name")
    )
    team = project.team
    return {
        "project": project,
        "team": team,
        "may_manage_secrets": can(user, Action.MANAGE_SECRETS, project),
        "workflows": list(workflows),
        "datasets": list(datasets),
        "versions_shown": VERSIONS_PER_DATASET,
        "project_secrets": list(
            secret_list(scope=Secret.Scope.PROJECT, team=team, project=project)
        ),
        "team_secrets": list(secret_list(scope=Secret.Scope.TEAM, team=team)),
        "registries": list(container_registry_list(team=team)),
        "clusters": list(
            Cluster.objects.filter(team=team)
            .annotate(secret_count=Count("secrets"))
            .order_by("name")
        ),
    }


# -- workflow -----------------------------------------------------------------------


def workflow_for_page(*, user, workflow_id) -> Workflow | None:
    """A workflow the user can see, with its project, team and default spec loaded."""
    return (
        workflow_list(user=user)
        .select_related("project", "project__team", "default_spec")
        .filter(pk=workflow_id)
        .first()
    )


def _runs_table(workflow: Workflow) -> QuerySet[Run]:
    """A workflow's runs, newest first, with what the runs table shows."""
    return Run.objects.filter(workflow=workflow).summary().order_by("-number")


def workflow_page(*, user, workflow_id, page: object = 1) -> dict | None:
    """The default spec for the editor, the clusters to run on and a page of runs."""
    workflow = workflow_for_page(user=user, workflow_id=workflow_id)
    if workflow is None:
        return None
    runs: Page = Paginator(_runs_table(workflow), RUNS_PER_PAGE).get_page(page)
    for run in runs:
        run.duration = seconds_between(run.started, run.finished)
    clusters = list(Cluster.objects.filter(team_id=workflow.project.team_id).order_by("name"))
    return {
        "workflow": workflow,
        "project": workflow.project,
        "spec_text": workflow.default_spec.text if workflow.default_spec else STARTER_SPEC,
        "has_default_spec": workflow.default_spec_id is not None,
        "runs": runs,
        "clusters": clusters,
        "default_cluster": "local" if any(c.handle == "local" for c in clusters) else "",
    }


# -- run ------------------------------------------------------------------------------


def run_for_page(*, user, workflow_id, number: int) -> Run | None:
    """A run the user can see, with everything its pages show (spec text included)."""
    return (
        runs_of(user)
        .with_rerun_number()
        .select_related("spec", "workflow", "workflow__project__team")
        .filter(workflow_id=workflow_id, number=number)
        .first()
    )


def argo_manifest_url(run: Run) -> str | None:
    """The API link to the Argo manifest of a run on an Argo cluster, when the API has one."""
    if run.cluster.kind != Cluster.Kind.ARGO:
        return None
    try:
        return reverse(
            "api-run-argo-manifest",
            kwargs={"workflow_id": str(run.workflow_id), "number": str(run.number)},
        )
    except NoReverseMatch:
        return None


def run_page(*, user, workflow_id, number: int) -> dict | None:
    """A run's header, its status document (for the graph and the live updates) and its kin."""
    run = run_for_page(user=user, workflow_id=workflow_id, number=number)
    if run is None:
        return None
    jobs = list(run.jobs.all())
    others = list(
        Run.objects.filter(workflow_id=run.workflow_id)
        .exclude(pk=run.pk)
        .order_by("-number")
        .values_list("number", flat=True)[:COMPARE_CHOICES]
    )
    return {
        "run": run,
        "workflow": run.workflow,
        "project": run.workflow.project,
        "document": run_status_document(run, jobs),
        "job_count": len(jobs),
        "duration": seconds_between(run.started, run.finished),
        "compare_with": others,
        "argo_manifest_url": argo_manifest_url(run),
        "reruns": list(run.reruns.order_by("number").values_list("number", flat=True)),
    }


def job_spec_text(spec_text: str, job_name: str) -> str:
    """The job's block of the spec as written (comments and layout kept)."""
    locator = Locator(spec_text)
    node = locator.node(("jobs", job_name))
    if node is None:
        return ""
    key_line, _ = locator.position(("jobs", job_name), at="key")
    lines = spec_text.splitlines(keepends=True)
    start = sum(len(line) for line in lines[: key_line - 1])
    return textwrap.dedent(spec_text[start : node.end_mark.index]).rstrip() + "\n"


@dataclass
class DatasetUse:
    """A dataset version a job read or wrote, with its files (when it is committed)."""

    name: str
    ref: str
    version: DatasetVersion | None
    files: list[dict]
    more_files: int


@dataclass
class ValueUse:
    """A string (or volume) a job read or wrote."""

    name: str
    kind: str
    value: str | None


def _dataset_use(name: str, ref: str, version: DatasetVersion | None) -> DatasetUse:
    files = dataset_version_files(version) if version is not None else []
    return DatasetUse(
        name=name,
        ref=ref,
        version=version,
        files=files[:FILES_PER_VERSION],
        more_files=max(0, len(files) - FILES_PER_VERSION),
    )


# What a job read or wrote: a value of the run's inputs or an output of a job.
Value = ResolvedInput | Output


def _version_read(value: Value) -> PinnedVersion | DatasetOutput | None:
    """The dataset version behind a value (its ``id`` and ``version_id``), if it is one."""
    if isinstance(value, DatasetOutput):
        return value
    if isinstance(value, ResolvedInput):
        return value.dataset
    return None


def _value_use(name: str, value: Value) -> ValueUse:
    if isinstance(value, StringOutput):
        return ValueUse(name=name, kind="string", value=value.shown_value)
    if isinstance(value, VolumeOutput):
        return ValueUse(name=name, kind="volume", value=None)
    return ValueUse(name=name, kind=value.type, value=value.value)


def _uses(values: dict[str, Value], project: Project) -> tuple[list[DatasetUse], list[ValueUse]]:
    """Datasets and other values by name, dataset versions loaded in one query."""
    read = {name: _version_read(value) for name, value in values.items()}
    version_ids = {pinned.version_id for pinned in read.values() if pinned is not None}
    versions = DatasetVersion.objects.filter(
        pk__in=version_ids, dataset__project=project, is_committed=True
    ).select_related("dataset")
    by_id = {version.pk: version for version in versions}
    datasets, others = [], []
    for name, value in values.items():
        pinned = read[name]
        if pinned is not None:
            datasets.append(_dataset_use(name, pinned.id, by_id.get(pinned.version_id)))
        else:
            others.append(_value_use(name, value))
    return datasets, others


def _inputs_read(run: Run, job: JobRun) -> dict[str, Value]:
    """What each input of the job reads: the run's value, or the output of the job before;
    an input whose value is not there yet shows as its type."""
    parsed = parse_spec(run.spec.text)
    if not parsed.valid or job.name not in parsed.spec.job_names:
        return {}
    spec = parsed.spec
    spec_job = spec.job(job.name)
    resolved = ResolvedInputs.from_json(run.resolved_inputs)
    produced = {
        name: outputs_from_json(outputs)
        for name, outputs in JobRun.objects.filter(
            run_id=run.pk, name__in=list(spec_job.upstream)
        ).values_list("name", "outputs")
    }
    inputs: dict[str, Value] = {}
    for name, job_input in spec_job.inputs.items():
        source = job_input.source
        if source.kind == "job":
            value = produced.get(source.job, {}).get(source.output)
        else:
            value = resolved.job_input(spec, spec_job, name)
        inputs[name] = value or ResolvedInput(type=job_input.type)
    return inputs


def job_panel(*, user, workflow_id, number: int, job_name: str) -> dict | None:
    """What the job panel's Data, Spec and Details tabs show."""
    job = job_get(user=user, workflow_id=workflow_id, number=number, job_name=job_name)
    if job is None:
        return None
    run = (
        Run.objects.select_related("spec", "workflow__project")
        .only("spec__text", "resolved_inputs", "workflow__project", "number", "workflow_id")
        .get(pk=job.run_id)
    )
    project = run.workflow.project
    input_datasets, input_values = _uses(_inputs_read(run, job), project)
    output_datasets, output_values = _uses(outputs_from_json(job.outputs), project)
    return {
        "job": job,
        "run": run,
        "duration": seconds_between(job.started, job.finished),
        "spec_text": job_spec_text(run.spec.text, job.name),
        "input_datasets": input_datasets,
        "input_values": input_values,
        "output_datasets": output_datasets,
        "output_values": output_values,
        "attempts": attempts_from_json(job.attempts),
    }


def job_for_log(*, user, workflow_id, number: int, job_name: str) -> JobRun | None:
    return job_get(user=user, workflow_id=workflow_id, number=number, job_name=job_name)


# -- diff -----------------------------------------------------------------------------


@dataclass
class InputRow:
    name: str
    left: str | None
    right: str | None

    @property
    def changed(self) -> bool:
        return self.left != self.right


@dataclass
class JobRow:
    name: str
    left: JobRun | None
    right: JobRun | None
    left_seconds: float | None
    right_seconds: float | None

    @property
    def changed(self) -> bool:
        left_phase = self.left.phase if self.left else None
        right_phase = self.right.phase if self.right else None
        return left_phase != right_phase


@dataclass
class DatasetRow:
    """One dataset version a run used or produced, per side: where, and which version."""

    where: str
    left: str | None
    right: str | None

    @property
    def changed(self) -> bool:
        return self.left != self.right


def _input_text(value: ResolvedInput) -> str:
    if value.dataset is not None:
        return value.dataset.id
    if value.type == "string":
        return str(value.value)
    return value.ref or ""


def _datasets_of(run: Run, jobs: list[JobRun]) -> dict[str, str]:
    """Where -> dataset version id, for every dataset version the run read or wrote."""
    found: dict[str, str] = {}
    for job_name, name, pinned in ResolvedInputs.from_json(run.resolved_inputs).pinned():
        found[f"input {name}" if job_name is None else f"{job_name} reads {name}"] = pinned.id
    for job in jobs:
        for name, output in outputs_from_json(job.outputs).items():
            if isinstance(output, DatasetOutput):
                found[f"{job.name} writes {name}"] = output.id
    return found


def _pairs(left: dict, right: dict) -> list[tuple[str, object, object]]:
    names = list(left) + [name for name in right if name not in left]
    return [(name, left.get(name), right.get(name)) for name in names]


def run_diff(*, user, workflow_id, number: int, other: int) -> dict | None:
    """Two runs of a workflow side by side: spec, inputs, datasets, jobs."""
    left = run_for_page(user=user, workflow_id=workflow_id, number=number)
    right = run_for_page(user=user, workflow_id=workflow_id, number=other)
    if left is None or right is None:
        return None
    left_jobs, right_jobs = list(left.jobs.all()), list(right.jobs.all())
    left_inputs = ResolvedInputs.from_json(left.resolved_inputs).workflow
    right_inputs = ResolvedInputs.from_json(right.resolved_inputs).workflow
    diff: SpecDiff = spec_diff(left.spec.text, right.spec.text)
    jobs = [
        JobRow(
            name=name,
            left=a,
            right=b,
            left_seconds=seconds_between(a.started, a.finished) if a else None,
            right_seconds=seconds_between(b.started, b.finished) if b else None,
        )
        for name, a, b in _pairs(
            {job.name: job for job in left_jobs}, {job.name: job for job in right_jobs}
        )
    ]
    return {
        "workflow": left.workflow,
        "project": left.workflow.project,
        "left": left,
        "right": right,
        "left_seconds": seconds_between(left.started, left.finished),
        "right_seconds": seconds_between(right.started, right.finished),
        "same_spec": left.spec_id == right.spec_id,
        "diff": diff,
        "inputs": [
            InputRow(
                name=name,
                left=_input_text(a) if a is not None else None,
                right=_input_text(b) if b is not None else None,
            )
            for name, a, b in _pairs(left_inputs, right_inputs)
        ],
        "datasets": [
            DatasetRow(where=where, left=a, right=b)
            for where, a, b in _pairs(
                _datasets_of(left, left_jobs), _datasets_of(right, right_jobs)
            )
        ],
        "jobs": jobs,
    }


def user_teams(*, user) -> QuerySet[Team]:
    return team_list(user=user)


# -- team and profile -----------------------------------------------------------------


def team_page(*, user, team_id: int) -> dict | None:
    """A team's members and projects, and what the user's role lets them change."""
    team = team_get(user=user, team_id=team_id)
    if team is None:
        return None
    return {
        "team": team,
        "members": team.member_list,
        "projects": list(project_list(user=user, team_id=team.pk)),
        "may_manage_members": can(user, Action.MANAGE_MEMBERS, team),
        "registries": list(container_registry_list(team=team)),
        "may_manage_registries": can(user, Action.MANAGE_REGISTRIES, team),
        "on_team_page": True,
    }


def profile_page(*, user) -> dict:
    """The user's teams and API keys (prefixes only)."""
    return {"teams": list(team_list(user=user)), "api_keys": list(api_key_list(user=user))}
