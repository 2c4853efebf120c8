"""What this worker process's next job starts in, made after its last job.

A ready sandbox (ready.py) costs milliseconds to make, most of it waiting on
the kernel. Made after a job has settled, that time is spent while the
worker would be idle anyway, and the next job takes a ready one. One of each
kind is kept, for the few kinds taken last; none is made before a job of its
kind has run in this process, and each serves one job only.
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


# Spares of the kinds taken last that are kept (kinds differ by limits and by workflow).
KEPT_KINDS = 4


class Spares(Generic[Kind, Thing]):
    """At most one ready thing per kind, for this worker process's next job of that kind."""

    def __init__(self, make: Callable[[Kind], Thing]) -> None:
        self._make = make
        # Oldest first: the first one goes when more than KEPT_KINDS are kept.
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
        """Let every spare go (its worker process is stopping), and make no more."""
        self._wanted.clear()
        while self._ready:
            self._ready.popitem()[1].release()

    def prepare_taken(self) -> None:
        """Make a spare of each kind taken since the last call (the next job's, most likely);
        let go of the spares that are no longer whole and of the kinds not taken lately."""
        for kind, spare in list(self._ready.items()):
            if not spare.alive():
                del self._ready[kind]
                spare.release()
        while self._wanted:
            self.prepare(self._wanted.pop())
        while len(self._ready) > KEPT_KINDS:
            self._ready.pop(next(iter(self._ready))).release()

    def prepare(self, kind: Kind) -> None:
        """Make the next job's spare of this kind (a root worker only; see ready.py)."""
        if kind in self._ready or job_user() is None:
            return
        try:
            self._ready[kind] = self._make(kind)
        except Exception:  # after a job has settled: never take its worker down
            # The next job makes its own and fails with this message, where a person sees it.
            logger.exception("could not make a spare for the next job")
