"""The spec the CLI posts as parsed YAML, written back as text; errors worded for the CLI."""

from __future__ import annotations

import json

import yaml

from gradient.cli_api.submissions import spec_text_from_cli, submission_error_message
from runs.services import SubmissionError
from workflows.spec import SpecError

SPEC = """\
on:
  github:
    branches:
      only: main
defaults:
  env:
    MODE: fast
jobs:
  prepare:
    uses: script@v1
    needs:
      - setup
    with:
      image: bash:5
      script: |-
        echo one
        echo two
      flag: true
  setup:
    uses: container@v1
    with:
      image: bash:5
      args:
        - bash
        - -c
        - echo 'on'
"""


def _as_the_cli_sends(text: str) -> object:
    """The CLI reads the file with yaml.safe_load and posts it with json.dumps."""
    return json.loads(json.dumps(yaml.safe_load(text)))


def test_block_style_spec_comes_back_line_for_line():
    sent = _as_the_cli_sends(SPEC)
    assert "true" in sent
    assert spec_text_from_cli(sent) == SPEC


def test_text_and_nothing_pass_through():
    assert spec_text_from_cli(SPEC) == SPEC
    assert spec_text_from_cli(None) is None


def test_a_value_on_is_not_a_key():
    text = spec_text_from_cli({"jobs": {"a": {"with": {"mode": "on"}}}})
    assert "mode: 'on'" in text
    assert yaml.safe_load(text)["jobs"]["a"]["with"]["mode"] == "on"


def test_non_mapping_specs_are_left_to_the_validator():
    assert spec_text_from_cli(["jobs"]) == "- jobs\n"


def test_error_message_has_path_line_and_hint_per_error():
    error = SubmissionError(
        [
            SpecError("jobs.a.neds", 4, 5, 'unknown key "neds"', 'did you mean "needs"?'),
            SpecError("", 1, 1, "the spec is empty"),
            SpecError("clusterId", 1, 1, 'there is no cluster "gpu"'),
        ]
    )
    assert submission_error_message(error).splitlines() == [
        'jobs.a.neds (line 4, column 5): unknown key "neds" (did you mean "needs"?)',
        "line 1, column 1: the spec is empty",
        'clusterId: there is no cluster "gpu"',
    ]


def test_inputs_errors_have_no_line():
    error = SubmissionError([SpecError("inputs.data", 3, 7, "no such dataset")], document="inputs")
    assert submission_error_message(error) == "inputs.data: no such dataset"
