"""Validation of a whole spec, from plain data to a typed model.

The order matters for useful messages: each job is checked on its own first,
then the `needs` graph (unknown names, cycles, upstream sets), then what
depends on it (inputs that read other jobs' outputs, the actions' rules about
inputs and outputs). Problems found early are not reported again as
consequences later: a typo in `needs` is one error, not also a cycle or an
"add it to needs".
"""

from __future__ import annotations

from .build import build_spec
from .errors import Path, Problems, describe, did_you_mean, format_path, one_of
from .graph import NeedsGraph
from .jobs import JobChecker, JobFacts, check_env, check_resources
from .keys import (
    BRANCHES_KEYS,
    DEFAULTS_KEYS,
    GITHUB_ACTIONS_ADVICE,
    GITHUB_KEYS,
    JOB_KEYS,
    ON_ADVICE,
    ON_KEYS,
    TOP_LEVEL_ADVICE,
    TOP_LEVEL_KEYS,
    WORKFLOW_INPUT_KEYS,
)
from .links import LinkChecker
from .model import Defaults, Resources, Trigger, WorkflowInput, WorkflowSpec
from .values import (
    check_keys,
    check_name,
    check_type,
    check_typed_with,
    expect_mapping,
    expect_string,
)

_TOP_LEVEL_ADVICE = {
    **GITHUB_ACTIONS_ADVICE,
    **{
        key: f'"{key}" is a job key; put it under jobs.NAME'
        for key in JOB_KEYS
        if key not in TOP_LEVEL_KEYS
    },
    **TOP_LEVEL_ADVICE,
}


def validate_spec(
    data: object, problems: Problems, *, max_jobs: int | None = None
) -> WorkflowSpec | None:
    """Check a whole document; the typed spec when nothing is wrong, else None.

    A spec with more than ``max_jobs`` jobs is one error at its ``jobs:`` key,
    and its jobs are not checked one by one: what to fix is the count.
    """
    if data is None:
        problems.add((), "the spec is empty; it needs at least a `jobs:` mapping")
        return None
    if not isinstance(data, dict):
        problems.add(
            (),
            f"the spec must be a mapping with a `jobs:` key, not {describe(data)}",
        )
        return None
    return _SpecValidator(data, problems, max_jobs).run()


class _SpecValidator:
    def __init__(self, data: dict, problems: Problems, max_jobs: int | None = None) -> None:
        self.data = data
        self.problems = problems
        self.max_jobs = max_jobs
        self.workflow_inputs: dict[str, WorkflowInput | None] = {}

    def run(self) -> WorkflowSpec | None:
        data = self.data
        problems = self.problems
        check_keys(data, TOP_LEVEL_KEYS, (), problems, _TOP_LEVEL_ADVICE)
        defaults = self.defaults(data["defaults"]) if "defaults" in data else Defaults()
        if "inputs" in data:
            self.inputs(data["inputs"])
        trigger = self.trigger(data["on"]) if "on" in data else None
        if "jobs" not in data:
            problems.add(
                ("jobs",), "the spec needs a `jobs:` mapping with at least one job", at="parent"
            )
            return None
        jobs = data["jobs"]
        if not expect_mapping(jobs, ("jobs",), problems, "jobs: {hello: {uses: container@v1}}"):
            return None
        if not jobs:
            problems.add(("jobs",), "jobs is empty; add at least one job")
            return None
        if self.max_jobs is not None and len(jobs) > self.max_jobs:
            problems.add(
                ("jobs",),
                f"the spec has {len(jobs):,} jobs; a run has at most {self.max_jobs:,} on this "
                "server (MAX_JOBS_PER_RUN): split it into several workflows",
                at="key",
            )
            return None
        types = {
            name: (spec.type if spec is not None else None)
            for name, spec in self.workflow_inputs.items()
        }
        checker = JobChecker(problems)
        facts = [
            checker.check(index, name, body) for index, (name, body) in enumerate(jobs.items())
        ]
        order = self.graph(facts)
        links = LinkChecker(problems, facts, types, "inputs" in data)
        for job in facts:
            links.resolve_inputs(job)
        for job in facts:
            links.check_action_rules(job)
        if problems or order is None or defaults is None:
            return None
        return build_spec(self.data, facts, order, defaults, self.workflow_inputs, trigger)

    def defaults(self, value: object) -> Defaults | None:
        path: Path = ("defaults",)
        problems = self.problems
        if not expect_mapping(value, path, problems, "defaults: {env: {MODE: fast}}"):
            return None
        check_keys(value, DEFAULTS_KEYS, path, problems)
        cluster_id = None
        if "clusterId" in value:
            cluster_id = expect_string(value["clusterId"], (*path, "clusterId"), problems)
        env = check_env(value["env"], (*path, "env"), problems) if "env" in value else {}
        resources = (
            check_resources(value["resources"], (*path, "resources"), problems)
            if "resources" in value
            else Resources()
        )
        if env is None or resources is None:
            return None
        return Defaults(cluster_id=cluster_id, env=dict(env), resources=resources)

    def inputs(self, value: object) -> None:
        path: Path = ("inputs",)
        problems = self.problems
        if not expect_mapping(value, path, problems, "inputs: {data: {type: dataset}}"):
            return
        for name, entry in value.items():
            entry_path = (*path, name)
            self.workflow_inputs[name] = None
            check_name(name, entry_path, problems, "input")
            if not expect_mapping(
                entry, entry_path, problems, "{type: dataset, with: {ref: NAME}}"
            ):
                continue
            check_keys(entry, WORKFLOW_INPUT_KEYS, entry_path, problems)
            if "type" not in entry:
                problems.add(
                    (*entry_path, "type"),
                    f"input {name} needs `type:` ({one_of(['dataset', 'string', 'volume'])})",
                    at="parent",
                )
                continue
            kind = check_type(entry["type"], (*entry_path, "type"), problems)
            if kind is None:
                continue
            default = check_typed_with(
                kind,
                entry.get("with"),
                (*entry_path, "with"),
                problems,
                present="with" in entry,
                required=False,
                name=name,
            )
            if "with" in entry and default is None:
                continue
            self.workflow_inputs[name] = WorkflowInput(name, kind, default)

    def trigger(self, value: object) -> Trigger | None:
        problems = self.problems
        example = "on: {github: {branches: {only: main}}}"
        path: Path = ("on",)
        for keys, advice in ((ON_KEYS, ON_ADVICE), (GITHUB_KEYS, None), (BRANCHES_KEYS, None)):
            if not expect_mapping(value, path, problems, example):
                return None
            check_keys(value, keys, path, problems, advice)
            (key,) = keys
            if key not in value:
                problems.add(
                    (*path, key), f"{format_path(path)} needs `{key}:`, e.g. {example}", at="parent"
                )
                return None
            path = (*path, key)
            value = value[key]
        if isinstance(value, str):
            branch = expect_string(value, path, problems)
            return None if branch is None else Trigger((branch,))
        if not isinstance(value, list) or not value:
            problems.add(
                path,
                f"{format_path(path)} must be a branch name or a non-empty list of them, "
                f"not {describe(value)}",
            )
            return None
        branches = [expect_string(item, (*path, i), problems) for i, item in enumerate(value)]
        if any(branch is None for branch in branches):
            return None
        return Trigger(tuple(branches))

    def graph(self, facts: list[JobFacts]) -> tuple[int, ...] | None:
        """Resolve `needs`, report unknown names and cycles, fill in upstream sets."""
        problems = self.problems
        index_of = {job.name: job.index for job in facts}
        names = list(index_of)
        edges: list[tuple[int, ...]] = []
        for job in facts:
            seen: dict[int, int] = {}
            for position, need in job.needs_items:
                item_path = ("jobs", job.name, "needs", position)
                target = index_of.get(need)
                if target is None:
                    job.needs_ok = False
                    problems.add(
                        item_path,
                        f'jobs.{job.name} needs "{need}", but there is no job called that',
                        did_you_mean(need, names),
                    )
                elif target == job.index:
                    job.needs_ok = False
                    problems.add(item_path, f"jobs.{job.name} cannot need itself")
                elif target in seen:
                    problems.add(
                        item_path,
                        f'"{need}" is already in jobs.{job.name}.needs (item {seen[target]}); '
                        "list each job once",
                    )
                else:
                    seen[target] = position
            job.edges = tuple(seen)
            job.need_positions = seen
            edges.append(job.edges)
        graph = NeedsGraph(tuple(names), tuple(edges))
        found = graph.analyse()
        for job in facts:
            job.upstream = found.upstream[job.index]
        for cycle in found.cycles:
            first = facts[cycle[0]]
            following = cycle[1] if len(cycle) > 1 else cycle[0]
            ring = " → ".join(names[i] for i in (*cycle, cycle[0]))
            problems.add(
                ("jobs", first.name, "needs", first.need_positions[following]),
                f"these jobs need each other in a cycle: {ring}; remove one of these needs",
            )
        return None if found.cycles else graph.run_order()
