"""Durations such as ``90s``, ``30m``, ``2h``, ``1h30m`` or ``1d``."""

from __future__ import annotations

import re

DURATION_RE = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
DURATION_PATTERN = r"^(?=.)(?:[0-9]+d)?(?:[0-9]+h)?(?:[0-9]+m)?(?:[0-9]+s)?$"
MAX_TIMEOUT_SECONDS = 7 * 24 * 3600
_UNIT_SECONDS = (86400, 3600, 60, 1)


def parse_duration(text: str) -> int | None:
    """Seconds in a duration like ``1h30m``; None when the text is not one.

    Units are d, h, m and s, largest first, each at most once. A bare number is
    not a duration: ``timeout: 30`` could mean seconds or minutes.
    """
    match = DURATION_RE.match(text.strip())
    if match is None or not any(match.groups()):
        return None
    return sum(
        int(part) * unit for part, unit in zip(match.groups(), _UNIT_SECONDS, strict=True) if part
    )


def format_duration(seconds: int) -> str:
    """``5400`` -> ``1h30m``."""
    if seconds <= 0:
        return "0s"
    parts = []
    for unit, suffix in zip(_UNIT_SECONDS, "dhms", strict=True):
        amount, seconds = divmod(seconds, unit)
        if amount:
            parts.append(f"{amount}{suffix}")
    return "".join(parts)
