"""Writes for teams, projects, workflows, secrets, datasets and API keys."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.dispatch import Signal
from django.utils import timezone
from django.utils.text import slugify

from workflows.clusters import InstanceTypeError, cluster_shapes_validate
from workflows.models import (
    ApiKey,
    Cluster,
    ContainerRegistry,
    Dataset,
    DatasetVersion,
    Membership,
    Project,
    Secret,
    StoredSpec,
    Team,
    Workflow,
)
from workflows.registries import (
    RegistryInvalid,
    registry_name_checked,
    registry_password_checked,
    registry_server_checked,
    registry_username_checked,
)
from workflows.secret_values import encrypt_value
from workflows.spec import SpecError, SpecResult, parse_spec, utf8_size

API_KEY_PREFIX = "gw_"


class InvalidRequest(ValueError):
    """A write that cannot be done as asked; the message says what to fix."""

    def __init__(self, message: str, *, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status


def _unique_handle(model, name: str, **scope) -> str:
    base = slugify(name)[:50] or "item"
    handle, suffix = base, 1
    while model.objects.filter(handle=handle, **scope).exists():
        suffix += 1
        handle = f"{base}-{suffix}"
    return handle


@transaction.atomic
def team_create(*, name: str, owner) -> Team:
    """A team with its owner and its default local cluster."""
    team = Team.objects.create(name=name, handle=_unique_handle(Team, name))
    Membership.objects.create(team=team, user=owner, role=Membership.Role.OWNER)
    Cluster.objects.create(team=team, handle="local", name="Local engine", kind=Cluster.Kind.LOCAL)
    return team


def personal_team(user) -> Team:
    """The first team the user owns, created when there is none."""
    membership = (
        Membership.objects.filter(user=user, role=Membership.Role.OWNER)
        .select_related("team")
        .order_by("id")
        .first()
    )
    if membership:
        return membership.team
    return team_create(name=f"{user.username}'s team", owner=user)


def _user_by_name_or_email(identifier: str):
    """The active user with this username, else the one with this email (any case)."""
    users = get_user_model().objects.filter(is_active=True)
    found = users.filter(username=identifier).first()
    if found is None and "@" in identifier:
        matches = list(users.filter(email__iexact=identifier)[:2])
        if len(matches) > 1:
            raise InvalidRequest(
                f'user: several users have the email "{identifier}"; give the username instead',
                field="user",
            )
        found = matches[0] if matches else None
    return found


def _refuse_losing_last_owner(membership: Membership, what: str) -> None:
    """A team keeps at least one owner: nobody else could manage it (or hand it on)."""
    if membership.role != Membership.Role.OWNER:
        return
    owners = Membership.objects.select_for_update().filter(
        team_id=membership.team_id, role=Membership.Role.OWNER
    )
    if len(owners) <= 1:
        raise InvalidRequest(
            f"{membership.user.username} is the team's last owner and cannot {what}; "
            "make another member an owner first",
            status=409,
        )


def _checked_role(role: object) -> str:
    if role not in Membership.Role.values:
        raise InvalidRequest(
            f"role must be one of {', '.join(Membership.Role.values)}, not {role!r}", field="role"
        )
    return role


@transaction.atomic
def membership_add(*, team: Team, user: str, role: str = Membership.Role.MEMBER) -> Membership:
    """Add the user named by username or email to the team with `role`."""
    role = _checked_role(role)
    identifier = user.strip() if isinstance(user, str) else ""
    if not identifier:
        raise InvalidRequest("user: give a username or an email address", field="user")
    found = _user_by_name_or_email(identifier)
    if found is None:
        raise InvalidRequest(
            f'user: there is no user with the username or email "{identifier}"; they need an '
            "account on this server first",
            field="user",
        )
    if Membership.objects.filter(team=team, user=found).exists():
        raise InvalidRequest(
            f"{found.username} is already a member of {team.name}; change their role instead",
            field="user",
            status=409,
        )
    try:
        with transaction.atomic():
            return Membership.objects.create(team=team, user=found, role=role)
    except IntegrityError:
        raise InvalidRequest(
            f"{found.username} is already a member of {team.name}", field="user", status=409
        ) from None


@transaction.atomic
def membership_role_change(*, membership: Membership, role: str) -> Membership:
    """Make a member an owner or an owner a member; the last owner stays one."""
    role = _checked_role(role)
    if role != membership.role:
        if role == Membership.Role.MEMBER:
            _refuse_losing_last_owner(membership, "become a member")
        Membership.objects.filter(pk=membership.pk).update(role=role)
        membership.role = role
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership) -> None:
    """Take a user out of a team (removal by an owner, or leaving); the last owner stays."""
    _refuse_losing_last_owner(membership, "leave the team")
    membership.delete()


def _has_control_characters(text: str) -> bool:
    """C0 and C1 controls (NUL, CR, LF, tab, ESC…): PostgreSQL text refuses NUL; pages hide them."""
    return any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in text)


def _checked_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidRequest(f"a {what} needs a name", field="name")
    name = name.strip()
    if len(name) > 200:
        raise InvalidRequest(f"a {what} name has at most 200 characters", field="name")
    if _has_control_characters(name):
        raise InvalidRequest(
            f"a {what} name cannot hold control characters (NUL, CR, LF, tab…)", field="name"
        )
    return name


def project_create(*, team: Team, name: str) -> Project:
    name = _checked_name(name, "project")
    duplicate = InvalidRequest(f'this team already has a project named "{name}"', field="name")
    if Project.objects.filter(team=team, name=name).exists():
        raise duplicate
    try:
        with transaction.atomic():
            return Project.objects.create(
                team=team, name=name, handle=_unique_handle(Project, name)
            )
    except IntegrityError:
        # Two requests raced for the same name (or handle): one of them wins.
        raise duplicate from None


def spec_store(*, text: str, parsed: dict) -> StoredSpec:
    """The stored spec with exactly this text, created on first use."""
    digest = hashlib.sha256(text.encode()).hexdigest()
    try:
        with transaction.atomic():
            spec, _ = StoredSpec.objects.get_or_create(
                sha256=digest, defaults={"text": text, "parsed": parsed}
            )
    except IntegrityError:
        spec = StoredSpec.objects.get(sha256=digest)
    return spec


def workflow_create(*, project: Project, name: str, user=None) -> Workflow:
    name = _checked_name(name, "workflow")
    duplicate = InvalidRequest(f'this project already has a workflow named "{name}"', field="name")
    if Workflow.objects.filter(project=project, name=name).exists():
        raise duplicate
    try:
        with transaction.atomic():
            return Workflow.objects.create(project=project, name=name, created_by=user)
    except IntegrityError:
        raise duplicate from None


def workflow_set_default_spec(*, workflow: Workflow, spec: StoredSpec) -> Workflow:
    Workflow.objects.filter(pk=workflow.pk).update(default_spec=spec)
    workflow.default_spec = spec
    return workflow


_UNSET = object()


def cluster_shapes_set(
    *,
    cluster: Cluster,
    instance_types: object = _UNSET,
    default_instance_type: object = _UNSET,
    default_job_timeout_seconds: object = _UNSET,
) -> Cluster:
    """Change a cluster's instance types, default type or default timeout (what is given).

    The result is checked whole before it is saved, so a default that names a
    type the same request removes is refused rather than left dangling.
    """
    if instance_types is not _UNSET:
        cluster.instance_types = instance_types
    if default_instance_type is not _UNSET:
        cluster.default_instance_type = default_instance_type or ""
    if default_job_timeout_seconds is not _UNSET:
        cluster.default_job_timeout_seconds = default_job_timeout_seconds
    try:
        cluster_shapes_validate(
            instance_types=cluster.instance_types,
            default_instance_type=cluster.default_instance_type,
            default_job_timeout_seconds=cluster.default_job_timeout_seconds,
        )
    except InstanceTypeError as error:
        raise InvalidRequest(str(error)) from None
    cluster.save(
        update_fields=["instance_types", "default_instance_type", "default_job_timeout_seconds"]
    )
    return cluster


SECRET_NAME_MAX = 200


def _secret_owner(scope: str, *, team: Team, project: Project | None, cluster: Cluster | None):
    if scope == Secret.Scope.PROJECT and project is None:
        raise InvalidRequest("a project secret needs a project", field="projectId")
    if scope == Secret.Scope.CLUSTER and cluster is None:
        raise InvalidRequest("a cluster secret needs a cluster", field="clusterId")
    if scope not in Secret.Scope.values:
        raise InvalidRequest("a secret's scope is team, cluster or project", field="scope")
    return {
        "team": team,
        "scope": scope,
        "project": project if scope == Secret.Scope.PROJECT else None,
        "cluster": cluster if scope == Secret.Scope.CLUSTER else None,
    }


def secret_set(
    *,
    team: Team,
    scope: str,
    name: str,
    value: str,
    project: Project | None = None,
    cluster: Cluster | None = None,
) -> Secret:
    """Create or replace a secret; only its ciphertext is stored."""
    owner = _secret_owner(scope, team=team, project=project, cluster=cluster)
    if not isinstance(name, str) or not name or len(name) > SECRET_NAME_MAX:
        raise InvalidRequest("a secret needs a name of 1 to 200 characters", field="name")
    if not all(ch.isalnum() or ch in "-_." for ch in name):
        raise InvalidRequest(
            "a secret name may contain letters, digits, '-', '_' and '.' only", field="name"
        )
    if not isinstance(value, str) or value == "":
        raise InvalidRequest("a secret needs a non-empty value", field="value")
    ciphertext = encrypt_value(value)
    try:
        with transaction.atomic():
            secret, _ = Secret.objects.update_or_create(
                **owner, name=name, defaults={"ciphertext": ciphertext}
            )
    except IntegrityError:
        # Another request created it at the same moment: set our value over theirs.
        secret = Secret.objects.get(**owner, name=name)
        secret.ciphertext = ciphertext
        secret.save(update_fields=["ciphertext", "updated"])
    return secret


def secret_delete(
    *,
    team: Team,
    scope: str,
    name: str,
    project: Project | None = None,
    cluster: Cluster | None = None,
) -> None:
    owner = _secret_owner(scope, team=team, project=project, cluster=cluster)
    deleted, _ = Secret.objects.filter(**owner, name=name).delete()
    if not deleted:
        raise InvalidRequest(f'there is no {scope} secret named "{name}"', status=404)


def dataset_create(*, project: Project, name: str, description: str = "") -> Dataset:
    name = _checked_name(name, "dataset")
    if ":" in name or "/" in name:
        raise InvalidRequest("a dataset name may not contain ':' or '/'", field="name")
    duplicate = InvalidRequest(f'this project already has a dataset named "{name}"', field="name")
    if Dataset.objects.filter(project=project, name=name).exists():
        raise duplicate
    try:
        with transaction.atomic():
            return Dataset.objects.create(project=project, name=name, description=description)
    except IntegrityError:
        raise duplicate from None


def dataset_storage_root() -> Path:
    return settings.DATA_DIR / "datasets"


def dataset_version_reserve(*, dataset: Dataset) -> DatasetVersion:
    """A new, uncommitted version with its storage folder; versions count up as v1, v2, …"""
    with transaction.atomic():
        Dataset.objects.select_for_update().filter(pk=dataset.pk).first()
        numbers = [
            int(version[1:])
            for version in DatasetVersion.objects.filter(dataset=dataset).values_list(
                "version", flat=True
            )
            if version[1:].isdigit()
        ]
        version = f"v{max(numbers, default=0) + 1}"
        location = dataset_storage_root() / dataset.id / version
        return DatasetVersion.objects.create(
            dataset=dataset,
            version=version,
            storage_location=str(location),
        )


def _folder_size(folder: Path) -> tuple[int, int]:
    files = size = 0
    for root, _, names in os.walk(folder):
        for name in names:
            path = Path(root, name)
            if path.is_file() and not path.is_symlink():
                files += 1
                size += path.stat().st_size
    return files, size


def links_leaving(folder: Path) -> list[str]:
    """The symbolic links under `folder` that lead out of it, as sorted relative paths.

    A job writes its dataset and volume outputs; a link in them to the host's
    files (`ln -s /data/secret_key`) must never become something the server
    reads or serves. Links that stay inside the folder are harmless and kept
    (a checked-out repository has them).
    """
    root = os.path.realpath(folder)
    found = []
    for current, folders, files in os.walk(folder):
        for name in [*folders, *files]:
            path = os.path.join(current, name)
            if os.path.islink(path):
                target = os.path.realpath(path)
                if target != root and not target.startswith(root + os.sep):
                    found.append(os.path.relpath(path, folder))
    return sorted(found)


def dataset_version_commit(*, version: DatasetVersion, staged: Path) -> DatasetVersion:
    """Make the files in `staged` the version's content and commit it, atomically.

    The staging folder is renamed into place (one rename on the same file
    system), so readers see either no folder or the whole version. A folder
    with a link leading out of it is refused (the engines say so earlier, per
    output; this is the last line).
    """
    leaving = links_leaving(staged)
    if leaving:
        raise ValueError(f"the files to commit have links leading out of them: {leaving[:5]}")
    target = Path(version.storage_location)
    target.parent.mkdir(parents=True, exist_ok=True)
    file_count, size = _folder_size(staged)
    # mkdtemp made it 0700; jobs that read the version run as another user.
    staged.chmod(0o755)
    os.rename(staged, target)
    DatasetVersion.objects.filter(pk=version.pk).update(
        is_committed=True, file_count=file_count, size=size, committed=timezone.now()
    )
    version.refresh_from_db()
    return version


def staging_folder() -> Path:
    """A fresh folder beside the dataset store (same file system, so commit is a rename)."""
    root = dataset_storage_root() / ".staging"
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=root))


# Linux refuses a longer file name (bytes, not characters) with ENAMETOOLONG.
UPLOAD_NAME_MAX_BYTES = 255
UPLOAD_PATH_MAX_CHARS = 1000


def _bad_upload_path(name: str, why: str | None = None) -> InvalidRequest:
    # JSON quoting shows a line break as \n rather than breaking the message.
    shown = json.dumps(name if len(name) <= 80 else name[:80] + "…", ensure_ascii=False)
    because = f": {why}" if why else ""
    return InvalidRequest(
        f"{shown} is not a valid file name inside a dataset{because}", field="files"
    )


def _safe_relative(name: str) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    parts = [part for part in path.parts if part not in {"", "."}]
    if not parts or any(part == ".." for part in parts) or path.is_absolute():
        raise _bad_upload_path(name)
    if len(name) > UPLOAD_PATH_MAX_CHARS:
        raise _bad_upload_path(name, f"a path has at most {UPLOAD_PATH_MAX_CHARS} characters")
    for part in parts:
        if _has_control_characters(part):
            raise _bad_upload_path(name, "a file name cannot hold control characters (CR, LF…)")
        if any(0xD800 <= ord(ch) <= 0xDFFF for ch in part):
            raise _bad_upload_path(name, "a file name must be valid Unicode")
        if len(part.encode()) > UPLOAD_NAME_MAX_BYTES:
            raise _bad_upload_path(
                name, f"each part of a path has at most {UPLOAD_NAME_MAX_BYTES} bytes"
            )
    return PurePosixPath(*parts)


def upload_paths_checked(names: Iterable[str]) -> list[PurePosixPath]:
    """The uploaded names as safe relative paths, all checked before any file is written.

    Besides each name on its own, the set must be a tree: no name twice (the
    second would silently replace the first) and no name that is both a file
    and a folder (`a` and `a/b`), which the file system cannot hold.
    """
    paths = [_safe_relative(name) for name in names]
    files: set[PurePosixPath] = set()
    for path in paths:
        if path in files:
            raise _bad_upload_path(str(path), "two files of the upload have this name")
        files.add(path)
    for path in paths:
        for folder in path.parents:
            if folder in files:
                raise _bad_upload_path(
                    str(folder), f'it is a file and also the folder of "{path}"; rename one'
                )
    return paths


def dataset_version_upload(
    *, dataset: Dataset, files: Iterable[tuple[str, BinaryIO]], message: str = ""
) -> DatasetVersion:
    """A new committed version holding the uploaded files; nothing remains if it fails."""
    files = list(files)
    paths = upload_paths_checked(name for name, _ in files)
    staged = staging_folder()
    try:
        for relative, (_, handle) in zip(paths, files, strict=True):
            destination = staged / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            with open(destination, "wb") as out:
                shutil.copyfileobj(handle, out)
        if not paths:
            raise InvalidRequest("upload at least one file to make a version", field="files")
        version = dataset_version_reserve(dataset=dataset)
        if message:
            DatasetVersion.objects.filter(pk=version.pk).update(message=message[:500])
        return dataset_version_commit(version=version, staged=staged)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise


def _hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_key_create(*, user, name: str) -> tuple[ApiKey, str]:
    """A new API key for the user; the raw key is returned once and never stored."""
    raw_key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(
        user=user, name=name, prefix=raw_key[:10], key_hash=_hash_key(raw_key)
    )
    return api_key, raw_key


def api_key_authenticate(raw_key: str):
    """The active user owning this key, or None; records when the key was last used."""
    if not raw_key:
        return None
    api_key = (
        ApiKey.objects.select_related("user").filter(key_hash=_hash_key(raw_key.strip())).first()
    )
    if api_key is None or not api_key.user.is_active:
        return None
    now = timezone.now()
    if api_key.last_used is None or (now - api_key.last_used).total_seconds() > 60:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used=now)
    return api_key.user


def api_key_revoke(*, user, key_id: int) -> None:
    """Delete one of the user's API keys; requests with it fail from now on."""
    deleted, _ = ApiKey.objects.filter(user=user, pk=key_id).delete()
    if not deleted:
        raise InvalidRequest("you have no such API key; it may be revoked already", status=404)


@transaction.atomic
def user_with_api_key(*, username: str, key_name: str = "cli") -> tuple[object, str]:
    """The user (created with a personal team when missing) and a new API key of theirs."""
    User = get_user_model()
    user, created = User.objects.get_or_create(username=username)
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    personal_team(user)
    _, raw_key = api_key_create(user=user, name=key_name)
    return user, raw_key


class SpecRejected(InvalidRequest):
    """A spec that cannot be stored; `errors` are the validator's (empty when it is too large)."""

    def __init__(
        self, message: str, *, errors: Iterable[SpecError] = (), status: int = 400
    ) -> None:
        super().__init__(message, field="spec", status=status)
        self.errors = tuple(errors)
        self.document = "spec"


def spec_checked(text: str | bytes) -> SpecResult:
    """The validator's verdict on a spec text (bytes: UTF-8 that may not decode);
    SpecRejected (413) when it is too large to read."""
    if not isinstance(text, str | bytes):
        raise SpecRejected("the spec must be YAML text")
    if utf8_size(text) > settings.SPEC_MAX_BYTES:
        raise SpecRejected(
            f"the spec is larger than {settings.SPEC_MAX_BYTES // 1024} KiB; split it into "
            "several workflows",
            status=413,
        )
    return parse_spec(text, max_jobs=settings.MAX_JOBS_PER_RUN)


def workflow_spec_update(*, workflow: Workflow, text: str) -> StoredSpec:
    """Validate `text` and make it the workflow's default spec; nothing changes when invalid."""
    result = spec_checked(text)
    if not result.valid:
        raise SpecRejected("the spec is not valid", errors=result.errors)
    stored = spec_store(text=text, parsed=result.spec.to_json())
    workflow_set_default_spec(workflow=workflow, spec=stored)
    return stored


# Sent with `instance` (a Project or a Workflow) before it is deleted with what
# it holds. A receiver refuses the delete by raising InvalidRequest: runs/
# refuses while one of the runs that would go is still pending or running.
# What keeps a delete from happening is known above this layer, so it is asked
# this way rather than imported.
delete_requested = Signal()


def _remove_dataset_files_on_commit(dataset_ids: list[str]) -> None:
    root = dataset_storage_root()
    transaction.on_commit(
        lambda: [shutil.rmtree(root / dataset_id, ignore_errors=True) for dataset_id in dataset_ids]
    )


@transaction.atomic
def project_delete(*, project: Project) -> None:
    """Delete a project with its workflows, runs, datasets (and their files) and secrets."""
    delete_requested.send(sender=Project, instance=project)
    dataset_ids = list(Dataset.objects.filter(project=project).values_list("id", flat=True))
    project.delete()
    _remove_dataset_files_on_commit(dataset_ids)


@transaction.atomic
def workflow_delete(*, workflow: Workflow) -> None:
    """Delete a workflow and its runs; refused while one of its runs has not ended."""
    delete_requested.send(sender=Workflow, instance=workflow)
    workflow.delete()


@transaction.atomic
def dataset_delete(*, dataset: Dataset) -> None:
    """Delete a dataset, its versions and their files; refused while a model is built on it."""
    dataset_id = dataset.id
    try:
        dataset.delete()
    except ProtectedError:
        raise InvalidRequest(
            f'dataset "{dataset.name}" has versions that registered models were made from; '
            "delete those models first",
            status=409,
        ) from None
    _remove_dataset_files_on_commit([dataset_id])


def container_registry_create(
    *, team: Team, name: object, server: object, username: object, password: object
) -> ContainerRegistry:
    """Add a registry to the team; its password is stored encrypted, like a secret's value."""
    try:
        fields = {
            "name": registry_name_checked(name),
            "server": registry_server_checked(server),
            "username": registry_username_checked(username),
            "password_ciphertext": encrypt_value(registry_password_checked(password)),
        }
    except RegistryInvalid as error:
        raise InvalidRequest(str(error), field=error.field) from None
    try:
        with transaction.atomic():
            return ContainerRegistry.objects.create(team=team, **fields)
    except IntegrityError:
        raise InvalidRequest(
            f'the team has a registry named "{name}" already; change that one or choose '
            "another name",
            field="name",
            status=409,
        ) from None


def container_registry_update(
    *,
    registry: ContainerRegistry,
    server: object = _UNSET,
    username: object = _UNSET,
    password: object = _UNSET,
) -> ContainerRegistry:
    """Change what is given of a registry's server, username and password."""
    changed = ["updated"]
    try:
        if server is not _UNSET:
            registry.server = registry_server_checked(server)
            changed.append("server")
        if username is not _UNSET:
            registry.username = registry_username_checked(username)
            changed.append("username")
        if password is not _UNSET:
            registry.password_ciphertext = encrypt_value(registry_password_checked(password))
            changed.append("password_ciphertext")
    except RegistryInvalid as error:
        raise InvalidRequest(str(error), field=error.field) from None
    registry.save(update_fields=changed)
    return registry


def container_registry_delete(*, registry: ContainerRegistry) -> None:
    """Remove a registry; runs already started keep the login they were given."""
    registry.delete()
