"""A JSON Schema (draft 2020-12) of the language, for the editor's completion.

Generated from the validator's own tables (``keys`` and the action catalog),
so completion offers exactly what validation accepts. The validator stays the
authority on messages and on rules a schema cannot say (references, cycles).
"""

from __future__ import annotations

import copy
from functools import cache

from .actions import Action, Param, all_actions
from .durations import DURATION_PATTERN
from .keys import (
    BRANCHES_KEYS,
    DATASET_REF_PATTERN,
    DATASET_WITH_KEYS,
    DEFAULTS_KEYS,
    ENV_NAME_RE,
    GITHUB_KEYS,
    INLINE_INPUT_KEYS,
    JOB_KEYS,
    JOB_OUTPUT_REF_PATTERN,
    MAX_RETRIES,
    NAME_PATTERN,
    ON_KEYS,
    OUTPUT_KEYS,
    RESOURCES_KEYS,
    SECRET_PATTERN,
    STRING_WITH_KEYS,
    TOP_LEVEL_KEYS,
    VALUE_TYPES,
    WORKFLOW_INPUT_KEYS,
    WORKFLOW_INPUT_REF_PATTERN,
)

SCHEMA_ID = "https://gradient-workflows.local/schemas/workflow-spec.json"
_NO_WITH = {"type": ["object", "null"], "maxProperties": 0}


def _ref(name: str) -> dict:
    return {"$ref": f"#/$defs/{name}"}


def _string(description: str, **extra: object) -> dict:
    return {"type": "string", "description": description, **extra}


def _when_type(kind: str, then: dict) -> dict:
    return {
        "if": {"properties": {"type": {"const": kind}}, "required": ["type"]},
        "then": then,
    }


def _typed_value(keys: dict, *, with_required: bool, output: bool) -> dict:
    dataset_with = _ref("outputDatasetWith" if output else "datasetWith")
    rules = [
        _when_type(
            "dataset",
            {
                "properties": {"with": dataset_with},
                **({"required": ["with"]} if with_required else {}),
            },
        ),
        _when_type(
            "string",
            {"properties": {"with": _NO_WITH if output else _ref("stringWith")}}
            | ({"required": ["with"]} if with_required and not output else {}),
        ),
        _when_type("volume", {"properties": {"with": _NO_WITH}}),
    ]
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["type"],
        "properties": {
            "type": {"enum": list(VALUE_TYPES), "description": keys["type"]},
            "with": {"type": ["object", "null"], "description": keys["with"]},
        },
        "allOf": rules,
    }


def _param_schema(param: Param) -> dict:
    description = param.description
    if param.type == "string-list":
        return {"type": "array", "items": {"type": "string"}, "description": description}
    if param.type == "string-or-list":
        return {
            "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
            "description": description,
        }
    if param.secret == "required":
        return _string(description, pattern=SECRET_PATTERN)
    if param.choices:
        return {"enum": list(param.choices), "description": description}
    if param.prefix:
        return _string(description, pattern=f"^{param.prefix}.+")
    return _string(description, minLength=1)


def _action_with(action: Action) -> dict:
    return {
        "type": "object",
        "description": f"Parameters of {action.uses}: {action.description}",
        "additionalProperties": False,
        "required": list(action.required_params),
        "properties": {param.name: _param_schema(param) for param in action.params},
    }


def _def_name(action: Action) -> str:
    return f"with-{action.name}-v{action.version}"


def _job() -> dict:
    descriptions = dict(JOB_KEYS)
    properties = {
        "uses": {
            "enum": [action.uses for action in all_actions()],
            "description": descriptions["uses"],
        },
        "with": {"type": "object", "description": descriptions["with"]},
        "needs": {
            "type": "array",
            "items": {"type": "string", "pattern": NAME_PATTERN},
            "uniqueItems": True,
            "description": descriptions["needs"],
        },
        "inputs": {
            "type": "object",
            "propertyNames": {"pattern": NAME_PATTERN},
            "additionalProperties": _ref("jobInput"),
            "description": descriptions["inputs"],
        },
        "outputs": {
            "type": "object",
            "propertyNames": {"pattern": NAME_PATTERN},
            "additionalProperties": _ref("output"),
            "description": descriptions["outputs"],
        },
        "env": _ref("env") | {"description": descriptions["env"]},
        "resources": _ref("resources") | {"description": descriptions["resources"]},
        "timeout": _string(descriptions["timeout"], pattern=DURATION_PATTERN),
        "retries": {
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_RETRIES,
            "description": descriptions["retries"],
        },
    }
    rules = []
    for action in all_actions():
        then: dict = {"properties": {"with": _ref(_def_name(action))}}
        if action.required_params:
            then["required"] = ["with"]
        rules.append(
            {
                "if": {"properties": {"uses": {"const": action.uses}}, "required": ["uses"]},
                "then": then,
            }
        )
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["uses"],
        "properties": properties,
        "allOf": rules,
    }


def _keyed(keys: dict, properties: dict, **extra: object) -> dict:
    """An object schema whose properties are exactly ``keys``, described from it."""
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            key: properties[key] | {"description": description} for key, description in keys.items()
        },
        **extra,
    }


@cache
def _schema() -> dict:
    branches = _keyed(
        BRANCHES_KEYS,
        {
            "only": {
                "anyOf": [
                    {"type": "string", "minLength": 1},
                    {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
                ]
            }
        },
        required=["only"],
    )
    github = _keyed(GITHUB_KEYS, {"branches": branches}, required=["branches"])
    defs = {
        "env": {
            "type": "object",
            "propertyNames": {"pattern": ENV_NAME_RE.pattern},
            "additionalProperties": {
                "type": "string",
                "description": "A string, or secret:NAME for a secret's value.",
            },
        },
        "resources": _keyed(
            RESOURCES_KEYS,
            {
                "instance-type": {"type": "string", "minLength": 1},
                "container-registries": {"type": "array", "items": {"type": "string"}},
            },
        ),
        "datasetWith": _keyed(
            DATASET_WITH_KEYS,
            {
                "ref": {"type": "string", "pattern": DATASET_REF_PATTERN},
                "id": {"type": "string", "pattern": DATASET_REF_PATTERN},
            },
            oneOf=[{"required": ["ref"]}, {"required": ["id"]}],
        ),
        "outputDatasetWith": _keyed(
            DATASET_WITH_KEYS,
            {
                "ref": {"type": "string", "pattern": DATASET_REF_PATTERN, "not": {"pattern": ":"}},
                "id": {"type": "string", "pattern": DATASET_REF_PATTERN, "not": {"pattern": ":"}},
            },
            oneOf=[{"required": ["ref"]}, {"required": ["id"]}],
        ),
        "stringWith": _keyed(STRING_WITH_KEYS, {"value": {"type": "string"}}, required=["value"]),
        "workflowInput": _typed_value(dict(WORKFLOW_INPUT_KEYS), with_required=False, output=False),
        "inlineInput": _typed_value(dict(INLINE_INPUT_KEYS), with_required=True, output=False),
        "output": _typed_value(dict(OUTPUT_KEYS), with_required=True, output=True),
        "jobInput": {
            "anyOf": [
                {
                    "type": "string",
                    "pattern": WORKFLOW_INPUT_REF_PATTERN,
                    "description": "A workflow input: workflow.inputs.NAME.",
                },
                {
                    "type": "string",
                    "pattern": JOB_OUTPUT_REF_PATTERN,
                    "description": "An output of a job in needs: JOB.outputs.NAME.",
                },
                _ref("inlineInput"),
            ]
        },
        "job": _job(),
        **{_def_name(action): _action_with(action) for action in all_actions()},
    }
    top = _keyed(
        TOP_LEVEL_KEYS,
        {
            "defaults": _keyed(
                DEFAULTS_KEYS,
                {
                    "clusterId": {"type": "string", "minLength": 1},
                    "env": _ref("env"),
                    "resources": _ref("resources"),
                },
            ),
            "inputs": {
                "type": "object",
                "propertyNames": {"pattern": NAME_PATTERN},
                "additionalProperties": _ref("workflowInput"),
            },
            "jobs": {
                "type": "object",
                "minProperties": 1,
                "propertyNames": {"pattern": NAME_PATTERN},
                "additionalProperties": _ref("job"),
            },
            "on": _keyed(ON_KEYS, {"github": github}, required=["github"]),
        },
        required=["jobs"],
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Workflow spec",
        "description": "A workflow: jobs that run actions, connected by needs, inputs and outputs.",
        **top,
        "$defs": defs,
    }


def spec_json_schema() -> dict:
    """The JSON Schema of a spec (a fresh copy the caller may change)."""
    return copy.deepcopy(_schema())
