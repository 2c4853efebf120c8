"""Which team may use an image that is already in the engine's store.

The store is shared by every team's jobs on a worker host. An image a team
pulled with its registry's credentials stayed there, and a job of another
team naming the same image ran it without any credentials: a private image
was private only until its first pull.

So every pull is recorded here by the image's id (the same whatever name,
alias or digest a spec uses for it) and by who made it: `public` for a pull
without credentials (the image is public, or served by a mirror), or the id
of the team whose credentials it used. A job may use an image in the store
only if that image was pulled without credentials or, for a job naming its
team's registries, with this team's. Otherwise the job pulls it again, with
its own credentials or none, and the registry decides; a pull of layers
already present costs only the registry's answer about the manifest.

The record fails closed: an image it does not know (loaded by hand, or
pulled before this record existed) is pulled before its first use, and a
record that cannot be read counts as empty. It is a JSON file beside the
store, replaced whole under an exclusive lock, since several worker
processes share it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

logger = logging.getLogger(__name__)

PUBLIC = "public"


def _ledger_path() -> Path:
    store = settings.LOCAL_ENGINE_IMAGE_STORE
    return Path(store) / "image-access.json" if store else settings.DATA_DIR / "image-access.json"


def _read(path: Path) -> dict[str, list[str]]:
    try:
        ledger = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except ValueError:
        logger.warning("%s cannot be read; every image is pulled again before use", path)
        return {}
    return ledger if isinstance(ledger, dict) else {}


@contextlib.contextmanager
def _locked() -> Iterator[Path]:
    path = _ledger_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield path


def _who(team_id: int | None) -> str:
    return PUBLIC if team_id is None else str(team_id)


def image_usable(image_id: str, team_id: int | None) -> bool:
    """Whether a job may use the stored image `image_id`: `team_id` for a job with credentials."""
    with _locked() as path:
        pulled_by = _read(path).get(image_id, [])
    return PUBLIC in pulled_by or _who(team_id) in pulled_by


def image_pulled(image_id: str, team_id: int | None) -> None:
    """Record that `image_id` was pulled with `team_id`'s credentials, or none."""
    with _locked() as path:
        ledger = _read(path)
        ledger[image_id] = sorted({*ledger.get(image_id, []), _who(team_id)})
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as new:
            json.dump(ledger, new, sort_keys=True)
            new.flush()
            os.fsync(new.fileno())
        os.replace(new.name, path)
