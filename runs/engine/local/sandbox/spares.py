"""What this worker process's next job starts in, made after its last job.

A ready sandbox (ready.py) or a container's network (network.py) costs tens
of milliseconds to make, most of it waiting on the kernel or slirp4netns.
Made after a job has settled, that time is spent while the worker would be
idle anyway, and the next job takes a ready one. One of each kind is kept;
none is made before a job of its kind has run in this process, and each
serves one job only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar

from runs.engine.local.sandbox.base import job_user

logger = logging.getLogger(__name__)


class Prepared(Protocol):
    def alive(self) -> bool: ...

    def release(self) -> None: ...


Kind = TypeVar("Kind", bound=Hashable)
Thing = TypeVar("Thing", bound=Prepared)


class Spares(Generic[Kind, Thing]):
    """At most one ready thing per kind, for this worker process's next job of that kind."""

    def __init__(self, make: Callable[[Kind], Thing]) -> None:
        self._make = make
        self._ready: dict[Kind, Thing] = {}
        self._wanted: set[Kind] = set()

    def take(self, kind: Kind) -> Thing:
        """The spare of this kind if it is still whole, else a new one."""
        self._wanted.add(kind)
        spare = self._ready.pop(kind, None)
        if spare is not None and not spare.alive():
            spare.release()
            spare = None
        return spare or self._make(kind)

    def release_all(self) -> None:
        """Let every spare go (its worker process is stopping)."""
        while self._ready:
            self._ready.popitem()[1].release()

    def prepare_taken(self) -> None:
        """Make a spare of each kind taken since the last call (the next job's, most likely)."""
        while self._wanted:
            self.prepare(self._wanted.pop())

    def prepare(self, kind: Kind) -> None:
        """Make the next job's spare of this kind (a root worker only; see ready.py)."""
        if kind in self._ready or job_user() is None:
            return
        try:
            self._ready[kind] = self._make(kind)
        except Exception:  # after a job has settled: never take its worker down
            # The next job makes its own and fails with this message, where a person sees it.
            logger.exception("could not make a spare for the next job")
