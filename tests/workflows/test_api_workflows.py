"""/api/v1/workflows: list, create, detail, delete, and the default spec as text or JSON."""

import pytest

from runs.models import RunPhase
from tests.factories import RunFactory, WorkflowFactory
from workflows.models import StoredSpec, Workflow

SPEC = """\
jobs:
  hello:
    uses: container@v1
    with:
      image: bash:5
      args: ["echo", "hello"]
"""
INVALID_SPEC = """\
jobs:
  hello:
    uses: container@v1
    runs-on: ubuntu
    with:
      image: bash:5
      args: ["echo", 1]
"""


def _spec_url(workflow) -> str:
    return f"/api/v1/workflows/{workflow.id}/spec"


@pytest.mark.django_db
class TestWorkflows:
    @pytest.mark.parametrize(("who", "count"), [("owner", 1), ("member", 1), ("outsider", 0)])
    def test_the_list_shows_my_projects_workflows(self, as_user, workflow, who, count):
        body = as_user(who).get(f"/api/v1/workflows?project={workflow.project_id}").json()

        assert body["count"] == count

    def test_the_answer_shape(self, as_user, workflow, owner):
        answer = as_user("owner").get(f"/api/v1/workflows/{workflow.id}").json()

        assert answer == {
            "id": str(workflow.id),
            "name": workflow.name,
            "projectId": workflow.project_id,
            "created": answer["created"],
            "createdBy": None,
            "hasDefaultSpec": False,
        }

    @pytest.mark.parametrize(
        ("who", "expected"), [("owner", 201), ("member", 201), ("outsider", 400), (None, 401)]
    )
    def test_create(self, as_user, project, who, expected):
        answer = as_user(who).post(
            "/api/v1/workflows", {"name": "etl", "projectId": project.id}, format="json"
        )

        assert answer.status_code == expected
        assert Workflow.objects.filter(name="etl").exists() == (expected == 201)
        if expected == 201:
            assert answer.json()["createdBy"] is not None

    def test_create_refuses_a_duplicate_name(self, as_user, workflow):
        answer = as_user("owner").post(
            "/api/v1/workflows",
            {"name": workflow.name, "projectId": workflow.project_id},
            format="json",
        )

        assert answer.status_code == 400
        assert "already has a workflow" in answer.json()["detail"]

    @pytest.mark.parametrize(
        ("who", "expected"), [("owner", 200), ("member", 200), ("outsider", 404), (None, 401)]
    )
    def test_detail(self, as_user, workflow, who, expected):
        assert as_user(who).get(f"/api/v1/workflows/{workflow.id}").status_code == expected

    @pytest.mark.parametrize("workflow_id", ["not-a-uuid", "0b7e7a68-5f3e-4f43-9a55-3f0d1c3a2b11"])
    def test_an_unknown_workflow_is_a_json_404(self, as_user, owner, workflow_id):
        answer = as_user("owner").get(f"/api/v1/workflows/{workflow_id}")

        assert answer.status_code == 404
        assert answer.json() == {"detail": f"there is no workflow {workflow_id} that you can see"}

    @pytest.mark.parametrize(
        ("who", "expected"), [("owner", 204), ("member", 403), ("outsider", 404), (None, 401)]
    )
    def test_only_owners_delete(self, as_user, workflow, who, expected):
        RunFactory(workflow=workflow, number=1, phase=RunPhase.SUCCEEDED)

        answer = as_user(who).delete(f"/api/v1/workflows/{workflow.id}")

        assert answer.status_code == expected
        assert Workflow.objects.filter(pk=workflow.pk).exists() == (expected != 204)

    def test_delete_is_refused_while_a_run_is_pending(self, as_user, workflow):
        RunFactory(workflow=workflow, number=1, phase=RunPhase.PENDING)

        answer = as_user("owner").delete(f"/api/v1/workflows/{workflow.id}")

        assert answer.status_code == 409
        assert Workflow.objects.filter(pk=workflow.pk).exists()

    def test_list_queries_do_not_grow_with_workflows(
        self, as_user, project, owner, django_assert_num_queries
    ):
        for _ in range(5):
            WorkflowFactory(project=project, created_by=owner)
        client = as_user("owner")

        with django_assert_num_queries(2):
            assert client.get("/api/v1/workflows").json()["count"] == 5

    def test_detail_is_one_query(self, as_user, workflow, owner, django_assert_num_queries):
        client = as_user("owner")

        with django_assert_num_queries(1):
            client.get(f"/api/v1/workflows/{workflow.id}")


@pytest.mark.django_db
class TestDefaultSpec:
    @pytest.mark.parametrize(
        ("who", "expected"), [("owner", 200), ("member", 200), ("outsider", 404), (None, 401)]
    )
    def test_put_then_get(self, as_user, workflow, who, expected):
        answer = as_user(who).put(_spec_url(workflow), {"spec": SPEC}, format="json")

        assert answer.status_code == expected
        if expected == 200:
            assert answer.json()["spec"] == SPEC
            assert as_user(who).get(_spec_url(workflow)).json()["spec"] == SPEC
        else:
            workflow.refresh_from_db()
            assert workflow.default_spec is None

    @pytest.mark.parametrize(
        ("who", "expected"), [("owner", 200), ("member", 200), ("outsider", 404), (None, 401)]
    )
    def test_get(self, as_user, workflow, who, expected):
        as_user("owner").put(_spec_url(workflow), {"spec": SPEC}, format="json")

        answer = as_user(who).get(_spec_url(workflow))

        assert answer.status_code == expected
        assert answer.json().get("spec") == (SPEC if expected == 200 else None)

    def test_text_plain_in_and_out(self, as_user, workflow):
        client = as_user("owner")

        put = client.put(_spec_url(workflow), SPEC, content_type="text/plain; charset=utf-8")
        got = client.get(_spec_url(workflow), HTTP_ACCEPT="text/plain")

        assert put.status_code == 200
        assert got["Content-Type"].startswith("text/plain")
        assert got.content.decode() == SPEC

    def test_an_invalid_spec_is_400_with_every_error_and_changes_nothing(self, as_user, workflow):
        client = as_user("owner")
        client.put(_spec_url(workflow), {"spec": SPEC}, format="json")
        specs = StoredSpec.objects.count()

        answer = client.put(_spec_url(workflow), {"spec": INVALID_SPEC}, format="json")

        assert answer.status_code == 400
        body = answer.json()
        assert body["detail"].startswith("the spec is not valid: ")
        located = {(e["path"], e["line"]) for e in body["errors"]}
        assert {("jobs.hello.runs-on", 4), ("jobs.hello.with.args[1]", 7)} <= located
        assert StoredSpec.objects.count() == specs
        assert client.get(_spec_url(workflow)).json()["spec"] == SPEC

    def test_invalid_yaml_is_an_error_at_its_line(self, as_user, workflow):
        answer = as_user("owner").put(
            _spec_url(workflow), "jobs:\n  a: [\n", content_type="text/plain"
        )

        assert answer.status_code == 400
        assert answer.json()["errors"][0]["line"] >= 2

    def test_a_spec_over_one_mib_is_413(self, as_user, workflow):
        answer = as_user("owner").put(
            _spec_url(workflow), SPEC + "#" * (1024 * 1024), content_type="text/plain"
        )

        assert answer.status_code == 413
        assert StoredSpec.objects.count() == 0

    def test_a_text_body_that_is_not_utf8_is_400(self, as_user, workflow):
        answer = as_user("owner").put(
            _spec_url(workflow), b"jobs: \xff\xfe", content_type="text/plain"
        )

        assert answer.status_code == 400
        assert "UTF-8" in answer.json()["detail"]

    def test_no_default_spec_yet_is_404_saying_how_to_set_one(self, as_user, workflow):
        answer = as_user("owner").get(_spec_url(workflow))

        assert answer.status_code == 404
        assert "PUT one" in answer.json()["detail"]

    @pytest.mark.parametrize(
        ("body", "detail"),
        [({}, "spec: This field is required."), ({"spec": ["jobs"]}, "spec: must be a string")],
    )
    def test_a_json_body_needs_the_spec_text(self, as_user, workflow, body, detail):
        answer = as_user("owner").put(_spec_url(workflow), body, format="json")

        assert answer.status_code == 400
        assert answer.json() == {"detail": detail}
