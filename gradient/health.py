"""What /healthz reports: the database, Redis, and at least one Celery worker."""

from __future__ import annotations

import redis
from django.conf import settings
from django.db import connection

CELERY_PING_SECONDS = 1.0


def _check_database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:  # any driver error means "down", and says why
        return {"ok": False, "error": f"database did not answer: {error}"}
    return {"ok": True, "vendor": connection.vendor}


def _check_redis() -> dict:
    if not settings.REDIS_URL:
        return {"ok": False, "error": "REDIS_URL is not set and no private Redis is running"}
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError as error:
        return {"ok": False, "error": f"Redis did not answer: {error}"}
    finally:
        client.close()
    return {"ok": True}


def _check_celery() -> dict:
    from gradient.celery import app

    try:
        replies = app.control.ping(timeout=CELERY_PING_SECONDS, limit=1)
    except Exception as error:  # the broker connection can fail in many ways
        return {"ok": False, "error": f"could not ask Celery workers: {error}"}
    if not replies:
        return {
            "ok": False,
            "error": f"no Celery worker answered within {CELERY_PING_SECONDS:g} s",
        }
    return {"ok": True, "workers": [name for reply in replies for name in reply]}


def check_health() -> dict:
    checks = {"database": _check_database(), "redis": _check_redis()}
    if checks["redis"]["ok"]:
        checks["celery"] = _check_celery()
    else:
        checks["celery"] = {"ok": False, "error": "not checked: Redis, the broker, is down"}
    down = [name for name, check in checks.items() if not check["ok"]]
    return {"ok": not down, "down": down, "checks": checks}
