"""One error body for the REST API: `{"detail": "<what to fix>", "errors": [...]}`.

`errors` is present only for problems in a document the client sent (a spec
or a run's inputs): each is a SpecError dict with the document it is about.
Domain exceptions from the services (`InvalidRequest`, `SubmissionError`) are
turned into answers here, so views can call a service and let it raise. An
exception nothing expected (a bug) is logged with its traceback and answered
with a JSON 500 that names no detail of it: an API client never gets
Django's HTML error page.

`JsonErrorsMiddleware` covers what DRF's handler never sees: an unknown URL,
a method a non-DRF view refuses, an exception that escapes a view or happens
around it. Under `/api/` and `/gradient/` those answer JSON too, never
Django's HTML pages (a client cannot read them; the debug page even shows a
traceback). The CLI surface prints `error.message`, so its body has both keys.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable

from django.conf import settings
from django.core.exceptions import (
    BadRequest,
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
)
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler, set_rollback

from runs.services import REQUEST, SubmissionError
from workflows.services import InvalidRequest

logger = logging.getLogger(__name__)

# How many document errors the one-line `detail` spells out; `errors` has them all.
DETAIL_ERRORS = 3


def spec_error_dicts(errors: Iterable, document: str) -> list[dict]:
    """SpecErrors as the API shows them: path, line, column, message, hint, document."""
    return [{**error.as_dict(), "document": document} for error in errors]


def _where(error) -> str:
    if error.path:
        return f"{error.path} (line {error.line}, column {error.column}): "
    if error.line > 1 or error.column > 1:
        return f"line {error.line}, column {error.column}: "
    return ""


def _document_detail(headline: str, errors: tuple) -> str:
    shown = "; ".join(f"{_where(error)}{error.message}" for error in errors[:DETAIL_ERRORS])
    more = len(errors) - DETAIL_ERRORS
    if more > 0:
        shown += f"; and {more} more (see errors)"
    return f"{headline}: {shown}" if shown else headline


def _flatten(detail, prefix: str = "") -> list[str]:
    """DRF's nested validation detail as 'field: message' lines."""
    if isinstance(detail, dict):
        lines = []
        for key, value in detail.items():
            name = key if key != "non_field_errors" else ""
            lines += _flatten(value, f"{prefix}.{name}" if prefix and name else prefix or name)
        return lines
    if isinstance(detail, list):
        lines = []
        for index, value in enumerate(detail):
            nested = isinstance(value, dict | list)
            lines += _flatten(value, f"{prefix}[{index}]" if nested else prefix)
        return lines
    return [f"{prefix}: {detail}" if prefix else str(detail)]


def _answer(body: dict, code: int, headers: dict | None = None) -> Response:
    set_rollback()
    return Response(body, status=code, headers=headers)


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every error of the API in the one body shape."""
    if isinstance(exc, SubmissionError):
        if exc.document == REQUEST:
            problems = "; ".join(f"{error.path}: {error.message}" for error in exc.errors)
            return _answer({"detail": f"the run was not created: {problems}"}, exc.status)
        body = {"detail": _document_detail("the run was not created", exc.errors)}
        if exc.status != status.HTTP_413_REQUEST_ENTITY_TOO_LARGE:
            body["errors"] = spec_error_dicts(exc.errors, exc.document)
        return _answer(body, exc.status)
    if isinstance(exc, InvalidRequest):
        errors = getattr(exc, "errors", ())
        body = {"detail": _document_detail(exc.message, errors) if errors else exc.message}
        if errors:
            body["errors"] = spec_error_dicts(errors, getattr(exc, "document", "spec"))
        return _answer(body, exc.status)
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 1024
        return _answer(
            {"detail": f"the request body is larger than {limit} KiB"},
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, SuspiciousOperation):
        return _answer({"detail": f"the request was refused: {exc}"}, status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, exceptions.ParseError):
        exc = exceptions.ParseError(_parse_error_detail(exc))
    response = exception_handler(exc, context)
    if response is None:
        view = context.get("view")
        logger.error("unexpected error in %s", type(view).__name__, exc_info=exc)
        return _answer(
            {"detail": "internal server error; the server log has the details"},
            status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    if isinstance(exc, exceptions.ValidationError):
        lines = _flatten(exc.detail)
        response.data = {"detail": "; ".join(lines) or "the request is not valid"}
    elif not (isinstance(response.data, dict) and set(response.data) == {"detail"}):
        response.data = {"detail": "; ".join(_flatten(response.data))}
    else:
        response.data = {"detail": str(response.data["detail"])}
    return response


def _parse_error_detail(exc: exceptions.ParseError) -> str:
    detail = str(exc.detail)
    if detail.startswith("JSON parse error"):
        return (
            "the request body is not valid JSON ("
            + detail.removeprefix("JSON parse error - ")
            + "); send a JSON object, or the spec as text/plain where that is accepted"
        )
    return detail


JSON_ERROR_PREFIXES = ("/api/", "/gradient/")


def _no_such_url(request: HttpRequest) -> str:
    detail = f"{request.method} {request.path}: there is no such URL in this API"
    if request.path.startswith("/api/"):
        detail += "; /api/docs/ lists its endpoints"
    return detail


def _json_error(request: HttpRequest, detail: str, status_code: int) -> JsonResponse:
    body: dict = {"detail": detail}
    if request.path.startswith("/gradient/"):
        body["error"] = {"message": detail}
    return JsonResponse(body, status=status_code)


def _is_json(response: HttpResponse) -> bool:
    media_type = response.get("Content-Type", "").split(";")[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def _detail_of(request: HttpRequest, response: HttpResponse) -> str:
    """What went wrong, from a non-JSON error answer: its own `detail` when it has one."""
    if not response.streaming:
        try:
            body = json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            body = None
        if isinstance(body, dict) and isinstance(body.get("detail"), str):
            return body["detail"]
    code = response.status_code
    if code == 404:
        return _no_such_url(request)
    if code == 405:
        allowed = response.get("Allow")
        use = f"; use {allowed}" if allowed else ""
        return f"{request.method} is not allowed on {request.path}{use}"
    if code >= 500:
        return "internal server error; the server log has the details"
    return f"{code} {response.reason_phrase}".lower()


class JsonErrorsMiddleware:
    """Under /api/ and /gradient/: every error answer is JSON with a `detail`."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code < 400
            or not request.path.startswith(JSON_ERROR_PREFIXES)
            or _is_json(response)
        ):
            return response
        answer = _json_error(request, _detail_of(request, response), response.status_code)
        if response.has_header("Allow"):
            answer["Allow"] = response["Allow"]
        return answer

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not request.path.startswith(JSON_ERROR_PREFIXES):
            return None
        if isinstance(exception, Http404):
            return _json_error(request, _no_such_url(request), 404)
        if isinstance(exception, PermissionDenied):
            return _json_error(request, "you may not do this", 403)
        if isinstance(exception, RequestDataTooBig):
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 1024
            return _json_error(request, f"the request body is larger than {limit} KiB", 413)
        if isinstance(exception, SuspiciousOperation | BadRequest):
            return _json_error(request, f"the request was refused: {exception}", 400)
        logger.error("%s %s failed", request.method, request.path, exc_info=exception)
        return _json_error(request, "internal server error; the server log has the details", 500)
