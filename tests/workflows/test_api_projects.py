"""/api/v1/projects: list, create, detail, delete (owners only)."""

import pytest

from runs.models import RunPhase
from tests.factories import ProjectFactory, RunFactory, TeamFactory, WorkflowFactory
from workflows.models import Project, Workflow


@pytest.mark.django_db
class TestList:
    @pytest.mark.parametrize(("who", "count"), [("owner", 1), ("member", 1), ("outsider", 0)])
    def test_shows_only_my_teams_projects(self, as_user, project, who, count, outsider):
        ProjectFactory(team=TeamFactory())

        body = as_user(who).get("/api/v1/projects").json()

        assert body["count"] == count

    def test_filters_by_team(self, as_user, project, owner):
        other = TeamFactory()
        other.memberships.create(user=owner, role="member")
        ProjectFactory(team=other)
        client = as_user("owner")

        assert client.get("/api/v1/projects").json()["count"] == 2
        filtered = client.get(f"/api/v1/projects?team={project.team_id}").json()
        assert [p["id"] for p in filtered["results"]] == [project.id]

    def test_the_answer_shape(self, as_user, project):
        (listed,) = as_user("owner").get("/api/v1/projects").json()["results"]

        assert listed == {
            "id": project.id,
            "name": project.name,
            "handle": project.handle,
            "teamId": project.team_id,
            "created": listed["created"],
        }

    def test_queries_do_not_grow_with_projects(
        self, as_user, team, owner, django_assert_num_queries
    ):
        for _ in range(6):
            ProjectFactory(team=team)
        client = as_user("owner")

        with django_assert_num_queries(2):
            assert client.get("/api/v1/projects").json()["count"] == 6


@pytest.mark.django_db
class TestCreate:
    @pytest.mark.parametrize(
        ("who", "expected"), [("owner", 201), ("member", 201), ("outsider", 400), (None, 401)]
    )
    def test_in_a_team_i_belong_to(self, as_user, team, who, expected):
        answer = as_user(who).post(
            "/api/v1/projects", {"name": "Speech", "teamId": team.id}, format="json"
        )

        assert answer.status_code == expected
        assert Project.objects.filter(name="Speech").exists() == (expected == 201)

    def test_another_teams_id_does_not_say_whether_it_exists(self, as_user, team, outsider):
        answer = as_user("outsider").post(
            "/api/v1/projects", {"name": "Speech", "teamId": team.id}, format="json"
        )
        missing = as_user("outsider").post(
            "/api/v1/projects", {"name": "Speech", "teamId": 987654}, format="json"
        )

        def detail(team_id: int) -> str:
            return f"teamId: you are not in a team with id {team_id}; GET /api/v1/teams lists yours"

        assert answer.json() == {"detail": detail(team.id)}
        assert missing.json() == {"detail": detail(987654)}

    def test_a_duplicate_name_is_400(self, as_user, project):
        answer = as_user("owner").post(
            "/api/v1/projects", {"name": project.name, "teamId": project.team_id}, format="json"
        )

        assert answer.status_code == 400
        assert answer.json() == {
            "detail": f'this team already has a project named "{project.name}"'
        }

    @pytest.mark.parametrize(
        ("body", "detail"),
        [
            ({}, "name: This field is required.; teamId: This field is required."),
            ({"name": "", "teamId": 1}, "name: This field may not be blank."),
            ({"name": 5, "teamId": 1}, "name: must be a string"),
            ({"name": "x", "teamId": "one"}, "teamId: must be a whole number (an id)"),
            ({"name": "x", "teamId": True}, "teamId: must be a whole number (an id)"),
            (
                {"name": "x" * 201, "teamId": 1},
                "name: Ensure this field has no more than 200 characters.",
            ),
            ([1, 2], "Invalid data. Expected a dictionary, but got list."),
        ],
    )
    def test_wrong_shapes_are_400_naming_the_field(self, as_user, team, owner, body, detail):
        answer = as_user("owner").post("/api/v1/projects", body, format="json")

        assert answer.status_code == 400
        assert answer.json() == {"detail": detail}


@pytest.mark.django_db
class TestDetailAndDelete:
    @pytest.mark.parametrize(
        ("who", "expected"), [("owner", 200), ("member", 200), ("outsider", 404), (None, 401)]
    )
    def test_detail(self, as_user, project, who, expected):
        assert as_user(who).get(f"/api/v1/projects/{project.id}").status_code == expected

    @pytest.mark.parametrize(
        ("who", "expected"), [("owner", 204), ("member", 403), ("outsider", 404), (None, 401)]
    )
    def test_only_owners_delete(self, as_user, project, who, expected):
        WorkflowFactory(project=project)

        answer = as_user(who).delete(f"/api/v1/projects/{project.id}")

        assert answer.status_code == expected
        assert Project.objects.filter(pk=project.pk).exists() == (expected != 204)
        if expected == 403:
            assert "owner" in answer.json()["detail"]

    def test_delete_is_refused_while_a_run_has_not_ended(self, as_user, project):
        workflow = WorkflowFactory(project=project)
        RunFactory(workflow=workflow, number=1, phase=RunPhase.RUNNING)

        answer = as_user("owner").delete(f"/api/v1/projects/{project.id}")

        assert answer.status_code == 409
        assert "1 run(s) still pending or running" in answer.json()["detail"]
        assert Workflow.objects.filter(pk=workflow.pk).exists()

    def test_detail_is_one_query(self, as_user, project, owner, django_assert_num_queries):
        client = as_user("owner")

        with django_assert_num_queries(1):
            client.get(f"/api/v1/projects/{project.id}")
