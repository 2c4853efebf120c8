"""Real processes for integration tests and benchmarks: `make run`, Celery workers, Redis."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import redis
from django.conf import settings
from django.db import connection

from gradient.launcher import celery_worker_command
from gradient.private_redis import find_redis_server, free_port

REPO = Path(__file__).resolve().parent.parent
_worker_numbers = itertools.count(1)


def test_database_url() -> str:
    """A DATABASE_URL for the database the tests are using right now (the test database)."""
    current = connection.settings_dict
    if current["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{current['NAME']}"
    user = quote(current["USER"] or "")
    password = quote(current["PASSWORD"] or "")
    credentials = f"{user}:{password}@" if password else f"{user}@" if user else ""
    host = current["HOST"] or "127.0.0.1"
    port = current["PORT"] or 5432
    return f"postgres://{credentials}{host}:{port}/{current['NAME']}"


def child_env(**overrides: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1", REDIS_URL=settings.REDIS_URL or "")
    env["DATABASE_URL"] = test_database_url()
    env["GRADIENT_DATA_DIR"] = str(settings.DATA_DIR)
    env["SECRET_KEY"] = settings.SECRET_KEY
    env["ALLOW_LOCAL_REPOSITORIES"] = "1" if settings.ALLOW_LOCAL_REPOSITORIES else "0"
    env.update(overrides)
    return env


def stop_process(process: subprocess.Popen, grace_seconds: float = 10.0) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(grace_seconds)
    except ProcessLookupError:
        process.wait()
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def launcher_env(data_dir: Path, port: int, **overrides: str) -> dict[str, str]:
    """The environment of `make run` on `data_dir`: its own Redis and SQLite unless
    `overrides` name a REDIS_URL or DATABASE_URL; one worker process unless they say more."""
    env = {
        key: value for key, value in os.environ.items() if key not in {"REDIS_URL", "DATABASE_URL"}
    }
    env.update(GRADIENT_DATA_DIR=str(data_dir), PORT=str(port), WORKER_CONCURRENCY="1")
    env.update(overrides)
    return env


def wait_for_health(port: int, process: subprocess.Popen, timeout: float = 150.0) -> dict:
    """/healthz's answer once the dashboard on `port` gives one (`process` must live meanwhile)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the launcher exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as answer:
                return json.loads(answer.read())
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise RuntimeError(f"the dashboard did not become healthy within {timeout:g} s")


@contextmanager
def running_launcher(data_dir: Path, port: int, **env: str):
    """`python -m gradient.launcher run` on `data_dir`, yielded once it says it is ready;
    stopped as Ctrl-C would (SIGTERM to its process group) afterwards. Everything it
    and its children print goes to `data_dir`/launcher.log."""
    output = open(data_dir / "launcher.log", "a")
    launcher = subprocess.Popen(
        [sys.executable, "-m", "gradient.launcher", "run"],
        cwd=REPO,
        env=launcher_env(data_dir, port, **env),
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        health = wait_for_health(port, launcher)
        assert health["ok"] is True, health
        deadline = time.monotonic() + 30
        while "The dashboard is running" not in (data_dir / "launcher.log").read_text():
            assert time.monotonic() < deadline, "the launcher never said it is ready"
            time.sleep(0.2)
        yield launcher
    finally:
        os.killpg(launcher.pid, signal.SIGTERM)
        launcher.wait(60)
        output.close()


@dataclass
class Worker:
    hostname: str
    process: subprocess.Popen


@contextmanager
def celery_worker(
    concurrency: int = 1, log_path: Path | None = None, beat: bool = False, **env: str
):
    """A real Celery worker process (with beat when asked), yielded once it answers a ping.

    Its jobs run under bubblewrap unless `LOCAL_ENGINE_RUNTIME` is passed or set
    for the whole suite: the tests' specs name images no test registry holds.
    """
    from gradient.celery import app

    env.setdefault("LOCAL_ENGINE_RUNTIME", os.environ.get("LOCAL_ENGINE_RUNTIME", "bwrap"))
    hostname = f"test-{os.getpid()}-{next(_worker_numbers)}@localhost"
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL
    command = celery_worker_command(
        concurrency=concurrency,
        hostname=hostname,
        beat_schedule=settings.DATA_DIR / f"beat-{hostname}" if beat else None,
    )
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env=child_env(**env),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the Celery worker exited with code {process.returncode}")
            if app.control.ping(destination=[hostname], timeout=0.5):
                break
        else:
            raise RuntimeError("the Celery worker did not answer a ping within 60 s")
        yield Worker(hostname=hostname, process=process)
    finally:
        stop_process(process)
        if log_path:
            log.close()


@dataclass
class RedisServer:
    """A throwaway Redis on a free loopback port that a test may kill and start again.

    It keeps nothing on disk, like the Redis of `make run` and docker-compose:
    killed and started again, it has forgotten every queued message.
    """

    work_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, ready_timeout: float = 15.0) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [find_redis_server(), "--bind", "127.0.0.1", "--port", str(self.port)]
            + ["--save", "", "--appendonly", "no", "--dir", str(self.work_dir)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        deadline = time.monotonic() + ready_timeout
        while True:
            try:
                client.ping()
                return
            except redis.RedisError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    message = f"the test's Redis on port {self.port} did not start"
                    raise RuntimeError(message) from None
                time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would: no goodbye to its clients."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
