"""The typed spec model compiled into one Argo Workflow (``argoproj.io/v1alpha1``).

Pure code: it imports nothing from Django or the ORM, so the export command,
the API, the engine, the tests and the benchmark all call it the same way.

    compiled = compile_workflow(spec, ClusterConfig(...), RunBinding(...))
    compiled.manifest      # the Workflow, as plain JSON-able data
    compiled.secret_keys   # what the engine puts in the run's Kubernetes Secret

How the spec's meaning is kept on Argo (the same as on the local engine):

- each job is a DAG task with a template of its own; ``needs`` become
  ``dependencies`` and the DAG does not fail fast, so unrelated branches go on
  when a job fails (Argo marks the jobs downstream of it Omitted);
- ``/outputs`` is an emptyDir in every pod, so string outputs are files there,
  read back as output parameters (``valueFrom.path``); a dataset output gets
  an empty folder of its own at ``/outputs/NAME``, uploaded as an artifact to
  the key of the dataset version the engine reserved; a volume output is a
  ``volumeClaimTemplates`` claim, writable at ``/outputs/NAME`` in the job
  that creates it and read-only at ``/inputs/NAME`` in the jobs that read it;
- a string input reaches its job as an input parameter that a raw artifact
  turns into the file ``/inputs/NAME`` (values from other jobs travel as
  ``{{tasks.JOB.outputs.parameters.NAME}}``, workflow inputs as workflow
  parameters); a dataset input is an artifact at ``/inputs/NAME``, read from
  the key of its pinned version;
- ``secret:NAME`` values become ``secretKeyRef``s into the run's Secret;
  the values themselves never appear in a manifest;
- Kubernetes expands ``$(VAR)`` and ``$$`` in a container's command, args and
  env values; those are escaped so the text stays literal, as the local
  engine passes it.

A known difference: Argo substitutes ``{{workflow.…}}``, ``{{inputs.…}}``,
``{{tasks.…}}`` and ``{{=…}}`` expressions anywhere in a template and has no
escape for them, so such text in a script or an argument is Argo's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from runs.engine.argo.manifest import (
    API_VERSION,
    DEFAULT_TOOL_IMAGE,
    DEFAULT_TTL_STRATEGY,
    DEFAULT_VOLUME_SIZE,
    ENTRYPOINT,
    GPU_RESOURCE,
    INSTANCE_TYPE_ANNOTATION,
    JOB_ANNOTATION,
    JOB_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    PREVIEW_MODEL_ID,
    RUN_LABEL,
    WORKFLOW_ANNOTATION,
    ClusterConfig,
    Compiled,
    CompileError,
    RunBinding,
    dataset_version_key,
    dns_label,
    manifest_yaml,
    short_hash,
    task_names,
)
from workflows.clusters import InstanceType, format_cpu, format_memory, instance_type_problems
from workflows.spec import Job, WorkflowSpec

__all__ = [
    "DEFAULT_VOLUME_SIZE",
    "ENTRYPOINT",
    "JOB_ANNOTATION",
    "JOB_LABEL",
    "MANAGED_BY",
    "MANAGED_BY_LABEL",
    "RUN_LABEL",
    "ClusterConfig",
    "CompileError",
    "Compiled",
    "RunBinding",
    "compile_workflow",
    "dataset_version_key",
    "manifest_yaml",
    "task_names",
]

_SECRET_PREFIX = "secret:"
# What an artifact's s3 location repeats of the repository (keyPrefix goes into each key).
_S3_LOCATION = (
    "bucket",
    "endpoint",
    "region",
    "insecure",
    "accessKeySecret",
    "secretKeySecret",
    "useSDKCreds",
)

_EXPANDED = re.compile(r"\$(?=[$(])")


def _literal(text: str) -> str:
    """Text that Kubernetes' $(VAR) expansion leaves as it is.

    Kubernetes turns ``$$`` into ``$`` and ``$(NAME)`` into NAME's value;
    doubling each ``$`` that starts either keeps the text as written.
    """
    return _EXPANDED.sub("$$", text) if "$" in text else text


class _Compiler:
    def __init__(self, spec: WorkflowSpec, cluster: ClusterConfig, binding: RunBinding) -> None:
        self.spec = spec
        self.cluster = cluster
        self.binding = binding
        self.settings = cluster.settings
        self.s3 = cluster.s3
        self.key_prefix = (self.s3 or {}).get("keyPrefix", "") if self.s3 else ""
        if self.key_prefix and not self.key_prefix.endswith("/"):
            self.key_prefix += "/"
        self.tasks = task_names(spec.job_names)
        self.secret_name = binding.secret_name
        self.secret_keys: dict[str, tuple[str, str]] = {}
        self.registries: dict[str, None] = {}
        self.problems: list[tuple[tuple, str]] = []
        self.claims: list[dict] = []
        self.claim_names: dict[tuple[str, str], str] = {}
        self.tool_image = self.settings.get("toolImage") or DEFAULT_TOOL_IMAGE
        self.shapes: dict[str, dict] = {}
        self.s3_base: dict | None = None
        if self.s3 is not None:
            # Copied once; the artifacts of one manifest share these read-only values.
            self.s3_base = {
                name: dict(self.s3[name]) if isinstance(self.s3[name], Mapping) else self.s3[name]
                for name in _S3_LOCATION
                if name in self.s3
            }
        self.output_keys: dict[tuple[str, str], str] = {}
        self.reused = binding.reused
        self.jobs = [job for job in spec.jobs if job.name not in self.reused]
        """The jobs that run: a re-run of failed jobs leaves out those it reuses."""

    # -- the manifest ----------------------------------------------------------

    def compile(self) -> Compiled:
        for job in self.jobs:
            for name, output in job.outputs.items():
                if output.type == "volume":
                    self._claim(job, name)
        if self.cluster.instance_types is not None:
            self.problems += instance_type_problems(
                self.spec,
                self.jobs,
                self.cluster.instance_types,
                self.cluster.default_instance_type,
            )
        templates = [self._dag()]
        templates += [self._template(job) for job in self.jobs]
        if self.problems:
            raise CompileError(self.problems)
        workflow_spec: dict = {"entrypoint": ENTRYPOINT}
        parameters = self._workflow_parameters()
        if parameters:
            workflow_spec["arguments"] = {"parameters": parameters}
        workflow_spec["templates"] = templates
        if self.claims:
            workflow_spec["volumeClaimTemplates"] = self.claims
            workflow_spec["volumeClaimGC"] = {"strategy": "OnWorkflowCompletion"}
        labels = {MANAGED_BY_LABEL: MANAGED_BY}
        if self.binding.run_id is not None:
            labels[RUN_LABEL] = str(self.binding.run_id)
            workflow_spec["podMetadata"] = {"labels": {RUN_LABEL: str(self.binding.run_id)}}
        pull_secrets = self._image_pull_secrets()
        if pull_secrets:
            workflow_spec["imagePullSecrets"] = pull_secrets
        if self.settings.get("serviceAccountName"):
            workflow_spec["serviceAccountName"] = self.settings["serviceAccountName"]
        if self.settings.get("podGC"):
            workflow_spec["podGC"] = dict(self.settings["podGC"])
        workflow_spec["ttlStrategy"] = dict(
            self.settings.get("ttlStrategy") or DEFAULT_TTL_STRATEGY
        )
        metadata: dict = {}
        if self.binding.name:
            metadata["name"] = self.binding.name
        else:
            metadata["generateName"] = self.binding.generate_name
        if self.cluster.namespace:
            metadata["namespace"] = self.cluster.namespace
        metadata["labels"] = labels
        if self.binding.workflow_label:
            metadata["annotations"] = {WORKFLOW_ANNOTATION: self.binding.workflow_label}
        manifest = {
            "apiVersion": API_VERSION,
            "kind": "Workflow",
            "metadata": metadata,
            "spec": workflow_spec,
        }
        return Compiled(
            manifest=manifest,
            secret_name=self.secret_name,
            secret_keys=self.secret_keys,
            task_names=self.tasks,
            registry_secret_name=self.binding.registry_secret_name if self.registries else "",
            registries=tuple(self.registries),
        )

    def _workflow_parameters(self) -> list[dict]:
        parameters = []
        for name, workflow_input in self.spec.inputs.items():
            if workflow_input.type != "string":
                continue
            value = self.binding.resolved_inputs.workflow_input(self.spec, name)
            parameter = {"name": name}
            if value is not None:
                parameter["value"] = str(value.value if value.value is not None else "")
            parameters.append(parameter)
        return parameters

    def _image_pull_secrets(self) -> list[dict]:
        """The Workflow's pull Secrets: the cluster's own, and the run's for team registries.

        A registry the cluster's ``imagePullSecrets`` setting maps is pulled
        with that Secret, which the cluster's admin keeps in the namespace;
        any other is one of the team's registries, whose login the engine
        writes into the run's own dockerconfigjson Secret.
        """
        mapping = self.settings.get("imagePullSecrets") or {}
        names: dict[str, None] = {}
        for job in self.jobs:
            for registry in job.resources.container_registries:
                if registry in mapping:
                    names[mapping[registry]] = None
                else:
                    self.registries[registry] = None
        if self.registries:
            names[self.binding.registry_secret_name] = None
        return [{"name": name} for name in names]

    def _claim(self, job: Job, output: str) -> None:
        name = f"vol-{dns_label(self.tasks[job.name])[:40]}-{short_hash(f'{job.name}/{output}')}"
        self.claim_names[(job.name, output)] = name
        claim_spec: dict = {
            "accessModes": list(self.settings.get("volumeAccessModes") or ["ReadWriteOnce"]),
            "resources": {
                "requests": {"storage": str(self.settings.get("volumeSize") or DEFAULT_VOLUME_SIZE)}
            },
        }
        if self.settings.get("volumeStorageClass"):
            claim_spec["storageClassName"] = self.settings["volumeStorageClass"]
        self.claims.append({"metadata": {"name": name}, "spec": claim_spec})

    def _dag(self) -> dict:
        tasks = []
        for job in self.jobs:
            task: dict = {"name": self.tasks[job.name], "template": self.tasks[job.name]}
            needs = [need for need in job.needs if need not in self.reused]
            if needs:
                task["dependencies"] = [self.tasks[need] for need in needs]
            arguments = [
                {"name": name, "value": self._string_source(job, job_input)}
                for name, job_input in job.inputs.items()
                if job_input.type == "string" and job.action != "create-model"
            ]
            if arguments:
                task["arguments"] = {"parameters": arguments}
            tasks.append(task)
        # Argo's DAG stops starting tasks after the first failure unless told
        # otherwise; our spec lets unrelated branches go on.
        return {"name": ENTRYPOINT, "dag": {"failFast": False, "tasks": tasks}}

    def _string_source(self, job: Job, job_input) -> str:
        source = job_input.source
        if source.kind == "job" and source.job in self.reused:
            return str(self.reused[source.job][source.output].value)
        if source.kind == "job":
            return f"{{{{tasks.{self.tasks[source.job]}.outputs.parameters.{source.output}}}}}"
        if source.kind == "workflow":
            return f"{{{{workflow.parameters.{source.workflow_input}}}}}"
        return str((source.with_ or {}).get("value", ""))

    # -- one job -----------------------------------------------------------------

    def _template(self, job: Job) -> dict:
        task = self.tasks[job.name]
        template: dict = {
            "name": task,
            "metadata": {
                "labels": {JOB_LABEL: task},
                "annotations": {JOB_ANNOTATION: job.name},
            },
        }
        inputs = {"parameters": [], "artifacts": []}
        outputs = {"parameters": [], "artifacts": []}
        mounts = [{"name": "outputs", "mountPath": "/outputs"}]
        volumes = [{"name": "outputs", "emptyDir": {}}]
        if job.action != "create-model":
            self._inputs(job, inputs, mounts, volumes)
        self._outputs(job, outputs, mounts, volumes)
        container = self._container(job, inputs)
        container["volumeMounts"] = mounts
        env = self._env(job)
        if env:
            container["env"] = env
        self._resources(job, template, container)
        if inputs["parameters"] or inputs["artifacts"]:
            template["inputs"] = {key: value for key, value in inputs.items() if value}
        if outputs["parameters"] or outputs["artifacts"]:
            template["outputs"] = {key: value for key, value in outputs.items() if value}
        template["script" if job.action == "script" else "container"] = container
        template["volumes"] = volumes
        timeout = job.timeout_seconds or self.cluster.default_job_timeout_seconds
        if timeout:
            template["activeDeadlineSeconds"] = str(timeout)
        if job.retries:
            # "Always" also retries errors (a lost node, an evicted pod), as the
            # local engine retries an attempt whose worker was lost.
            template["retryStrategy"] = {"limit": str(job.retries), "retryPolicy": "Always"}
        return template

    def _inputs(self, job: Job, inputs: dict, mounts: list, volumes: list) -> None:
        for name, job_input in job.inputs.items():
            path = f"/inputs/{name}"
            source = job_input.source
            if job_input.type == "string":
                inputs["parameters"].append({"name": name})
                inputs["artifacts"].append(
                    {
                        "name": name,
                        "path": path,
                        "raw": {"data": f"{{{{inputs.parameters.{name}}}}}"},
                    }
                )
            elif job_input.type == "dataset":
                inputs["artifacts"].append(
                    {"name": name, "path": path, **self._location(self._input_key(job, name))}
                )
            elif source.kind == "job":
                claim = self.claim_names[(source.job, source.output)]
                mounts.append({"name": claim, "mountPath": path, "readOnly": True})
            else:
                volume = f"in-{len(volumes)}"
                volumes.append({"name": volume, "emptyDir": {}})
                mounts.append({"name": volume, "mountPath": path, "readOnly": True})

    def _outputs(self, job: Job, outputs: dict, mounts: list, volumes: list) -> None:
        for name, output in job.outputs.items():
            path = f"/outputs/{name}"
            if output.type == "string":
                outputs["parameters"].append({"name": name, "valueFrom": {"path": path}})
            elif output.type == "dataset":
                volume = f"out-{len(volumes)}"
                volumes.append({"name": volume, "emptyDir": {}})
                mounts.append({"name": volume, "mountPath": path})
                outputs["artifacts"].append(
                    {"name": name, "path": path, **self._location(self._output_key(job, name))}
                )
            else:
                mounts.append({"name": self.claim_names[(job.name, name)], "mountPath": path})

    def _location(self, key: str) -> dict:
        """An artifact's place: the cluster's S3 repository, or the namespace's default one."""
        if self.s3_base is None:
            return {"s3": {"key": key}}
        location = dict(self.s3_base)
        location["key"] = key
        return {"s3": location}

    def _input_key(self, job: Job, name: str) -> str:
        source = job.inputs[name].source
        if source.kind == "job" and source.job in self.reused:
            kept = self.reused[source.job][source.output]
            return dataset_version_key(self.key_prefix, kept.dataset_id, kept.version)
        if source.kind == "job":
            return self._output_key(self.spec.job(source.job), source.output)
        value = self.binding.resolved_inputs.job_input(self.spec, job, name)
        if value is not None and value.dataset is not None:
            pinned = value.dataset
            return dataset_version_key(self.key_prefix, pinned.dataset_id, pinned.version)
        if value is not None and value.ref:
            dataset, _, version = value.ref.partition(":")
            return f"{self.key_prefix}datasets/{dataset}/{version or 'latest'}.tgz"
        preview = source.workflow_input if source.kind == "workflow" else name
        return f"{self.key_prefix}inputs/{preview}.tgz"

    def _output_key(self, job: Job, name: str) -> str:
        key = self.output_keys.get((job.name, name))
        if key is None:
            key = self.output_keys[(job.name, name)] = self._new_output_key(job, name)
        return key

    def _new_output_key(self, job: Job, name: str) -> str:
        reserved = self.binding.output_versions.get(job.name, {}).get(name)
        if reserved is not None:
            return dataset_version_key(self.key_prefix, reserved.dataset_id, reserved.version)
        ref = job.outputs[name].with_["ref"].partition(":")[0]
        return f"{self.key_prefix}datasets/{ref}/new-version-of-{self.tasks[job.name]}.tgz"

    def _secret_ref(self, value: str, literal_key: str) -> dict:
        """A secretKeyRef to the run's Secret for ``secret:NAME`` or a literal value."""
        if value.startswith(_SECRET_PREFIX):
            name = value[len(_SECRET_PREFIX) :]
            self.secret_keys[name] = ("secret", name)
            return {"name": self.secret_name, "key": name}
        # Keys starting with "." cannot clash with secret names, which start
        # with a letter, a digit or "_".
        self.secret_keys[literal_key] = ("literal", value)
        return {"name": self.secret_name, "key": literal_key}

    def _env(self, job: Job) -> list[dict]:
        env = []
        for name, value in job.env.items():
            if value.startswith(_SECRET_PREFIX):
                reference = self._secret_ref(value, f".env.{name}")
                env.append({"name": name, "valueFrom": {"secretKeyRef": reference}})
            else:
                env.append({"name": name, "value": _literal(value)})
        return env

    def _container(self, job: Job, inputs: dict) -> dict:
        params = job.params
        if job.action == "container":
            container: dict = {"name": "main", "image": params["image"]}
            command = job.param_list("command")
            args = job.param_list("args")
            if command:
                container["command"] = [_literal(item) for item in command]
            if args:
                container["args"] = [_literal(item) for item in args]
            return container
        if job.action == "script":
            return {"image": params["image"], "command": ["bash"], "source": params["script"]}
        if job.action == "create-model":
            (output,) = [n for n, o in job.outputs.items() if o.type == "string"]
            model_id = self.binding.model_ids.get(job.name, PREVIEW_MODEL_ID)
            return self._tool(
                'printf \'%s\' "$0" > "$1"; echo "model id: $0"', model_id, f"/outputs/{output}"
            )
        target = self._fetch_target(job)
        if job.action == "git-checkout":
            inputs["artifacts"].append(
                {"name": self._fetch_artifact_name(job), "path": target, "git": self._git(job)}
            )
        else:
            inputs["artifacts"].append(
                {"name": self._fetch_artifact_name(job), "path": target, "s3": self._s3(job)}
            )
        return self._tool('echo "files in $0:"; find "$0" -type f | head -n 200', target)

    def _tool(self, script: str, *args: str) -> dict:
        """A container of the cluster's tool image running a short sh script."""
        return {
            "name": "main",
            "image": self.tool_image,
            "command": ["sh", "-c", _literal(script)],
            "args": [_literal(arg) for arg in args],
        }

    def _fetch_target(self, job: Job) -> str:
        """Where git-checkout and s3-download put files: ``path``, or the one folder output."""
        path = job.params.get("path")
        if path:
            relative = str(path).removeprefix("/outputs/").strip("/")
            return f"/outputs/{relative}"
        (name,) = [n for n, o in job.outputs.items() if o.type in ("dataset", "volume")]
        return f"/outputs/{name}"

    def _fetch_artifact_name(self, job: Job) -> str:
        name = "fetched"
        while name in job.inputs:
            name += "-files"
        return name

    def _git(self, job: Job) -> dict:
        params = job.params
        git: dict = {"repo": params["url"]}
        if params.get("ref"):
            git["revision"] = params["ref"]
        task = self.tasks[job.name]
        if params.get("username"):
            git["usernameSecret"] = self._secret_ref(params["username"], f".git-username.{task}")
        if params.get("password"):
            git["passwordSecret"] = self._secret_ref(params["password"], f".git-password.{task}")
        return git

    def _s3(self, job: Job) -> dict:
        params = job.params
        task = self.tasks[job.name]
        bucket, _, prefix = params["url"].removeprefix("s3://").partition("/")
        s3: dict = {"bucket": bucket, "key": prefix}
        endpoint = params.get("endpoint")
        if endpoint:
            s3["endpoint"] = re.sub(r"^[a-z]+://", "", endpoint).rstrip("/")
            s3["insecure"] = endpoint.startswith("http://")
        else:
            s3["endpoint"] = "s3.amazonaws.com"
        if params.get("region"):
            s3["region"] = params["region"]
        s3["accessKeySecret"] = self._secret_ref(params["access-key"], f".s3-access-key.{task}")
        s3["secretKeySecret"] = self._secret_ref(
            params["secret-access-key"], f".s3-secret-key.{task}"
        )
        return s3

    def _resources(self, job: Job, template: dict, container: dict) -> None:
        name = job.resources.instance_type or self.cluster.default_instance_type
        if not name:
            return
        if self.cluster.instance_types is None:
            template["metadata"]["annotations"][INSTANCE_TYPE_ANNOTATION] = name
            return
        shape = self.cluster.instance_types.get(name)
        if shape is None:
            return  # a problem instance_type_problems reported
        if shape.node_selector:
            template["nodeSelector"] = dict(shape.node_selector)
        if shape.tolerations:
            template["tolerations"] = [dict(item) for item in shape.tolerations]
        resources = self.shapes.get(name)
        if resources is None:
            resources = self.shapes[name] = _resource_requirements(shape)
        if resources:
            container["resources"] = {key: dict(value) for key, value in resources.items()}


def _resource_requirements(shape: InstanceType) -> dict:
    """Requests and limits of an instance type: explicit ones, or cpu/memory/gpu shorthand.

    CPU is a request only: a Kubernetes CPU limit throttles a job that the
    scheduler placed on a node with room to spare. Memory is both (a pod over
    its request may be evicted, one over its limit is killed), GPUs are
    counted in limits, as Kubernetes wants extended resources. ``pids`` has no
    per-container setting in Kubernetes (the kubelet's podPidsLimit is the
    node's), so it is the local engine's only.
    """
    requests = dict(shape.resources.get("requests") or {})
    limits = dict(shape.resources.get("limits") or {})
    if shape.cpu is not None:
        requests.setdefault("cpu", format_cpu(shape.cpu))
    if shape.memory_bytes is not None:
        requests.setdefault("memory", format_memory(shape.memory_bytes))
        limits.setdefault("memory", format_memory(shape.memory_bytes))
    if shape.gpu:
        gpu_resource = shape.gpu_resource or GPU_RESOURCE
        # Kubernetes takes extended resources such as GPUs in limits; a
        # request, when given, must be equal.
        limits.setdefault(gpu_resource, str(shape.gpu))
        requests.setdefault(gpu_resource, str(shape.gpu))
    resources = {}
    if requests:
        resources["requests"] = requests
    if limits:
        resources["limits"] = limits
    return resources


def compile_workflow(
    spec: WorkflowSpec,
    cluster: ClusterConfig | None = None,
    binding: RunBinding | None = None,
) -> Compiled:
    """The Argo Workflow of ``spec``; CompileError when it cannot run on ``cluster``."""
    return _Compiler(spec, cluster or ClusterConfig(), binding or RunBinding()).compile()
