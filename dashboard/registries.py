"""The team page's container registries: owners add and delete them (the project page lists them).

Names, servers and usernames are shown; the password goes in once through
the form and is never rendered back.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from dashboard.forms import ContainerRegistryForm, first_error
from workflows import selectors, services
from workflows.access import Action, can, refusal


def _managed_team(request: HttpRequest, team_id: int):
    """The team, if the user may manage its registries: 404 for outsiders, 403 for members."""
    team = selectors.team_get(user=request.user, team_id=team_id)
    if team is None:
        raise Http404
    if not can(request.user, Action.MANAGE_REGISTRIES, team):
        raise PermissionDenied(refusal(Action.MANAGE_REGISTRIES))
    return team


def _back(team) -> HttpResponse:
    return redirect(reverse("team", args=[team.pk]) + "#registries")


@login_required
@require_POST
def registry_add(request: HttpRequest, team_id: int) -> HttpResponse:
    team = _managed_team(request, team_id)
    form = ContainerRegistryForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"The registry was not added: {first_error(form)}")
        return _back(team)
    try:
        registry = services.container_registry_create(team=team, **form.cleaned_data)
    except services.InvalidRequest as error:
        messages.error(request, f"The registry was not added: {error.message}")
    else:
        messages.success(request, f"Registry “{registry.name}” is added.")
    return _back(team)


@login_required
@require_POST
def registry_delete(request: HttpRequest, team_id: int, name: str) -> HttpResponse:
    team = _managed_team(request, team_id)
    registry = selectors.container_registry_get(team=team, name=name)
    if registry is None:
        messages.error(request, f"There is no registry “{name}”.")
    else:
        services.container_registry_delete(registry=registry)
        messages.success(request, f"Registry “{name}” is deleted.")
    return _back(team)
