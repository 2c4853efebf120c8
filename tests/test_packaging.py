"""Packaging: docker-compose.yml against the Compose Specification, and the image it builds.

No Docker engine runs here, so the compose file is checked against the
Compose Specification's published JSON Schema (tests/vendor/compose-spec),
and against what the app reads and needs: the app services run the image
the Dockerfile builds, which installs everything at build time.
"""

import copy
import json
import re

import jsonschema
import pytest
import yaml

from tests.paths import REPO, VENDOR

APP_SERVICES = ("web", "worker", "watcher")
# A container that installs software when it starts is slow, and fragile offline.
INSTALLING = re.compile(r"apt-get|pip install|npm |make install|node build")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def compose_validator() -> jsonschema.Draft7Validator:
    schema = json.loads((VENDOR / "compose-spec" / "compose-spec.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _errors(validator, document) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(document)
    ]


def test_the_compose_file_follows_the_compose_specification(compose, compose_validator):
    assert _errors(compose_validator, compose) == []


def test_the_schema_check_catches_a_misspelt_key(compose, compose_validator):
    broken = copy.deepcopy(compose)
    broken["services"]["web"]["comand"] = broken["services"]["web"].pop("command")
    assert any("comand" in error for error in _errors(compose_validator, broken))


def test_every_service_is_there_and_the_app_runs_the_built_image(compose):
    services = compose["services"]
    assert {*APP_SERVICES, "redis", "postgres"} <= services.keys()
    images = {services[name]["image"] for name in APP_SERVICES}
    assert len(images) == 1
    for name in APP_SERVICES:
        assert services[name]["build"] == "."
        command = " ".join(services[name]["command"])
        assert not INSTALLING.search(command), f"{name} installs at start: {command}"


def test_the_app_services_read_only_settings_the_app_has(compose):
    settings_source = (REPO / "gradient" / "settings.py").read_text()
    known = set(re.findall(r'(?:environ\.get\(|environ\[|_env_bool\()"([A-Z_]+)"', settings_source))
    for name in APP_SERVICES:
        unknown = set(compose["services"][name]["environment"]) - known
        assert unknown == set(), f"{name} sets what settings.py never reads"


def test_the_dockerfile_installs_and_builds_everything_at_build_time():
    dockerfile = (REPO / "Dockerfile").read_text()
    makefile = (REPO / "Makefile").read_text()
    (packages,) = re.findall(r"^SYSTEM_PACKAGES := (.*)$", makefile, re.MULTILINE)
    installed = " ".join(re.findall(r"apt-get install .*?(?=&&|$)", dockerfile, re.DOTALL))
    missing = [package for package in packages.split() if package not in installed.split()]
    assert missing == [], "the image lacks what the local engine runs jobs with"
    assert "pip install --no-cache-dir --disable-pip-version-check -r requirements.lock" in (
        dockerfile
    )
    assert "RUN node build.mjs" in dockerfile
    assert "COPY --from=frontend /src/static/dist/ static/dist/" in dockerfile
    assert "collectstatic" in dockerfile
