"""How long the REST API takes to answer a big workflow's runs list and a 500-job run.

    .venv/bin/python bench/api.py [--runs 10000] [--jobs 500] [--repeat 50]

Builds a throwaway database (SQLite in a temporary data folder, or the
database of DATABASE_URL when it is set, in a team of its own that is deleted
afterwards), bulk-creates one workflow with --runs runs plus one run of --jobs
jobs, then times GET requests through Django's WSGI handler (what a server
calls), signed in with an API key as a script would be, after a warm-up.

It prints median and p95 wall times against the targets, and the median CPU
time of this process, which other load on the machine does not inflate. It
only reports and never fails on timing.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGETS_MS = {"list": 50.0, "detail": 100.0}
WARM_UP = 5


def _setup_django() -> Path | None:
    """Point Django at a temporary data folder (and SQLite unless DATABASE_URL is set)."""
    scratch = None
    if not os.environ.get("GRADIENT_DATA_DIR"):
        scratch = Path(tempfile.mkdtemp(prefix="gradient-bench-"))
        os.environ["GRADIENT_DATA_DIR"] = str(scratch)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gradient.settings")
    import django

    django.setup()
    return scratch


def _spec_text(jobs: int) -> str:
    """A valid spec of `jobs` jobs in layers of ten, each reading the layer before."""
    lines = ["jobs:"]
    for index in range(jobs):
        lines += [f"  job-{index}:", "    uses: container@v1"]
        if index >= 10:
            lines += [
                f"    needs: [job-{index - 10}]",
                "    inputs:",
                f"      previous: job-{index - 10}.outputs.note",
            ]
        lines += [
            "    with:",
            "      image: bash:5",
            '      args: ["bash", "-c", "echo done > /outputs/note"]',
            "    outputs:",
            "      note:",
            "        type: string",
        ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Made:
    """What _populate created."""

    user: object
    team: object
    workflow: object
    big_run: object
    api_key: str
    spec_ids: tuple[int, ...]


def _populate(*, runs: int, jobs: int) -> Made:
    """One workflow with `runs` runs (two jobs each) and one more run of `jobs` jobs."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from runs.models import JobPhase, JobRun, Run, RunPhase
    from workflows.services import (
        api_key_create,
        project_create,
        spec_store,
        team_create,
        workflow_create,
    )
    from workflows.spec import parse_spec

    user = get_user_model().objects.create(username=f"bench-{time.time_ns()}")
    team = team_create(name=f"Bench {user.username}", owner=user)
    project = project_create(team=team, name="bench")
    workflow = workflow_create(project=project, name="bench", user=user)
    cluster = team.clusters.get(handle="local")
    small = parse_spec(_spec_text(2))
    big = parse_spec(_spec_text(jobs))
    assert small.valid and big.valid, (small.errors, big.errors)
    small_spec = spec_store(text=_spec_text(2), parsed=small.spec.to_json())
    big_spec = spec_store(text=_spec_text(jobs), parsed=big.spec.to_json())
    now = timezone.now()
    phases = [RunPhase.SUCCEEDED, RunPhase.FAILED, RunPhase.CANCELED]
    created = Run.objects.bulk_create(
        [
            Run(
                workflow=workflow,
                number=number,
                spec=small_spec,
                cluster=cluster,
                created_by=user,
                phase=phases[number % 3],
                started=now,
                finished=now,
                inputs={"greeting": {"value": "hello"}},
                resolved_inputs={"workflow": {}, "jobs": {}},
            )
            for number in range(1, runs + 1)
        ],
        batch_size=2000,
    )
    if not created[0].pk:
        created = list(Run.objects.filter(workflow=workflow).order_by("number"))
    JobRun.objects.bulk_create(
        [
            JobRun(run=run, name=f"job-{index}", position=index, phase=JobPhase.SUCCEEDED)
            for run in created
            for index in range(2)
        ],
        batch_size=4000,
    )
    big_run = Run.objects.create(
        workflow=workflow,
        number=runs + 1,
        spec=big_spec,
        cluster=cluster,
        created_by=user,
        phase=RunPhase.RUNNING,
        started=now,
        rerun_of=created[-1],
        reason=Run.Reason.RERUN,
    )
    JobRun.objects.bulk_create(
        [
            JobRun(
                run=big_run,
                name=job.name,
                position=index,
                phase=JobPhase.SUCCEEDED if index < jobs // 2 else JobPhase.PENDING,
                attempt=1 if index < jobs // 2 else 0,
                started=now if index < jobs // 2 else None,
                finished=now if index < jobs // 2 else None,
                exit_code=0 if index < jobs // 2 else None,
                outputs={"note": {"value": "done"}} if index < jobs // 2 else {},
            )
            for index, job in enumerate(big.spec.jobs)
        ],
        batch_size=1000,
    )
    _, key = api_key_create(user=user, name="bench")
    _analyze()
    return Made(user, team, workflow, big_run, key, (small_spec.pk, big_spec.pk))


def _analyze() -> None:
    """Give the planner the statistics autovacuum would have gathered after these inserts."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


def _remove(made: Made) -> None:
    """Delete what _populate made in a real database (runs first: their cluster is PROTECTed)."""
    from django.db.models import ProtectedError

    from runs.models import Run
    from workflows.models import StoredSpec

    Run.objects.filter(workflow__project__team=made.team).delete()
    made.team.delete()
    made.user.delete()
    for spec_id in made.spec_ids:
        try:
            StoredSpec.objects.filter(pk=spec_id).delete()
        except ProtectedError:
            pass  # the same spec text was already stored and is used elsewhere


class WsgiClient:
    """GET through Django's WSGI handler, as a server calls it, signed in with an API key.

    Django's test Client would do, but it keeps each response in a reference
    cycle (`response.json`), which a server does not, and that alone changes
    how often full garbage collections run.
    """

    def __init__(self, api_key: str) -> None:
        from django.core.handlers.wsgi import WSGIHandler

        self.handler = WSGIHandler()
        self.api_key = api_key

    def get(self, url: str) -> tuple[str, bytes]:
        path, _, query = url.partition("?")
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SCRIPT_NAME": "",
            "SERVER_NAME": "localhost",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "localhost",
            "HTTP_X_API_KEY": self.api_key,
            "wsgi.input": io.BytesIO(b""),
            "wsgi.errors": sys.stderr,
            "wsgi.url_scheme": "http",
        }
        answer: dict[str, str] = {}

        def start_response(status: str, headers, exc_info=None) -> None:
            answer["status"] = status

        result = self.handler(environ, start_response)
        try:
            body = b"".join(result)
        finally:
            result.close()
        return answer["status"], body


def _time(client: WsgiClient, url: str, repeat: int) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds of each timed GET of `url`."""
    wall, cpu = [], []
    for attempt in range(WARM_UP + repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        status, body = client.get(url)
        elapsed = (time.perf_counter() - started) * 1000
        elapsed_cpu = (time.process_time() - started_cpu) * 1000
        if not status.startswith("200"):
            raise SystemExit(f"GET {url} answered {status}: {body[:300]!r}")
        if attempt >= WARM_UP:
            wall.append(elapsed)
            cpu.append(elapsed_cpu)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=50)
    options = parser.parse_args()

    scratch = _setup_django()
    try:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        made = _populate(runs=options.runs, jobs=options.jobs)
        try:
            _report(made, options, time.perf_counter() - started)
        finally:
            if scratch is None or os.environ.get("DATABASE_URL"):
                _remove(made)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _report(made: Made, options: argparse.Namespace, setup_seconds: float) -> None:
    from django.db import connection

    print(
        f"{connection.vendor}: {options.runs:,} runs and a {options.jobs}-job run created "
        f"in {setup_seconds:.1f} s; {options.repeat} timed requests each "
        f"after {WARM_UP} warm-up\n"
    )
    client = WsgiClient(made.api_key)
    runs_url = f"/api/v1/workflows/{made.workflow.id}/runs"
    # A page in the middle of the FAILED runs (a third of them), at most page 50.
    failed_pages = max(1, min(50, options.runs // 3 // 50 // 2))
    cases = [
        ("list", "GET /api/v1/workflows/<id>/runs", runs_url),
        (
            "list",
            f"GET …/runs?phase=FAILED&page={failed_pages}",
            f"{runs_url}?phase=FAILED&page={failed_pages}",
        ),
        (
            "detail",
            f"GET …/runs/{made.big_run.number} ({options.jobs} jobs)",
            f"{runs_url}/{made.big_run.number}",
        ),
    ]
    rows = []
    for kind, label, url in cases:
        wall, cpu = _time(client, url, options.repeat)
        p95 = statistics.quantiles(wall, n=20, method="inclusive")[18]
        rows.append((label, statistics.median(wall), p95, statistics.median(cpu), TARGETS_MS[kind]))
    width = max(len(row[0]) for row in rows)
    print(
        f"{'endpoint':<{width}}  {'median ms':>9}  {'p95 ms':>7}  {'cpu ms':>6}  {'target':>8}  met"
    )
    for label, median, p95, cpu, target in rows:
        print(
            f"{label:<{width}}  {median:9.1f}  {p95:7.1f}  {cpu:6.1f}  "
            f"{'≤ ' + format(target, '.0f'):>8}  {'yes' if p95 <= target else 'NO'}"
        )
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"\nload average during the run: {load} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
