"""The language's vocabulary: which keys exist where, what names look like.

The validator and the JSON Schema are both built from these tables, so the
editor's completion cannot drift from what the validator accepts.
"""

from __future__ import annotations

import re
from types import MappingProxyType

NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")
"""Job, input and output names: they become file names under /inputs and /outputs."""
NAME_PATTERN = NAME_RE.pattern
MAX_NAME_LENGTH = 128

ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SECRET_PREFIX = "secret:"
SECRET_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
SECRET_PATTERN = r"^secret:[A-Za-z0-9_][A-Za-z0-9_.-]*$"

USES_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_-]*)@v([0-9]+)$")
WORKFLOW_INPUT_REF_RE = re.compile(r"^workflow\.inputs\.([^.]*)$")
JOB_OUTPUT_REF_RE = re.compile(r"^([^.]+)\.outputs\.([^.]*)$")
WORKFLOW_INPUT_REF_PATTERN = r"^workflow\.inputs\.[A-Za-z0-9_-]+$"
JOB_OUTPUT_REF_PATTERN = r"^[A-Za-z0-9_-]+\.outputs\.[A-Za-z0-9_-]+$"

DATASET_REF_RE = re.compile(
    r"^(?:[A-Za-z0-9][A-Za-z0-9._-]*/)?[A-Za-z0-9][A-Za-z0-9._-]*(?::[A-Za-z0-9][A-Za-z0-9._-]*)?$"
)
DATASET_REF_PATTERN = DATASET_REF_RE.pattern

VALUE_TYPES = ("dataset", "string", "volume")
MAX_RETRIES = 10

TOP_LEVEL_KEYS = MappingProxyType(
    {
        "defaults": "Settings every job starts from: cluster, env and resources.",
        "inputs": "Named workflow inputs (datasets, strings) that jobs consume.",
        "jobs": "The jobs of the workflow, by name (required).",
        "on": "Triggers: start a run when a branch of the linked repository is pushed.",
    }
)
REQUIRED_TOP_LEVEL_KEYS = ("jobs",)

DEFAULTS_KEYS = MappingProxyType(
    {
        "clusterId": "The cluster to run on, same as choosing it at run time.",
        "env": "Environment variables for every job; values are strings or secret:NAME.",
        "resources": "Default machine type and registries for every job.",
    }
)

RESOURCES_KEYS = MappingProxyType(
    {
        "instance-type": "Machine type name; the cluster maps it to CPU, memory and GPU.",
        "container-registries": "Private container registries, by name, to pull images from.",
    }
)

WORKFLOW_INPUT_KEYS = MappingProxyType(
    {
        "type": "dataset, string or volume.",
        "with": "The default value: {ref: NAME} for a dataset, {value: TEXT} for a string. "
        "Without it the run must supply the input.",
    }
)

JOB_KEYS = MappingProxyType(
    {
        "uses": "The action this job runs, as NAME@vN (e.g. container@v1).",
        "with": "The action's parameters.",
        "needs": "Jobs that must succeed before this one starts.",
        "inputs": "Inputs visible at /inputs/NAME: workflow.inputs.X, JOB.outputs.Y, "
        "or an inline {type, with}.",
        "outputs": "Outputs the job writes under /outputs/NAME.",
        "env": "Environment variables; override defaults.env.",
        "resources": "Machine type and registries; override defaults.resources.",
        "timeout": "Longest the job may run, e.g. 90s, 30m, 2h or 1h30m (at most 7 days).",
        "retries": f"How many times to retry the job after a failure (0 to {MAX_RETRIES}).",
    }
)
REQUIRED_JOB_KEYS = ("uses",)

OUTPUT_KEYS = MappingProxyType(
    {
        "type": "dataset, string or volume.",
        "with": "For a dataset: {ref: NAME}, the dataset that gets a new version.",
    }
)

INLINE_INPUT_KEYS = MappingProxyType(
    {
        "type": "dataset, string or volume.",
        "with": "{ref: NAME} for a dataset, {value: TEXT} for a string.",
    }
)

ON_KEYS = MappingProxyType({"github": "Runs started by pushes to the linked GitHub repository."})
GITHUB_KEYS = MappingProxyType({"branches": "Which branches start a run."})
BRANCHES_KEYS = MappingProxyType(
    {"only": "A branch name, or a list of them, whose pushes start a run."}
)

DATASET_WITH_KEYS = MappingProxyType(
    {
        "ref": "Dataset name or id, optionally NAME:VERSION or NAMESPACE/NAME:VERSION.",
        "id": "Synonym of ref.",
    }
)
STRING_WITH_KEYS = MappingProxyType({"value": "The string's value."})

GITHUB_ACTIONS_TIPS = MappingProxyType(
    {
        "name": "a workflow's name is set when it is created "
        "(gradient workflows create --name), not in the spec",
        "steps": "write each step as its own job and order them with `needs`",
        "runs-on": "choose the machine with `resources: {instance-type: NAME}` on a job "
        "or under `defaults`",
        "if": "conditions are not supported; a job runs when every job in its `needs` succeeded",
        "permissions": "there is no equivalent; access follows the project's team",
        "concurrency": "there is no equivalent; every run is independent",
        "strategy": "matrix builds are not supported; write one job per variant",
        "services": "service containers are not supported; start helpers inside the job",
        "container": "run an image with `uses: container@v1` and `with: {image: ...}`",
        "timeout-minutes": "use `timeout: 30m` on the job",
        "continue-on-error": "there is no equivalent; use `retries: N` to retry a flaky job",
        "run": "run a shell script with `uses: script@v1` and `with: {image: ..., script: ...}`",
    }
)
"""GitHub Actions keys people carry over, with this language's way of saying it."""


def github_actions_advice(tips: dict[str, str]) -> dict[str, str]:
    """Key -> the whole message for a GitHub Actions key found where it does not belong."""
    return {
        key: f'"{key}" is a GitHub Actions key, not part of this language; {tip}'
        for key, tip in tips.items()
    }


GITHUB_ACTIONS_ADVICE = MappingProxyType(github_actions_advice(dict(GITHUB_ACTIONS_TIPS)))

TOP_LEVEL_ADVICE = MappingProxyType(
    github_actions_advice({"env": "put environment variables for every job under `defaults.env`"})
)

ON_ADVICE = MappingProxyType(
    github_actions_advice(
        {
            "push": "write `on: {github: {branches: {only: main}}}`",
            "pull_request": "runs start only from pushes: `on: {github: {branches: {only: main}}}`",
            "workflow_dispatch": "start a run by hand from the dashboard or "
            "`gradient workflows run`; no trigger is needed",
            "schedule": "scheduled runs are not supported",
        }
    )
)
