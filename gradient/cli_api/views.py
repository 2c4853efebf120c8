"""The HTTP surface the `gradient` CLI v2 talks to, under /gradient.

Each view logs in by API key, finds what it needs among the user's teams
(anything else is a 404), asks workflows.access whether the user's role
allows the write (a 403 otherwise), calls one service or selector and answers in the
shape the CLI reads: see docs/gradient-cli-protocol.md for every quirk kept here.
"""

from __future__ import annotations

import uuid

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from gradient.cli_api.endpoint import CliError, cli_endpoint, error_response, json_body, json_param
from gradient.cli_api.shapes import (
    cluster_shape,
    log_rows,
    project_shape,
    run_row,
    workflow_shape,
)
from gradient.cli_api.submissions import spec_text_from_cli
from runs.selectors import (
    jobs_of,
    log_lines,
    run_status_document,
    run_with_everything,
    runs_of,
)
from runs.services import run_submit
from runs.transitions import JOB_FINAL
from workflows.access import Action, can, refusal
from workflows.models import Cluster, Project, Team, Workflow
from workflows.selectors import (
    cluster_list,
    cluster_of,
    default_team_of,
    id_of,
    project_list,
    secret_names,
    team_list,
    workflow_list,
)
from workflows.services import (
    personal_team,
    project_create,
    secret_delete,
    secret_set,
    workflow_create,
)

# The CLI asks for 10000 log lines by default; a page never holds more.
MAX_LOG_ROWS = 10000
# `clusters list` asks again (interactively) while a page is full; 20 is its page size.
DEFAULT_CLUSTER_PAGE = 20


def _project(user, handle: object) -> Project:
    projects = project_list(user=user).select_related("team")
    project = projects.filter(handle=str(handle)).first() if handle else None
    if project is None:
        raise CliError(f'there is no project "{handle}" in your teams', status=404)
    return project


def _workflow(user, workflow_id: str) -> Workflow:
    try:
        key = uuid.UUID(workflow_id)
    except ValueError:
        key = None
    workflows = workflow_list(user=user).select_related("project__team", "default_spec")
    workflow = workflows.filter(pk=key).first() if key else None
    if workflow is None:
        raise CliError(f'there is no workflow "{workflow_id}" in your teams', status=404)
    return workflow


def _team(user, handle: str) -> Team:
    team = team_list(user=user).filter(handle=handle).first()
    if team is None:
        raise CliError(f'there is no team "{handle}" that you are a member of', status=404)
    return team


def _cluster(user, handle: str) -> Cluster:
    cluster = cluster_of(user, handle)
    if cluster is None:
        raise CliError(f'there is no cluster "{handle}" in your teams', status=404)
    return cluster


def _allowed(user, action: Action, obj) -> None:
    """A 403 the CLI prints when the user's role in the team of `obj` does not allow `action`."""
    if not can(user, action, obj):
        raise CliError(refusal(action), status=403)


def _int_param(request: HttpRequest, name: str, default: int, *, minimum: int) -> int:
    raw = request.GET.get(name, "")
    try:
        value = int(raw) if raw != "" else default
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise CliError(f"{name} must be a whole number of at least {minimum}, not {raw!r}")
    return value


@cli_endpoint("GET", "POST")
def projects(request: HttpRequest, user) -> HttpResponse:
    """`projects create` (POST) and `projects list` / `details` (GET, a `filter` JSON).

    The list is wrapped in `{"data": [...]}`, unlike every other list here:
    the CLI reads `data`. Projects have no tags, so a tag filter matches none.
    """
    if request.method == "POST":
        body = json_body(request)
        team = default_team_of(user) or personal_team(user)
        _allowed(user, Action.CREATE_PROJECT, team)
        project = project_create(team=team, name=body.get("name"))
        return JsonResponse(project_shape(project), status=201)
    where = json_param(request, "filter").get("where")
    queryset = project_list(user=user).select_related("team").order_by("-created", "-id")
    if isinstance(where, dict) and where.get("handle"):
        queryset = queryset.filter(handle=str(where["handle"]))
    if request.GET.getlist("tagFilter"):
        queryset = queryset.none()
    data = [project_shape(project) for project in queryset]
    return JsonResponse({"data": data, "meta": {"totalItems": len(data)}})


@cli_endpoint("GET")
def team_namespace(request: HttpRequest, user) -> HttpResponse:
    """A bare JSON string: the handle of the team the CLI acts in (it builds a link with it)."""
    team = default_team_of(user)
    return JsonResponse(team.handle if team else "", safe=False)


@cli_endpoint("GET", "POST")
def workflows(request: HttpRequest, user) -> HttpResponse:
    """`workflows create` (POST `{name, projectId}`) and `workflows list` (a bare array)."""
    if request.method == "POST":
        body = json_body(request)
        if not body.get("projectId"):
            raise CliError("projectId is required: the handle of the project to create it in")
        project = _project(user, body["projectId"])
        _allowed(user, Action.EDIT_WORKFLOW, project)
        workflow = workflow_create(project=project, name=body.get("name"), user=user)
        return JsonResponse(workflow_shape(workflow), status=201)
    queryset = (
        workflow_list(user=user)
        .select_related("project__team", "default_spec")
        .order_by("created", "id")
    )
    project_id = request.GET.get("filter[where][projectId]")
    if project_id:
        queryset = queryset.filter(project=_project(user, project_id))
    return JsonResponse([workflow_shape(workflow) for workflow in queryset], safe=False)


@cli_endpoint("GET")
def workflow_detail(request: HttpRequest, user, workflow_id: str) -> HttpResponse:
    """`workflows get`, printed as JSON whatever the status, so errors stay JSON too."""
    return JsonResponse(workflow_shape(_workflow(user, workflow_id), with_spec=True))


@cli_endpoint("GET", "POST")
def workflow_runs(request: HttpRequest, user, workflow_id: str) -> HttpResponse:
    """`workflows get --show-runs` (GET, newest first) and `workflows run` (POST).

    The run request holds the spec as parsed YAML and the inputs file's
    object; the CLI prints `status.logId` of the answer.
    """
    workflow = _workflow(user, workflow_id)
    if request.method == "GET":
        runs = runs_of(user).filter(workflow=workflow).summary().order_by("-number")
        return JsonResponse([run_row(run) for run in runs], safe=False)
    _allowed(user, Action.RUN, workflow)
    body = json_body(request)
    if body.get("run") is False:
        raise CliError("this server runs every spec it is sent; leave out run: false")
    cluster_id = body.get("clusterId")
    run = run_submit(
        workflow=workflow,
        spec_text=spec_text_from_cli(body.get("spec")),
        inputs=body.get("inputs"),
        cluster_id=str(cluster_id) if cluster_id is not None else None,
        user=user,
        make_default=bool(body.get("markDefault")),
        idempotency_key=request.headers.get("Idempotency-Key"),
    )
    return JsonResponse(run_status_document(run), status=201)


@cli_endpoint("GET")
def workflow_run(request: HttpRequest, user, workflow_id: str, number: str) -> HttpResponse:
    """`workflows get --show-runs --run N` and the first step of `workflows logs`."""
    workflow = _workflow(user, workflow_id)
    runs = run_with_everything(runs_of(user).filter(workflow=workflow))
    run = runs.filter(number=id_of(number)).first() if id_of(number) is not None else None
    if run is None:
        raise CliError(f'workflow "{workflow.name}" has no run {number}', status=404)
    return JsonResponse(run_status_document(run))


@cli_endpoint("GET")
def job_logs(request: HttpRequest, user) -> HttpResponse:
    """`workflows logs`: `?jobId=LOGID&line=L&limit=K`, where `line` counts from 1 inclusive.

    The CLI asks from line 0 and the SDK's follow loop from line 1; both get
    the job's first line first.
    """
    line = _int_param(request, "line", 0, minimum=0)
    limit = min(_int_param(request, "limit", MAX_LOG_ROWS, minimum=1), MAX_LOG_ROWS)
    log_id = request.GET.get("jobId", "")
    job = jobs_of(user).filter(log_id=log_id).first() if log_id else None
    if job is None:
        raise CliError(f'there is no job with log id "{log_id}" in your teams', status=404)
    # The phase is read before the lines: a job that had ended then has written all of them.
    ended = job.phase in JOB_FINAL
    lines = log_lines(job, after_line=max(line - 1, 0), limit=limit)
    rows = log_rows(job, lines, ended=ended, requested_line=line, limit=limit)
    return JsonResponse(rows, safe=False)


def _secret_owner(request: HttpRequest, user, scope: str) -> dict:
    """The team, project or cluster a secrets request is about, from `?{scope}Id=`."""
    param = f"{scope}Id"
    handle = request.GET.get(param, "")
    if scope == "team":
        team = _team(user, handle) if handle else default_team_of(user)
        if team is None:
            raise CliError("you are in no team yet", status=404)
        return {"team": team}
    if not handle:
        raise CliError(f"{param} is required for {scope} secrets (--id)")
    if scope == "project":
        project = _project(user, handle)
        return {"team": project.team, "project": project}
    cluster = _cluster(user, handle)
    return {"team": cluster.team, "cluster": cluster}


@cli_endpoint("GET")
def secrets_list(request: HttpRequest, user, scope: str) -> HttpResponse:
    """`secrets list`: a bare array of names; values never leave the server."""
    names = secret_names(scope=scope, **_secret_owner(request, user, scope))
    return JsonResponse([{"name": name} for name in names], safe=False)


@cli_endpoint("PUT", "DELETE")
def secret_detail(request: HttpRequest, user, scope: str, name: str) -> HttpResponse:
    """`secrets set` (PUT `{"value"}`) and `secrets delete`; the CLI ignores the answer's body."""
    owner = _secret_owner(request, user, scope)
    _allowed(user, Action.MANAGE_SECRETS, owner[scope])
    if request.method == "PUT":
        secret_set(scope=scope, name=name, value=json_body(request).get("value"), **owner)
        return JsonResponse({"name": name, "scope": scope})
    secret_delete(scope=scope, name=name, **owner)
    return HttpResponse(status=204)


@cli_endpoint("GET")
def clusters_list(request: HttpRequest, user) -> HttpResponse:
    """`clusters list`: a bare array, paged by the `filter` JSON's `limit` and `offset`."""
    page = json_param(request, "filter")
    limit, offset = page.get("limit", DEFAULT_CLUSTER_PAGE), page.get("offset", 0)
    if not isinstance(limit, int) or not isinstance(offset, int) or limit < 1 or offset < 0:
        raise CliError("filter.limit and filter.offset must be whole numbers")
    clusters = cluster_list(user=user).select_related("team").order_by("team_id", "handle", "id")
    return JsonResponse(
        [cluster_shape(cluster) for cluster in clusters[offset : offset + limit]], safe=False
    )


@csrf_exempt
def not_found(request: HttpRequest, path: str = "") -> HttpResponse:
    """Any other path: a JSON 404 the CLI can print (it crashes on Django's HTML page)."""
    return error_response(
        f"{request.method} {request.path} is not part of this server's gradient API", 404
    )
