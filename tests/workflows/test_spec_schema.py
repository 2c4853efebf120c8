"""The JSON Schema: valid under draft 2020-12, accepts the examples, matches the key tables."""

import json

import jsonschema
import pytest

from tests.specs import EXAMPLE_SPECS
from workflows.spec import parse_spec, spec_json_schema
from workflows.spec.actions import all_actions
from workflows.spec.keys import (
    BRANCHES_KEYS,
    DEFAULTS_KEYS,
    GITHUB_KEYS,
    INLINE_INPUT_KEYS,
    JOB_KEYS,
    ON_KEYS,
    OUTPUT_KEYS,
    RESOURCES_KEYS,
    TOP_LEVEL_KEYS,
    WORKFLOW_INPUT_KEYS,
)


@pytest.fixture(scope="module")
def schema() -> dict:
    return spec_json_schema()


def test_schema_is_draft_2020_12(schema):
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_property_names_equal_the_validator_tables(schema):
    defs = schema["$defs"]
    properties = schema["properties"]
    on = properties["on"]
    assert set(properties) == set(TOP_LEVEL_KEYS)
    assert schema["required"] == ["jobs"]
    assert set(properties["defaults"]["properties"]) == set(DEFAULTS_KEYS)
    assert set(defs["resources"]["properties"]) == set(RESOURCES_KEYS)
    assert set(defs["workflowInput"]["properties"]) == set(WORKFLOW_INPUT_KEYS)
    assert set(defs["inlineInput"]["properties"]) == set(INLINE_INPUT_KEYS)
    assert set(defs["output"]["properties"]) == set(OUTPUT_KEYS)
    assert set(defs["job"]["properties"]) == set(JOB_KEYS)
    assert set(on["properties"]) == set(ON_KEYS)
    assert set(on["properties"]["github"]["properties"]) == set(GITHUB_KEYS)
    assert set(on["properties"]["github"]["properties"]["branches"]["properties"]) == set(
        BRANCHES_KEYS
    )


def test_actions_come_from_the_catalog(schema):
    defs = schema["$defs"]
    assert defs["job"]["properties"]["uses"]["enum"] == [a.uses for a in all_actions()]
    for action in all_actions():
        with_schema = defs[f"with-{action.name}-v{action.version}"]
        assert set(with_schema["properties"]) == set(action.param_names)
        assert with_schema["required"] == list(action.required_params)


def test_every_property_has_a_description(schema):
    """Every property the editor can complete; if/then only select a `with` schema."""

    def walk(node):
        if isinstance(node, dict):
            for name, prop in node.get("properties", {}).items():
                assert "description" in prop or "$ref" in prop, name
            for key, value in node.items():
                if key not in ("if", "then"):
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)


def test_examples_validate(validator):
    for name, text in EXAMPLE_SPECS.items():
        data = parse_spec(text).data
        assert list(validator.iter_errors(data)) == [], name


@pytest.mark.parametrize(
    "data",
    [
        {"jobs": {}},
        {"jobs": {"a": {"uses": "container@v2"}}},
        {"jobs": {"a": {"uses": "container@v1"}}},
        {"jobs": {"a": {"uses": "container@v1", "with": {"image": "x", "args": [1]}}}},
        {"jobs": {"a": {"uses": "container@v1", "with": {"image": "x"}, "runs-on": "x"}}},
        {"jobs": {"a b": {"uses": "container@v1", "with": {"image": "x"}}}},
        {"jobs": {"a": {"uses": "container@v1", "with": {"image": "x"}, "timeout": "30"}}},
        {"jobs": {"a": {"uses": "container@v1", "with": {"image": "x"}, "retries": 11}}},
        {
            "jobs": {
                "a": {
                    "uses": "git-checkout@v1",
                    "with": {"url": "u", "password": "plain"},
                }
            }
        },
        {"name": "x", "jobs": {"a": {"uses": "container@v1", "with": {"image": "x"}}}},
        {
            "jobs": {
                "a": {
                    "uses": "script@v1",
                    "with": {"image": "x", "script": "s"},
                    "outputs": {"o": {"type": "dataset"}},
                }
            }
        },
        {
            "jobs": {
                "a": {
                    "uses": "script@v1",
                    "with": {"image": "x", "script": "s"},
                    "inputs": {"i": "somewhere"},
                }
            }
        },
        {
            "on": {"github": {"branches": {"only": []}}},
            "jobs": {"a": {"uses": "container@v1", "with": {"image": "x"}}},
        },
    ],
)
def test_schema_rejects_what_the_validator_rejects(validator, data):
    assert list(validator.iter_errors(data)), data


def test_schema_accepts_every_action(validator):
    data = {
        "inputs": {"d": {"type": "dataset"}, "s": {"type": "string", "with": {"value": "v"}}},
        "jobs": {
            "c": {"uses": "container@v1", "with": {"image": "x", "command": ["a"], "args": []}},
            "s": {"uses": "script@v1", "with": {"image": "x", "script": "echo"}},
            "g": {
                "uses": "git-checkout@v1",
                "with": {"url": "u", "ref": "main", "password": "secret:p"},
                "outputs": {"repo": {"type": "volume"}},
            },
            "d": {
                "uses": "s3-download@v1",
                "with": {"url": "s3://b/p", "access-key": "k", "secret-access-key": "secret:s"},
                "outputs": {"data": {"type": "dataset", "with": {"ref": "d"}}},
            },
            "m": {
                "uses": "create-model@v1",
                "needs": ["d"],
                "with": {"name": "m", "type": "Custom"},
                "inputs": {"model": "d.outputs.data", "extra": {"type": "volume"}},
                "outputs": {"id": {"type": "string"}},
                "timeout": "1h30m",
                "retries": 2,
                "env": {"A": "b"},
                "resources": {"instance-type": "C4"},
            },
        },
    }
    assert list(validator.iter_errors(data)) == []
    assert parse_spec(json.dumps(data)).valid
