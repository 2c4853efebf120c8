"""Issue 12, item 5: webhook replays, other projects' delivery ids, and oversize bodies.

The attacks: the signature does not cover X-GitHub-Delivery, so the same
signed push resent with a new or no delivery id started a new run each time;
delivery ids were global, so team B sending A's id got "handled already" with
A's record; and the hook read up to 25 MB before checking the project or the
signature.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from channels.db import database_sync_to_async
from django.db import connections
from django.test import RequestFactory

from runs.models import Run
from tests.git_repo import Repo, push_payload, signed
from triggers import services, tasks, views
from triggers.models import PushTrigger

SPEC = """jobs:
  main:
    uses: container@v1
    with:
      image: bash:5
      args: ["bash", "-c", "echo hi"]
on:
  github:
    branches:
      only: main
"""
# GitHub caps a delivery at 25 MB, and so does the hook.
LIMIT = 25 * 1024 * 1024

pytestmark = pytest.mark.usefixtures("local_repositories")


@pytest.fixture(autouse=True)
def _private_data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"


@pytest.fixture(autouse=True)
def _handled_at_once(monkeypatch):
    """Runs are only created; a queued push is handled at once, as a worker would."""
    monkeypatch.setattr("runs.queue.run_start", lambda run_id: None)
    monkeypatch.setattr(
        "triggers.services._enqueue_push", lambda push: tasks.push_handle(push.as_dict())
    )


def _linked(project, tmp_path, name):
    repo = Repo(tmp_path / name)
    commit = repo.commit({".gradient/workflows/train.yaml": SPEC})
    link, secret = services.repository_link(project=project, clone_url=repo.url)
    return repo, commit, secret


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks):
    def post(project, secret, body: bytes, delivery: str | None):
        headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": signed(secret, body)}
        if delivery is not None:
            headers["X-GitHub-Delivery"] = delivery
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                f"/hooks/github/{project.handle}",
                data=body,
                content_type="application/json",
                headers=headers,
            )

    return post


@pytest.mark.django_db
class TestReplays:
    @pytest.mark.parametrize("replayed_with", ["a-new-id", None])
    def test_the_same_signed_push_replayed_starts_no_second_run(
        self, project_a, tmp_path, deliver, replayed_with
    ):
        repo, commit, secret = _linked(project_a, tmp_path, "a")
        body = json.dumps(push_payload(repo, commit)).encode()

        first = deliver(project_a, secret, body, "first-id")
        again = deliver(project_a, secret, body, replayed_with)

        assert first.status_code == 202
        assert again.status_code == 200
        assert "handled already" in again.json()["detail"]
        assert Run.objects.count() == 1
        assert PushTrigger.objects.count() == 1

    def test_a_replay_that_reaches_the_worker_twice_starts_nothing(self, project_a, tmp_path):
        repo, commit, _ = _linked(project_a, tmp_path, "a")
        for delivery in ("one", "two", None):
            services.push_handle(
                push=services.Push(
                    project_id=project_a.id,
                    source="webhook",
                    branch="main",
                    commit=commit,
                    delivery_id=delivery,
                )
            )

        assert Run.objects.count() == 1

    def test_team_b_using_a_s_delivery_id_is_not_handled_already(
        self, project_a, project_b, tmp_path, deliver
    ):
        repo_a, commit_a, secret_a = _linked(project_a, tmp_path, "a")
        repo_b, commit_b, secret_b = _linked(project_b, tmp_path, "b")
        a_id = str(uuid.uuid4())
        deliver(project_a, secret_a, json.dumps(push_payload(repo_a, commit_a)).encode(), a_id)

        answer = deliver(
            project_b, secret_b, json.dumps(push_payload(repo_b, commit_b)).encode(), a_id
        )

        assert answer.status_code == 202, answer.json()
        assert "trigger" not in answer.json()
        assert Run.objects.filter(workflow__project=project_b).count() == 1
        assert PushTrigger.objects.filter(delivery_id=a_id).count() == 2


class CountingBody:
    """A request body of `size` bytes that counts how much of it was read."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.read_bytes = 0

    def read(self, n: int = -1) -> bytes:
        left = self.size - self.read_bytes
        n = left if n is None or n < 0 else min(n, left)
        self.read_bytes += n
        return b"x" * n

    def readline(self, *args) -> bytes:
        return self.read(*args)


def _wsgi_post(handle: str, body: CountingBody):
    request = RequestFactory().generic(
        "POST",
        f"/hooks/github/{handle}",
        content_type="application/json",
        CONTENT_LENGTH=str(body.size),
        **{"wsgi.input": body},
    )
    return views.github_webhook(request, handle)


@pytest.mark.django_db
class TestOversizeBodiesOverWsgi:
    def test_an_unknown_project_with_a_huge_body_is_a_404_before_reading(self):
        body = CountingBody(LIMIT * 4)

        answer = _wsgi_post("no-such-project", body)

        assert answer.status_code == 404
        assert body.read_bytes == 0

    def test_a_declared_size_over_the_limit_is_a_413_before_reading(self, project_a, tmp_path):
        _linked(project_a, tmp_path, "a")
        body = CountingBody(LIMIT + 1)

        answer = _wsgi_post(project_a.handle, body)

        assert answer.status_code == 413
        assert json.loads(answer.content)["detail"].startswith("the delivery is larger than")
        assert body.read_bytes == 0


class Client:
    """An ASGI client side: sends the body in 1 MiB chunks and records what came back."""

    CHUNK = 1024 * 1024

    def __init__(self, size: int) -> None:
        self.size = size
        self.chunks_read = 0
        self.sent: list[dict] = []

    async def receive(self) -> dict:
        start = self.chunks_read * self.CHUNK
        self.chunks_read += 1
        part = b"x" * max(min(self.CHUNK, self.size - start), 0)
        return {"type": "http.request", "body": part, "more_body": start + len(part) < self.size}

    async def send(self, message: dict) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return self.sent[0]["status"]


class Inner:
    """The Django application behind the gate: records the body it was handed."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope, receive, send) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


def _through_gate(handle: str, client: Client, *, declare: bool = True) -> Inner:
    from triggers.asgi import WebhookBodyGate

    inner = Inner()
    headers = [(b"content-type", b"application/json")]
    if declare:
        headers.append((b"content-length", str(client.size).encode()))
    scope = {
        "type": "http",
        "method": "POST",
        "path": f"/hooks/github/{handle}",
        "headers": headers,
    }
    asyncio.run(WebhookBodyGate(inner)(scope, client.receive, client.send))
    return inner


@pytest.mark.django_db(transaction=True)
class TestOversizeBodiesBehindDaphne:
    """Django's ASGI handler reads the whole body before a view runs: the gate comes first."""

    @pytest.fixture(autouse=True)
    def _gate_thread_disconnects(self):
        """The gate reads the database in asgiref's long-lived sync thread, whose connection
        Django keeps (CONN_MAX_AGE): closed after each test, else it outlives the suite and
        PostgreSQL refuses to drop the test database."""
        yield
        asyncio.run(database_sync_to_async(connections.close_all)())

    def test_an_unknown_project_with_a_huge_body_is_a_404_before_reading(self):
        client = Client(LIMIT * 4)

        inner = _through_gate("no-such-project", client)

        assert client.status == 404
        assert client.chunks_read == 0
        assert inner.bodies == []

    def test_a_declared_size_over_the_limit_is_a_413_before_reading(self, project_a, tmp_path):
        _linked(project_a, tmp_path, "a")
        client = Client(LIMIT + 1)

        inner = _through_gate(project_a.handle, client)

        assert client.status == 413
        assert client.chunks_read == 0
        assert inner.bodies == []

    def test_an_undeclared_size_is_read_only_up_to_the_limit(self, project_a, tmp_path):
        _linked(project_a, tmp_path, "a")
        client = Client(LIMIT * 4)

        inner = _through_gate(project_a.handle, client, declare=False)

        assert client.status == 413
        assert client.chunks_read * Client.CHUNK <= LIMIT + Client.CHUNK
        assert inner.bodies == []

    def test_a_delivery_within_the_limit_reaches_django_whole(self, project_a, tmp_path):
        _linked(project_a, tmp_path, "a")
        client = Client(3 * Client.CHUNK + 5)

        inner = _through_gate(project_a.handle, client)

        assert client.status == 202
        assert inner.bodies == [b"x" * (3 * Client.CHUNK + 5)]

    def test_daphne_s_application_has_the_gate_in_front(self):
        from channels.testing import HttpCommunicator

        from gradient.asgi import application

        communicator = HttpCommunicator(
            application,
            "POST",
            "/hooks/github/no-such-project",
            body=b"x" * 1024,
            headers=[(b"host", b"127.0.0.1"), (b"content-length", str(LIMIT * 4).encode())],
        )
        answer = asyncio.run(communicator.get_response())

        assert answer["status"] == 404
        assert "no project with a linked repository" in json.loads(answer["body"])["detail"]

    def test_other_paths_pass_untouched(self):
        from triggers.asgi import WebhookBodyGate

        inner = Inner()
        client = Client(10)
        scope = {"type": "http", "method": "POST", "path": "/api/v1/x", "headers": []}

        asyncio.run(WebhookBodyGate(inner)(scope, client.receive, client.send))

        assert inner.bodies == [b"x" * 10]


def test_the_limit_is_github_s():
    assert services.WEBHOOK_MAX_BYTES == LIMIT
