"""Storing and publishing what jobs print, for both engines.

Lines are timestamped as they arrive, stripped of secret values, cut when
very long, stored in chunks (one insert per batch) and published as one event
per batch through the one publish function.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import transaction

from runs import rows
from runs.events import publish_on_commit
from runs.models import JobRun, LogChunk
from runs.rows import Add

MAX_LINE_CHARS = 16 * 1024
BATCH_LINES = 2000
BATCH_SECONDS = 0.1
MASK = "***"
# Shorter values would mask ordinary words everywhere in a log.
MIN_MASKED_LENGTH = 3


def secret_mask(values) -> re.Pattern | None:
    """A pattern matching every secret value (each line of a multi-line one)."""
    pieces = {
        piece
        for value in values
        for piece in str(value).splitlines()
        if len(piece) >= MIN_MASKED_LENGTH
    }
    if not pieces:
        return None
    ordered = sorted(pieces, key=len, reverse=True)
    return re.compile("|".join(re.escape(piece) for piece in ordered))


# What is kept of a line still being written; UTF-8 takes up to 4 bytes a character.
MAX_PARTIAL_BYTES = MAX_LINE_CHARS * 4


def clean_line(text: str, mask: re.Pattern | None, dropped: int = 0) -> str:
    """The line masked and, past MAX_LINE_CHARS, cut with a marker saying how much went."""
    if mask is not None:
        text = mask.sub(MASK, text)
    if "\x00" in text:
        # PostgreSQL stores no NUL in text or JSON; show it as a replacement character.
        text = text.replace("\x00", "\ufffd")
    if len(text) > MAX_LINE_CHARS or dropped:
        cut = max(len(text) - MAX_LINE_CHARS, 0) + dropped
        text = f"{text[:MAX_LINE_CHARS]} … [line cut: {cut} more characters]"
    return text


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class LogWriter:
    """Buffers a job's lines and writes them in batches; call `flush` at the end."""

    def __init__(self, job: JobRun, secret_values=()) -> None:
        self.job_id = job.pk
        self.job_name = job.name
        self.run_id = job.run_id
        self.next_line = job.log_line_count + 1
        self.mask = secret_mask(secret_values)
        self.pending: list[list[str]] = []
        self.partial = b""
        self.dropped = 0
        self.last_flush = time.monotonic()
        self.lines_written = 0

    def mask_values(self, values) -> None:
        """Mask these secret values in every line from now on."""
        self.mask = secret_mask(values)

    def line(self, text: str, dropped: int = 0) -> None:
        """Add one line of text (our own messages, or a decoded line of output)."""
        self.pending.append([_now(), clean_line(text, self.mask, dropped)])
        if len(self.pending) >= BATCH_LINES:
            self.flush()

    def feed(self, data: bytes) -> None:
        """Add raw output; complete lines are kept, a trailing partial line waits for more.

        Of a line longer than we keep, only its start stays in memory; the
        rest is counted, so the stored line says how much was cut.
        """
        *complete, rest = (self.partial + data).split(b"\n")
        for raw in complete:
            self._emit(raw)
        if len(rest) > MAX_PARTIAL_BYTES:
            self.dropped += len(rest) - MAX_PARTIAL_BYTES
            rest = rest[:MAX_PARTIAL_BYTES]
        self.partial = rest

    def _emit(self, raw: bytes) -> None:
        self.line(raw.rstrip(b"\r").decode("utf-8", errors="replace"), self.dropped)
        self.dropped = 0

    def flush_if_due(self) -> None:
        if self.pending and time.monotonic() - self.last_flush >= BATCH_SECONDS:
            self.flush()

    def close(self) -> None:
        """Store what is left."""
        self._emit_partial()
        self.flush()

    def last_lines(self) -> LogLines | None:
        """What is left, taken to be stored by the caller: by the statement that moves
        the job to its final phase (runs.transitions.job_transition), or by `store`."""
        self._emit_partial()
        return self._take()

    def flush(self) -> None:
        lines = self._take()
        if lines is not None:
            self.store(lines)

    def store(self, lines: LogLines) -> None:
        """Store lines taken from this writer and count them in the job's `log_line_count`."""
        with transaction.atomic(savepoint=False):
            rows.insert(lines.row())
            rows.update(
                JobRun, where={"id": self.job_id}, values={"log_line_count": Add(len(lines.lines))}
            )
            publish_on_commit(self.run_id, lines.event())

    def _emit_partial(self) -> None:
        if self.partial or self.dropped:
            self._emit(self.partial)
            self.partial = b""

    def _take(self) -> LogLines | None:
        self.last_flush = time.monotonic()
        if not self.pending:
            return None
        lines, self.pending = self.pending, []
        taken = LogLines(self.job_id, self.job_name, self.run_id, self.next_line, lines)
        self.next_line += len(lines)
        self.lines_written += len(lines)
        return taken


@dataclass(frozen=True)
class LogLines:
    """Consecutive lines of one job's log from line number `first`, to be stored as one chunk."""

    job_id: int
    job_name: str
    run_id: int
    first: int
    lines: list[list[str]]

    def row(self) -> rows.Row:
        return rows.Row(
            LogChunk,
            {
                "job": self.job_id,
                "first_line": self.first,
                "line_count": len(self.lines),
                "lines": self.lines,
            },
        )

    def event(self) -> dict:
        return {"type": "job.log", "job": self.job_name, "first": self.first, "lines": self.lines}
