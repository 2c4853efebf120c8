"""How fast a job's phase change reaches 20 browsers watching the run.

    .venv/bin/python bench/live.py [--clients 20] [--jobs 100] [--interval 0.05]

Builds a throwaway database (SQLite in a temporary data folder), starts the real
dashboard (Daphne, gradient.asgi) and connects --clients websockets to
/ws/runs/<pk>/ with a logged-in session, as run pages do. Then it moves each of
--jobs jobs PENDING -> RUNNING -> SUCCEEDED through runs.transitions (the one
state machine: conditional UPDATE, commit, publish), one change every
--interval seconds, and times each change from just before the transition call
to the arrival of its frame at every client. A client whose socket closes
reconnects with ?last=<seq>, as the page does; reconnects are counted.

It prints p50, p95 and max (over every client and change, and over the slowest
client of each change) against the target p95 <= 50 ms; it never fails on timing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scratch import scratch_environment  # noqa: E402

TARGET_P95_MS = 50.0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def _make_run(jobs: int):
    """A run of `jobs` independent jobs, and a session cookie of its owner."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from runs.services import run_submit
    from workflows.services import project_create, team_create, workflow_create

    user = get_user_model().objects.create(username="watcher")
    team = team_create(name="bench", owner=user)
    project = project_create(team=team, name="bench")
    workflow = workflow_create(project=project, name="live", user=user)
    spec = "jobs:\n" + "".join(
        f'  j{index}:\n    uses: container@v1\n    with: {{image: x, args: ["true"]}}\n'
        for index in range(jobs)
    )
    run = run_submit(workflow=workflow, spec_text=spec, user=user)
    client = Client()
    client.force_login(user)
    return run, client.cookies["sessionid"].value


class Watchers:
    """The websocket clients, in an event loop of their own thread."""

    def __init__(self, url: str, origin: str, session: str, count: int) -> None:
        self.url, self.origin, self.session, self.count = url, origin, session, count
        self.arrivals: dict[tuple[str, str], list[float]] = {}
        self.reconnects = 0
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.connected = 0
        self.lock = threading.Lock()

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        import aiohttp

        async with aiohttp.ClientSession() as session:
            await asyncio.gather(*(self._watch(session) for _ in range(self.count)))

    async def _watch(self, session) -> None:
        last = None
        first = True
        headers = {"Origin": self.origin, "Cookie": f"sessionid={self.session}"}
        while not self.stop.is_set():
            url = self.url + (f"?last={last}" if last else "")
            async with session.ws_connect(url, headers=headers, heartbeat=None) as socket:
                async for message in socket:
                    frame = message.json()
                    last = frame.get("seq", last)
                    if frame.get("type") == "snapshot" and first:
                        first = False
                        with self.lock:
                            self.connected += 1
                            if self.connected == self.count:
                                self.ready.set()
                    elif frame.get("type") == "job.phase":
                        arrived = time.perf_counter()
                        with self.lock:
                            self.arrivals.setdefault((frame["job"], frame["phase"]), []).append(
                                arrived
                            )
                    if self.stop.is_set():
                        break
            if not self.stop.is_set():
                with self.lock:
                    self.reconnects += 1
                await asyncio.sleep(0.5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--interval", type=float, default=0.05)
    options = parser.parse_args()

    with scratch_environment("live") as data_dir:
        run, session = _make_run(options.jobs)
        return _measure(run, session, dict(os.environ), options, data_dir)


def _measure(run, session: str, env: dict[str, str], options, data_dir: Path) -> int:
    from runs.models import JobPhase
    from runs.transitions import job_transition
    from tests.dashboard.browser import dashboard_server

    with dashboard_server(env, log_path=data_dir / "daphne.log") as base:
        url = base.replace("http://", "ws://") + f"/ws/runs/{run.pk}/"
        watchers = Watchers(url, base, session, options.clients)
        thread = threading.Thread(target=watchers.run, daemon=True)
        thread.start()
        if not watchers.ready.wait(30):
            print(f"only {watchers.connected} of {options.clients} clients got a snapshot")
            return 1
        sent: dict[tuple[str, str], float] = {}
        jobs = list(run.jobs.order_by("position").values_list("pk", "name"))
        for phase in (JobPhase.RUNNING, JobPhase.SUCCEEDED):
            for job_id, name in jobs:
                sent[(name, phase)] = time.perf_counter()
                job_transition(job_id=job_id, to=phase)
                time.sleep(options.interval)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with watchers.lock:
                complete = sum(len(watchers.arrivals.get(key, [])) for key in sent)
            if complete >= len(sent) * options.clients:
                break
            time.sleep(0.1)
        watchers.stop.set()

    every, slowest = [], []
    missing = 0
    for key, start in sent.items():
        arrivals = watchers.arrivals.get(key, [])
        missing += options.clients - len(arrivals)
        latencies = [(arrived - start) * 1000 for arrived in arrivals]
        every += latencies
        if latencies:
            slowest.append(max(latencies))
    print(
        f"\njob phase change -> websocket frame, {options.clients} clients, {len(sent)} changes "
        f"({options.interval * 1000:.0f} ms apart), Daphne + Redis stream, SQLite"
    )
    print(f"{'measure':<40} {'p50':>9} {'p95':>9} {'max':>9} {'target p95':>12}  met")
    for name, values in (
        ("every client, every change", every),
        ("slowest client per change", slowest),
    ):
        p95 = percentile(values, 0.95)
        print(
            f"{name:<40} {statistics.median(values):>7.1f}ms {p95:>7.1f}ms {max(values):>7.1f}ms "
            f"{TARGET_P95_MS:>10.0f}ms  {'yes' if p95 <= TARGET_P95_MS else 'NO'}"
        )
    print(f"{'frames missing / reconnects':<40} {missing:>9} {watchers.reconnects:>9}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
