"""docs/spec.md: every example is checked, and the page covers every key and action."""

import json

import pytest
from django.core.management import get_commands

from tests.spec_docs import KINDS, SPEC_DOC, Block, spec_doc_blocks
from workflows.spec import parse_spec, resolve_run_inputs
from workflows.spec.actions import all_actions
from workflows.spec.keys import (
    DEFAULTS_KEYS,
    JOB_KEYS,
    RESOURCES_KEYS,
    TOP_LEVEL_KEYS,
    VALUE_TYPES,
)

BLOCKS = spec_doc_blocks()
PHASES = {"PENDING", "RUNNING", "SUCCEEDED", "FAILED", "SKIPPED", "CANCELED"}


def _of(*kinds: str) -> list[Block]:
    return [block for block in BLOCKS if block.kind in kinds]


def _name(block: Block) -> str:
    return block.name


def test_every_block_is_of_a_kind_the_tests_check():
    assert [block.name for block in BLOCKS if block.kind not in KINDS] == []
    assert len(_of("yaml", "yaml run")) >= 10
    assert len(_of("yaml run")) >= 5


@pytest.mark.parametrize("block", _of("yaml", "yaml run"), ids=_name)
def test_spec_examples_are_valid(block, validator):
    result = parse_spec(block.text)
    assert result.errors == (), [e.as_dict() for e in result.errors]
    assert list(validator.iter_errors(result.data)) == []


@pytest.mark.parametrize("block", _of("yaml invalid"), ids=_name)
def test_invalid_examples_fail_with_the_error_they_name(block):
    first, _, _ = block.text.partition("\n")
    assert first.startswith("# error: "), "an invalid example starts with # error: PATH: TEXT"
    path, _, fragment = first.removeprefix("# error: ").partition(": ")
    errors = parse_spec(block.text).errors
    said = [f"{e.message} {e.hint or ''}" for e in errors if e.path == path]
    assert any(fragment in text for text in said), [e.as_dict() for e in errors]


@pytest.mark.parametrize("block", _of("json inputs"), ids=_name)
def test_run_inputs_examples_fit_the_spec_before_them(block):
    spec_block = [b for b in _of("yaml", "yaml run") if b.line < block.line][-1]
    spec = parse_spec(spec_block.text).spec
    result = resolve_run_inputs(spec, block.text)
    assert result.errors == (), [e.as_dict() for e in result.errors]


def test_the_status_example_is_json_with_known_phases():
    (block,) = _of("json status")
    status = json.loads(block.text)["status"]
    assert status["phase"] in PHASES
    assert {job["phase"] for job in status["jobs"].values()} <= PHASES


@pytest.mark.parametrize("block", _of("sh"), ids=_name)
def test_shell_examples_name_commands_that_exist(block):
    commands = [line.split("manage.py ")[1].split()[0] for line in block.text.splitlines()]
    assert set(commands) <= set(get_commands())


def test_the_page_covers_every_key_action_and_type():
    text = SPEC_DOC.read_text()
    words = [
        *TOP_LEVEL_KEYS,
        *DEFAULTS_KEYS,
        *RESOURCES_KEYS,
        *JOB_KEYS,
        *VALUE_TYPES,
        *(action.uses for action in all_actions()),
    ]
    missing = [word for word in words if f"`{word}" not in text]
    assert missing == []
    for action in all_actions():
        for param in action.param_names:
            assert f"`{param}`" in text, f"{action.uses}: `with` key {param} is not described"
