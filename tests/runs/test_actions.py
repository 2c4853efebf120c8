"""What the local engine's actions plan, without running them."""

import pytest

from runs.engine.local.actions import ActionError, action_plan
from runs.engine.local.workspace import Workspace
from workflows.spec import parse_spec

# These tests link and clone repositories on disk.
pytestmark = pytest.mark.usefixtures("local_repositories")


def _clone_job(url: str):
    spec = parse_spec(
        f"""
jobs:
  clone:
    uses: git-checkout@v1
    with: {{url: "{url}"}}
    outputs: {{src: {{type: volume}}}}
"""
    )
    assert spec.valid, spec.errors
    return spec.spec.job("clone")


@pytest.fixture
def workspace(tmp_path):
    folders = Workspace(root=tmp_path, workdir=tmp_path / "workspace", outputs=tmp_path / "out")
    folders.volume_outputs["src"] = tmp_path / "src"
    return folders


def test_a_local_repository_is_mounted_read_only_into_the_sandbox(tmp_path, workspace):
    repo = tmp_path / "repo.git"
    repo.mkdir()

    plan = action_plan(_clone_job(f"file://{repo}"), workspace, {}, None)

    assert plan.read_only[str(repo)] == repo


@pytest.mark.parametrize("form", ["file://{}", "{}"])
def test_a_local_repository_is_refused_where_the_server_turns_them_off(
    tmp_path, workspace, settings, form
):
    settings.ALLOW_LOCAL_REPOSITORIES = False
    repo = tmp_path / "repo.git"
    repo.mkdir()

    with pytest.raises(ActionError, match="ALLOW_LOCAL_REPOSITORIES is off"):
        action_plan(_clone_job(form.format(repo)), workspace, {}, None)


@pytest.mark.parametrize("allow_local", [True, False])
@pytest.mark.parametrize("url", ["git@github.com:octo/demo.git", "example.org:repos/demo"])
def test_an_scp_like_url_is_an_ssh_remote_not_a_host_path(workspace, settings, allow_local, url):
    settings.ALLOW_LOCAL_REPOSITORIES = allow_local

    plan = action_plan(_clone_job(url), workspace, {}, None)

    assert plan.read_only == {}
    assert url in plan.argv
