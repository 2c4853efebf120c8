"""Which specs of a pushed commit run, and the problems of those that cannot: no ORM, no git."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from triggers.client import SpecFile
from workflows.spec import SpecError, parse_spec


@dataclass(frozen=True)
class SpecCandidate:
    """A valid spec at the pushed commit whose `on` names the pushed branch."""

    path: str
    workflow: str
    text: str


def _declared_branches(data: object) -> tuple[str, ...] | None:
    """The branches an invalid spec's `on` names; () without `on`; None when it cannot be told."""
    if not isinstance(data, dict):
        return None
    if "on" not in data:
        return ()
    value = data["on"]
    for key in ("github", "branches", "only"):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return tuple(value)
    return None


def branches_named(files: list[SpecFile]) -> set[str]:
    """Every branch that the `on.github.branches.only` of one of the spec files names."""
    named: set[str] = set()
    for file in files:
        if file.problem:
            continue
        try:
            result = parse_spec(file.content.decode("utf-8-sig"))
        except UnicodeDecodeError:
            continue
        if result.valid:
            named.update(result.spec.on.branches if result.spec.on else ())
        else:
            named.update(_declared_branches(result.data) or ())
    return named


def problem(
    path: str | None,
    workflow: str | None,
    message: str,
    *,
    errors: Iterable[SpecError] = (),
    document: str = "spec",
) -> dict:
    """An entry of PushTrigger.errors: a file (None: the whole push), why it started nothing."""
    return {
        "file": path,
        "workflow": workflow,
        "message": message,
        "errors": [{**error.as_dict(), "document": document} for error in errors],
    }


def specs_for_branch(files: list[SpecFile], branch: str) -> tuple[list[SpecCandidate], list[dict]]:
    """The specs to run for a push to `branch`, and the problems of those that cannot run.

    An invalid spec counts when its `on` names the branch, or when it is too
    broken to tell which branches it names: a push must never drop a spec
    without saying so. Specs for other branches are not this push's business.
    """
    candidates: list[SpecCandidate] = []
    problems: list[dict] = []
    seen: dict[str, str] = {}
    for file in files:
        name = file.workflow_name
        if file.problem:
            problems.append(problem(file.path, name, file.problem))
            continue
        try:
            text = file.content.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            problems.append(
                problem(file.path, name, f"the spec is not UTF-8 text (byte {error.start})")
            )
            continue
        result = parse_spec(text)
        if result.valid:
            branches = result.spec.on.branches if result.spec.on else ()
        else:
            branches = _declared_branches(result.data)
        if branches is not None and branch not in branches:
            continue
        if name in seen:
            problems.append(
                problem(
                    file.path,
                    name,
                    f'{seen[name]} already runs as workflow "{name}" on this branch; '
                    "rename one of the two files",
                )
            )
            continue
        seen[name] = file.path
        if not result.valid:
            problems.append(problem(file.path, name, "the spec is not valid", errors=result.errors))
            continue
        candidates.append(SpecCandidate(path=file.path, workflow=name, text=text))
    return candidates, problems
