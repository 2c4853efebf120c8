"""Checks across jobs, once every job has been read and the needs graph is known.

References from a job's inputs to workflow inputs and to other jobs' outputs
get their types here; the actions' rules about a job's inputs and outputs come
after, because they need those types.
"""

from __future__ import annotations

from .actions import Action
from .errors import Path, Problems, did_you_mean, format_path, one_of
from .jobs import InputFacts, JobFacts

_OUTPUT_DIR = "/outputs/"


class LinkChecker:
    """Resolves input references and applies the actions' rules, job by job."""

    def __init__(
        self,
        problems: Problems,
        jobs: list[JobFacts],
        workflow_input_types: dict[str, str | None],
        has_inputs: bool,
    ) -> None:
        self.problems = problems
        self.by_name = {job.name: job for job in jobs}
        self.names = [job.name for job in jobs]
        self.workflow_input_types = workflow_input_types
        self.has_inputs = has_inputs

    def resolve_inputs(self, facts: JobFacts) -> None:
        """Give each input that refers elsewhere its type, reporting dangling references."""
        if not facts.inputs:
            return
        problems = self.problems
        for name, spec in facts.inputs.items():
            path = ("jobs", facts.name, "inputs", name)
            if spec.kind == "workflow":
                self._workflow_ref(spec, path)
            elif spec.kind == "job":
                self._job_ref(facts, spec, path, problems)

    def _workflow_ref(self, spec: InputFacts, path: Path) -> None:
        ref = spec.first
        types = self.workflow_input_types
        if ref in types:
            spec.type = types[ref]
            return
        if not self.has_inputs:
            message = (
                f'there is no workflow input "{ref}": the spec has no top-level `inputs:`; '
                f"declare it there, e.g. inputs: {{{ref}: {{type: dataset}}}}"
            )
        else:
            message = (
                f'there is no workflow input "{ref}"; declared inputs are {one_of(list(types))}'
                if types
                else f'there is no workflow input "{ref}"; declare it under the top-level `inputs:`'
            )
        self.problems.add(path, message, did_you_mean(ref, types))

    def _job_ref(self, facts: JobFacts, spec: InputFacts, path: Path, problems: Problems) -> None:
        target = self.by_name.get(spec.first)
        if target is None:
            problems.add(
                path,
                f'{format_path(path)} reads from job "{spec.first}", but there is no job '
                "called that",
                did_you_mean(spec.first, self.by_name),
            )
            return
        if target is facts:
            problems.add(
                path,
                f"jobs.{facts.name} cannot read its own output; a job reads what it "
                "wrote under /outputs directly, and later jobs read it through `inputs`",
            )
            return
        if facts.needs_ok and not (facts.upstream >> target.index) & 1:
            listed = [self.names[i] for i in facts.edges] + [target.name]
            problems.add(
                path,
                f"jobs.{facts.name} reads an output of {target.name}, but {target.name} is not "
                f"in its needs (directly or through another job); add {target.name} to needs",
                f"needs: [{', '.join(listed)}]",
            )
        if target.outputs is None:
            return
        if spec.second not in target.outputs:
            declared = list(target.outputs)
            tail = f"its outputs are {one_of(declared)}" if declared else "it declares no outputs"
            problems.add(
                path,
                f'job {target.name} has no output "{spec.second}"; {tail}',
                did_you_mean(spec.second, declared),
            )
            return
        spec.type = target.outputs[spec.second]

    def check_action_rules(self, facts: JobFacts) -> None:
        """The rules of actions about a job's inputs and outputs."""
        action = facts.action
        if action is None:
            return
        if action.writes_into_output:
            self._writes_into_output(facts, action)
        if action.registers_model:
            self._registers_model(facts, action)

    def _writes_into_output(self, facts: JobFacts, action: Action) -> None:
        outputs = facts.outputs
        if outputs is None or None in outputs.values():
            return
        problems = self.problems
        path: Path = ("jobs", facts.name)
        targets = [name for name, kind in outputs.items() if kind in ("volume", "dataset")]
        if not targets:
            problems.add(
                (*path, "outputs"),
                f"{action.uses} writes into a volume or dataset output of the job; add one, "
                "e.g. outputs: {repo: {type: volume}}",
                at="key",
            )
            return
        where = facts.params.get("path")
        if not isinstance(where, str):
            if len(targets) > 1 and "path" not in facts.params:
                problems.add(
                    (*path, "with", "path"),
                    f"jobs.{facts.name} has {len(targets)} volume or dataset outputs "
                    f"({one_of(targets)}); set `path` in `with` to say where {action.uses} "
                    f"writes, e.g. path: {targets[0]}",
                    at="parent",
                )
            return
        relative = where[len(_OUTPUT_DIR) :] if where.startswith(_OUTPUT_DIR) else where
        parts = relative.rstrip("/").split("/")
        path_path = (*path, "with", "path")
        if relative.startswith("/") or any(part in ("", ".", "..") for part in parts):
            problems.add(
                path_path,
                f'{format_path(path_path)} "{where}" must be a relative path under /outputs '
                f"without '.' or '..', e.g. {targets[0]}/src",
            )
        elif parts[0] not in targets:
            problems.add(
                path_path,
                f'{format_path(path_path)} "{where}" must start with the name of one of the '
                f"job's volume or dataset outputs ({one_of(targets)})",
                did_you_mean(parts[0], targets),
            )

    def _registers_model(self, facts: JobFacts, action: Action) -> None:
        problems = self.problems
        path: Path = ("jobs", facts.name)
        if facts.inputs is not None:
            model = facts.inputs.get("model")
            if model is None:
                problems.add(
                    (*path, "inputs", "model"),
                    f'{action.uses} registers the model from a dataset input named "model"; '
                    "add inputs: {model: JOB.outputs.NAME}",
                    at="parent",
                )
            elif model.type not in (None, "dataset"):
                problems.add(
                    (*path, "inputs", "model"),
                    f'the input "model" of {action.uses} must be a dataset, not a {model.type}',
                )
        outputs = facts.outputs
        if outputs is None or None in outputs.values():
            return
        strings = [name for name, kind in outputs.items() if kind == "string"]
        if len(strings) != 1:
            problems.add(
                (*path, "outputs"),
                f"{action.uses} writes the model's id to a single string output; "
                f"jobs.{facts.name} has {len(strings)}"
                + ("" if strings else "; add e.g. outputs: {model-id: {type: string}}"),
                at="key",
            )
