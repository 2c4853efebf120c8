"""Every bad input to the validator gets a position: the same through JSON, text/plain
and `manage.py validate_spec`, a line and column where there is a text, a clear
message and no line where there is none."""

import io
import json

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from tests.factories import ClusterFactory, ProjectFactory, WorkflowFactory

NUL = "the text contains the control character U+0000, which YAML does not allow; remove it"
SURROGATE = "the text contains an unpaired surrogate U+D800, which YAML does not allow; remove it"
EMPTY = "the spec is empty; it needs at least a `jobs:` mapping"
NOT_UTF8 = "the text contains the byte 0xFF, which is not UTF-8; save the spec as UTF-8 text"
TOO_LARGE = "the spec is larger than 1024 KiB; split it into several workflows"

# (the spec as JSON can carry it, the same spec as bytes on the wire or on disk, error)
CASES = {
    "nul": ("jobs:\n  a: \x00\n", b"jobs:\n  a: \x00\n", (2, 6, NUL)),
    "lone-surrogate": ("jobs:\n  a: \ud800\n", b"jobs:\n  a: \xed\xa0\x80\n", (2, 6, SURROGATE)),
    "empty": ("", b"", (1, 1, EMPTY)),
}


@pytest.fixture
def api(outsider) -> APIClient:
    client = APIClient()
    client.force_authenticate(outsider)
    return client


def positions(errors: list[dict]) -> list[tuple]:
    return [(error["line"], error["column"], error["message"]) for error in errors]


def validate_json(api, spec: str):
    body = json.dumps({"spec": spec})  # lone surrogates travel as \ud800 escapes
    return api.post("/api/v1/validate", body, content_type="application/json")


def validate_text(api, body: bytes):
    return api.post("/api/v1/validate", body, content_type="text/plain")


def validate_command(tmp_path, body: bytes, *options: str) -> tuple[int, str]:
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_bytes(body)
    out = io.StringIO()
    try:
        call_command("validate_spec", str(spec_file), *options, stdout=out)
    except SystemExit as exit:
        return int(exit.code), out.getvalue()
    return 0, out.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize("case", CASES)
def test_a_bad_character_or_an_empty_spec_is_placed_the_same_everywhere(api, tmp_path, case):
    text, raw, expected = CASES[case]

    as_json = validate_json(api, text)
    as_text = validate_text(api, raw)
    code, printed = validate_command(tmp_path, raw, "--json")

    assert as_json.status_code == as_text.status_code == 200
    assert positions(as_json.json()["errors"]) == [expected]
    assert positions(as_text.json()["errors"]) == [expected]
    assert code == 1
    assert positions(json.loads(printed)["errors"]) == [expected]


@pytest.mark.django_db
def test_a_byte_that_is_not_utf8_is_placed_through_text_plain_and_the_command(api, tmp_path):
    raw = b"jobs:\n  a: \xff\n"

    as_text = validate_text(api, raw)
    code, printed = validate_command(tmp_path, raw)

    assert as_text.status_code == 200
    assert positions(as_text.json()["errors"]) == [(2, 6, NOT_UTF8)]
    assert (code, printed.strip()) == (1, f"2:6 (document): {NOT_UTF8}")


@pytest.mark.django_db
def test_an_over_size_spec_is_refused_with_a_message_and_no_line(api, tmp_path):
    raw = b"jobs: {}\n" + b"#" * (1024 * 1024)

    as_json = validate_json(api, raw.decode())
    as_text = validate_text(api, raw)
    code, printed = validate_command(tmp_path, raw, "--json")

    assert as_json.status_code == as_text.status_code == 413
    assert as_json.json() == as_text.json() == {"detail": TOO_LARGE}
    assert code == 1
    assert json.loads(printed) == {"valid": False, "detail": TOO_LARGE, "errors": []}


@pytest.mark.django_db
@pytest.mark.parametrize("case", ["nul", "lone-surrogate"])
def test_a_run_submitted_with_a_bad_character_is_refused_at_its_line(as_user, team, case):
    ClusterFactory(team=team, handle="local")
    workflow = WorkflowFactory(project=ProjectFactory(team=team))
    text, _, expected = CASES[case]

    answer = as_user("owner").post(
        f"/api/v1/workflows/{workflow.id}/runs",
        json.dumps({"spec": text}),
        content_type="application/json",
    )

    assert answer.status_code == 400
    assert positions(answer.json()["errors"]) == [expected]
