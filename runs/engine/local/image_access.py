"""Which team may use an image that is already in the engine's store.

The store is shared by every team's jobs on a worker host. An image a team
pulled with its registry's credentials stayed there, and a job of another
team naming the same image ran it without any credentials: a private image
was private only until its first pull.

So every pull is recorded here, by who made it: `None` for a pull without
credentials (the image is public, or served by a mirror), or the id of the
team whose credentials it used. A job may use an image in the store only if
the image was pulled without credentials, or (for a job naming its team's
registries) pulled with this team's credentials. Otherwise the job pulls it
again, with its own credentials or none, and the registry decides: a pull of
layers already present costs only the registry's answer about the manifest.

An image in the store that no pull here recorded (one an operator loaded by
hand) counts as public. The record is a JSON file beside the store, written
under an exclusive lock, since several worker processes share it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path

from django.conf import settings

PUBLIC = "public"


def _ledger_path() -> Path:
    store = settings.LOCAL_ENGINE_IMAGE_STORE
    return Path(store) / "image-access.json" if store else settings.DATA_DIR / "image-access.json"


@contextlib.contextmanager
def _ledger(write: bool):
    path = _ledger_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+") as file:
        fcntl.flock(file, fcntl.LOCK_EX if write else fcntl.LOCK_SH)
        text = file.read()
        try:
            ledger = json.loads(text) if text else {}
        except ValueError:
            ledger = {}
        yield ledger
        if write:
            file.seek(0)
            file.truncate()
            file.write(json.dumps(ledger, sort_keys=True))


def _who(team_id: int | None) -> str:
    return PUBLIC if team_id is None else str(team_id)


def image_usable(image: str, team_id: int | None) -> bool:
    """Whether a job may use `image` from the store: `team_id` for a job with credentials."""
    with _ledger(write=False) as ledger:
        pulled_by = ledger.get(image)
    return pulled_by is None or PUBLIC in pulled_by or _who(team_id) in pulled_by


def image_pulled(image: str, team_id: int | None) -> None:
    """Record that `image` was pulled with `team_id`'s credentials, or none."""
    with _ledger(write=True) as ledger:
        pulled_by = set(ledger.get(image, []))
        pulled_by.add(_who(team_id))
        ledger[image] = sorted(pulled_by)
