"""Git clone URLs: which of them name a path on this host rather than a remote.

Repository links (triggers/) and the `git-checkout@v1` action (runs/) both
decide with this, so that ALLOW_LOCAL_REPOSITORIES covers the same URLs in
both; it lives here, below both, for that reason.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

LOCAL_REPOSITORIES_OFF = (
    "this server does not clone file:// URLs or host paths (ALLOW_LOCAL_REPOSITORIES is off); "
    "use an https:// or ssh:// URL"
)


def local_repository_path(url: str) -> Path | None:
    """The path on this host that a clone URL names, or None for a remote.

    Git's own rule: a URL without `://` is a host path when it has no colon or a
    slash comes before the first one; otherwise `[user@]host:path` is an SSH
    remote (`git@github.com:org/repo.git`). Repository links and
    `git-checkout@v1` both decide with this, so they agree on what
    ALLOW_LOCAL_REPOSITORIES covers.
    """
    if "://" in url:
        parts = urlsplit(url)
        return Path(parts.path) if parts.scheme.lower() == "file" else None
    colon = url.find(":")
    if colon != -1 and "/" not in url[:colon]:
        return None
    return Path(url)
