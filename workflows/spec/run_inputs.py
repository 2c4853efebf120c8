"""Run-time inputs: the document a run is started with, merged over the spec's defaults.

The document is JSON or YAML (the CLI's ``--inputPath`` file)::

    {"inputs": {"data": {"id": "test-one"}, "echo": {"value": "hello world"}}}
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from .errors import Problems, SpecError, did_you_mean, one_of, sort_errors
from .model import WorkflowSpec
from .parse import gc_paused
from .values import check_keys, check_typed_with, expect_mapping
from .yaml_source import load_yaml

_DOCUMENT_KEYS = MappingProxyType({"inputs": "Values for the workflow's inputs, by name."})
_EXAMPLES = {"dataset": "{id: NAME}", "string": '{value: "..."}', "volume": "{}"}


@dataclass(frozen=True)
class RunInputsResult:
    """Each workflow input's value for a run, or every error in the inputs document.

    ``values`` maps each workflow input name to ``{"type": ..., "with": {...}}``
    (``with`` normalized: ``{"ref": ...}`` for a dataset, ``{"value": ...}``
    for a string, ``{}`` for a volume); None when there are errors.
    """

    values: dict[str, dict] | None
    errors: tuple[SpecError, ...]

    @property
    def valid(self) -> bool:
        return not self.errors


def resolve_run_inputs(spec: WorkflowSpec, text: str | None) -> RunInputsResult:
    """Merge a run's inputs document over ``spec``'s defaults. Never raises for any ``str``.

    ``text`` None, empty or only comments means no document: every input then
    needs a default in the spec.
    """
    if text is not None and not isinstance(text, str):
        message = f"the inputs document must be text, not {type(text).__name__}"
        return RunInputsResult(None, (SpecError("", 1, 1, message),))
    supplied: dict[str, dict] = {}
    rejected: set[str] = set()
    with gc_paused():
        loaded = load_yaml(text) if text and text.strip() else None
        if loaded is not None and loaded.aborted:
            return RunInputsResult(None, sort_errors(loaded.errors))
        problems = Problems(loaded.locator if loaded is not None else None)
        data = loaded.data if loaded is not None else None
        if data is not None:
            _read_document(spec, data, problems, supplied, rejected)
        for name, declared in spec.inputs.items():
            if name in supplied or name in rejected or declared.default is not None:
                continue
            problems.add(
                ("inputs", name),
                f'the run needs a value for input "{name}" ({declared.type}), which has no '
                f"default in the spec; supply it, e.g. inputs: {{{name}: "
                f"{_EXAMPLES[declared.type]}}}",
                at="root",
            )
        errors = sort_errors([*(loaded.errors if loaded is not None else ()), *problems.errors()])
    if errors:
        return RunInputsResult(None, errors)
    values = {
        name: {"type": declared.type, "with": dict(supplied.get(name, declared.default) or {})}
        for name, declared in spec.inputs.items()
    }
    return RunInputsResult(values, ())


def _read_document(
    spec: WorkflowSpec,
    data: object,
    problems: Problems,
    supplied: dict[str, dict],
    rejected: set[str],
) -> None:
    if not isinstance(data, dict):
        expect_mapping(data, (), problems, '{"inputs": {"NAME": {"value": "..."}}}')
        rejected.update(spec.inputs)
        return
    check_keys(data, _DOCUMENT_KEYS, (), problems)
    if "inputs" not in data:
        problems.add(
            ("inputs",),
            'the inputs document needs an `inputs:` mapping, e.g. {"inputs": {"NAME": '
            '{"value": "..."}}}',
            at="parent",
        )
        rejected.update(spec.inputs)
        return
    values = data["inputs"]
    if values is None:
        return
    if not expect_mapping(values, ("inputs",), problems, '{"NAME": {"value": "..."}}'):
        rejected.update(spec.inputs)
        return
    declared_names = list(spec.inputs)
    for name, value in values.items():
        path = ("inputs", name)
        declared = spec.inputs.get(name)
        if declared is None:
            tail = (
                f"its inputs are {one_of(declared_names)}"
                if declared_names
                else "it declares no inputs"
            )
            problems.add(
                path,
                f'the workflow has no input "{name}"; {tail}',
                did_you_mean(name, declared_names),
                at="key",
            )
            continue
        normalized = check_typed_with(declared.type, value, path, problems, present=True, name=name)
        if normalized is None:
            rejected.add(name)
        else:
            supplied[name] = normalized
