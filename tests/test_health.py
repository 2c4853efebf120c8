import time

import pytest
import redis
from celery import Celery
from django.db import connection
from django.db.utils import OperationalError

from gradient.private_redis import free_port, start_private_redis
from tests.processes import celery_worker

pytestmark = pytest.mark.django_db


def test_healthz_is_200_when_database_redis_and_a_worker_answer(client, redis_url, tmp_path):
    with celery_worker(log_path=tmp_path / "worker.log") as worker:
        answer = client.get("/healthz")

    assert answer.status_code == 200
    body = answer.json()
    assert body["ok"] is True
    assert body["down"] == []
    assert worker.hostname in body["checks"]["celery"]["workers"]
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is True


def test_healthz_is_503_naming_celery_when_no_worker_answers(client, redis_url):
    answer = client.get("/healthz")

    assert answer.status_code == 503
    body = answer.json()
    assert body["down"] == ["celery"]
    assert "no Celery worker answered" in body["checks"]["celery"]["error"]


def test_healthz_is_503_naming_redis_when_redis_is_unreachable(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"

    answer = client.get("/healthz")

    assert answer.status_code == 503
    body = answer.json()
    assert body["down"] == ["redis", "celery"]
    assert "Redis did not answer" in body["checks"]["redis"]["error"]
    assert "Redis, the broker, is down" in body["checks"]["celery"]["error"]


def test_healthz_is_503_naming_redis_when_no_redis_is_configured(client, settings):
    settings.REDIS_URL = None

    body = client.get("/healthz").json()

    assert "redis" in body["down"]
    assert "REDIS_URL is not set" in body["checks"]["redis"]["error"]


def test_healthz_is_503_naming_the_database_when_it_fails(client, redis_url, monkeypatch):
    def broken_cursor(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", broken_cursor)

    answer = client.get("/healthz")

    assert answer.status_code == 503
    assert "database" in answer.json()["down"]
    assert "connection refused" in answer.json()["checks"]["database"]["error"]


@pytest.mark.integration
def test_healthz_is_200_at_the_first_request_once_a_restarted_redis_is_back(
    client, settings, tmp_path, monkeypatch
):
    redis_dir = tmp_path / "redis"
    server = start_private_redis(redis_dir, persistent=False)
    # The health check and the worker both on this Redis, through a Celery app
    # whose broker connections are pooled, as the web server's are.
    monkeypatch.setattr(
        "gradient.celery.app", Celery("health-test", broker=server.url, set_as_current=False)
    )
    settings.REDIS_URL = server.url
    try:
        with celery_worker(log_path=tmp_path / "worker.log", REDIS_URL=server.url) as worker:
            assert client.get("/healthz").status_code == 200

            server.stop()
            # A probe while Redis is down, as a monitor's would be.
            assert client.get("/healthz").status_code == 503
            server = start_private_redis(redis_dir, persistent=False)
            assert server.url == settings.REDIS_URL
            _wait_until_a_fresh_connection_reaches(worker.hostname, server.url)

            answer = client.get("/healthz")

        assert answer.status_code == 200, answer.json()
        assert worker.hostname in answer.json()["checks"]["celery"]["workers"]
    finally:
        server.stop()


def _wait_until_a_fresh_connection_reaches(hostname: str, url: str) -> None:
    """The worker is back on the restarted Redis, as a new client sees it."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        fresh = Celery("health-test-probe", broker=url, set_as_current=False)
        try:
            if fresh.control.ping(destination=[hostname], timeout=0.5):
                return
        except Exception:  # the broker may still refuse while it starts
            time.sleep(0.2)
        finally:
            fresh.close()
    pytest.fail("the worker did not come back to the restarted Redis")


@pytest.mark.integration
def test_healthz_tries_a_fresh_connection_before_calling_redis_or_celery_down(
    client, redis_url, tmp_path, monkeypatch
):
    from gradient.celery import app

    def fails_once(real):
        calls = []

        def call(*args, **kwargs):
            calls.append(1)
            if len(calls) == 1:
                # What a pooled connection to a Redis that restarted raises.
                raise redis.ConnectionError("Connection closed by server.")
            return real(*args, **kwargs)

        return call

    with celery_worker(log_path=tmp_path / "worker.log") as worker:
        monkeypatch.setattr(redis.Redis, "ping", fails_once(redis.Redis.ping))
        monkeypatch.setattr(app.control, "ping", fails_once(app.control.ping))

        answer = client.get("/healthz")

    assert answer.status_code == 200, answer.json()
    assert worker.hostname in answer.json()["checks"]["celery"]["workers"]
