"""REST API views for runs: submit, list, the status document, cancel, re-run, job logs."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from gradient.api.base import PAGE_PARAMETERS, Conflict, found, paginated, path_id
from runs import selectors
from runs.api import serializers as s
from runs.services import run_request_cancel, run_rerun, run_submit
from runs.transitions import JOB_FINAL
from workflows.access import Action
from workflows.api.permissions import ApiView
from workflows.api.serializers import ErrorSerializer
from workflows.api.views import ERRORS, WORKFLOW_ID
from workflows.selectors import workflow_get, workflow_visible

RUN_NUMBER = path_id("number", int, "The run's number in its workflow.")
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="Any string of yours: sending the same request again with it answers the run "
    "it made instead of starting another; the same key with another request is 422.",
)
SUBMIT_ERRORS = {
    400: OpenApiResponse(
        ErrorSerializer,
        description="Invalid spec or inputs (`errors` say where), unknown cluster, missing "
        "secret or dataset. Nothing was created.",
    ),
    404: ERRORS[404],
    413: OpenApiResponse(ErrorSerializer, description="The spec is over 1 MiB."),
    422: OpenApiResponse(
        ErrorSerializer, description="The Idempotency-Key was used for another request."
    ),
}


def _run(view: ApiView, request, workflow_id: str, number: str):
    """The run the user can see (404 otherwise), if their role allows the view's action."""
    run = selectors.run_get(user=request.user, workflow_id=workflow_id, number=number)
    run = found(run, f"run {number} of workflow {workflow_id}")
    view.check_object_permissions(request, run)
    return run


class RunListView(ApiView):
    actions = {"POST": Action.RUN}

    @extend_schema(
        summary="Runs of a workflow, newest first (summaries: no spec, no jobs)",
        operation_id="workflows_runs_list",
        parameters=[
            WORKFLOW_ID,
            OpenApiParameter("phase", str, description="Comma-separated phases, e.g. FAILED."),
            OpenApiParameter("reason", str, description="Comma-separated: manual, rerun, trigger."),
            *PAGE_PARAMETERS,
        ],
        responses={200: paginated(s.RunSummarySerializer), 400: ERRORS[400], 404: ERRORS[404]},
    )
    def get(self, request, workflow_id: str) -> Response:
        visible = workflow_visible(user=request.user, workflow_id=workflow_id)
        visible = found(visible, f"workflow {workflow_id}")
        filters = self.valid(s.RunFilterSerializer, request.query_params)
        runs = selectors.run_list(
            workflow_id=visible, phases=filters.get("phase"), reasons=filters.get("reason")
        )
        return self.paginate(runs, selectors.run_summaries)

    @extend_schema(
        summary="Start a run with a spec (or the default one) and inputs",
        parameters=[WORKFLOW_ID, IDEMPOTENCY_KEY],
        request=s.RunSubmitSerializer,
        responses={201: s.RunStatusDocumentSerializer, **SUBMIT_ERRORS},
    )
    def post(self, request, workflow_id: str) -> Response:
        workflow = found(
            workflow_get(user=request.user, workflow_id=workflow_id), f"workflow {workflow_id}"
        )
        self.check_object_permissions(request, workflow)
        data = self.valid(s.RunSubmitSerializer, request.data)
        run = run_submit(
            workflow=workflow,
            spec_text=None if data["spec"] == "default" else data["spec"],
            inputs=data["inputs"],
            cluster_id=data["clusterId"],
            user=request.user,
            make_default=data["markDefault"],
            idempotency_key=request.headers.get("Idempotency-Key"),
        )
        return Response(selectors.run_status_document(run), status=status.HTTP_201_CREATED)


class RunDetailView(ApiView):
    @extend_schema(
        summary="A run's status document",
        parameters=[WORKFLOW_ID, RUN_NUMBER],
        responses={200: s.RunStatusDocumentSerializer, 404: ERRORS[404]},
    )
    def get(self, request, workflow_id: str, number: str) -> Response:
        run = _run(self, request, workflow_id, number)
        return Response(selectors.run_status_document(run, selectors.run_jobs(run)))


class RunCancelView(ApiView):
    actions = {"POST": Action.RUN}

    @extend_schema(
        summary="Ask the engine to cancel a run",
        parameters=[WORKFLOW_ID, RUN_NUMBER],
        request=None,
        responses={
            202: s.RunSummarySerializer,
            404: ERRORS[404],
            409: OpenApiResponse(ErrorSerializer, description="The run has already ended."),
        },
    )
    def post(self, request, workflow_id: str, number: str) -> Response:
        run = _run(self, request, workflow_id, number)
        if not run_request_cancel(run=run):
            raise Conflict(f"run {run.number} has already ended ({run.phase}); nothing to cancel")
        return Response(selectors.run_summary(run), status=status.HTTP_202_ACCEPTED)


class RunRerunView(ApiView):
    actions = {"POST": Action.RUN}

    @extend_schema(
        summary="Run again with the same inputs: same spec, default spec, or only the failed jobs",
        parameters=[WORKFLOW_ID, RUN_NUMBER],
        request=s.RerunSerializer,
        responses={201: s.RunStatusDocumentSerializer, **SUBMIT_ERRORS},
    )
    def post(self, request, workflow_id: str, number: str) -> Response:
        run = _run(self, request, workflow_id, number)
        data = self.valid(s.RerunSerializer, request.data)
        new_run = run_rerun(run=run, user=request.user, spec=data["spec"])
        return Response(selectors.run_status_document(new_run), status=status.HTTP_201_CREATED)


class JobLogsView(ApiView):
    @extend_schema(
        summary="A page of a job's log lines",
        parameters=[
            WORKFLOW_ID,
            RUN_NUMBER,
            path_id("job_name", str, "The job's name in the spec."),
            s.LogQuerySerializer,
        ],
        responses={200: s.LogPageSerializer, 400: ERRORS[400], 404: ERRORS[404]},
    )
    def get(self, request, workflow_id: str, number: str, job_name: str) -> Response:
        job = selectors.job_get(
            user=request.user, workflow_id=workflow_id, number=number, job_name=job_name
        )
        job = found(job, f'job "{job_name}" in run {number} of workflow {workflow_id}')
        query = self.valid(s.LogQuerySerializer, request.query_params)
        # The phase was read before the lines: a job that had ended then has all its lines stored.
        ended = job.phase in JOB_FINAL
        lines = selectors.log_lines(job, after_line=query["after"], limit=query["limit"])
        return Response(
            {
                "lines": lines,
                "next": lines[-1]["line"] if lines else query["after"],
                "finished": ended and len(lines) < query["limit"],
            }
        )
