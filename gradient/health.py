"""What /healthz reports: the database, Redis, and at least one Celery worker.

A check that fails is tried once more on a fresh connection before the part
is called down: after a Redis restart, the connections this process pooled
(Celery's broker pool above all) are dead until something replaces them, and
a monitor must not see minutes of 503s while the workers already answer.
"""

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


def _ping_redis() -> None:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    finally:
        client.close()


def _check_redis() -> dict:
    if not settings.REDIS_URL:
        return {"ok": False, "error": "REDIS_URL is not set and no private Redis is running"}
    try:
        _ping_redis()
    except redis.RedisError:
        try:
            _ping_redis()
        except redis.RedisError as error:
            return {"ok": False, "error": f"Redis did not answer: {error}"}
    return {"ok": True}


def _ping_on_a_fresh_connection(app) -> list:
    """`app.control.ping` on a new broker connection, bypassing Celery's pools.

    `control.ping(connection=...)` would still publish through the pooled
    producers, whose connections are the suspects; kombu's pools are global
    per broker URL, so they cannot be swapped for this app alone either.
    """
    with app.connection_for_write() as connection:
        mailbox = app.control.mailbox(connection)
        mailbox._producer_pool = None  # publish on `connection` itself
        return mailbox._broadcast("ping", reply=True, timeout=CELERY_PING_SECONDS, limit=1)


def _check_celery() -> dict:
    from gradient.celery import app

    try:
        replies = app.control.ping(timeout=CELERY_PING_SECONDS, limit=1)
    except Exception:  # the broker connection can fail in many ways; try a fresh one
        try:
            replies = _ping_on_a_fresh_connection(app)
        except Exception as error:
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
