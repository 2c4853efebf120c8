"""runs.rows: the engine's hot-path statements behave like the querysets they replace."""

import pytest
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext

from runs import rows
from runs.models import JobRun, LogChunk
from runs.rows import Add
from tests.factories import JobRunFactory

pytestmark = pytest.mark.django_db


def test_update_sets_values_through_the_fields_and_counts_rows():
    job = JobRunFactory(phase="RUNNING", attempt=2)

    changed = rows.update(
        JobRun,
        returning=("run", "attempt", "log_line_count"),
        where={"id": job.pk, "phase": ["PENDING", "RUNNING"], "attempt": 2},
        values={
            "phase": "SUCCEEDED",
            "outputs": {"note": {"value": "ünïcode ✓"}},
            "attempts": [{"attempt": 2, "exitCode": 0}],
            "exit_code": 0,
            "log_line_count": Add(3),
        },
    )

    assert changed == [(job.run_id, 2, 3)]
    job.refresh_from_db()
    assert job.phase == "SUCCEEDED"
    assert job.outputs == {"note": {"value": "ünïcode ✓"}}
    assert job.attempts == [{"attempt": 2, "exitCode": 0}]
    assert (job.exit_code, job.log_line_count) == (0, 3)


@pytest.mark.parametrize("where", [{"phase": ["PENDING"]}, {"phase": "SUCCEEDED"}, {"attempt": 1}])
def test_update_changes_nothing_when_a_condition_does_not_hold(where):
    job = JobRunFactory(phase="RUNNING", attempt=2)

    assert rows.update(JobRun, where={"id": job.pk, **where}, values={"phase": "FAILED"}) == []
    job.refresh_from_db()
    assert job.phase == "RUNNING"


def test_update_writes_null_for_none():
    job = JobRunFactory(exit_code=3)

    rows.update(JobRun, where={"id": job.pk}, values={"exit_code": None, "finished": None})

    job.refresh_from_db()
    assert job.exit_code is None and job.finished is None


def test_insert_adds_a_row_read_back_as_the_model_reads_it():
    job = JobRunFactory()
    lines = [["2026-11-27T06:00:00.000Z", "hello"], ["2026-11-27T06:00:00.001Z", "wörld"]]

    rows.insert(rows.Row(LogChunk, _chunk(job, first=1, lines=lines)))

    chunk = LogChunk.objects.get(job=job)
    assert (chunk.first_line, chunk.line_count, chunk.lines) == (1, 2, lines)


def _chunk(job, first, lines):
    return {"job": job.pk, "first_line": first, "line_count": len(lines), "lines": lines}


LINES = [["2026-11-30T06:00:00.000Z", "the last wörds"]]


# Outside a transaction, as a worker makes it: on PostgreSQL, one statement on its own.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("returning", [("run", "attempt"), ()], ids=["returning", "no-returning"])
def test_an_update_that_changes_a_row_inserts_the_row_it_was_given(returning):
    job = JobRunFactory(phase="RUNNING", attempt=2)

    changed = rows.update(
        JobRun,
        where={"id": job.pk, "phase": "RUNNING"},
        values={"phase": "SUCCEEDED", "log_line_count": Add(1)},
        returning=returning,
        then_insert=rows.Row(LogChunk, _chunk(job, first=1, lines=LINES)),
    )

    assert changed == [(job.run_id, 2) if returning else ()]
    job.refresh_from_db()
    assert (job.phase, job.log_line_count) == ("SUCCEEDED", 1)
    chunk = LogChunk.objects.get(job=job)
    assert (chunk.first_line, chunk.line_count, chunk.lines) == (1, 1, LINES)


@pytest.mark.django_db(transaction=True)
def test_an_update_that_changes_nothing_inserts_nothing():
    job = JobRunFactory(phase="PENDING")

    changed = rows.update(
        JobRun,
        where={"id": job.pk, "phase": "RUNNING"},
        values={"phase": "SUCCEEDED"},
        returning=("run",),
        then_insert=rows.Row(LogChunk, _chunk(job, first=1, lines=LINES)),
    )

    assert changed == []
    assert not LogChunk.objects.filter(job=job).exists()


@pytest.mark.django_db(transaction=True)
def test_an_insert_that_fails_undoes_the_update():
    job = JobRunFactory(phase="RUNNING")
    rows.insert(rows.Row(LogChunk, _chunk(job, first=1, lines=LINES)))

    with pytest.raises(IntegrityError):
        rows.update(
            JobRun,
            where={"id": job.pk},
            values={"phase": "SUCCEEDED"},
            then_insert=rows.Row(LogChunk, _chunk(job, first=1, lines=LINES)),
        )

    job.refresh_from_db()
    assert job.phase == "RUNNING"


def test_a_prepared_get_builds_what_the_queryset_would_with_its_related_rows():
    job = JobRunFactory(phase="RUNNING", attempt=2, outputs={"note": {"value": "ü"}})
    queryset = JobRun.objects.select_related("run", "run__cluster")
    prepared = rows.PreparedGet(queryset)

    for _ in range(2):
        found = prepared.get(job.pk)
        expected = queryset.get(pk=job.pk)
        for got, want in ((found, expected), (found.run, expected.run)):
            assert type(got) is type(want)
            assert {f.attname: getattr(got, f.attname) for f in got._meta.concrete_fields} == {
                f.attname: getattr(want, f.attname) for f in want._meta.concrete_fields
            }
        assert found.run.cluster == expected.run.cluster
        assert found.run.cluster.instance_types == expected.run.cluster.instance_types
        assert found.started == expected.started and found.outputs == {"note": {"value": "ü"}}
        assert not found._state.adding and found._state.db == "default"
        assert "run" in found._state.fields_cache, "the run came with the job"

    with pytest.raises(JobRun.DoesNotExist):
        prepared.get(job.pk + 1000)


def test_on_postgresql_a_statement_is_prepared_once_per_connection_and_run_from_its_plan():
    job = JobRunFactory(phase="RUNNING")
    prepared = rows.PreparedGet(JobRun.objects.select_related("run"))

    with CaptureQueriesContext(connection) as through_django:
        for _ in range(7):
            assert prepared.get(job.pk) == job

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT generic_plans + custom_plans FROM pg_prepared_statements "
                "WHERE statement LIKE %s",
                ['SELECT "runs_jobrun"."id"%'],
            )
            assert cursor.fetchall() == [(7,)], "one prepared statement, run seven times"
        assert len(through_django) == 0
    else:
        assert len(through_django) == 7, "SQLite plans are Django's cursor's business"
