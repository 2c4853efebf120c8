"""A real git repository on disk for tests of linked repositories, and GitHub-shaped pushes.

Nothing talks to the internet: the "remote" is a bare repository in a test's
tmp_path, and its path is the clone URL.
"""

from __future__ import annotations

import hashlib
import hmac
import subprocess
from pathlib import Path

GIT_ENV = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1", "PATH": "/usr/bin:/bin"}


class Repo:
    """A bare repository and a work clone that commits to it and pushes with real git."""

    def __init__(self, root: Path) -> None:
        self.bare = root / "remote.git"
        self.work = root / "work"
        root.mkdir(parents=True)
        self._git("init", "--quiet", "--bare", str(self.bare), cwd=root)
        self._git("init", "--quiet", "--initial-branch=main", str(self.work), cwd=root)
        self._git("remote", "add", "origin", str(self.bare))

    @property
    def url(self) -> str:
        return str(self.bare)

    def _git(self, *args: str, cwd: Path | None = None) -> str:
        done = subprocess.run(
            ["git", "-c", "user.name=Ada Lovelace", "-c", "user.email=ada@example.com", *args],
            cwd=cwd or self.work,
            env=GIT_ENV,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    def commit(self, files: dict[str, str | None], message: str = "change", branch="main") -> str:
        """Commit `files` (None deletes one) on `branch`, push it, and give the commit id."""
        current = self._git("symbolic-ref", "--short", "HEAD")
        if branch != current:
            self._git("checkout", "--quiet", "-B", branch)
        for name, content in files.items():
            path = self.work / name
            if content is None:
                path.unlink()
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(content)
        self._git("add", "--all")
        self._git("commit", "--quiet", "--allow-empty", "-m", message)
        self._git("push", "--quiet", "--force", "origin", f"HEAD:refs/heads/{branch}")
        self._git("update-server-info", cwd=self.bare)
        return self._git("rev-parse", "HEAD")

    def tag(self, name: str) -> None:
        self._git("tag", name)
        self._git("push", "--quiet", "origin", f"refs/tags/{name}")


def push_payload(repo: Repo, commit: str, *, branch="main", message="change") -> dict:
    """A push event shaped like GitHub's."""
    return {
        "ref": f"refs/heads/{branch}",
        "before": "0" * 40,
        "after": commit,
        "created": False,
        "deleted": False,
        "forced": False,
        "repository": {"clone_url": repo.url, "full_name": "octo/demo", "default_branch": "main"},
        "head_commit": {
            "id": commit,
            "message": message,
            "author": {"name": "Ada Lovelace", "email": "ada@example.com"},
        },
        "commits": [{"id": commit, "message": message}],
        "pusher": {"name": "ada", "email": "ada@example.com"},
    }


def signed(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
