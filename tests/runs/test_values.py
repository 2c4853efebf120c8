"""The typed values of runs' and jobs' JSON columns: every shape stored today reads back
equal, and the older shapes still in databases read as what they meant."""

from __future__ import annotations

import re

import pytest

from runs.values import (
    AttemptRecord,
    DatasetOutput,
    EngineState,
    PinnedVersion,
    ResolvedInput,
    ResolvedInputs,
    StringOutput,
    VersionSlot,
    VolumeOutput,
    attempts_from_json,
    attempts_to_json,
    output_from_json,
    outputs_from_json,
    outputs_to_json,
)
from workflows.spec import parse_spec

PINNED = {"id": "raw:v2", "datasetId": 4, "versionId": 17}

RESOLVED = {
    "workflow": {
        "raw": {"type": "dataset", "with": {"ref": "raw"}, "dataset": PINNED},
        "greeting": {"type": "string", "with": {"value": "hi"}},
        "scratch": {"type": "volume", "with": {}},
    },
    "jobs": {
        "train": {
            "model": {
                "type": "dataset",
                "with": {"ref": "models:v1"},
                "dataset": {"id": "models:v1", "datasetId": 5, "versionId": 21},
            }
        }
    },
}

STRING = {"value": "42 files"}
MASKED = {"value": "token hunter2", "shown": "token ***"}
DATASET = {"dataset": {"id": "listings:v3", "isCommitted": True, "versionId": 30}}
VOLUME = {"volume": {"id": "12/prepare/work"}}

LOCAL_ATTEMPT = {
    "attempt": 1,
    "started": "2026-01-01T10:00:00+00:00",
    "finished": "2026-01-01T10:00:08.500000+00:00",
    "exitCode": 3,
    "message": "exited with code 3",
}
ARGO_ATTEMPT = {**LOCAL_ATTEMPT, "attempt": 2, "pod": "gw-1-x-train-123"}

SUBMITTED_STATE = {
    "engine": "argo",
    "name": "gw-12-pipeline",
    "namespace": "ml",
    "secret": "gw-12-pipeline-secrets",
    "datasets": {
        "count": {
            "counts": {"datasetId": 7, "version": "v4", "versionId": 40, "name": "counts"},
        }
    },
    "models": {"register": "m1a2b3c4d5e6f7g"},
    "reused": {
        "prepare": {
            "note": {"value": "kept text"},
            "listing": {"datasetId": 3, "version": "v2", "versionId": 9},
        }
    },
    "uid": "0b6c-uid",
    "submitted": "2026-01-01T10:00:00+00:00",
}


@pytest.mark.parametrize(
    "cls, data",
    [
        (PinnedVersion, PINNED),
        (ResolvedInput, RESOLVED["workflow"]["raw"]),
        (ResolvedInput, RESOLVED["workflow"]["greeting"]),
        (ResolvedInput, RESOLVED["workflow"]["scratch"]),
        (ResolvedInputs, RESOLVED),
        (ResolvedInputs, {"workflow": {}, "jobs": {}}),
        (StringOutput, STRING),
        (StringOutput, MASKED),
        (DatasetOutput, DATASET),
        (VolumeOutput, VOLUME),
        (AttemptRecord, LOCAL_ATTEMPT),
        (AttemptRecord, ARGO_ATTEMPT),
        (VersionSlot, SUBMITTED_STATE["datasets"]["count"]["counts"]),
        (VersionSlot, SUBMITTED_STATE["reused"]["prepare"]["listing"]),
        (EngineState, SUBMITTED_STATE),
        (EngineState, {}),
    ],
)
def test_every_shape_stored_today_reads_back_as_it_was(cls, data):
    value = cls.from_json(data)
    assert value.to_json() == data
    assert cls.from_json(value.to_json()) == value


def test_resolved_inputs_are_typed():
    resolved = ResolvedInputs.from_json(RESOLVED)
    raw = resolved.workflow["raw"]
    assert raw == ResolvedInput("dataset", {"ref": "raw"}, PinnedVersion("raw:v2", 4, 17))
    assert (raw.ref, raw.dataset.version) == ("raw", "v2")
    assert resolved.workflow["greeting"].value == "hi"
    assert [(job, name, pinned.id) for job, name, pinned in resolved.pinned()] == [
        (None, "raw", "raw:v2"),
        ("train", "model", "models:v1"),
    ]


SPEC = """\
inputs:
  greeting: {type: string, with: {value: hello}}
  raw: {type: dataset}
jobs:
  prepare:
    uses: container@v1
    with: {image: bash:5, args: ["true"]}
    inputs:
      greeting: workflow.inputs.greeting
      raw: workflow.inputs.raw
      note: {type: string, with: {value: inline text}}
      model: {type: dataset, with: {ref: "models:v1"}}
    outputs:
      listing: {type: dataset, with: {ref: listings}}
  train:
    needs: [prepare]
    uses: container@v1
    with: {image: bash:5, args: ["true"]}
    inputs:
      listing: prepare.outputs.listing
"""


def test_a_job_input_reads_the_runs_value_the_default_or_what_is_written_inline():
    spec = parse_spec(SPEC).spec
    prepare, train = spec.job("prepare"), spec.job("train")
    resolved = ResolvedInputs.from_json(
        {
            "workflow": {"raw": RESOLVED["workflow"]["raw"]},
            "jobs": {"prepare": RESOLVED["jobs"]["train"]},
        }
    )
    assert resolved.job_input(spec, prepare, "raw").dataset.id == "raw:v2"
    # A manifest previewed without a run reads the input's default.
    assert resolved.job_input(spec, prepare, "greeting") == ResolvedInput(
        "string", {"value": "hello"}
    )
    assert resolved.job_input(spec, prepare, "note").value == "inline text"
    assert resolved.job_input(spec, prepare, "model").dataset.version_id == 21
    assert resolved.job_input(spec, train, "listing") is None
    assert ResolvedInputs().workflow_input(spec, "raw") is None


def test_outputs_read_by_kind_and_masked_for_showing():
    stored = {"note": STRING, "secret": MASKED, "listing": DATASET, "work": VOLUME}
    outputs = outputs_from_json(stored)
    assert outputs == {
        "note": StringOutput("42 files"),
        "secret": StringOutput("token hunter2", "token ***"),
        "listing": DatasetOutput("listings:v3", 30),
        "work": VolumeOutput("12/prepare/work"),
    }
    assert outputs_to_json(outputs) == stored
    assert outputs["secret"].shown_value == "token ***"
    assert outputs["note"].shown_value == "42 files"
    mask = re.compile("hunter2")
    assert StringOutput("no secret here").masked(mask, "***") == StringOutput("no secret here")
    assert StringOutput("a hunter2 b").masked(mask, "***") == StringOutput("a hunter2 b", "a *** b")


def test_attempts_keep_their_order_and_know_how_long_they_ran():
    attempts = attempts_from_json([LOCAL_ATTEMPT, ARGO_ATTEMPT])
    assert [attempt.attempt for attempt in attempts] == [1, 2]
    assert attempts[1].pod == "gw-1-x-train-123" and attempts[0].pod is None
    assert attempts[0].seconds == 8.5
    assert attempts_to_json(attempts) == [LOCAL_ATTEMPT, ARGO_ATTEMPT]
    running = AttemptRecord(attempt=1, started=None, finished=None, exit_code=None, message="")
    assert running.seconds is None


def test_engine_state_is_typed():
    state = EngineState.from_json(SUBMITTED_STATE)
    assert state.datasets["count"]["counts"] == VersionSlot(7, "v4", 40, "counts")
    assert state.reused["prepare"] == {
        "note": StringOutput("kept text"),
        "listing": VersionSlot(3, "v2", 9),
    }
    assert state.reserved_version_ids == [40]
    assert state.models == {"register": "m1a2b3c4d5e6f7g"}


# -- shapes stored by earlier versions, still in databases ------------------------------


@pytest.mark.parametrize("stored", [None, {}])
def test_resolved_inputs_never_written_read_as_none(stored):
    assert ResolvedInputs.from_json(stored) == ResolvedInputs()
    assert ResolvedInputs.from_json(stored).to_json() == {"workflow": {}, "jobs": {}}


def test_resolved_inputs_without_jobs_read():
    resolved = ResolvedInputs.from_json({"workflow": {"greeting": {"type": "string"}}})
    assert resolved == ResolvedInputs(workflow={"greeting": ResolvedInput("string")})


@pytest.mark.parametrize("stored", [None, {}])
def test_a_job_that_produced_nothing_has_no_outputs(stored):
    assert outputs_from_json(stored) == {}


def test_outputs_stored_before_masking_and_without_is_committed_read():
    assert output_from_json({"value": "token hunter2"}) == StringOutput("token hunter2")
    assert output_from_json({"dataset": {"id": "listings:v1", "versionId": 3}}) == (
        DatasetOutput("listings:v1", 3, is_committed=True)
    )


def test_attempts_never_written_and_without_a_message_read():
    assert attempts_from_json(None) == []
    assert attempts_from_json([{"attempt": 1}]) == [
        AttemptRecord(attempt=1, started=None, finished=None, exit_code=None, message="")
    ]


def test_engine_states_of_earlier_forms_read():
    # A local run: the engine keeps nothing.
    assert EngineState.from_json({}) == EngineState()
    assert EngineState.from_json(None).name is None
    # Reserved but not submitted yet, and written before re-runs kept jobs (no "reused").
    reserved = {key: SUBMITTED_STATE[key] for key in ("engine", "name", "namespace", "secret")}
    reserved.update(datasets={}, models={})
    state = EngineState.from_json(reserved)
    assert state.name == "gw-12-pipeline" and state.uid is None and state.reused == {}
    assert state.to_json() == {**reserved, "reused": {}}
    # A state without "engine" (as tests and exports wrote it).
    assert EngineState.from_json({"name": "gw-9-x", "models": {}, "datasets": {}}).name == "gw-9-x"
