"""Teams own projects; projects hold workflows, datasets and secrets."""

import secrets
import string
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from workflows.clusters import InstanceTypeError, cluster_shapes


class Team(models.Model):
    """A group of users that owns projects, clusters and team secrets."""

    name = models.CharField(max_length=200)
    handle = models.SlugField(max_length=64, unique=True)
    created = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="teams"
    )

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's place in a team: owners may delete what the team owns, members may not."""

    class Role(models.TextChoices):
        OWNER = "owner"
        MEMBER = "member"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="one_membership_per_team")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"


class Project(models.Model):
    """A team's container for workflows, datasets and project secrets."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="projects")
    name = models.CharField(max_length=200)
    handle = models.SlugField(max_length=64, unique=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="project_name_unique_in_team")
        ]

    def __str__(self) -> str:
        return self.name


def short_id() -> str:
    """A Gradient-style short id: lowercase letters and digits, 15 characters."""
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(15))


class Cluster(models.Model):
    """Where runs execute: the local engine, or Argo Workflows on a Kubernetes cluster."""

    class Kind(models.TextChoices):
        LOCAL = "local"
        ARGO = "argo"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="clusters")
    handle = models.SlugField(max_length=64)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.LOCAL)
    allow_network = models.BooleanField(
        default=True, help_text="Local engine: whether jobs may reach the network."
    )
    kube_context = models.CharField(max_length=200, blank=True)
    namespace = models.CharField(max_length=200, blank=True)
    instance_types = models.JSONField(
        default=dict,
        blank=True,
        help_text=(
            "Instance type name -> {cpu, memory, gpu, pids}; on Argo also nodeSelector, "
            "tolerations, resources, gpuResource."
        ),
    )
    default_instance_type = models.CharField(
        max_length=200,
        blank=True,
        help_text="The instance type of jobs that name none; empty: no limits.",
    )
    default_job_timeout_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="The timeout of jobs whose spec sets none."
    )
    settings = models.JSONField(
        default=dict, blank=True, help_text="Argo: artifact repository, volume size, podGC, TTL."
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "handle"], name="cluster_handle_unique_in_team")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    def clean(self) -> None:
        try:
            cluster_shapes(self)
        except InstanceTypeError as error:
            raise ValidationError(str(error)) from None


class StoredSpec(models.Model):
    """An exact spec text, stored once and shared by every run and workflow that uses it.

    The parsed, typed form is the spec library's WorkflowSpec (workflows.spec).
    """

    sha256 = models.CharField(max_length=64, unique=True)
    text = models.TextField()
    parsed = models.JSONField()
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.sha256[:12]


class Workflow(models.Model):
    """A named workflow in a project, with a default spec that runs use unless given another."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="workflows")
    name = models.CharField(max_length=200)
    default_spec = models.ForeignKey(
        StoredSpec, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "name"], name="workflow_name_unique_in_project"
            )
        ]

    def __str__(self) -> str:
        return self.name


class Secret(models.Model):
    """A named value at team, cluster or project scope; only its ciphertext is stored."""

    class Scope(models.TextChoices):
        TEAM = "team"
        CLUSTER = "cluster"
        PROJECT = "project"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="secrets")
    scope = models.CharField(max_length=10, choices=Scope.choices)
    cluster = models.ForeignKey(
        Cluster, on_delete=models.CASCADE, null=True, blank=True, related_name="secrets"
    )
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, null=True, blank=True, related_name="secrets"
    )
    name = models.CharField(max_length=200)
    ciphertext = models.BinaryField()
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["team", "name"],
                condition=models.Q(scope="team"),
                name="team_secret_name_unique",
            ),
            models.UniqueConstraint(
                fields=["cluster", "name"],
                condition=models.Q(scope="cluster"),
                name="cluster_secret_name_unique",
            ),
            models.UniqueConstraint(
                fields=["project", "name"],
                condition=models.Q(scope="project"),
                name="project_secret_name_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scope} secret {self.name}"


class ContainerRegistry(models.Model):
    """A team's private container registry, named in specs by `resources.container-registries`.

    The password is stored encrypted as secret values are (workflows.secret_values)
    and is never shown back: not in the API, the dashboard or the admin.
    """

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="container_registries")
    name = models.CharField(max_length=200)
    server = models.CharField(
        max_length=255, help_text='The registry host, as in image names: "ghcr.io", "host:5000".'
    )
    username = models.CharField(max_length=200)
    password_ciphertext = models.BinaryField()
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="registry_name_unique_in_team")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.server})"


class Dataset(models.Model):
    """A named, versioned collection of files in a project."""

    id = models.CharField(primary_key=True, max_length=32, default=short_id, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "name"], name="dataset_name_unique_in_project"
            )
        ]

    def __str__(self) -> str:
        return self.name


class DatasetVersion(models.Model):
    """One immutable version of a dataset; visible to runs only once committed."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=32)
    is_committed = models.BooleanField(default=False)
    file_count = models.PositiveIntegerField(default=0)
    size = models.PositiveBigIntegerField(default=0)
    storage_location = models.CharField(max_length=1000, blank=True)
    message = models.CharField(max_length=500, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    committed = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dataset", "version"], name="dataset_version_unique")
        ]
        indexes = [models.Index(fields=["dataset", "is_committed", "-created"])]

    def __str__(self) -> str:
        return f"{self.dataset.name}:{self.version}"


class RegisteredModel(models.Model):
    """A model registered by `create-model@v1` from a dataset version."""

    id = models.CharField(primary_key=True, max_length=32, default=short_id, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="models")
    name = models.CharField(max_length=200)
    model_type = models.CharField(max_length=20)
    dataset_version = models.ForeignKey(
        DatasetVersion, on_delete=models.PROTECT, related_name="models"
    )
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class ApiKey(models.Model):
    """A user's named API key; only a hash of the key is stored."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=200)
    prefix = models.CharField(max_length=12, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
