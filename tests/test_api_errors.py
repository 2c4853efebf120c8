"""Under /api/ and /gradient/ every error answer is JSON: never Django's HTML pages."""

import pytest
from django.test import Client

from workflows.services import api_key_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(owner) -> Client:
    # What a server answers, not the exception the test client would re-raise.
    signed_in = Client(raise_request_exception=False)
    signed_in.force_login(owner)
    return signed_in


def json_detail(answer) -> str:
    assert answer["Content-Type"] == "application/json", answer.content[:200]
    body = answer.json()
    assert "Traceback" not in answer.content.decode()
    return body["detail"]


@pytest.mark.parametrize(
    "url", ["/api/v1/nothing-here", "/api/v1/projects/", "/api/nothing", "/api/v1/validate/x"]
)
def test_an_unknown_url_is_a_json_404(client, url):
    answer = client.get(url)

    assert answer.status_code == 404
    assert json_detail(answer) == (
        f"GET {url}: there is no such URL in this API; /api/docs/ lists its endpoints"
    )


@pytest.mark.parametrize(
    ("method", "url"),
    [("post", "/api/docs/"), ("put", "/api/schema/"), ("delete", "/api/v1/validate")],
)
def test_a_refused_method_is_a_json_405(client, method, url):
    answer = getattr(client, method)(url)

    assert answer.status_code == 405
    assert method.upper() in json_detail(answer)
    assert answer["Allow"]


def test_an_exception_in_an_api_view_is_a_json_500_without_a_traceback(client, monkeypatch):
    def broken(text):
        raise RuntimeError("an internal detail the client must not see")

    monkeypatch.setattr("workflows.services.spec_checked", broken)

    answer = client.post("/api/v1/validate", {"spec": "jobs: {}"}, content_type="application/json")

    assert answer.status_code == 500
    assert json_detail(answer) == "internal server error; the server log has the details"
    assert b"internal detail" not in answer.content


def test_an_exception_around_a_cli_view_is_a_json_500_the_cli_can_print(owner, monkeypatch):
    key = api_key_create(user=owner, name="cli")[1]

    def broken(raw_key):
        raise RuntimeError("an internal detail the client must not see")

    monkeypatch.setattr("gradient.cli_api.endpoint.api_key_authenticate", broken)

    answer = Client(raise_request_exception=False, headers={"X-API-Key": key}).get(
        "/gradient/workflows"
    )

    assert answer.status_code == 500
    message = "internal server error; the server log has the details"
    assert json_detail(answer) == message
    assert answer.json()["error"] == {"message": message}


def test_pages_outside_the_api_keep_their_html_404(client):
    answer = client.get("/no-such-page")

    assert answer.status_code == 404
    assert answer["Content-Type"].startswith("text/html")
