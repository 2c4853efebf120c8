"""The specs in examples/ are valid (docs/spec.md's are checked by test_spec_docs.py)."""

import json

import pytest

from tests.paths import EXAMPLES
from workflows.spec import parse_spec, resolve_run_inputs


@pytest.mark.parametrize("name", ["pipeline.yaml", "hello.yaml", "word-count.yaml"])
def test_examples_are_valid(name):
    result = parse_spec((EXAMPLES / name).read_text())
    assert result.errors == ()
    assert result.spec is not None
    json.dumps(result.data)


def test_pipeline_with_its_inputs():
    spec = parse_spec((EXAMPLES / "pipeline.yaml").read_text()).spec
    result = resolve_run_inputs(spec, (EXAMPLES / "inputs.yaml").read_text())
    assert result.errors == ()
    assert result.values == {
        "corpus": {"type": "dataset", "with": {"ref": "corpus"}},
        "top": {"type": "string", "with": {"value": "3"}},
    }


def test_pipeline_model():
    spec = parse_spec((EXAMPLES / "pipeline.yaml").read_text()).spec
    assert spec.job_names == ("scratch", "count", "report")
    assert spec.secret_names == ("greeting",)
    count = spec.job("count")
    assert count.inputs["work"].type == "volume"
    assert count.inputs["work"].source.job == "scratch"
    assert count.env == {"GREETING": "secret:greeting", "LC_ALL": "C"}
    assert spec.job("report").upstream == {"scratch", "count"}
