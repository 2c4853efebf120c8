"""The one access policy: who sees what, and which role may do which action.

Every surface asks the same two questions here, and nowhere else:

- `visible_to(user, queryset)`: the rows of the user's teams (NetBox's
  `restrict`). Anything else does not exist for the user, so the surfaces
  answer 404 for it, never 403, and an outsider learns nothing.
- `can(user, action, obj)`: whether the user's role in the team that owns
  `obj` allows `action`. A member refused an owner's action gets 403: they
  can see the thing, so saying why tells them nothing new.

`ROLES` is the table the README shows (action -> the roles allowed);
tests/test_access_table.py walks it across the REST API, the gradient CLI
surface, the pages and the run websocket.

An object is tied to its team by a path of foreign keys (`TEAM_PATHS`,
by model label, so this module needs no import of the apps that register
models, such as `runs`); a model with a `team` or `project` field needs no
entry.
"""

from __future__ import annotations

from enum import StrEnum

from django.db.models import F, Model, QuerySet, Value

from workflows.models import Membership


class Action(StrEnum):
    """What a user does to something of a team, in the words of the README's table."""

    VIEW = "view"
    RUN = "run"  # start, re-run and cancel runs
    EDIT_WORKFLOW = "edit workflows"  # create workflows, change their specs
    UPLOAD_DATASET = "upload datasets"  # create datasets, upload versions
    CREATE_PROJECT = "create projects"
    DELETE = "delete"  # projects, workflows, datasets
    MANAGE_SECRETS = "manage secrets"
    MANAGE_CLUSTERS = "manage clusters"
    MANAGE_REGISTRIES = "manage registries"
    MANAGE_REPOSITORY = "manage repository links"
    MANAGE_MEMBERS = "manage members"  # add people, change roles, remove members
    LEAVE = "leave the team"  # the last owner cannot: see services.membership_remove


OWNER = Membership.Role.OWNER.value
MEMBER = Membership.Role.MEMBER.value
EVERYONE = frozenset({OWNER, MEMBER})
OWNERS = frozenset({OWNER})

ROLES: dict[Action, frozenset[str]] = {
    Action.VIEW: EVERYONE,
    Action.RUN: EVERYONE,
    Action.EDIT_WORKFLOW: EVERYONE,
    Action.UPLOAD_DATASET: EVERYONE,
    Action.CREATE_PROJECT: EVERYONE,
    Action.DELETE: OWNERS,
    Action.MANAGE_SECRETS: OWNERS,
    Action.MANAGE_CLUSTERS: OWNERS,
    Action.MANAGE_REGISTRIES: OWNERS,
    Action.MANAGE_REPOSITORY: OWNERS,
    Action.MANAGE_MEMBERS: OWNERS,
    Action.LEAVE: EVERYONE,
}

# Model label -> the foreign-key path from a row to its team ("" for a team).
TEAM_PATHS: dict[str, str] = {
    "workflows.Team": "",
    "workflows.Membership": "team",
    "workflows.DatasetVersion": "dataset__project__team",
    "runs.Run": "workflow__project__team",
    "runs.JobRun": "run__workflow__project__team",
}


def team_path(model: type[Model]) -> str:
    """The foreign-key path from a row of `model` to its team."""
    label = model._meta.label
    if label in TEAM_PATHS:
        return TEAM_PATHS[label]
    names = {field.name for field in model._meta.get_fields()}
    if "team" in names:
        return "team"
    if "project" in names:
        return "project__team"
    raise LookupError(f"{label} belongs to no team: add its path to workflows.access.TEAM_PATHS")


def visible_to(user, queryset: QuerySet) -> QuerySet:
    """The rows of `queryset` in the user's teams, each with `role`: the user's role there."""
    if user is None or not user.is_authenticated:
        return queryset.none()
    path = team_path(queryset.model)
    memberships = f"{path}__memberships" if path else "memberships"
    return queryset.filter(**{f"{memberships}__user": user}).annotate(
        role=F(f"{memberships}__role"), role_user_id=Value(user.pk)
    )


def team_id_of(obj: Model) -> int:
    """The id of the team that owns `obj`, following its team path attribute by attribute."""
    path = team_path(type(obj))
    if not path:
        return obj.pk
    *hops, last = path.split("__")
    for hop in hops:
        obj = getattr(obj, hop)
    return getattr(obj, f"{last}_id")


def role_of(user, obj: Model) -> str | None:
    """The user's role in the team of `obj`, or None for an outsider.

    A row read through `visible_to` for this same user carries it already;
    anything else costs one query.
    """
    if user is None or not user.is_authenticated:
        return None
    if getattr(obj, "role_user_id", None) == user.pk and getattr(obj, "role", None):
        return obj.role
    return (
        Membership.objects.filter(user=user, team_id=team_id_of(obj))
        .values_list("role", flat=True)
        .first()
    )


def can(user, action: Action, obj: Model) -> bool:
    """Whether the user's role in the team of `obj` allows `action` (ROLES)."""
    return role_of(user, obj) in ROLES[action]


def removal_action(user, membership: Membership) -> Action:
    """Removing oneself is leaving the team; removing anyone else is managing its members."""
    return Action.LEAVE if membership.user_id == user.pk else Action.MANAGE_MEMBERS


def refusal(action: Action) -> str:
    """Why a member may not do `action`: the message of every surface's 403."""
    allowed = " or ".join(sorted(f"{role}s" for role in ROLES[action]))
    return f"only the team's {allowed} may {action}; ask one of the team's owners"
