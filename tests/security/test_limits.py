"""Issue 12, item 7: limits with clear errors instead of a queue of 17,137 jobs or a 500.

- MAX_JOBS_PER_RUN: a spec with more jobs is a validation error at its `jobs:`
  line, in the editor's validator and at submission alike;
- dataset uploads: an over-long path part, control characters in a name, a
  name that is a file and a folder, a name twice: 400 with a message, and
  nothing stored;
- logins: throttled per username and address, with a message naming when to
  try again; API keys and sessions still work.
"""

from __future__ import annotations

import os
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from runs.models import Run
from tests.factories import UserFactory
from workflows.models import DatasetVersion
from workflows.services import api_key_create, dataset_create


def many_jobs(count: int) -> str:
    """A spec of `count` independent jobs; its `jobs:` key is on line 2."""
    job = "  j{}:\n    uses: container@v1\n    with: {{image: bash:5}}\n"
    return "# many jobs\njobs:\n" + "".join(job.format(n) for n in range(count))


pytestmark = pytest.mark.usefixtures("queued")


@pytest.mark.django_db
class TestJobsPerRun:
    def test_a_5001_job_spec_is_refused_at_its_jobs_line(self, as_user, owner, workflow):
        answer = as_user("owner").post(
            f"/api/v1/workflows/{workflow.id}/runs", {"spec": many_jobs(5001)}, format="json"
        )

        assert answer.status_code == 400, answer.json()
        (error,) = answer.json()["errors"]
        assert (error["path"], error["line"]) == ("jobs", 2)
        assert "5,001 jobs" in error["message"] and "at most 5,000" in error["message"]
        assert "MAX_JOBS_PER_RUN" in error["message"]
        assert not Run.objects.exists()

    def test_the_editor_s_validator_says_the_same(self, as_user, owner):
        answer = as_user("owner").post("/api/v1/validate", {"spec": many_jobs(5001)}, format="json")

        assert answer.json()["valid"] is False
        (error,) = answer.json()["errors"]
        assert (error["path"], error["line"]) == ("jobs", 2)

    def test_the_limit_is_a_setting_and_a_spec_at_it_runs(self, as_user, owner, workflow, settings):
        settings.MAX_JOBS_PER_RUN = 3
        url = f"/api/v1/workflows/{workflow.id}/runs"

        over = as_user("owner").post(url, {"spec": many_jobs(4)}, format="json")
        at = as_user("owner").post(url, {"spec": many_jobs(3)}, format="json")

        assert over.status_code == 400
        assert "at most 3 on this server" in over.json()["errors"][0]["message"]
        assert at.status_code == 201, at.json()


@pytest.fixture
def dataset(project):
    return dataset_create(project=project, name="raw")


def _upload(client, dataset, names: list[str]):
    files = [SimpleUploadedFile(f"f{n}", b"x") for n in range(len(names))]
    return client.post(
        f"/api/v1/datasets/{dataset.id}/versions",
        {"files": files, "paths": names},
        format="multipart",
    )


def _staging_leftovers(data_dir) -> list[str]:
    staging = data_dir / "datasets" / ".staging"
    return os.listdir(staging) if staging.exists() else []


@pytest.mark.django_db
class TestUploadPaths:
    @pytest.fixture(autouse=True)
    def data_dir(self, settings, tmp_path):
        settings.DATA_DIR = tmp_path
        return tmp_path

    @pytest.mark.parametrize(
        ("names", "says"),
        [
            (["a" * 256], "each part of a path has at most 255 bytes"),
            ([f"dir/{'é' * 128}.txt"], "each part of a path has at most 255 bytes"),
            (["x/" * 600 + "f"], "1000 characters"),
            (["a", "a/b"], 'it is a file and also the folder of "a/b"'),
            (["a/b/c", "a/b"], 'it is a file and also the folder of "a/b/c"'),
            (["a.txt", "./a.txt"], "two files of the upload have this name"),
            (["report\r\n.txt"], "control characters"),
            (["tab\there.txt"], "control characters"),
            (["nul\x1b[31m.txt"], "control characters"),
        ],
    )
    def test_bad_names_are_400_with_a_message_and_store_nothing(
        self, as_user, owner, dataset, data_dir, names, says
    ):
        answer = _upload(as_user("owner"), dataset, names)

        assert answer.status_code == 400, answer.content
        assert says in answer.json()["detail"]
        assert "\n" not in answer.json()["detail"] and "\r" not in answer.json()["detail"]
        assert not DatasetVersion.objects.filter(dataset=dataset).exists()
        assert _staging_leftovers(data_dir) == []

    def test_a_name_of_exactly_255_bytes_in_folders_is_stored(self, as_user, owner, dataset):
        name = "deep/" + "b" * 255

        answer = _upload(as_user("owner"), dataset, [name, "deep/other"])

        assert answer.status_code == 201, answer.json()
        assert answer.json()["fileCount"] == 2


PASSWORD = "the-right-password-1"


@pytest.fixture
def ada(db):
    user = UserFactory(username="ada")
    user.set_password(PASSWORD)
    user.save()
    return user


def _login(client: Client, password: str, *, username: str = "ada", address="10.0.0.1"):
    return client.post(
        "/accounts/login/",
        {"username": username, "password": password},
        REMOTE_ADDR=address,
    )


@pytest.mark.django_db
class TestLoginThrottle:
    def test_the_fifth_wrong_password_locks_the_pair_out_saying_when_to_retry(self, client, ada):
        answers = [_login(client, f"wrong-{n}").status_code for n in range(4)]
        refused = _login(client, "wrong-again")
        right_password_too = _login(client, PASSWORD)

        assert answers == [200] * 4
        assert refused.status_code == 429
        text = refused.content.decode()
        found = re.search(r"Try again in (\d+) minutes, after (\d\d:\d\d) UTC\.", text)
        assert found, text
        assert int(found[1]) == 15
        assert int(refused["Retry-After"]) == pytest.approx(15 * 60, abs=5)
        assert right_password_too.status_code == 429
        assert "_auth_user_id" not in client.session

    def test_others_are_not_locked_out_by_it(self, client, ada):
        UserFactory(username="grace")
        for n in range(6):
            _login(client, f"wrong-{n}")

        other_user = _login(Client(), "nope", username="grace")
        other_address = _login(Client(), PASSWORD, address="10.0.0.2")

        assert other_user.status_code == 200
        assert other_address.status_code == 302

    def test_a_success_before_the_limit_starts_the_count_again(self, client, ada):
        for n in range(4):
            _login(client, f"wrong-{n}")
        assert _login(client, PASSWORD).status_code == 302

        from axes.models import AccessAttempt

        assert not AccessAttempt.objects.filter(username="ada").exists()

    def test_api_keys_and_sessions_still_work_during_a_lockout(self, client, ada):
        _, raw_key = api_key_create(user=ada, name="cli")
        signed_in = Client()
        signed_in.force_login(ada)
        for n in range(6):
            _login(client, f"wrong-{n}")

        by_key = Client().get("/api/v1/projects", HTTP_X_API_KEY=raw_key, REMOTE_ADDR="10.0.0.1")
        by_session = signed_in.get("/api/v1/projects", REMOTE_ADDR="10.0.0.1")

        assert (by_key.status_code, by_session.status_code) == (200, 200)
