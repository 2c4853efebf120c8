"""The team page (members, roles, leaving) and the profile page (API keys), as people use them."""

from __future__ import annotations

import html
import re

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import MembershipFactory, UserFactory
from workflows.models import ApiKey, Membership
from workflows.services import api_key_authenticate, api_key_create

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return html.unescape(response.content.decode())


def _roles(team) -> dict[str, str]:
    return dict(Membership.objects.filter(team=team).values_list("user__username", "role"))


def test_an_owner_runs_the_team_from_the_dashboard(client, team, owner, member):
    """Add by email, promote, demote, remove, and hand the team on: no Django admin needed."""
    UserFactory(username="ada", email="ada@example.org")
    client.force_login(owner)
    page = reverse("team", args=[team.pk])
    assert member.username in text(client.get(page))

    added = client.post(
        reverse("member-add", args=[team.pk]), {"user": "ada@example.org", "role": "member"}
    )
    ada = Membership.objects.get(team=team, user__username="ada").user
    promoted = client.post(reverse("member-role", args=[team.pk, ada.pk]), {"role": "owner"})
    demoted = client.post(reverse("member-role", args=[team.pk, member.pk]), {"role": "member"})
    removed = client.post(reverse("member-remove", args=[team.pk, member.pk]), follow=True)

    assert [added.status_code, promoted.status_code, demoted.status_code] == [302] * 3
    assert f"{member.username} is no longer in the team." in text(removed)
    assert _roles(team) == {owner.username: "owner", "ada": "owner"}

    left = client.post(reverse("member-remove", args=[team.pk, owner.pk]), follow=True)
    assert f"You left {team.name}." in text(left)
    assert _roles(team) == {"ada": "owner"}
    assert client.get(page).status_code == 404


def test_mistakes_are_explained_on_the_page(client, team, owner, member):
    client.force_login(owner)
    add = reverse("member-add", args=[team.pk])

    unknown = client.post(add, {"user": "nobody", "role": "member"}, follow=True)
    twice = client.post(add, {"user": member.username, "role": "member"}, follow=True)
    last = client.post(reverse("member-remove", args=[team.pk, owner.pk]), follow=True)
    demote = client.post(
        reverse("member-role", args=[team.pk, owner.pk]), {"role": "member"}, follow=True
    )

    assert 'there is no user with the username or email "nobody"' in text(unknown)
    assert f"{member.username} is already a member" in text(twice)
    assert "last owner and cannot leave the team" in text(last)
    assert "last owner and cannot become a member" in text(demote)
    assert _roles(team) == {owner.username: "owner", member.username: "member"}


def test_a_member_sees_the_team_leaves_it_and_changes_nothing_else(client, team, owner, member):
    other = MembershipFactory(team=team).user
    client.force_login(member)

    page = text(client.get(reverse("team", args=[team.pk])))
    assert "Only the team's owners add people" in page
    assert reverse("member-add", args=[team.pk]) not in page
    refused = [
        client.post(reverse("member-add", args=[team.pk]), {"user": "x", "role": "member"}),
        client.post(reverse("member-role", args=[team.pk, member.pk]), {"role": "owner"}),
        client.post(reverse("member-remove", args=[team.pk, other.pk])),
    ]
    assert [answer.status_code for answer in refused] == [403] * 3

    assert client.post(reverse("member-remove", args=[team.pk, member.pk])).status_code == 302
    assert member.username not in _roles(team)


def test_an_outsider_gets_404_for_the_team_and_its_forms(client, team, owner, member, outsider):
    client.force_login(outsider)

    answers = [
        client.get(reverse("team", args=[team.pk])),
        client.post(reverse("member-add", args=[team.pk]), {"user": "x", "role": "member"}),
        client.post(reverse("member-role", args=[team.pk, member.pk]), {"role": "owner"}),
        client.post(reverse("member-remove", args=[team.pk, member.pk])),
    ]

    assert [answer.status_code for answer in answers] == [404] * 4
    assert _roles(team) == {owner.username: "owner", member.username: "member"}


def test_a_user_creates_a_key_sees_it_once_and_revokes_it(client, member):
    client.force_login(member)

    created = client.post(reverse("api-key-new"), {"name": "laptop"})
    raw_key = re.search(r"data-new-key>([^<]+)<", created.content.decode()).group(1)
    listed = text(client.get(reverse("profile")))

    assert created.status_code == 200
    assert created["Cache-Control"] == "no-store"
    assert api_key_authenticate(raw_key) == member
    assert "laptop" in listed and raw_key[:10] in listed
    assert raw_key not in listed
    assert Client().get("/api/v1/teams", HTTP_X_API_KEY=raw_key).status_code == 200

    key = ApiKey.objects.get(user=member)
    client.post(reverse("api-key-revoke", args=[key.pk]))
    assert api_key_authenticate(raw_key) is None
    assert Client().get("/api/v1/teams", HTTP_X_API_KEY=raw_key).status_code == 401


def test_nobody_revokes_another_users_key(client, member, owner):
    key, raw_key = api_key_create(user=owner, name="ci")
    client.force_login(member)

    assert client.post(reverse("api-key-revoke", args=[key.pk])).status_code == 404
    assert key.prefix not in text(client.get(reverse("profile")))
    assert api_key_authenticate(raw_key) == owner


def test_a_key_needs_a_name(client, member):
    client.force_login(member)

    answer = client.post(reverse("api-key-new"), {"name": ""}, follow=True)

    assert "No key was created: name: This field is required." in text(answer)
    assert not ApiKey.objects.exists()
