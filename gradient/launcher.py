"""Starts everything `make run` needs and stops it all again.

    python -m gradient.launcher run            the dashboard: Redis (private unless
                                               REDIS_URL is set), migrations, the
                                               demo data, Celery workers and Daphne
    python -m gradient.launcher exec -- CMD    CMD with REDIS_URL set, starting a
                                               private Redis for it when unset

`run` supervises what it started: the private Redis, the Celery worker, the
Argo watcher or Daphne that dies is started again (after 1 s, doubling up to
30 s while it keeps dying), with a line saying so, and the others go on; the
private Redis comes back on the same port with its data (gradient/private_redis.py),
so the others reconnect to the URL they have. A child dying while the dashboard
is still starting stops the start instead: that is a setup problem to report.

Ctrl-C, or SIGTERM to the launcher or its process group, stops every child.
Children also get SIGTERM if the launcher itself dies (PR_SET_PDEATHSIG), so
nothing is left behind even after a SIGKILL.
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gradient.private_redis import PrivateRedisError, start_private_redis, write_private_file

PR_SET_PDEATHSIG = 1
STOP_GRACE_SECONDS = 10.0
READY_TIMEOUT_SECONDS = 120.0
# A child that dies is started again after 1 s, then 2, 4, ... up to 30 s while
# it keeps dying; one that ran this long before dying starts over at 1 s.
RESTART_BACKOFF_FIRST = 1.0
RESTART_BACKOFF_MAX = 30.0
STABLE_SECONDS = 60.0


def celery_worker_command(
    *, concurrency: int, hostname: str, loglevel: str = "INFO", beat_schedule: Path | None = None
) -> list[str]:
    """The command line of a Celery worker of this app, with beat when given its schedule file.

    The one place it is written: `make run`, the tests' workers (tests/processes.py)
    and bench/engine.py start workers with it. Mingle and gossip are off: they
    share revoked task ids and clocks between workers, nothing here revokes
    tasks, and they add a second or so to every start.
    """
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "gradient",
        "worker",
        f"--loglevel={loglevel}",
        f"--concurrency={concurrency}",
        f"--hostname={hostname}",
        "--without-mingle",
        "--without-gossip",
    ]
    if beat_schedule is not None:
        command += ["--beat", f"--schedule={beat_schedule}"]
    return command


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _data_dir() -> Path:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gradient.settings")
    from django.conf import settings

    return settings.DATA_DIR


@dataclass
class Child:
    """A process the launcher keeps running: started again with backoff when it dies."""

    name: str
    launch: Callable[[], subprocess.Popen]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    backoff: float = RESTART_BACKOFF_FIRST
    restart_at: float | None = None

    def start(self) -> None:
        self.process = self.launch()
        self.started_at = time.monotonic()
        self.restart_at = None

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def kill_leftovers(self) -> None:
        """SIGKILL what the child left in its process group (a dead worker's pool processes)."""
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


class Supervisor:
    """Owns the child processes: restarts one that dies, and stops them together.

    Each child leads its own process group, so that what a dead child leaves
    behind (a Celery worker's pool processes) can be killed with it, without
    touching the others.
    """

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.children: list[Child] = []
        self.redis: Child | None = None
        self.redis_url: str | None = None
        # Where the private Redis's URL is announced to `manage.py` commands (settings.py).
        self.announce_file: Path | None = None
        self.stopping = False

    def start(self, name: str, command: list[str]) -> None:
        def launch() -> subprocess.Popen:
            return subprocess.Popen(
                command,
                env=self.env,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
                process_group=0,
            )

        child = Child(name=name, launch=launch)
        child.start()
        self.children.append(child)

    def start_redis(self, work_dir: Path) -> str:
        """Start the private Redis (the same port and data on every start); return its URL."""

        def launch() -> subprocess.Popen:
            server = start_private_redis(work_dir, preexec_fn=_die_with_parent, process_group=0)
            self.redis_url = server.url
            return server.process

        self.redis = Child(name="the private Redis", launch=launch)
        self.redis.start()
        return self.redis_url

    def _all(self) -> list[Child]:
        return ([self.redis] if self.redis else []) + self.children

    def exited_child(self) -> tuple[str, int] | None:
        for child in self._all():
            code = child.exit_code()
            if code is not None:
                return child.name, code
        return None

    def supervise(self) -> None:
        """Schedule a dead child's restart, with backoff; start those whose time has come."""
        now = time.monotonic()
        for child in self._all():
            if child.restart_at is None:
                code = child.exit_code()
                if code is None:
                    continue
                child.kill_leftovers()
                if now - child.started_at >= STABLE_SECONDS:
                    child.backoff = RESTART_BACKOFF_FIRST
                _say(f"{child.name} exited with code {code}; restarting it in {child.backoff:g} s")
                child.restart_at = now + child.backoff
                child.backoff = min(child.backoff * 2, RESTART_BACKOFF_MAX)
            elif now >= child.restart_at and not self.stopping:
                self._restart(child)

    def _restart(self, child: Child) -> None:
        old_url = self.redis_url
        try:
            child.start()
        except (OSError, PrivateRedisError) as error:
            child.restart_at = time.monotonic() + child.backoff
            _say(f"{child.name} did not start again ({error}); next try in {child.backoff:g} s")
            return
        _say(f"started {child.name} again")
        if child is self.redis and self.redis_url != old_url:
            # Its port was taken meanwhile: the others hold the old URL, so they
            # start again with the new one.
            _say("the private Redis is on a new port; restarting the others to use it")
            self.env["REDIS_URL"] = self.redis_url
            if self.announce_file is not None:
                write_private_file(self.announce_file, self.redis_url)
            for other in self.children:
                if other.exit_code() is None:
                    other.process.terminate()

    def stop_all(self) -> None:
        self.stopping = True
        # Redis last: workers that are shutting down still talk to it.
        for group in (self.children, [self.redis] if self.redis else []):
            for child in group:
                if child.exit_code() is None:
                    child.process.terminate()
            deadline = time.monotonic() + STOP_GRACE_SECONDS
            for child in group:
                if child.process is None:
                    continue
                try:
                    child.process.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.process.kill()
                    child.process.wait()
                child.kill_leftovers()


def _say(message: str) -> None:
    print(f"make run: {message}", flush=True)


def _run_step(command: list[str], env: dict[str, str], what: str) -> None:
    result = subprocess.run(command, env=env, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise SystemExit(f"make run: {what} failed (exit {result.returncode}); see above")


def _wait_until_healthy(url: str, supervisor: Supervisor) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    last_error = "no answer yet"
    while time.monotonic() < deadline and not supervisor.stopping:
        exited = supervisor.exited_child()
        if exited:
            raise SystemExit(f"make run: {exited[0]} exited with code {exited[1]} while starting")
        try:
            with urllib.request.urlopen(url, timeout=3) as answer:
                if answer.status == 200:
                    return
        except urllib.error.HTTPError as error:
            last_error = error.read().decode(errors="replace")
        except OSError as error:
            last_error = str(error)
        time.sleep(0.3)
    if not supervisor.stopping:
        raise SystemExit(f"make run: the dashboard did not become healthy: {last_error}")


def _lock_data_dir(run_dir: Path):
    lock = open(run_dir / "launcher.lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit(
            f"make run: another dashboard is already running with the data folder {run_dir.parent}"
        ) from None
    return lock


def run_dashboard() -> int:
    data_dir = _data_dir()
    run_dir = data_dir / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = _lock_data_dir(run_dir)
    announced_redis = run_dir / "redis.url"
    announced_redis.unlink(missing_ok=True)

    port = os.environ.get("PORT", "8000")
    python = sys.executable
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    supervisor = Supervisor(env)

    def request_stop(signum, frame):
        supervisor.stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    try:
        if not env.get("REDIS_URL"):
            env["REDIS_URL"] = supervisor.start_redis(data_dir / "redis")
            # The URL holds the password: readable by this user only.
            write_private_file(announced_redis, env["REDIS_URL"])
            supervisor.announce_file = announced_redis
            _say(f"started a private Redis at {_without_password(env['REDIS_URL'])}")
        _run_step([python, "manage.py", "migrate", "--noinput"], env, "migrating the database")
        _run_step([python, "manage.py", "collectstatic", "--noinput", "-v0"], env, "collectstatic")
        _run_step([python, "manage.py", "setup_demo"], env, "creating the demo data")
        concurrency = env.get("WORKER_CONCURRENCY", str(max(2, os.cpu_count() or 2)))
        if not concurrency.isdecimal():
            raise SystemExit(f"make run: WORKER_CONCURRENCY must be a number, not {concurrency!r}")
        supervisor.start(
            "the Celery worker",
            celery_worker_command(
                concurrency=int(concurrency),
                hostname="worker@%h",
                beat_schedule=run_dir / "celerybeat-schedule",
            ),
        )
        supervisor.start("the Argo watcher", [python, "manage.py", "argo_watch"])
        supervisor.start(
            "Daphne",
            [python, "-m", "daphne", "-b", "127.0.0.1", "-p", port, "gradient.asgi:application"],
        )
        _wait_until_healthy(f"http://127.0.0.1:{port}/healthz", supervisor)
        if not supervisor.stopping:
            password_file = data_dir / "demo-password"
            password = password_file.read_text().strip() if password_file.exists() else "(unknown)"
            print(
                "\n"
                f"  The dashboard is running at http://127.0.0.1:{port}/\n"
                f"  Log in as 'demo' with the password '{password}'"
                f" (kept in {password_file}).\n"
                "  Press Ctrl-C to stop.\n",
                flush=True,
            )
        while not supervisor.stopping:
            supervisor.supervise()
            time.sleep(0.5)
        return 0
    finally:
        _say("stopping")
        supervisor.stop_all()
        announced_redis.unlink(missing_ok=True)
        lock.close()


def _without_password(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def exec_with_redis(command: list[str]) -> int:
    if not command:
        raise SystemExit("usage: python -m gradient.launcher exec -- COMMAND [ARGS...]")
    if os.environ.get("REDIS_URL"):
        os.execvp(command[0], command)
    with tempfile.TemporaryDirectory(prefix="gradient-redis-") as work_dir:
        # The suite's throwaway Redis: nothing to keep, so no append-only file.
        server = start_private_redis(Path(work_dir), persistent=False, preexec_fn=_die_with_parent)
        try:
            env = dict(os.environ, REDIS_URL=server.url)
            child = subprocess.Popen(command, env=env)
            try:
                return child.wait()
            except KeyboardInterrupt:
                child.send_signal(signal.SIGINT)
                return child.wait()
        finally:
            server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gradient.launcher")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start the dashboard and everything it needs")
    exec_parser = commands.add_parser("exec", help="run a command with REDIS_URL set")
    exec_parser.add_argument("argv", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.command == "run":
        return run_dashboard()
    command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    return exec_with_redis(command)


if __name__ == "__main__":
    sys.exit(main())
