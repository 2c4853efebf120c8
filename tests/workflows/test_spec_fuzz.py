"""Property tests: whatever the text, the validator answers with well-formed errors.

Start from valid specs and break them (delete keys, swap types, insert tabs and
garbage, truncate, random unicode), and from random text; no exception may
escape, and every error must have a path, a position and a message.
"""

import json
import math

import yaml
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.specs import EXAMPLE_SPECS, LISTING
from workflows.spec import SpecResult, parse_spec, resolve_run_inputs

# The suite's shared specs, and one with the keys they leave out.
BASE_SPECS = [
    LISTING,
    *EXAMPLE_SPECS.values(),
    """\
defaults:
  env:
    API_TOKEN: secret:api-token
  resources:
    instance-type: C4
jobs:
  fetch:
    uses: git-checkout@v1
    with: {url: "https://example.com/r.git", password: "secret:git"}
    outputs: {repo: {type: volume}}
  build:
    needs: [fetch]
    inputs:
      repo: fetch.outputs.repo
      top: {type: string, with: {value: "5"}}
    uses: container@v1
    with: {image: bash:5}
    env:
      MODE: fast
    timeout: 30m
    retries: 2
on:
  github:
    branches:
      only: [main]
""",
]

# Pieces that YAML, JSON or Unicode give a meaning (bench/load.py breaks specs with them too).
GARBAGE_PIECES = [
    "\t",
    ":",
    ": ",
    "- ",
    "-",
    "[",
    "]",
    "{",
    "}",
    '"',
    "'",
    "*",
    "&a ",
    "*a",
    "!",
    "!!int ",
    "|",
    ">",
    "#",
    "%",
    "@",
    "`",
    "\n",
    "\n  ",
    "---\n",
    "<<: ",
    "? ",
    ",",
    "~",
    "\x00",
    "\x85",
    "\u2028",
    "\ufeff",
    "é",
    "🙂",
    "\ud800",
    "on",
    "yes",
    "1e3",
    "0x1",
    "2001-01-01",
]
GARBAGE = st.sampled_from(GARBAGE_PIECES)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=8,
)


def check_result(result: SpecResult, text: str) -> None:
    assert isinstance(result, SpecResult)
    assert (result.spec is None) == bool(result.errors)
    lines = max(1, len(text.splitlines()) + 1)
    for error in result.errors:
        assert isinstance(error.path, str)
        assert isinstance(error.message, str) and error.message
        assert error.hint is None or (isinstance(error.hint, str) and error.hint)
        assert isinstance(error.line, int) and 1 <= error.line <= lines + 1, error
        assert isinstance(error.column, int) and error.column >= 1, error
        json.dumps(error.as_dict())
    keys = [(e.line, e.column, e.path) for e in result.errors]
    assert keys == sorted(keys)
    if result.data is not None:
        assert isinstance(result.data, dict)
        json.dumps(result.data, allow_nan=False)
    if result.spec is not None:
        seen: set[str] = set()
        for job in result.spec.jobs:
            assert set(job.needs) <= seen
            seen.add(job.name)
        json.dumps(result.spec.to_json(), allow_nan=False)


@given(st.text(max_size=300))
def test_random_text(text):
    check_result(parse_spec(text), text)


@given(st.binary(max_size=200))
def test_random_bytes(data):
    result = parse_spec(data)
    assert isinstance(result, SpecResult)


@given(st.sampled_from(BASE_SPECS), st.data())
def test_mutated_text(base, data):
    text = base
    for _ in range(data.draw(st.integers(1, 4))):
        operation = data.draw(st.sampled_from(["insert", "delete", "truncate", "swap", "indent"]))
        lines = text.splitlines(keepends=True)
        if operation == "insert":
            at = data.draw(st.integers(0, len(text)))
            piece = data.draw(GARBAGE | st.text(max_size=5))
            text = text[:at] + piece + text[at:]
        elif operation == "delete" and lines:
            index = data.draw(st.integers(0, len(lines) - 1))
            text = "".join(lines[:index] + lines[index + 1 :])
        elif operation == "truncate":
            text = text[: data.draw(st.integers(0, len(text)))]
        elif operation == "swap" and len(lines) > 1:
            i = data.draw(st.integers(0, len(lines) - 1))
            j = data.draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
            text = "".join(lines)
        elif operation == "indent" and lines:
            index = data.draw(st.integers(0, len(lines) - 1))
            lines[index] = data.draw(st.sampled_from([" ", "  ", "\t", ""])) + lines[index].lstrip()
            text = "".join(lines)
    check_result(parse_spec(text), text)


def _paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*path, index))


def _replace(value, path, new):
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {k: (_replace(v, rest, new) if k == head else v) for k, v in value.items()}
    return [(_replace(v, rest, new) if i == head else v) for i, v in enumerate(value)]


def _delete(value, path):
    head, rest = path[0], path[1:]
    if rest:
        if isinstance(value, dict):
            return {k: (_delete(v, rest) if k == head else v) for k, v in value.items()}
        return [(_delete(v, rest) if i == head else v) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k != head}
    return [v for i, v in enumerate(value) if i != head]


def _rename(value, path, name):
    head, rest = path[0], path[1:]
    if rest:
        if isinstance(value, dict):
            return {k: (_rename(v, rest, name) if k == head else v) for k, v in value.items()}
        return [(_rename(v, rest, name) if i == head else v) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {(name if k == head else k): v for k, v in value.items()}
    return value


@given(st.sampled_from(BASE_SPECS), st.data())
def test_mutated_structure(base, data):
    """Delete keys, swap values for other types, rename keys; as YAML and as JSON."""
    value = parse_spec(base).data
    for _ in range(data.draw(st.integers(1, 3))):
        paths = list(_paths(value))
        path = data.draw(st.sampled_from(paths))
        operation = data.draw(st.sampled_from(["delete", "replace", "rename"]))
        if operation == "delete" and path:
            value = _delete(value, path)
        elif operation == "replace":
            value = _replace(value, path, data.draw(JSON_VALUES))
        elif operation == "rename" and path and isinstance(path[-1], str):
            value = _rename(value, path, data.draw(st.text(max_size=12)))
    as_yaml = yaml.safe_dump(value, allow_unicode=True)
    check_result(parse_spec(as_yaml), as_yaml)
    if not _has_non_finite(value):
        as_json = json.dumps(value)
        check_result(parse_spec(as_json), as_json)


def _has_non_finite(value) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_non_finite(v) for v in value)
    return False


RUN_SPEC = parse_spec(
    "inputs:\n"
    "  data: {type: dataset}\n"
    "  echo: {type: string, with: {value: hi}}\n"
    "  work: {type: volume}\n"
    "jobs: {a: {uses: container@v1, with: {image: x}}}\n"
).spec


@given(st.one_of(st.none(), st.text(max_size=200)))
def test_run_inputs_random_text(text):
    result = resolve_run_inputs(RUN_SPEC, text)
    assert (result.values is None) == bool(result.errors)
    for error in result.errors:
        assert error.line >= 1 and error.column >= 1 and error.message


@given(JSON_VALUES, st.booleans())
def test_run_inputs_random_documents(value, wrap):
    document = {"inputs": value} if wrap else value
    assume(not _has_non_finite(document))
    result = resolve_run_inputs(RUN_SPEC, json.dumps(document))
    assert (result.values is None) == bool(result.errors)
    for error in result.errors:
        assert error.line >= 1 and error.column >= 1 and error.message
    if result.values is not None:
        assert set(result.values) == {"data", "echo", "work"}
