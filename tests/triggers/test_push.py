"""Pushes to a linked repository start runs: GitHub's webhook and poll mode, with real git.

Every test has its own bare repository in tmp_path (the clone URL is its path)
and a work clone that commits and pushes to it. Nothing talks to the internet.
"""

from __future__ import annotations

import json
import threading
import uuid
from urllib.parse import urlencode

import pytest
from django.db import connection

from runs.models import Run, RunPhase
from tests.factories import ProjectFactory
from tests.git_repo import Repo, push_payload, signed
from triggers import services, tasks
from triggers.models import PushTrigger, RepositoryLink
from workflows.models import Workflow

# These tests link and clone repositories on disk.
pytestmark = pytest.mark.usefixtures("local_repositories")


def spec(branches: str, echo: str = "hello", extra: str = "") -> str:
    return (
        "jobs:\n"
        "  main:\n"
        "    uses: container@v1\n"
        "    with:\n"
        "      image: bash:5\n"
        f'      args: ["bash", "-c", "echo {echo}"]\n'
        f"{extra}"
        "on:\n"
        "  github:\n"
        "    branches:\n"
        f"      only: {branches}\n"
    )


TRAIN = spec("main", "train")
REPORT = spec("[main, release]", "report")
DEV_ONLY = spec("dev", "dev")
NO_TRIGGER = "jobs:\n  main:\n    uses: container@v1\n    with:\n      image: bash:5\n"
# Line 6 has an unknown key under `with`; the spec is meant for main.
BROKEN = spec("main").replace("      image: bash:5\n", "      image: bash:5\n      imag: x\n")
NEEDS_SECRET = spec("main", extra="    env:\n      TOKEN: secret:not-set\n")


@pytest.fixture(autouse=True)
def _private_git_dir(settings, tmp_path):
    """Each test gets its own mirrors: project ids repeat between tests on SQLite."""
    settings.DATA_DIR = tmp_path / "data"


@pytest.fixture(autouse=True)
def started(monkeypatch) -> list[int]:
    """Runs are only created (PENDING); ids of those queued to start."""
    queued: list[int] = []
    monkeypatch.setattr("runs.queue.run_start", queued.append)
    return queued


@pytest.fixture(autouse=True)
def queued_pushes(monkeypatch) -> list[dict]:
    """Pushes the webhook queued; each handled at once by the task function, as a worker would."""
    seen: list[dict] = []

    def handle(push: services.Push) -> None:
        seen.append(push.as_dict())
        tasks.push_handle(push.as_dict())

    monkeypatch.setattr("triggers.services._enqueue_push", handle)
    return seen


@pytest.fixture
def repo(tmp_path) -> Repo:
    return Repo(tmp_path / "repo")


@pytest.fixture(autouse=True)
def _local_cluster(cluster):
    """Pushes submit runs, which go to the team's local cluster."""


@pytest.fixture
def linked(project, repo) -> tuple[RepositoryLink, str]:
    """The project linked to the repository, and its generated webhook secret."""
    return services.repository_link(project=project, clone_url=repo.url)


@pytest.fixture
def deliver(client, linked, django_capture_on_commit_callbacks):
    """POST a delivery to the project's hook, signed with its secret unless told otherwise."""

    def post(payload, *, event="push", delivery=None, signature="sign", content_type=None):
        link, secret = linked
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery or str(uuid.uuid4())}
        if signature == "sign":
            signature = signed(secret, body)
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                f"/hooks/github/{link.project.handle}",
                data=body,
                content_type=content_type or "application/json",
                headers=headers,
            )

    return post


def nothing_happened() -> bool:
    return not (Run.objects.exists() or PushTrigger.objects.exists() or Workflow.objects.exists())


@pytest.mark.django_db
class TestWebhookPush:
    def test_a_signed_push_starts_a_run_of_each_spec_for_the_branch(self, repo, deliver, linked):
        commit = repo.commit(
            {
                ".gradient/workflows/train.yaml": TRAIN,
                ".gradient/workflows/report.yml": REPORT,
                ".gradient/workflows/dev.yaml": DEV_ONLY,
                ".gradient/workflows/plain.yaml": NO_TRIGGER,
                ".gradient/workflows/README.md": "not a spec",
                ".gradient/workflows/nested/deep.yaml": TRAIN,
                "train.yaml": TRAIN,
            },
            message="Train on the new data\n\nLonger body.",
        )

        answer = deliver(
            push_payload(repo, commit, message="Train on the new data"), delivery="d-1"
        )

        assert answer.status_code == 202, answer.json()
        runs = {run.workflow.name: run for run in Run.objects.select_related("workflow", "spec")}
        assert sorted(runs) == ["report", "train"]
        assert runs["train"].spec.text == TRAIN
        assert runs["report"].spec.text == REPORT
        assert {run.phase for run in runs.values()} == {RunPhase.PENDING}
        assert {run.reason for run in runs.values()} == {Run.Reason.TRIGGER}
        assert runs["train"].trigger == {
            "source": "webhook",
            "repository": repo.url,
            "branch": "main",
            "commit": commit,
            "message": "Train on the new data",
            "author": "Ada Lovelace",
            "deliveryId": "d-1",
            "path": ".gradient/workflows/train.yaml",
        }
        trigger = PushTrigger.objects.get()
        assert (trigger.outcome, trigger.delivery_id, trigger.source) == (
            "started",
            "d-1",
            "webhook",
        )
        assert (trigger.branch, trigger.commit, trigger.author) == ("main", commit, "Ada Lovelace")
        assert set(trigger.runs.all()) == set(runs.values())
        assert trigger.errors == []
        linked[0].refresh_from_db()
        assert linked[0].last_commit == commit
        assert linked[0].last_seen is not None

    def test_the_run_gets_the_spec_as_it_was_at_the_pushed_commit(self, repo, deliver):
        first = repo.commit({".gradient/workflows/train.yaml": TRAIN})
        repo.commit({".gradient/workflows/train.yaml": spec("main", "second")})

        deliver(push_payload(repo, first))

        assert Run.objects.get().spec.text == TRAIN

    def test_a_second_push_runs_the_same_workflow_again(self, repo, deliver):
        first = repo.commit({".gradient/workflows/train.yaml": TRAIN})
        later = repo.commit({".gradient/workflows/train.yaml": spec("main", "again")})
        deliver(push_payload(repo, first))
        deliver(push_payload(repo, later))

        workflow = Workflow.objects.get()
        assert sorted(workflow.runs.values_list("number", flat=True)) == [1, 2]

    def test_a_push_to_a_branch_no_spec_names_leaves_a_no_match_record(self, repo, deliver):
        repo.commit({".gradient/workflows/train.yaml": TRAIN})
        commit = repo.commit({"notes.txt": "x"}, branch="feature/x")

        answer = deliver(push_payload(repo, commit, branch="feature/x"))

        assert answer.status_code == 202
        assert not Run.objects.exists()
        trigger = PushTrigger.objects.get()
        assert (trigger.outcome, trigger.branch, trigger.commit) == (
            "no-match",
            "feature/x",
            commit,
        )

    def test_a_push_to_another_branch_starts_the_specs_for_that_branch(self, repo, deliver):
        repo.commit({".gradient/workflows/train.yaml": TRAIN})
        commit = repo.commit({".gradient/workflows/dev.yaml": DEV_ONLY}, branch="dev")

        deliver(push_payload(repo, commit, branch="dev"))

        assert list(Run.objects.values_list("workflow__name", "trigger__branch")) == [
            ("dev", "dev")
        ]

    def test_without_head_commit_the_message_and_author_come_from_git(self, repo, deliver):
        commit = repo.commit({".gradient/workflows/train.yaml": TRAIN}, message="From git")
        payload = push_payload(repo, commit)
        payload["head_commit"] = None
        del payload["pusher"]

        deliver(payload)

        trigger = Run.objects.get().trigger
        assert (trigger["message"], trigger["author"]) == ("From git", "Ada Lovelace")

    def test_a_form_encoded_delivery_works_too(self, repo, deliver):
        commit = repo.commit({".gradient/workflows/train.yaml": TRAIN})
        body = urlencode({"payload": json.dumps(push_payload(repo, commit))}).encode()

        answer = deliver(body, content_type="application/x-www-form-urlencoded")

        assert answer.status_code == 202
        assert Run.objects.count() == 1


@pytest.mark.django_db
class TestInvalidSpecs:
    def test_an_invalid_spec_starts_nothing_and_others_still_start(self, repo, deliver):
        commit = repo.commit(
            {".gradient/workflows/broken.yaml": BROKEN, ".gradient/workflows/train.yaml": TRAIN}
        )

        deliver(push_payload(repo, commit))

        assert list(Run.objects.values_list("workflow__name", flat=True)) == ["train"]
        assert not Workflow.objects.filter(name="broken").exists()
        trigger = PushTrigger.objects.get()
        assert trigger.outcome == "invalid"
        assert [run.workflow.name for run in trigger.runs.all()] == ["train"]
        (problem,) = trigger.errors
        assert problem["file"] == ".gradient/workflows/broken.yaml"
        assert problem["workflow"] == "broken"
        (error,) = [e for e in problem["errors"] if e["path"] == "jobs.main.with.imag"]
        assert error["line"] == 6
        assert "unknown key" in error["message"]

    def test_a_spec_that_fails_at_submission_is_invalid_with_its_path(self, repo, deliver):
        commit = repo.commit({".gradient/workflows/needs.yaml": NEEDS_SECRET})

        deliver(push_payload(repo, commit))

        assert not Run.objects.exists()
        assert not Workflow.objects.exists()
        (problem,) = PushTrigger.objects.get(outcome="invalid").errors
        (error,) = problem["errors"]
        assert error["path"] == "jobs.main.env.TOKEN"
        assert error["line"] == 8
        assert 'secret "not-set"' in error["message"]

    def test_broken_yaml_is_reported_since_its_branches_cannot_be_told(self, repo, deliver):
        commit = repo.commit({".gradient/workflows/bad.yaml": "jobs: [unclosed\n"})

        deliver(push_payload(repo, commit))

        (problem,) = PushTrigger.objects.get(outcome="invalid").errors
        assert problem["file"] == ".gradient/workflows/bad.yaml"
        assert problem["errors"][0]["line"] >= 1

    def test_an_invalid_spec_for_another_branch_does_not_concern_this_push(self, repo, deliver):
        broken_for_dev = BROKEN.replace("only: main", "only: dev")
        commit = repo.commit(
            {".gradient/workflows/x.yaml": broken_for_dev, ".gradient/workflows/t.yaml": TRAIN}
        )

        deliver(push_payload(repo, commit))

        assert PushTrigger.objects.get().outcome == "started"

    def test_two_files_for_one_workflow_run_it_once(self, repo, deliver):
        commit = repo.commit(
            {".gradient/workflows/train.yaml": TRAIN, ".gradient/workflows/train.yml": TRAIN}
        )

        deliver(push_payload(repo, commit))

        assert Run.objects.count() == 1
        (problem,) = PushTrigger.objects.get(outcome="invalid").errors
        assert problem["file"] == ".gradient/workflows/train.yml"
        assert "rename one" in problem["message"]

    def test_a_spec_that_is_not_utf8_is_reported(self, repo, deliver):
        (repo.work / ".gradient/workflows").mkdir(parents=True)
        (repo.work / ".gradient/workflows/latin.yaml").write_bytes(b"jobs: {}\n# caf\xe9\n")
        commit = repo.commit({})

        deliver(push_payload(repo, commit))

        (problem,) = PushTrigger.objects.get(outcome="invalid").errors
        assert "not UTF-8" in problem["message"]


@pytest.mark.django_db
class TestSpecFiles:
    def test_a_symbolic_link_is_not_read(self, repo, deliver):
        folder = repo.work / ".gradient/workflows"
        folder.mkdir(parents=True)
        (folder / "linked.yaml").symlink_to("/etc/passwd")
        commit = repo.commit({".gradient/workflows/train.yaml": TRAIN})

        deliver(push_payload(repo, commit))

        (problem,) = PushTrigger.objects.get(outcome="invalid").errors
        assert problem["file"] == ".gradient/workflows/linked.yaml"
        assert "regular file" in problem["message"]
        assert Run.objects.count() == 1

    def test_a_spec_over_the_size_limit_is_not_read(self, repo, deliver, settings):
        settings.SPEC_MAX_BYTES = len(TRAIN) - 1
        commit = repo.commit({".gradient/workflows/train.yaml": TRAIN})

        deliver(push_payload(repo, commit))

        (problem,) = PushTrigger.objects.get(outcome="invalid").errors
        assert "larger than" in problem["message"]
        assert not Run.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_one_delivery_handled_by_two_workers_at_once_starts_its_runs_once(repo, linked):
    commit = repo.commit({".gradient/workflows/train.yaml": TRAIN})
    push = services.Push(
        project_id=linked[0].project_id,
        source="webhook",
        branch="main",
        commit=commit,
        delivery_id="both",
    )
    barrier = threading.Barrier(2)
    outcomes = []

    def worker() -> None:
        try:
            barrier.wait()
            outcomes.append(tasks.push_handle(push.as_dict()))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcome is None for outcome in outcomes) == [False, True]
    assert Run.objects.count() == 1
    assert PushTrigger.objects.get().outcome == "started"


@pytest.mark.django_db
class TestDeliveries:
    def test_a_wrong_signature_is_refused_and_nothing_happens(self, repo, deliver):
        commit = repo.commit({".gradient/workflows/train.yaml": TRAIN})
        payload = push_payload(repo, commit)

        answer = deliver(payload, signature=signed("not-the-secret", json.dumps(payload).encode()))

        assert answer.status_code == 401
        assert nothing_happened()

    def test_a_signature_of_other_bytes_is_refused(self, repo, deliver, linked):
        commit = repo.commit({".gradient/workflows/train.yaml": TRAIN})
        body = json.dumps(push_payload(repo, commit)).encode()

        answer = deliver(body, signature=signed(linked[1], body + b" "))

        assert answer.status_code == 401
        assert nothing_happened()

    def test_a_missing_signature_is_refused_and_nothing_happens(self, repo, deliver, queued_pushes):
        commit = repo.commit({".gradient/workflows/train.yaml": TRAIN})

        answer = deliver(push_payload(repo, commit), signature=None)

        assert answer.status_code == 401
        assert nothing_happened()
        assert queued_pushes == []

    def test_an_unknown_project_is_a_404(self, client, linked):
        body = b"{}"
        headers = {"X-GitHub-Event": "ping", "X-Hub-Signature-256": signed(linked[1], body)}

        answer = client.post(
            "/hooks/github/no-such-project",
            data=body,
            content_type="application/json",
            headers=headers,
        )

        assert answer.status_code == 404
        assert "no project with a linked repository" in answer.json()["detail"]

    def test_a_redelivered_push_starts_nothing_twice(self, repo, deliver):
        commit = repo.commit({".gradient/workflows/train.yaml": TRAIN})
        payload = push_payload(repo, commit)

        first = deliver(payload, delivery="same-id")
        again = deliver(payload, delivery="same-id")

        assert (first.status_code, again.status_code) == (202, 200)
        assert again.json()["outcome"] == "started"
        assert Run.objects.count() == 1
        assert PushTrigger.objects.count() == 1

    def test_the_task_received_twice_starts_nothing_twice(self, repo, deliver, queued_pushes):
        commit = repo.commit({".gradient/workflows/train.yaml": TRAIN})
        deliver(push_payload(repo, commit))

        assert tasks.push_handle(queued_pushes[0]) is None

        assert Run.objects.count() == 1

    def test_ping_answers(self, deliver):
        answer = deliver({"zen": "Keep it logically awesome.", "hook_id": 1}, event="ping")

        assert answer.status_code == 200
        assert nothing_happened()

    def test_other_events_are_accepted_and_ignored(self, deliver, queued_pushes):
        answer = deliver({"action": "opened"}, event="issues")

        assert answer.status_code == 202
        assert nothing_happened()
        assert queued_pushes == []

    def test_a_tag_push_is_ignored(self, repo, deliver, queued_pushes):
        commit = repo.commit({".gradient/workflows/train.yaml": TRAIN})
        repo.tag("v1")
        payload = {**push_payload(repo, commit), "ref": "refs/tags/v1"}

        answer = deliver(payload)

        assert answer.status_code == 202
        assert "tag" in answer.json()["detail"]
        assert nothing_happened()
        assert queued_pushes == []

    def test_a_branch_deletion_is_ignored(self, repo, deliver, queued_pushes):
        payload = {**push_payload(repo, "0" * 40), "deleted": True, "head_commit": None}

        answer = deliver(payload)

        assert answer.status_code == 202
        assert "deleted" in answer.json()["detail"]
        assert nothing_happened()

    @pytest.mark.parametrize(
        "body",
        [
            b"{not json",
            b"\xff\xfe",
            b'{"ref": NaN}',
            b"[" * 100_000,
        ],
    )
    def test_malformed_json_is_a_400(self, deliver, body):
        answer = deliver(body)

        assert answer.status_code == 400
        assert nothing_happened()

    @pytest.mark.parametrize(
        "payload",
        [
            [],
            {"ref": "refs/heads/main"},
            {"ref": "refs/heads/main", "after": "not-a-sha"},
            {"ref": "refs/heads/..", "after": "a" * 40},
        ],
    )
    def test_a_push_that_is_not_shaped_like_one_is_a_400(self, deliver, payload):
        answer = deliver(payload)

        assert answer.status_code == 400
        assert nothing_happened()

    def test_only_post_is_allowed(self, client, linked):
        assert client.get(f"/hooks/github/{linked[0].project.handle}").status_code == 405


@pytest.mark.django_db
class TestFailures:
    def test_a_commit_that_is_not_in_the_repository_leaves_a_failed_record(self, repo, deliver):
        repo.commit({".gradient/workflows/train.yaml": TRAIN})

        deliver(push_payload(repo, "ab" * 20), delivery="lost")

        trigger = PushTrigger.objects.get()
        assert trigger.outcome == "failed"
        assert "ab" * 20 in trigger.errors[0]["message"]
        assert not Run.objects.exists()

    def test_a_failed_delivery_can_be_redelivered(self, repo, deliver, linked):
        commit = repo.commit({".gradient/workflows/train.yaml": TRAIN})
        RepositoryLink.objects.filter(pk=linked[0].pk).update(clone_url="/nowhere/repo.git")
        deliver(push_payload(repo, commit), delivery="retry-me")
        assert PushTrigger.objects.get().outcome == "failed"

        RepositoryLink.objects.filter(pk=linked[0].pk).update(clone_url=repo.url)
        answer = deliver(push_payload(repo, commit), delivery="retry-me")

        assert answer.status_code == 202
        trigger = PushTrigger.objects.get()
        assert (trigger.outcome, trigger.errors) == ("started", [])
        assert Run.objects.count() == 1

    def test_a_local_link_made_before_local_repositories_were_turned_off_cannot_fetch(
        self, repo, deliver, settings
    ):
        commit = repo.commit({".gradient/workflows/train.yaml": TRAIN})
        settings.ALLOW_LOCAL_REPOSITORIES = False

        deliver(push_payload(repo, commit), delivery="after-the-switch")

        trigger = PushTrigger.objects.get()
        assert trigger.outcome == "failed"
        assert "transport 'file' not allowed" in trigger.errors[0]["message"]
        assert not Run.objects.exists()

    def test_a_push_queued_before_the_project_was_unlinked_does_nothing(self, repo, project):
        commit = repo.commit({".gradient/workflows/train.yaml": TRAIN})
        push = services.Push(project_id=project.id, source="webhook", branch="main", commit=commit)

        assert tasks.push_handle(push.as_dict()) is None
        assert nothing_happened()


@pytest.mark.django_db
class TestPoll:
    @pytest.fixture
    def polled(self, project, repo) -> RepositoryLink:
        link, _ = services.repository_link(project=project, clone_url=repo.url, poll=True)
        return link

    def test_a_new_commit_is_picked_up_like_a_push(self, repo, polled):
        repo.commit({".gradient/workflows/train.yaml": TRAIN})
        assert tasks.repository_poll(polled.id) == []  # the first poll records the head
        assert not Run.objects.exists()

        commit = repo.commit({".gradient/workflows/train.yaml": spec("main", "new")}, "New data")
        (trigger_id,) = tasks.repository_poll(polled.id)

        run = Run.objects.select_related("spec").get()
        assert run.spec.text == spec("main", "new")
        assert run.trigger == {
            "source": "poll",
            "repository": repo.url,
            "branch": "main",
            "commit": commit,
            "message": "New data",
            "author": "Ada Lovelace",
            "deliveryId": None,
            "path": ".gradient/workflows/train.yaml",
        }
        trigger = PushTrigger.objects.get(pk=trigger_id)
        assert (trigger.source, trigger.delivery_id, trigger.outcome) == ("poll", None, "started")
        polled.refresh_from_db()
        assert polled.last_commit == commit

    def test_a_second_poll_without_a_new_commit_starts_nothing(self, repo, polled):
        repo.commit({"a.txt": "1"})
        tasks.repository_poll(polled.id)
        repo.commit({".gradient/workflows/train.yaml": TRAIN})
        tasks.repository_poll(polled.id)

        assert tasks.repository_poll(polled.id) == []

        assert Run.objects.count() == 1
        assert PushTrigger.objects.count() == 1

    def test_a_commit_seen_by_the_webhook_is_not_run_again_by_a_poll(self, repo, polled):
        repo.commit({"a.txt": "1"})
        tasks.repository_poll(polled.id)
        commit = repo.commit({".gradient/workflows/train.yaml": TRAIN})
        services.push_handle(
            push=services.Push(
                project_id=polled.project_id, source="webhook", branch="main", commit=commit
            )
        )

        tasks.repository_poll(polled.id)

        assert Run.objects.count() == 1

    def test_a_commit_run_by_a_poll_is_not_run_again_by_a_late_webhook(self, repo, polled):
        repo.commit({"a.txt": "1"})
        tasks.repository_poll(polled.id)
        commit = repo.commit({".gradient/workflows/train.yaml": TRAIN})
        tasks.repository_poll(polled.id)

        services.push_handle(
            push=services.Push(
                project_id=polled.project_id,
                source="webhook",
                branch="main",
                commit=commit,
                delivery_id="late",
            )
        )

        assert Run.objects.count() == 1
        assert not PushTrigger.objects.filter(delivery_id="late").exists()

    def test_a_poll_that_cannot_fetch_records_one_failure_and_retries(self, repo, polled):
        repo.commit({"a.txt": "1"})
        tasks.repository_poll(polled.id)
        repo.commit({".gradient/workflows/train.yaml": TRAIN})
        for _ in range(2):
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(services, "mirror_fetch", _unreachable)
                tasks.repository_poll(polled.id)
        assert PushTrigger.objects.get().outcome == "failed"

        tasks.repository_poll(polled.id)

        assert PushTrigger.objects.get().outcome == "started"
        assert Run.objects.count() == 1

    def test_every_branch_a_spec_names_is_watched(self, repo, polled):
        repo.commit({".gradient/workflows/report.yaml": REPORT})  # for main and release
        repo.commit({"a.txt": "1"}, branch="release")
        repo.commit({"b.txt": "1"}, branch="scratch")
        assert tasks.repository_poll(polled.id) == []  # a branch first seen is only recorded

        release = repo.commit({"a.txt": "2"}, "Release fix", branch="release")
        repo.commit({"b.txt": "2"}, branch="scratch")  # no spec names it
        (trigger_id,) = tasks.repository_poll(polled.id)

        run = Run.objects.get()
        assert (run.trigger["branch"], run.trigger["commit"]) == ("release", release)
        assert run.trigger["message"] == "Release fix"
        assert PushTrigger.objects.get().pk == trigger_id
        assert tasks.repository_poll(polled.id) == []
        assert Run.objects.count() == 1

    def test_a_release_commit_seen_by_the_webhook_is_not_run_again_by_a_poll(self, repo, polled):
        repo.commit({".gradient/workflows/report.yaml": REPORT})
        repo.commit({"a.txt": "1"}, branch="release")
        tasks.repository_poll(polled.id)
        commit = repo.commit({"a.txt": "2"}, branch="release")
        services.push_handle(
            push=services.Push(
                project_id=polled.project_id, source="webhook", branch="release", commit=commit
            )
        )

        assert tasks.repository_poll(polled.id) == []
        assert Run.objects.count() == 1

    def test_an_unreachable_remote_starts_and_records_nothing(self, polled):
        RepositoryLink.objects.filter(pk=polled.pk).update(clone_url="/nowhere/repo.git")

        assert tasks.repository_poll(polled.id) == []
        assert nothing_happened()

    def test_links_without_poll_are_not_polled(self, repo, linked):
        repo.commit({".gradient/workflows/train.yaml": TRAIN})

        assert tasks.repository_poll(linked[0].id) == []
        linked[0].refresh_from_db()
        assert linked[0].last_commit == ""

    def test_the_periodic_task_queues_one_poll_per_polled_link(self, monkeypatch, polled, team):
        services.repository_link(project=ProjectFactory(team=team), clone_url="/srv/other.git")
        queued = []
        monkeypatch.setattr(tasks.repository_poll, "delay", queued.append)

        assert tasks.repositories_poll() == 1

        assert queued == [polled.id]


def _unreachable(**kwargs):
    raise services.GitError("git fetch failed: the network is down")
