"""Errors about a spec found after validation, placed in its text.

Run submission finds problems the spec language cannot know about (a secret
that is not set, a dataset that does not exist); this gives them the same
shape and positions as validation errors.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .errors import Problems, SpecError, Target, sort_errors
from .yaml_locate import Locator


def errors_at(text: str, problems: Iterable[Sequence]) -> tuple[SpecError, ...]:
    """SpecErrors for ``(path, message, hint)`` problems in the document ``text``.

    ``path`` is a tuple such as ``("jobs", "train", "env", "TOKEN")``; an optional
    fourth item says what to point at: ``"value"`` (default), ``"key"``,
    ``"parent"`` (a missing key) or ``"root"``.
    """
    collected = Problems(Locator(text))
    for problem in problems:
        path, message, hint, *rest = problem
        at: Target = rest[0] if rest else "value"
        collected.add(tuple(path), message, hint, at=at)
    return sort_errors(collected.errors())
