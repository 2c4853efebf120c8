"""Running a run on Argo Workflows: submission and cancel.

Submission (the ``run_start`` Celery task for a run on an Argo cluster) is
safe to run twice: what it decides is written to ``Run.engine_state`` before
anything is created, the Workflow's name is fixed by the run, and a Workflow
that already exists for the run is adopted rather than created again.

``Run.engine_state`` of an Argo run is a runs.values.EngineState: the
Workflow's name, namespace and uid, the run's Kubernetes Secret, the dataset
version reserved for each dataset output, the id each create-model job's
model gets, and the outputs of the jobs a re-run of failed jobs keeps.

Everything after submission (phases, outputs, logs, dataset commits) is the
watcher's (runs.engine.argo.watcher, ``manage.py argo_watch``).
"""

from __future__ import annotations

import base64
import json
import logging
import time
from dataclasses import replace
from pathlib import Path

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from kubernetes.client.exceptions import ApiException

from runs.engine import Problem, run_end_if_done
from runs.engine.argo import kube
from runs.engine.argo.artifacts import ArtifactError, ArtifactStore
from runs.engine.argo.compiler import (
    MANAGED_BY,
    MANAGED_BY_LABEL,
    RUN_LABEL,
    ClusterConfig,
    Compiled,
    CompileError,
    RunBinding,
    compile_workflow,
)
from runs.models import JobPhase, JobRun, Run, RunPhase
from runs.services import job_version_reserve
from runs.specs import spec_model
from runs.transitions import job_transition, jobs_cancel_pending, run_transition
from runs.values import (
    DatasetOutput,
    EngineState,
    KeptOutput,
    ResolvedInputs,
    StringOutput,
    VersionSlot,
    outputs_from_json,
)
from workflows.clusters import InstanceTypeError, cluster_shapes
from workflows.models import Cluster, DatasetVersion, short_id
from workflows.registries import dockerconfig_json
from workflows.secret_values import SecretUnreadable
from workflows.selectors import (
    DatasetRefError,
    container_registry_credentials,
    dataset_find,
    secret_values,
)
from workflows.services import SpecRejected, spec_checked
from workflows.spec import WorkflowSpec, errors_at

logger = logging.getLogger(__name__)

SUBMIT_ATTEMPTS = 5
SUBMIT_BACKOFF_SECONDS = 1.0
SHUTDOWN_PATCH = {"spec": {"shutdown": "Terminate"}}
DOCKER_CONFIG_SECRET = "kubernetes.io/dockerconfigjson"


class SubmissionFailed(Exception):
    """The run cannot be submitted as it is; the message says why."""


class ArgoEngine:
    """Runs on an Argo Workflows cluster: one Workflow per run, followed by the watcher."""

    def check(self, spec: WorkflowSpec, cluster: Cluster) -> list[Problem]:
        try:
            compile_workflow(spec, cluster_config(cluster))
        except CompileError as error:
            return list(error.problems)
        return []

    def start(self, run: Run) -> None:
        run_start(run.pk)

    def cancel(self, run: Run) -> None:
        run_cancel(run.pk)

    def release(self, run: Run) -> None:
        release_reserved_versions(run)


def cluster_config(cluster: Cluster) -> ClusterConfig:
    """The compiler's view of a Cluster row (a local cluster maps no instance types).

    CompileError when the row's shapes cannot be read (saved before they were
    checked, or edited in the database): the run is refused with the reason.
    """
    if cluster.kind != Cluster.Kind.ARGO:
        return ClusterConfig()
    try:
        shapes = cluster_shapes(cluster)
    except InstanceTypeError as error:
        raise CompileError(
            [((), f'cluster "{cluster.handle}" cannot be used: {error}; ask its owner to fix it')]
        ) from None
    return ClusterConfig(
        namespace=cluster.namespace or "default",
        instance_types=shapes.instance_types,
        settings=cluster.settings or {},
        default_instance_type=shapes.default_instance_type,
        default_job_timeout_seconds=shapes.default_job_timeout_seconds,
    )


def workflow_name(run: Run) -> str:
    """The run's Workflow name: unique per run, readable in ``argo list``, a DNS label."""
    slug = slugify(run.workflow.name)[:30].strip("-") or "workflow"
    return f"gw-{run.pk}-{slug}"[:52].rstrip("-")


def binding(run: Run, state: EngineState | None = None) -> RunBinding:
    """What the run fixes in its manifest, from its row and engine state."""
    state = EngineState.from_json(run.engine_state) if state is None else state
    return RunBinding(
        name=state.name or workflow_name(run),
        run_id=run.pk,
        workflow_label=f"{run.workflow.name} #{run.number}",
        resolved_inputs=ResolvedInputs.from_json(run.resolved_inputs),
        output_versions=state.datasets,
        model_ids=state.models,
        reused=state.reused,
    )


def run_manifest(run: Run) -> Compiled:
    """The manifest of a run as submitted (or as it would be, for a run on another engine)."""
    return compile_workflow(spec_model(run), cluster_config(run.cluster), binding(run))


def spec_manifest(*, text: str, cluster: Cluster | None = None) -> dict:
    """The Workflow a spec text becomes on ``cluster`` (none: a preview for any cluster).

    SpecRejected, with errors at their lines, when the spec is not valid or
    cannot run on the cluster (an unknown instance type).
    """
    result = spec_checked(text)
    if not result.valid:
        raise SpecRejected("the spec is not valid", errors=result.errors)
    try:
        config = cluster_config(cluster) if cluster is not None else ClusterConfig()
        return compile_workflow(result.spec, config).manifest
    except CompileError as error:
        raise SpecRejected(
            f'the spec cannot run on cluster "{cluster.handle}"',
            errors=errors_at(text, [(path, message, None) for path, message in error.problems]),
        ) from None


def _reserve(run: Run, spec: WorkflowSpec) -> EngineState:
    """Fix the Workflow's name, dataset versions and model ids once, before creating anything."""
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        state = EngineState.from_json(locked.engine_state)
        if state.name:
            return state
        project = run.workflow.project
        jobs = {job.name: job for job in run.jobs.all()}
        datasets: dict[str, dict[str, VersionSlot]] = {}
        models: dict[str, str] = {}
        reused = _reused_outputs(jobs)
        for job in spec.jobs:
            if job.name in reused:
                continue
            for name, output in job.outputs.items():
                if output.type != "dataset":
                    continue
                try:
                    dataset = dataset_find(project=project, ref=output.with_["ref"])
                except DatasetRefError as error:
                    raise SubmissionFailed(f"jobs.{job.name}.outputs.{name}: {error}") from None
                version = job_version_reserve(job=jobs[job.name], dataset=dataset)
                datasets.setdefault(job.name, {})[name] = VersionSlot(
                    dataset_id=dataset.pk,
                    version=version.version,
                    version_id=version.pk,
                    name=dataset.name,
                )
            if job.action == "create-model":
                models[job.name] = short_id()
        name = workflow_name(run)
        state = EngineState(
            engine="argo",
            name=name,
            namespace=run.cluster.namespace or "default",
            secret=f"{name}-secrets",
            datasets=datasets,
            models=models,
            reused=reused,
        )
        _store_state(run, state)
        return state


def _store_state(run: Run, state: EngineState) -> None:
    run.engine_state = state.to_json()
    Run.objects.filter(pk=run.pk).update(engine_state=run.engine_state)


def _reused_outputs(jobs: dict[str, JobRun]) -> dict[str, dict[str, KeptOutput]]:
    """The outputs of the jobs a re-run of failed jobs keeps, as the compiler takes them."""
    reused: dict[str, dict[str, KeptOutput]] = {}
    for name, row in jobs.items():
        if not row.reused_from_run:
            continue
        outputs: dict[str, KeptOutput] = {}
        for output, produced in outputs_from_json(row.outputs).items():
            if isinstance(produced, StringOutput):
                outputs[output] = StringOutput(produced.value)
            elif isinstance(produced, DatasetOutput):
                version = DatasetVersion.objects.filter(
                    pk=produced.version_id, is_committed=True
                ).first()
                if version is None:
                    raise SubmissionFailed(
                        f'the dataset version {produced.id} that job "{name}" '
                        "produced no longer exists; re-run the whole run"
                    )
                outputs[output] = VersionSlot(
                    dataset_id=version.dataset_id, version=version.version, version_id=version.pk
                )
        reused[name] = outputs
    return reused


def _input_versions(run: Run) -> list[DatasetVersion]:
    """The committed dataset versions the run's jobs read from the dashboard's store."""
    state = EngineState.from_json(run.engine_state)
    ids = {
        kept.version_id
        for outputs in state.reused.values()
        for kept in outputs.values()
        if isinstance(kept, VersionSlot)
    }
    ids.update(
        pinned.version_id for _, _, pinned in ResolvedInputs.from_json(run.resolved_inputs).pinned()
    )
    return list(DatasetVersion.objects.filter(pk__in=ids).select_related("dataset"))


def uses_datasets(spec: WorkflowSpec) -> bool:
    return any(
        item.type == "dataset"
        for job in spec.jobs
        for item in (*job.inputs.values(), *job.outputs.values())
    )


def _sync_inputs(run: Run, spec: WorkflowSpec, apis: kube.Apis) -> None:
    if not uses_datasets(spec):
        return
    store = ArtifactStore(run.cluster.settings or {}, apis)
    for version in _input_versions(run):
        key = store.key(version.dataset_id, version.version)
        if not store.has(key):
            store.upload_folder(Path(version.storage_location), key)


def _secret_data(run: Run, compiled: Compiled) -> dict[str, str]:
    names = [name for kind, name in compiled.secret_keys.values() if kind == "secret"]
    try:
        values = secret_values(project=run.workflow.project, cluster=run.cluster, names=names)
    except SecretUnreadable as error:
        raise SubmissionFailed(str(error)) from None
    data = {}
    for key, (kind, value) in compiled.secret_keys.items():
        if kind == "secret":
            if value not in values:
                raise SubmissionFailed(
                    f'the secret "{value}" is no longer set for this project, its cluster or its '
                    "team"
                )
            value = values[value]
        data[key] = base64.b64encode(value.encode()).decode()
    return data


def _labels(run: Run) -> dict[str, str]:
    return {MANAGED_BY_LABEL: MANAGED_BY, RUN_LABEL: str(run.pk)}


def _put_secret(run: Run, name: str, kind: str, data: dict[str, str], apis: kube.Apis) -> None:
    """Create the run's Secret ``name``, or replace it when a first attempt left one."""
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": kind,
        "metadata": {"name": name, "labels": _labels(run)},
        "data": data,
    }
    try:
        apis.core.create_namespaced_secret(
            apis.namespace, body, _request_timeout=kube.REQUEST_TIMEOUT
        )
    except ApiException as error:
        if error.status != 409:
            raise
        apis.core.replace_namespaced_secret(
            name, apis.namespace, body, _request_timeout=kube.REQUEST_TIMEOUT
        )


def _apply_secret(run: Run, compiled: Compiled, apis: kube.Apis) -> None:
    if compiled.secret_keys:
        _put_secret(run, compiled.secret_name, "Opaque", _secret_data(run, compiled), apis)


def _registry_data(run: Run, compiled: Compiled) -> dict[str, str]:
    """The run's pull Secret: the logins of the team registries its jobs name."""
    try:
        logins = container_registry_credentials(
            team=run.workflow.project.team, names=compiled.registries
        )
    except SecretUnreadable as error:
        raise SubmissionFailed(str(error)) from None
    found = {login.name for login in logins}
    for name in compiled.registries:
        if name not in found:
            raise SubmissionFailed(
                f'the container registry "{name}" is no longer one of the team\'s registries'
            )
    config = dockerconfig_json(logins)
    return {".dockerconfigjson": base64.b64encode(config.encode()).decode()}


def _apply_registry_secret(run: Run, compiled: Compiled, apis: kube.Apis) -> None:
    if compiled.registries:
        data = _registry_data(run, compiled)
        _put_secret(run, compiled.registry_secret_name, DOCKER_CONFIG_SECRET, data, apis)


def _own_secret(run: Run, compiled: Compiled, workflow: dict, apis: kube.Apis) -> None:
    """Make the Workflow own the run's Secrets, so deleting the Workflow (its TTL) deletes them."""
    owner = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "name": workflow["metadata"]["name"],
        "uid": workflow["metadata"]["uid"],
    }
    names = [compiled.secret_name] if compiled.secret_keys else []
    if compiled.registries:
        names.append(compiled.registry_secret_name)
    for name in names:
        apis.core.patch_namespaced_secret(
            name,
            apis.namespace,
            {"metadata": {"ownerReferences": [owner]}},
            _content_type=kube.MERGE_PATCH,
            _request_timeout=kube.REQUEST_TIMEOUT,
        )


def _create_workflow(run: Run, compiled: Compiled, apis: kube.Apis) -> dict:
    try:
        return apis.custom.create_namespaced_custom_object(
            kube.GROUP,
            kube.VERSION,
            apis.namespace,
            kube.PLURAL,
            compiled.manifest,
            _request_timeout=kube.REQUEST_TIMEOUT,
        )
    except ApiException as error:
        if error.status != 409:
            raise
    name = compiled.manifest["metadata"]["name"]
    existing = apis.custom.get_namespaced_custom_object(
        kube.GROUP, kube.VERSION, apis.namespace, kube.PLURAL, name
    )
    if (existing["metadata"].get("labels") or {}).get(RUN_LABEL) != str(run.pk):
        raise SubmissionFailed(
            f'a Workflow named "{name}" already exists in namespace "{apis.namespace}" and is not '
            "this run's; is another dashboard using this namespace?"
        )
    return existing


def _api_message(error: ApiException) -> str:
    try:
        return json.loads(error.body)["message"]
    except (TypeError, ValueError, KeyError):
        return f"{error.status} {error.reason}"


def _submit_once(run: Run) -> None:
    spec = spec_model(run)
    if uses_datasets(spec) and not ClusterConfig(settings=run.cluster.settings or {}).s3:
        raise SubmissionFailed(
            "the spec reads or writes datasets, and this cluster has no artifact repository; "
            "set artifactRepository.s3 in the cluster's settings"
        )
    state = _reserve(run, spec)
    try:
        compiled = compile_workflow(spec, cluster_config(run.cluster), binding(run, state))
    except CompileError as error:
        raise SubmissionFailed(
            "; ".join(f"{'.'.join(map(str, path))}: {message}" for path, message in error.problems)
        ) from None
    apis = kube.apis(run.cluster)
    _sync_inputs(run, spec, apis)
    _apply_secret(run, compiled, apis)
    _apply_registry_secret(run, compiled, apis)
    workflow = _create_workflow(run, compiled, apis)
    _own_secret(run, compiled, workflow, apis)
    state = replace(state, uid=workflow["metadata"]["uid"], submitted=timezone.now().isoformat())
    _store_state(run, state)
    run_transition(run_id=run.pk, to=RunPhase.RUNNING)
    if Run.objects.filter(pk=run.pk, cancel_requested=True).exists():
        workflow_shutdown(run, apis)


def run_start(run_id: int) -> None:
    """Submit a PENDING run to its Argo cluster; a run that has moved on is left alone."""
    run = Run.objects.select_related("cluster", "workflow__project__team").get(pk=run_id)
    if run.phase != RunPhase.PENDING:
        return
    if run.cancel_requested:
        run_cancel(run_id)
        return
    for attempt in range(1, SUBMIT_ATTEMPTS + 1):
        try:
            _submit_once(run)
            return
        except SubmissionFailed as error:
            _fail_submission(run, str(error))
            return
        except (ArtifactError, kube.KubeUnavailable) as error:
            _fail_submission(run, str(error))
            return
        except ApiException as error:
            if not kube.is_transient(error) or attempt == SUBMIT_ATTEMPTS:
                _fail_submission(run, f"the Kubernetes API refused the run: {_api_message(error)}")
                return
            logger.warning("submitting run %s: %s; trying again", run_id, error)
        except kube.TRANSIENT as error:
            if attempt == SUBMIT_ATTEMPTS:
                _fail_submission(run, f"the Kubernetes API cannot be reached: {error}")
                return
            logger.warning("submitting run %s: %s; trying again", run_id, error)
        time.sleep(SUBMIT_BACKOFF_SECONDS * 2 ** (attempt - 1))


def release_reserved_versions(run: Run) -> None:
    """Drop the dataset versions reserved for outputs that were never committed."""
    ids = EngineState.from_json(run.engine_state).reserved_version_ids
    if ids:
        DatasetVersion.objects.filter(pk__in=ids, is_committed=False).delete()


def _fail_submission(run: Run, message: str) -> None:
    run.refresh_from_db()
    text = f"the run could not be submitted to Argo: {message}"
    for job_id in run.jobs.filter(phase=JobPhase.PENDING).values_list("pk", flat=True):
        job_transition(
            job_id=job_id, to=JobPhase.SKIPPED, expected=JobPhase.PENDING, message="not started"
        )
    run_transition(run_id=run.pk, to=RunPhase.FAILED, message=text)
    release_reserved_versions(run)


def workflow_shutdown(run: Run, apis: kube.Apis | None = None) -> bool:
    """Ask Argo to stop the run's Workflow (``spec.shutdown: Terminate``); False when it is gone."""
    name = EngineState.from_json(run.engine_state).name
    if not name:
        return False
    apis = apis or kube.apis(run.cluster)
    try:
        apis.custom.patch_namespaced_custom_object(
            kube.GROUP,
            kube.VERSION,
            apis.namespace,
            kube.PLURAL,
            name,
            SHUTDOWN_PATCH,
            _content_type=kube.MERGE_PATCH,
            _request_timeout=kube.REQUEST_TIMEOUT,
        )
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def run_cancel(run_id: int) -> None:
    """Cancel a run on Argo: jobs not started now, running ones when Argo has stopped them."""
    Run.objects.filter(pk=run_id).update(cancel_requested=True)
    run = Run.objects.select_related("cluster", "workflow").get(pk=run_id)
    if EngineState.from_json(run.engine_state).uid:
        try:
            workflow_shutdown(run)
        except (ApiException, kube.KubeUnavailable, *kube.TRANSIENT) as error:
            logger.warning("cannot stop the Workflow of run %s: %s", run_id, error)
    jobs_cancel_pending(run_id=run_id)
    run_end_if_done(run)
