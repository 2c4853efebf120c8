"""Reading YAML: syntax errors, duplicate keys, scalar types, aliases, limits."""

import datetime
import textwrap

import pytest

from workflows.spec import parse_spec
from workflows.spec.yaml_source import MAX_DEPTH, load_yaml


def load(text: str):
    return load_yaml(textwrap.dedent(text))


def only_error(text: str):
    result = parse_spec(textwrap.dedent(text))
    assert len(result.errors) == 1, [e.as_dict() for e in result.errors]
    return result.errors[0]


def test_plain_mapping_reads_like_pyyaml():
    loaded = load(
        """
        a: 1
        b: yes
        c: ~
        d: 1.5
        e: "1"
        f: [x, -1, 0x1f, 1_000]
        """
    )
    assert loaded.errors == []
    assert loaded.data == {
        "a": 1,
        "b": True,
        "c": None,
        "d": 1.5,
        "e": "1",
        "f": ["x", -1, 31, 1000],
    }


def test_dash_item_in_a_list_is_a_nested_list_holding_null():
    assert load("- -\n").data == [[None]]


def test_on_key_stays_a_name():
    loaded = load("on: {github: {branches: {only: main}}}\n")
    assert loaded.data == {"on": {"github": {"branches": {"only": "main"}}}}


def test_duplicate_key_is_an_error_at_the_second_one():
    error = only_error(
        """\
        jobs:
          a:
            uses: container@v1
            with: {image: x}
          a:
            uses: script@v1
        """
    )
    assert error.path == "jobs.a"
    assert (error.line, error.column) == (5, 3)
    assert "duplicate key" in error.message
    assert "first defined on line 2" in error.message


def test_duplicate_key_keeps_the_first_value():
    loaded = load("a: 1\na: 2\n")
    assert loaded.data == {"a": 1}
    assert [e.line for e in loaded.errors] == [2]


def test_tab_indentation_is_an_error_at_the_tab():
    error = only_error("jobs:\n\thello: 1\n")
    assert (error.line, error.column) == (2, 1)
    assert error.message == "tabs are not allowed for indentation in YAML; indent with spaces"


def test_unclosed_quote_points_at_the_opening_quote():
    error = only_error('jobs:\n  a:\n    uses: "container@v1\n')
    assert (error.line, error.column) == (3, 11)
    assert "never closed" in error.message


def test_bad_indentation_is_an_error_at_its_line():
    error = only_error("jobs:\n  a:\n    uses: x\n   with: y\n")
    assert error.line == 4
    assert "indentation" in error.message


def test_colon_in_plain_value_says_to_quote():
    error = only_error("a: b: c\n")
    assert error.line == 1
    assert "quoted" in error.message


def test_unclosed_flow_list_names_its_opening_line():
    error = only_error("a: [1, 2\nb: 3\n")
    assert "line 1" in error.message


def test_several_documents_are_an_error():
    error = only_error("jobs: {}\n---\njobs: {}\n")
    assert error.line == 2
    assert "single YAML document" in error.message


@pytest.mark.parametrize("text", ["", "   \n", "# only a comment\n", "~\n", "null\n"])
def test_empty_document_is_an_error(text):
    error = only_error(text)
    assert error.path == ""
    assert error.message == "the spec is empty; it needs at least a `jobs:` mapping"


def test_control_character_is_an_error_with_its_position():
    error = only_error("jobs:\n  a\x00: 1\n")
    assert (error.line, error.column) == (2, 4)
    assert "U+0000" in error.message


def test_unpaired_surrogate_is_an_error():
    error = only_error("jobs: {a: '\ud800'}\n")
    assert "surrogate" in error.message


def test_non_string_key_is_an_error():
    error = only_error(
        """\
        jobs:
          1:
            uses: container@v1
            with: {image: x}
          b:
            uses: container@v1
            with: {image: x}
        """
    )
    assert error.line == 2
    assert "keys must be strings" in error.message
    assert '"1"' in error.message


def test_list_as_key_is_an_error():
    loaded = load("? [a]\n: 1\nb: 2\n")
    assert loaded.data == {"b": 2}
    assert "keys must be names" in loaded.errors[0].message


def test_anchors_and_aliases_are_allowed():
    loaded = load(
        """
        base: &image {image: "bash:5"}
        a: *image
        """
    )
    assert loaded.errors == []
    assert loaded.data["a"] == {"image": "bash:5"}


def test_merge_keys_follow_pyyaml():
    loaded = load(
        """
        one: &one {a: 1, b: 1}
        two: &two {b: 2, c: 2}
        both:
          <<: [*one, *two]
          c: 3
        """
    )
    assert loaded.data["both"] == {"a": 1, "b": 1, "c": 3}


def test_undefined_alias_is_an_error():
    error = only_error("a: *nothing\n")
    assert "not defined" in error.message


def test_alias_bomb_is_stopped():
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for level in range(1, 10):
        items = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"a{level}: &a{level} [{items}]")
    result = parse_spec("\n".join(lines) + "\n")
    assert len(result.errors) == 1
    assert "aliases expand" in result.errors[0].message
    assert result.data is None


def test_recursive_alias_is_an_error():
    loaded = load("a: &a [1, *a]\n")
    assert any("contains it" in e.message for e in loaded.errors)


def test_deep_nesting_is_an_error_not_a_crash():
    text = "a: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n"
    error = only_error(text)
    assert "nests" in error.message


def test_very_deep_nesting_is_a_syntax_error():
    text = "[" * 100_000
    assert parse_spec(text).errors


def test_unknown_tag_is_an_error():
    loaded = load("a: !custom x\n")
    assert loaded.errors[0].path == "a"
    assert "!custom" in loaded.errors[0].message


def test_dates_are_dates_but_data_is_json():
    loaded = load("a: 2001-01-01\nb: .inf\n")
    assert loaded.data["a"] == datetime.date(2001, 1, 1)
    assert loaded.json_data() == {"a": "2001-01-01", "b": "inf"}


def test_bytes_are_read_as_utf8():
    result = parse_spec(b"jobs:\n  a:\n    uses: container@v1\n    with: {image: x}\n")
    assert result.valid


def test_invalid_utf8_bytes_are_an_error():
    result = parse_spec(b"jobs: \xff\n")
    assert "UTF-8" in result.errors[0].message


def test_not_text_is_an_error():
    result = parse_spec(12)  # type: ignore[arg-type]
    assert "must be text" in result.errors[0].message


def test_windows_line_endings():
    result = parse_spec("jobs:\r\n  a:\r\n    uses: container@v1\r\n    with: {image: x}\r\n")
    assert result.valid


def test_root_list_is_an_error_with_no_data():
    result = parse_spec("- a\n- b\n")
    assert result.data is None
    assert "must be a mapping" in result.errors[0].message
