"""No sandbox run: reading what a job left (links are never followed out), and who runs it."""

import os

import pytest

from runs.engine.local.workspace import (
    OutputError,
    Workspace,
    outputs_check,
    read_string_output,
    write_job_file,
)
from workflows.services import links_leaving


@pytest.fixture
def workspace(tmp_path):
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    return Workspace(root=tmp_path, workdir=tmp_path / "workspace", outputs=outputs)


@pytest.fixture
def secret(tmp_path):
    path = tmp_path / "secret_key"
    path.write_text("the-server-secret")
    return path


def test_a_string_output_that_is_a_link_fails_whatever_it_points_to(workspace, secret):
    (workspace.outputs / "leak").symlink_to(secret)
    (workspace.outputs / "inside").write_text("fine")
    (workspace.outputs / "alias").symlink_to("inside")

    for name in ("leak", "alias"):
        with pytest.raises(OutputError, match=f'"{name}" is a symbolic link'):
            read_string_output(workspace, name)
    assert read_string_output(workspace, "inside") == "fine"


def test_a_string_output_that_is_a_fifo_or_a_folder_is_missing(workspace):
    os.mkfifo(workspace.outputs / "pipe")
    (workspace.outputs / "folder").mkdir()

    for name in ("pipe", "folder"):
        with pytest.raises(OutputError, match=f'"{name}" is missing'):
            read_string_output(workspace, name)


def test_the_worker_writes_no_file_through_a_link_the_job_left(workspace, secret):
    (workspace.outputs / "model-id").symlink_to(secret)

    with pytest.raises(OSError):
        write_job_file(workspace.outputs, "model-id", "overwritten")
    assert secret.read_text() == "the-server-secret"


def test_links_leaving_a_folder_are_found_and_links_inside_are_not(tmp_path, secret):
    folder = tmp_path / "dataset"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "data.txt").write_text("data")
    (folder / "alias").symlink_to("sub/data.txt")
    (folder / "sub" / "up").symlink_to("../alias")
    (folder / "key").symlink_to(secret)
    (folder / "sub" / "escape").symlink_to("../../secret_key")
    (folder / "absolute").symlink_to("/outputs/dataset/alias")
    (folder / "root").symlink_to("/")

    assert links_leaving(folder) == ["absolute", "key", "root", "sub/escape"]


def test_outputs_check_names_the_output_and_its_links(workspace, secret, tmp_path):
    staged = tmp_path / "staged"
    staged.mkdir()
    (staged / "key").symlink_to(secret)
    workspace.dataset_outputs["loot"] = staged

    with pytest.raises(OutputError, match=r'dataset output "loot" .* leave the output: key'):
        outputs_check(workspace)


def test_outputs_past_the_disk_setting_fail(workspace, settings, tmp_path):
    settings.LOCAL_ENGINE_WRITABLE_MAX = "1Ki"
    volume = tmp_path / "volume"
    volume.mkdir()
    (volume / "a").write_bytes(b"x" * 600)
    (workspace.outputs / "b").write_bytes(b"x" * 600)
    workspace.volume_outputs["scratch"] = volume

    with pytest.raises(
        OutputError, match="1200 bytes into /workspace and /outputs.*LOCAL_ENGINE_WRITABLE_MAX"
    ):
        outputs_check(workspace)


def test_a_version_listing_and_download_never_follow_a_link(tmp_path, secret):
    from types import SimpleNamespace

    from workflows.selectors import dataset_version_file, dataset_version_files

    folder = tmp_path / "version"
    folder.mkdir()
    (folder / "real.txt").write_text("real")
    (folder / "key").symlink_to(secret)
    (folder / "host").symlink_to(tmp_path)
    version = SimpleNamespace(storage_location=str(folder))

    assert dataset_version_files(version) == [{"path": "real.txt", "size": 4}]
    assert dataset_version_file(version, "key") is None
    assert dataset_version_file(version, "host/secret_key") is None


def test_jobs_never_run_as_root_whatever_the_setting(settings, workspace):
    from runs.engine.local.sandbox import Sandbox, SandboxUnavailable
    from runs.engine.local.sandbox.seccomp import FilterFd

    settings.LOCAL_ENGINE_JOB_UID = 0
    sandbox = Sandbox(argv=["true"], env={}, workdir=workspace.root, network=False)

    if os.geteuid() == 0:
        with pytest.raises(SandboxUnavailable, match="not 0"):
            sandbox.command(seccomp=FilterFd(None))
    else:  # a worker that is not root runs jobs as its own uid, whatever the setting
        assert "--unshare-user" in sandbox.command(seccomp=FilterFd(None))
