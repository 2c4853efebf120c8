"""A run websocket stops when its user leaves the team (or is removed), not when the run ends.

Found against `make run` after issue 12's work: access was checked only when
the socket connected, so a member removed from the team kept receiving the
run's live events and log lines for as long as the socket stayed open. The
consumer now asks the policy again before it sends what it read (at most
every ACCESS_RECHECK_SECONDS; 0 here, so every batch is checked).
"""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async

from runs.models import RunPhase
from runs.transitions import run_transition
from tests.factories import JobRunFactory, RunFactory
from tests.runs.test_consumers import communicator_for
from workflows.models import Membership

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def run(member, redis_url):
    run = RunFactory(workflow__project__team=member.memberships.get().team)
    JobRunFactory(run=run, name="train", position=0)
    return run


def test_a_removed_member_gets_4403_instead_of_the_next_event(run, member, monkeypatch):
    monkeypatch.setattr("runs.consumers.ACCESS_RECHECK_SECONDS", 0)

    async def scenario():
        communicator = communicator_for(run.pk, member)
        await communicator.connect()
        snapshot = await communicator.receive_json_from(timeout=5)
        await database_sync_to_async(Membership.objects.filter(user=member).delete)()
        await database_sync_to_async(run_transition)(run_id=run.pk, to=RunPhase.RUNNING)
        after = await communicator.receive_output(timeout=5)
        await communicator.disconnect()
        return snapshot, after

    snapshot, after = async_to_sync(scenario)()

    assert snapshot["type"] == "snapshot"
    assert after == {"type": "websocket.close", "code": 4403}
