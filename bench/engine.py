"""How fast the local engine moves: dependency hops, fan-out throughput, log ingest.

    .venv/bin/python bench/engine.py [--repeats 3] [--concurrency 4]

Starts its own private Redis, a throwaway SQLite database (or DATABASE_URL)
and real Celery worker processes running jobs in bubblewrap, then measures:

- dependency hop on a 200-job chain: the time from one job's process exiting
  to the next job's process starting (each job prints the clock as its first
  and last act, from bash's $EPOCHREALTIME: reading it starts no process, so
  the instrument adds nothing to what it measures);
- throughput on a 500-job fan-out of no-op jobs (jobs per second from the
  first job starting to the last one ending);
- a job printing 100,000 lines: lines stored per second, and lines lost.

It prints a table of medians over the repeats; it never fails on timing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scratch import REPO, scratch_environment  # noqa: E402


def chain_spec(length: int) -> str:
    lines = ["jobs:"]
    for index in range(length):
        lines += [
            f"  j{index}:",
            "    uses: container@v1",
            "    with:",
            "      image: bash:5",
            '      args: ["bash", "-c", "echo start $EPOCHREALTIME; echo end $EPOCHREALTIME"]',
        ]
        if index:
            lines.append(f"    needs: [j{index - 1}]")
    return "\n".join(lines) + "\n"


def fan_out_spec(width: int) -> str:
    lines = ["jobs:"]
    for index in range(width):
        lines += [f"  n{index}:", "    uses: container@v1", '    with: {image: x, args: ["true"]}']
    return "\n".join(lines) + "\n"


def chatty_spec(lines: int) -> str:
    return (
        "jobs:\n  chatty:\n    uses: container@v1\n"
        f'    with: {{image: x, args: ["seq", "1", "{lines}"]}}\n'
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    with scratch_environment("engine"):
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "gradient",
                "worker",
                "--loglevel=WARNING",
                f"--concurrency={args.concurrency}",
                "--without-mingle",
                "--without-gossip",
            ],
            cwd=REPO,
            env=dict(os.environ),
            start_new_session=True,
        )
        try:
            return measure(args)
        finally:
            worker.terminate()
            worker.wait(30)


def measure(args) -> int:
    from django.contrib.auth import get_user_model

    from runs.selectors import log_lines
    from tests.runs.engine_helpers import World, wait_for_run
    from workflows.services import project_create, team_create

    user = get_user_model().objects.create(username="bench")
    team = team_create(name="bench", owner=user)
    world = World(user=user, team=team, project=project_create(team=team, name="bench"))
    world.submit(fan_out_spec(4), workflow="warm-up")

    hops, rates, ingest, lost = [], [], [], []
    for repeat in range(args.repeats):
        run = wait_for_run(world.submit(chain_spec(200), workflow="chain"), timeout=600)
        assert run.phase == "SUCCEEDED", run.phase
        clocks = {}
        for job in run.jobs.all():
            clocks[job.position] = {
                line["message"].split()[0]: float(line["message"].split()[1])
                for line in log_lines(job)
                if line["message"].startswith(("start", "end"))
            }
        hops.append(
            statistics.median(
                clocks[i + 1]["start"] - clocks[i]["end"] for i in range(len(clocks) - 1)
            )
            * 1000
        )

        run = wait_for_run(world.submit(fan_out_spec(500), workflow="fan-out"), timeout=600)
        assert run.phase == "SUCCEEDED", run.phase
        jobs = list(run.jobs.all())
        span = (max(j.finished for j in jobs) - min(j.started for j in jobs)).total_seconds()
        rates.append(len(jobs) / span)

        run = wait_for_run(world.submit(chatty_spec(100_000), workflow="chatty"), timeout=600)
        job = run.jobs.get()
        stored = log_lines(job, limit=10**6)
        printed = {line["message"] for line in stored}
        lost.append(sum(1 for number in range(1, 100_001) if str(number) not in printed))
        seconds = (job.finished - job.started).total_seconds()
        ingest.append(100_000 / seconds)
        print(
            f"repeat {repeat + 1}: hop {hops[-1]:.1f} ms, fan-out {rates[-1]:.0f} jobs/s, "
            f"ingest {ingest[-1]:.0f} lines/s, lost {lost[-1]}",
            file=sys.stderr,
        )

    rows = [
        (
            "dependency hop, 200-job chain (median)",
            f"{statistics.median(hops):.1f} ms",
            "<= 10 ms",
            statistics.median(hops) <= 10,
        ),
        (
            "throughput, 500-job fan-out",
            f"{statistics.median(rates):.0f} jobs/s",
            ">= 100 jobs/s",
            statistics.median(rates) >= 100,
        ),
        (
            "log ingest, 100,000 lines",
            f"{statistics.median(ingest):.0f} lines/s",
            ">= 50,000 lines/s",
            statistics.median(ingest) >= 50_000,
        ),
        ("log lines lost", f"{max(lost)}", "0", max(lost) == 0),
    ]
    print(f"\nlocal engine, {args.repeats} repeats, worker concurrency {args.concurrency}")
    print(f"{'measure':<42} {'median':>16} {'target':>18}  met")
    for name, value, target, met in rows:
        print(f"{name:<42} {value:>16} {target:>18}  {'yes' if met else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
