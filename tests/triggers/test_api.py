"""/api/v1/projects/<handle>/repository and /triggers: members see, owners change, others 404."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from tests.factories import RunFactory, WorkflowFactory
from triggers import services
from triggers.models import PushTrigger, RepositoryLink
from workflows.secret_values import decrypt_value
from workflows.services import secret_set

# These tests link and clone repositories on disk.
pytestmark = pytest.mark.usefixtures("local_repositories")

TOKEN = "ghp_Zebra7731doNotLeakThisToken"


@pytest.fixture
def url(project) -> str:
    return f"/api/v1/projects/{project.handle}/repository"


@pytest.fixture
def linked(project) -> RepositoryLink:
    link, _ = services.repository_link(project=project, clone_url="https://git.example/o/r.git")
    return link


@pytest.mark.django_db
class TestAccess:
    @pytest.mark.parametrize(
        ("who", "expected"), [("owner", 200), ("member", 200), ("outsider", 404), (None, 401)]
    )
    def test_show(self, as_user, url, linked, who, expected):
        assert as_user(who).get(url).status_code == expected

    @pytest.mark.parametrize(
        ("who", "expected"), [("owner", 201), ("member", 403), ("outsider", 404), (None, 401)]
    )
    def test_link(self, as_user, url, who, expected):
        answer = as_user(who).put(url, {"cloneUrl": "https://git.example/o/r.git"}, format="json")

        assert answer.status_code == expected
        assert RepositoryLink.objects.exists() == (expected == 201)

    @pytest.mark.parametrize(
        ("who", "expected"), [("owner", 204), ("member", 403), ("outsider", 404), (None, 401)]
    )
    def test_unlink(self, as_user, url, linked, who, expected):
        assert as_user(who).delete(url).status_code == expected
        assert RepositoryLink.objects.exists() == (expected != 204)

    @pytest.mark.parametrize(
        ("who", "expected"), [("owner", 200), ("member", 200), ("outsider", 404), (None, 401)]
    )
    def test_triggers(self, as_user, project, who, expected):
        answer = as_user(who).get(f"/api/v1/projects/{project.handle}/triggers")

        assert answer.status_code == expected

    def test_an_unlinked_project_has_no_repository(self, as_user, url):
        answer = as_user("member").get(url)

        assert answer.status_code == 404
        assert "no repository linked" in answer.json()["detail"]

    def test_the_project_can_be_named_by_id(self, as_user, project, linked):
        answer = as_user("member").get(f"/api/v1/projects/{project.id}/repository")

        assert answer.json()["cloneUrl"] == linked.clone_url


@pytest.mark.django_db
class TestLink:
    def test_the_webhook_secret_is_shown_once(self, as_user, url, project):
        client = as_user("owner")

        created = client.put(url, {"cloneUrl": "git@github.com:octo/demo.git"}, format="json")
        shown = client.get(url).json()
        changed = client.put(
            url, {"cloneUrl": "git@github.com:octo/demo.git", "poll": True}, format="json"
        )

        secret = created.json()["webhookSecret"]
        assert len(secret) >= 32
        assert decrypt_value(RepositoryLink.objects.get().webhook_secret_ciphertext) == secret
        assert "webhookSecret" not in shown and "webhookSecret" not in changed.json()
        assert secret not in str(shown) + changed.content.decode()
        assert changed.status_code == 200
        assert shown == {
            "projectId": project.id,
            "cloneUrl": "git@github.com:octo/demo.git",
            "defaultBranch": "main",
            "token": None,
            "poll": False,
            "webhookUrl": f"http://testserver/hooks/github/{project.handle}",
            "webhookSecretSet": True,
            "lastCommit": "",
            "lastSeen": None,
            "created": shown["created"],
        }

    def test_an_owner_sets_the_webhook_secret(self, as_user, url, project):
        body = {"cloneUrl": "/srv/git/demo.git", "webhookSecret": "my-own-webhook-secret"}

        answer = as_user("owner").put(url, body, format="json")

        assert "webhookSecret" not in answer.json()
        assert "my-own-webhook-secret" not in answer.content.decode()
        link = RepositoryLink.objects.get()
        payload = b'{"zen": "x"}'
        signature = (
            "sha256=" + hmac.new(b"my-own-webhook-secret", payload, hashlib.sha256).hexdigest()
        )
        assert services.webhook_signature_valid(link=link, body=payload, signature=signature)

    def test_a_token_is_named_as_a_secret_and_never_shown(self, as_user, url, team, project):
        secret_set(team=team, scope="project", project=project, name="gh-token", value=TOKEN)
        body = {"cloneUrl": "https://github.com/octo/demo.git", "token": "secret:gh-token"}

        answer = as_user("owner").put(url, body, format="json")

        assert answer.json()["token"] == "secret:gh-token"
        assert RepositoryLink.objects.get().token_secret == "gh-token"
        assert TOKEN not in answer.content.decode()

    def test_a_team_secret_can_hold_the_token(self, as_user, url, team):
        secret_set(team=team, scope="team", name="org-token", value=TOKEN)
        body = {"cloneUrl": "https://github.com/octo/demo.git", "token": "secret:org-token"}

        assert as_user("owner").put(url, body, format="json").status_code == 201

    def test_the_token_itself_is_refused_without_being_echoed(self, as_user, url):
        body = {"cloneUrl": "https://github.com/octo/demo.git", "token": TOKEN}

        answer = as_user("owner").put(url, body, format="json")

        assert answer.status_code == 400
        assert "secret:NAME" in answer.json()["detail"]
        assert TOKEN not in answer.content.decode()
        assert not RepositoryLink.objects.exists()

    def test_a_token_secret_that_is_not_set_is_refused(self, as_user, url):
        body = {"cloneUrl": "https://github.com/octo/demo.git", "token": "secret:nope"}

        answer = as_user("owner").put(url, body, format="json")

        assert answer.status_code == 400
        assert 'no secret "nope"' in answer.json()["detail"]

    @pytest.mark.parametrize(
        ("clone_url", "says"),
        [
            (f"https://{TOKEN}@github.com/octo/demo.git", "credentials"),
            (f"https://x-access-token:{TOKEN}@github.com/octo/demo.git", "credentials"),
            (f"ssh://git:{TOKEN}@github.com/octo/demo.git", "credentials"),
            ("ext::sh -c touch% /tmp/pwned", "not a clone URL"),
            ("ext::sh", "not a clone URL"),
            ("--upload-pack=touch /tmp/pwned", "not a clone URL"),
            ("ftp://example.com/repo.git", "not supported"),
            ("https:///no-host.git", "no host"),
            ("relative/path.git", "not a clone URL"),
            ("https::github.com/octo/demo.git", "not a clone URL"),
            ("", "blank"),
        ],
    )
    def test_clone_urls_that_are_refused(self, as_user, url, clone_url, says):
        answer = as_user("owner").put(url, {"cloneUrl": clone_url}, format="json")

        assert answer.status_code == 400
        assert says in answer.json()["detail"]
        assert TOKEN not in answer.content.decode()

    @pytest.mark.parametrize(
        "clone_url",
        [
            "https://github.com/octo/demo.git",
            "ssh://git@github.com/octo/demo.git",
            "git@github.com:octo/demo.git",
            "file:///srv/git/demo.git",
            "/srv/git/demo.git",
        ],
    )
    def test_clone_urls_that_are_accepted(self, as_user, url, clone_url):
        answer = as_user("owner").put(url, {"cloneUrl": clone_url}, format="json")

        assert answer.status_code == 201, answer.json()

    @pytest.mark.parametrize("clone_url", ["file:///srv/git/demo.git", "/srv/git/demo.git"])
    def test_local_repositories_are_refused_where_the_server_turns_them_off(
        self, as_user, url, clone_url, settings
    ):
        settings.ALLOW_LOCAL_REPOSITORIES = False

        answer = as_user("owner").put(url, {"cloneUrl": clone_url}, format="json")

        assert answer.status_code == 400
        assert "ALLOW_LOCAL_REPOSITORIES is off" in answer.json()["detail"]
        assert (
            as_user("owner")
            .put(url, {"cloneUrl": "https://github.com/octo/demo.git"}, format="json")
            .status_code
            == 201
        )

    @pytest.mark.parametrize(
        "body",
        [
            {"cloneUrl": "/srv/x.git", "defaultBranch": "bad..branch"},
            {"cloneUrl": "/srv/x.git", "poll": "yes"},
            {"cloneUrl": "/srv/x.git", "webhookSecret": "short"},
            {"cloneUrl": 7},
        ],
    )
    def test_other_bad_fields_are_400s(self, as_user, url, body):
        assert as_user("owner").put(url, body, format="json").status_code == 400

    def test_another_repository_forgets_what_was_seen_of_the_old_one(
        self, as_user, url, linked, settings, tmp_path, django_capture_on_commit_callbacks
    ):
        settings.DATA_DIR = tmp_path
        mirror = services.mirror_path(linked.project_id)
        mirror.mkdir(parents=True)
        RepositoryLink.objects.filter(pk=linked.pk).update(last_commit="a" * 40)

        with django_capture_on_commit_callbacks(execute=True):
            as_user("owner").put(url, {"cloneUrl": "/srv/other.git"}, format="json")

        assert RepositoryLink.objects.get().last_commit == ""
        assert not mirror.exists()

    def test_unlinking_keeps_the_push_records(self, as_user, url, linked, project):
        PushTrigger.objects.create(
            project=project, source="webhook", branch="main", commit="a" * 40, outcome="no-match"
        )

        assert as_user("owner").delete(url).status_code == 204

        assert PushTrigger.objects.filter(project=project).count() == 1
        assert as_user("owner").delete(url).status_code == 404


@pytest.mark.django_db
class TestTriggers:
    def test_newest_first_with_runs_and_errors(self, as_user, project):
        workflow = WorkflowFactory(project=project, name="train")
        older = PushTrigger.objects.create(
            project=project, source="poll", branch="main", commit="a" * 40, outcome="started"
        )
        older.runs.set([RunFactory(workflow=workflow, number=1)])
        problem = {"file": ".gradient/workflows/x.yaml", "workflow": "x", "message": "m"}
        PushTrigger.objects.create(
            project=project,
            source="webhook",
            delivery_id="d-2",
            branch="main",
            commit="b" * 40,
            commit_message="Fix",
            author="Ada",
            outcome="invalid",
            errors=[{**problem, "errors": [{"path": "jobs", "line": 1, "column": 1}]}],
        )

        results = as_user("member").get(f"/api/v1/projects/{project.handle}/triggers").json()

        newest, oldest = results["results"]
        assert (newest["outcome"], newest["deliveryId"], newest["message"]) == (
            "invalid",
            "d-2",
            "Fix",
        )
        assert newest["errors"][0]["errors"][0]["path"] == "jobs"
        assert oldest["runs"] == [
            {"workflowId": str(workflow.id), "workflow": "train", "number": 1, "phase": "PENDING"}
        ]

    def test_queries_do_not_grow_with_triggers(
        self, as_user, project, owner, django_assert_num_queries
    ):
        workflow = WorkflowFactory(project=project)
        for number in range(1, 6):
            trigger = PushTrigger.objects.create(
                project=project, source="poll", branch="main", commit="a" * 40, outcome="started"
            )
            trigger.runs.set([RunFactory(workflow=workflow, number=number)])
        client = as_user("owner")

        with django_assert_num_queries(4):
            assert client.get(f"/api/v1/projects/{project.handle}/triggers").json()["count"] == 5
