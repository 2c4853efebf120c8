"""The typed model: merges, input sources, secrets, and its construction."""

import dataclasses
import json

import pytest

from workflows.spec import (
    InputSource,
    Job,
    JobInput,
    JobOutput,
    Resources,
    WorkflowSpec,
)

SPEC = """\
defaults:
  clusterId: local
  env:
    TOKEN: secret:api-token
    MODE: slow
  resources:
    instance-type: C4
    container-registries: [private]
inputs:
  raw: {type: dataset, with: {id: raw-data}}
  top: {type: string}
jobs:
  report:
    needs: [prepare]
    uses: script@v1
    with: {image: "bash:5", script: "cat /inputs/listing"}
    inputs:
      listing: prepare.outputs.listing
      note: prepare.outputs.note
      top: workflow.inputs.top
    env:
      TOKEN: secret:other-token
  prepare:
    uses: container@v1
    with:
      image: bash:5
      args: [bash, -c, ls]
    inputs:
      raw: workflow.inputs.raw
      extra: {type: string, with: {value: x}}
    outputs:
      listing: {type: dataset, with: {ref: listings}}
      note: {type: string}
      work: {type: volume}
    env:
      MODE: fast
      DB: secret:db-password
    resources:
      instance-type: P4000
    timeout: 1h
    retries: 2
"""


@pytest.fixture
def spec(valid_spec) -> WorkflowSpec:
    return valid_spec(SPEC)


def test_topological_order(spec):
    assert spec.job_names == ("prepare", "report")
    assert [job.name for job in spec.jobs] == ["prepare", "report"]
    assert spec.job("report").needs == ("prepare",)
    assert spec.job("report").upstream == {"prepare"}
    assert spec.job("prepare").upstream == frozenset()
    assert spec.dependents("prepare") == ("report",)


def test_job_lookup(spec):
    assert spec.job("prepare").action == "container"
    assert spec.job("prepare").action_version == 1
    assert spec.job("prepare").uses == "container@v1"
    with pytest.raises(KeyError):
        spec.job("nope")


def test_env_merge(spec):
    assert spec.job("prepare").env == {
        "TOKEN": "secret:api-token",
        "MODE": "fast",
        "DB": "secret:db-password",
    }
    assert spec.job("report").env == {"TOKEN": "secret:other-token", "MODE": "slow"}


def test_resources_merge(spec):
    assert spec.job("prepare").resources == Resources("P4000", ("private",))
    assert spec.job("report").resources == Resources("C4", ("private",))


def test_input_sources(spec):
    prepare = spec.job("prepare")
    assert prepare.inputs["raw"] == JobInput(
        "raw", "dataset", InputSource("workflow", workflow_input="raw")
    )
    assert prepare.inputs["extra"] == JobInput(
        "extra", "string", InputSource("inline", with_={"value": "x"})
    )
    report = spec.job("report")
    assert report.inputs["listing"] == JobInput(
        "listing", "dataset", InputSource("job", job="prepare", output="listing")
    )
    assert report.inputs["note"].type == "string"
    assert report.inputs["top"].source.workflow_input == "top"


def test_outputs(spec):
    assert spec.job("prepare").outputs == {
        "listing": JobOutput("listing", "dataset", {"ref": "listings"}),
        "note": JobOutput("note", "string", {}),
        "work": JobOutput("work", "volume", {}),
    }


def test_workflow_inputs(spec):
    assert spec.inputs["raw"].default == {"ref": "raw-data"}
    assert spec.inputs["top"].default is None
    assert spec.inputs["top"].type == "string"


def test_timeout_retries_params(spec):
    prepare = spec.job("prepare")
    assert prepare.timeout_seconds == 3600
    assert prepare.retries == 2
    assert prepare.params == {"image": "bash:5", "args": ["bash", "-c", "ls"]}
    assert spec.job("report").timeout_seconds is None


def test_secret_names(spec):
    assert spec.job("prepare").secret_names == ("api-token", "db-password")
    assert spec.job("report").secret_names == ("other-token",)
    assert spec.secret_names == ("api-token", "db-password", "other-token")


def test_defaults(spec):
    assert spec.defaults.cluster_id == "local"
    assert spec.on is None


def test_model_is_not_shared_with_data(spec):
    spec.job("prepare").params["args"].append("changed")
    spec.job("prepare").env["NEW"] = "x"
    assert spec.data["jobs"]["prepare"]["with"]["args"] == ["bash", "-c", "ls"]
    assert "NEW" not in spec.data["jobs"]["prepare"]["env"]


def test_to_json_is_the_submitted_spec(spec):
    out = spec.to_json()
    assert out == spec.data
    assert json.loads(json.dumps(out)) == out
    out["jobs"].clear()
    assert spec.data["jobs"]


def test_model_is_frozen(spec):
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.job("prepare").name = "other"  # type: ignore[misc]


def test_fast_construction_matches_the_dataclass_constructor(spec):
    """The builder sets fields directly; every field must be there, as __init__ would."""
    for job in spec.jobs:
        assert dataclasses.replace(job) == job
        for job_input in job.inputs.values():
            assert dataclasses.replace(job_input) == job_input
            assert dataclasses.replace(job_input.source) == job_input.source
        for output in job.outputs.values():
            assert dataclasses.replace(output) == output
    fields = {f.name for f in dataclasses.fields(Job)}
    assert fields <= set(vars(spec.jobs[0]))
