"""Checks of one job, and of env and resources (shared with ``defaults``)."""

from __future__ import annotations

import json
import re

from .actions import ACTION_USES, ACTIONS, Action, check_params
from .durations import MAX_TIMEOUT_SECONDS, format_duration, parse_duration
from .errors import Path, Problems, describe, did_you_mean, format_path, one_of, quoted_example
from .keys import (
    DATASET_REF_RE,
    ENV_NAME_RE,
    GITHUB_ACTIONS_ADVICE,
    INLINE_INPUT_KEYS,
    JOB_KEYS,
    JOB_OUTPUT_REF_RE,
    MAX_NAME_LENGTH,
    MAX_RETRIES,
    NAME_RE,
    OUTPUT_KEYS,
    RESOURCES_KEYS,
    SECRET_PREFIX,
    TOP_LEVEL_KEYS,
    USES_RE,
    VALUE_TYPES,
    WORKFLOW_INPUT_REF_RE,
)
from .model import Resources
from .values import (
    check_keys,
    check_name,
    check_secret_reference,
    check_type,
    check_typed_with,
    expect_mapping,
    expect_string,
    not_a_string,
)

_JOB_ADVICE = {
    **GITHUB_ACTIONS_ADVICE,
    **{
        key: f'"{key}" belongs at the top level of the spec, not in a job'
        for key in TOP_LEVEL_KEYS
        if key not in JOB_KEYS
    },
}
_BY_USES = {action.uses: action for versions in ACTIONS.values() for action in versions.values()}
_OUTPUT_KEYS = frozenset(OUTPUT_KEYS)
_JOB_KEY_SET = frozenset(JOB_KEYS)
_NEAR_MISS_REFS = (
    (re.compile(r"^inputs\.([^.]+)$"), "workflow.inputs.{0}"),
    (re.compile(r"^workflows?\.inputs?\.([^.]+)$"), "workflow.inputs.{0}"),
    (re.compile(r"^([^.]+)\.output\.([^.]+)$"), "{0}.outputs.{1}"),
    (re.compile(r"^jobs\.([^.]+)\.outputs?\.([^.]+)$"), "{0}.outputs.{1}"),
)


class InputFacts:
    """A job input as written: its source and, once known, its type.

    ``kind`` is workflow, job or inline; ``first`` is the workflow input or the
    job, ``second`` the job's output; ``with_`` the normalized inline value.
    """

    __slots__ = ("kind", "type", "first", "second", "with_")

    def __init__(
        self,
        kind: str,
        type_: str | None,
        first: str | None,
        second: str | None,
        with_: dict | None,
    ) -> None:
        self.kind = kind
        self.type = type_
        self.first = first
        self.second = second
        self.with_ = with_


class JobFacts:
    """What checking one job found, for the graph checks and the model."""

    __slots__ = (
        "name",
        "index",
        "action",
        "params",
        "needs_items",
        "needs_ok",
        "edges",
        "need_positions",
        "upstream",
        "inputs",
        "outputs",
        "outputs_with",
        "env",
        "resources",
        "has_registries",
        "timeout",
        "retries",
    )

    def __init__(self, name: str, index: int) -> None:
        self.name = name
        self.index = index
        self.action: Action | None = None
        self.params: dict = {}
        self.needs_items: list[tuple[int, str]] = []
        self.needs_ok = True
        self.edges: tuple[int, ...] = ()
        self.need_positions: dict[int, int] = {}
        self.upstream = 0
        self.inputs: dict[str, InputFacts] | None = {}
        """None when `inputs` could not be read."""
        self.outputs: dict[str, str | None] | None = {}
        """Output name -> type (None if unreadable); None when `outputs` could not be read."""
        self.outputs_with: dict[str, tuple[str, dict]] = {}
        self.env: dict[str, str] = {}
        self.resources: Resources | None = None
        self.has_registries = False
        self.timeout: int | None = None
        self.retries = 0


def check_env(value: object, path: Path, problems: Problems) -> dict[str, str] | None:
    """An env mapping: names like shell variables, values strings or secret:NAME."""
    if not expect_mapping(value, path, problems, "env: {MODE: fast}"):
        return None
    ok = True
    for name, item in value.items():
        item_path = (*path, name)
        if not ENV_NAME_RE.match(name):
            ok = False
            problems.add(
                item_path,
                f'env name "{name}" is not valid; use letters, digits and "_", '
                "not starting with a digit",
                at="key",
            )
        if isinstance(item, str):
            if item.startswith(SECRET_PREFIX) and not check_secret_reference(
                item, item_path, problems
            ):
                ok = False
            continue
        ok = False
        problems.add(item_path, _env_value_message(name, item, item_path, problems))
    return value if ok else None


def _env_value_message(name: str, value: object, path: Path, problems: Problems) -> str:
    example = quoted_example(problems.source(path), value)
    if example is None:
        if value is None:
            return f"env value for \"{name}\" is empty; write {name}: '' for an empty string"
        return f'env value for "{name}" must be a string, not {describe(value)}'
    text = json.loads(example)
    written = f"'{text}'" if "'" not in text else example
    return (
        f'env value for "{name}" must be a string; quote it: {name}: {written} '
        f"(unquoted, YAML reads it as {describe(value)})"
    )


def check_resources(value: object, path: Path, problems: Problems) -> Resources | None:
    """``resources``: instance-type and container-registries."""
    if not expect_mapping(value, path, problems, "resources: {instance-type: C4}"):
        return None
    check_keys(value, RESOURCES_KEYS, path, problems)
    ok = True
    instance_type = None
    if "instance-type" in value:
        instance_type = expect_string(value["instance-type"], (*path, "instance-type"), problems)
        ok = instance_type is not None
    registries: list[str] = []
    if "container-registries" in value:
        items = value["container-registries"]
        item_path = (*path, "container-registries")
        if isinstance(items, list):
            for index, item in enumerate(items):
                name = expect_string(item, (*item_path, index), problems)
                if name is None:
                    ok = False
                else:
                    registries.append(name)
        else:
            ok = False
            example = f"[{items}]" if isinstance(items, str) else "[my-registry]"
            problems.add(
                item_path,
                f"{format_path(item_path)} must be a list of registry names, "
                f"not {describe(items)}; write container-registries: {example}",
            )
    if not ok:
        return None
    return Resources(instance_type=instance_type, container_registries=tuple(registries))


class JobChecker:
    """Checks jobs one by one: everything that does not depend on other jobs."""

    def __init__(self, problems: Problems) -> None:
        self.problems = problems

    def check(self, index: int, name: str, body: object) -> JobFacts:
        """Check the job ``name`` (the ``index``-th in the document) and gather its facts."""
        facts = JobFacts(name, index)
        problems = self.problems
        path: Path = ("jobs", name)
        if not NAME_RE.match(name) or len(name) > MAX_NAME_LENGTH:
            check_name(name, path, problems, "job")
        if not isinstance(body, dict):
            problems.add(
                path,
                f"jobs.{name} must be a mapping with `uses:` and its settings, "
                f"not {describe(body)}",
            )
            facts.inputs = facts.outputs = None
            return facts
        if not body.keys() <= _JOB_KEY_SET:
            check_keys(body, JOB_KEYS, path, problems, _JOB_ADVICE)
        facts.action = self._uses(body, path)
        if facts.action is not None:
            params = check_params(facts.action, body.get("with", {}), (*path, "with"), problems)
            facts.params = params if params is not None else {}
        elif "with" in body:
            expect_mapping(body["with"], (*path, "with"), problems)
        if "needs" in body:
            self._needs(facts, body["needs"], (*path, "needs"))
        if "inputs" in body:
            self._inputs(facts, body["inputs"], (*path, "inputs"))
        if "outputs" in body:
            self._outputs(facts, body["outputs"], (*path, "outputs"))
        if "env" in body:
            facts.env = check_env(body["env"], (*path, "env"), problems) or {}
        if "resources" in body:
            facts.resources = check_resources(body["resources"], (*path, "resources"), problems)
            facts.has_registries = isinstance(body["resources"], dict) and (
                "container-registries" in body["resources"]
            )
        if "timeout" in body:
            facts.timeout = self._timeout(body["timeout"], (*path, "timeout"))
        if "retries" in body:
            facts.retries = self._retries(body["retries"], (*path, "retries"))
        if "uses" not in body:
            problems.add(
                (*path, "uses"),
                f"jobs.{name} needs `uses:` naming its action, e.g. uses: container@v1",
                at="parent",
            )
        return facts

    def _uses(self, body: dict, path: Path) -> Action | None:
        if "uses" not in body:
            return None
        uses = body["uses"]
        if uses.__class__ is str:
            action = _BY_USES.get(uses)
            if action is not None:
                return action
        problems = self.problems
        uses_path = (*path, "uses")
        value = expect_string(body["uses"], uses_path, problems)
        if value is None:
            return None
        match = USES_RE.match(value.strip())
        if match is None:
            if value.strip() in ACTIONS:
                versions = ", ".join(f"v{v}" for v in ACTIONS[value.strip()])
                problems.add(
                    uses_path,
                    f'uses "{value}" needs a version: write {value.strip()}@v1 '
                    f"(versions: {versions})",
                )
            else:
                problems.add(
                    uses_path,
                    f'uses "{value}" must look like NAME@vN, e.g. container@v1; '
                    f"known actions are {one_of(ACTION_USES)}",
                    did_you_mean(value, ACTION_USES),
                )
            return None
        name, version = match.group(1), int(match.group(2))
        versions = ACTIONS.get(name)
        if versions is None:
            problems.add(
                uses_path,
                f'unknown action "{name}"; known actions are {one_of(list(ACTIONS))}',
                did_you_mean(name, ACTIONS),
            )
            return None
        action = versions.get(version)
        if action is None:
            supported = one_of([f"{name}@v{v}" for v in versions])
            problems.add(
                uses_path, f"{name}@v{version} does not exist; supported versions: {supported}"
            )
        return action

    def _needs(self, facts: JobFacts, value: object, path: Path) -> None:
        problems = self.problems
        if isinstance(value, list):
            for position, item in enumerate(value):
                if isinstance(item, str):
                    facts.needs_items.append((position, item))
                else:
                    facts.needs_ok = False
                    problems.add((*path, position), not_a_string(item, (*path, position), problems))
            return
        facts.needs_ok = False
        if isinstance(value, str):
            problems.add(
                path,
                f"{format_path(path)} must be a list of job names; write needs: [{value}]",
            )
        else:
            problems.add(
                path,
                f"{format_path(path)} must be a list of job names, not {describe(value)}",
            )

    def _inputs(self, facts: JobFacts, value: object, path: Path) -> None:
        problems = self.problems
        if not expect_mapping(value, path, problems, "inputs: {data: workflow.inputs.data}"):
            facts.inputs = None
            return
        inputs = facts.inputs
        workflow_ref = WORKFLOW_INPUT_REF_RE.match
        job_ref = JOB_OUTPUT_REF_RE.match
        for name, entry in value.items():
            if not NAME_RE.match(name) or len(name) > MAX_NAME_LENGTH:
                check_name(name, (*path, name), problems, "input")
            if entry.__class__ is str:
                match = workflow_ref(entry)
                if match is not None:
                    inputs[name] = InputFacts("workflow", None, match.group(1), None, None)
                    continue
                match = job_ref(entry)
                if match is not None:
                    inputs[name] = InputFacts("job", None, *match.groups(), None)
                    continue
            elif isinstance(entry, dict):
                inline = self._inline_input(entry, (*path, name))
                if inline is not None:
                    inputs[name] = inline
                continue
            self._bad_input(entry, (*path, name))

    def _bad_input(self, entry: object, path: Path) -> None:
        hint = None
        if isinstance(entry, str):
            for pattern, template in _NEAR_MISS_REFS:
                near = pattern.match(entry)
                if near is not None:
                    hint = f'did you mean "{template.format(*near.groups())}"?'
                    break
        self.problems.add(
            path,
            f"{format_path(path)} must be workflow.inputs.NAME, JOB.outputs.NAME "
            "or an inline {type: ..., with: ...}, not "
            + (f'"{entry}"' if isinstance(entry, str) else describe(entry)),
            hint,
        )

    def _inline_input(self, entry: dict, path: Path) -> InputFacts | None:
        problems = self.problems
        check_keys(entry, INLINE_INPUT_KEYS, path, problems)
        if "type" not in entry:
            problems.add(
                (*path, "type"),
                f"an inline input needs `type:` ({one_of(VALUE_TYPES)})",
                at="parent",
            )
            return None
        kind = check_type(entry["type"], (*path, "type"), problems)
        if kind is None:
            return None
        with_ = check_typed_with(
            kind,
            entry.get("with"),
            (*path, "with"),
            problems,
            present="with" in entry,
            name=path[-1],
        )
        if with_ is None:
            return None
        return InputFacts("inline", kind, None, None, with_)

    def _outputs(self, facts: JobFacts, value: object, path: Path) -> None:
        problems = self.problems
        if not expect_mapping(value, path, problems, "outputs: {result: {type: string}}"):
            facts.outputs = None
            return
        outputs = facts.outputs
        outputs_with = facts.outputs_with
        for name, entry in value.items():
            if (
                entry.__class__ is dict
                and NAME_RE.match(name)
                and len(name) <= MAX_NAME_LENGTH
                and entry.keys() <= _OUTPUT_KEYS
            ):
                # The common, valid shapes, without building paths or messages.
                kind = entry.get("type")
                if kind == "string" or kind == "volume":
                    with_ = entry.get("with")
                    if with_ is None or with_ == {}:
                        outputs[name] = kind
                        outputs_with[name] = (kind, {})
                        continue
                elif kind == "dataset":
                    with_ = entry.get("with")
                    if with_.__class__ is dict and len(with_) == 1:
                        ref = with_.get("ref", with_.get("id"))
                        if ref.__class__ is str and ":" not in ref and DATASET_REF_RE.match(ref):
                            outputs[name] = kind
                            outputs_with[name] = (kind, {"ref": ref})
                            continue
            entry_path = (*path, name)
            check_name(name, entry_path, problems, "output")
            outputs[name] = None
            if not expect_mapping(entry, entry_path, problems, "{type: volume}"):
                continue
            check_keys(entry, OUTPUT_KEYS, entry_path, problems)
            if "type" not in entry:
                problems.add(
                    (*entry_path, "type"),
                    f"output {name} needs `type:` ({one_of(VALUE_TYPES)})",
                    at="parent",
                )
                continue
            kind = check_type(entry["type"], (*entry_path, "type"), problems)
            if kind is None:
                continue
            outputs[name] = kind
            with_ = check_typed_with(
                kind,
                entry.get("with"),
                (*entry_path, "with"),
                problems,
                present="with" in entry,
                output=True,
                name=name,
            )
            if with_ is not None:
                outputs_with[name] = (kind, with_)

    def _timeout(self, value: object, path: Path) -> int | None:
        problems = self.problems
        where = format_path(path)
        if isinstance(value, int) and not isinstance(value, bool):
            problems.add(
                path,
                f"{where} needs a unit: write {value}s for seconds or {value}m for minutes",
            )
            return None
        if not isinstance(value, str):
            problems.add(
                path, f"{where} must be a duration such as 30m, 90s or 1h30m, not {describe(value)}"
            )
            return None
        seconds = parse_duration(value)
        if seconds is None:
            problems.add(
                path,
                f'{where} "{value}" is not a duration; write a number with a unit '
                "(d, h, m, s), e.g. 90s, 30m, 2h or 1h30m",
            )
            return None
        if seconds <= 0:
            problems.add(path, f"{where} must be longer than 0s")
            return None
        if seconds > MAX_TIMEOUT_SECONDS:
            problems.add(
                path, f"{where} must be at most {format_duration(MAX_TIMEOUT_SECONDS)} (7 days)"
            )
            return None
        return seconds

    def _retries(self, value: object, path: Path) -> int:
        problems = self.problems
        where = format_path(path)
        if isinstance(value, bool) or not isinstance(value, int):
            tip = ""
            if isinstance(value, str) and value.strip().isdigit():
                tip = f"; write retries: {value.strip()} without quotes"
            problems.add(
                path,
                f"{where} must be a whole number from 0 to {MAX_RETRIES}, "
                f"not {describe(value)}{tip}",
            )
            return 0
        if not 0 <= value <= MAX_RETRIES:
            problems.add(path, f"{where} must be from 0 to {MAX_RETRIES}, not {value}")
            return 0
        return value
