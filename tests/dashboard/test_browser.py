"""The dashboard in headless Chromium against a real server: Daphne, a Celery worker running
jobs on the local engine, Redis and the test database. What a person sees is what is tested."""

from __future__ import annotations

import json
import os
import re
import textwrap

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from playwright.sync_api import expect, sync_playwright

from runs.models import Run
from runs.services import run_submit
from tests.dashboard.browser import dashboard_server, launch_chromium, log_in
from tests.processes import REPO, celery_worker, child_env
from tests.runs.engine_helpers import wait_for_job_phase, wait_for_run
from workflows.services import (
    project_create,
    secret_set,
    team_create,
    workflow_create,
    workflow_spec_update,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("bubblewrap"),
]

ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"
PASSWORD = "correct-horse-battery"
# Hashed as the server checks it (the suite's own hasher is a fast one the server does not
# know); few iterations keep it quick, and the server upgrades the hash on first login.
SERVER_PASSWORD_HASH = PBKDF2PasswordHasher().encode(PASSWORD, "browser-tests", iterations=1000)
ARTIFACTS = REPO / "test-artifacts" / "dashboard"
# The editor validates 250 ms after the last keystroke; a person should see the verdict
# within a second of typing.
VERDICT_MS = 1000

# Three jobs in a chain; the middle one is slow enough to watch its log arrive.
CHAIN = """\
jobs:
  prepare:
    uses: script@v1
    with:
      image: bash:5
      script: echo prepared
  slow:
    needs: [prepare]
    uses: script@v1
    with:
      image: bash:5
      script: |-
        echo first line
        sleep 3
        echo arrived-live
  report:
    needs: [slow]
    uses: script@v1
    with:
      image: bash:5
      script: echo reported
"""

LONG = """\
jobs:
  sleeper:
    uses: script@v1
    with:
      image: bash:5
      script: |-
        echo going to sleep
        sleep 120
"""

FLAKY = """\
jobs:
  prepare:
    uses: script@v1
    with:
      image: bash:5
      script: echo 42 > /outputs/answer
    outputs:
      answer:
        type: string
  flaky:
    needs: [prepare]
    inputs:
      answer: prepare.outputs.answer
    env:
      MODE: secret:mode
    uses: script@v1
    with:
      image: bash:5
      script: |-
        sleep 1
        [ "$MODE" = go ] || { echo "mode is $MODE"; exit 3; }
        echo "the answer is $(cat /inputs/answer)"
"""


@pytest.fixture(scope="module", autouse=True)
def _orm_beside_playwright():
    """Playwright's sync API keeps an event loop running in this thread, which makes Django
    refuse ORM calls as if they came from async code; here they are plain sync calls."""
    previous = os.environ.get(ASYNC_UNSAFE)
    os.environ[ASYNC_UNSAFE] = "true"
    yield
    if previous is None:
        del os.environ[ASYNC_UNSAFE]
    else:
        os.environ[ASYNC_UNSAFE] = previous


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker, tmp_path_factory):
    if not settings.REDIS_URL:
        pytest.fail("REDIS_URL is not set: run the suite with `make test`, which provides one")
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    with celery_worker(concurrency=2, log_path=log, LOCAL_ENGINE_STOP_GRACE_SECONDS="2") as running:
        yield running


@pytest.fixture(scope="module")
def server(worker, tmp_path_factory):
    log = tmp_path_factory.mktemp("daphne") / "daphne.log"
    with dashboard_server(child_env(), log_path=log) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request):
    """A fresh browser context per test; a screenshot of it when the test fails."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert not errors, f"the page raised: {errors}"


class World:
    """A team with an owner and a project, and an outsider in a team of their own."""

    def __init__(self) -> None:
        users = get_user_model().objects
        self.owner = users.create(username="ada", password=SERVER_PASSWORD_HASH)
        self.outsider = users.create(username="mallory", password=SERVER_PASSWORD_HASH)
        self.team = team_create(name="Ada's team", owner=self.owner)
        team_create(name="Mallory's team", owner=self.outsider)
        self.project = project_create(team=self.team, name="Vision")

    def workflow(self, name: str, spec: str):
        workflow = workflow_create(project=self.project, name=name, user=self.owner)
        workflow_spec_update(workflow=workflow, text=spec)
        return workflow

    def run(self, workflow) -> Run:
        return run_submit(workflow=workflow, spec_text=None, user=self.owner)


@pytest.fixture
def world(transactional_db, server) -> World:
    return World()


def _line_of(page, text: str):
    return page.locator(".cm-line", has_text=text)


def test_the_editor_marks_an_unknown_key_at_its_line_and_lists_it(page, server, world):
    workflow = world.workflow("pipeline", CHAIN)
    log_in(page, server, "ada", PASSWORD)
    page.goto(f"{server}/workflows/{workflow.pk}/")
    expect(page.locator("#validity")).to_have_text("Valid")
    expect(page.locator(".cm-lintRange-error")).to_have_count(0)

    _line_of(page, "slow:").click()
    page.keyboard.press("Home")
    page.keyboard.press("Home")
    page.keyboard.insert_text("    colour: blue\n")

    marked = _line_of(page, "colour: blue").locator(".cm-lintRange-error")
    expect(marked).to_have_text("colour", timeout=VERDICT_MS)
    problem = page.locator("#problem-list .problem")
    expect(problem).to_have_count(1, timeout=VERDICT_MS)
    expect(problem).to_contain_text('unknown key "colour" in jobs.prepare')
    expect(problem).to_contain_text("Line 7:5")
    expect(page.locator("#validity")).to_have_text("1 problem")
    expect(page.locator("#preview-graph [data-job=prepare]")).to_have_class(re.compile("has-error"))

    page.locator(".cm-content").click()
    problem.click()
    expect(page.locator(".cm-activeLine")).to_contain_text("colour: blue")

    _line_of(page, "colour: blue").click()
    page.keyboard.press("Home")
    page.keyboard.press("Home")
    page.keyboard.press("Shift+ArrowDown")
    page.keyboard.press("Backspace")
    expect(page.locator(".cm-lintRange-error")).to_have_count(0, timeout=VERDICT_MS)
    expect(page.locator("#problems")).to_be_hidden()
    expect(page.locator("#validity")).to_have_text("Valid")


def test_completion_offers_actions_keys_and_job_names(page, server, world):
    workflow = world.workflow("pipeline", CHAIN)
    log_in(page, server, "ada", PASSWORD)
    page.goto(f"{server}/workflows/{workflow.pk}/")
    expect(page.locator("#validity")).to_have_text("Valid")
    options = page.locator(".cm-tooltip-autocomplete .cm-completionLabel")

    _line_of(page, "needs: [slow]").click()
    page.keyboard.press("End")
    page.keyboard.press("ArrowLeft")
    page.keyboard.type(", ")
    page.keyboard.press("Control+Space")
    expect(options).to_have_text(["prepare"])
    page.keyboard.press("Escape")

    _line_of(page, "needs: [slow, ]").click()
    page.keyboard.press("End")
    page.keyboard.press("Enter")
    page.keyboard.type("ti")
    expect(options.first).to_have_text("timeout")
    page.keyboard.press("Escape")

    uses = _line_of(page, "uses: script@v1").first
    uses.click()
    page.keyboard.press("End")
    for _ in range(len("script@v1")):
        page.keyboard.press("Backspace")
    page.keyboard.type("cont")
    expect(options).to_have_text(["container@v1"])
    # CodeMirror ignores Enter for a moment after the list changes, against accidental picks.
    page.wait_for_timeout(150)
    page.keyboard.press("Enter")
    expect(_line_of(page, "uses: container@v1")).to_have_count(1)

    _line_of(page, "image: bash:5").first.click()
    page.keyboard.press("End")
    page.keyboard.press("Enter")
    page.keyboard.type("ar")
    expect(options.first).to_have_text("args")
    expect(page.locator(".cm-tooltip-autocomplete")).not_to_contain_text("script")


def test_run_button_runs_the_spec_and_the_graph_and_log_update_live(page, server, world):
    workflow = world.workflow("pipeline", CHAIN)
    log_in(page, server, "ada", PASSWORD)
    page.goto(f"{server}/workflows/{workflow.pk}/")
    page.click("#run-button")
    page.click("#run-submit")
    page.wait_for_url(re.compile(r"/runs/1/$"))
    page.evaluate("window.sameDocument = true")
    initial = json.loads(page.locator("#run-document").text_content())
    assert initial["status"]["jobs"]["report"]["phase"] == "PENDING"

    page.locator("#run-graph [data-job=slow]").click()
    logs = page.locator("#log-view")
    expect(logs).to_contain_text("first line", timeout=20_000)
    assert "arrived-live" not in logs.text_content()
    expect(logs).to_contain_text("arrived-live", timeout=20_000)

    for name in ("prepare", "slow", "report"):
        node = page.locator(f"#run-graph [data-job={name}]")
        expect(node).to_have_class(re.compile("phase-SUCCEEDED"), timeout=20_000)
    expect(page.locator("#run-phase")).to_have_text("Succeeded")
    expect(page.locator("#cancel-form")).to_be_hidden()
    assert page.evaluate("window.sameDocument") is True
    assert page.evaluate("window.runPage.applied") > 0

    page.click("[data-job-tab=details]")
    expect(page.locator("[data-job-tab-panel=details]")).to_contain_text("Exit code")
    page.click("[data-view=timeline]")
    expect(page.locator("#run-timeline .tl-bar.phase-SUCCEEDED")).to_have_count(3)


def test_the_page_catches_up_after_its_websocket_drops(page, server, world):
    workflow = world.workflow("pipeline", CHAIN)
    # Logged in first: on a busy machine, logging in took longer than "slow" runs.
    log_in(page, server, "ada", PASSWORD)
    run = world.run(workflow)
    page.goto(f"{server}/workflows/{workflow.pk}/runs/{run.number}/")
    expect(page.locator("#live-state")).to_have_text("live")
    wait_for_job_phase(run, "slow", "RUNNING")
    page.evaluate("window.runPage.socket.stop()")
    wait_for_run(run)
    expect(page.locator("#run-graph [data-job=report]")).to_have_class(re.compile("phase-PENDING"))
    page.evaluate("window.runPage.socket.stopped = false; window.runPage.socket.connect()")
    expect(page.locator("#run-graph [data-job=report]")).to_have_class(
        re.compile("phase-SUCCEEDED"), timeout=10_000
    )
    expect(page.locator("#run-phase")).to_have_text("Succeeded")


def test_rerun_starts_run_2_with_the_same_spec(page, server, world):
    workflow = world.workflow("pipeline", CHAIN)
    first = wait_for_run(world.run(workflow))
    log_in(page, server, "ada", PASSWORD)
    page.goto(f"{server}/workflows/{workflow.pk}/runs/1/")
    page.click("#rerun-button")
    page.wait_for_url(re.compile(r"/runs/2/$"))
    expect(page.locator("h1")).to_contain_text("#2")
    expect(page.locator(".run-meta")).to_contain_text("re-run of #1")
    second = Run.objects.get(workflow=workflow, number=2)
    assert second.spec_id == first.spec_id
    assert second.rerun_of_id == first.pk
    expect(page.locator("#run-phase")).to_have_text("Succeeded", timeout=30_000)


def test_rerun_failed_jobs_runs_only_those_and_keeps_the_others_outputs(page, server, world):
    workflow = world.workflow("flaky", FLAKY)
    secret_set(team=world.team, scope="project", project=world.project, name="mode", value="stop")
    world.run(workflow)
    log_in(page, server, "ada", PASSWORD)
    page.goto(f"{server}/workflows/{workflow.pk}/runs/1/")
    rerun_failed = page.locator("#rerun-failed-form")
    # Whether the form was hidden while run 1 ran is a race with logging in on a
    # busy machine (the run fails within seconds); run 2 checks it hidden below.
    expect(page.locator("#run-phase")).to_have_text("Failed", timeout=20_000)
    expect(rerun_failed).to_be_visible()
    secret_set(team=world.team, scope="project", project=world.project, name="mode", value="go")

    page.click("#rerun-failed-button")

    page.wait_for_url(re.compile(r"/runs/2/$"))
    reused = page.locator("#run-graph [data-job=prepare]")
    expect(reused).to_have_class(re.compile("phase-SUCCEEDED.*reused"))
    expect(reused).to_contain_text("reused #1")
    expect(page.locator("#run-phase")).to_have_text("Succeeded", timeout=30_000)
    expect(rerun_failed).to_be_hidden()
    reused.click()
    expect(page.locator("#log-view")).to_contain_text("reused: it succeeded in run #1")
    page.click("[data-job-tab=details]")
    details = page.locator("[data-job-tab-panel=details]")
    expect(details.get_by_role("link", name="run #1")).to_be_visible()
    page.click("[data-job-tab=logs]")
    page.locator("#run-graph [data-job=flaky]").click()
    expect(page.locator("#log-view")).to_contain_text("the answer is 42")
    second = Run.objects.get(workflow=workflow, number=2)
    assert second.jobs.get(name="flaky").attempt == 1
    assert second.jobs.get(name="prepare").attempt == 0


def test_cancel_on_a_long_job_ends_the_run_canceled(page, server, world):
    workflow = world.workflow("long", LONG)
    run = world.run(workflow)
    log_in(page, server, "ada", PASSWORD)
    page.goto(f"{server}/workflows/{workflow.pk}/runs/{run.number}/")
    node = page.locator("#run-graph [data-job=sleeper]")
    expect(node).to_have_class(re.compile("phase-RUNNING"), timeout=20_000)
    page.click("#cancel-button")
    expect(page.locator(".flash")).to_contain_text("Cancel requested for run #1.")
    expect(page.locator("#run-phase")).to_have_text("Canceled", timeout=20_000)
    expect(node).to_have_class(re.compile("phase-CANCELED"))
    expect(page.locator("#cancel-form")).to_be_hidden()
    expect(page.locator("#rerun-failed-form")).to_be_visible()
    assert wait_for_run(run).phase == "CANCELED"


def test_an_outsider_gets_404_pages_and_a_refused_websocket(page, server, world):
    workflow = world.workflow("pipeline", CHAIN)
    run = world.run(workflow)
    log_in(page, server, "mallory", PASSWORD)
    for path in (
        f"/projects/{world.project.pk}/",
        f"/workflows/{workflow.pk}/",
        f"/workflows/{workflow.pk}/runs/{run.number}/",
        f"/workflows/{workflow.pk}/runs/{run.number}/jobs/prepare/",
        f"/workflows/{workflow.pk}/runs/{run.number}/diff/{run.number}/",
    ):
        response = page.goto(f"{server}{path}")
        assert response.status == 404, path
        expect(page.locator("h1")).to_have_text("Not found")
    code = page.evaluate(
        textwrap.dedent(
            """
            (path) => new Promise((resolve) => {
              const socket = new WebSocket(`ws://${location.host}${path}`);
              socket.onmessage = () => resolve("got a message");
              socket.onclose = (event) => resolve(event.code);
            })
            """
        ),
        f"/ws/runs/{run.pk}/",
    )
    assert code == 4403
