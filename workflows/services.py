"""Writes for teams and projects."""

from __future__ import annotations

import secrets
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.text import slugify

from workflows.models import Cluster, Membership, Project, Team

DEMO_USERNAME = "demo"


def _unique_handle(model, name: str) -> str:
    base = slugify(name)[:50] or "item"
    handle, suffix = base, 1
    while model.objects.filter(handle=handle).exists():
        suffix += 1
        handle = f"{base}-{suffix}"
    return handle


@transaction.atomic
def team_create(*, name: str, owner) -> Team:
    team = Team.objects.create(name=name, handle=_unique_handle(Team, name))
    Membership.objects.create(team=team, user=owner, role=Membership.Role.OWNER)
    Cluster.objects.create(team=team, handle="local", name="Local engine", kind=Cluster.Kind.LOCAL)
    return team


@transaction.atomic
def project_create(*, team: Team, name: str) -> Project:
    return Project.objects.create(team=team, name=name, handle=_unique_handle(Project, name))


@transaction.atomic
def demo_setup(*, password_file: Path) -> tuple[object, bool]:
    """Create the demo user, team and project once; return (user, created).

    The demo password is generated on first start and kept in the data
    folder, so a fresh machine never has a well-known password.
    """
    User = get_user_model()
    user = User.objects.filter(username=DEMO_USERNAME).first()
    if user is not None:
        return user, False
    password = secrets.token_urlsafe(12)
    user = User.objects.create_user(
        username=DEMO_USERNAME, password=password, is_staff=True, is_superuser=True
    )
    team = team_create(name="Demo team", owner=user)
    project_create(team=team, name="Demo project")
    password_file.write_text(password + "\n")
    password_file.chmod(0o600)
    return user, True
