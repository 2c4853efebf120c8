"""tests/skips.py: a skip anywhere in the suite counts as a failure, naming its reason."""

from tests.paths import REPO

pytest_plugins = ["pytester"]

CONFTEST = """
import pytest

pytest_plugins = ["tests.skips"]


@pytest.fixture
def tool():
    pytest.skip("no tool here")
"""

SKIPPING = """
import pytest


@pytest.mark.skipif(True, reason="chromium is not installed")
def test_marked():
    pass


def test_inside():
    pytest.skip("not today")


def test_fixture(tool):
    pass


@pytest.mark.xfail(reason="a known bug", strict=True)
def test_expected_to_fail():
    assert False
"""


def test_every_kind_of_skip_fails_naming_its_reason(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        test_sample=SKIPPING,
        test_module="import pytest\npytest.skip('no schema', allow_module_level=True)\n",
    )

    result = pytester.runpytest_subprocess(
        "-p", "no:django", "-p", "no:cacheprovider", "--continue-on-collection-errors"
    )

    result.assert_outcomes(failed=1, errors=3, xfailed=1)
    for reason in ("chromium is not installed", "not today", "no tool here", "no schema"):
        result.stdout.fnmatch_lines([f"*skipped: {reason}*"])
