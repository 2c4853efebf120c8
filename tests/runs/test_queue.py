"""Messages to the workers: pushed onto a Redis broker's list as Celery would push them."""

import base64
import json

import pytest
import redis
from celery import current_app

from runs import queue
from tests.processes import RedisServer


@pytest.fixture
def broker(tmp_path, monkeypatch):
    """A Redis of the test's own as the broker, so no worker of another test takes a message."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    monkeypatch.setenv("CELERY_BROKER_URL", server.url)
    current_app._after_fork()
    yield redis.Redis.from_url(server.url)
    server.kill()
    monkeypatch.undo()
    current_app._after_fork()


def _comparable(raw: bytes) -> dict:
    """A pushed message with what differs on every message (ids, the sending process) taken out."""
    message = json.loads(raw)
    message["body"] = json.loads(base64.b64decode(message["body"]))
    for name in ("id", "root_id", "origin"):
        assert message["headers"].pop(name)
    for name in ("correlation_id", "delivery_tag"):
        assert message["properties"].pop(name)
    return message


def test_a_message_pushed_here_is_the_one_celery_would_push(broker):
    current_app.send_task(queue.JOB_EXECUTE, args=(17,))
    (celery_message,) = broker.lrange(current_app.conf.task_default_queue, 0, -1)
    broker.delete(current_app.conf.task_default_queue)

    queue._send(queue.JOB_EXECUTE, [17])

    (ours,) = broker.lrange(current_app.conf.task_default_queue, 0, -1)
    assert _comparable(ours) == _comparable(celery_message)
    assert _comparable(ours)["body"][0] == [17]


def test_messages_sent_together_are_taken_in_their_order(broker):
    queue._send(queue.JOB_EXECUTE, [1, 2, 3])

    taken = [broker.rpop(current_app.conf.task_default_queue) for _ in range(3)]
    assert [_comparable(message)["body"][0] for message in taken] == [[1], [2], [3]]


def test_a_message_without_an_object_has_no_arguments(broker):
    queue._send(queue.RECONCILE, [None])

    (message,) = broker.lrange(current_app.conf.task_default_queue, 0, -1)
    assert _comparable(message)["headers"]["task"] == queue.RECONCILE
    assert _comparable(message)["body"][0] == []


def test_a_broker_other_than_redis_gets_its_messages_from_celery(monkeypatch):
    sent = []
    monkeypatch.setenv("CELERY_BROKER_URL", "memory://")
    monkeypatch.setattr(current_app, "send_task", lambda name, args: sent.append((name, args)))

    queue._send(queue.JOB_EXECUTE, [3, 4])

    assert sent == [(queue.JOB_EXECUTE, (3,)), (queue.JOB_EXECUTE, (4,))]


def test_a_message_the_broker_refuses_is_logged_and_dropped(tmp_path, monkeypatch, caplog):
    server = RedisServer(tmp_path / "redis")
    monkeypatch.setenv("CELERY_BROKER_URL", server.url)

    queue._send(queue.JOB_EXECUTE, [5, 6])

    assert "could not queue runs.tasks.job_execute for [5, 6]" in caplog.text
