import pytest
from django.db import connection
from django.db.utils import OperationalError

from gradient.private_redis import free_port
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
