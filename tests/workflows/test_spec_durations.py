"""Durations: 90s, 30m, 2h, 1h30m, 1d."""

import pytest

from workflows.spec.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("30m", 1800), ("2h", 7200), ("1h30m", 5400), ("1d2h3m4s", 93784), ("0s", 0)],
)
def test_parse(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "m", "1.5h", "30m1h", "1 h", "-1s", "1w"])
def test_not_durations(text):
    assert parse_duration(text) is None


@pytest.mark.parametrize(("seconds", "text"), [(0, "0s"), (90, "1m30s"), (5400, "1h30m")])
def test_format(seconds, text):
    assert format_duration(seconds) == text
