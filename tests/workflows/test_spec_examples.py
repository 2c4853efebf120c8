"""The examples of ../shared (SPEC.md and examples/) are valid."""

import json

import pytest

from workflows.spec import parse_spec, resolve_run_inputs


def test_spec_md_example_is_valid(spec_md_spec):
    result = parse_spec(spec_md_spec)
    assert result.errors == ()
    spec = result.spec
    assert spec.job_names == ("prepare", "report")
    assert spec.secret_names == ("api-token",)
    assert spec.job("prepare").env["MODE"] == "fast"
    assert spec.job("prepare").resources.instance_type == "P4000"
    assert spec.job("report").resources.instance_type == "C4"
    assert spec.job("report").resources.container_registries == ("my-registry",)
    assert spec.on.branches == ("main",)


def test_spec_md_run_inputs_document(spec_md_blocks):
    document = next(b for b in spec_md_blocks["json"] if '"inputs"' in b)
    spec = parse_spec(
        "inputs:\n"
        "  data: {type: dataset}\n"
        "  echo: {type: string, with: {value: default}}\n"
        "jobs:\n"
        "  a:\n"
        "    uses: container@v1\n"
        "    with: {image: x}\n"
        "    inputs: {data: workflow.inputs.data, echo: workflow.inputs.echo}\n"
    ).spec
    result = resolve_run_inputs(spec, document)
    assert result.errors == ()
    assert result.values == {
        "data": {"type": "dataset", "with": {"ref": "test-one"}},
        "echo": {"type": "string", "with": {"value": "hello world"}},
    }


@pytest.mark.parametrize("name", ["pipeline.yaml", "hello.yaml"])
def test_shared_examples_are_valid(shared_dir, name):
    result = parse_spec((shared_dir / "examples" / name).read_text())
    assert result.errors == ()
    assert result.spec is not None
    json.dumps(result.data)


def test_pipeline_with_its_inputs(shared_dir):
    spec = parse_spec((shared_dir / "examples" / "pipeline.yaml").read_text()).spec
    result = resolve_run_inputs(spec, (shared_dir / "examples" / "inputs.yaml").read_text())
    assert result.errors == ()
    assert result.values == {
        "corpus": {"type": "dataset", "with": {"ref": "corpus"}},
        "top": {"type": "string", "with": {"value": "3"}},
    }


def test_pipeline_model(shared_dir):
    spec = parse_spec((shared_dir / "examples" / "pipeline.yaml").read_text()).spec
    assert spec.job_names == ("scratch", "count", "report")
    assert spec.secret_names == ("greeting",)
    count = spec.job("count")
    assert count.inputs["work"].type == "volume"
    assert count.inputs["work"].source.job == "scratch"
    assert count.env == {"GREETING": "secret:greeting", "LC_ALL": "C"}
    assert spec.job("report").upstream == {"scratch", "count"}
