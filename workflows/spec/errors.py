"""Errors a person can act on, and the helpers that word them.

Validators record *problems* against a path in the document (a tuple such as
``("jobs", "fetch", "with", "args", 2)``); positions are looked up only when a
problem is turned into a :class:`SpecError`, so a valid spec never pays for
them.
"""

from __future__ import annotations

import datetime
import difflib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from .yaml_source import Locator

Path = tuple[str | int, ...]
Target = Literal["value", "key", "parent", "root"]


@dataclass(frozen=True)
class SpecError:
    """One problem in a document, with where it is and how to fix it.

    ``path`` is a dot path with ``[i]`` for list items (``jobs.fetch.with.args[2]``),
    ``""`` for the document root. ``line`` and ``column`` are 1-based and point at
    the offending node; for a missing key they point at the key that holds the
    mapping the key is missing from (the document start for a top-level key),
    while ``path`` names the missing key itself.
    """

    path: str
    line: int
    column: int
    message: str
    hint: str | None = None

    def as_dict(self) -> dict:
        """The error as plain JSON-able data."""
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "hint": self.hint,
        }


def format_path(path: Path) -> str:
    """``("jobs", "a", "with", "args", 2)`` -> ``"jobs.a.with.args[2]"``."""
    parts: list[str] = []
    for part in path:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif parts:
            parts.append(f".{part}")
        else:
            parts.append(part)
    return "".join(parts)


def sort_errors(errors: Iterable[SpecError]) -> tuple[SpecError, ...]:
    """Errors in reading order, without exact duplicates."""
    unique = dict.fromkeys(errors)
    return tuple(sorted(unique, key=lambda e: (e.line, e.column, e.path, e.message)))


def _normalized(word: str) -> str:
    return word.lower().replace("-", "").replace("_", "")


def did_you_mean(word: object, candidates: Iterable[str]) -> str | None:
    """A 'did you mean "x"?' hint for a near miss among ``candidates``, else None."""
    if not isinstance(word, str) or not word:
        return None
    options = [c for c in candidates if c != word]
    if not options:
        return None
    by_normal = {_normalized(c): c for c in options}
    exact = by_normal.get(_normalized(word))
    if exact is not None:
        return f'did you mean "{exact}"?'
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not close:
        close = [
            by_normal[m]
            for m in difflib.get_close_matches(_normalized(word), list(by_normal), n=1, cutoff=0.6)
        ]
    if close:
        return f'did you mean "{close[0]}"?'
    return None


def one_of(names: Sequence[str]) -> str:
    """``["a", "b", "c"]`` -> ``a, b or c``."""
    names = list(names)
    if not names:
        return "nothing"
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " or " + names[-1]


def describe(value: object) -> str:
    """How a YAML value reads to a person: 'a number', 'a list', 'empty (null)'."""
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, datetime.date):
        return "a date"
    if isinstance(value, bytes):
        return "binary data"
    return type(value).__name__


def quoted_example(source: str | None, value: object) -> str | None:
    """The value as written, in double quotes, for 'quote it' advice; None if unsuitable."""
    text = source.strip() if isinstance(source, str) else ""
    if not text or "\n" in text or len(text) > 60:
        if value is None or isinstance(value, list | dict):
            return None
        text = str(value).lower() if isinstance(value, bool) else str(value)
    if isinstance(value, list | dict) and text[0] in "[{":
        return None
    return json.dumps(text, ensure_ascii=False)


class Problems:
    """Collects problems during validation and turns them into sorted SpecErrors."""

    def __init__(self, locator: Locator | None) -> None:
        self.locator = locator
        self._items: list[tuple[Path, str, str | None, Target]] = []

    def add(self, path: Path, message: str, hint: str | None = None, at: Target = "value") -> None:
        """Record a problem at ``path``: its value, its key, or (missing keys) its parent."""
        self._items.append((path, message, hint, at))

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def source(self, path: Path) -> str | None:
        """The text of the node at ``path`` as written, when it can be found."""
        if self.locator is None:
            return None
        return self.locator.source(path)

    def errors(self) -> list[SpecError]:
        """The problems as SpecErrors (unsorted)."""
        out = []
        for path, message, hint, at in self._items:
            if self.locator is None:
                line, column = 1, 1
            else:
                line, column = self.locator.position(path, at)
            out.append(SpecError(format_path(path), line, column, message, hint))
        return out
