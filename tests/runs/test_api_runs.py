"""/api/v1/workflows/<id>/runs…: submit, list, status document, cancel, re-run."""

import pytest

from runs.models import JobRun, Run, RunPhase
from tests.factories import (
    JobRunFactory,
    RunFactory,
)
from workflows.models import StoredSpec
from workflows.services import spec_store

SPEC = """\
inputs:
  greeting:
    type: string
    with:
      value: hello
jobs:
  second:
    needs: [first]
    uses: container@v1
    with:
      image: bash:5
      args: ["cat", "/inputs/greeting"]
    inputs:
      greeting: workflow.inputs.greeting
  first:
    uses: container@v1
    with:
      image: bash:5
      args: ["echo", "first"]
"""
OTHER_SPEC = SPEC.replace('"first"]', '"one"]')


@pytest.fixture(autouse=True)
def enqueued(monkeypatch):
    """Runs the API queues; no broker message leaves the tests."""
    queued = {"start": [], "cancel": []}
    monkeypatch.setattr("runs.queue.run_start", queued["start"].append)
    monkeypatch.setattr("runs.queue.run_cancel", queued["cancel"].append)
    return queued


def _runs_url(workflow) -> str:
    return f"/api/v1/workflows/{workflow.id}/runs"


def _submit(client, workflow, **body):
    return client.post(_runs_url(workflow), {"spec": SPEC, **body}, format="json")


def _counts() -> tuple[int, int, int]:
    return Run.objects.count(), JobRun.objects.count(), StoredSpec.objects.count()


def _default_spec(workflow, text: str = SPEC) -> None:
    workflow.default_spec = spec_store(text=text, parsed={})
    workflow.save(update_fields=["default_spec"])


@pytest.mark.django_db
class TestAccess:
    """Members of the workflow's team may do everything here; anyone else gets a 404."""

    @pytest.mark.parametrize(
        ("who", "expected"), [("owner", 201), ("member", 201), ("outsider", 404), (None, 401)]
    )
    def test_submit(self, as_user, workflow, who, expected):
        before = _counts()

        answer = _submit(as_user(who), workflow)

        assert answer.status_code == expected
        if expected != 201:
            assert _counts() == before
            assert set(answer.json()) == {"detail"}

    @pytest.mark.parametrize(
        ("who", "expected"), [("owner", 200), ("member", 200), ("outsider", 404), (None, 401)]
    )
    @pytest.mark.parametrize("suffix", ["", "/1", "/1/jobs/first/logs"])
    def test_reads(self, as_user, workflow, who, expected, suffix):
        run = RunFactory(workflow=workflow, number=1)
        JobRunFactory(run=run, name="first")

        answer = as_user(who).get(_runs_url(workflow) + suffix)

        assert answer.status_code == expected

    @pytest.mark.parametrize(
        ("who", "expected"), [("owner", 202), ("member", 202), ("outsider", 404), (None, 401)]
    )
    def test_cancel(
        self, as_user, workflow, who, expected, enqueued, django_capture_on_commit_callbacks
    ):
        run = RunFactory(workflow=workflow, number=1)

        with django_capture_on_commit_callbacks(execute=True):
            answer = as_user(who).post(f"{_runs_url(workflow)}/1/cancel")

        assert answer.status_code == expected
        assert enqueued["cancel"] == ([run.id] if expected == 202 else [])

    @pytest.mark.parametrize(
        ("who", "expected"), [("owner", 201), ("member", 201), ("outsider", 404), (None, 401)]
    )
    def test_rerun(self, as_user, workflow, who, expected):
        _submit(as_user("owner"), workflow)

        answer = as_user(who).post(f"{_runs_url(workflow)}/1/rerun", {}, format="json")

        assert answer.status_code == expected
        assert Run.objects.count() == (2 if expected == 201 else 1)


@pytest.mark.django_db
class TestSubmit:
    def test_answers_the_status_document_with_every_job_pending(self, as_user, workflow, owner):
        answer = _submit(as_user("owner"), workflow, inputs={"greeting": {"value": "hi"}})

        assert answer.status_code == 201
        document = answer.json()
        assert document["id"] == 1
        assert document["cluster"]["id"] == "local"
        assert document["spec"]["jobs"]["first"]["uses"] == "container@v1"
        assert document["inputs"] == {"greeting": {"value": "hi"}}
        assert document["createdBy"] == owner.username
        status = document["status"]
        assert status["phase"] == RunPhase.PENDING
        assert status["inputs"]["greeting"]["value"] == "hi"
        assert list(status["jobs"]) == ["first", "second"]
        assert {job["phase"] for job in status["jobs"].values()} == {"PENDING"}

    @pytest.mark.parametrize(
        "inputs",
        [
            None,
            {"inputs": {"greeting": {"value": "yo"}}},
            '{"inputs": {"greeting": {"value": "yo"}}}',
            "inputs:\n  greeting:\n    value: yo\n",
        ],
    )
    def test_inputs_come_as_a_mapping_json_or_yaml_text_or_nothing(self, as_user, workflow, inputs):
        answer = _submit(as_user("owner"), workflow, inputs=inputs)

        assert answer.status_code == 201, answer.json()
        expected = "hello" if inputs is None else "yo"
        assert answer.json()["status"]["inputs"]["greeting"]["value"] == expected

    def test_default_runs_the_workflows_default_spec(self, as_user, workflow):
        _default_spec(workflow, OTHER_SPEC)

        answer = _submit(as_user("member"), workflow, spec="default")

        assert answer.status_code == 201
        assert Run.objects.get().spec.text == OTHER_SPEC

    def test_default_without_a_default_spec_says_to_submit_one(self, as_user, workflow):
        answer = _submit(as_user("owner"), workflow, spec="default")

        assert answer.status_code == 400
        assert "no default spec" in answer.json()["detail"]
        assert Run.objects.count() == 0

    def test_mark_default_makes_the_spec_the_default(self, as_user, workflow):
        _default_spec(workflow, OTHER_SPEC)

        _submit(as_user("owner"), workflow, markDefault=True)

        workflow.refresh_from_db()
        assert workflow.default_spec.text == SPEC

    def test_an_invalid_spec_answers_every_error_with_its_line_and_creates_nothing(
        self, as_user, workflow
    ):
        broken = SPEC.replace("needs: [first]", "needs: [frist]").replace("bash:5", "5", 1)
        before = _counts()

        answer = _submit(as_user("owner"), workflow, spec=broken + "steps: []\n")

        assert answer.status_code == 400
        body = answer.json()
        assert set(body) == {"detail", "errors"}
        assert body["detail"].startswith("the run was not created: ")
        paths = {error["path"] for error in body["errors"]}
        assert {"jobs.second.needs[0]", "steps"} <= paths
        for error in body["errors"]:
            assert set(error) == {"path", "line", "column", "message", "hint", "document"}
            assert error["document"] == "spec"
        needs_error = next(e for e in body["errors"] if e["path"] == "jobs.second.needs[0]")
        assert needs_error["line"] == 8
        assert needs_error["hint"] == 'did you mean "first"?'
        assert _counts() == before

    def test_an_invalid_inputs_document_is_an_inputs_error(self, as_user, workflow):
        before = _counts()

        answer = _submit(as_user("owner"), workflow, inputs={"greting": {"value": "x"}})

        assert answer.status_code == 400
        (error,) = answer.json()["errors"]
        assert error["document"] == "inputs"
        assert error["hint"] == 'did you mean "greeting"?'
        assert _counts() == before

    def test_a_spec_over_one_mib_is_413_and_creates_nothing(self, as_user, workflow):
        before = _counts()

        answer = _submit(as_user("owner"), workflow, spec=SPEC + "#" * (1024 * 1024))

        assert answer.status_code == 413
        assert "1024 KiB" in answer.json()["detail"]
        assert _counts() == before

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({}, "spec"),
            ({"spec": {"jobs": {}}}, "spec"),
            ({"spec": 42}, "spec"),
            ({"spec": SPEC, "inputs": [1, 2]}, "inputs"),
            ({"spec": SPEC, "inputs": 5}, "inputs"),
            ({"spec": SPEC, "clusterId": 7}, "clusterId"),
            ({"spec": SPEC, "markDefault": "perhaps"}, "markDefault"),
        ],
    )
    def test_wrong_types_are_400_naming_the_field(self, as_user, workflow, body, field):
        answer = as_user("owner").post(_runs_url(workflow), body, format="json")

        assert answer.status_code == 400
        assert answer.json()["detail"].startswith(f"{field}: ")
        assert Run.objects.count() == 0

    def test_an_unknown_cluster_is_400(self, as_user, workflow):
        answer = _submit(as_user("owner"), workflow, clusterId="gpu-farm")

        assert answer.status_code == 400
        body = answer.json()
        assert body["detail"] == (
            'the run was not created: clusterId: there is no cluster "gpu-farm" in this team; '
            "leave it out to use the local engine"
        )
        assert "errors" not in body, "a request field has no line in the spec"

    @pytest.mark.parametrize(
        "body",
        [b"{not json", b'{"spec": "x"', b"[" * 100000, b'"\xff\xfe"', b"NaN"],
        ids=["not-json", "unterminated", "deeply-nested", "not-utf8", "nan"],
    )
    def test_a_malformed_body_is_400_not_500(self, as_user, workflow, body):
        answer = as_user("owner").post(_runs_url(workflow), body, content_type="application/json")

        assert answer.status_code == 400
        assert "not valid JSON" in answer.json()["detail"]

    def test_an_unknown_workflow_is_404(self, as_user, db):
        answer = as_user("owner").post(
            "/api/v1/workflows/0b7e7a68-5f3e-4f43-9a55-3f0d1c3a2b11/runs",
            {"spec": SPEC},
            format="json",
        )
        malformed = as_user("owner").post("/api/v1/workflows/nope/runs", {"spec": SPEC})

        assert answer.status_code == malformed.status_code == 404
        assert "there is no workflow" in answer.json()["detail"]


@pytest.mark.django_db
class TestList:
    def test_lists_summaries_newest_first_without_spec_or_jobs(self, as_user, workflow):
        for number in (1, 2, 3):
            RunFactory(workflow=workflow, number=number)

        answer = as_user("member").get(_runs_url(workflow))

        body = answer.json()
        assert body["count"] == 3
        assert [run["id"] for run in body["results"]] == [3, 2, 1]
        assert "spec" not in body["results"][0]
        assert "status" not in body["results"][0]

    def test_filters_by_phase_and_reason(self, as_user, workflow):
        RunFactory(workflow=workflow, number=1, phase=RunPhase.FAILED)
        RunFactory(workflow=workflow, number=2, phase=RunPhase.SUCCEEDED)
        RunFactory(workflow=workflow, number=3, phase=RunPhase.CANCELED, reason="rerun")
        client = as_user("owner")

        def numbers(query: str) -> list[int]:
            return [run["id"] for run in client.get(_runs_url(workflow) + query).json()["results"]]

        assert numbers("?phase=FAILED") == [1]
        assert numbers("?phase=failed,canceled") == [3, 1]
        assert numbers("?reason=rerun") == [3]
        assert numbers("?phase=FAILED&reason=rerun") == []

    @pytest.mark.parametrize(
        ("query", "message"),
        [
            ("?phase=DONE", "phase: phase DONE is not one of PENDING, RUNNING"),
            ("?reason=cron", "reason: reason cron is not one of manual, rerun, trigger"),
        ],
    )
    def test_a_bad_filter_is_400_and_says_what_is_allowed(self, as_user, workflow, query, message):
        answer = as_user("owner").get(_runs_url(workflow) + query)

        assert answer.status_code == 400
        assert answer.json()["detail"].startswith(message)

    def test_pages(self, as_user, workflow):
        for number in range(1, 8):
            RunFactory(workflow=workflow, number=number)

        body = as_user("owner").get(_runs_url(workflow) + "?page=2&page_size=3").json()

        assert body["count"] == 7
        assert [run["id"] for run in body["results"]] == [4, 3, 2]
        assert body["next"].endswith("page=3&page_size=3")

    def test_a_page_past_the_end_is_404(self, as_user, workflow):
        answer = as_user("owner").get(_runs_url(workflow) + "?page=9")

        assert answer.status_code == 404
        assert set(answer.json()) == {"detail"}

    @pytest.mark.parametrize(("runs", "page_size"), [(3, 3), (30, 25)])
    def test_the_query_count_does_not_grow_with_runs_or_page_size(
        self, as_user, workflow, django_assert_num_queries, runs, page_size, owner
    ):
        first = RunFactory(workflow=workflow, number=1, created_by=owner)
        for number in range(2, runs + 1):
            RunFactory(workflow=workflow, number=number, rerun_of=first, created_by=owner)
        client = as_user("owner")

        # The workflow (with access), the count, the page's ids, the page's runs.
        with django_assert_num_queries(4):
            answer = client.get(f"{_runs_url(workflow)}?page_size={page_size}")

        assert len(answer.json()["results"]) == page_size


@pytest.mark.django_db
class TestDetail:
    def test_is_the_status_document(self, as_user, workflow):
        _submit(as_user("owner"), workflow)

        document = as_user("member").get(f"{_runs_url(workflow)}/1").json()

        assert document["id"] == 1
        assert document["status"]["phase"] == "PENDING"
        assert set(document["status"]["jobs"]["first"]) >= {
            "phase",
            "started",
            "finished",
            "logId",
            "outputs",
        }

    @pytest.mark.parametrize("number", ["2", "0", "abc", "-1", "99999999999999999999"])
    def test_an_unknown_run_is_404(self, as_user, workflow, number):
        RunFactory(workflow=workflow, number=1)

        answer = as_user("owner").get(f"{_runs_url(workflow)}/{number}")

        assert answer.status_code == 404
        assert "there is no run" in answer.json()["detail"]

    @pytest.mark.parametrize("jobs", [1, 40])
    def test_the_query_count_does_not_grow_with_jobs(
        self, as_user, workflow, django_assert_num_queries, jobs
    ):
        run = RunFactory(workflow=workflow, number=1)
        for index in range(jobs):
            JobRunFactory(run=run, name=f"job-{index}", position=index)
        client = as_user("owner")

        # The run with its spec, cluster, workflow and creator; its jobs.
        with django_assert_num_queries(2):
            answer = client.get(f"{_runs_url(workflow)}/1")

        assert len(answer.json()["status"]["jobs"]) == jobs


@pytest.mark.django_db
class TestCancelAndRerun:
    @pytest.mark.parametrize("phase", [RunPhase.SUCCEEDED, RunPhase.FAILED, RunPhase.CANCELED])
    def test_canceling_an_ended_run_is_409(self, as_user, workflow, phase, enqueued):
        RunFactory(workflow=workflow, number=1, phase=phase)

        answer = as_user("owner").post(f"{_runs_url(workflow)}/1/cancel")

        assert answer.status_code == 409
        assert phase in answer.json()["detail"]
        assert enqueued["cancel"] == []

    def test_cancel_answers_the_summary(self, as_user, workflow):
        RunFactory(workflow=workflow, number=1, phase=RunPhase.RUNNING)

        answer = as_user("owner").post(f"{_runs_url(workflow)}/1/cancel")

        assert answer.json()["cancelRequested"] is True
        assert answer.json()["phase"] == "RUNNING"

    def test_rerun_with_the_same_spec(self, as_user, workflow):
        client = as_user("owner")
        _submit(client, workflow, inputs={"greeting": {"value": "again"}})
        _default_spec(workflow, OTHER_SPEC)

        answer = client.post(f"{_runs_url(workflow)}/1/rerun", {"spec": "same"}, format="json")

        document = answer.json()
        assert answer.status_code == 201
        assert document["id"] == 2
        assert document["rerunOf"] == 1
        assert document["reason"] == "rerun"
        assert document["inputs"] == {"greeting": {"value": "again"}}
        assert Run.objects.get(number=2).spec.text == SPEC

    def test_rerun_with_the_default_spec(self, as_user, workflow):
        client = as_user("owner")
        _submit(client, workflow)
        _default_spec(workflow, OTHER_SPEC)

        client.post(f"{_runs_url(workflow)}/1/rerun", {"spec": "default"}, format="json")

        assert Run.objects.get(number=2).spec.text == OTHER_SPEC

    def test_rerun_of_the_failed_jobs_keeps_what_succeeded(self, as_user, workflow):
        client = as_user("owner")
        _submit(client, workflow)
        first = Run.objects.get(number=1)
        first.jobs.filter(name="first").update(phase="SUCCEEDED", exit_code=0)
        first.jobs.filter(name="second").update(phase="FAILED", exit_code=1)
        Run.objects.filter(pk=first.pk).update(phase=RunPhase.FAILED)

        answer = client.post(f"{_runs_url(workflow)}/1/rerun", {"spec": "failed"}, format="json")

        assert answer.status_code == 201
        jobs = answer.json()["status"]["jobs"]
        assert jobs["first"]["phase"] == "SUCCEEDED"
        assert jobs["first"]["message"].startswith("reused: it succeeded in run #1")
        assert jobs["second"]["phase"] == "PENDING"

    def test_rerun_of_the_failed_jobs_of_a_running_run_is_409(self, as_user, workflow):
        _submit(as_user("owner"), workflow)
        Run.objects.filter(number=1).update(phase=RunPhase.RUNNING)

        answer = as_user("owner").post(
            f"{_runs_url(workflow)}/1/rerun", {"spec": "failed"}, format="json"
        )

        assert answer.status_code == 409
        assert "run 1 is still running; wait for it to end or cancel it" in answer.json()["detail"]
        assert Run.objects.count() == 1

    def test_rerun_refuses_an_unknown_choice(self, as_user, workflow):
        _submit(as_user("owner"), workflow)

        answer = as_user("owner").post(
            f"{_runs_url(workflow)}/1/rerun", {"spec": "latest"}, format="json"
        )

        assert answer.status_code == 400
        assert answer.json()["detail"].startswith("spec: ")
        assert Run.objects.count() == 1
