"""An access token reaches git through GIT_ASKPASS only: never a command line, record or answer.

The remote is the test's bare repository served over HTTP on 127.0.0.1 by a
server that demands the token (git's "dumb" HTTP protocol needs no CGI), so
the fetch only works when git got the token from our askpass helper.
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import logging
import subprocess
import threading
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from runs.models import Run
from tests.triggers.test_push import TRAIN, Repo
from triggers import client as git_client
from triggers import services, tasks
from triggers.models import PushTrigger, RepositoryLink
from workflows.services import secret_set

TOKEN = "ghp_Zebra7731doNotLeakThisToken"


class _TokenRequired(http.server.SimpleHTTPRequestHandler):
    """Serves files only to requests carrying the token as GitHub takes it (Basic auth)."""

    expected = "Basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != self.expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="repo"')
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, format: str, *args) -> None:
        pass


@pytest.fixture
def served(tmp_path) -> tuple[Repo, str]:
    """The repository, and its clone URL on a local HTTP server that wants the token."""
    repo = Repo(tmp_path / "served")
    handler = functools.partial(_TokenRequired, directory=str(repo.bare.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield repo, f"http://127.0.0.1:{server.server_address[1]}/{repo.bare.name}"
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _private_git_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"


@pytest.fixture(autouse=True)
def _runs_only_created(monkeypatch):
    monkeypatch.setattr("runs.queue.run_start", lambda run_id: None)


@pytest.fixture
def git_calls(monkeypatch) -> list[tuple[list[str], dict[str, str]]]:
    """Every git command line our code runs, with its environment."""
    calls = []
    original = git_client._execute

    def watched(argv, *, env, timeout):
        calls.append((list(argv), dict(env)))
        return original(argv, env=env, timeout=timeout)

    monkeypatch.setattr(git_client, "_execute", watched)
    return calls


@pytest.fixture(autouse=True)
def _token(team, project, cluster):
    """The project's GitHub token, which pushes read from its secrets."""
    secret_set(team=team, scope="project", project=project, name="gh-token", value=TOKEN)


def _push(project, commit: str) -> PushTrigger | None:
    """Handle a webhook push of `commit` to main, as the task does."""
    push = services.Push(project_id=project.id, source="webhook", branch="main", commit=commit)
    return services.push_handle(push=push)


def _everything_stored() -> str:
    """Every stored record a push leaves, as text."""
    rows = [
        *RepositoryLink.objects.values(),
        *PushTrigger.objects.values(),
        *Run.objects.values("trigger", "message", "engine_state", "inputs"),
    ]
    return json.dumps(rows, default=str)


@pytest.mark.django_db
class TestAccessToken:
    def test_git_gets_the_token_from_askpass_and_nowhere_else(
        self, served, project, owner, git_calls, caplog, django_capture_on_commit_callbacks
    ):
        repo, url = served
        commit = repo.commit({".gradient/workflows/train.yaml": TRAIN})
        link, _ = services.repository_link(project=project, clone_url=url, token="secret:gh-token")
        caplog.set_level(logging.DEBUG)

        trigger = _push(project, commit)

        assert trigger.outcome == "started", trigger.errors
        assert Run.objects.get().spec.text == TRAIN
        assert git_calls, "git was not run"
        for argv, env in git_calls:
            assert not any(TOKEN in part for part in argv)
            assert not any(TOKEN in value for value in env.values())
            assert env["GIT_TERMINAL_PROMPT"] == "0"
        helpers = {Path(env["GIT_ASKPASS"]) for _, env in git_calls if "GIT_ASKPASS" in env}
        assert helpers and not any(helper.parent.exists() for helper in helpers)
        assert TOKEN not in _everything_stored()
        assert TOKEN not in (services.mirror_path(project.id) / "config").read_text()
        assert TOKEN not in caplog.text
        api = APIClient()
        api.force_authenticate(owner)
        for path in ("repository", "triggers"):
            assert (
                TOKEN not in api.get(f"/api/v1/projects/{project.handle}/{path}").content.decode()
            )

    def test_without_the_token_the_fetch_fails_with_a_record_and_no_prompt(self, served, project):
        repo, url = served
        commit = repo.commit({".gradient/workflows/train.yaml": TRAIN})
        services.repository_link(project=project, clone_url=url)

        trigger = _push(project, commit)

        assert trigger.outcome == "failed"
        assert "could not read Username" in trigger.errors[0]["message"]

    def test_a_wrong_token_fails_without_showing_it(self, served, project, team):
        repo, url = served
        commit = repo.commit({".gradient/workflows/train.yaml": TRAIN})
        services.repository_link(project=project, clone_url=url, token="secret:gh-token")
        wrong = "ghp_wrongWrongWrong"
        secret_set(team=team, scope="project", project=project, name="gh-token", value=wrong)

        trigger = _push(project, commit)

        assert trigger.outcome == "failed"
        assert wrong not in _everything_stored()

    def test_poll_uses_the_token_too(self, served, project, git_calls):
        repo, url = served
        repo.commit({"a.txt": "1"})
        link, _ = services.repository_link(
            project=project, clone_url=url, token="secret:gh-token", poll=True
        )
        tasks.repository_poll(link.id)
        repo.commit({".gradient/workflows/train.yaml": TRAIN})

        (trigger_id,) = tasks.repository_poll(link.id)
        trigger = PushTrigger.objects.get(pk=trigger_id)

        assert trigger.outcome == "started"
        assert any(argv[-2:] == ["--heads", url] for argv, _ in git_calls)
        assert not any(TOKEN in " ".join(argv) for argv, _ in git_calls)

    def test_a_token_secret_removed_later_is_a_failed_record(self, served, project, team):
        repo, url = served
        commit = repo.commit({".gradient/workflows/train.yaml": TRAIN})
        services.repository_link(project=project, clone_url=url, token="secret:gh-token")
        project.secrets.all().delete()

        trigger = _push(project, commit)

        assert trigger.outcome == "failed"
        assert '"gh-token" is not set' in trigger.errors[0]["message"]


class TestCommandLine:
    def test_only_safe_transports_and_no_credential_helper(self):
        argv = git_client.git_argv("fetch", "x")

        assert argv[:5] == ["git", "-c", "protocol.allow=never", "-c", "credential.helper="]
        assert "protocol.ext.allow=always" not in argv

    def test_git_itself_refuses_the_ext_transport(self, tmp_path):
        with git_client.git_access(token=None, scratch=tmp_path) as access:
            with pytest.raises(git_client.GitError, match="not allowed"):
                git_client.run_git("ls-remote", f"ext::touch {tmp_path}/ran", access=access)

        assert not (tmp_path / "ran").exists()

    def test_the_askpass_helper_answers_git_prompts(self, tmp_path):
        def ask(prompt: str) -> str:
            done = subprocess.run([helper, prompt], capture_output=True, text=True, check=True)
            return done.stdout

        with git_client.git_access(token=TOKEN, scratch=tmp_path) as access:
            helper = access.env["GIT_ASKPASS"]
            assert ask("Username for 'https://github.com': ") == "x-access-token\n"
            assert ask("Password for 'https://x-access-token@github.com': ") == TOKEN + "\n"
            assert TOKEN not in Path(helper).read_text()

        assert not Path(helper).parent.exists()

    def test_an_error_message_never_carries_the_token(self, tmp_path, monkeypatch):
        def fails(argv, *, env, timeout):
            return subprocess.CompletedProcess(argv, 128, b"", f"bad {TOKEN} here".encode())

        monkeypatch.setattr(git_client, "_execute", fails)
        with git_client.git_access(token=TOKEN, scratch=tmp_path) as access:
            with pytest.raises(git_client.GitError) as raised:
                git_client.run_git("ls-remote", "https://example.invalid/x.git", access=access)

        assert TOKEN not in str(raised.value)
        assert "bad *** here" in str(raised.value)
