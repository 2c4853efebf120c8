"""Issue 12, item 6: a secret passed through a string output stays masked wherever it shows.

The attack: a job that holds a secret writes it to a string output; another
job reads that output. The secret showed in clear in the status document
(REST, /gradient, the dashboard) and in the reading job's log, since only
the job holding the secret had it masked. Masks are now run-wide, and shown
outputs are masked, while the reading job still receives the real value.

Runs on the local engine, with a real worker and bubblewrap.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client

from runs.models import JobRun
from runs.selectors import run_status_document
from tests.processes import celery_worker
from tests.runs.engine_helpers import job_log, make_world, phases, wait_for_run
from workflows.services import api_key_create

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("bubblewrap"),
]

SECRET = "S3cr3t-Value-123"
LEAKED = f"prefix-{SECRET}-suffix"
SHOWN = "prefix-***-suffix"
SPEC = """
jobs:
  leak:
    uses: script@v1
    env:
      TOKEN: secret:api-token
    outputs:
      copy:
        type: string
    with:
      image: bash:5
      script: printf 'prefix-%s-suffix' "$TOKEN" > /outputs/copy
  read:
    needs: [leak]
    inputs:
      copy: leak.outputs.copy
    outputs:
      seen:
        type: string
    uses: script@v1
    with:
      image: bash:5
      script: |-
        echo "consumer got: $(cat /inputs/copy)"
        # Compared by hash: the spec text itself is shown, so it cannot hold the secret.
        expected=878d3bb03d2428d761bde9e4a319ff74822cd18f89e88d0fc96f408588eeacd0
        if [ "$(sha256sum < /inputs/copy | cut -c1-64)" = "$expected" ]; then
          printf real > /outputs/seen
        else
          printf wrong > /outputs/seen
        fi
"""


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker, tmp_path_factory, redis_url_module):
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    with celery_worker(concurrency=1, log_path=log) as running:
        yield running


@pytest.fixture(scope="module")
def redis_url_module() -> str:
    from django.conf import settings

    if not settings.REDIS_URL:
        pytest.fail("REDIS_URL is not set: run the suite with `make test`, which provides one")
    return settings.REDIS_URL


@pytest.fixture
def finished(transactional_db, worker):
    world = make_world("leaky")
    world.secret("api-token", SECRET)
    run = wait_for_run(world.submit(SPEC))
    assert run.phase == "SUCCEEDED", phases(run)
    return world, run


def test_the_reading_job_gets_the_real_value_and_nobody_sees_it(finished):
    world, run = finished

    document = run_status_document(run)
    jobs = document["status"]["jobs"]
    assert jobs["leak"]["outputs"]["copy"] == {"value": SHOWN}
    assert jobs["read"]["outputs"]["seen"] == {"value": "real"}
    assert SECRET not in json.dumps(document)
    assert JobRun.objects.get(run=run, name="leak").outputs["copy"]["value"] == LEAKED

    assert "consumer got: prefix-***-suffix" in job_log(run, "read")
    assert SECRET not in job_log(run, "read")
    assert SECRET not in job_log(run, "leak")


def test_no_surface_shows_it(finished):
    world, run = finished
    _, key = api_key_create(user=world.user, name="cli")
    browser = Client()
    browser.force_login(world.user)
    base = f"/workflows/{run.workflow_id}/runs/{run.number}"

    answers = {
        "REST": Client().get(
            f"/api/v1/workflows/{run.workflow_id}/runs/{run.number}", HTTP_X_API_KEY=key
        ),
        "/gradient": Client().get(
            f"/gradient/workflows/{run.workflow_id}/runs/{run.number}", HTTP_X_API_KEY=key
        ),
        "run page": browser.get(f"{base}/"),
        "producer panel": browser.get(f"{base}/jobs/leak/"),
        "consumer panel": browser.get(f"{base}/jobs/read/"),
        "consumer log": browser.get(f"{base}/jobs/read/log.txt"),
    }

    for surface, answer in answers.items():
        assert answer.status_code == 200, surface
        body = b"".join(answer) if answer.streaming else answer.content
        assert SECRET.encode() not in body, surface
    assert SHOWN in answers["REST"].json()["status"]["jobs"]["leak"]["outputs"]["copy"]["value"]
    assert SHOWN in answers["consumer panel"].content.decode()
