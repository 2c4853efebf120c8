"""The specs in examples/ are valid (docs/spec.md's are checked by test_spec_docs.py)."""

import json

import pytest

from tests.specs import EXAMPLE_SPECS, PIPELINE, PIPELINE_INPUTS
from workflows.spec import parse_spec, resolve_run_inputs


@pytest.mark.parametrize("name", EXAMPLE_SPECS)
def test_examples_are_valid(name):
    result = parse_spec(EXAMPLE_SPECS[name])
    assert result.errors == ()
    assert result.spec is not None
    json.dumps(result.data)


def test_pipeline_with_its_inputs():
    spec = parse_spec(PIPELINE).spec
    result = resolve_run_inputs(spec, PIPELINE_INPUTS)
    assert result.errors == ()
    assert result.values == {
        "corpus": {"type": "dataset", "with": {"ref": "corpus"}},
        "top": {"type": "string", "with": {"value": "3"}},
    }


def test_pipeline_model():
    spec = parse_spec(PIPELINE).spec
    assert spec.job_names == ("scratch", "count", "report")
    assert spec.secret_names == ("greeting",)
    count = spec.job("count")
    assert count.inputs["work"].type == "volume"
    assert count.inputs["work"].source.job == "scratch"
    assert count.env == {"GREETING": "secret:greeting", "LC_ALL": "C"}
    assert spec.job("report").upstream == {"scratch", "count"}
