"""Starts everything `make run` needs and stops it all again.

    python -m gradient.launcher run            the dashboard: Redis (private unless
                                               REDIS_URL is set), migrations, the
                                               demo data, Celery workers and Daphne
    python -m gradient.launcher exec -- CMD    CMD with REDIS_URL set, starting a
                                               private Redis for it when unset

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
import urllib.request
from pathlib import Path

from gradient.private_redis import PrivateRedis, start_private_redis

PR_SET_PDEATHSIG = 1
STOP_GRACE_SECONDS = 10.0
READY_TIMEOUT_SECONDS = 120.0


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _data_dir() -> Path:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gradient.settings")
    from django.conf import settings

    return settings.DATA_DIR


class Supervisor:
    """Owns the child processes and stops them together."""

    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen]] = []
        self.redis: PrivateRedis | None = None
        self.stopping = False

    def start(self, name: str, command: list[str], env: dict[str, str]) -> None:
        process = subprocess.Popen(
            command, env=env, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent
        )
        self.children.append((name, process))

    def exited_child(self) -> tuple[str, int] | None:
        for name, process in self.children:
            code = process.poll()
            if code is not None:
                return name, code
        return None

    def stop_all(self) -> None:
        self.stopping = True
        for _, process in self.children:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for _, process in self.children:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.redis is not None:
            self.redis.stop()


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
    supervisor = Supervisor()

    def request_stop(signum, frame):
        supervisor.stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    try:
        if not env.get("REDIS_URL"):
            supervisor.redis = start_private_redis(run_dir, preexec_fn=_die_with_parent)
            env["REDIS_URL"] = supervisor.redis.url
            announced_redis.write_text(supervisor.redis.url)
            print(f"make run: started a private Redis at {supervisor.redis.url}", flush=True)
        _run_step([python, "manage.py", "migrate", "--noinput"], env, "migrating the database")
        _run_step([python, "manage.py", "collectstatic", "--noinput", "-v0"], env, "collectstatic")
        _run_step([python, "manage.py", "setup_demo"], env, "creating the demo data")
        concurrency = env.get("WORKER_CONCURRENCY", str(max(2, os.cpu_count() or 2)))
        supervisor.start(
            "the Celery worker",
            [
                python,
                "-m",
                "celery",
                "-A",
                "gradient",
                "worker",
                "--loglevel=INFO",
                f"--concurrency={concurrency}",
                "--hostname=worker@%h",
                "--beat",
                f"--schedule={run_dir / 'celerybeat-schedule'}",
            ],
            env,
        )
        supervisor.start(
            "the Argo watcher",
            [python, "manage.py", "argo_watch"],
            env,
        )
        supervisor.start(
            "Daphne",
            [python, "-m", "daphne", "-b", "127.0.0.1", "-p", port, "gradient.asgi:application"],
            env,
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
            exited = supervisor.exited_child()
            if exited:
                print(f"make run: {exited[0]} exited with code {exited[1]}; stopping", flush=True)
                return 1
            time.sleep(0.5)
        return 0
    finally:
        print("make run: stopping", flush=True)
        supervisor.stop_all()
        announced_redis.unlink(missing_ok=True)
        lock.close()


def exec_with_redis(command: list[str]) -> int:
    if not command:
        raise SystemExit("usage: python -m gradient.launcher exec -- COMMAND [ARGS...]")
    if os.environ.get("REDIS_URL"):
        os.execvp(command[0], command)
    with tempfile.TemporaryDirectory(prefix="gradient-redis-") as work_dir:
        server = start_private_redis(Path(work_dir), preexec_fn=_die_with_parent)
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
