"""The dashboard's pages. Each view reads one selector (or calls one service) and renders."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from dashboard import selectors
from dashboard.forms import (
    ApiKeyForm,
    MemberAddForm,
    MemberRoleForm,
    ProjectForm,
    RerunForm,
    SecretForm,
    WorkflowForm,
    first_error,
)
from runs import services as run_services
from runs.selectors import log_lines
from workflows import services as workflow_services
from workflows.access import Action, can, refusal, removal_action
from workflows.models import Secret
from workflows.selectors import membership_get, project_get, team_get

LOG_PAGE_LINES = 5000


def _found(value):
    """The value, or a 404 for anything the user may not see (it does not exist for them)."""
    if value is None:
        raise Http404
    return value


def _allowed(request: HttpRequest, action: Action, obj):
    """`obj` (found for the user, else 404) if their role allows `action` on it, else 403."""
    _found(obj)
    if not can(request.user, action, obj):
        raise PermissionDenied(refusal(action))
    return obj


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    context = selectors.home_page(user=request.user)
    context["project_form"] = ProjectForm(teams=[s.team for s in context["sections"]])
    return render(request, "dashboard/home.html", context)


@login_required
@require_POST
def project_new(request: HttpRequest) -> HttpResponse:
    # A team the user is not in does not exist for them (404), as everywhere else.
    team = team_get(user=request.user, team_id=request.POST.get("team"))
    team = _allowed(request, Action.CREATE_PROJECT, team)
    form = ProjectForm(request.POST, teams=[team])
    if not form.is_valid():
        messages.error(request, f"The project was not created: {first_error(form)}")
        return redirect("home")
    try:
        project = workflow_services.project_create(team=team, name=form.cleaned_data["name"])
    except workflow_services.InvalidRequest as error:
        messages.error(request, f"The project was not created: {error.message}")
        return redirect("home")
    return redirect("project", project_id=project.pk)


@login_required
@require_GET
def project_page(request: HttpRequest, project_id: int) -> HttpResponse:
    context = _found(selectors.project_page(user=request.user, project_id=project_id))
    context["workflow_form"] = WorkflowForm()
    context["secret_form"] = SecretForm()
    return render(request, "dashboard/project.html", context)


@login_required
@require_POST
def workflow_new(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _allowed(
        request, Action.EDIT_WORKFLOW, project_get(user=request.user, project_id=project_id)
    )
    form = WorkflowForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"The workflow was not created: {first_error(form)}")
        return redirect("project", project_id=project.pk)
    try:
        workflow = workflow_services.workflow_create(
            project=project, name=form.cleaned_data["name"], user=request.user
        )
    except workflow_services.InvalidRequest as error:
        messages.error(request, f"The workflow was not created: {error.message}")
        return redirect("project", project_id=project.pk)
    return redirect("workflow", workflow_id=workflow.pk)


@login_required
@require_POST
def secret_set(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_get(user=request.user, project_id=project_id)
    project = _allowed(request, Action.MANAGE_SECRETS, project)
    form = SecretForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"The secret was not set: {first_error(form)}")
    else:
        try:
            secret = workflow_services.secret_set(
                team=project.team,
                scope=Secret.Scope.PROJECT,
                project=project,
                name=form.cleaned_data["name"],
                value=form.cleaned_data["value"],
            )
        except workflow_services.InvalidRequest as error:
            messages.error(request, f"The secret was not set: {error.message}")
        else:
            messages.success(request, f"Secret “{secret.name}” is set.")
    return redirect(reverse("project", args=[project.pk]) + "#secrets")


@login_required
@require_POST
def secret_delete(request: HttpRequest, project_id: int, name: str) -> HttpResponse:
    project = project_get(user=request.user, project_id=project_id)
    project = _allowed(request, Action.MANAGE_SECRETS, project)
    try:
        workflow_services.secret_delete(
            team=project.team, scope=Secret.Scope.PROJECT, project=project, name=name
        )
    except workflow_services.InvalidRequest as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Secret “{name}” is deleted.")
    return redirect(reverse("project", args=[project.pk]) + "#secrets")


@login_required
@require_GET
def workflow_page(request: HttpRequest, workflow_id) -> HttpResponse:
    context = selectors.workflow_page(
        user=request.user, workflow_id=workflow_id, page=request.GET.get("page", 1)
    )
    return render(request, "dashboard/workflow.html", _found(context))


@login_required
@require_GET
def run_page(request: HttpRequest, workflow_id, number: int) -> HttpResponse:
    context = selectors.run_page(user=request.user, workflow_id=workflow_id, number=number)
    return render(request, "dashboard/run.html", _found(context))


@login_required
@require_POST
def run_rerun(request: HttpRequest, workflow_id, number: int) -> HttpResponse:
    run = selectors.run_for_page(user=request.user, workflow_id=workflow_id, number=number)
    run = _allowed(request, Action.RUN, run)
    form = RerunForm(request.POST)
    spec = form.cleaned_data["spec"] if form.is_valid() else "same"
    try:
        new_run = run_services.run_rerun(run=run, user=request.user, spec=spec)
    except run_services.SubmissionError as error:
        messages.error(request, f"The run was not started: {error}")
        return redirect("run", workflow_id=workflow_id, number=number)
    return redirect("run", workflow_id=workflow_id, number=new_run.number)


@login_required
@require_POST
def run_cancel(request: HttpRequest, workflow_id, number: int) -> HttpResponse:
    run = selectors.run_for_page(user=request.user, workflow_id=workflow_id, number=number)
    run = _allowed(request, Action.RUN, run)
    if run_services.run_request_cancel(run=run):
        messages.info(request, f"Cancel requested for run #{run.number}.")
    else:
        messages.warning(request, f"Run #{run.number} had already ended ({run.phase.lower()}).")
    return redirect("run", workflow_id=workflow_id, number=number)


@login_required
@require_GET
def job_panel(request: HttpRequest, workflow_id, number: int, job_name: str) -> HttpResponse:
    context = selectors.job_panel(
        user=request.user, workflow_id=workflow_id, number=number, job_name=job_name
    )
    return render(request, "dashboard/_job_panel.html", _found(context))


@login_required
@require_GET
def job_log_download(request: HttpRequest, workflow_id, number: int, job_name: str):
    job = _found(
        selectors.job_for_log(
            user=request.user, workflow_id=workflow_id, number=number, job_name=job_name
        )
    )

    async def lines():
        after = 0
        while True:
            page = await sync_to_async(log_lines)(job, after_line=after, limit=LOG_PAGE_LINES)
            if not page:
                return
            yield "".join(f"{line['timestamp']} {line['message']}\n" for line in page)
            after = page[-1]["line"]

    response = StreamingHttpResponse(lines(), content_type="text/plain; charset=utf-8")
    filename = f"run-{number}-{job.name}.log"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@require_GET
def run_compare(request: HttpRequest, workflow_id) -> HttpResponse:
    """The compare form's target: two run numbers in the query string, to the diff page."""
    _found(selectors.workflow_for_page(user=request.user, workflow_id=workflow_id))
    left, right = request.GET.get("a", ""), request.GET.get("b", "")
    if not (left.isdigit() and right.isdigit()):
        messages.error(request, "Pick two runs to compare.")
        return redirect("workflow", workflow_id=workflow_id)
    return redirect("run-diff", workflow_id=workflow_id, number=int(left), other=int(right))


@login_required
@require_GET
def run_diff(request: HttpRequest, workflow_id, number: int, other: int) -> HttpResponse:
    context = selectors.run_diff(
        user=request.user, workflow_id=workflow_id, number=number, other=other
    )
    return render(request, "dashboard/diff.html", _found(context))


# -- teams and profile ------------------------------------------------------------------


@login_required
@require_GET
def team_page(request: HttpRequest, team_id: int) -> HttpResponse:
    context = _found(selectors.team_page(user=request.user, team_id=team_id))
    context["add_form"] = MemberAddForm()
    return render(request, "dashboard/team.html", context)


@login_required
@require_POST
def member_add(request: HttpRequest, team_id: int) -> HttpResponse:
    team = _allowed(request, Action.MANAGE_MEMBERS, team_get(user=request.user, team_id=team_id))
    form = MemberAddForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Nobody was added: {first_error(form)}")
        return redirect("team", team_id=team.pk)
    try:
        membership = workflow_services.membership_add(
            team=team, user=form.cleaned_data["user"], role=form.cleaned_data["role"]
        )
    except workflow_services.InvalidRequest as error:
        messages.error(request, f"Nobody was added: {error.message}")
    else:
        messages.success(request, f"{membership.user.username} is now a {membership.role}.")
    return redirect("team", team_id=team.pk)


def _membership(request: HttpRequest, team_id: int, user_id: int):
    """A member of a team the user can see; 404 for anything else."""
    team = _found(team_get(user=request.user, team_id=team_id))
    return _found(membership_get(team=team, user_id=user_id))


@login_required
@require_POST
def member_role(request: HttpRequest, team_id: int, user_id: int) -> HttpResponse:
    membership = _allowed(request, Action.MANAGE_MEMBERS, _membership(request, team_id, user_id))
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"The role was not changed: {first_error(form)}")
        return redirect("team", team_id=team_id)
    try:
        workflow_services.membership_role_change(
            membership=membership, role=form.cleaned_data["role"]
        )
    except workflow_services.InvalidRequest as error:
        messages.error(request, f"The role was not changed: {error.message}")
    else:
        messages.success(request, f"{membership.user.username} is now a {membership.role}.")
    return redirect("team", team_id=team_id)


@login_required
@require_POST
def member_remove(request: HttpRequest, team_id: int, user_id: int) -> HttpResponse:
    """An owner removing a member, or anyone leaving (removing themselves)."""
    membership = _membership(request, team_id, user_id)
    action = removal_action(request.user, membership)
    _allowed(request, action, membership)
    try:
        workflow_services.membership_remove(membership=membership)
    except workflow_services.InvalidRequest as error:
        messages.error(request, error.message)
        return redirect("team", team_id=team_id)
    if action == Action.LEAVE:
        messages.success(request, f"You left {membership.team.name}.")
        return redirect("home")
    messages.success(request, f"{membership.user.username} is no longer in the team.")
    return redirect("team", team_id=team_id)


def _profile(request: HttpRequest, **extra) -> HttpResponse:
    context = {**selectors.profile_page(user=request.user), "key_form": ApiKeyForm(), **extra}
    response = render(request, "dashboard/profile.html", context)
    # A page that shows a new key once must not be kept by the browser or a proxy.
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_GET
def profile(request: HttpRequest) -> HttpResponse:
    return _profile(request)


@login_required
@require_POST
def api_key_new(request: HttpRequest) -> HttpResponse:
    """Render the profile with the new key in it: the only time it is ever shown."""
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"No key was created: {first_error(form)}")
        return redirect("profile")
    api_key, raw_key = workflow_services.api_key_create(
        user=request.user, name=form.cleaned_data["name"]
    )
    return _profile(request, new_key=raw_key, new_key_name=api_key.name)


@login_required
@require_POST
def api_key_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    try:
        workflow_services.api_key_revoke(user=request.user, key_id=key_id)
    except workflow_services.InvalidRequest:
        raise Http404 from None
    messages.success(request, "The key is revoked; requests with it are refused from now on.")
    return redirect("profile")
