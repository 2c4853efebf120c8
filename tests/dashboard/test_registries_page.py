"""The project page's container registries: owners add and delete, nobody sees a password."""

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


def test_members_see_names_servers_and_usernames_never_the_password(
    client, scene, member, registry
):
    client.force_login(member)

    page = text(client.get(reverse("project", args=[scene.project.pk])))

    assert 'id="registries"' in page
    assert "quay" in page and "bot@quay.io" in page
    assert PASSWORD not in page
    assert "Only the team's owners add and delete registries." in page
    assert reverse("project-registry-add", args=[scene.project.pk]) not in page


def test_owners_add_and_delete_registries(client, scene, owner):
    client.force_login(owner)
    add = reverse("project-registry-add", args=[scene.project.pk])

    response = client.post(add, FORM, follow=True)

    assert "Registry “ghcr” is added." in text(response)
    assert "ada@ghcr.io" in text(response)
    assert PASSWORD not in text(response)
    assert ContainerRegistry.objects.filter(team=scene.project.team, name="ghcr").exists()

    delete = reverse("project-registry-delete", args=[scene.project.pk, "ghcr"])
    response = client.post(delete, follow=True)

    assert "Registry “ghcr” is deleted." in text(response)
    assert not ContainerRegistry.objects.filter(name="ghcr").exists()


def test_a_bad_server_is_refused_with_the_reason_and_no_password(client, scene, owner):
    client.force_login(owner)
    add = reverse("project-registry-add", args=[scene.project.pk])

    response = client.post(add, {**FORM, "server": "https://ghcr.io"}, follow=True)

    assert 'The registry was not added: write the server without "https://"' in text(response)
    assert PASSWORD not in text(response)
    assert not ContainerRegistry.objects.exists()


def test_members_may_not_add_or_delete(client, scene, member, registry):
    client.force_login(member)
    add = reverse("project-registry-add", args=[scene.project.pk])
    delete = reverse("project-registry-delete", args=[scene.project.pk, "quay"])

    assert client.post(add, FORM).status_code == 403
    assert client.post(delete).status_code == 403
    assert list(ContainerRegistry.objects.values_list("name", flat=True)) == ["quay"]


def test_outsiders_get_404(client, scene, outsider, registry):
    client.force_login(outsider)
    delete = reverse("project-registry-delete", args=[scene.project.pk, "quay"])

    assert client.post(delete).status_code == 404
    assert ContainerRegistry.objects.exists()
