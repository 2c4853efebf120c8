"""How fast the local engine moves: job start, dependency hops, fan-out, log ingest.

    .venv/bin/python bench/engine.py [--repeats 3] [--concurrency 4] [--modes host,container]

Starts its own private Redis, a throwaway SQLite database (or DATABASE_URL)
and, for each mode, a real Celery worker: host mode runs jobs in bubblewrap;
container mode runs them with podman in `bash:5`, built from the machine's
busybox-static and bash-static, served by a private docker-registry as
docker.io's mirror and pulled once before measuring (the image is cached).
For each mode it measures:

- job start: from the claim (the job's move to RUNNING) to its process
  printing its first clock, the median over a chain's jobs;
- dependency hop on a chain (200 jobs on the host, 50 in containers): the
  time from one job's process exiting to the next job's process starting
  (each job prints the clock as its first and last act, from bash's
  $EPOCHREALTIME: reading it starts no process, so the instrument adds
  nothing to what it measures);
- throughput on a 500-job fan-out of no-op jobs (jobs per second from the
  first job starting to the last one ending);
- a job printing 100,000 lines: lines stored per second, and lines lost.

It prints a table of medians over the repeats; it never fails on timing.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scratch import REPO, print_table, scratch_environment  # noqa: E402

from gradient.launcher import celery_worker_command  # noqa: E402


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
        lines += [
            f"  n{index}:",
            "    uses: container@v1",
            '    with: {image: bash:5, args: ["true"]}',
        ]
    return "\n".join(lines) + "\n"


def chatty_spec(lines: int) -> str:
    return (
        "jobs:\n  chatty:\n    uses: container@v1\n"
        f'    with: {{image: bash:5, args: ["seq", "1", "{lines}"]}}\n'
    )


@dataclass
class Mode:
    """One way of running jobs, measured with its own worker."""

    name: str
    env: dict[str, str]
    chain: int
    hop_target: float
    rate_target: float


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--modes",
        default="host,container",
        help="host (bubblewrap), container (podman), or both, comma-separated",
    )
    args = parser.parse_args()

    with scratch_environment("engine"), contextlib.ExitStack() as stack:
        modes = []
        for name in args.modes.split(","):
            if name == "host":
                modes.append(Mode("host", {"LOCAL_ENGINE_RUNTIME": "bwrap"}, 200, 10, 100))
            elif name == "container":
                modes.append(Mode("container", container_env(stack), 50, 350, 10))
        results = []
        for mode in modes:
            worker = subprocess.Popen(
                celery_worker_command(
                    concurrency=args.concurrency,
                    hostname=f"bench-{mode.name}@%h",
                    loglevel="WARNING",
                ),
                cwd=REPO,
                env={**os.environ, **mode.env},
                start_new_session=True,
            )
            try:
                results.append((mode, measure(args, mode)))
            finally:
                worker.terminate()
                worker.wait(30)
        report(args, results)
    return 0


def container_env(stack: contextlib.ExitStack) -> dict[str, str]:
    """A registry holding bash:5 (busybox and bash) as docker.io's mirror, and a private store."""
    from tests import containers

    if containers.MISSING:
        raise SystemExit(f"container mode needs: {', '.join(containers.MISSING)}")
    folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-registry-")))
    mirror = stack.enter_context(containers.registry(folder / "registry"))
    builder = containers.store_make()
    stack.callback(containers.store_remove, builder)
    tag = containers.image_build(builder, folder / "contexts", "localhost/bench-bash:5")
    containers.image_push(builder, tag, mirror, "library/bash:5")
    store = containers.store_make()
    stack.callback(containers.store_remove, store)
    return {
        "LOCAL_ENGINE_RUNTIME": "podman",
        "LOCAL_ENGINE_IMAGE_STORE": str(store),
        "LOCAL_ENGINE_REGISTRY_MIRRORS": f"docker.io={mirror.host}",
    }


def _clocks(run) -> dict[int, dict[str, float]]:
    from runs.selectors import log_lines

    clocks = {}
    for job in run.jobs.all():
        clocks[job.position] = {
            line["message"].split()[0]: float(line["message"].split()[1])
            for line in log_lines(job)
            if line["message"].startswith(("start", "end"))
        }
        clocks[job.position]["claimed"] = job.started.timestamp()
    return clocks


def _succeeded(run) -> None:
    """Stop the bench on a failed run, showing the logs of its first failed jobs."""
    from tests.runs.engine_helpers import job_log

    failed = run.jobs.exclude(phase="SUCCEEDED").values_list("name", "phase", "message")[:3]
    for name, _, _ in failed:
        print(f"failed job {name}:\n{job_log(run, name)}", file=sys.stderr)
    assert run.phase == "SUCCEEDED", (run.phase, list(failed))


def measure(args, mode: Mode) -> dict[str, list[float]]:
    from django.contrib.auth import get_user_model

    from runs.selectors import log_lines
    from tests.runs.engine_helpers import World, wait_for_run
    from workflows.services import project_create, team_create

    user = get_user_model().objects.create(username=f"bench-{mode.name}")
    team = team_create(name=f"bench {mode.name}", owner=user)
    world = World(user=user, team=team, project=project_create(team=team, name="bench"))
    # The first job of a worker pulls the image (container mode) and probes the runtime.
    warm = wait_for_run(world.submit(fan_out_spec(4), workflow="warm-up"), timeout=600)
    _succeeded(warm)

    found: dict[str, list[float]] = {"start": [], "hop": [], "rate": [], "ingest": [], "lost": []}
    for repeat in range(args.repeats):
        run = wait_for_run(world.submit(chain_spec(mode.chain), workflow="chain"), timeout=900)
        _succeeded(run)
        clocks = _clocks(run)
        found["start"].append(
            statistics.median(c["start"] - c["claimed"] for c in clocks.values()) * 1000
        )
        found["hop"].append(
            statistics.median(
                clocks[i + 1]["start"] - clocks[i]["end"] for i in range(len(clocks) - 1)
            )
            * 1000
        )

        run = wait_for_run(world.submit(fan_out_spec(500), workflow="fan-out"), timeout=900)
        _succeeded(run)
        jobs = list(run.jobs.all())
        span = (max(j.finished for j in jobs) - min(j.started for j in jobs)).total_seconds()
        found["rate"].append(len(jobs) / span)

        run = wait_for_run(world.submit(chatty_spec(100_000), workflow="chatty"), timeout=600)
        job = run.jobs.get()
        printed = {line["message"] for line in log_lines(job, limit=10**6)}
        found["lost"].append(sum(1 for n in range(1, 100_001) if str(n) not in printed))
        found["ingest"].append(100_000 / (job.finished - job.started).total_seconds())
        print(
            f"{mode.name} repeat {repeat + 1}: start {found['start'][-1]:.0f} ms, "
            f"hop {found['hop'][-1]:.1f} ms, fan-out {found['rate'][-1]:.1f} jobs/s, "
            f"ingest {found['ingest'][-1]:.0f} lines/s, lost {found['lost'][-1]:.0f}",
            file=sys.stderr,
        )
    return found


def report(args, results) -> None:
    rows = []
    for mode, found in results:
        start, hop = statistics.median(found["start"]), statistics.median(found["hop"])
        rate, ingest = statistics.median(found["rate"]), statistics.median(found["ingest"])
        start_target = 300 if mode.name == "container" else None
        rows += [
            (
                f"{mode.name}: job start, claim to process (p50)",
                f"{start:.0f} ms",
                f"<= {start_target} ms" if start_target else "-",
                start <= start_target if start_target else None,
            ),
            (
                f"{mode.name}: dependency hop, {mode.chain}-job chain",
                f"{hop:.1f} ms",
                f"<= {mode.hop_target:g} ms",
                hop <= mode.hop_target,
            ),
            (
                f"{mode.name}: throughput, 500-job fan-out",
                f"{rate:.1f} jobs/s",
                f">= {mode.rate_target:g} jobs/s",
                rate >= mode.rate_target,
            ),
            (
                f"{mode.name}: log ingest, 100,000 lines",
                f"{ingest:.0f} lines/s",
                ">= 50,000 lines/s",
                ingest >= 50_000,
            ),
            (
                f"{mode.name}: log lines lost",
                f"{max(found['lost']):.0f}",
                "0",
                max(found["lost"]) == 0,
            ),
        ]
    print_table(
        f"local engine, {args.repeats} repeats, worker concurrency {args.concurrency}",
        ("measure", "median", "target"),
        rows,
    )


if __name__ == "__main__":
    sys.exit(main())
