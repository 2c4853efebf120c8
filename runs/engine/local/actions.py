"""What each action does on the local engine.

Actions that run a program (container, script, git-checkout) become a command
inside the sandbox. s3-download and create-model run in the worker itself, as
our own trusted code, writing only into the job's output folders.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from django.conf import settings

from runs.engine.local.workspace import Workspace
from workflows.git.client import LOCAL_REPOSITORIES_OFF, local_repository_path
from workflows.models import DatasetVersion, Model
from workflows.spec import Job

SECRET_PREFIX = "secret:"


class ActionError(Exception):
    """The action cannot run as written; the message says what to change."""


@dataclass
class Plan:
    """A command for the sandbox, or a step that runs in the worker."""

    argv: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    read_only: dict[str, Path] = field(default_factory=dict)
    host_step: Callable[[Callable[[str], None]], None] | None = None


def resolve_param(value, secrets: dict[str, str]):
    if isinstance(value, str) and value.startswith(SECRET_PREFIX):
        return secrets[value[len(SECRET_PREFIX) :]]
    return value


def _container(job: Job, workspace: Workspace, secrets: dict[str, str], job_run) -> Plan:
    argv = job.param_list("command") + job.param_list("args")
    if not argv:
        raise ActionError(
            "container@v1 needs `command` or `args` on the local engine: it runs on the host "
            "and cannot read the image's default entrypoint"
        )
    return Plan(argv=argv)


def _script(job: Job, workspace: Workspace, secrets: dict[str, str], job_run) -> Plan:
    script = workspace.files() / "script.sh"
    script.write_text(job.params["script"])
    return Plan(argv=["bash", "/gradient/script.sh"], read_only={"/gradient/script.sh": script})


def _output_target(job: Job, workspace: Workspace) -> tuple[str, Path]:
    """Where git-checkout and s3-download put files: `path`, or the job's one folder output."""
    path = job.params.get("path")
    if path:
        relative = Path(str(path).lstrip("/"))
        if relative.parts[:1] == ("outputs",):
            relative = Path(*relative.parts[1:])
        if ".." in relative.parts or not relative.parts:
            raise ActionError(f'`path` "{path}" must name a folder under /outputs')
        return f"/outputs/{relative}", workspace.outputs / relative
    folders = [*workspace.dataset_outputs, *workspace.volume_outputs]
    if len(folders) != 1:
        raise ActionError(
            f"{job.uses} needs exactly one dataset or volume output, or a `path`; "
            f"this job has {len(folders)}"
        )
    return f"/outputs/{folders[0]}", workspace.output_folder(folders[0])


def _forbidden_local_path(path: Path) -> bool:
    resolved = path.resolve()
    for private in (settings.DATA_DIR, settings.BASE_DIR):
        if resolved == private or private in resolved.parents:
            return True
    return False


ASKPASS = """#!/bin/sh
case "$1" in
  Username*) cat /gradient/git/username ;;
  *) cat /gradient/git/password ;;
esac
"""

CLONE = (
    'git clone --no-hardlinks -- "$1" "$2" && if [ -n "$3" ]; then git -C "$2" checkout "$3"; fi'
)


def _git_checkout(job: Job, workspace: Workspace, secrets: dict[str, str], job_run) -> Plan:
    url = str(job.params["url"])
    target, _ = _output_target(job, workspace)
    plan = Plan(
        env={
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "safe.directory",
            "GIT_CONFIG_VALUE_0": "*",
        }
    )
    local = local_repository_path(url)
    if local is not None:
        if not settings.ALLOW_LOCAL_REPOSITORIES:
            raise ActionError(f"git-checkout@v1: {LOCAL_REPOSITORIES_OFF}")
        if not local.is_absolute() or not local.exists():
            raise ActionError(f'git-checkout@v1: the repository "{url}" does not exist')
        if _forbidden_local_path(local):
            raise ActionError(f'git-checkout@v1: "{url}" is inside the dashboard\'s own files')
        plan.read_only[str(local)] = local
    password = job.params.get("password")
    if password:
        helper = workspace.files() / "git"
        helper.mkdir()
        (helper / "askpass").write_text(ASKPASS)
        (helper / "askpass").chmod(0o500)
        (helper / "username").write_text(str(resolve_param(job.params.get("username"), secrets)))
        (helper / "password").write_text(resolve_param(password, secrets))
        for name in ("username", "password"):
            (helper / name).chmod(0o400)
        plan.read_only["/gradient/git"] = helper
        plan.env["GIT_ASKPASS"] = "/gradient/git/askpass"
    plan.argv = ["sh", "-c", CLONE, "git-checkout", url, target, str(job.params.get("ref") or "")]
    return plan


def _s3_download(job: Job, workspace: Workspace, secrets: dict[str, str], job_run) -> Plan:
    url = urlparse(str(job.params["url"]))
    bucket, prefix = url.netloc, url.path.lstrip("/")
    _, target = _output_target(job, workspace)

    def download(log: Callable[[str], None]) -> None:
        import boto3
        from botocore.config import Config

        client = boto3.client(
            "s3",
            endpoint_url=job.params.get("endpoint") or None,
            region_name=job.params.get("region") or None,
            aws_access_key_id=resolve_param(job.params["access-key"], secrets),
            aws_secret_access_key=resolve_param(job.params["secret-access-key"], secrets),
            config=Config(retries={"max_attempts": 3}),
        )
        count = size = 0
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                relative = item["Key"][len(prefix) :].lstrip("/")
                if not relative or relative.endswith("/"):
                    continue
                destination = (target / relative).resolve()
                if target.resolve() not in destination.parents:
                    raise ActionError(f'the object key "{item["Key"]}" would leave the output')
                destination.parent.mkdir(parents=True, exist_ok=True)
                client.download_file(bucket, item["Key"], str(destination))
                count += 1
                size += item["Size"]
                log(f"downloaded s3://{bucket}/{item['Key']} ({item['Size']} bytes)")
        log(f"downloaded {count} objects, {size} bytes, from s3://{bucket}/{prefix}")

    return Plan(host_step=download)


def _create_model(job: Job, workspace: Workspace, secrets: dict[str, str], job_run) -> Plan:
    """Register a Model from the dataset input `model`; its id becomes the string output."""
    model_input = workspace.read_only.get("/inputs/model")
    if model_input is None or job.inputs["model"].type != "dataset":
        raise ActionError("create-model@v1 needs a dataset input named `model`")
    (output_name,) = workspace.string_outputs

    def register(log: Callable[[str], None]) -> None:
        version = DatasetVersion.objects.select_related("dataset").get(
            storage_location=str(model_input)
        )
        model = Model.objects.create(
            project_id=version.dataset.project_id,
            name=str(job.params["name"]),
            model_type=str(job.params.get("type") or "Custom"),
            dataset_version=version,
            job_run=job_run,
        )
        (workspace.outputs / output_name).write_text(model.id)
        log(f'registered model "{model.name}" ({model.id}) from {version}')

    return Plan(host_step=register)


PLANS = {
    "container": _container,
    "script": _script,
    "git-checkout": _git_checkout,
    "s3-download": _s3_download,
    "create-model": _create_model,
}


def action_plan(job: Job, workspace: Workspace, secrets: dict[str, str], job_run) -> Plan:
    return PLANS[job.action](job, workspace, secrets, job_run)
