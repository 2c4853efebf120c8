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

from gradient.private_redis import free_port
from tests.processes import REPO

pytestmark = pytest.mark.integration


def wait_for_health(port: int, process: subprocess.Popen, timeout: float = 150.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the launcher exited with {process.returncode}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as answer:
                return json.loads(answer.read())
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    pytest.fail("the dashboard did not become healthy")


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


def test_make_run_starts_everything_without_a_redis_and_stops_it_all(tmp_path):
    port = free_port()
    env = {
        key: value for key, value in os.environ.items() if key not in {"REDIS_URL", "DATABASE_URL"}
    }
    env.update(GRADIENT_DATA_DIR=str(tmp_path), PORT=str(port), WORKER_CONCURRENCY="1")
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
