"""Building the typed model from the facts the validator gathered."""

from __future__ import annotations

from .actions import Action, all_actions
from .jobs import InputFacts, JobFacts
from .keys import SECRET_PREFIX
from .model import (
    Defaults,
    InputSource,
    Job,
    JobInput,
    JobOutput,
    Resources,
    Trigger,
    WorkflowInput,
    WorkflowSpec,
    trusted,
)

_SECRET_PARAMS = {
    action: frozenset(p.name for p in action.params if p.secret != "no") for action in all_actions()
}
_PREFIX_LENGTH = len(SECRET_PREFIX)


def build_spec(
    data: dict,
    facts: list[JobFacts],
    order: tuple[int, ...],
    defaults: Defaults,
    workflow_inputs: dict[str, WorkflowInput | None],
    trigger: Trigger | None,
) -> WorkflowSpec:
    """The typed model of a spec that passed every check, jobs in ``order``."""
    names = tuple(job.name for job in facts)
    default_env = defaults.env
    default_resources = defaults.resources
    # Inputs that read the same workflow input or job output are equal immutable
    # values; one object serves every job that has them.
    shared_inputs: dict[tuple, JobInput] = {}
    shared_sources: dict[tuple, InputSource] = {}
    jobs = []
    for index in order:
        job = facts[index]
        action: Action = job.action
        env = {**default_env, **job.env} if default_env else dict(job.env)
        secrets = {
            value[_PREFIX_LENGTH:] for value in env.values() if value.startswith(SECRET_PREFIX)
        }
        params = dict(job.params)
        for key, value in params.items():
            if value.__class__ is list:
                params[key] = list(value)
        for key in _SECRET_PARAMS[action].intersection(params):
            value = params[key]
            if value.startswith(SECRET_PREFIX):
                secrets.add(value[_PREFIX_LENGTH:])
        inputs = {}
        for name, spec in job.inputs.items():
            if spec.kind == "inline":
                inputs[name] = _inline_input(name, spec)
                continue
            key = (name, spec.kind, spec.first, spec.second)
            shared = shared_inputs.get(key)
            if shared is None:
                source_key = key[1:]
                source = shared_sources.get(source_key)
                if source is None:
                    source = shared_sources[source_key] = _reference_source(spec)
                shared = shared_inputs[key] = trusted(
                    JobInput, {"name": name, "type": spec.type, "source": source}
                )
            inputs[name] = shared
        outputs = {
            name: trusted(JobOutput, {"name": name, "type": kind, "with_": with_})
            for name, (kind, with_) in job.outputs_with.items()
        }
        jobs.append(
            trusted(
                Job,
                {
                    "name": job.name,
                    "uses": action.uses,
                    "action": action.name,
                    "action_version": action.version,
                    "params": params,
                    "needs": tuple([names[i] for i in job.edges]),
                    "inputs": inputs,
                    "outputs": outputs,
                    "env": env,
                    "resources": _merged_resources(job, default_resources),
                    "timeout_seconds": job.timeout,
                    "retries": job.retries,
                    "secret_names": tuple(sorted(secrets)),
                    "_upstream_mask": job.upstream,
                    "_job_names": names,
                },
            )
        )
    return WorkflowSpec(
        jobs=tuple(jobs),
        inputs={name: spec for name, spec in workflow_inputs.items() if spec is not None},
        defaults=defaults,
        on=trigger,
        data=data,
    )


def _merged_resources(job: JobFacts, defaults: Resources) -> Resources:
    """The job's resources over the defaults, key by key."""
    own = job.resources
    if own is None:
        return defaults
    if not (defaults.instance_type or defaults.container_registries):
        return own
    return Resources(
        instance_type=own.instance_type or defaults.instance_type,
        container_registries=(
            own.container_registries if job.has_registries else defaults.container_registries
        ),
    )


def _reference_source(spec: InputFacts) -> InputSource:
    workflow = spec.kind == "workflow"
    return trusted(
        InputSource,
        {
            "kind": spec.kind,
            "workflow_input": spec.first if workflow else None,
            "job": None if workflow else spec.first,
            "output": None if workflow else spec.second,
            "with_": None,
        },
    )


def _inline_input(name: str, spec: InputFacts) -> JobInput:
    return JobInput(name, spec.type, InputSource("inline", with_=dict(spec.with_ or {})))
