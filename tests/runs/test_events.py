"""runs.events: committed events reach the run's Redis stream in order, off the caller's thread."""

import json
import os

import pytest
import redis
from django.conf import settings

from runs import events


@pytest.fixture(autouse=True)
def _redis():
    if not settings.REDIS_URL:
        pytest.fail("these tests need Redis: run them with `make test`, which starts one")


def _stream(run_id: int) -> list[dict]:
    client = redis.Redis.from_url(settings.REDIS_URL)
    return [
        json.loads(fields[b"event"]) for _, fields in client.xrange(events.run_stream_key(run_id))
    ]


@pytest.fixture
def run_id():
    run_id = 900_000 + os.getpid()
    redis.Redis.from_url(settings.REDIS_URL).delete(events.run_stream_key(run_id))
    return run_id


def test_events_are_written_in_the_order_they_were_published(run_id):
    for number in range(300):
        events._send(run_id, {"type": "job.log", "n": number})

    assert events.flush_published(timeout=10)
    assert [event["n"] for event in _stream(run_id)] == list(range(300))


def test_a_forked_child_writes_its_own_events(run_id):
    events._send(run_id, {"n": "parent"})
    assert events.flush_published(timeout=10)

    child = os.fork()
    if child == 0:
        events._send(run_id, {"n": "child"})
        os._exit(0 if events.flush_published(timeout=10) else 1)
    _, status = os.waitpid(child, 0)

    assert os.waitstatus_to_exitcode(status) == 0
    assert [event["n"] for event in _stream(run_id)] == ["parent", "child"]


def test_an_unreachable_redis_loses_the_events_but_not_the_publisher(run_id, settings, caplog):
    good = settings.REDIS_URL
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    events._send(run_id, {"n": "lost"})
    assert events.flush_published(timeout=10)
    assert "could not publish 1 events" in caplog.text

    settings.REDIS_URL = good
    events._send(run_id, {"n": "kept"})
    assert events.flush_published(timeout=10)
    assert [event["n"] for event in _stream(run_id)] == ["kept"]
