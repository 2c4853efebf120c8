"""`make run`'s launcher, for real: private Redis, migrations, demo data, worker, Daphne."""

import http.cookiejar
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import psutil
import pytest
import redis

from gradient.private_redis import free_port
from tests.processes import REPO, launcher_env, running_launcher, wait_for_health

pytestmark = pytest.mark.integration


def log_in(port: int, username: str, password: str) -> str:
    """Log in through the admin's login form, as a browser would; return the final URL."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    login_url = f"http://127.0.0.1:{port}/admin/login/?next=/admin/"
    page = opener.open(login_url, timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode(
        {
            "csrfmiddlewaretoken": token,
            "username": username,
            "password": password,
            "next": "/admin/",
        }
    ).encode()
    request = urllib.request.Request(login_url, data=form, headers={"Referer": login_url})
    with opener.open(request, timeout=10) as answer:
        return answer.geturl()


def direct_children(launcher: subprocess.Popen, word: str) -> list[psutil.Process]:
    """The launcher's living children whose command line has `word`."""
    found = []
    for child in psutil.Process(launcher.pid).children():
        try:
            if any(word in part for part in child.cmdline()):
                found.append(child)
        except (psutil.ZombieProcess, psutil.NoSuchProcess):
            pass  # a child that just died and is not reaped yet
    return found


def healthz(port: int) -> tuple[int, dict]:
    """/healthz's status and body; an HTTP answer is expected, whatever its status."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_make_run_starts_everything_without_a_redis_and_stops_it_all(tmp_path):
    port = free_port()
    env = launcher_env(tmp_path, port)
    output = open(tmp_path / "launcher.log", "w+")
    launcher = subprocess.Popen(
        [sys.executable, "-m", "gradient.launcher", "run"],
        cwd=REPO,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        health = wait_for_health(port, launcher)
        assert health["ok"] is True
        assert health["checks"]["database"]["vendor"] == "sqlite"

        private_redis_url = (tmp_path / "run" / "redis.url").read_text()
        assert not private_redis_url.startswith("redis://127.0.0.1:6379/")

        password_file = tmp_path / "demo-password"
        assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
        password = password_file.read_text().strip()
        deadline = time.monotonic() + 10
        while "Log in as 'demo'" not in (tmp_path / "launcher.log").read_text():
            assert time.monotonic() < deadline, "the launcher never printed how to log in"
            time.sleep(0.2)
        banner = (tmp_path / "launcher.log").read_text()
        assert f"http://127.0.0.1:{port}/" in banner
        assert password in banner

        assert log_in(port, "demo", password).endswith("/admin/")

        second = subprocess.run(
            [sys.executable, "-m", "gradient.launcher", "run"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode != 0
        assert "already running" in second.stderr

        children = psutil.Process(launcher.pid).children(recursive=True)
        assert len(children) >= 3
    finally:
        os.killpg(launcher.pid, signal.SIGTERM)
        launcher.wait(30)

    gone, alive = psutil.wait_procs(children, timeout=15)
    assert alive == []
    assert not (tmp_path / "run" / "redis.url").exists()


def test_a_killed_worker_or_redis_is_started_again_while_the_dashboard_keeps_answering(tmp_path):
    port = free_port()
    with running_launcher(tmp_path, port) as launcher:
        [daphne] = direct_children(launcher, "daphne")
        for name, word in (("the Celery worker", "celery"), ("the private Redis", "redis-server")):
            [victim] = direct_children(launcher, word)

            victim.send_signal(signal.SIGKILL)

            deadline = time.monotonic() + 120
            while True:
                assert launcher.poll() is None, f"the launcher stopped when {name} died"
                status, body = healthz(port)
                back = [p for p in direct_children(launcher, word) if p.pid != victim.pid]
                if back and status == 200:
                    break
                assert time.monotonic() < deadline, f"{name} was not started again: {body}"
                time.sleep(0.5)
            log = (tmp_path / "launcher.log").read_text()
            assert f"{name} exited with code -9; restarting it in 1 s" in log
            assert f"started {name} again" in log
            # What it left in its process group (a worker's pool) went with it.
            assert not [p for p in psutil.process_iter() if _in_group(p, victim.pid)]
        assert [d.pid for d in direct_children(launcher, "daphne")] == [daphne.pid]


def _in_group(process: psutil.Process, group: int) -> bool:
    try:
        return os.getpgid(process.pid) == group and process.status() != psutil.STATUS_ZOMBIE
    except (ProcessLookupError, psutil.NoSuchProcess):
        return False


def test_the_private_redis_keeps_its_port_and_data_across_restarts_and_needs_its_password(
    tmp_path,
):
    port = free_port()
    with running_launcher(tmp_path, port):
        announced = tmp_path / "run" / "redis.url"
        assert stat.S_IMODE(announced.stat().st_mode) == 0o600
        url = announced.read_text().strip()
        password_file = tmp_path / "redis" / "redis.password"
        assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
        assert url.startswith(f"redis://:{password_file.read_text().strip()}@127.0.0.1:")
        redis_port = redis.Redis.from_url(url).connection_pool.connection_kwargs["port"]

        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=redis_port).ping()
        client = redis.Redis.from_url(url)
        for command in (
            ("CONFIG", "SET", "dir", str(tmp_path)),
            ("SAVE",),
            ("DEBUG", "SLEEP", "0"),
        ):
            with pytest.raises(redis.ResponseError, match="unknown command"):
                client.execute_command(*command)
        client.lpush("a-queue-written-before-the-restart", "message")
        client.close()

    with running_launcher(tmp_path, port):
        assert (tmp_path / "run" / "redis.url").read_text().strip() == url
        client = redis.Redis.from_url(url)
        assert client.lrange("a-queue-written-before-the-restart", 0, -1) == [b"message"]
        client.close()
