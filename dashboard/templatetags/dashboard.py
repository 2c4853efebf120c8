"""Phase badges and icons, durations and times, the same on every page."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

register = template.Library()

PHASE_ICONS = {
    "PENDING": "pending",
    "RUNNING": "running",
    "SUCCEEDED": "succeeded",
    "FAILED": "failed",
    "SKIPPED": "skipped",
    "CANCELED": "canceled",
}


@register.simple_tag
def icon(name: str, css: str = "") -> str:
    """An icon of the sprite in base.html."""
    return format_html(
        '<svg class="icon {}" aria-hidden="true"><use href="#i-{}"></use></svg>', css, name
    )


@register.simple_tag
def phase_badge(phase: str | None, css: str = "") -> str:
    """A phase as colour, icon and word (never colour alone)."""
    phase = phase or "PENDING"
    return format_html(
        '<span class="phase phase-{0} {2}" data-phase="{0}">'
        '<svg class="icon" aria-hidden="true"><use href="#i-{1}"></use></svg>'
        '<span class="phase-label">{3}</span></span>',
        phase,
        PHASE_ICONS.get(phase, "pending"),
        css,
        phase.capitalize(),
    )


@register.filter
def duration(seconds: float | None) -> str:
    """1.2 s, 45 s, 3m 05s, 2h 04m; an en dash when there is nothing to measure."""
    if seconds is None:
        return "–"
    if seconds < 10:
        return f"{max(seconds, 0):.1f} s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


@register.simple_tag
def when(moment: datetime | None) -> str:
    """A moment as a short local-looking time, with the exact UTC time in its title."""
    if moment is None:
        return mark_safe('<span class="muted">–</span>')
    now = timezone.now()
    shown = (
        moment.strftime("%H:%M:%S")
        if moment.date() == now.date()
        else moment.strftime("%b %-d, %H:%M")
    )
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        moment.isoformat(),
        moment.strftime("%Y-%m-%d %H:%M:%S UTC"),
        shown,
    )


@register.filter
def filesize(size: int | None) -> str:
    if size is None:
        return "–"
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


@register.filter
def take(items, count: int):
    """The first `count` items (a slice that also works on prefetched lists)."""
    return list(items)[: int(count)]


@register.simple_tag
def delta(before: float | None, after: float | None) -> str:
    """How much longer (or shorter) the second took, coloured; nothing when either is unknown."""
    if before is None or after is None:
        return ""
    change = after - before
    # Jitter of a few tenths (or a few percent) is not a change worth colouring.
    if abs(change) < max(0.5, 0.05 * before):
        return format_html('<span class="muted">same</span>')
    sign, css = ("+", "slower") if change > 0 else ("−", "faster")
    return format_html('<span class="{}">{}{}</span>', css, sign, duration(abs(change)))
