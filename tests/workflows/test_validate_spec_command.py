"""`manage.py validate_spec FILE [--json]`: output and exit status."""

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

REPO = Path(__file__).resolve().parents[2]
VALID = "jobs:\n  hello:\n    uses: container@v1\n    with: {image: bash:5}\n"
INVALID = (
    "jobs:\n  hello:\n    uses: container@v1\n    with: {image: bash:5, args: [1]}\n    nedds: []\n"
)


def run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("validate_spec", *args, stdout=out)
    except SystemExit as exc:
        return int(exc.code), out.getvalue()
    return 0, out.getvalue()


@pytest.fixture
def spec_file(tmp_path):
    def write(text: str) -> str:
        path = tmp_path / "spec.yaml"
        path.write_text(text)
        return str(path)

    return write


def test_valid_spec_exits_0(spec_file):
    code, out = run(spec_file(VALID))
    assert code == 0
    assert "valid" in out


def test_invalid_spec_exits_1_with_one_error_per_line(spec_file):
    code, out = run(spec_file(INVALID))
    assert code == 1
    assert out.splitlines() == [
        "4:34 jobs.hello.with.args[0]: jobs.hello.with.args[0] must be a string; quote it, "
        'e.g. "1" (unquoted, YAML reads it as the number 1)',
        '5:5 jobs.hello.nedds: unknown key "nedds" in jobs.hello; allowed keys are uses, with, '
        'needs, inputs, outputs, env, resources, timeout or retries (did you mean "needs"?)',
    ]


def test_json_output(spec_file):
    code, out = run(spec_file(INVALID), "--json")
    assert code == 1
    payload = json.loads(out)
    assert payload["valid"] is False
    assert payload["errors"][1] == {
        "path": "jobs.hello.nedds",
        "line": 5,
        "column": 5,
        "message": 'unknown key "nedds" in jobs.hello; allowed keys are uses, with, needs, '
        "inputs, outputs, env, resources, timeout or retries",
        "hint": 'did you mean "needs"?',
    }
    code, out = run(spec_file(VALID), "--json")
    assert (code, json.loads(out)) == (0, {"valid": True, "errors": []})


def test_unreadable_file_exits_2(tmp_path):
    with pytest.raises(CommandError) as raised:
        call_command("validate_spec", str(tmp_path / "missing.yaml"))
    assert raised.value.returncode == 2


def test_syntax_error_is_reported_not_raised(spec_file):
    code, out = run(spec_file("jobs:\n\thello: 1\n"))
    assert code == 1
    assert out.startswith("2:1 (document): tabs are not allowed")


def test_stdin_and_real_exit_codes():
    command = [sys.executable, "manage.py", "validate_spec", "-", "--json"]
    done = subprocess.run(command, input=VALID, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"valid": True, "errors": []}
    done = subprocess.run(command, input=INVALID, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 1
    assert len(json.loads(done.stdout)["errors"]) == 2
    done = subprocess.run(
        [sys.executable, "manage.py", "validate_spec", "/nonexistent/spec.yaml"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert done.returncode == 2
    assert "cannot read" in done.stderr
