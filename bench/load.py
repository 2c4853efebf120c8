"""Whether `make run` still holds the load it held: many runs at once, a huge log, fuzzed specs.

    .venv/bin/python bench/load.py [--runs 200] [--clients 8] [--log-lines 1000000]
        [--specs 5000] [--spec-clients 1] [--repeats 3] [--database sqlite|postgres]

Starts the stack as `make run` does, `python -m gradient.launcher run` on a
throwaway data folder (tests.processes.running_launcher): its private Redis,
SQLite (or, with --database postgres, a fresh database on 127.0.0.1:5432 as
user postgres, dropped afterwards), the Celery worker with beat (as many pool
processes as `make run` gives it), the Argo watcher and Daphne; jobs run in
host mode (bubblewrap). Then it talks to it over HTTP with API keys, as
scripts do. Each repeat measures:

- submissions: --runs runs of a two-job spec POSTed to
  /api/v1/workflows/<id>/runs by --clients threads at once, each with its own
  API key and an Idempotency-Key per run: the seconds from the first POST to
  the last 201, and to the last run's end (its `finished`); how many runs
  SUCCEEDED; how many jobs ran more than once. A job's claim counts its
  attempts (`JobRun.attempt`), its settling records each one
  (`JobRun.attempts`), and its script prints "<name> ran" once per process;
  any of the three above one is a job run twice;
- logs: one job printing --log-lines numbered lines (`seq`) through the real
  path (the sandbox's output, runs.logs.LogWriter, LogChunk rows), read back
  through the job logs API page by page: lines missing, lines out of order;
- the validator: --specs fuzzed specs (bench/validate.py's pipelines and the
  fuzz tests' specs, broken with the fuzz tests' garbage, plus random text
  and bytes, from a fixed seed) POSTed to /api/v1/validate, as JSON and as
  text/plain by turns, by --spec-clients threads: answers of 500 or more, and
  each answer's latency as the client sees it;

and, over the whole time, how often the launcher's output (the worker's,
beat's and Daphne's logs) says "database is locked".

It prints each repeat, then a table against the figures issue 14 holds (for
the default sizes): medians over the repeats for times, the worst repeat for
counts. It never fails on a figure. Times include whatever else the machine is doing: on a shared
machine they are noisy, and the load average is printed with them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine import chatty_spec  # noqa: E402
from live import percentile  # noqa: E402
from scratch import REPO, print_table  # noqa: E402
from validate import generate_spec  # noqa: E402

TWO_JOBS = """\
jobs:
  first:
    uses: script@v1
    with: {image: bash:5, script: echo first ran}
  second:
    needs: [first]
    uses: script@v1
    with: {image: bash:5, script: echo second ran}
"""
LOCKED = "database is locked"
POSTGRES = "postgres://postgres@127.0.0.1:5432"


class Api:
    """HTTP to the dashboard with one API key, over one kept-alive connection."""

    def __init__(self, base: str, key: str) -> None:
        import requests

        self.base = base
        self.session = requests.Session()
        self.session.headers["X-API-Key"] = key

    def post(self, path: str, body: bytes, content_type: str, **headers: str):
        return self.session.post(
            self.base + path,
            data=body,
            headers={"Content-Type": content_type, **headers},
            timeout=120,
        )

    def get(self, path: str, **params) -> dict:
        answer = self.session.get(self.base + path, params=params, timeout=120)
        answer.raise_for_status()
        return answer.json()


def in_threads(work: Callable[[Api, list], None], apis: list[Api], items: list) -> float:
    """Share `items` among one thread per client, start them together; the start time."""
    barrier = threading.Barrier(len(apis) + 1)

    def client(api: Api, share: list) -> None:
        barrier.wait()
        work(api, share)

    threads = [
        threading.Thread(target=client, args=(api, items[index :: len(apis)]))
        for index, api in enumerate(apis)
    ]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.time()
    for thread in threads:
        thread.join()
    return started


def wait_for_runs(workflow, count: int, timeout: float) -> list:
    """The workflow's runs once `count` of them are final (or what there is after `timeout`)."""
    from runs.transitions import RUN_FINAL

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if workflow.runs.filter(phase__in=RUN_FINAL).count() >= count:
            break
        time.sleep(0.2)
    return list(workflow.runs.all())


def submissions(apis: list[Api], workflow, runs: int, timeout: float) -> dict[str, float]:
    """--runs runs of TWO_JOBS from every client at once, and how they ended."""
    from runs.models import JobRun, LogChunk

    answers: list[tuple[int, float]] = []
    body = json.dumps({"spec": TWO_JOBS}).encode()

    def submit(api: Api, share: list) -> None:
        for _ in share:
            answer = api.post(
                f"/api/v1/workflows/{workflow.id}/runs",
                body,
                "application/json",
                **{"Idempotency-Key": uuid.uuid4().hex},
            )
            answers.append((answer.status_code, time.time()))

    started = in_threads(submit, apis, list(range(runs)))
    accepted = [at for status, at in answers if status == 201]
    ended = wait_for_runs(workflow, len(accepted), timeout)
    finished = [run.finished.timestamp() for run in ended if run.finished]
    jobs = JobRun.objects.filter(run__workflow=workflow)
    printed: dict[int, int] = {}
    for job_id, lines in LogChunk.objects.filter(job__in=jobs).values_list("job_id", "lines"):
        printed[job_id] = printed.get(job_id, 0) + sum(
            1 for _, message in lines if message.endswith(" ran")
        )
    twice = sum(
        1 for job in jobs if max(job.attempt, len(job.attempts), printed.get(job.pk, 0)) > 1
    )
    # A job that succeeded without its line would make the count above blind.
    silent = sum(1 for job in jobs if job.phase == "SUCCEEDED" and not printed.get(job.pk))
    complete = len(finished) == len(accepted) == runs
    return {
        "accepted": len(accepted),
        "accepted_in": max(accepted) - started if accepted else float("inf"),
        "final_in": max(finished) - started if complete else float("inf"),
        "succeeded": sum(1 for run in ended if run.phase == "SUCCEEDED"),
        "twice": twice,
        "silent": silent,
    }


def log_roundtrip(api: Api, workflow, lines: int, timeout: float) -> dict[str, float]:
    """One job printing `lines` numbered lines, read back through the logs API."""
    answer = api.post(
        f"/api/v1/workflows/{workflow.id}/runs",
        json.dumps({"spec": chatty_spec(lines)}).encode(),
        "application/json",
    )
    answer.raise_for_status()
    [run] = wait_for_runs(workflow, 1, timeout)
    job = run.jobs.get()
    seen = bytearray(lines + 1)
    previous, disorder, after = 0, 0, 0
    read_started = time.perf_counter()
    while True:
        page = api.get(
            f"/api/v1/workflows/{workflow.id}/runs/{run.number}/jobs/{job.name}/logs",
            after=after,
            limit=5000,
        )
        for line in page["lines"]:
            if line["message"].isdigit():
                number = int(line["message"])
                if 1 <= number <= lines:
                    seen[number] = 1
                disorder += number != previous + 1
                previous = number
        if page["finished"] or not page["lines"]:
            break
        after = page["next"]
    read = time.perf_counter() - read_started
    return {
        "phase_ok": float(run.phase == "SUCCEEDED"),
        "missing": float(lines - sum(seen)),
        "disorder": float(disorder),
        "ingest": lines / (job.finished - job.started).total_seconds() if job.finished else 0.0,
        "read": read,
    }


def fuzzed_specs(count: int, seed: int) -> list[tuple[str, bytes]]:
    """`count` (content type, body) pairs: valid specs broken as the fuzz tests break them."""
    from tests.workflows.test_spec_fuzz import BASE_SPECS, GARBAGE_PIECES

    chance = random.Random(seed)
    bases = [generate_spec(jobs) for jobs in (3, 12, 40)] + BASE_SPECS
    alphabet = [*"abcxyz019 :-_[]{}\"'#\n\t", *GARBAGE_PIECES]
    bodies = []
    for index in range(count):
        kind = chance.random()
        if kind < 0.05:
            bodies.append(("text/plain", chance.randbytes(chance.randint(0, 200))))
            continue
        if kind < 0.15:
            text = "".join(
                chance.choice(alphabet)
                if chance.random() < 0.8
                else chr(chance.randint(1, 0x10FFFF))
                for _ in range(chance.randint(0, 300))
            )
        else:
            text = _mutated(chance.choice(bases), chance, alphabet)
        if index % 2:
            bodies.append(("text/plain", text.encode("utf-8", "surrogatepass")))
        else:
            bodies.append(("application/json", json.dumps({"spec": text}).encode()))
    return bodies


def _mutated(text: str, chance: random.Random, pieces: list[str]) -> str:
    """`text` after one to four of the fuzz tests' operations, drawn by `chance`."""
    for _ in range(chance.randint(1, 4)):
        operation = chance.choice(["insert", "delete", "truncate", "swap", "indent"])
        lines = text.splitlines(keepends=True)
        if operation == "insert":
            at = chance.randint(0, len(text))
            text = text[:at] + chance.choice(pieces) + text[at:]
        elif operation == "delete" and lines:
            del lines[chance.randrange(len(lines))]
            text = "".join(lines)
        elif operation == "truncate":
            text = text[: chance.randint(0, len(text))]
        elif operation == "swap" and len(lines) > 1:
            i, j = chance.randrange(len(lines)), chance.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
            text = "".join(lines)
        elif operation == "indent" and lines:
            index = chance.randrange(len(lines))
            lines[index] = chance.choice([" ", "  ", "\t", ""]) + lines[index].lstrip()
            text = "".join(lines)
    return text


def validations(apis: list[Api], bodies: list[tuple[str, bytes]]) -> dict[str, float]:
    """Every body POSTed to the validator; its errors and latencies."""
    answers: list[tuple[int, bool, float]] = []

    def validate(api: Api, share: list) -> None:
        for content_type, body in share:
            started = time.perf_counter()
            answer = api.post("/api/v1/validate", body, content_type)
            elapsed = time.perf_counter() - started
            is_json = answer.headers.get("Content-Type", "").startswith("application/json")
            answers.append((answer.status_code, is_json, elapsed))

    in_threads(validate, apis, bodies)
    latencies = [elapsed for _, _, elapsed in answers]
    return {
        "errors": float(sum(1 for status, _, _ in answers if status >= 500)),
        "not_json": float(sum(1 for _, is_json, _ in answers if not is_json)),
        "slow": float(sum(1 for elapsed in latencies if elapsed > 0.2)),
        "p99": percentile(latencies, 0.99) * 1000,
        "max": max(latencies) * 1000,
    }


@contextlib.contextmanager
def postgres_database():
    """A fresh database on the local PostgreSQL for the stack; dropped afterwards."""
    import psycopg

    name = f"bench_load_{os.getpid()}"
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Found:
    """Each repeat's figures, by name."""

    values: dict[str, list[float]] = field(default_factory=dict)

    def add(self, figures: dict[str, float]) -> None:
        for name, value in figures.items():
            self.values.setdefault(name, []).append(value)

    def median(self, name: str) -> float:
        return statistics.median(self.values[name])

    def worst(self, name: str) -> float:
        return max(self.values[name])

    def least(self, name: str) -> float:
        return min(self.values[name])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--log-lines", type=int, default=1_000_000)
    parser.add_argument("--specs", type=int, default=5000)
    parser.add_argument("--spec-clients", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for runs")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="bench-load-"))
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, data_dir, ignore_errors=True)
        # As `make run` sizes its worker: one pool process per CPU, at least two.
        env = {
            "LOCAL_ENGINE_RUNTIME": "bwrap",
            "WORKER_CONCURRENCY": str(max(2, os.cpu_count() or 2)),
        }
        os.environ.pop("REDIS_URL", None)
        os.environ.pop("DATABASE_URL", None)
        if args.database == "postgres":
            env["DATABASE_URL"] = os.environ["DATABASE_URL"] = stack.enter_context(
                postgres_database()
            )
        os.environ["GRADIENT_DATA_DIR"] = str(data_dir)
        os.environ["DJANGO_SETTINGS_MODULE"] = "gradient.settings"
        sys.path.insert(0, str(REPO))
        from gradient.private_redis import free_port
        from tests.processes import running_launcher

        port = free_port()
        stack.enter_context(running_launcher(data_dir, port, **env))
        import django
        from django.db import connections

        django.setup()
        stack.callback(connections.close_all)
        found = measure(args, f"http://127.0.0.1:{port}")
        output = (data_dir / "launcher.log").read_text()
        found.add({"locked": output.count(LOCKED), "output_lines": output.count("\n")})
    report(args, found)
    return 0


def measure(args, base: str) -> Found:
    from django.contrib.auth import get_user_model

    from workflows.services import api_key_create, project_create, team_create, workflow_create

    user = get_user_model().objects.create(username="load")
    team = team_create(name="load", owner=user)
    project = project_create(team=team, name="load")
    apis = [
        Api(base, api_key_create(user=user, name=f"client {n}")[1]) for n in range(args.clients)
    ]
    bodies = fuzzed_specs(args.specs, seed=14)
    found = Found()
    for repeat in range(1, args.repeats + 1):
        many = workflow_create(project=project, name=f"runs-{repeat}", user=user)
        chatty = workflow_create(project=project, name=f"log-{repeat}", user=user)
        runs = submissions(apis, many, args.runs, args.timeout)
        logs = log_roundtrip(apis[0], chatty, args.log_lines, args.timeout)
        checks = validations(apis[: args.spec_clients], bodies)
        found.add(runs | logs | checks)
        print(
            f"repeat {repeat}: {runs['accepted']:.0f} accepted in {runs['accepted_in']:.1f} s, "
            f"final in {runs['final_in']:.1f} s, {runs['succeeded']:.0f} SUCCEEDED, "
            f"{runs['twice']:.0f} ran twice, {runs['silent']:.0f} without their line; "
            f"log: {logs['missing']:.0f} missing, "
            f"{logs['disorder']:.0f} out of order, {logs['ingest']:.0f} lines/s stored, "
            f"read back in {logs['read']:.1f} s; validator: {checks['errors']:.0f} >= 500, "
            f"{checks['not_json']:.0f} not JSON, {checks['slow']:.0f} over 0.2 s, "
            f"p99 {checks['p99']:.0f} ms, max {checks['max']:.0f} ms",
            file=sys.stderr,
        )
    return found


def report(args, found: Found) -> None:
    runs, lines, specs = args.runs, args.log_lines, args.specs
    accepted, succeeded = found.least("accepted"), found.least("succeeded")
    accepted_in, final_in = found.median("accepted_in"), found.median("final_in")
    twice, missing, disorder = found.worst("twice"), found.worst("missing"), found.worst("disorder")
    errors, slow, longest = found.worst("errors"), found.worst("slow"), found.median("max")
    locked = found.worst("locked")
    rows = [
        ("runs answered 201 (fewest)", f"{accepted:.0f}/{runs}", f"{runs}", accepted == runs),
        (
            f"{runs} runs from {args.clients} clients accepted in",
            f"{accepted_in:.1f} s",
            "<= 8 s",
            accepted_in <= 8,
        ),
        (f"{runs} runs all final in", f"{final_in:.1f} s", "<= 18 s", final_in <= 18),
        ("runs SUCCEEDED (fewest)", f"{succeeded:.0f}/{runs}", f"{runs}", succeeded == runs),
        ("jobs run more than once (most)", f"{twice:.0f}", "0", twice == 0),
        (f"log lines missing of {lines:,} (most)", f"{missing:.0f}", "0", missing == 0),
        ("log lines out of order (most)", f"{disorder:.0f}", "0", disorder == 0),
        ("log lines stored per second", f"{found.median('ingest'):,.0f}", "-", None),
        (f"validator answers >= 500 of {specs:,} (most)", f"{errors:.0f}", "0", errors == 0),
        ("validator answers over 0.2 s (most)", f"{slow:.0f}", "0", slow == 0),
        ("validator latency, max", f"{longest:.0f} ms", "<= 200 ms", longest <= 200),
        ("validator latency, p99", f"{found.median('p99'):.0f} ms", "-", None),
        (f'"{LOCKED}" in the stack\'s output', f"{locked:.0f}", "0", locked == 0),
        (
            "lines of the stack's output read for it",
            f"{found.worst('output_lines'):,.0f}",
            "-",
            None,
        ),
    ]
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print_table(
        f"make run ({args.database}, host mode), {args.repeats} repeats: times are medians, "
        f"counts the worst repeat; {args.spec_clients} validator client(s); "
        f"load average {load} on {os.cpu_count()} CPUs",
        ("figure", "found", "held"),
        rows,
    )


if __name__ == "__main__":
    sys.exit(main())
