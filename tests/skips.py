"""A skipped test is a failed test, unless its reason is on a short, documented list.

A fresh machine used to pass `make test` with seventy checks skipped (no
Argo schema, no examples, no Chromium), saying so only in the skip list.
Now what a test needs is either in the repository or installed by `make
test`, and a test that needs something from the machine fails naming it
(the `bubblewrap` fixture, `launch_chromium`, `test_images`). A skip that
still happens fails here too, with its reason as the message.

ALLOWED_SKIPS holds the reasons (prefixes) a skip may keep. It is empty: no
test has a deliberate reason to not run. Add an entry only with a comment
saying why the test cannot run and where that is documented.
"""

from __future__ import annotations

import pytest

ALLOWED_SKIPS: tuple[str, ...] = ()


def _reason(longrepr: object) -> str:
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _as_failure(report: pytest.TestReport | pytest.CollectReport) -> None:
    reason = _reason(report.longrepr)
    if any(reason.startswith(allowed) for allowed in ALLOWED_SKIPS):
        return
    report.outcome = "failed"
    report.longrepr = (
        f"skipped: {reason}\n"
        "A skip is a failure in this suite (tests/skips.py): install what is missing "
        "(`make test` installs the system packages where it may) or fix the test."
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = (yield).get_result()
    if report.skipped and not hasattr(report, "wasxfail"):
        _as_failure(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    report = (yield).get_result()
    if report.skipped:
        _as_failure(report)
