"""/api/v1/teams and /api/v1/clusters: what the user belongs to."""

import pytest

from tests.factories import ClusterFactory, MembershipFactory, TeamFactory


@pytest.mark.django_db
class TestTeams:
    @pytest.mark.parametrize(("who", "role"), [("owner", "owner"), ("member", "member")])
    def test_the_list_shows_my_teams_with_my_role(self, as_user, team, who, role, outsider):
        body = as_user(who).get("/api/v1/teams").json()

        assert body["count"] == 1
        (listed,) = body["results"]
        assert listed["id"] == team.id
        assert listed["role"] == role
        assert set(listed) == {"id", "name", "handle", "created", "role"}

    def test_an_outsider_lists_only_their_own_team(self, as_user, team, outsider):
        body = as_user("outsider").get("/api/v1/teams").json()

        assert [listed["id"] for listed in body["results"]] != [team.id]
        assert body["count"] == 1

    @pytest.mark.parametrize(
        ("who", "expected"), [("owner", 200), ("member", 200), ("outsider", 404), (None, 401)]
    )
    def test_detail(self, as_user, team, owner, member, who, expected):
        answer = as_user(who).get(f"/api/v1/teams/{team.id}")

        assert answer.status_code == expected
        if expected == 200:
            members = answer.json()["members"]
            assert sorted((m["username"], m["role"]) for m in members) == sorted(
                [(owner.username, "owner"), (member.username, "member")]
            )

    @pytest.mark.parametrize("team_id", ["999999", "abc", "1.5", "-1"])
    def test_an_unknown_team_is_a_json_404(self, as_user, owner, team_id):
        answer = as_user("owner").get(f"/api/v1/teams/{team_id}")

        assert answer.status_code == 404
        assert answer.json() == {"detail": f"there is no team {team_id} that you can see"}

    def test_list_queries_do_not_grow_with_teams(self, as_user, owner, django_assert_num_queries):
        for _ in range(5):
            MembershipFactory(user=owner, team=TeamFactory())
        client = as_user("owner")

        # The count, the page.
        with django_assert_num_queries(2):
            assert client.get("/api/v1/teams").json()["count"] == 6

    def test_detail_queries_do_not_grow_with_members(
        self, as_user, team, owner, django_assert_num_queries
    ):
        for _ in range(5):
            MembershipFactory(team=team)
        client = as_user("owner")

        # The team with my role; its memberships with their users.
        with django_assert_num_queries(2):
            assert len(client.get(f"/api/v1/teams/{team.id}").json()["members"]) == 6


@pytest.mark.django_db
class TestClusters:
    @pytest.fixture
    def argo_cluster(self, team):
        return ClusterFactory(
            team=team, handle="gpu", kind="argo", namespace="ml", instance_types={"P4000": {}}
        )

    @pytest.mark.parametrize(("who", "count"), [("owner", 1), ("member", 1), ("outsider", 0)])
    def test_the_list_shows_my_teams_clusters(self, as_user, argo_cluster, who, count):
        body = as_user(who).get(f"/api/v1/clusters?team={argo_cluster.team_id}").json()

        assert body["count"] == count

    @pytest.mark.parametrize(
        ("who", "expected"), [("owner", 200), ("member", 200), ("outsider", 404), (None, 401)]
    )
    def test_detail(self, as_user, argo_cluster, who, expected):
        answer = as_user(who).get(f"/api/v1/clusters/{argo_cluster.id}")

        assert answer.status_code == expected
        if expected == 200:
            assert answer.json() == {
                "id": argo_cluster.id,
                "handle": "gpu",
                "name": "gpu",
                "kind": "argo",
                "teamId": argo_cluster.team_id,
                "namespace": "ml",
                "allowNetwork": True,
                "instanceTypes": ["P4000"],
                "defaultInstanceType": "",
                "defaultJobTimeoutSeconds": None,
                "created": answer.json()["created"],
            }

    def test_a_bad_team_filter_is_400(self, as_user, owner):
        answer = as_user("owner").get("/api/v1/clusters?team=abc")

        assert answer.status_code == 400
        assert answer.json()["detail"].startswith("team: ")

    def test_detail_is_one_query(self, as_user, argo_cluster, owner, django_assert_num_queries):
        client = as_user("owner")

        with django_assert_num_queries(1):
            assert client.get(f"/api/v1/clusters/{argo_cluster.id}").status_code == 200

    def test_list_queries_do_not_grow_with_clusters(
        self, as_user, team, owner, django_assert_num_queries
    ):
        for _ in range(4):
            ClusterFactory(team=team)
        client = as_user("owner")

        with django_assert_num_queries(2):
            assert client.get("/api/v1/clusters").json()["count"] == 4
