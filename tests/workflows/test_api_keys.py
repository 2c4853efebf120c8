"""Signing in to the API: API keys (X-API-Key or Bearer) and browser sessions."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.test import APIClient

from workflows.models import ApiKey, Membership


def _create_key(username: str) -> str:
    out = io.StringIO()
    call_command("create_api_key", username, stdout=out, stderr=io.StringIO())
    return out.getvalue().strip().splitlines()[-1]


@pytest.mark.django_db
class TestCreateApiKeyCommand:
    def test_creates_the_user_and_a_personal_team_and_prints_the_key_last(self):
        key = _create_key("alice")

        user = get_user_model().objects.get(username="alice")
        assert not user.has_usable_password()
        (membership,) = Membership.objects.filter(user=user)
        assert membership.role == "owner"
        assert membership.team.clusters.filter(handle="local").exists()
        assert key.startswith("gw_")
        assert ApiKey.objects.filter(user=user).count() == 1
        assert key not in {api_key.key_hash for api_key in ApiKey.objects.all()}

    def test_an_existing_user_gets_another_key_and_keeps_their_team(self, owner, team):
        first = _create_key(owner.username)
        second = _create_key(owner.username)

        assert first != second
        assert ApiKey.objects.filter(user=owner).count() == 2
        assert Membership.objects.filter(user=owner).count() == 1

    def test_the_printed_key_signs_in(self):
        key = _create_key("bob")

        answer = APIClient().get("/api/v1/teams", HTTP_X_API_KEY=key)

        assert answer.status_code == 200
        assert answer.json()["results"][0]["role"] == "owner"


@pytest.mark.django_db
class TestAuthentication:
    @pytest.mark.parametrize("header", ["HTTP_X_API_KEY", "HTTP_AUTHORIZATION"])
    def test_either_header_carries_the_key(self, header):
        key = _create_key("carol")
        value = key if header == "HTTP_X_API_KEY" else f"Bearer {key}"

        assert APIClient().get("/api/v1/teams", **{header: value}).status_code == 200

    def test_a_wrong_key_is_401_saying_so(self, db):
        answer = APIClient().get("/api/v1/teams", HTTP_X_API_KEY="gw_not-a-key")

        assert answer.status_code == 401
        assert answer.json() == {"detail": "this API key is not valid"}
        assert answer["WWW-Authenticate"] == "Bearer"

    def test_no_credentials_is_401(self, db):
        answer = APIClient().get("/api/v1/projects")

        assert answer.status_code == 401
        assert set(answer.json()) == {"detail"}

    def test_a_browser_session_signs_in_and_writes_need_the_csrf_token(self, owner, team):
        client = APIClient(enforce_csrf_checks=True)
        client.force_login(owner)

        read = client.get("/api/v1/teams")
        write = client.post("/api/v1/projects", {"name": "p", "teamId": team.id}, format="json")

        assert read.status_code == 200
        assert write.status_code == 403
        assert "CSRF" in write.json()["detail"]
