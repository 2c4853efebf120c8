"""The roles table of workflows.access, walked across every surface for owner, member, outsider.

The cases are generated from `access.ROLES` (every action the policy knows),
and what should happen comes from `EXPECTED` below, written out by hand from
the README's table: a change to either that the other does not share fails
here. Each probe does the action for real through one surface (the REST API,
the gradient CLI surface, the pages, the run websocket) and reports whether
it happened, read back from the database, and the status it got.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from gradient.asgi import application
from runs.models import Run
from tests.factories import HELLO_SPEC, ClusterFactory, MembershipFactory, RunFactory
from triggers.models import RepositoryLink
from triggers.services import repository_link
from workflows.access import ROLES, Action, can, team_id_of, team_path, visible_to
from workflows.models import (
    ApiKey,
    Dataset,
    Membership,
    Project,
    Secret,
    Team,
    Workflow,
)
from workflows.services import (
    api_key_create,
    dataset_create,
    project_create,
    workflow_create,
    workflow_spec_update,
)

# Written out from the README's roles table, not read from access.ROLES.
EXPECTED = {
    "view": {"owner", "member"},
    "run": {"owner", "member"},
    "edit workflows": {"owner", "member"},
    "upload datasets": {"owner", "member"},
    "create projects": {"owner", "member"},
    "delete": {"owner"},
    "manage secrets": {"owner"},
    "manage clusters": {"owner"},
    "manage registries": {"owner"},
    "manage repository links": {"owner"},
    "manage members": {"owner"},
    "leave the team": {"owner", "member"},
}
ROLE_NAMES = ("owner", "member", "outsider")
# Actions no surface offers yet.
NO_SURFACE: set[Action] = set()


@dataclass
class Scene:
    team: Team
    project: Project
    workflow: Workflow
    spare: Workflow
    dataset: Dataset
    run: Run
    users: dict


@dataclass(frozen=True)
class Outcome:
    done: bool
    status: int


@pytest.fixture
def scene(team, owner, member, outsider, monkeypatch) -> Scene:
    monkeypatch.setattr("runs.queue.run_start", lambda run_id: None)
    monkeypatch.setattr("runs.queue.run_cancel", lambda run_id: None)
    # A second owner, so that the owner may leave (the last one may not).
    MembershipFactory(team=team, role="owner")
    ClusterFactory(team=team, handle="local")
    project = project_create(team=team, name="Vision")
    workflow = workflow_create(project=project, name="train")
    workflow_spec_update(workflow=workflow, text=HELLO_SPEC)
    repository_link(project=project, clone_url="https://git.example.org/vision.git")
    return Scene(
        team=team,
        project=project,
        workflow=workflow,
        spare=workflow_create(project=project, name="old"),
        dataset=dataset_create(project=project, name="images"),
        run=RunFactory(workflow=workflow, spec__text=HELLO_SPEC),
        users={"owner": owner, "member": member, "outsider": outsider},
    )


# -- probes: (scene, user) -> Outcome -------------------------------------------------------


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _cli(user) -> Client:
    _, raw_key = api_key_create(user=user, name="probe")
    return Client(HTTP_X_API_KEY=raw_key)


def _page(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _runs(scene: Scene) -> int:
    return Run.objects.filter(workflow=scene.workflow).count()


def _member_count(scene: Scene) -> int:
    return Membership.objects.filter(team=scene.team).count()


def rest_view(scene, user):
    answer = _api(user).get(f"/api/v1/projects/{scene.project.pk}")
    return Outcome(answer.status_code == 200, answer.status_code)


def rest_run(scene, user):
    before = _runs(scene)
    answer = _api(user).post(
        f"/api/v1/workflows/{scene.workflow.pk}/runs",
        {"spec": "default", "inputs": {}},
        format="json",
    )
    return Outcome(_runs(scene) > before, answer.status_code)


def rest_cancel(scene, user):
    url = f"/api/v1/workflows/{scene.workflow.pk}/runs/{scene.run.number}/cancel"
    answer = _api(user).post(url)
    scene.run.refresh_from_db()
    return Outcome(scene.run.cancel_requested, answer.status_code)


def rest_edit_workflow(scene, user):
    text = HELLO_SPEC.replace("hello", "hi")
    answer = _api(user).put(
        f"/api/v1/workflows/{scene.workflow.pk}/spec", {"spec": text}, format="json"
    )
    scene.workflow.refresh_from_db()
    return Outcome(scene.workflow.default_spec.text == text, answer.status_code)


def rest_upload(scene, user):
    upload = SimpleUploadedFile("a.txt", b"pixels")
    answer = _api(user).post(
        f"/api/v1/datasets/{scene.dataset.pk}/versions", {"files": [upload]}, format="multipart"
    )
    return Outcome(scene.dataset.versions.exists(), answer.status_code)


def rest_create_project(scene, user):
    answer = _api(user).post(
        "/api/v1/projects", {"teamId": scene.team.pk, "name": "Audio"}, format="json"
    )
    return Outcome(
        Project.objects.filter(team=scene.team, name="Audio").exists(), answer.status_code
    )


def rest_delete(scene, user):
    answer = _api(user).delete(f"/api/v1/workflows/{scene.spare.pk}")
    return Outcome(not Workflow.objects.filter(pk=scene.spare.pk).exists(), answer.status_code)


def rest_secret(scene, user):
    answer = _api(user).put(
        f"/api/v1/projects/{scene.project.pk}/secrets/TOKEN", {"value": "v"}, format="json"
    )
    return Outcome(Secret.objects.filter(name="TOKEN").exists(), answer.status_code)


def rest_cluster(scene, user):
    cluster = scene.team.clusters.get(handle="local")
    answer = _api(user).patch(
        f"/api/v1/clusters/{cluster.pk}", {"defaultJobTimeoutSeconds": 60}, format="json"
    )
    cluster.refresh_from_db()
    return Outcome(cluster.default_job_timeout_seconds == 60, answer.status_code)


REGISTRY = {"name": "ghcr", "server": "ghcr.io", "username": "ada", "password": "token"}


def rest_registry(scene, user):
    answer = _api(user).post(
        f"/api/v1/teams/{scene.team.pk}/container-registries", REGISTRY, format="json"
    )
    return Outcome(scene.team.container_registries.exists(), answer.status_code)


def rest_repository(scene, user):
    answer = _api(user).delete(f"/api/v1/projects/{scene.project.handle}/repository")
    return Outcome(not RepositoryLink.objects.exists(), answer.status_code)


def rest_members(scene, user):
    newcomer = MembershipFactory().user
    answer = _api(user).post(
        f"/api/v1/teams/{scene.team.pk}/members", {"user": newcomer.username}, format="json"
    )
    return Outcome(scene.team.memberships.filter(user=newcomer).exists(), answer.status_code)


def rest_leave(scene, user):
    before = _member_count(scene)
    answer = _api(user).delete(f"/api/v1/teams/{scene.team.pk}/members/{user.pk}")
    return Outcome(_member_count(scene) < before, answer.status_code)


def cli_view(scene, user):
    answer = _cli(user).get(f"/gradient/workflows/{scene.workflow.pk}")
    return Outcome(answer.status_code == 200, answer.status_code)


def cli_run(scene, user):
    before = _runs(scene)
    answer = _cli(user).post(
        f"/gradient/workflows/{scene.workflow.pk}/runs", {}, content_type="application/json"
    )
    return Outcome(_runs(scene) > before, answer.status_code)


def cli_edit_workflow(scene, user):
    answer = _cli(user).post(
        "/gradient/workflows",
        {"name": "eval", "projectId": scene.project.handle},
        content_type="application/json",
    )
    return Outcome(Workflow.objects.filter(name="eval").exists(), answer.status_code)


def cli_secret(scene, user):
    answer = _cli(user).put(
        f"/gradient/projects/secrets/TOKEN?projectId={scene.project.handle}",
        {"value": "v"},
        content_type="application/json",
    )
    return Outcome(Secret.objects.filter(name="TOKEN").exists(), answer.status_code)


def cli_team_secret(scene, user):
    answer = _cli(user).put(
        f"/gradient/teams/secrets/TOKEN?teamId={scene.team.handle}",
        {"value": "v"},
        content_type="application/json",
    )
    return Outcome(Secret.objects.filter(name="TOKEN").exists(), answer.status_code)


def page_view(scene, user):
    answer = _page(user).get(reverse("project", args=[scene.project.pk]))
    return Outcome(answer.status_code == 200, answer.status_code)


def page_cancel(scene, user):
    answer = _page(user).post(reverse("run-cancel", args=[scene.workflow.pk, scene.run.number]))
    scene.run.refresh_from_db()
    return Outcome(scene.run.cancel_requested, answer.status_code)


def page_edit_workflow(scene, user):
    answer = _page(user).post(reverse("workflow-new", args=[scene.project.pk]), {"name": "eval"})
    return Outcome(Workflow.objects.filter(name="eval").exists(), answer.status_code)


def page_create_project(scene, user):
    answer = _page(user).post(reverse("project-new"), {"team": scene.team.pk, "name": "Audio"})
    return Outcome(
        Project.objects.filter(team=scene.team, name="Audio").exists(), answer.status_code
    )


def page_secret(scene, user):
    answer = _page(user).post(
        reverse("project-secret-set", args=[scene.project.pk]), {"name": "TOKEN", "value": "v"}
    )
    return Outcome(Secret.objects.filter(name="TOKEN").exists(), answer.status_code)


def page_registry(scene, user):
    answer = _page(user).post(reverse("registry-add", args=[scene.team.pk]), REGISTRY)
    return Outcome(scene.team.container_registries.exists(), answer.status_code)


def page_members(scene, user):
    newcomer = MembershipFactory().user
    answer = _page(user).post(
        reverse("member-add", args=[scene.team.pk]), {"user": newcomer.username, "role": "member"}
    )
    return Outcome(scene.team.memberships.filter(user=newcomer).exists(), answer.status_code)


def page_leave(scene, user):
    before = _member_count(scene)
    answer = _page(user).post(reverse("member-remove", args=[scene.team.pk, user.pk]))
    return Outcome(_member_count(scene) < before, answer.status_code)


WEBSOCKET_REFUSED = 4403


def websocket_view(scene, user):
    async def connect():
        communicator = WebsocketCommunicator(
            application, f"/ws/runs/{scene.run.pk}/", headers=[(b"origin", b"http://localhost")]
        )
        communicator.scope["user"] = user
        await communicator.connect()
        first = await communicator.receive_output(timeout=5)
        await communicator.disconnect()
        return first

    first = async_to_sync(connect)()
    if first["type"] == "websocket.close":
        return Outcome(False, first["code"])
    return Outcome('"snapshot"' in first["text"], 200)


PROBES: dict[str, dict[Action, list[Callable]]] = {
    "rest": {
        Action.VIEW: [rest_view],
        Action.RUN: [rest_run, rest_cancel],
        Action.EDIT_WORKFLOW: [rest_edit_workflow],
        Action.UPLOAD_DATASET: [rest_upload],
        Action.CREATE_PROJECT: [rest_create_project],
        Action.DELETE: [rest_delete],
        Action.MANAGE_SECRETS: [rest_secret],
        Action.MANAGE_CLUSTERS: [rest_cluster],
        Action.MANAGE_REGISTRIES: [rest_registry],
        Action.MANAGE_REPOSITORY: [rest_repository],
        Action.MANAGE_MEMBERS: [rest_members],
        Action.LEAVE: [rest_leave],
    },
    "gradient": {
        Action.VIEW: [cli_view],
        Action.RUN: [cli_run],
        Action.EDIT_WORKFLOW: [cli_edit_workflow],
        Action.MANAGE_SECRETS: [cli_secret, cli_team_secret],
    },
    "pages": {
        Action.VIEW: [page_view],
        Action.RUN: [page_cancel],
        Action.EDIT_WORKFLOW: [page_edit_workflow],
        Action.CREATE_PROJECT: [page_create_project],
        Action.MANAGE_SECRETS: [page_secret],
        Action.MANAGE_REGISTRIES: [page_registry],
        Action.MANAGE_MEMBERS: [page_members],
        Action.LEAVE: [page_leave],
    },
    "websocket": {Action.VIEW: [websocket_view]},
}
# What a refusal looks like on each surface, for a member and for an outsider.
# A team named in a request's body, not its URL, is a field to fix for an
# outsider (400, "you are not in a team with id N"), as for any other bad id.
FIELD_REFUSED = {rest_create_project: 400}
REFUSED = {
    "rest": {"member": 403, "outsider": 404},
    "gradient": {"member": 403, "outsider": 404},
    "pages": {"member": 403, "outsider": 404},
    "websocket": {"member": WEBSOCKET_REFUSED, "outsider": WEBSOCKET_REFUSED},
}


def _cases():
    for action in ROLES:
        for surface, by_action in PROBES.items():
            for probe in by_action.get(action, []):
                for role in ROLE_NAMES:
                    marks = (
                        [pytest.mark.django_db(transaction=True)]
                        if surface == "websocket"
                        else [pytest.mark.django_db]
                    )
                    yield pytest.param(
                        surface, action, probe, role, marks=marks, id=f"{probe.__name__}-{role}"
                    )


@pytest.mark.parametrize(("surface", "action", "probe", "role"), list(_cases()))
def test_the_roles_table_holds(scene, redis_url, surface, action, probe, role):
    allowed = role in EXPECTED[action.value]

    outcome = probe(scene, scene.users[role])

    assert outcome.done == allowed, f"{role} {'could not' if allowed else 'could'} {action}"
    if allowed:
        assert outcome.status < 400
    else:
        refused = REFUSED[surface][role]
        if role == "outsider":
            refused = FIELD_REFUSED.get(probe, refused)
        assert outcome.status == refused


def test_every_action_of_the_policy_is_expected_and_walked():
    assert set(EXPECTED) == {action.value for action in ROLES}
    walked = {action for by_action in PROBES.values() for action in by_action}
    assert set(ROLES) - walked == NO_SURFACE


@pytest.mark.django_db
def test_a_row_read_through_visible_to_answers_can_without_a_query(
    team, owner, member, django_assert_num_queries
):
    project = project_create(team=team, name="Vision")
    seen = visible_to(member, Project.objects.filter(pk=project.pk)).get()
    plain = Project.objects.get(pk=project.pk)

    with django_assert_num_queries(0):
        assert can(member, Action.RUN, seen)
        assert not can(member, Action.MANAGE_SECRETS, seen)
    # Read for someone else, the row's role is not the member's: the database is asked.
    as_owner = visible_to(owner, Project.objects.filter(pk=project.pk)).get()
    with django_assert_num_queries(1):
        assert not can(member, Action.MANAGE_SECRETS, as_owner)
    with django_assert_num_queries(1):
        assert can(owner, Action.MANAGE_SECRETS, plain)


@pytest.mark.django_db
def test_runs_and_jobs_reach_their_team_through_the_registered_paths(team, member, outsider):
    run = RunFactory(workflow__project__team=team)

    assert list(visible_to(member, Run.objects.all())) == [run]
    assert not visible_to(outsider, Run.objects.all()).exists()
    assert team_id_of(run) == team.pk
    assert can(member, Action.RUN, run) and not can(outsider, Action.VIEW, run)


def test_a_model_that_belongs_to_no_team_is_refused_loudly():
    with pytest.raises(LookupError, match="belongs to no team"):
        team_path(ApiKey)
