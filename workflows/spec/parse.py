"""``parse_spec``: YAML text in, a typed spec or every error out."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .errors import Problems, SpecError, sort_errors
from .model import WorkflowSpec
from .validate import validate_spec
from .yaml_errors import utf8_text
from .yaml_source import load_yaml


@dataclass(frozen=True)
class SpecResult:
    """The outcome of :func:`parse_spec`.

    ``spec`` is the typed model, None when there are errors. ``errors`` are all
    the errors, sorted by (line, column, path). ``data`` is the document as
    plain JSON-able data, None when it did not parse to a mapping.
    """

    spec: WorkflowSpec | None
    errors: tuple[SpecError, ...]
    data: dict | None

    @property
    def valid(self) -> bool:
        return not self.errors


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small objects.

    Reading a 1,000-job spec allocates ~100k objects and none of them form
    cycles; without this the collector runs dozens of times for nothing and
    the time to read a spec varies by half.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def parse_spec(text: str, *, max_jobs: int | None = None) -> SpecResult:
    """Read and validate a workflow spec. Never raises for any ``str``.

    ``bytes`` are read as UTF-8; anything that is not text is an error, at the
    line and column of the first byte that is not.
    ``max_jobs`` is the most jobs a spec may have (an error at its ``jobs:``
    line past it); the library sets no limit of its own, the server passes its
    ``MAX_JOBS_PER_RUN`` where specs come in.
    """
    if isinstance(text, bytes | bytearray | memoryview):
        text = utf8_text(bytes(text))
        if isinstance(text, SpecError):
            return SpecResult(None, (text,), None)
    if not isinstance(text, str):
        return SpecResult(
            None, (SpecError("", 1, 1, f"the spec must be text, not {type(text).__name__}"),), None
        )
    with gc_paused():
        # The node tree dies with _parse's frame, before the collector is back on:
        # otherwise its first run would walk every node for nothing.
        return _parse(str(text), max_jobs)


def _parse(text: str, max_jobs: int | None) -> SpecResult:
    loaded = load_yaml(text)
    if loaded.aborted:
        return SpecResult(None, sort_errors(loaded.errors), None)
    data = loaded.json_data()
    problems = Problems(loaded.locator)
    spec = validate_spec(loaded.data, problems, max_jobs=max_jobs)
    errors = sort_errors([*loaded.errors, *problems.errors()])
    return SpecResult(
        spec if not errors else None, errors, data if isinstance(data, dict) else None
    )
