"""The run page's websocket: a snapshot, then every event of the run as it happens.

Events come from the run's Redis Stream (see runs.events); each carries the
stream entry id as `seq`. A client that reconnects with `?last=<seq>` gets
exactly what it missed when the stream still holds that entry, and a fresh
snapshot otherwise, so the page never shows a stale state after a network
blip or a Redis restart.

Access is asked of workflows.access when the socket connects and again,
at most every ACCESS_RECHECK_SECONDS, before events read since are sent: a
member removed from the team (or who left it) gets 4403 instead of the
rest of the run's log.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from urllib.parse import parse_qs

import redis.asyncio as aioredis
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from redis.exceptions import RedisError

from runs.events import run_stream_key
from runs.models import Run
from runs.selectors import run_status_document, run_with_everything, runs_of
from workflows.access import Action, can

logger = logging.getLogger(__name__)

FORBIDDEN = 4403
# Each blocking read returns well within the client's socket timeout, so an
# idle run never looks like a lost Redis.
READ_BLOCK_MS = 3_000
SOCKET_TIMEOUT_SECONDS = 15
READ_BATCH = 500
RECONNECT_SECONDS = 1.0
# How stale the connect-time access check may get before it is asked again.
ACCESS_RECHECK_SECONDS = 10.0


def _may_watch(user, run_id: int) -> bool:
    """Whether the run exists for the user (visible_to) and their role lets them view it."""
    run = run_with_everything(runs_of(user)).filter(pk=run_id).first()
    return run is not None and can(user, Action.VIEW, run)


def _snapshot(run_id: int) -> dict:
    return run_status_document(run_with_everything(Run.objects.all()).get(pk=run_id))


class RunConsumer(AsyncJsonWebsocketConsumer):
    # Events come from the run's Redis Stream, not the channel layer: without
    # this, Channels would also hold a channel-layer subscription per socket.
    channel_layer_alias = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        self.run_id = int(self.scope["url_route"]["kwargs"]["run_id"])
        self.reader: asyncio.Task | None = None
        self.checked_at = time.monotonic()
        allowed = user is not None and user.is_authenticated
        if allowed:
            allowed = await database_sync_to_async(_may_watch)(user, self.run_id)
        await self.accept()
        if not allowed:
            await self.close(code=FORBIDDEN)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode())
        last = (query.get("last") or [None])[0]
        self.reader = asyncio.create_task(self._follow(last))

    async def _still_allowed(self) -> bool:
        now = time.monotonic()
        if now - self.checked_at < ACCESS_RECHECK_SECONDS:
            return True
        self.checked_at = now
        return await database_sync_to_async(_may_watch)(self.scope["user"], self.run_id)

    async def disconnect(self, code: int) -> None:
        if self.reader is not None:
            self.reader.cancel()

    async def receive_json(self, content, **kwargs) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def _send_snapshot(self, client: aioredis.Redis, key: str) -> str:
        newest = await client.xrevrange(key, count=1)
        position = newest[0][0].decode() if newest else "0-0"
        document = await database_sync_to_async(_snapshot)(self.run_id)
        await self.send_json({"type": "snapshot", "seq": position, "run": document})
        return position

    async def _resume(self, client: aioredis.Redis, key: str, last: str | None) -> str:
        """Replay what the client missed after `last`, or send a snapshot when that is not known."""
        if last:
            try:
                known = await client.xrange(key, min=last, max=last, count=1)
            except RedisError:
                known = []
            if known:
                return last
        return await self._send_snapshot(client, key)

    async def _follow(self, last: str | None) -> None:
        key = run_stream_key(self.run_id)
        client = aioredis.from_url(settings.REDIS_URL, socket_timeout=SOCKET_TIMEOUT_SECONDS)
        try:
            position = None
            while True:
                try:
                    if position is None:
                        position = await self._resume(client, key, last)
                    answer = await client.xread(
                        {key: position}, block=READ_BLOCK_MS, count=READ_BATCH
                    )
                except RedisError:
                    logger.info("lost Redis while following run %s; resuming", self.run_id)
                    await asyncio.sleep(RECONNECT_SECONDS)
                    position, last = None, None
                    continue
                if answer and not await self._still_allowed():
                    await self.close(code=FORBIDDEN)
                    return
                for _, entries in answer:
                    for entry_id, fields in entries:
                        position = entry_id.decode()
                        event = json.loads(fields[b"event"])
                        await self.send_json({"seq": position, **event})
        except asyncio.CancelledError:
            raise
        finally:
            await client.aclose()
