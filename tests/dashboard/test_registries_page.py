"""Container registries on the pages: owners add and delete them on the team page, the project
page lists them, and nobody sees a password."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from workflows.models import ContainerRegistry
from workflows.services import container_registry_create

pytestmark = pytest.mark.django_db
PASSWORD = "Pa55-registry-do-not-leak"
FORM = {"name": "ghcr", "server": "ghcr.io", "username": "ada", "password": PASSWORD}


def text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def registry(scene):
    return container_registry_create(
        team=scene.project.team, name="quay", server="quay.io", username="bot", password=PASSWORD
    )


def team_url(scene, name: str, *args) -> str:
    return reverse(name, args=[scene.project.team.pk, *args])


@pytest.mark.parametrize("page", ["team", "project"])
def test_members_see_names_servers_and_usernames_never_the_password(
    client, scene, member, registry, page
):
    client.force_login(member)
    url = team_url(scene, "team") if page == "team" else reverse("project", args=[scene.project.pk])

    shown = text(client.get(url))

    assert 'id="registries"' in shown
    assert "quay" in shown and "bot@quay.io" in shown
    assert PASSWORD not in shown
    assert team_url(scene, "registry-add") not in shown


def test_the_project_page_sends_owners_to_the_team_page(client, scene, owner, registry):
    client.force_login(owner)

    shown = text(client.get(reverse("project", args=[scene.project.pk])))

    assert f"{team_url(scene, 'team')}#registries" in shown
    assert team_url(scene, "registry-add") not in shown


def test_owners_add_and_delete_registries_on_the_team_page(client, scene, owner):
    client.force_login(owner)
    assert team_url(scene, "registry-add") in text(client.get(team_url(scene, "team")))

    response = client.post(team_url(scene, "registry-add"), FORM, follow=True)

    assert "Registry “ghcr” is added." in text(response)
    assert "ada@ghcr.io" in text(response)
    assert PASSWORD not in text(response)
    assert ContainerRegistry.objects.filter(team=scene.project.team, name="ghcr").exists()

    response = client.post(team_url(scene, "registry-delete", "ghcr"), follow=True)

    assert "Registry “ghcr” is deleted." in text(response)
    assert not ContainerRegistry.objects.filter(name="ghcr").exists()


def test_a_bad_server_is_refused_with_the_reason_and_no_password(client, scene, owner):
    client.force_login(owner)

    response = client.post(
        team_url(scene, "registry-add"), {**FORM, "server": "https://ghcr.io"}, follow=True
    )

    assert 'The registry was not added: write the server without "https://"' in text(response)
    assert PASSWORD not in text(response)
    assert not ContainerRegistry.objects.exists()


def test_members_may_not_add_or_delete(client, scene, member, registry):
    client.force_login(member)

    assert client.post(team_url(scene, "registry-add"), FORM).status_code == 403
    assert client.post(team_url(scene, "registry-delete", "quay")).status_code == 403
    assert list(ContainerRegistry.objects.values_list("name", flat=True)) == ["quay"]


def test_outsiders_get_404(client, scene, outsider, registry):
    client.force_login(outsider)

    assert client.post(team_url(scene, "registry-delete", "quay")).status_code == 404
    assert ContainerRegistry.objects.exists()
