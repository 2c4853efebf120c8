"""/api/v1/workflows/<id>/runs/<n>/jobs/<name>/logs: pages of a job's log lines."""

import pytest

from runs.models import JobPhase, LogChunk
from tests.factories import JobRunFactory, ProjectFactory, RunFactory, WorkflowFactory


@pytest.fixture
def job(team):
    run = RunFactory(workflow=WorkflowFactory(project=ProjectFactory(team=team)), number=1)
    return JobRunFactory(run=run, name="train", phase=JobPhase.RUNNING)


def _write_lines(job, count: int, chunk: int = 4) -> None:
    """`count` lines in chunks, as the log writer stores them: line N says "line N"."""
    for first in range(1, count + 1, chunk):
        numbers = range(first, min(first + chunk, count + 1))
        LogChunk.objects.create(
            job=job,
            first_line=first,
            line_count=len(numbers),
            lines=[[f"2026-11-27T10:00:{n % 60:02d}Z", f"line {n}"] for n in numbers],
        )


def _url(job, query: str = "") -> str:
    run = job.run
    return f"/api/v1/workflows/{run.workflow_id}/runs/{run.number}/jobs/{job.name}/logs{query}"


@pytest.mark.django_db
class TestLogs:
    @pytest.mark.parametrize(
        ("who", "expected"), [("owner", 200), ("member", 200), ("outsider", 404), (None, 401)]
    )
    def test_only_the_team_reads_logs(self, as_user, job, who, expected):
        _write_lines(job, 3)

        answer = as_user(who).get(_url(job))

        assert answer.status_code == expected
        if expected != 200:
            assert "line 1" not in answer.content.decode()

    def test_lines_come_in_order_with_their_numbers_and_times(self, as_user, job):
        _write_lines(job, 10)

        body = as_user("member").get(_url(job)).json()

        assert [line["line"] for line in body["lines"]] == list(range(1, 11))
        assert body["lines"][0] == {
            "line": 1,
            "timestamp": "2026-11-27T10:00:01Z",
            "message": "line 1",
        }
        assert body["next"] == 10
        assert body["finished"] is False

    def test_after_and_limit_page_through_the_log(self, as_user, job):
        _write_lines(job, 10)
        client = as_user("owner")

        first = client.get(_url(job, "?limit=4")).json()
        second = client.get(_url(job, f"?after={first['next']}&limit=4")).json()

        assert [line["line"] for line in first["lines"]] == [1, 2, 3, 4]
        assert [line["line"] for line in second["lines"]] == [5, 6, 7, 8]
        assert second["next"] == 8

    def test_no_new_lines_keeps_next_where_it_was(self, as_user, job):
        _write_lines(job, 3)

        body = as_user("owner").get(_url(job, "?after=3")).json()

        assert body == {"lines": [], "next": 3, "finished": False}

    def test_finished_once_the_job_ended_and_every_line_was_sent(self, as_user, job):
        _write_lines(job, 6)
        job.phase = JobPhase.SUCCEEDED
        job.save(update_fields=["phase"])
        client = as_user("owner")

        partial = client.get(_url(job, "?limit=4")).json()
        rest = client.get(_url(job, "?after=4&limit=4")).json()

        assert partial["finished"] is False
        assert [line["line"] for line in rest["lines"]] == [5, 6]
        assert rest["finished"] is True

    def test_the_limit_is_capped(self, as_user, job):
        _write_lines(job, 5200, chunk=2000)

        body = as_user("owner").get(_url(job, "?limit=100000")).json()

        assert len(body["lines"]) == 5000
        assert body["next"] == 5000

    @pytest.mark.parametrize(
        ("query", "field"),
        [
            ("?after=-1", "after"),
            ("?after=x", "after"),
            ("?limit=0", "limit"),
            ("?limit=ten", "limit"),
        ],
    )
    def test_bad_parameters_are_400(self, as_user, job, query, field):
        answer = as_user("owner").get(_url(job, query))

        assert answer.status_code == 400
        assert answer.json()["detail"].startswith(f"{field}: ")

    @pytest.mark.parametrize(
        "path",
        [
            "/api/v1/workflows/{workflow}/runs/1/jobs/nope/logs",
            "/api/v1/workflows/{workflow}/runs/2/jobs/train/logs",
            "/api/v1/workflows/{workflow}/runs/x/jobs/train/logs",
            "/api/v1/workflows/not-a-uuid/runs/1/jobs/train/logs",
        ],
    )
    def test_an_unknown_job_run_or_workflow_is_404(self, as_user, job, path):
        answer = as_user("owner").get(path.format(workflow=job.run.workflow_id))

        assert answer.status_code == 404
        assert set(answer.json()) == {"detail"}

    def test_a_page_costs_the_same_queries_however_long_the_log(
        self, as_user, job, django_assert_num_queries
    ):
        _write_lines(job, 400, chunk=10)
        client = as_user("owner")

        # The job (with access); its chunks.
        with django_assert_num_queries(2):
            body = client.get(_url(job, "?after=200&limit=100")).json()

        assert [line["line"] for line in body["lines"]][:2] == [201, 202]
