"""Git as a subprocess against a project's bare mirror: no work tree, no ORM.

Every command runs in a fixed environment: no system or global git config (a
host's credential helper, `insteadOf` rules or hooks path cannot change what we
fetch, nor store a token), no terminal prompt, and only the transports listed
in ALLOWED_PROTOCOLS (never `ext::`, which runs commands). An access token
reaches git only through GIT_ASKPASS: a helper in a private folder prints it
from a file there, so it is in no command line, no environment variable, no
git config and no URL, and both files are gone when the command ends.
"""

from __future__ import annotations

import fcntl
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

from workflows.clone_urls import local_repository_path

SPEC_FOLDER = ".gradient/workflows"
SPEC_SUFFIXES = (".yaml", ".yml")
ALLOWED_PROTOCOLS = ("https", "http", "ssh", "git", "file")
# The username sent with a token; GitHub takes it for app and personal tokens alike.
TOKEN_USERNAME = "x-access-token"
NETWORK_TIMEOUT_SECONDS = 300
LOCAL_TIMEOUT_SECONDS = 60
SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_REGULAR_FILE_MODES = {"100644", "100755"}
_ASKPASS_SCRIPT = """#!/bin/sh
case "$1" in
  Username*) printf '%s\\n' {username} ;;
  *) cat {token_file} ;;
esac
"""


class GitError(Exception):
    """A git command failed; the message is safe to store and show (no token in it)."""


@dataclass(frozen=True)
class GitAccess:
    """How commands reach a remote: the environment every git command gets.

    `secrets` are the strings to blank out of any error text (the token).
    """

    env: dict[str, str]
    secrets: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class SpecFile:
    """A file of the spec folder at a commit: its bytes, or why they were not read."""

    path: str
    content: bytes | None
    problem: str | None = None

    @property
    def workflow_name(self) -> str:
        """The workflow a spec file runs as: its name without the extension."""
        return PurePosixPath(self.path).stem


@dataclass(frozen=True)
class CommitInfo:
    message: str
    author: str


def is_sha(value: object) -> bool:
    return isinstance(value, str) and bool(SHA.match(value))


def _base_env() -> dict[str, str]:
    # Inherited GIT_* variables (GIT_DIR from a hook, GIT_ASKPASS of a desktop
    # session) would redirect or change our commands; none of them is kept.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("GIT_") and key not in {"SSH_ASKPASS", "SSH_ASKPASS_REQUIRE"}
    }
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_TERMINAL_PROMPT="0",
        GIT_SSH_COMMAND="ssh -o BatchMode=yes",
        LC_ALL="C",
    )
    return env


@contextmanager
def git_access(*, token: str | None, scratch: Path) -> Iterator[GitAccess]:
    """The environment for git commands, with an askpass helper when there is a token.

    The helper and the token file live in a private folder under `scratch` for
    the duration of the block only.
    """
    env = _base_env()
    if not token:
        yield GitAccess(env=env)
        return
    scratch.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="askpass-", dir=scratch))
    try:
        token_file = folder / "token"
        descriptor = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(token + "\n")
        helper = folder / "askpass"
        descriptor = os.open(helper, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(
                _ASKPASS_SCRIPT.format(
                    username=shlex.quote(TOKEN_USERNAME), token_file=shlex.quote(str(token_file))
                )
            )
        yield GitAccess(env={**env, "GIT_ASKPASS": str(helper)}, secrets=(token,))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _local_repository_paths(url: str) -> set[Path]:
    """The host paths a clone URL may read: none for a remote, the path of a `file://` URL.

    git ignores a `file://` URL's host and percent-decodes its path, so both
    the raw and the decoded path are returned.
    """
    path = local_repository_path(url)
    if path is None:
        return set()
    if "://" in url:
        return {path, Path(unquote(str(path)))}
    return {path}


def server_files_refusal(url: str) -> str | None:
    """Why git must not read this URL: it names a path inside the server's own files.

    The data folder holds every project's bare mirror, run folders, datasets
    and the secret key; the checkout holds the code. Either, read as a
    "repository", would hand one team another team's specs or the server's
    secrets, so no setting allows it. Paths are resolved (`..`, symbolic
    links) before they are compared.
    """
    from django.conf import settings

    private = (Path(settings.DATA_DIR).resolve(), Path(settings.BASE_DIR).resolve())
    for path in _local_repository_paths(url):
        resolved = path.resolve()
        if any(resolved == folder or folder in resolved.parents for folder in private):
            return (
                "the repository is inside this server's own files (its data folder or "
                "checkout); link a repository of your own"
            )
    return None


def allowed_protocols() -> tuple[str, ...]:
    """The transports git may use here: local ones only where the server allows them."""
    from django.conf import settings

    if settings.ALLOW_LOCAL_REPOSITORIES:
        return ALLOWED_PROTOCOLS
    return tuple(protocol for protocol in ALLOWED_PROTOCOLS if protocol != "file")


def git_argv(*args: str) -> list[str]:
    """A git command line: the transport policy as `-c` options, then `args`."""
    options = ["-c", "protocol.allow=never", "-c", "credential.helper="]
    for protocol in allowed_protocols():
        options += ["-c", f"protocol.{protocol}.allow=always"]
    options += ["-c", "http.lowSpeedLimit=1000", "-c", "http.lowSpeedTime=60"]
    return ["git", *options, *args]


def _execute(
    argv: list[str], *, env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess:
    """The one place a git process starts (the tests watch it)."""
    return subprocess.run(
        argv, env=env, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False
    )


def _redacted(text: str, access: GitAccess) -> str:
    for secret in access.secrets:
        text = text.replace(secret, "***")
    return text


def run_git(
    *args: str,
    access: GitAccess,
    git_dir: Path | None = None,
    timeout: float = LOCAL_TIMEOUT_SECONDS,
) -> bytes:
    """Run git and give its standard output; GitError with its last words when it fails."""
    prefix = ("--git-dir", str(git_dir)) if git_dir is not None else ()
    argv = git_argv(*prefix, *args)
    try:
        done = _execute(argv, env=access.env, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} did not finish within {timeout:.0f} seconds") from None
    except OSError as error:
        raise GitError(f"git could not be started: {error.strerror}") from None
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip()
        said = _redacted(said, access)[-2000:] or f"exit status {done.returncode}"
        raise GitError(f"git {args[0]} failed: {said}")
    return done.stdout


def remote_heads(*, url: str, access: GitAccess) -> dict[str, str]:
    """Every branch of the remote and the commit it points at (one `git ls-remote`)."""
    out = run_git("ls-remote", "--heads", url, access=access, timeout=NETWORK_TIMEOUT_SECONDS)
    heads = {}
    for line in out.decode(errors="replace").splitlines():
        sha, _, ref = line.partition("\t")
        if ref.startswith("refs/heads/") and is_sha(sha):
            heads[ref.removeprefix("refs/heads/")] = sha
    return heads


@contextmanager
def _mirror_lock(mirror: Path) -> Iterator[None]:
    # Two pushes of one project may be handled at once; git's own ref locks
    # would make one of the fetches fail instead of waiting.
    mirror.parent.mkdir(parents=True, exist_ok=True)
    with open(mirror.parent / f"{mirror.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _has_commit(mirror: Path, commit: str, access: GitAccess) -> bool:
    try:
        run_git("cat-file", "-e", f"{commit}^{{commit}}", git_dir=mirror, access=access)
    except GitError:
        return False
    return True


def mirror_fetch(*, mirror: Path, url: str, branch: str, commit: str, access: GitAccess) -> None:
    """Make sure the bare mirror holds `commit`, fetching `branch` (or the commit) when not."""
    with _mirror_lock(mirror):
        if not (mirror / "HEAD").exists():
            run_git("init", "--bare", "--quiet", str(mirror), access=access)
        if _has_commit(mirror, commit, access):
            return
        ref = f"refs/heads/{branch}"
        run_git(
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            url,
            f"+{ref}:{ref}",
            git_dir=mirror,
            access=access,
            timeout=NETWORK_TIMEOUT_SECONDS,
        )
        if _has_commit(mirror, commit, access):
            return
        # The branch has moved on past a commit that is no longer in it (a
        # force push): ask for the commit itself, which servers that allow
        # fetching reachable commits by id (GitHub does) answer.
        try:
            run_git(
                "fetch",
                "--quiet",
                "--no-tags",
                "--no-write-fetch-head",
                url,
                commit,
                git_dir=mirror,
                access=access,
                timeout=NETWORK_TIMEOUT_SECONDS,
            )
        except GitError:
            pass
        if not _has_commit(mirror, commit, access):
            raise GitError(
                f"commit {commit} is not in the repository's branch {branch} "
                "(was it force-pushed away?)"
            )


def spec_files(*, mirror: Path, commit: str, access: GitAccess, max_bytes: int) -> list[SpecFile]:
    """The `.yaml`/`.yml` files directly in the spec folder at `commit`, sorted by path."""
    listing = run_git(
        "ls-tree", "-z", "-l", commit, "--", f"{SPEC_FOLDER}/", git_dir=mirror, access=access
    )
    files = []
    for entry in listing.split(b"\0"):
        if not entry:
            continue
        meta, _, raw_path = entry.partition(b"\t")
        mode, kind, obj, size = meta.decode().split()
        path = raw_path.decode(errors="replace")
        if kind != "blob" or not path.endswith(SPEC_SUFFIXES):
            continue
        if mode not in _REGULAR_FILE_MODES:
            files.append(SpecFile(path, None, "a spec must be a regular file, not a symbolic link"))
        elif int(size) > max_bytes:
            files.append(SpecFile(path, None, f"the spec is larger than {max_bytes // 1024} KiB"))
        else:
            content = run_git("cat-file", "blob", obj, git_dir=mirror, access=access)
            files.append(SpecFile(path, content))
    return sorted(files, key=lambda file: file.path)


def commit_info(*, mirror: Path, commit: str, access: GitAccess) -> CommitInfo:
    out = run_git(
        "log", "-1", "--format=%an%x00%B", commit, "--", git_dir=mirror, access=access
    ).decode(errors="replace")
    author, _, message = out.partition("\0")
    return CommitInfo(message=message.strip(), author=author.strip())
