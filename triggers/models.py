"""A project's linked git repository and the pushes seen on it.

These rows point at both layers below (a project, the runs a push started),
which is why they live in an app of their own above workflows/ and runs/.
"""

from django.db import models

from workflows.models import Project


class RepositoryLink(models.Model):
    """A project's git repository, whose `.gradient/workflows/` specs run on pushes."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="repository")
    clone_url = models.CharField(max_length=1000)
    default_branch = models.CharField(max_length=200, default="main")
    token_secret = models.CharField(
        max_length=200, blank=True, help_text="Name of a secret holding an access token."
    )
    webhook_secret_ciphertext = models.BinaryField(
        help_text="The HMAC key GitHub signs deliveries with, encrypted like secrets."
    )
    poll = models.BooleanField(
        default=False, help_text="Ask the remote for new commits instead of waiting for webhooks."
    )
    last_commit = models.CharField(max_length=64, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    branch_heads = models.JSONField(
        default=dict,
        blank=True,
        help_text="Poll mode: the head last seen of each other branch the specs name.",
    )
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.project} <- {self.clone_url}"


class PushTrigger(models.Model):
    """One push seen (webhook delivery or poll), what it started, or why it started nothing."""

    class Source(models.TextChoices):
        WEBHOOK = "webhook"
        POLL = "poll"

    class Outcome(models.TextChoices):
        STARTED = "started"
        NO_MATCH = "no-match"
        INVALID = "invalid"
        FAILED = "failed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="push_triggers")
    source = models.CharField(max_length=10, choices=Source.choices)
    # GitHub's X-GitHub-Delivery: unique within a project only, so that one
    # project's ids say nothing about, and block nothing of, another's. NULL
    # (not "") for a push without one, which the unique constraint then skips.
    delivery_id = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    branch = models.CharField(max_length=200)
    commit = models.CharField(max_length=64)
    commit_message = models.TextField(blank=True)
    author = models.CharField(max_length=200, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    errors = models.JSONField(
        default=list, blank=True, help_text="Per spec file: validator errors, or why it failed."
    )
    runs = models.ManyToManyField("runs.Run", blank=True, related_name="push_triggers")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["project", "-created"], name="push_trigger_project_created"),
            # A push is handled once per project and (branch, commit), whatever
            # its delivery id: the signature does not cover the id.
            models.Index(fields=["project", "branch", "commit"], name="push_trigger_push"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "delivery_id"], name="push_delivery_id_unique_in_project"
            )
        ]

    def __str__(self) -> str:
        return f"{self.branch}@{self.commit[:10]} ({self.outcome})"
