"""Writes for runs: submission, re-runs and cancel requests.

`run_submit` is the one way a run comes to exist (REST API, the gradient CLI
surface, the dashboard, git triggers, manage.py run_spec). It either creates
the run with all its jobs PENDING and queues it on commit, or raises
`SubmissionError` with the validator's error shape and writes nothing.

A submission may carry an idempotency key (the `Idempotency-Key` header):
the key is stored with the run, and the same user sending the same request
to the same workflow with it again gets that run back instead of a second
one, so a client can retry after a lost answer. The same key with a
different request is refused (422).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from runs import queue
from runs.engine import engine_for
from runs.events import publish_on_commit
from runs.logs import LogWriter
from runs.models import JobPhase, JobRun, ProducedModel, ProducedVersion, Run, RunPhase
from runs.specs import spec_model
from runs.transitions import RUN_FINAL
from runs.values import PinnedVersion, ResolvedInput, ResolvedInputs
from workflows.clusters import InstanceTypeError
from workflows.models import Cluster, Dataset, DatasetVersion, Project, RegisteredModel, Workflow
from workflows.selectors import (
    DatasetRefError,
    cluster_for_run,
    container_registry_names_missing,
    dataset_find,
    dataset_version_resolve,
    secrets_resolve,
)
from workflows.services import InvalidRequest, dataset_version_reserve, spec_store
from workflows.spec import SpecError, WorkflowSpec, parse_spec, resolve_run_inputs, utf8_size
from workflows.spec.locate import errors_at

# The `document` of a SubmissionError about the request itself (a cluster, a
# run to re-run), not about the spec or inputs text: its errors have no line.
REQUEST = "request"


class SubmissionError(Exception):
    """The run was not created; `errors` say why, in the validator's shape."""

    def __init__(self, errors, *, status: int = 400, document: str = "spec") -> None:
        self.errors = tuple(errors)
        self.status = status
        self.document = document
        super().__init__("; ".join(f"{e.path}: {e.message}" for e in self.errors))

    def as_dict(self) -> dict:
        return {
            "valid": False,
            "document": self.document,
            "errors": [error.as_dict() for error in self.errors],
        }


def _single_error(path: str, message: str, *, status: int = 400, document: str = "spec"):
    return SubmissionError([SpecError(path, 1, 1, message)], status=status, document=document)


@dataclass(frozen=True)
class ParsedSubmission:
    spec_text: str
    spec: WorkflowSpec
    cluster: Cluster
    resolved_inputs: ResolvedInputs


def spec_text_checked(text: object) -> str:
    """The spec text, refused when it is not text or larger than SPEC_MAX_BYTES."""
    if not isinstance(text, str):
        raise _single_error("", "the spec must be YAML text")
    if utf8_size(text) > settings.SPEC_MAX_BYTES:
        raise _single_error(
            "",
            f"the spec is larger than {settings.SPEC_MAX_BYTES // 1024} KiB; split it into "
            "several workflows",
            status=413,
        )
    return text


def _inputs_text(inputs: str | dict | None) -> str | None:
    if inputs is None or isinstance(inputs, str):
        return inputs
    if isinstance(inputs, dict):
        return json.dumps(inputs if "inputs" in inputs else {"inputs": inputs}, indent=1)
    raise _single_error("inputs", "run inputs must be a mapping", document="inputs")


def _resolve_datasets(
    *, workflow: Workflow, spec_text: str, spec: WorkflowSpec, values: dict
) -> ResolvedInputs:
    """Pin every dataset input to a committed version; check every output dataset exists."""
    project = workflow.project
    problems = []
    input_problems = []
    workflow_values: dict[str, ResolvedInput] = {}
    job_values: dict[str, dict[str, ResolvedInput]] = {}
    for name, value in values.items():
        entry = ResolvedInput(type=value["type"], with_=dict(value["with"]))
        if entry.type == "dataset":
            try:
                version = dataset_version_resolve(project=project, ref=entry.ref)
                entry = replace(entry, dataset=_pinned(version))
            except DatasetRefError as error:
                if name in spec.inputs and spec.inputs[name].default == entry.with_:
                    problems.append((("inputs", name, "with", "ref"), str(error), None))
                else:
                    input_problems.append(SpecError(f"inputs.{name}", 1, 1, str(error)))
        workflow_values[name] = entry
    for job in spec.jobs:
        for input_name, job_input in job.inputs.items():
            if job_input.source.kind == "inline" and job_input.type == "dataset":
                path = ("jobs", job.name, "inputs", input_name, "with", "ref")
                try:
                    version = dataset_version_resolve(
                        project=project, ref=job_input.source.with_["ref"]
                    )
                except DatasetRefError as error:
                    problems.append((path, str(error), None))
                    continue
                job_values.setdefault(job.name, {})[input_name] = ResolvedInput(
                    type="dataset", with_=dict(job_input.source.with_), dataset=_pinned(version)
                )
        for output_name, output in job.outputs.items():
            if output.type == "dataset":
                try:
                    dataset_find(project=project, ref=output.with_["ref"])
                except DatasetRefError as error:
                    path = ("jobs", job.name, "outputs", output_name, "with", "ref")
                    problems.append((path, str(error), None))
    if input_problems:
        raise SubmissionError(input_problems, document="inputs")
    if problems:
        raise SubmissionError(errors_at(spec_text, problems))
    return ResolvedInputs(workflow=workflow_values, jobs=job_values)


def _pinned(version) -> PinnedVersion:
    return PinnedVersion(
        id=f"{version.dataset.name}:{version.version}",
        dataset_id=version.dataset_id,
        version_id=version.pk,
    )


def _check_secrets(*, workflow: Workflow, cluster: Cluster, spec_text: str, spec: WorkflowSpec):
    found = secrets_resolve(project=workflow.project, cluster=cluster, names=spec.secret_names)
    missing = [name for name in spec.secret_names if name not in found]
    if not missing:
        return
    problems = []
    for name in missing:
        path = _first_use_of_secret(spec, name)
        problems.append(
            (
                path,
                f'the secret "{name}" is not set for this project, its cluster or its team; '
                f"set it with: gradient secrets set project --id {workflow.project.handle} "
                f"--name {name} --value ...",
                None,
            )
        )
    raise SubmissionError(errors_at(spec_text, problems))


def _first_use_of_secret(spec: WorkflowSpec, name: str) -> tuple:
    reference = f"secret:{name}"
    for key, value in spec.defaults.env.items():
        if value == reference:
            return ("defaults", "env", key)
    for job in spec.jobs:
        raw_env = spec.data["jobs"][job.name].get("env") or {}
        for key, value in raw_env.items():
            if value == reference:
                return ("jobs", job.name, "env", key)
        for key, value in job.params.items():
            if value == reference:
                return ("jobs", job.name, "with", key)
    return ()


def _registry_uses(spec: WorkflowSpec) -> list[tuple[tuple, str]]:
    """Each name in a ``container-registries`` list, with its place in the spec."""
    places = [("defaults",), *(("jobs", name) for name in spec.data.get("jobs") or {})]
    uses = []
    for place in places:
        body = spec.data
        for key in place:
            body = body.get(key) or {}
        names = (body.get("resources") or {}).get("container-registries") or []
        uses += [
            ((*place, "resources", "container-registries", index), name)
            for index, name in enumerate(names)
        ]
    return uses


def _check_registries(
    *, workflow: Workflow, cluster: Cluster, spec_text: str, spec: WorkflowSpec
) -> None:
    """Every registry a spec names is the team's, or one the Argo cluster maps to a Secret."""
    mapped = (cluster.settings or {}).get("imagePullSecrets") or {}
    if cluster.kind != Cluster.Kind.ARGO or not isinstance(mapped, dict):
        mapped = {}
    uses = [(path, name) for path, name in _registry_uses(spec) if name not in mapped]
    if not uses:
        return
    team = workflow.project.team
    missing = set(container_registry_names_missing(team=team, names=[name for _, name in uses]))
    problems = [
        (
            path,
            f'the team has no container registry "{name}"; an owner of the team adds it '
            f"(POST /api/v1/teams/{team.pk}/container-registries, or on the team page), "
            "or fix the name",
            None,
        )
        for path, name in uses
        if name in missing
    ]
    if problems:
        raise SubmissionError(errors_at(spec_text, problems))


def _check_cluster_fit(*, cluster: Cluster, spec_text: str, spec: WorkflowSpec) -> None:
    """Refuse what the cluster's engine cannot run (an instance type it does not have)."""
    try:
        problems = engine_for(cluster).check(spec, cluster)
    except InstanceTypeError as error:
        message = f'cluster "{cluster.handle}" cannot be used: {error}; ask its owner to fix it'
        raise _single_error("clusterId", message, document=REQUEST) from None
    if problems:
        located = [(path, message, None) for path, message in problems]
        raise SubmissionError(errors_at(spec_text, located))


def _cluster(
    *, workflow: Workflow, cluster_id: str | None, spec: WorkflowSpec, spec_text: str
) -> Cluster:
    chosen = cluster_id or spec.defaults.cluster_id or "local"
    cluster = cluster_for_run(team=workflow.project.team, cluster_id=chosen)
    if cluster is not None:
        return cluster
    if not cluster_id and spec.defaults.cluster_id:
        message = f'there is no cluster "{chosen}" in this team; name one of its clusters'
        raise SubmissionError(errors_at(spec_text, [(("defaults", "clusterId"), message, None)]))
    raise _single_error(
        "clusterId",
        f'there is no cluster "{chosen}" in this team; leave it out to use the local engine',
        document=REQUEST,
    )


def run_prepare(
    *, workflow: Workflow, spec_text: str, inputs: str | dict | None, cluster_id: str | None
) -> ParsedSubmission:
    """Everything a submission checks, without writing anything."""
    spec_text = spec_text_checked(spec_text)
    result = parse_spec(spec_text, max_jobs=settings.MAX_JOBS_PER_RUN)
    if not result.valid:
        raise SubmissionError(result.errors)
    spec = result.spec
    cluster = _cluster(workflow=workflow, cluster_id=cluster_id, spec=spec, spec_text=spec_text)
    run_inputs = resolve_run_inputs(spec, _inputs_text(inputs))
    if run_inputs.errors:
        raise SubmissionError(run_inputs.errors, document="inputs")
    resolved = _resolve_datasets(
        workflow=workflow, spec_text=spec_text, spec=spec, values=run_inputs.values
    )
    _check_secrets(workflow=workflow, cluster=cluster, spec_text=spec_text, spec=spec)
    _check_registries(workflow=workflow, cluster=cluster, spec_text=spec_text, spec=spec)
    _check_cluster_fit(cluster=cluster, spec_text=spec_text, spec=spec)
    return ParsedSubmission(
        spec_text=spec_text, spec=spec, cluster=cluster, resolved_inputs=resolved
    )


MAX_IDEMPOTENCY_KEY = 200


@dataclass(frozen=True)
class _KeyedRequest:
    """A submission under an idempotency key, and a digest of what it asked for."""

    key: str
    fingerprint: str

    @classmethod
    def of(cls, key: str, **request: object) -> _KeyedRequest:
        canonical = json.dumps(request, sort_keys=True, default=str, ensure_ascii=True)
        return cls(key, hashlib.sha256(canonical.encode()).hexdigest())


def _earlier_submission(*, workflow: Workflow, user, keyed: _KeyedRequest) -> Run | None:
    """The run this key already made for this user and workflow; refused for another request."""
    key = keyed.key
    if not (0 < len(key) <= MAX_IDEMPOTENCY_KEY and key.isascii() and key.isprintable()):
        raise _single_error(
            "Idempotency-Key",
            f"the Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters",
            document=REQUEST,
        )
    earlier = Run.objects.filter(workflow=workflow, created_by=user, idempotency_key=key).first()
    if earlier is not None and earlier.request_fingerprint != keyed.fingerprint:
        raise _single_error(
            "Idempotency-Key",
            f'the Idempotency-Key "{key}" was already used for run {earlier.number} of this '
            "workflow with a different request; send a new key for a new run",
            status=422,
            document=REQUEST,
        )
    return earlier


def run_submit(
    *,
    workflow: Workflow,
    spec_text: str | None,
    inputs: str | dict | None = None,
    cluster_id: str | None = None,
    user=None,
    reason: str = Run.Reason.MANUAL,
    rerun_of: Run | None = None,
    trigger: dict | None = None,
    make_default: bool = False,
    reuse: dict[str, JobRun] | None = None,
    idempotency_key: str | None = None,
) -> Run:
    """Validate and create a run with its jobs PENDING, queued when the transaction commits.

    `spec_text=None` runs the workflow's default spec. `reuse` names jobs of
    `rerun_of` that succeeded there: the new run starts with them SUCCEEDED
    and their outputs, and with `rerun_of`'s pinned inputs, so what they
    produced still matches what the jobs after them will read.
    `idempotency_key`: the run this key made earlier is answered instead.
    """
    keyed = None
    if idempotency_key is not None:
        keyed = _KeyedRequest.of(
            idempotency_key, spec=spec_text, inputs=inputs, cluster=cluster_id, default=make_default
        )
        earlier = _earlier_submission(workflow=workflow, user=user, keyed=keyed)
        if earlier is not None:
            return earlier
    if spec_text is None:
        if workflow.default_spec is None:
            raise _single_error(
                "spec",
                f'workflow "{workflow.name}" has no default spec; submit a spec',
                document=REQUEST,
            )
        spec_text = workflow.default_spec.text
    prepared = run_prepare(
        workflow=workflow, spec_text=spec_text, inputs=inputs, cluster_id=cluster_id
    )
    supplied = _supplied_inputs(inputs)
    # A re-run that keeps jobs reads what they read: the pinned versions of the run before.
    resolved = (
        ResolvedInputs.from_json(rerun_of.resolved_inputs) if reuse else prepared.resolved_inputs
    )
    with transaction.atomic():
        stored_spec = spec_store(text=prepared.spec_text, parsed=prepared.spec.to_json())
        Workflow.objects.select_for_update().filter(pk=workflow.pk).first()
        # Under the workflow's lock: of two retries at once, the second finds the first's run.
        earlier = _earlier_submission(workflow=workflow, user=user, keyed=keyed) if keyed else None
        if earlier is not None:
            return earlier
        number = (Run.objects.filter(workflow=workflow).aggregate(n=Max("number"))["n"] or 0) + 1
        run = Run.objects.create(
            workflow=workflow,
            number=number,
            spec=stored_spec,
            inputs=supplied,
            resolved_inputs=resolved.to_json(),
            cluster=prepared.cluster,
            created_by=user,
            reason=reason,
            rerun_of=rerun_of,
            trigger=trigger or {},
            idempotency_key=keyed.key if keyed else "",
            request_fingerprint=keyed.fingerprint if keyed else "",
        )
        reuse = reuse or {}
        jobs = JobRun.objects.bulk_create(
            _job_row(run=run, name=job.name, position=index, earlier=reuse.get(job.name))
            for index, job in enumerate(prepared.spec.jobs)
        )
        for job in jobs:
            if job.reused_from_run:
                writer = LogWriter(job)
                writer.line(job.message)
                writer.close()
        if make_default or workflow.default_spec_id is None:
            Workflow.objects.filter(pk=workflow.pk).update(default_spec=stored_spec)
            workflow.default_spec = stored_spec
        # A broker that cannot take the message now does not undo the run:
        # it is committed PENDING, and the reconciler starts it.
        queue.run_start(run.id)
    return run


def _supplied_inputs(inputs: str | dict | None) -> dict:
    if isinstance(inputs, dict):
        return inputs.get("inputs", inputs)
    if isinstance(inputs, str) and inputs.strip():
        from workflows.spec.yaml_source import load_yaml

        data = load_yaml(inputs).json_data()
        if isinstance(data, dict) and isinstance(data.get("inputs"), dict):
            return data["inputs"]
    return {}


RERUN_SPECS = ("same", "default", "failed")


def run_rerun(*, run: Run, user=None, spec: str = "same") -> Run:
    """A new run of the same workflow and inputs.

    `spec`: "same" runs the run's spec again, "default" the workflow's default
    spec, "failed" the run's spec with only the jobs that did not succeed (the
    others keep their outputs: string values, committed dataset versions).
    """
    return run_submit(
        workflow=run.workflow,
        spec_text=None if spec == "default" else run.spec.text,
        inputs={"inputs": run.inputs},
        cluster_id=run.cluster.handle,
        user=user,
        reason=Run.Reason.RERUN,
        rerun_of=run,
        reuse=_succeeded_jobs_to_keep(run) if spec == "failed" else None,
    )


def jobs_to_reuse(spec: WorkflowSpec, phases: dict[str, str]) -> set[str]:
    """The jobs a re-run of the failed jobs can keep: those that succeeded, unless
    a job that runs again reads one of their volumes (volumes end with their run).
    """
    reused = {name for name, phase in phases.items() if phase == JobPhase.SUCCEEDED}
    changed = True
    while changed:
        changed = False
        for job in spec.jobs:
            if job.name in reused:
                continue
            for job_input in job.inputs.values():
                source = job_input.source
                if source.kind == "job" and job_input.type == "volume" and source.job in reused:
                    reused.discard(source.job)
                    changed = True
    return reused


def _succeeded_jobs_to_keep(run: Run) -> dict[str, JobRun]:
    """The jobs of an ended run that a re-run of its failed jobs keeps, by name."""
    if run.phase not in (RunPhase.FAILED, RunPhase.CANCELED):
        if run.phase == RunPhase.SUCCEEDED:
            problem = f"every job of run {run.number} succeeded; use a plain re-run instead"
        else:
            problem = (
                f"run {run.number} is still {run.phase.lower()}; wait for it to end or cancel it"
            )
        raise _single_error(
            "run", f"cannot re-run only the failed jobs: {problem}", status=409, document=REQUEST
        )
    previous = {job.name: job for job in run.jobs.all()}
    kept = jobs_to_reuse(spec_model(run), {name: job.phase for name, job in previous.items()})
    return {name: previous[name] for name in kept}


def _job_row(*, run: Run, name: str, position: int, earlier: JobRun | None) -> JobRun:
    """A new run's job: PENDING, or SUCCEEDED with `earlier`'s outputs when it is reused."""
    if earlier is None:
        return JobRun(run=run, name=name, position=position)
    origin = earlier.reused_from_run or run.rerun_of.number
    now = timezone.now()
    return JobRun(
        run=run,
        name=name,
        position=position,
        phase=JobPhase.SUCCEEDED,
        outputs=earlier.outputs,
        exit_code=earlier.exit_code,
        started=now,
        finished=now,
        reused_from_run=origin,
        message=f"reused: it succeeded in run #{origin}, whose outputs it keeps; "
        "it did not run again",
    )


def run_request_cancel(*, run: Run) -> bool:
    """Ask the run's engine to cancel it; False when the run has already ended.

    The flag is set at once, so running jobs see it at their next check; the
    task cancels what has not started yet.
    """
    if run.phase in RUN_FINAL:
        return False
    Run.objects.filter(pk=run.pk).update(cancel_requested=True)
    run.cancel_requested = True
    queue.run_cancel(run.id)
    return True


def job_detail_set(*, job_run: JobRun, message: str) -> bool:
    """Say what a RUNNING job is doing before its process starts (e.g. pulling its image).

    The job's message changes and a `job.detail` event tells the pages; a job
    that has moved on meanwhile (canceled, retried) is left alone.
    """
    with transaction.atomic():
        changed = JobRun.objects.filter(
            pk=job_run.pk, phase=JobPhase.RUNNING, attempt=job_run.attempt
        ).update(message=message)
        if changed:
            event = {
                "type": "job.detail",
                "job": job_run.name,
                "attempt": job_run.attempt,
                "message": message,
                "at": timezone.now().isoformat(),
            }
            publish_on_commit(job_run.run_id, event)
    return bool(changed)


def job_version_reserve(*, job: JobRun, dataset: Dataset) -> DatasetVersion:
    """A new version of `dataset` for an output of `job`, recorded as the job's."""
    with transaction.atomic():
        version = dataset_version_reserve(dataset=dataset)
        ProducedVersion.objects.create(dataset_version=version, job=job)
    return version


def job_model_register(*, job: JobRun, **fields) -> RegisteredModel:
    """A model that `job`'s create-model@v1 registers, recorded as the job's."""
    with transaction.atomic():
        model = RegisteredModel.objects.create(**fields)
        ProducedModel.objects.create(model=model, job=job)
    return model


ACTIVE_RUN_PHASES = (RunPhase.PENDING, RunPhase.RUNNING)


def delete_refuse_active_runs(sender, instance: Project | Workflow, **_) -> None:
    """Refuse to delete a project or workflow while one of its runs is pending or running.

    Deleting the rows of a run an engine is executing would leave its jobs
    writing to nothing; the run must end first. Connected to
    workflows.services.delete_requested by RunsConfig.ready.
    """
    if sender is Project:
        runs, what = Run.objects.filter(workflow__project=instance), f'project "{instance.name}"'
    else:
        runs, what = Run.objects.filter(workflow=instance), f'workflow "{instance.name}"'
    active = runs.filter(phase__in=ACTIVE_RUN_PHASES).count()
    if active:
        raise InvalidRequest(
            f"{what} has {active} run(s) still pending or running; cancel them or let them "
            "finish, then delete it",
            status=409,
        )
