"""/api/v1/teams/<id>/container-registries: owners manage them, the password never comes back."""

from __future__ import annotations

import json

import pytest

from workflows.models import ContainerRegistry
from workflows.secret_values import decrypt_value
from workflows.services import container_registry_create

PASSWORD = "ghp_Reg1stry-Passw0rd-do-not-leak"


@pytest.fixture
def registry(team):
    return container_registry_create(
        team=team, name="ghcr", server="ghcr.io", username="ada", password=PASSWORD
    )


def url(team, name: str | None = None) -> str:
    base = f"/api/v1/teams/{team.id}/container-registries"
    return f"{base}/{name}" if name else base


def assert_no_password(answer) -> None:
    assert PASSWORD not in answer.content.decode()
    assert "password" not in (answer.json() if answer.content else {})


BODY = {"name": "quay", "server": "quay.io", "username": "bot", "password": PASSWORD}


@pytest.mark.django_db
class TestAccess:
    @pytest.mark.parametrize(
        ("who", "expected"), [("owner", 200), ("member", 200), ("outsider", 404), (None, 401)]
    )
    def test_list(self, as_user, team, registry, who, expected):
        answer = as_user(who).get(url(team))

        assert answer.status_code == expected
        assert_no_password(answer)

    @pytest.mark.parametrize(
        ("who", "expected"), [("owner", 201), ("member", 403), ("outsider", 404), (None, 401)]
    )
    def test_create(self, as_user, team, who, expected):
        answer = as_user(who).post(url(team), BODY, format="json")

        assert answer.status_code == expected
        assert_no_password(answer)
        assert ContainerRegistry.objects.filter(name="quay").exists() == (expected == 201)

    @pytest.mark.parametrize(
        ("who", "expected"), [("owner", 200), ("member", 403), ("outsider", 404), (None, 401)]
    )
    def test_update(self, as_user, team, registry, who, expected):
        answer = as_user(who).patch(url(team, "ghcr"), {"username": "grace"}, format="json")

        assert answer.status_code == expected
        assert_no_password(answer)
        registry.refresh_from_db()
        assert registry.username == ("grace" if expected == 200 else "ada")

    @pytest.mark.parametrize(
        ("who", "expected"), [("owner", 204), ("member", 403), ("outsider", 404), (None, 401)]
    )
    def test_delete(self, as_user, team, registry, who, expected):
        answer = as_user(who).delete(url(team, "ghcr"))

        assert answer.status_code == expected
        assert ContainerRegistry.objects.filter(pk=registry.pk).exists() == (expected != 204)


@pytest.mark.django_db
class TestRegistries:
    def test_created_registry_is_shown_without_its_password(self, as_user, team):
        answer = as_user("owner").post(url(team), BODY, format="json")

        assert answer.status_code == 201
        body = answer.json()
        assert {key: body[key] for key in ("name", "server", "username")} == {
            "name": "quay",
            "server": "quay.io",
            "username": "bot",
        }
        assert_no_password(answer)
        stored = ContainerRegistry.objects.get(name="quay")
        assert PASSWORD.encode() not in bytes(stored.password_ciphertext)
        assert decrypt_value(stored.password_ciphertext) == PASSWORD

    def test_the_listing_and_one_registry_hold_no_password(self, as_user, team, registry):
        listing = as_user("member").get(url(team))
        one = as_user("member").get(url(team, "ghcr"))

        assert [item["name"] for item in listing.json()] == ["ghcr"]
        assert set(listing.json()[0]) == {"name", "server", "username", "created", "updated"}
        assert one.json()["server"] == "ghcr.io"
        assert_no_password(listing)
        assert_no_password(one)

    def test_a_new_password_replaces_the_old_one(self, as_user, team, registry):
        answer = as_user("owner").patch(url(team, "ghcr"), {"password": "new-token"}, format="json")

        assert answer.status_code == 200
        assert "new-token" not in answer.content.decode()
        registry.refresh_from_db()
        assert decrypt_value(registry.password_ciphertext) == "new-token"
        assert registry.username == "ada"

    @pytest.mark.parametrize(
        ("change", "field", "says"),
        [
            ({"server": "https://ghcr.io"}, "server", 'without "https://"'),
            ({"server": "ghcr io"}, "server", "a host name with an optional port"),
            ({"server": ""}, "server", "a registry needs a server"),
            ({"username": "a:b"}, "username", "no ':'"),
            ({"password": ""}, "password", "non-empty password"),
            ({"name": "no spaces please"}, "name", "a registry name is 1 to 200 letters"),
            ({"name": ""}, "name", "a registry name is"),
        ],
    )
    def test_bad_fields_are_a_clear_400_without_the_password(
        self, as_user, team, change, field, says
    ):
        answer = as_user("owner").post(url(team), {**BODY, **change}, format="json")

        assert answer.status_code == 400
        assert answer["Content-Type"] == "application/json"
        assert says in answer.json()["detail"]
        assert_no_password(answer)
        assert not ContainerRegistry.objects.exists()

    def test_a_missing_field_is_a_400(self, as_user, team):
        answer = as_user("owner").post(
            url(team), {"name": "x", "password": PASSWORD}, format="json"
        )

        assert answer.status_code == 400
        assert "server" in answer.json()["detail"]
        assert_no_password(answer)

    def test_a_taken_name_is_a_409_without_the_password(self, as_user, team, registry):
        answer = as_user("owner").post(url(team), {**BODY, "name": "ghcr"}, format="json")

        assert answer.status_code == 409
        assert 'a registry named "ghcr" already' in answer.json()["detail"]
        assert_no_password(answer)

    def test_an_unknown_registry_is_a_json_404(self, as_user, team):
        answer = as_user("owner").get(url(team, "nope"))

        assert answer.status_code == 404
        assert 'container registry "nope"' in answer.json()["detail"]

    def test_names_are_unique_per_team_only(self, as_user, team, outsider, registry):
        other_team = outsider.teams.get()

        answer = as_user("outsider").post(url(other_team), {**BODY, "name": "ghcr"}, format="json")

        assert answer.status_code == 201

    def test_the_server_is_kept_as_image_names_spell_it(self, as_user, team):
        answer = as_user("owner").post(
            url(team), {**BODY, "server": " registry.example.com:5000/team/ "}, format="json"
        )

        assert answer.json()["server"] == "registry.example.com:5000/team"

    def test_the_schema_marks_the_password_write_only(self, as_user):
        schema = json.loads(
            as_user("owner").get("/api/schema/", HTTP_ACCEPT="application/json").content
        )
        create = schema["components"]["schemas"]["ContainerRegistryCreate"]
        assert create["properties"]["password"]["writeOnly"] is True
        assert "password" not in schema["components"]["schemas"]["ContainerRegistry"]["properties"]


@pytest.mark.django_db
def test_the_listing_is_a_fixed_number_of_queries(as_user, team, owner, django_assert_num_queries):
    for index in range(5):
        container_registry_create(
            team=team, name=f"r{index}", server="ghcr.io", username="u", password=PASSWORD
        )
    client = as_user("owner")

    with django_assert_num_queries(3):
        answer = client.get(url(team))

    assert len(answer.json()) == 5
