"""What every view of the gradient CLI surface shares: API-key login, JSON bodies, JSON errors.

The CLI shows an error only from the keys `error`, `errors`, `message`, …
of a JSON answer (never DRF's `detail`), and crashes on an HTML page, so
every answer here, errors included, is JSON of the shape
`{"error": {"message": "..."}}`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import wraps

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from gradient.authentication import api_key_from_request
from gradient.cli_api.submissions import submission_error_message
from runs.services import SubmissionError
from workflows.services import InvalidRequest, api_key_authenticate

logger = logging.getLogger(__name__)


class CliError(Exception):
    """A request this surface refuses; the message is what the CLI prints."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def error_response(message: str, status: int, **extra) -> JsonResponse:
    return JsonResponse({"error": {"message": message}, **extra}, status=status)


def json_body(request: HttpRequest) -> dict:
    """The request's JSON object; an empty body counts as `{}`."""
    if not request.body:
        return {}
    try:
        data = json.loads(request.body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CliError(f"the request body is not valid JSON: {error}") from error
    except RecursionError as error:
        raise CliError("the request body nests too deeply") from error
    if not isinstance(data, dict):
        raise CliError("the request body must be a JSON object")
    return data


def json_param(request: HttpRequest, name: str) -> dict:
    """A query parameter holding a JSON object (the CLI's `filter=`), `{}` when absent."""
    raw = request.GET.get(name)
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as error:
        raise CliError(f"the {name} parameter is not valid JSON: {error}") from error
    if not isinstance(data, dict):
        raise CliError(f"the {name} parameter must be a JSON object")
    return data


View = Callable[..., HttpResponse]


def cli_endpoint(*methods: str) -> Callable[[View], View]:
    """Make a view of this surface: allowed methods, API-key user, errors as CLI-readable JSON.

    The view is called as `view(request, user, **kwargs)`. No cookies are read,
    so CSRF does not apply.
    """

    def decorator(view: View) -> View:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method not in methods:
                response = error_response(
                    f"{request.method} is not allowed on {request.path}; use {', '.join(methods)}",
                    405,
                )
                response["Allow"] = ", ".join(methods)
                return response
            raw_key = api_key_from_request(request)
            if raw_key is None:
                return error_response(
                    "an API key is required: pass --apiKey or set PAPERSPACE_API_KEY", 401
                )
            user = api_key_authenticate(raw_key)
            if user is None:
                return error_response("this API key is not valid", 401)
            try:
                return view(request, user, *args, **kwargs)
            except CliError as error:
                return error_response(error.message, error.status)
            except InvalidRequest as error:
                return error_response(error.message, error.status)
            except SubmissionError as error:
                return error_response(
                    submission_error_message(error), error.status, validation=error.as_dict()
                )
            except RequestDataTooBig:
                return error_response("the request body is too large", 413)
            except Exception:
                logger.exception("gradient CLI surface: %s %s failed", request.method, request.path)
                return error_response("internal server error; the server log has the details", 500)

        return wrapper

    return decorator
