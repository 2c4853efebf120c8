import pytest
import redis
from django.conf import settings


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
