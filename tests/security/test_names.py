"""Names with NUL or other control characters are refused with a 400, on every surface.

Found against `make run` after issue 12's work: the gradient CLI surface
hands a JSON body's `name` straight to the services, so a project or
workflow named "a\\u0000b" was created on SQLite and is a 500 on PostgreSQL
(its text columns cannot hold NUL); a name holding CR/LF was stored too. The
REST API's serializers refuse NUL already; the services now refuse control
characters for every caller.
"""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import ProjectFactory
from workflows.models import Project, Workflow
from workflows.services import api_key_create

BAD_NAMES = ["a\u0000b", "a\r\nb", "tab\there", "bell\u0007"]


@pytest.fixture
def cli(owner) -> Client:
    _, key = api_key_create(user=owner, name="cli")
    return Client(HTTP_X_API_KEY=key, raise_request_exception=False)


@pytest.mark.django_db
@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
class TestControlCharacters:
    def test_a_project_name_is_refused(self, cli, team, name):
        answer = cli.post("/gradient/projects", {"name": name}, content_type="application/json")

        assert answer.status_code == 400, answer.content[:200]
        assert "control characters" in answer.json()["error"]["message"]
        assert not Project.objects.filter(team=team).exists()

    def test_a_workflow_name_is_refused(self, cli, team, name):
        project = ProjectFactory(team=team)

        answer = cli.post(
            "/gradient/workflows",
            {"name": name, "projectId": project.handle},
            content_type="application/json",
        )

        assert answer.status_code == 400, answer.content[:200]
        assert "control characters" in answer.json()["error"]["message"]
        assert not Workflow.objects.filter(project=project).exists()

    def test_a_dataset_name_is_refused_over_rest(self, as_user, owner, team, name):
        project = ProjectFactory(team=team)

        answer = as_user("owner").post(
            "/api/v1/datasets", {"name": name, "projectId": project.id}, format="json"
        )

        assert answer.status_code == 400, answer.content[:200]
        assert not project.datasets.exists()
