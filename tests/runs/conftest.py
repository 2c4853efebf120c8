import pytest
from django.conf import settings

from tests.factories import ClusterFactory, ProjectFactory, WorkflowFactory


@pytest.fixture(scope="module")
def redis_url_module() -> str:
    if not settings.REDIS_URL:
        pytest.fail("REDIS_URL is not set: run the suite with `make test`, which provides one")
    return settings.REDIS_URL


@pytest.fixture
def workflow(team):
    """A workflow of the fixtures' team, whose team has the local cluster."""
    ClusterFactory(team=team, handle="local")
    return WorkflowFactory(project=ProjectFactory(team=team))
