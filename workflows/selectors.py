"""Reads for teams, projects, workflows, secrets and datasets.

Whatever a user reads goes through `workflows.access.visible_to`: the `*_list`
and `*_get` selectors are the only way the surfaces find a user's things, and
each row carries `role`, the user's role in its team, for `access.can`.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path, PurePosixPath

from django.db.models import Prefetch, QuerySet

from workflows.access import visible_to
from workflows.models import (
    ApiKey,
    Cluster,
    ContainerRegistry,
    Dataset,
    DatasetVersion,
    Membership,
    Project,
    Secret,
    Team,
    Workflow,
)
from workflows.registries import RegistryCredentials
from workflows.secret_values import decrypt_value


def cluster_for_run(*, team: Team, cluster_id: str | None) -> Cluster | None:
    """The team's cluster named by handle (or numeric id); the local one when none is named."""
    handle = cluster_id or "local"
    queryset = Cluster.objects.filter(team=team)
    found = queryset.filter(handle=handle).first()
    if found is None and id_of(handle) is not None:
        found = queryset.filter(pk=id_of(handle)).first()
    return found


def _secret_candidates(*, project: Project, cluster: Cluster | None, names) -> QuerySet[Secret]:
    from django.db.models import Q

    scope = Q(scope=Secret.Scope.PROJECT, project=project) | Q(
        scope=Secret.Scope.TEAM, team_id=project.team_id
    )
    if cluster is not None:
        scope |= Q(scope=Secret.Scope.CLUSTER, cluster=cluster)
    return Secret.objects.filter(scope, name__in=list(names))


_PRECEDENCE = {Secret.Scope.PROJECT: 0, Secret.Scope.CLUSTER: 1, Secret.Scope.TEAM: 2}


def secrets_resolve(*, project: Project, cluster: Cluster | None, names) -> dict[str, Secret]:
    """For each name, the secret that applies: project over cluster over team."""
    chosen: dict[str, Secret] = {}
    for secret in _secret_candidates(project=project, cluster=cluster, names=names):
        current = chosen.get(secret.name)
        if current is None or _PRECEDENCE[secret.scope] < _PRECEDENCE[current.scope]:
            chosen[secret.name] = secret
    return chosen


def secret_values(*, project: Project, cluster: Cluster | None, names) -> dict[str, str]:
    """Decrypted values for a job about to run; never for an API answer."""
    if not names:
        return {}
    resolved = secrets_resolve(project=project, cluster=cluster, names=names)
    return {name: decrypt_value(secret.ciphertext) for name, secret in resolved.items()}


class DatasetRefError(LookupError):
    """A dataset reference that does not name a usable dataset version."""


def dataset_find(*, project: Project, ref: str) -> Dataset:
    """The project's dataset named `ref` (or with that id); the namespace must be this team's."""
    name = ref.split(":", 1)[0]
    if "/" in name:
        namespace, name = name.split("/", 1)
        if namespace != project.team.handle:
            raise DatasetRefError(
                f'"{ref}": the namespace "{namespace}" is not this team\'s '
                f'("{project.team.handle}")'
            )
    dataset = Dataset.objects.filter(project=project, name=name).first()
    if dataset is None:
        dataset = Dataset.objects.filter(project__team=project.team_id, pk=name).first()
    if dataset is None:
        raise DatasetRefError(
            f'there is no dataset "{name}" in project "{project.name}"; create it first'
        )
    return dataset


def dataset_version_resolve(*, project: Project, ref: str) -> DatasetVersion:
    """The committed version a ref names; without a version, the latest committed one."""
    dataset = dataset_find(project=project, ref=ref)
    version = ref.split(":", 1)[1] if ":" in ref else None
    versions = DatasetVersion.objects.filter(dataset=dataset, is_committed=True)
    if version:
        found = versions.filter(version=version).select_related("dataset").first()
        if found is None:
            raise DatasetRefError(f'dataset "{dataset.name}" has no committed version "{version}"')
        return found
    latest = versions.select_related("dataset").order_by("-committed", "-id").first()
    if latest is None:
        raise DatasetRefError(
            f'dataset "{dataset.name}" has no committed version yet; upload files or run a job '
            "that outputs it"
        )
    return latest


def default_team_of(user) -> Team | None:
    """The team a client acts in when it names none (the gradient CLI never does).

    The first team the user owns, as `services.personal_team` picks it, else the
    first team they are a member of; None for a user in no team.
    """
    memberships = Membership.objects.filter(user=user).select_related("team")
    membership = (
        memberships.filter(role=Membership.Role.OWNER).order_by("id").first()
        or memberships.order_by("id").first()
    )
    return membership.team if membership else None


def cluster_of(user, handle: str) -> Cluster | None:
    """The user's cluster with this handle, preferring their default team's.

    Handles are unique only within a team (every team has a "local" one), so
    the team the user acts in by default wins over their other teams.
    """
    candidates = list(cluster_list(user=user).filter(handle=handle).select_related("team"))
    if len(candidates) > 1:
        team_id = getattr(default_team_of(user), "id", None)
        candidates.sort(key=lambda cluster: (cluster.team_id != team_id, cluster.id))
    return candidates[0] if candidates else None


def secret_names(
    *, team: Team, scope: str, project: Project | None = None, cluster: Cluster | None = None
) -> list[str]:
    """Names of the secrets at one scope, sorted; values are never read here."""
    secrets = Secret.objects.filter(team=team, scope=scope)
    if scope == Secret.Scope.PROJECT:
        secrets = secrets.filter(project=project)
    elif scope == Secret.Scope.CLUSTER:
        secrets = secrets.filter(cluster=cluster)
    return list(secrets.order_by("name").values_list("name", flat=True))


# The largest id a 64-bit signed integer column holds; past it the database refuses the query.
MAX_ID = 2**63 - 1


def id_of(value: object) -> int | None:
    """An id from a URL, query string or body, or None when it cannot be one.

    Only ASCII digits count ("²" is a digit to `str.isdigit` but not to
    `int`), and only what fits the database's integer columns: anything else
    names no row, so the caller answers 404 or 400, never 500.
    """
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_ID:
        return value
    return None


def _as_uuid(value: object) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        return None


def team_list(*, user) -> QuerySet[Team]:
    """The user's teams, each annotated with `role`, the user's role in it."""
    return visible_to(user, Team.objects.all()).order_by("name", "id")


def team_get(*, user, team_id: object) -> Team | None:
    """One of the user's teams (with `role` and its memberships), or None."""
    pk = id_of(team_id)
    if pk is None:
        return None
    members = Membership.objects.select_related("user").order_by("user__username")
    return (
        team_list(user=user)
        .prefetch_related(Prefetch("memberships", queryset=members, to_attr="member_list"))
        .filter(pk=pk)
        .first()
    )


def project_list(*, user, team_id: object = None) -> QuerySet[Project]:
    """Projects of the user's teams (optionally one team's), annotated with the user's `role`."""
    queryset = visible_to(user, Project.objects.all()).order_by("name", "id")
    if team_id is not None:
        queryset = queryset.filter(team_id=id_of(team_id))
    return queryset


def project_get(*, user, project_id: object) -> Project | None:
    pk = id_of(project_id)
    if pk is None:
        return None
    return project_list(user=user).select_related("team").filter(pk=pk).first()


def workflow_list(*, user, project_id: object = None) -> QuerySet[Workflow]:
    """Workflows the user can see (optionally one project's), with the user's `role`.

    The default spec's text is not loaded: lists only say whether there is one.
    """
    queryset = (
        visible_to(user, Workflow.objects.all()).select_related("created_by").order_by("name", "id")
    )
    if project_id is not None:
        queryset = queryset.filter(project_id=id_of(project_id))
    return queryset


def workflow_get(*, user, workflow_id: object) -> Workflow | None:
    """A workflow the user can see, with its project and team, or None."""
    pk = _as_uuid(workflow_id)
    if pk is None:
        return None
    return workflow_list(user=user).select_related("project", "project__team").filter(pk=pk).first()


def workflow_default_spec_get(*, user, workflow_id: object) -> Workflow | None:
    """Like workflow_get, with the default spec's text loaded."""
    pk = _as_uuid(workflow_id)
    if pk is None:
        return None
    return workflow_list(user=user).select_related("default_spec").filter(pk=pk).first()


def dataset_list(*, user, project_id: object = None) -> QuerySet[Dataset]:
    """Datasets the user can see (optionally one project's), with the user's `role`."""
    queryset = visible_to(user, Dataset.objects.all()).order_by("name", "id")
    if project_id is not None:
        queryset = queryset.filter(project_id=id_of(project_id))
    return queryset


def dataset_get(*, user, dataset_id: object) -> Dataset | None:
    """A dataset the user can see, its versions (newest first) in `version_list`, or None."""
    if not isinstance(dataset_id, str):
        return None
    versions = DatasetVersion.objects.select_related("producer").order_by("-created", "-id")
    return (
        dataset_list(user=user)
        .select_related("project")
        .prefetch_related(Prefetch("versions", queryset=versions, to_attr="version_list"))
        .filter(pk=dataset_id)
        .first()
    )


def dataset_version_get(*, user, dataset_id: object, version: str) -> DatasetVersion | None:
    """A committed version of a dataset the user can see, or None."""
    if not isinstance(dataset_id, str):
        return None
    versions = DatasetVersion.objects.filter(
        dataset_id=dataset_id, version=version, is_committed=True
    )
    return visible_to(user, versions).select_related("dataset").first()


def dataset_version_files(version: DatasetVersion) -> list[dict]:
    """Every regular file of a committed version: {path, size}, sorted by path."""
    root = Path(version.storage_location)
    files = []
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder, name)
            if path.is_file() and not path.is_symlink():
                files.append(
                    {"path": path.relative_to(root).as_posix(), "size": path.stat().st_size}
                )
    return sorted(files, key=lambda entry: entry["path"])


def dataset_version_file(version: DatasetVersion, path: str) -> Path | None:
    """The file at `path` inside the version, or None when there is none.

    Anything that leads outside the version's folder (`..`, an absolute path,
    a symlink a job wrote) counts as no file.
    """
    root = Path(version.storage_location).resolve()
    parts = PurePosixPath(path.replace("\\", "/")).parts
    if not parts or any(part in {"..", "/"} for part in parts):
        return None
    candidate = root.joinpath(*parts)
    if candidate.is_symlink() or not candidate.is_file():
        return None
    resolved = candidate.resolve()
    return resolved if resolved.is_relative_to(root) else None


def cluster_list(*, user, team_id: object = None) -> QuerySet[Cluster]:
    """Clusters of the user's teams (optionally one team's), with the user's `role`."""
    queryset = visible_to(user, Cluster.objects.all()).order_by("name", "id")
    if team_id is not None:
        queryset = queryset.filter(team_id=id_of(team_id))
    return queryset


def cluster_get(*, user, cluster_id: object) -> Cluster | None:
    pk = id_of(cluster_id)
    if pk is None:
        return None
    return cluster_list(user=user).select_related("team").filter(pk=pk).first()


def secret_list(
    *, scope: str, team: Team, project: Project | None = None, cluster: Cluster | None = None
) -> QuerySet[Secret]:
    """The secrets set at one scope, by name. Callers show names and times, never values."""
    queryset = Secret.objects.filter(scope=scope, team=team).defer("ciphertext")
    if scope == Secret.Scope.PROJECT:
        queryset = queryset.filter(project=project)
    elif scope == Secret.Scope.CLUSTER:
        queryset = queryset.filter(cluster=cluster)
    return queryset.order_by("name")


def workflow_visible(*, user, workflow_id: object) -> uuid.UUID | None:
    """The workflow's id when the user can see it, else None: an access check and nothing more."""
    pk = _as_uuid(workflow_id)
    if pk is None:
        return None
    visible = visible_to(user, Workflow.objects.filter(pk=pk)).exists()
    return pk if visible else None


def membership_get(*, team: Team, user_id: object) -> Membership | None:
    """The membership of user `user_id` in a team the caller has already found, or None."""
    pk = id_of(user_id)
    if pk is None:
        return None
    return Membership.objects.filter(team=team, user_id=pk).select_related("user", "team").first()


def api_key_list(*, user) -> QuerySet[ApiKey]:
    """The user's API keys, newest first; only their prefixes are known, never the keys."""
    return ApiKey.objects.filter(user=user).order_by("-created", "-id")


def container_registry_list(*, team: Team) -> QuerySet[ContainerRegistry]:
    """The team's container registries by name; the password's ciphertext is not loaded."""
    return ContainerRegistry.objects.filter(team=team).defer("password_ciphertext").order_by("name")


def container_registry_get(*, team: Team, name: str) -> ContainerRegistry | None:
    return container_registry_list(team=team).filter(name=name).first()


def container_registry_names_missing(*, team: Team, names) -> list[str]:
    """Which of ``names`` the team has no registry by; in the order given."""
    known = set(
        ContainerRegistry.objects.filter(team=team, name__in=list(names)).values_list(
            "name", flat=True
        )
    )
    return [name for name in dict.fromkeys(names) if name not in known]


def container_registry_credentials(*, team: Team, names) -> list[RegistryCredentials]:
    """The logins of the team's registries among ``names``, in their order, for one pull.

    SecretUnreadable when a password cannot be decrypted (SECRET_KEY changed).
    """
    rows = {
        row.name: row for row in ContainerRegistry.objects.filter(team=team, name__in=list(names))
    }
    return [
        RegistryCredentials(
            name=name,
            server=rows[name].server,
            username=rows[name].username,
            password=decrypt_value(rows[name].password_ciphertext),
        )
        for name in dict.fromkeys(names)
        if name in rows
    ]
