"""factory_boy factories for every model the tests create."""

import hashlib

import factory
from django.contrib.auth import get_user_model

from runs.models import JobRun, Run
from workflows.models import Cluster, Membership, Project, StoredSpec, Team, Workflow

HELLO_SPEC = """jobs:
  hello:
    uses: container@v1
    with:
      image: bash:5
      args: ["bash", "-c", "echo hello"]
"""


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("a-long-test-password")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    name = factory.Sequence(lambda n: f"Team {n}")
    handle = factory.Sequence(lambda n: f"team-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    team = factory.SubFactory(TeamFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.MEMBER


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    team = factory.SubFactory(TeamFactory)
    name = factory.Sequence(lambda n: f"Project {n}")
    handle = factory.Sequence(lambda n: f"project-{n}")


class ClusterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Cluster

    team = factory.SubFactory(TeamFactory)
    handle = factory.Sequence(lambda n: f"cluster-{n}")
    name = factory.LazyAttribute(lambda cluster: cluster.handle)
    kind = Cluster.Kind.LOCAL


class StoredSpecFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StoredSpec
        django_get_or_create = ("sha256",)

    text = HELLO_SPEC
    sha256 = factory.LazyAttribute(lambda spec: hashlib.sha256(spec.text.encode()).hexdigest())
    parsed = factory.LazyAttribute(lambda spec: {"jobs": {"hello": {"uses": "container@v1"}}})


class WorkflowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Workflow

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"workflow-{n}")


class RunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Run

    workflow = factory.SubFactory(WorkflowFactory)
    number = factory.Sequence(lambda n: n + 1)
    spec = factory.SubFactory(StoredSpecFactory)
    cluster = factory.SubFactory(
        ClusterFactory, team=factory.SelfAttribute("..workflow.project.team")
    )


class JobRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = JobRun

    run = factory.SubFactory(RunFactory)
    name = factory.Sequence(lambda n: f"job-{n}")
    position = factory.Sequence(lambda n: n)
