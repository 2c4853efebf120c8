"""Issue 12, item 3: a repository link never reaches the server's own files.

The attack: team B linked its project to team A's bare mirror under the data
folder (`cloneUrl: <data>/git/<A's project id>`), polled A's head, and a push
signed with B's own secret ran A's spec in B's project. The data folder and
the checkout are refused whatever ALLOW_LOCAL_REPOSITORIES says, at link time
and each time git is about to read a stored link; and the setting is off
unless set.
"""

from __future__ import annotations

import os

import pytest
from django.conf import settings as django_settings

from runs.models import Run
from tests.git_repo import Repo
from tests.test_settings import read_settings
from triggers import services
from triggers.models import PushTrigger, RepositoryLink

SPEC = """jobs:
  steal:
    uses: container@v1
    with:
      image: bash:5
      args: ["bash", "-c", "echo team A's spec"]
on:
  github:
    branches:
      only: main
"""

pytestmark = pytest.mark.usefixtures("local_repositories")


@pytest.fixture(autouse=True)
def _private_data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"


@pytest.fixture(autouse=True)
def _runs_not_started(monkeypatch):
    monkeypatch.setattr("runs.queue.run_start", lambda run_id: None)


@pytest.fixture
def a_head(project_a, tmp_path) -> str:
    """Team A's repository, linked and pushed once, so its mirror exists in the data folder."""
    repo = Repo(tmp_path / "a-repo")
    commit = repo.commit({".gradient/workflows/secret-plan.yaml": SPEC})
    services.repository_link(project=project_a, clone_url=repo.url)
    trigger = services.push_handle(
        push=services.Push(project_id=project_a.id, source="webhook", branch="main", commit=commit)
    )
    assert trigger is not None and trigger.outcome == "started"
    assert (services.mirror_path(project_a.id) / "HEAD").exists()
    return commit


def _forms(mirror) -> list[str]:
    return [
        str(mirror),
        f"file://{mirror}",
        f"file://localhost{mirror}",
        f"file://{str(mirror).replace('/git/', '/%67it/')}",
        f"{mirror.parent.parent}/../{mirror.parent.parent.name}/git/{mirror.name}",
        str(django_settings.BASE_DIR),
    ]


@pytest.mark.django_db
class TestLinkingRefused:
    def test_team_b_cannot_link_team_a_s_mirror_in_any_form(
        self, as_user, owner_b, project_b, project_a, a_head
    ):
        api = as_user("owner_b")
        for clone_url in _forms(services.mirror_path(project_a.id)):
            answer = api.put(
                f"/api/v1/projects/{project_b.handle}/repository",
                {"cloneUrl": clone_url},
                format="json",
            )

            assert answer.status_code == 400, clone_url
            assert "server's own files" in answer.json()["detail"], clone_url
        assert not RepositoryLink.objects.filter(project=project_b).exists()

    def test_a_symbolic_link_to_the_data_folder_is_refused(
        self, project_b, project_a, a_head, tmp_path
    ):
        alias = tmp_path / "innocent.git"
        os.symlink(services.mirror_path(project_a.id), alias)

        with pytest.raises(services.InvalidRequest, match="server's own files"):
            services.repository_link(project=project_b, clone_url=str(alias))

    def test_a_repository_of_one_s_own_is_still_linked(self, project_b, tmp_path):
        repo = Repo(tmp_path / "b-repo")

        link, _ = services.repository_link(project=project_b, clone_url=repo.url)

        assert link.clone_url == repo.url


@pytest.mark.django_db
class TestStoredLinkRefused:
    """A link stored before the check (or edited in the database) cannot read the mirror."""

    @pytest.fixture
    def b_link(self, project_b, project_a, a_head) -> RepositoryLink:
        link, _ = services.repository_link(project=project_b, clone_url="https://git.example/b.git")
        RepositoryLink.objects.filter(pk=link.pk).update(
            clone_url=str(services.mirror_path(project_a.id)), last_commit="0" * 40
        )
        link.refresh_from_db()
        return link

    def test_a_push_naming_a_s_head_runs_nothing_in_b(self, b_link, project_b, a_head):
        trigger = services.push_handle(
            push=services.Push(
                project_id=project_b.id, source="webhook", branch="main", commit=a_head
            )
        )

        assert trigger.outcome == "failed"
        assert "server's own files" in trigger.errors[0]["message"]
        assert not Run.objects.filter(workflow__project=project_b).exists()
        assert not (services.mirror_path(project_b.id) / "HEAD").exists()

    def test_a_poll_does_not_learn_a_s_head(self, b_link, project_b):
        b_link.poll = True
        b_link.save()

        assert services.repository_poll(link=b_link) == []

        b_link.refresh_from_db()
        assert b_link.last_commit == "0" * 40
        assert not PushTrigger.objects.filter(project=project_b).exists()


def test_local_repositories_are_off_unless_set(tmp_path):
    assert read_settings(tmp_path)["allow_local_repositories"] is False
    assert read_settings(tmp_path, ALLOW_LOCAL_REPOSITORIES="true")["allow_local_repositories"]
