"""Login throttling with django-axes: too many wrong passwords for one user from one address.

Axes records each failed `authenticate()` that carries a request (the
dashboard's and the admin's login forms) and, past AXES_FAILURE_LIMIT failures
of one username from one address, refuses that pair for AXES_COOLOFF_TIME. A
lockout is counted per (username, address) so that one attacker cannot lock a
user out from everywhere. The cool-off is not restarted by attempts made
during it, so the time the answer names holds: the login page again, with
status 429, a Retry-After header and a message saying when to try again.

API keys and sessions never pass through `authenticate()` with a password, so
they are not throttled here.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from axes.backends import AxesStandaloneBackend
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone


class LoginThrottleBackend(AxesStandaloneBackend):
    """Axes' lockout check for logins that come with a request; others are not logins.

    Code that calls `authenticate()` without a request (Django's test client,
    a management command) is no one guessing passwords over HTTP; axes would
    refuse it with an exception instead of passing it on to ModelBackend.
    """

    def authenticate(self, request: HttpRequest | None, *args, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, *args, **kwargs)


def retry_at(request: HttpRequest, credentials: dict | None) -> datetime:
    """When the (username, address) of this request may try to log in again."""
    cool_off = get_cool_off(request) or timedelta(0)
    handler = AxesProxyHandler.get_implementation()
    latest = None
    for attempts in handler.get_user_attempts(request, credentials):
        for attempt_time in attempts.values_list("attempt_time", flat=True):
            latest = attempt_time if latest is None else max(latest, attempt_time)
    return (latest or timezone.now()) + cool_off


def lockout_message(until: datetime, now: datetime) -> str:
    minutes = max(math.ceil((until - now).total_seconds() / 60), 1)
    return (
        "Too many failed logins for this username from your address. Try again in "
        f"{minutes} minute{'s' if minutes != 1 else ''}, after {until:%H:%M} UTC."
    )


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials=None
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the login page with status 429 saying when to try again."""
    until = retry_at(request, credentials)
    now = timezone.now()
    response = render(
        request,
        "registration/login.html",
        {"lockout": lockout_message(until, now), "next": request.POST.get("next", "")},
        status=429,
    )
    response["Retry-After"] = str(max(math.ceil((until - now).total_seconds()), 1))
    return response
