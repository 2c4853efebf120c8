"""Private registries: the auth file a pull reads, and the submission check of their names."""

from __future__ import annotations

import base64
import json
import stat

import pytest

from runs.models import Run
from runs.services import SubmissionError, run_submit
from workflows.registries import RegistryCredentials, registry_auth_file
from workflows.selectors import container_registry_credentials
from workflows.services import container_registry_create

PASSWORD = "Reg1stry-Passw0rd-do-not-leak"
GHCR = RegistryCredentials(name="ghcr", server="ghcr.io", username="ada", password=PASSWORD)
HUB = RegistryCredentials(name="hub", server="docker.io", username="bob", password="hub-token")


def _decoded(auth: str) -> str:
    return base64.b64decode(auth).decode()


class TestAuthFile:
    def test_holds_each_registry_login_as_podman_and_docker_read_it(self):
        with registry_auth_file([GHCR, HUB]) as path:
            auths = json.loads(path.read_text())["auths"]

        assert _decoded(auths["ghcr.io"]["auth"]) == f"ada:{PASSWORD}"
        assert _decoded(auths["docker.io"]["auth"]) == "bob:hub-token"
        assert auths["https://index.docker.io/v1/"] == auths["docker.io"]
        assert path.name == "config.json"

    def test_is_private_to_its_owner_and_removed_after(self, tmp_path):
        with registry_auth_file([GHCR], parent=tmp_path) as path:
            assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            assert path.parent.parent == tmp_path
            folder = path.parent

        assert not folder.exists()
        assert list(tmp_path.iterdir()) == []

    def test_is_removed_when_the_pull_fails(self, tmp_path):
        with pytest.raises(RuntimeError), registry_auth_file([GHCR], parent=tmp_path) as path:
            folder = path.parent
            raise RuntimeError("the pull failed")

        assert not folder.exists()

    def test_the_first_registry_of_a_server_wins(self):
        other = RegistryCredentials(name="ghcr-2", server="ghcr.io", username="eve", password="x")

        with registry_auth_file([GHCR, other]) as path:
            auths = json.loads(path.read_text())["auths"]

        assert _decoded(auths["ghcr.io"]["auth"]).startswith("ada:")

    def test_credentials_never_show_their_password(self):
        assert PASSWORD not in repr(GHCR)
        assert PASSWORD not in str([GHCR])


@pytest.mark.django_db
def test_credentials_are_read_decrypted_in_the_order_named(team):
    container_registry_create(
        team=team, name="ghcr", server="ghcr.io", username="ada", password=PASSWORD
    )
    container_registry_create(
        team=team, name="hub", server="docker.io", username="bob", password="hub-token"
    )

    found = container_registry_credentials(team=team, names=["hub", "ghcr", "hub", "other"])

    assert found == [HUB, GHCR]


SPEC = """\
defaults:
  resources:
    container-registries: [ghcr]
jobs:
  build:
    uses: container@v1
    with: {image: ghcr.io/team/build:1, args: [make]}
  test:
    uses: container@v1
    with: {image: quay.io/team/test:1, args: [make, test]}
    resources:
      container-registries: [ghcr, quay]
"""


@pytest.mark.django_db
@pytest.mark.usefixtures("queued")
class TestSubmission:
    def test_an_unknown_registry_is_an_error_at_its_line(self, team, workflow):
        container_registry_create(
            team=team, name="ghcr", server="ghcr.io", username="ada", password=PASSWORD
        )

        with pytest.raises(SubmissionError) as caught:
            run_submit(workflow=workflow, spec_text=SPEC)

        (error,) = caught.value.errors
        assert error.path == "jobs.test.resources.container-registries[1]"
        assert error.line == SPEC.splitlines().index("      container-registries: [ghcr, quay]") + 1
        assert 'the team has no container registry "quay"' in error.message
        assert not Run.objects.exists()

    def test_every_unknown_use_is_reported(self, workflow):
        with pytest.raises(SubmissionError) as caught:
            run_submit(workflow=workflow, spec_text=SPEC)

        assert [error.path for error in caught.value.errors] == [
            "defaults.resources.container-registries[0]",
            "jobs.test.resources.container-registries[0]",
            "jobs.test.resources.container-registries[1]",
        ]

    def test_another_team_s_registry_does_not_count(self, team, outsider, workflow):
        for name in ("ghcr", "quay"):
            container_registry_create(
                team=outsider.teams.get(), name=name, server="x.io", username="u", password="p"
            )

        with pytest.raises(SubmissionError):
            run_submit(workflow=workflow, spec_text=SPEC)

    def test_known_registries_pass(self, team, workflow):
        for name in ("ghcr", "quay"):
            container_registry_create(
                team=team, name=name, server=f"{name}.io", username="u", password="p"
            )

        run = run_submit(workflow=workflow, spec_text=SPEC)

        assert run.jobs.count() == 2
