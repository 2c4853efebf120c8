"""The run websocket, through Channels' real routing and auth stack and a real Redis."""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from gradient.asgi import application
from runs.models import JobPhase, RunPhase
from runs.transitions import job_transition, run_transition
from tests.factories import JobRunFactory, RunFactory

pytestmark = pytest.mark.django_db(transaction=True)


def communicator_for(run_id: int, user, last: str | None = None) -> WebsocketCommunicator:
    path = f"/ws/runs/{run_id}/" + (f"?last={last}" if last else "")
    communicator = WebsocketCommunicator(
        application, path, headers=[(b"origin", b"http://localhost")]
    )
    communicator.scope["user"] = user
    return communicator


@pytest.fixture
def run(member, redis_url):
    run = RunFactory(workflow__project__team=member.memberships.get().team)
    JobRunFactory(run=run, name="train", position=0)
    return run


def test_an_outsider_and_an_anonymous_visitor_are_refused_with_4403(run, outsider):
    async def scenario(user):
        communicator = communicator_for(run.pk, user)
        connected, _ = await communicator.connect()
        assert connected
        closed = await communicator.receive_output(timeout=5)
        await communicator.disconnect()
        return closed

    for user in (outsider, AnonymousUser()):
        assert async_to_sync(scenario)(user) == {"type": "websocket.close", "code": 4403}


def test_a_member_gets_a_snapshot_then_every_change_with_a_sequence(run, member):
    async def scenario():
        communicator = communicator_for(run.pk, member)
        await communicator.connect()
        snapshot = await communicator.receive_json_from(timeout=5)
        await _sync(run_transition)(run_id=run.pk, to=RunPhase.RUNNING)
        await _sync(job_transition)(job_id=await _job_id(run), to=JobPhase.RUNNING)
        first = await communicator.receive_json_from(timeout=5)
        second = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return snapshot, first, second

    snapshot, first, second = async_to_sync(scenario)()

    assert snapshot["type"] == "snapshot"
    assert snapshot["run"]["status"]["jobs"]["train"]["phase"] == "PENDING"
    assert (first["type"], first["phase"]) == ("run.phase", "RUNNING")
    assert (second["type"], second["job"], second["phase"]) == ("job.phase", "train", "RUNNING")
    assert _seq(snapshot["seq"]) < _seq(first["seq"]) < _seq(second["seq"])


def test_a_client_that_reconnects_gets_only_what_it_missed(run, member):
    async def scenario():
        communicator = communicator_for(run.pk, member)
        await communicator.connect()
        await communicator.receive_json_from(timeout=5)
        await _sync(run_transition)(run_id=run.pk, to=RunPhase.RUNNING)
        seen = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()

        await _sync(job_transition)(job_id=await _job_id(run), to=JobPhase.RUNNING)
        await _sync(job_transition)(job_id=await _job_id(run), to=JobPhase.SUCCEEDED)

        again = communicator_for(run.pk, member, last=seen["seq"])
        await again.connect()
        missed = [await again.receive_json_from(timeout=5) for _ in range(2)]
        nothing_more = await again.receive_nothing(timeout=0.3)
        await again.disconnect()

        stale = communicator_for(run.pk, member, last="1-0")
        await stale.connect()
        resync = await stale.receive_json_from(timeout=5)
        await stale.disconnect()
        return missed, nothing_more, resync

    missed, nothing_more, resync = async_to_sync(scenario)()

    assert [(event["type"], event["phase"]) for event in missed] == [
        ("job.phase", "RUNNING"),
        ("job.phase", "SUCCEEDED"),
    ]
    assert nothing_more
    assert resync["type"] == "snapshot"
    assert resync["run"]["status"]["jobs"]["train"]["phase"] == "SUCCEEDED"


def _seq(entry_id: str) -> tuple[int, int]:
    milliseconds, counter = entry_id.split("-")
    return int(milliseconds), int(counter)


def _sync(function):
    return database_sync_to_async(function)


async def _job_id(run) -> int:
    return await database_sync_to_async(lambda: run.jobs.get().pk)()
