"""/api/v1/teams/<id>/members: owners add, promote, demote and remove; anyone may leave."""

import pytest

from tests.factories import MembershipFactory, UserFactory
from workflows.models import Membership


def _members(team) -> dict[str, str]:
    return dict(Membership.objects.filter(team=team).values_list("user__username", "role"))


@pytest.mark.django_db
class TestAdd:
    def test_an_owner_adds_a_user_by_username_or_email(self, as_user, team, owner):
        UserFactory(username="ada")
        UserFactory(username="grace", email="Grace@Example.org")
        client = as_user("owner")

        by_name = client.post(f"/api/v1/teams/{team.id}/members", {"user": "ada"}, format="json")
        by_email = client.post(
            f"/api/v1/teams/{team.id}/members",
            {"user": "grace@example.org", "role": "owner"},
            format="json",
        )

        assert by_name.status_code == by_email.status_code == 201
        assert by_name.json()["username"] == "ada"
        assert by_name.json()["role"] == "member"
        assert _members(team) == {owner.username: "owner", "ada": "member", "grace": "owner"}

    def test_the_list_shows_ids_names_and_roles(self, as_user, team, owner, member):
        answer = as_user("member").get(f"/api/v1/teams/{team.id}/members")

        assert answer.status_code == 200
        assert sorted((m["userId"], m["username"], m["role"]) for m in answer.json()) == sorted(
            [(owner.id, owner.username, "owner"), (member.id, member.username, "member")]
        )

    def test_the_list_is_two_queries_however_many_members(
        self, as_user, team, owner, django_assert_num_queries
    ):
        for _ in range(5):
            MembershipFactory(team=team)
        client = as_user("owner")

        # The team with my role; its memberships with their users.
        with django_assert_num_queries(2):
            assert len(client.get(f"/api/v1/teams/{team.id}/members").json()) == 6

    @pytest.mark.parametrize(
        ("body", "status", "detail"),
        [
            ({"user": "nobody"}, 400, 'there is no user with the username or email "nobody"'),
            ({"user": ""}, 400, "user"),
            ({}, 400, "user"),
            ({"user": "ada", "role": "admin"}, 400, "role"),
            ({"user": 7}, 400, "user"),
        ],
    )
    def test_bad_requests_say_what_to_fix(self, as_user, team, owner, body, status, detail):
        UserFactory(username="ada")

        answer = as_user("owner").post(f"/api/v1/teams/{team.id}/members", body, format="json")

        assert answer.status_code == status
        assert detail in answer.json()["detail"]
        assert set(_members(team)) == {owner.username}

    def test_an_email_two_users_share_asks_for_the_username(self, as_user, team, owner):
        UserFactory(username="ada", email="lab@example.org")
        UserFactory(username="grace", email="LAB@example.org")

        answer = as_user("owner").post(
            f"/api/v1/teams/{team.id}/members", {"user": "lab@example.org"}, format="json"
        )

        assert answer.status_code == 400
        assert "give the username instead" in answer.json()["detail"]

    def test_someone_already_in_the_team_is_a_conflict(self, as_user, team, owner, member):
        answer = as_user("owner").post(
            f"/api/v1/teams/{team.id}/members", {"user": member.username}, format="json"
        )

        assert answer.status_code == 409
        assert answer.json()["detail"].startswith(f"{member.username} is already a member")

    @pytest.mark.parametrize(("who", "status"), [("member", 403), ("outsider", 404), (None, 401)])
    def test_only_owners_add(self, as_user, team, owner, member, outsider, who, status):
        UserFactory(username="ada")

        answer = as_user(who).post(
            f"/api/v1/teams/{team.id}/members", {"user": "ada"}, format="json"
        )

        assert answer.status_code == status
        assert "ada" not in _members(team)


@pytest.mark.django_db
class TestRolesAndLeaving:
    def test_an_owner_promotes_and_demotes(self, as_user, team, owner, member):
        client = as_user("owner")
        url = f"/api/v1/teams/{team.id}/members/{member.id}"

        assert client.patch(url, {"role": "owner"}, format="json").json()["role"] == "owner"
        assert _members(team)[member.username] == "owner"
        assert client.patch(url, {"role": "member"}, format="json").status_code == 200
        assert _members(team)[member.username] == "member"

    def test_a_member_cannot_promote_themselves(self, as_user, team, owner, member):
        answer = as_user("member").patch(
            f"/api/v1/teams/{team.id}/members/{member.id}", {"role": "owner"}, format="json"
        )

        assert answer.status_code == 403
        assert "owners may manage members" in answer.json()["detail"]
        assert _members(team)[member.username] == "member"

    def test_the_last_owner_cannot_step_down_or_leave(self, as_user, team, owner, member):
        client = as_user("owner")
        url = f"/api/v1/teams/{team.id}/members/{owner.id}"

        demoted = client.patch(url, {"role": "member"}, format="json")
        left = client.delete(url)

        assert demoted.status_code == left.status_code == 409
        assert "last owner" in left.json()["detail"]
        assert _members(team)[owner.username] == "owner"

    def test_an_owner_may_leave_once_there_is_another(self, as_user, team, owner, member):
        client = as_user("owner")
        client.patch(
            f"/api/v1/teams/{team.id}/members/{member.id}", {"role": "owner"}, format="json"
        )

        assert client.delete(f"/api/v1/teams/{team.id}/members/{owner.id}").status_code == 204
        assert _members(team) == {member.username: "owner"}

    def test_a_member_leaves_but_removes_nobody_else(self, as_user, team, owner, member):
        other = MembershipFactory(team=team).user
        client = as_user("member")

        refused = client.delete(f"/api/v1/teams/{team.id}/members/{other.id}")
        left = client.delete(f"/api/v1/teams/{team.id}/members/{member.id}")

        assert (refused.status_code, left.status_code) == (403, 204)
        assert set(_members(team)) == {owner.username, other.username}
        assert as_user("member").get(f"/api/v1/teams/{team.id}").status_code == 404

    def test_an_owner_removes_a_member(self, as_user, team, owner, member):
        answer = as_user("owner").delete(f"/api/v1/teams/{team.id}/members/{member.id}")

        assert answer.status_code == 204
        assert set(_members(team)) == {owner.username}

    @pytest.mark.parametrize("user_id", ["999999", "abc"])
    def test_an_unknown_member_is_a_json_404(self, as_user, team, owner, user_id):
        answer = as_user("owner").delete(f"/api/v1/teams/{team.id}/members/{user_id}")

        assert answer.status_code == 404
        assert answer.json() == {
            "detail": f"there is no member {user_id} of team {team.id} that you can see"
        }

    def test_an_outsider_cannot_touch_members(self, as_user, team, owner, member, outsider):
        client = as_user("outsider")
        url = f"/api/v1/teams/{team.id}/members/{member.id}"

        assert client.patch(url, {"role": "owner"}, format="json").status_code == 404
        assert client.delete(url).status_code == 404
        assert _members(team)[member.username] == "member"
