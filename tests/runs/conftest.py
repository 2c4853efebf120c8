import pytest
from django.conf import settings


@pytest.fixture(scope="module")
def redis_url_module() -> str:
    if not settings.REDIS_URL:
        pytest.fail("REDIS_URL is not set: run the suite with `make test`, which provides one")
    return settings.REDIS_URL
