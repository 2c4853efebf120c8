"""Fixtures for the whole suite; tests/skips.py makes every skip a failure."""

import shutil

import pytest
import redis
from django.conf import settings
from rest_framework.test import APIClient

pytest_plugins = ["tests.skips"]


@pytest.fixture(scope="session", autouse=True)
def _private_data_dir(tmp_path_factory):
    """Datasets, run folders and logs of the tests go to a temporary folder, not data/."""
    original = settings.DATA_DIR
    settings.DATA_DIR = tmp_path_factory.mktemp("data")
    yield settings.DATA_DIR
    settings.DATA_DIR = original


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing():
    """Factories hash a password per user; the default hasher takes ~1 s on a busy machine."""
    original = settings.PASSWORD_HASHERS
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    yield
    settings.PASSWORD_HASHERS = original


@pytest.fixture(scope="session", autouse=True)
def _clean_redis_db():
    """The suite owns the Redis db it is given: start from an empty one."""
    if settings.REDIS_URL:
        client = redis.Redis.from_url(settings.REDIS_URL)
        client.flushdb()
        client.close()


@pytest.fixture
def redis_url() -> str:
    if not settings.REDIS_URL:
        pytest.fail("REDIS_URL is not set: run the suite with `make test`, which provides one")
    return settings.REDIS_URL


@pytest.fixture
def local_repositories(settings):
    """ALLOW_LOCAL_REPOSITORIES on (it is off by default), for tests with repositories on disk."""
    settings.ALLOW_LOCAL_REPOSITORIES = True


@pytest.fixture
def team(db):
    from tests.factories import TeamFactory

    return TeamFactory()


@pytest.fixture
def owner(team):
    from tests.factories import MembershipFactory

    return MembershipFactory(team=team, role="owner").user


@pytest.fixture
def member(team):
    from tests.factories import MembershipFactory

    return MembershipFactory(team=team, role="member").user


@pytest.fixture
def outsider(db):
    """A user in a team of their own, and in none of the fixtures' team."""
    from tests.factories import MembershipFactory

    return MembershipFactory(role="owner").user


@pytest.fixture
def project(team):
    """A project of the fixtures' team."""
    from tests.factories import ProjectFactory

    return ProjectFactory(team=team)


@pytest.fixture
def cluster(team):
    """The fixtures' team's local cluster, where runs go unless a spec names another."""
    from tests.factories import ClusterFactory

    return ClusterFactory(team=team, handle="local", name="Local engine")


@pytest.fixture
def workflow(project, cluster):
    """A workflow of the fixtures' project, ready to run on the team's local cluster."""
    from tests.factories import WorkflowFactory

    return WorkflowFactory(project=project)


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    """Ids of the runs submitted and queued on commit (no worker runs in these tests)."""
    started: list[int] = []
    monkeypatch.setattr("runs.queue.run_start", started.append)
    return started


@pytest.fixture
def as_user(request):
    """An API client authenticated as the named user fixture, or anonymous for None."""

    def client(who: str | None) -> APIClient:
        api = APIClient()
        if who is not None:
            api.force_authenticate(request.getfixturevalue(who))
        return api

    return client


@pytest.fixture
def published(monkeypatch):
    """Every event sent through the one publish function, in order, as (run_id, event)."""
    sent = []
    monkeypatch.setattr("runs.events._send", lambda run_id, event: sent.append((run_id, event)))
    return sent


@pytest.fixture(scope="session")
def bubblewrap() -> str:
    """bwrap, which host-mode jobs run in: a test that runs jobs fails naming it when missing."""
    found = shutil.which("bwrap")
    if found is None:
        pytest.fail("bubblewrap is not installed: `apt-get install bubblewrap` (make test does)")
    return found


@pytest.fixture(scope="session")
def test_images(tmp_path_factory):
    """A registry serving as docker.io's mirror and one with htpasswd auth, each holding
    `library/bash:5` built from busybox-static and bash-static (see tests/containers.py)."""
    from tests import containers

    if containers.MISSING:
        pytest.fail(f"not installed: {', '.join(containers.MISSING)} (make test installs them)")
    folder = tmp_path_factory.mktemp("containers")
    builder = containers.store_make()
    with (
        containers.registry(folder / "mirror") as mirror,
        containers.registry(folder / "private", auth=("ada", "lovelace-1843")) as private,
    ):
        try:
            images = containers.TestImages(mirror=mirror, private=private, builder=builder)
            tag = containers.image_build(builder, folder / "contexts", "localhost/test-bash:5")
            containers.image_push(builder, tag, mirror, "library/bash:5")
            # The private registry's image is its own: the same content pulled
            # from the mirror would be public (the engine knows images by id).
            private_tag = containers.image_build(
                builder, folder / "contexts", "localhost/test-private-bash:5", extra=1
            )
            containers.image_push(builder, private_tag, private, "library/bash:5")
            yield images
        finally:
            containers.store_remove(builder)
