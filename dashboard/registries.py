"""The project page's container registries section: the team's registries, owners add and delete.

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


def _owned_project(request: HttpRequest, project_id: int):
    """The project, if the user may manage its team's registries: 404 for outsiders, else 403."""
    project = selectors.project_get(user=request.user, project_id=project_id)
    if project is None:
        raise Http404
    if not can(request.user, Action.MANAGE_REGISTRIES, project):
        raise PermissionDenied(refusal(Action.MANAGE_REGISTRIES))
    return project


def _back(project) -> HttpResponse:
    return redirect(reverse("project", args=[project.pk]) + "#registries")


@login_required
@require_POST
def registry_add(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _owned_project(request, project_id)
    form = ContainerRegistryForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"The registry was not added: {first_error(form)}")
        return _back(project)
    try:
        registry = services.container_registry_create(team=project.team, **form.cleaned_data)
    except services.InvalidRequest as error:
        messages.error(request, f"The registry was not added: {error.message}")
    else:
        messages.success(request, f"Registry “{registry.name}” is added.")
    return _back(project)


@login_required
@require_POST
def registry_delete(request: HttpRequest, project_id: int, name: str) -> HttpResponse:
    project = _owned_project(request, project_id)
    registry = selectors.container_registry_get(team=project.team, name=name)
    if registry is None:
        messages.error(request, f"There is no registry “{name}”.")
    else:
        services.container_registry_delete(registry=registry)
        messages.success(request, f"Registry “{name}” is deleted.")
    return _back(project)
