"""/api/v1/validate, /api/v1/spec-schema and the OpenAPI schema of the whole API."""

import io

import pytest
from django.core.management import call_command
from drf_spectacular.drainage import reset_generator_stats
from rest_framework.test import APIClient

VALID = """\
jobs:
  hello:
    uses: container@v1
    with:
      image: bash:5
"""
INVALID = """\
jobs:
  hello:
    use: container@v1
    needs: [nobody]
"""


@pytest.fixture
def client(outsider) -> APIClient:
    """Any signed-in user may validate: an outsider of the fixtures' team will do."""
    api = APIClient()
    api.force_authenticate(outsider)
    return api


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "expected"), [("owner", 200), ("member", 200), ("outsider", 200), (None, 401)]
)
@pytest.mark.parametrize(
    ("method", "url", "body"),
    [("post", "/api/v1/validate", {"spec": VALID}), ("get", "/api/v1/spec-schema", None)],
)
def test_any_signed_in_user_may_validate(request, team, who, expected, method, url, body):
    api = APIClient()
    if who is not None:
        api.force_authenticate(request.getfixturevalue(who))

    answer = getattr(api, method)(url, body, format="json")

    assert answer.status_code == expected


@pytest.mark.django_db
class TestValidate:
    def test_a_valid_spec(self, client):
        answer = client.post("/api/v1/validate", {"spec": VALID}, format="json")

        assert answer.status_code == 200
        assert answer.json() == {"valid": True, "errors": []}

    def test_every_error_with_where_it_is_and_a_hint(self, client):
        answer = client.post("/api/v1/validate", INVALID, content_type="text/plain")

        assert answer.status_code == 200
        body = answer.json()
        assert body["valid"] is False
        by_path = {error["path"]: error for error in body["errors"]}
        assert by_path["jobs.hello.use"]["line"] == 3
        assert by_path["jobs.hello.use"]["hint"] == 'did you mean "uses"?'
        assert by_path["jobs.hello.needs[0]"]["line"] == 4
        assert {error["document"] for error in body["errors"]} == {"spec"}

    @pytest.mark.parametrize("text", ["", "   ", "jobs: [", "- a\n- b", "\t"])
    def test_anything_that_is_text_gets_an_answer(self, client, text):
        answer = client.post("/api/v1/validate", {"spec": text}, format="json")

        assert answer.status_code == 200
        assert answer.json()["valid"] is False

    def test_a_spec_over_one_mib_is_413(self, client):
        answer = client.post(
            "/api/v1/validate", VALID + "#" * (1024 * 1024), content_type="text/plain"
        )

        assert answer.status_code == 413
        assert answer.json() == {
            "detail": "the spec is larger than 1024 KiB; split it into several workflows"
        }

    def test_a_body_far_over_the_limit_is_413_before_it_is_parsed(self, client):
        answer = client.post(
            "/api/v1/validate",
            b'{"spec": "' + b"a" * (5 * 1024 * 1024) + b'"}',
            content_type="application/json",
        )

        assert answer.status_code == 413
        assert answer.json()["detail"].startswith("the request body is larger than")

    @pytest.mark.parametrize(
        ("body", "content_type", "status"),
        [
            (b'{"spec": ', "application/json", 400),
            (b'{"spec": 3}', "application/json", 400),
            (b"spec=x", "application/x-www-form-urlencoded", 415),
        ],
    )
    def test_a_malformed_request_is_a_4xx_with_a_detail(self, client, body, content_type, status):
        answer = client.post("/api/v1/validate", body, content_type=content_type)

        assert answer.status_code == status
        assert set(answer.json()) == {"detail"}

    def test_signing_in_is_needed(self, db):
        assert APIClient().post("/api/v1/validate", {"spec": VALID}).status_code == 401


@pytest.mark.django_db
class TestSchemas:
    def test_the_spec_schema_is_a_json_schema(self, client):
        answer = client.get("/api/v1/spec-schema")

        assert answer.status_code == 200
        assert answer.json()["$schema"].startswith("https://json-schema.org/")

    def test_the_openapi_schema_renders(self, client):
        answer = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

        assert answer.status_code == 200
        paths = answer.json()["paths"]
        assert "/api/v1/workflows/{workflow_id}/runs" in paths
        assert "/api/v1/projects/{owner_id}/secrets/{name}" in paths

    def test_the_openapi_schema_of_the_api_has_no_warnings(self):
        # Warnings of earlier schema generations in this process (of other URLs) count otherwise.
        reset_generator_stats()
        out = io.StringIO()

        call_command(
            "spectacular",
            "--urlconf",
            "tests.workflows.test_api_validate",
            "--fail-on-warn",
            "--validate",
            stdout=out,
        )

        assert "/api/v1/datasets/{dataset_id}/versions" in out.getvalue()


def _api_urls():
    from django.urls import include, path

    return [
        path("api/v1/", include("workflows.api.urls")),
        path("api/v1/", include("runs.api.urls")),
    ]


# The URLs the warning check above generates a schema for: this API's, not the whole site's.
urlpatterns = _api_urls()
