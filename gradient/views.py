"""The project's own small views: the health check."""

from django.http import JsonResponse

from gradient.health import check_health


def healthz(request):
    report = check_health()
    return JsonResponse(report, status=200 if report["ok"] else 503)
