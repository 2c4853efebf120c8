"""/api/v1/{teams,projects,clusters}/<id>/secrets: names and times out, values only in."""

import logging

import pytest
from django.db import connection

from runs.models import Run
from tests.factories import WorkflowFactory
from workflows.models import Secret
from workflows.secret_values import decrypt_value
from workflows.services import secret_set

VALUE = "s3cr3t-Zebra-7731-do-not-leak"
SPEC_USING_IT = """\
jobs:
  hello:
    uses: container@v1
    with:
      image: bash:5
      args: ["sh", "-c", "echo $TOKEN"]
    env:
      TOKEN: secret:api-token
"""


@pytest.fixture(params=["team", "project", "cluster"])
def scope(request, team, project, cluster) -> tuple[str, str]:
    """(scope, the secrets URL of the fixtures' team, project or cluster)."""
    owner_id = {"team": team.id, "project": project.id, "cluster": cluster.id}[request.param]
    return request.param, f"/api/v1/{request.param}s/{owner_id}/secrets"


def _set(scope_name, team, project, cluster, name="api-token", value="v"):
    return secret_set(
        team=team, scope=scope_name, name=name, value=value, project=project, cluster=cluster
    )


@pytest.mark.django_db
class TestAccess:
    @pytest.mark.parametrize(
        ("who", "expected"), [("owner", 200), ("member", 200), ("outsider", 404), (None, 401)]
    )
    def test_list(self, as_user, scope, who, expected, team, project, cluster):
        _set(scope[0], team, project, cluster)

        answer = as_user(who).get(scope[1])

        assert answer.status_code == expected
        if expected == 200:
            (listed,) = answer.json()
            assert set(listed) == {"name", "scope", "created", "updated"}
            assert (listed["name"], listed["scope"]) == ("api-token", scope[0])

    @pytest.mark.parametrize(
        ("who", "expected"), [("owner", 200), ("member", 403), ("outsider", 404), (None, 401)]
    )
    def test_set(self, as_user, scope, who, expected):
        answer = as_user(who).put(f"{scope[1]}/api-token", {"value": "abc"}, format="json")

        assert answer.status_code == expected
        assert Secret.objects.filter(name="api-token", scope=scope[0]).exists() == (expected == 200)

    @pytest.mark.parametrize(
        ("who", "expected"), [("owner", 204), ("member", 403), ("outsider", 404), (None, 401)]
    )
    def test_delete(self, as_user, scope, who, expected, team, project, cluster):
        _set(scope[0], team, project, cluster)

        answer = as_user(who).delete(f"{scope[1]}/api-token")

        assert answer.status_code == expected
        assert Secret.objects.filter(name="api-token").exists() == (expected != 204)


@pytest.mark.django_db
class TestSecrets:
    def test_setting_again_replaces_the_value(self, as_user, team, project, cluster):
        client = as_user("owner")
        url = f"/api/v1/projects/{project.id}/secrets/api-token"

        client.put(url, {"value": "first"}, format="json")
        client.put(url, {"value": "second"}, format="json")

        (secret,) = Secret.objects.all()
        assert decrypt_value(secret.ciphertext) == "second"

    def test_scopes_do_not_mix(self, as_user, team, project, cluster):
        _set("team", team, project, cluster, name="a")
        _set("project", team, project, cluster, name="b")
        client = as_user("owner")

        team_names = [s["name"] for s in client.get(f"/api/v1/teams/{team.id}/secrets").json()]
        project_names = [
            s["name"] for s in client.get(f"/api/v1/projects/{project.id}/secrets").json()
        ]

        assert (team_names, project_names) == (["a"], ["b"])

    def test_deleting_an_unknown_secret_is_404(self, as_user, team):
        answer = as_user("owner").delete(f"/api/v1/teams/{team.id}/secrets/nope")

        assert answer.status_code == 404
        assert answer.json() == {"detail": 'there is no team secret named "nope"'}

    @pytest.mark.parametrize(
        ("body", "detail"),
        [
            ({}, "value: This field is required."),
            ({"value": ""}, "value: This field may not be blank."),
            ({"value": 12345}, "value: must be a string"),
            ({"value": ["a"]}, "value: must be a string"),
        ],
    )
    def test_a_bad_value_is_400(self, as_user, team, body, detail):
        answer = as_user("owner").put(f"/api/v1/teams/{team.id}/secrets/x", body, format="json")

        assert answer.status_code == 400
        assert answer.json() == {"detail": detail}
        assert not Secret.objects.exists()

    def test_a_bad_name_is_400(self, as_user, team):
        answer = as_user("owner").put(
            f"/api/v1/teams/{team.id}/secrets/bad name!", {"value": VALUE}, format="json"
        )

        assert answer.status_code == 400
        assert "letters, digits" in answer.json()["detail"]

    def test_list_queries(self, as_user, team, project, cluster, django_assert_num_queries):
        for index in range(4):
            _set("project", team, project, cluster, name=f"s{index}")
        client = as_user("owner")

        # The project with my role and its team; its secrets.
        with django_assert_num_queries(2):
            assert len(client.get(f"/api/v1/projects/{project.id}/secrets").json()) == 4


@pytest.mark.django_db
def test_a_secret_value_appears_in_no_answer_log_or_column(
    as_user, team, project, cluster, caplog, queued
):
    """Set a distinctive value everywhere it can be set, touch every endpoint, grep everything."""
    caplog.set_level(logging.DEBUG)
    workflow = WorkflowFactory(project=project)
    client = as_user("owner")
    bodies: list[bytes] = []

    def call(method: str, url: str, *args, **kwargs):
        answer = getattr(client, method)(url, *args, **kwargs)
        bodies.append(answer.content)
        return answer

    urls = {
        "team": f"/api/v1/teams/{team.id}/secrets",
        "project": f"/api/v1/projects/{project.id}/secrets",
        "cluster": f"/api/v1/clusters/{cluster.id}/secrets",
    }
    for url in urls.values():
        assert call("put", f"{url}/api-token", {"value": VALUE}, format="json").status_code == 200
        call("put", f"{url}/api-token", {"value": VALUE}, HTTP_ACCEPT="text/html", format="json")
        call("put", f"{url}/bad name!", {"value": VALUE}, format="json")
        call("put", f"{url}/api-token", {"value": VALUE, "extra": [VALUE]}, format="json")
        call("put", f"{url}/api-token", f'{{"value": "{VALUE}"', content_type="application/json")
        call("get", url)
        call("get", url, HTTP_ACCEPT="text/html")
        call("get", f"{url}/api-token")
    runs = f"/api/v1/workflows/{workflow.id}/runs"
    assert call("post", runs, {"spec": SPEC_USING_IT}, format="json").status_code == 201
    call("post", runs, {"spec": SPEC_USING_IT, "inputs": {"x": {"value": VALUE}}}, format="json")
    for url in [
        runs,
        f"{runs}/1",
        f"{runs}/1/jobs/hello/logs",
        f"/api/v1/teams/{team.id}",
        f"/api/v1/projects/{project.id}",
        f"/api/v1/clusters/{cluster.id}",
        f"/api/v1/workflows/{workflow.id}",
        f"/api/v1/workflows/{workflow.id}/spec",
        "/api/schema/",
    ]:
        call("get", url)
        call("get", url, HTTP_ACCEPT="text/html")
    call("post", "/api/v1/validate", {"spec": SPEC_USING_IT}, format="json")

    assert Run.objects.count() == 1
    assert sum(b"<html" in body for body in bodies) >= 14, "the browsable API was not rendered"
    assert [body[:200] for body in bodies if VALUE.encode() in body] == []
    assert not [record for record in caplog.records if VALUE in record.getMessage()]
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM workflows_secret")
        rows = cursor.fetchall()
    assert len(rows) == 3
    for row in rows:
        for column in row:
            raw = bytes(column) if isinstance(column, bytes | memoryview) else str(column).encode()
            assert VALUE.encode() not in raw
    assert {decrypt_value(secret.ciphertext) for secret in Secret.objects.all()} == {VALUE}
