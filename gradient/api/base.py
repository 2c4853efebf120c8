"""What every view of the REST API shares: parsers, renderers, pagination, 404s.

No access policy here: workflows.api.permissions.ApiView adds the team policy
on top of BaseApiView, so this module imports nothing of the apps.
"""

from __future__ import annotations

import codecs
import json
from typing import TypeVar

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import exceptions, parsers, renderers, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

T = TypeVar("T")


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "the request body is too large"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "the request conflicts with the current state"


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON value")


class SafeJSONParser(parsers.JSONParser):
    """JSON bodies; anything malformed (NaN, nesting too deep) is a 400, never a 500.

    DRF reads the body through `request.body`, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE
    bounds it (a 413 from gradient.api_errors).
    """

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json.loads(stream.read().decode(encoding), parse_constant=_refuse_constant)
        except (ValueError, RecursionError) as exc:
            if isinstance(exc, RecursionError):
                exc = ValueError("it is nested too deeply")
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None


class PlainTextParser(parsers.BaseParser):
    """A spec sent as the whole body (`Content-Type: text/plain`), read as a str.

    A UTF-8 body that does not decode is handed on as bytes: the spec library
    reads bytes and says at which line and column the first bad byte is.
    """

    media_type = "text/plain"

    def parse(self, stream, media_type=None, parser_context=None) -> str | bytes:
        charset = dict(
            part.strip().split("=", 1) for part in (media_type or "").split(";")[1:] if "=" in part
        ).get("charset", "utf-8")
        limit = settings.SPEC_MAX_BYTES
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise PayloadTooLarge(
                f"the spec is larger than {limit // 1024} KiB; split it into several workflows"
            )
        encoding = charset.strip('"').lower() or "utf-8"
        if encoding in {"utf-8", "utf8"}:
            try:
                return body.decode("utf-8-sig")
            except UnicodeDecodeError:
                return body
        try:
            return codecs.decode(body, encoding)
        except (LookupError, UnicodeDecodeError):
            raise exceptions.ParseError(
                f"the request body is not {charset} text; send the spec as UTF-8"
            ) from None


class PlainTextRenderer(renderers.BaseRenderer):
    """A spec as text; anything else (an error) as JSON text."""

    media_type = "text/plain"
    format = "txt"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        if isinstance(data, str):
            return data.encode(self.charset)
        return json.dumps(data, indent=1).encode(self.charset)


class ApiPagination(PageNumberPagination):
    """`?page=N&page_size=M` (at most 500); answers {count, next, previous, results}."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class BaseApiView(APIView):
    """JSON in, JSON (or the browsable API) out, for signed-in users."""

    parser_classes = [SafeJSONParser]
    permission_classes = [IsAuthenticated]

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response._resource_closers.append(self._release_response)
        return response

    def _release_response(self) -> None:
        """Break DRF's view <-> response reference cycles once the answer has been sent.

        Otherwise an answer's data (a 500-job status document is thousands of
        objects) lives on until a full garbage collection, and those
        collections then take long enough to show in the p95 of every request.
        """
        response = self.__dict__.pop("response", None)
        if response is not None:
            response.renderer_context = None

    def paginate(self, queryset, render) -> Response:
        """One page of `queryset`, its items turned into data by `render(list_of_items)`."""
        paginator = ApiPagination()
        page = paginator.paginate_queryset(queryset, self.request, view=self)
        return paginator.get_paginated_response(render(page))

    @staticmethod
    def valid(serializer_class: type[serializers.Serializer], data) -> dict:
        """The serializer's validated data, or a 400 naming each field to fix."""
        serializer = serializer_class(data=data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


def found(obj: T | None, what: str) -> T:
    """`obj`, or a 404 that does not say whether it exists for someone else."""
    if obj is None:
        raise exceptions.NotFound(f"there is no {what} that you can see")
    return obj


PAGE_PARAMETERS = [
    OpenApiParameter("page", int, description="Page number, from 1."),
    OpenApiParameter("page_size", int, description="Items per page (default 50, at most 500)."),
]


def paginated(serializer_class: type[serializers.Serializer]) -> serializers.Serializer:
    """The schema of a page of `serializer_class` items, as ApiPagination answers it."""
    name = serializer_class.__name__.removesuffix("Serializer")
    return inline_serializer(
        name=f"Paginated{name}List",
        fields={
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": serializer_class(many=True),
        },
    )


def path_id(name: str, kind: type = int, description: str = "") -> OpenApiParameter:
    """A path parameter as the schema shows it (URLs take any text, so bad ids answer JSON)."""
    return OpenApiParameter(name, kind, OpenApiParameter.PATH, description=description)


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """How the schema describes gradient.authentication.ApiKeyAuthentication: either header."""

    target_class = "gradient.authentication.ApiKeyAuthentication"
    name = ["ApiKeyHeader", "ApiKeyBearer"]

    def get_security_requirement(self, auto_schema) -> list[dict]:
        return [{name: []} for name in self.name]

    def get_security_definition(self, auto_schema) -> list[dict]:
        return [
            {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            {"type": "http", "scheme": "bearer"},
        ]
