"""Teams own projects; projects hold workflows, datasets and secrets."""

from django.conf import settings
from django.db import models


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
