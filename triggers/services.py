"""Writes for git-linked projects: linking a repository and turning pushes into runs.

A push is a branch that moved to a commit, seen either by GitHub's webhook
(`webhook_push_receive`, which queues it) or by a poll of the remote
(`repository_poll`). `push_handle` fetches the commit into the project's bare
mirror, reads the specs in `.gradient/workflows/` at that commit and starts a
run of each one whose `on.github.branches.only` names the branch. Every push
handled leaves one PushTrigger saying what it started, or why nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from runs.models import Run
from runs.services import SubmissionError, run_submit
from triggers import selectors
from triggers.client import (
    ALLOWED_PROTOCOLS,
    GitError,
    SpecFile,
    commit_info,
    git_access,
    is_sha,
    mirror_fetch,
    remote_heads,
    server_files_refusal,
    spec_files,
)
from triggers.models import PushTrigger, RepositoryLink
from triggers.specs import SpecCandidate, branches_named, problem, specs_for_branch
from workflows.clone_urls import LOCAL_REPOSITORIES_OFF, local_repository_path
from workflows.models import Project, Workflow
from workflows.secret_values import SecretUnreadable, decrypt_value, encrypt_value
from workflows.selectors import secret_values, secrets_resolve
from workflows.services import InvalidRequest, workflow_create

logger = logging.getLogger(__name__)

WEBHOOK_SECRET_MIN_LENGTH = 16
# GitHub caps a delivery at 25 MB; a push of many commits can exceed Django's 2.5 MB default.
WEBHOOK_MAX_BYTES = 25 * 1024 * 1024
DELIVERY_ID_MAX_LENGTH = 100
BRANCH_MAX_LENGTH = 200
# `<helper>::<address>` makes git run the remote helper `git-remote-<helper>`
# (`ext::` runs any command): never a clone URL of ours.
_REMOTE_HELPER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+.-]*::")
_SCP_LIKE = re.compile(r"^(?:[A-Za-z0-9._-]+@)?[A-Za-z0-9.-]+:(?!//)[^\s@]+$")
_BAD_BRANCH = re.compile(r"^[-/.]|\.\.|//|@\{|[\x00-\x20\x7f~^:?*\[\\]|[/.]$|\.lock$|\.lock/|/\.")
_URL_ADVICE = (
    "use https://host/org/repo.git, ssh://git@host/org/repo.git, git@host:org/repo.git, "
    "file:///path/to/repo.git or an absolute path"
)


class PushIgnored(Exception):
    """A well-formed push that starts nothing by design (a tag, a deleted branch)."""


@dataclass(frozen=True)
class Push:
    """A branch of a linked repository that moved to a commit, as a webhook or a poll saw it."""

    project_id: int
    source: str
    branch: str
    commit: str
    message: str = ""
    author: str = ""
    delivery_id: str | None = None

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def git_root() -> Path:
    return settings.DATA_DIR / "git"


def mirror_path(project_id: int) -> Path:
    """The project's cached bare mirror of its linked repository."""
    return git_root() / str(project_id)


def _remove_mirror_on_commit(project_id: int) -> None:
    mirror = mirror_path(project_id)
    transaction.on_commit(lambda: shutil.rmtree(mirror, ignore_errors=True))


def clone_url_checked(value: object) -> str:
    """A clone URL git may fetch from, without credentials in it."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(
            "a repository link needs cloneUrl, e.g. https://github.com/org/repo.git",
            field="cloneUrl",
        )
    url = value.strip()
    if len(url) > 1000:
        raise InvalidRequest("cloneUrl has at most 1000 characters", field="cloneUrl")
    if (
        url.startswith("-")
        or _REMOTE_HELPER.match(url)
        or any(ch.isspace() or ord(ch) < 32 for ch in url)
    ):
        raise InvalidRequest(f"cloneUrl is not a clone URL; {_URL_ADVICE}", field="cloneUrl")
    if "://" in url:
        try:
            parts = urlsplit(url)
            has_password = parts.password is not None
            user = parts.username
        except ValueError:
            raise InvalidRequest(
                f"cloneUrl is not a valid URL; {_URL_ADVICE}", field="cloneUrl"
            ) from None
        scheme = parts.scheme.lower()
        if scheme not in ALLOWED_PROTOCOLS:
            raise InvalidRequest(
                f'"{scheme}://" clone URLs are not supported; {_URL_ADVICE}', field="cloneUrl"
            )
        # A token in the URL would end up in the database, the API and git's
        # error messages; for https even a bare user part can be a token.
        if has_password or (scheme in {"http", "https"} and user):
            raise InvalidRequest(
                "cloneUrl must not carry credentials: store the access token as a project "
                'secret and link it with "token": "secret:NAME"',
                field="cloneUrl",
            )
        if scheme != "file" and not parts.hostname:
            raise InvalidRequest(f"cloneUrl names no host; {_URL_ADVICE}", field="cloneUrl")
    elif not (url.startswith("/") or _SCP_LIKE.match(url)):
        raise InvalidRequest(f"cloneUrl is not a clone URL; {_URL_ADVICE}", field="cloneUrl")
    if local_repository_path(url) is not None:
        _local_repository_allowed(url)
    return url


def _local_repository_allowed(url: str) -> None:
    if not settings.ALLOW_LOCAL_REPOSITORIES:
        raise InvalidRequest(f"cloneUrl: {LOCAL_REPOSITORIES_OFF}", field="cloneUrl")
    refusal = server_files_refusal(url)
    if refusal is not None:
        raise InvalidRequest(f"cloneUrl: {refusal}", field="cloneUrl")


def _usable_url(link: RepositoryLink) -> str:
    """The link's clone URL, checked again each time git is to read it.

    A link stored before the check existed, or a path that has become a
    symbolic link since, must not reach the server's files either.
    """
    refusal = server_files_refusal(link.clone_url)
    if refusal is not None:
        raise GitError(refusal)
    return link.clone_url


def branch_valid(name: object) -> bool:
    """Whether `name` is a branch name git accepts (as `git check-ref-format --branch`)."""
    return (
        isinstance(name, str)
        and 0 < len(name) <= BRANCH_MAX_LENGTH
        and name != "@"
        and not _BAD_BRANCH.search(name)
    )


def _token_secret_name(*, project: Project, token: object) -> str:
    """The name of the secret that `token: secret:NAME` refers to; it must be set."""
    if token is None or token == "":
        return ""
    if not isinstance(token, str) or not token.startswith("secret:"):
        # Never echo the value: it may be the token itself.
        raise InvalidRequest(
            'token must name a secret, as "secret:NAME": set the access token as a project '
            "secret first (PUT /api/v1/projects/ID/secrets/NAME); never send the token here",
            field="token",
        )
    name = token.removeprefix("secret:").strip()
    if not name:
        raise InvalidRequest('token must be "secret:NAME" with a secret name', field="token")
    if name not in secrets_resolve(project=project, cluster=None, names=[name]):
        raise InvalidRequest(
            f'there is no secret "{name}" for project "{project.name}" or its team; set it with '
            f"gradient secrets set project --id {project.handle} --name {name} --value ...",
            field="token",
        )
    return name


def _webhook_secret_checked(value: object) -> str:
    if (
        not isinstance(value, str)
        or len(value) < WEBHOOK_SECRET_MIN_LENGTH
        or len(value) > 200
        or not value.isprintable()
    ):
        raise InvalidRequest(
            f"webhookSecret is {WEBHOOK_SECRET_MIN_LENGTH} to 200 printable characters; leave "
            "it out to keep the current one (a new link gets a generated one)",
            field="webhookSecret",
        )
    return value


@transaction.atomic
def repository_link(
    *,
    project: Project,
    clone_url: str,
    default_branch: str = "main",
    token: str | None = None,
    poll: bool = False,
    webhook_secret: str | None = None,
) -> tuple[RepositoryLink, str | None]:
    """Link the project to a repository, or change its link.

    `token` is `secret:NAME` naming a secret that holds an access token.
    `webhook_secret=None` keeps the current webhook secret (a new link gets a
    generated one). Returns the link and the webhook secret when one was
    generated now: the only time it is ever shown.
    """
    url = clone_url_checked(clone_url)
    if not branch_valid(default_branch):
        raise InvalidRequest(
            f"defaultBranch must be a branch name of at most {BRANCH_MAX_LENGTH} characters",
            field="defaultBranch",
        )
    token_secret = _token_secret_name(project=project, token=token)
    if webhook_secret is not None:
        webhook_secret = _webhook_secret_checked(webhook_secret)
    link = RepositoryLink.objects.select_for_update().filter(project=project).first()
    generated = None
    if link is None:
        if webhook_secret is None:
            webhook_secret = generated = secrets.token_urlsafe(32)
        link = RepositoryLink(project=project)
    elif link.clone_url != url:
        # Another repository: nothing cached or seen of the old one applies.
        link.last_commit, link.last_seen, link.branch_heads = "", None, {}
        _remove_mirror_on_commit(project.id)
    elif link.default_branch != default_branch:
        link.last_commit, link.last_seen, link.branch_heads = "", None, {}
    if webhook_secret is not None:
        link.webhook_secret_ciphertext = encrypt_value(webhook_secret)
    link.clone_url = url
    link.default_branch = default_branch
    link.token_secret = token_secret
    link.poll = bool(poll)
    link.save()
    return link, generated


@transaction.atomic
def repository_unlink(*, project: Project) -> None:
    """Remove the project's link and its mirror; its push records stay as history."""
    deleted, _ = RepositoryLink.objects.filter(project=project).delete()
    if not deleted:
        raise InvalidRequest(f'project "{project.name}" has no linked repository', status=404)
    _remove_mirror_on_commit(project.id)


@dataclass(frozen=True)
class WebhookRefusal:
    """Why a delivery is answered before its body is read, and with which status."""

    status: int
    detail: str


WEBHOOK_TOO_LARGE = WebhookRefusal(413, f"the delivery is larger than {WEBHOOK_MAX_BYTES} bytes")


def webhook_refusal(
    *, link: RepositoryLink | None, content_length: str | None
) -> WebhookRefusal | None:
    """Refuse a delivery by its project and declared size, before a byte of its body is read.

    Anyone can POST to a hook URL; reading 25 MB for a project that has no
    link, or a body that says it is larger than any delivery, would let them
    make the server store and hash whatever they send.
    """
    if link is None:
        return WebhookRefusal(404, "no project with a linked repository has this handle")
    if content_length is None or content_length == "":
        return None
    if not content_length.isascii() or not content_length.isdigit():
        return WebhookRefusal(400, "Content-Length must be a number of bytes")
    if int(content_length) > WEBHOOK_MAX_BYTES:
        return WEBHOOK_TOO_LARGE
    return None


def webhook_signature_valid(
    *, link: RepositoryLink | None, body: bytes, signature: str | None
) -> bool:
    """Whether `signature` is GitHub's `sha256=<HMAC-SHA256 of body>` with the link's secret.

    Without a link the body is checked against a random key, so an unknown
    project answers like a wrong signature, in about the same time.
    """
    key = secrets.token_bytes(32)
    if link is not None:
        try:
            key = decrypt_value(link.webhook_secret_ciphertext).encode()
        except SecretUnreadable:
            logger.error(
                "the webhook secret of project %s cannot be decrypted (SECRET_KEY changed); "
                "set it again",
                link.project_id,
            )
    expected = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
    if not isinstance(signature, str) or not signature.isascii():
        return False
    return hmac.compare_digest(expected.encode(), signature.strip().encode())


def push_from_github(*, project_id: int, payload: object, delivery_id: str | None) -> Push:
    """The push a GitHub `push` event describes; PushIgnored for tags and deleted branches."""
    if not isinstance(payload, dict):
        raise InvalidRequest("a push event's body must be a JSON object")
    ref, after = payload.get("ref"), payload.get("after")
    if not isinstance(ref, str) or not isinstance(after, str):
        raise InvalidRequest("a push event needs `ref` and `after` as strings")
    if payload.get("deleted") is True or set(after) == {"0"}:
        raise PushIgnored(f"{ref} was deleted; a deletion starts nothing")
    if ref.startswith("refs/tags/"):
        raise PushIgnored(f"{ref} is a tag; only pushes to branches start runs")
    if not ref.startswith("refs/heads/"):
        raise PushIgnored(f"{ref} is not a branch; only pushes to branches start runs")
    branch = ref.removeprefix("refs/heads/")
    if not branch_valid(branch):
        raise InvalidRequest(f"`ref` names no valid branch of at most {BRANCH_MAX_LENGTH} chars")
    if not is_sha(after):
        raise InvalidRequest("`after` must be a full commit id")
    head = payload.get("head_commit") if isinstance(payload.get("head_commit"), dict) else {}
    author = head.get("author") if isinstance(head.get("author"), dict) else {}
    pusher = payload.get("pusher") if isinstance(payload.get("pusher"), dict) else {}
    message = head.get("message") if isinstance(head.get("message"), str) else ""
    name = author.get("name") or pusher.get("name") or ""
    return Push(
        project_id=project_id,
        source=PushTrigger.Source.WEBHOOK,
        branch=branch,
        commit=after,
        message=message,
        author=name if isinstance(name, str) else "",
        delivery_id=delivery_id or None,
    )


def webhook_push_receive(
    *, link: RepositoryLink, payload: object, delivery_id: str | None
) -> PushTrigger | None:
    """Queue a verified push delivery (on commit); the earlier record if it was handled already.

    Handling needs a fetch, which can take longer than GitHub waits for an
    answer (10 s), so it runs in a Celery task.
    """
    if delivery_id is not None and not 0 < len(delivery_id) <= DELIVERY_ID_MAX_LENGTH:
        raise InvalidRequest(f"X-GitHub-Delivery has 1 to {DELIVERY_ID_MAX_LENGTH} characters")
    push = push_from_github(project_id=link.project_id, payload=payload, delivery_id=delivery_id)
    handled = selectors.push_handled(
        project_id=push.project_id,
        branch=push.branch,
        commit=push.commit,
        delivery_id=push.delivery_id,
    )
    if handled is not None:
        return handled
    transaction.on_commit(lambda: _enqueue_push(push))
    return None


def _enqueue_push(push: Push) -> None:
    from triggers.tasks import push_handle as push_handle_task

    push_handle_task.delay(push.as_dict())


def _token_of(link: RepositoryLink) -> str | None:
    if not link.token_secret:
        return None
    values = secret_values(project=link.project, cluster=None, names=[link.token_secret])
    if link.token_secret not in values:
        raise GitError(
            f'the access token secret "{link.token_secret}" is not set any more; set it again'
        )
    return values[link.token_secret]


def _read_specs(*, link: RepositoryLink, push: Push) -> tuple[Push, list[SpecFile]]:
    """The spec files at the pushed commit, and the push with its commit's message and author."""
    mirror = mirror_path(link.project_id)
    with git_access(token=_token_of(link), scratch=git_root() / ".askpass") as access:
        mirror_fetch(
            mirror=mirror,
            url=_usable_url(link),
            branch=push.branch,
            commit=push.commit,
            access=access,
        )
        files = spec_files(
            mirror=mirror, commit=push.commit, access=access, max_bytes=settings.SPEC_MAX_BYTES
        )
        if not push.message or not push.author:
            info = commit_info(mirror=mirror, commit=push.commit, access=access)
            push = dataclasses.replace(
                push, message=push.message or info.message, author=push.author or info.author
            )
    return push, files


def _workflow_for(*, project: Project, name: str) -> Workflow:
    """The project's workflow named `name`, created on first sight."""
    workflow = Workflow.objects.filter(project=project, name=name).first()
    if workflow is not None:
        return workflow
    try:
        with transaction.atomic():
            return workflow_create(project=project, name=name)
    except IntegrityError:
        # Another push created it at the same moment.
        return Workflow.objects.get(project=project, name=name)


def _run_trigger(*, link: RepositoryLink, push: Push, path: str) -> dict:
    """What Run.trigger records of the push that started a run."""
    return {
        "source": push.source,
        "repository": link.clone_url,
        "branch": push.branch,
        "commit": push.commit,
        "message": push.message,
        "author": push.author,
        "deliveryId": push.delivery_id,
        "path": path,
    }


def _start(*, link: RepositoryLink, push: Push, candidate: SpecCandidate) -> Run | dict:
    """A run of the candidate spec, or the problem that kept it from starting."""
    try:
        with transaction.atomic():
            workflow = _workflow_for(project=link.project, name=candidate.workflow)
            return run_submit(
                workflow=workflow,
                spec_text=candidate.text,
                reason=Run.Reason.TRIGGER,
                trigger=_run_trigger(link=link, push=push, path=candidate.path),
            )
    except SubmissionError as error:
        return problem(
            candidate.path,
            candidate.workflow,
            "the run was not started",
            errors=error.errors,
            document=error.document,
        )
    except InvalidRequest as error:
        return problem(candidate.path, candidate.workflow, error.message)


def _trigger_claim(*, link: RepositoryLink, push: Push) -> PushTrigger | None:
    """The record this push is handled under, or None when it is being or was handled already.

    Must run in a transaction. The link is locked first, so pushes of one
    project are recorded one at a time. A push is the project's (branch,
    commit), whichever way it came (webhook or poll, with any delivery id): a
    record of it that did not fail means it was handled. With poll mode on, a
    head of the default branch already seen (the first poll records it without
    a record) is not handled either. A failed record of the same push is taken
    over: failure started nothing. A delivery id already recorded in the project
    for another push is refused by the unique index.
    """
    locked = RepositoryLink.objects.select_for_update().filter(pk=link.pk).first()
    if locked is None:
        return None
    polled = locked.poll or push.source == PushTrigger.Source.POLL
    if polled and _head_seen(locked, push.branch) == push.commit:
        return None
    fields = {
        "project_id": link.project_id,
        "source": push.source,
        "branch": push.branch,
        "commit": push.commit,
        "commit_message": push.message,
        "author": push.author[:200],
        "outcome": PushTrigger.Outcome.FAILED,
        "errors": [],
    }
    previous = PushTrigger.objects.filter(
        project_id=link.project_id, branch=push.branch, commit=push.commit
    )
    if previous.exclude(outcome=PushTrigger.Outcome.FAILED).exists():
        return None
    existing = previous.select_for_update().order_by("-id").first()
    if existing is not None:
        for name, value in fields.items():
            setattr(existing, name, value)
        existing.save()
        return existing
    try:
        with transaction.atomic():
            return PushTrigger.objects.create(delivery_id=push.delivery_id, **fields)
    except IntegrityError:
        return None


def _failure_record(*, link: RepositoryLink, push: Push, message: str) -> PushTrigger | None:
    with transaction.atomic():
        trigger = _trigger_claim(link=link, push=push)
        if trigger is not None:
            trigger.errors = [problem(None, None, message)]
            trigger.save(update_fields=["errors"])
    return trigger


def push_handle(*, push: Push) -> PushTrigger | None:
    """Start a run of each spec at the commit whose `on` names the branch; record the outcome.

    Outcome: `failed` when the commit or its specs could not be read (a later
    redelivery or poll tries again), `invalid` when any spec meant for this
    branch could not start (the others still do), `started` when all of them
    did, `no-match` when none is meant for it. Safe to run twice: the second
    time returns None and starts nothing, as it does when the project was
    unlinked meanwhile.
    """
    link = (
        RepositoryLink.objects.select_related("project", "project__team")
        .filter(project_id=push.project_id)
        .first()
    )
    if link is None:
        logger.info("push to project %s ignored: no repository is linked", push.project_id)
        return None
    if selectors.push_handled(
        project_id=push.project_id,
        branch=push.branch,
        commit=push.commit,
        delivery_id=push.delivery_id,
    ):
        return None
    try:
        push, files = _read_specs(link=link, push=push)
    except (GitError, SecretUnreadable) as error:
        logger.warning(
            "push %s@%s of project %s: %s", push.branch, push.commit, push.project_id, error
        )
        return _failure_record(link=link, push=push, message=str(error))
    candidates, problems = specs_for_branch(files, push.branch)
    with transaction.atomic():
        trigger = _trigger_claim(link=link, push=push)
        if trigger is None:
            return None
        runs = []
        for candidate in candidates:
            started = _start(link=link, push=push, candidate=candidate)
            if isinstance(started, Run):
                runs.append(started)
            else:
                problems.append(started)
        if problems:
            trigger.outcome = PushTrigger.Outcome.INVALID
        elif runs:
            trigger.outcome = PushTrigger.Outcome.STARTED
        else:
            trigger.outcome = PushTrigger.Outcome.NO_MATCH
        trigger.errors = sorted(problems, key=lambda entry: entry["file"] or "")
        trigger.save(update_fields=["outcome", "errors"])
        trigger.runs.set(runs)
        _head_record(link=link, branch=push.branch, commit=push.commit)
    return trigger


def _head_seen(link: RepositoryLink, branch: str) -> str:
    """The head of `branch` handled or recorded last ("" when never seen)."""
    if branch == link.default_branch:
        return link.last_commit
    return link.branch_heads.get(branch, "")


def _head_record(*, link: RepositoryLink, branch: str, commit: str, first: bool = False) -> None:
    """Remember `commit` as the head of `branch` last seen (with `first`: only if none was)."""
    with transaction.atomic():
        locked = RepositoryLink.objects.select_for_update().filter(pk=link.pk).first()
        if locked is None or (first and _head_seen(locked, branch)):
            return
        if branch == locked.default_branch:
            locked.last_commit, locked.last_seen = commit, timezone.now()
        elif locked.poll:
            locked.branch_heads = {**locked.branch_heads, branch: commit}
        else:
            return
        locked.save(update_fields=["last_commit", "last_seen", "branch_heads"])


def _polled_branches(*, link: RepositoryLink, head: str, access) -> list[str]:
    """The default branch, then every other branch that a spec at its `head` names."""
    mirror = mirror_path(link.project_id)
    try:
        mirror_fetch(
            mirror=mirror,
            url=_usable_url(link),
            branch=link.default_branch,
            commit=head,
            access=access,
        )
        files = spec_files(
            mirror=mirror, commit=head, access=access, max_bytes=settings.SPEC_MAX_BYTES
        )
    except GitError as error:
        # Handling the default branch's push fetches again and records the
        # failure; until then the branches watched before stay watched.
        logger.info("polling project %s: specs not read: %s", link.project_id, error)
        named = set(link.branch_heads)
    else:
        named = branches_named(files)
    return [link.default_branch, *sorted(named - {link.default_branch})]


def repository_poll(*, link: RepositoryLink) -> list[PushTrigger]:
    """Ask the remote for its branches' heads; a commit not seen before on a watched one is a push.

    Watched are the default branch and every branch that the
    `on.github.branches.only` of a spec on the default branch names, so a
    spec for `release` runs on pushes to `release` as it would with the
    webhook. The first poll of a branch only records its head, as a webhook
    added to a repository reports the pushes after it and not the commits
    already there.
    """
    try:
        with git_access(token=_token_of(link), scratch=git_root() / ".askpass") as access:
            heads = remote_heads(url=_usable_url(link), access=access)
            default_head = heads.get(link.default_branch)
            if default_head is None:
                logger.info(
                    "polling project %s: the remote has no branch %s",
                    link.project_id,
                    link.default_branch,
                )
                return []
            branches = _polled_branches(link=link, head=default_head, access=access)
    except (GitError, SecretUnreadable) as error:
        logger.warning("polling the repository of project %s failed: %s", link.project_id, error)
        return []
    triggers = []
    for branch in branches:
        head = heads.get(branch)
        seen = _head_seen(link, branch)
        if head is None or head == seen:
            continue
        if not seen:
            _head_record(link=link, branch=branch, commit=head, first=True)
            continue
        push = Push(
            project_id=link.project_id, source=PushTrigger.Source.POLL, branch=branch, commit=head
        )
        trigger = push_handle(push=push)
        if trigger is not None:
            triggers.append(trigger)
    return triggers
