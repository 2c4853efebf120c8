"""GitHub's hook behind Daphne: a delivery refused before its body is read.

Django's ASGI handler reads a request's whole body (into a temporary file)
before any view runs, so the webhook view alone cannot refuse a body by its
project or its size before it has arrived: anyone could make the server take
in gigabytes per request. This gate sits in front of Django for
`POST /hooks/github/<handle>` only. It answers 404 for a handle with no
linked repository and 413 for a declared size over the limit without reading
anything, reads a body sent without a length only up to the limit, and hands
Django the body it read. The view makes the same checks (`webhook_refusal`)
for servers that run Django over WSGI.
"""

from __future__ import annotations

import json
import re

from channels.db import database_sync_to_async

from triggers import selectors, services

HOOK_PATH = re.compile(r"^/hooks/github/(?P<handle>[^/]+)$")


def _refusal(handle: str, content_length: str | None) -> services.WebhookRefusal | None:
    link = selectors.hook_link(handle=handle)
    return services.webhook_refusal(link=link, content_length=content_length)


async def _answer(send, refusal: services.WebhookRefusal) -> None:
    body = json.dumps({"detail": refusal.detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": refusal.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class WebhookBodyGate:
    """ASGI middleware: refuse a hook delivery by project and size before reading its body."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        match = HOOK_PATH.match(scope.get("path", "")) if scope["type"] == "http" else None
        if match is None or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        refusal = await database_sync_to_async(_refusal)(
            match["handle"], length.decode("latin-1") if length is not None else None
        )
        if refusal is not None:
            await _answer(send, refusal)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > services.WEBHOOK_MAX_BYTES:
                await _answer(send, services.WEBHOOK_TOO_LARGE)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay():
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
