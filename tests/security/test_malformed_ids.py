"""Ids a hostile user types by hand: a clear JSON 404 or 400 on every surface, never a 500.

Found against `make run` after issue 12's work: `str.isdigit()` is true for
"²" (a superscript two), which `int()` refuses, and an id past 64 bits
overflows the database's integer. Each answered an HTML 500 from the REST
API (a run number, a cluster id in a run or manifest request, a `team`
filter) and a JSON 500 from the gradient CLI surface. An API error that
nothing expected is still JSON, so a client never parses an HTML page.
"""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.factories import RunFactory
from workflows.services import api_key_create

SPEC = "jobs:\n  j:\n    uses: container@v1\n    with:\n      image: bash:5\n"
HUGE = "9" * 25


pytestmark = pytest.mark.usefixtures("queued")


@pytest.fixture
def api(member) -> APIClient:
    # Unexpected exceptions become the answer the server would give, not a test error.
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(member)
    return client


@pytest.mark.django_db
class TestRestApi:
    @pytest.mark.parametrize("number", ["²", "١"])
    @pytest.mark.parametrize("tail", ["", "/jobs/j/logs", "/argo-manifest"])
    def test_a_run_number_of_other_digits_is_a_404(self, api, workflow, number, tail):
        RunFactory(workflow=workflow, number=1)

        answer = api.get(f"/api/v1/workflows/{workflow.id}/runs/{number}{tail}")

        assert answer.status_code == 404, answer.content[:200]
        assert answer["Content-Type"] == "application/json"

    @pytest.mark.parametrize("cluster", ["²", HUGE])
    def test_a_malformed_cluster_id_in_a_run_is_a_400(self, api, workflow, cluster):
        answer = api.post(
            f"/api/v1/workflows/{workflow.id}/runs",
            {"spec": SPEC, "clusterId": cluster},
            format="json",
        )

        assert answer.status_code == 400, answer.content[:200]
        assert "clusterId" in answer.json()["detail"]

    @pytest.mark.parametrize("cluster", ["²", HUGE])
    def test_a_malformed_cluster_id_in_a_manifest_request_is_a_404(self, api, workflow, cluster):
        answer = api.post(
            "/api/v1/argo-manifest", {"spec": SPEC, "clusterId": cluster}, format="json"
        )

        assert answer.status_code == 404, answer.content[:200]
        assert answer["Content-Type"] == "application/json"

    @pytest.mark.parametrize(
        "path", ["projects", "clusters", "workflows", "datasets"], ids=lambda p: p
    )
    def test_a_filter_id_past_64_bits_finds_nothing(self, api, workflow, path):
        name = "team" if path in {"projects", "clusters"} else "project"

        answer = api.get(f"/api/v1/{path}?{name}={HUGE}")

        assert answer.status_code == 200, answer.content[:200]
        assert answer.json()["results"] == []

    def test_an_unexpected_error_is_still_json(self, api, workflow, monkeypatch):
        def broken(**kwargs):
            raise RuntimeError("a bug")

        monkeypatch.setattr("workflows.api.views.selectors.team_list", broken)

        answer = api.get("/api/v1/teams")

        assert answer.status_code == 500
        assert answer["Content-Type"] == "application/json"
        assert "server log" in answer.json()["detail"]
        assert "a bug" not in answer.json()["detail"]


@pytest.mark.django_db
class TestGradientCli:
    @pytest.mark.parametrize("number", ["²", "١"])
    def test_a_run_number_of_other_digits_is_a_404(self, member, workflow, number):
        RunFactory(workflow=workflow, number=1)
        _, key = api_key_create(user=member, name="cli")

        answer = Client(HTTP_X_API_KEY=key, raise_request_exception=False).get(
            f"/gradient/workflows/{workflow.id}/runs/{number}"
        )

        assert answer.status_code == 404, answer.content[:200]
        assert "has no run" in answer.json()["error"]["message"]


@pytest.mark.django_db
class TestUnknownApiPaths:
    @pytest.mark.parametrize(
        "path", ["/api/v1/nope", "/api/v1/teams/1/nope", "/api/v2/teams", "/api/nope"]
    )
    def test_an_unknown_api_path_is_a_json_404(self, api, path):
        answer = api.get(path)

        assert answer.status_code == 404
        assert answer["Content-Type"] == "application/json"
        assert "/api/docs/" in answer.json()["detail"]

    def test_anonymous_clients_get_the_same_json_404(self, db):
        answer = Client().post("/api/v1/nope", {})

        assert answer.status_code == 404
        assert answer["Content-Type"] == "application/json"

    def test_a_missing_slash_is_still_added_where_a_page_has_one(self, db):
        answer = Client().get("/api/docs")

        assert (answer.status_code, answer["Location"]) == (301, "/api/docs/")
