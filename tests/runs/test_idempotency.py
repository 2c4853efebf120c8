"""An Idempotency-Key lets a client retry a run submission without making a second run."""

import json

import pytest
from django.test import Client

from runs.models import Run
from workflows.services import api_key_create

SPEC = "jobs:\n  hello:\n    uses: container@v1\n    with: {image: bash:5, args: [echo, hi]}\n"
OTHER_SPEC = SPEC.replace("hi]", "ho]")

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]


@pytest.fixture
def rest(as_user):
    api = as_user("owner")

    def submit(workflow, spec: str, key: str | None):
        headers = {"Idempotency-Key": key} if key is not None else {}
        return api.post(
            f"/api/v1/workflows/{workflow.id}/runs", {"spec": spec}, format="json", headers=headers
        )

    return submit


@pytest.fixture
def cli(owner):
    client = Client(headers={"X-API-Key": api_key_create(user=owner, name="cli")[1]})

    def submit(workflow, spec: str, key: str | None):
        headers = {"Idempotency-Key": key} if key is not None else {}
        return client.post(
            f"/gradient/workflows/{workflow.id}/runs",
            json.dumps({"spec": spec}),
            content_type="application/json",
            headers=headers,
        )

    return submit


@pytest.fixture(params=["rest", "cli"])
def submit(request):
    return request.getfixturevalue(request.param)


def test_a_retry_with_the_same_key_answers_the_same_run(
    submit, workflow, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = submit(workflow, SPEC, "retry-me")
        again = submit(workflow, SPEC, "retry-me")

    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert Run.objects.filter(workflow=workflow).count() == 1
    assert len(queued) == 1
    assert Run.objects.get().idempotency_key == "retry-me"


def test_without_a_key_or_with_another_key_each_submission_is_a_run(submit, workflow):
    submit(workflow, SPEC, None)
    submit(workflow, SPEC, None)
    submit(workflow, SPEC, "one")
    submit(workflow, SPEC, "two")

    assert Run.objects.filter(workflow=workflow).count() == 4


def test_a_key_reused_with_another_request_is_422_and_makes_nothing(submit, workflow):
    submit(workflow, SPEC, "used")

    answer = submit(workflow, OTHER_SPEC, "used")

    assert answer.status_code == 422
    assert "was already used for run 1" in answer.content.decode()
    assert Run.objects.filter(workflow=workflow).count() == 1


def test_a_key_is_per_user(submit, workflow, member, as_user):
    submit(workflow, SPEC, "shared")

    answer = as_user("member").post(
        f"/api/v1/workflows/{workflow.id}/runs",
        {"spec": SPEC},
        format="json",
        headers={"Idempotency-Key": "shared"},
    )

    assert answer.status_code == 201
    assert Run.objects.filter(workflow=workflow).count() == 2


def test_a_key_that_is_not_printable_ascii_is_400(rest, workflow):
    answer = rest(workflow, SPEC, "x" * 201)

    assert answer.status_code == 400
    assert "Idempotency-Key must be 1 to 200 printable ASCII characters" in answer.json()["detail"]
    assert not Run.objects.exists()
