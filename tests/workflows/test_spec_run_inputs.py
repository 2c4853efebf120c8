"""Run-time inputs merged over the spec's defaults."""

import pytest

from workflows.spec import parse_spec, resolve_run_inputs

SPEC = """\
inputs:
  data: {type: dataset}
  echo: {type: string, with: {value: default}}
  scratch: {type: volume}
jobs:
  a:
    uses: container@v1
    with: {image: x}
    inputs: {data: workflow.inputs.data, echo: workflow.inputs.echo}
"""


@pytest.fixture
def spec():
    return parse_spec(SPEC).spec


def test_json_document(spec):
    result = resolve_run_inputs(
        spec, '{"inputs": {"data": {"id": "test-one"}, "echo": {"value": "hello world"}}}'
    )
    assert result.valid
    assert result.values == {
        "data": {"type": "dataset", "with": {"ref": "test-one"}},
        "echo": {"type": "string", "with": {"value": "hello world"}},
        "scratch": {"type": "volume", "with": {}},
    }


def test_yaml_document_and_defaults(spec):
    result = resolve_run_inputs(spec, "inputs:\n  data:\n    ref: raw:3\n")
    assert result.values["data"]["with"] == {"ref": "raw:3"}
    assert result.values["echo"]["with"] == {"value": "default"}


@pytest.mark.parametrize("text", [None, "", "  \n", "# nothing\n"])
def test_no_document_means_defaults_only(spec, text):
    result = resolve_run_inputs(spec, text)
    assert not result.valid
    assert result.values is None
    [error] = result.errors
    assert error.path == "inputs.data"
    assert (error.line, error.column) == (1, 1)
    assert 'input "data"' in error.message


def test_no_document_is_fine_when_everything_has_a_default():
    spec = parse_spec(
        "inputs: {echo: {type: string, with: {value: hi}}}\n"
        "jobs: {a: {uses: container@v1, with: {image: x}}}\n"
    ).spec
    assert resolve_run_inputs(spec, None).values == {
        "echo": {"type": "string", "with": {"value": "hi"}}
    }


def test_missing_input_points_at_the_document_root(spec):
    result = resolve_run_inputs(spec, "\n\ninputs:\n  echo: {value: x}\n")
    [error] = result.errors
    assert error.path == "inputs.data"
    assert error.line == 3
    assert "has no default" in error.message


def test_unknown_input_suggests(spec):
    result = resolve_run_inputs(spec, "inputs:\n  data: {id: x}\n  ecko: {value: x}\n")
    [error] = result.errors
    assert error.path == "inputs.ecko"
    assert error.line == 3
    assert error.hint == 'did you mean "echo"?'


def test_string_value_must_be_a_string(spec):
    result = resolve_run_inputs(spec, "inputs:\n  data: {id: x}\n  echo: {value: 5}\n")
    [error] = result.errors
    assert error.path == "inputs.echo.value"
    assert 'quote it, e.g. "5"' in error.message


def test_dataset_needs_id_or_ref(spec):
    result = resolve_run_inputs(spec, "inputs:\n  data: {name: x}\n")
    paths = [e.path for e in result.errors]
    assert "inputs.data.name" in paths
    assert "inputs.data.ref" in paths


def test_value_must_be_a_mapping(spec):
    result = resolve_run_inputs(spec, "inputs:\n  data: raw\n")
    [error] = result.errors
    assert error.path == "inputs.data"
    assert "must be a mapping" in error.message


def test_document_must_be_a_mapping(spec):
    result = resolve_run_inputs(spec, "[1, 2]")
    [error] = result.errors
    assert error.path == ""


def test_document_needs_inputs(spec):
    result = resolve_run_inputs(spec, "values: {}\n")
    paths = {e.path for e in result.errors}
    assert paths == {"values", "inputs"}


def test_syntax_error(spec):
    result = resolve_run_inputs(spec, '{"inputs": {')
    assert result.values is None
    assert result.errors[0].line == 1


def test_volume_takes_no_values(spec):
    result = resolve_run_inputs(spec, "inputs:\n  data: {id: x}\n  scratch: {path: /x}\n")
    [error] = result.errors
    assert error.path == "inputs.scratch"
