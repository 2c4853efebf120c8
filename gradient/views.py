"""The project's own small views: the health check and the REST API's answer for unknown paths."""

from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt

from gradient.health import check_health


def healthz(request):
    report = check_health()
    return JsonResponse(report, status=200 if report["ok"] else 503)


@csrf_exempt
def api_not_found(request: HttpRequest, path: str = "") -> HttpResponse:
    """Any path under /api/ that no view serves: a JSON 404, not the dashboard's HTML page.

    This route matches every such path, so CommonMiddleware no longer adds a
    missing slash there; it is added here the same way (`/api/docs`).
    """
    if not request.path.endswith("/") and _served(request.path + "/"):
        return HttpResponsePermanentRedirect(request.get_full_path(force_append_slash=True))
    return JsonResponse(
        {
            "detail": f"{request.method} {request.path} is not part of this API; "
            "/api/docs/ lists its endpoints"
        },
        status=404,
    )


def _served(path: str) -> bool:
    try:
        return resolve(path).func is not api_not_found
    except Resolver404:
        return False
