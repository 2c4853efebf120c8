"""The local engine for real: Redis, Celery worker processes and bubblewrap."""

import json
import subprocess
import textwrap
from pathlib import Path

import pytest
from django.conf import settings

from runs.selectors import run_status_document
from tests.processes import celery_worker
from tests.runs.engine_helpers import (
    DIAMOND,
    DIAMOND_BROKEN_PHASES,
    job_log,
    make_world,
    phases,
    wait_for_job_phase,
    wait_for_run,
)
from tests.spec_docs import blocks_of, dataset_names
from tests.specs import HELLO, PIPELINE, PIPELINE_INPUTS
from workflows.models import DatasetVersion
from workflows.spec import parse_spec

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker, tmp_path_factory, redis_url_module):
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    # ALLOW_LOCAL_REPOSITORIES: git-checkout@v1 clones a repository in tmp_path.
    with celery_worker(
        concurrency=2,
        log_path=log,
        LOCAL_ENGINE_STOP_GRACE_SECONDS="2",
        ALLOW_LOCAL_REPOSITORIES="1",
    ) as running:
        yield running


@pytest.fixture
def world(transactional_db, worker):
    return make_world()


def test_the_pipeline_example_runs_end_to_end(world):
    world.dataset("corpus", {"a.txt": b"the cat sat on the mat\n", "b.txt": b"a dog and a cat\n"})
    world.dataset("word-counts")
    world.dataset("reports")
    world.secret("greeting", "Hello-from-a-secret")

    run = world.submit(PIPELINE, inputs=PIPELINE_INPUTS)
    run = wait_for_run(run)

    assert run.phase == "SUCCEEDED", phases(run)
    status = run_status_document(run)["status"]
    assert status["inputs"]["corpus"]["dataset"]["id"] == "corpus:v1"
    assert status["inputs"]["top"]["value"] == "3"
    count = status["jobs"]["count"]["outputs"]
    assert count["counts"]["dataset"] == {
        "id": "word-counts:v1",
        "isCommitted": True,
        "versionId": count["counts"]["dataset"]["versionId"],
    }
    assert count["total"]["value"].strip() == "6"
    report = status["jobs"]["report"]["outputs"]["report"]["dataset"]
    version = DatasetVersion.objects.get(pk=report["versionId"])
    assert version.is_committed and version.file_count == 1
    assert version.producer.job == run.jobs.get(name="report")
    text = (Path(version.storage_location) / "report.txt").read_text()
    assert text.startswith("Hello-from-a-secret: 6 distinct words")
    assert len(text.splitlines()) == 4
    log = job_log(run, "report")
    assert "***: 6 distinct words" in log
    assert "Hello-from-a-secret" not in log
    assert 'the spec asks for the image "bash:5"' in job_log(run, "scratch")
    assert not (settings.DATA_DIR / "runs" / str(run.pk)).exists(), "volumes outlive the run"


def test_a_failed_branch_skips_what_needs_it_and_the_rest_finishes(world):
    run = wait_for_run(world.submit(DIAMOND))

    assert run.phase == "FAILED"
    assert phases(run) == DIAMOND_BROKEN_PHASES
    broken = run.jobs.get(name="broken")
    assert broken.exit_code == 3
    assert broken.message == "exited with code 3"
    assert "about to fail" in job_log(run, "broken")
    assert 'needs "broken"' in run.jobs.get(name="join").message


def test_the_runnable_examples_of_the_spec_reference_succeed(world):
    """docs/spec.md's `yaml run` blocks, with the datasets and secrets they name."""
    submitted = []
    for block in blocks_of("yaml run"):
        spec = parse_spec(block.text).spec
        for name in dataset_names(spec) - set(
            world.project.datasets.values_list("name", flat=True)
        ):
            world.dataset(name, {"a.txt": b"the cat sat on the mat\n"})
        for name in spec.secret_names:
            world.secret(name, "a-secret-value")
        submitted.append((block, world.submit(block.text, workflow=f"doc-{block.line}")))

    for block, run in submitted:
        run = wait_for_run(run, timeout=120)
        assert run.phase == "SUCCEEDED", (block.name, phases(run))
        assert "a-secret-value" not in "".join(job_log(run, job.name) for job in run.jobs.all())

    (status_block,) = blocks_of("json status")
    documented = json.loads(status_block.text)
    (block, run) = next(
        (block, run)
        for block, run in submitted
        if set(documented["status"]["jobs"]) <= set(parse_spec(block.text).spec.job_names)
    )
    actual = run_status_document(run)
    assert documented.keys() <= actual.keys()
    assert documented["status"].keys() <= actual["status"].keys()
    for name, job in documented["status"]["jobs"].items():
        real = actual["status"]["jobs"][name]
        assert job.keys() <= real.keys()
        for output, value in job["outputs"].items():
            assert value.keys() == real["outputs"][output].keys(), block.name
            assert value.get("value") == real["outputs"][output].get("value"), block.name


def test_an_input_and_an_output_may_share_a_name(world):
    run = world.submit(
        """
        inputs:
          my-string: {type: string, with: {value: hello}}
        jobs:
          shout:
            inputs:
              my-string: workflow.inputs.my-string
            outputs:
              my-string: {type: string}
            uses: script@v1
            with:
              image: bash:5
              script: tr a-z A-Z < /inputs/my-string > /outputs/my-string
          echo:
            needs: [shout]
            inputs:
              my-string: shout.outputs.my-string
            uses: script@v1
            with:
              image: bash:5
              script: cat /inputs/my-string
        """
    )
    run = wait_for_run(run)

    assert run.phase == "SUCCEEDED", phases(run)
    status = run_status_document(run)["status"]
    assert status["jobs"]["shout"]["outputs"]["my-string"]["value"] == "HELLO"
    assert "HELLO" in job_log(run, "echo")


def test_a_job_cannot_write_to_its_inputs(world):
    world.dataset("raw", {"data.txt": b"original\n"})
    run = world.submit(
        """
        jobs:
          vandal:
            inputs:
              raw: {type: dataset, with: {ref: raw}}
              note: {type: string, with: {value: hello}}
            uses: script@v1
            with:
              image: bash:5
              script: |-
                cat /inputs/note
                echo changed > /inputs/raw/data.txt
        """
    )
    run = wait_for_run(run)

    assert run.phase == "FAILED"
    log = job_log(run, "vandal")
    assert "hello" in log
    assert "Read-only file system" in log or "Permission denied" in log
    version = DatasetVersion.objects.get(dataset__name="raw")
    assert (Path(version.storage_location) / "data.txt").read_text() == "original\n"


def test_a_job_sees_neither_the_database_nor_the_app_nor_its_environment(world):
    database = Path(settings.DATABASES["default"]["NAME"])
    checks = [str(settings.DATA_DIR), str(settings.BASE_DIR / "manage.py")]
    if database.is_absolute():
        checks.append(str(database))
    script = "\n".join(f'test -e "{path}" && echo "VISIBLE {path}"' for path in checks)
    run = world.submit(
        f"""
        jobs:
          snoop:
            uses: script@v1
            with:
              image: bash:5
              script: |-
                {textwrap.indent(script, " " * 16).strip()}
                env | sort
                touch /escape 2>&1 || echo "root is read-only"
        """
    )
    run = wait_for_run(run)

    assert run.phase == "SUCCEEDED"
    log = job_log(run, "snoop")
    assert "VISIBLE" not in log
    assert "SECRET_KEY" not in log and "DATABASE_URL" not in log and "REDIS_URL" not in log
    assert "root is read-only" in log


def test_cancel_stops_a_running_job_and_cancels_the_rest(world):
    from runs.services import run_request_cancel

    run = world.submit(
        """
        jobs:
          long:
            uses: container@v1
            with: {image: bash:5, args: ["sleep", "300"]}
          later:
            needs: [long]
            uses: container@v1
            with: {image: bash:5, args: ["true"]}
        """
    )
    wait_for_job_phase(run, "long", "RUNNING")
    assert run_request_cancel(run=run)
    run = wait_for_run(run, timeout=30)

    assert run.phase == "CANCELED"
    assert phases(run) == {"long": "CANCELED", "later": "CANCELED"}
    assert "cancel requested" in job_log(run, "long")


def test_a_timeout_kills_the_job_and_says_so(world):
    run = world.submit(
        """
        jobs:
          slow:
            timeout: 1s
            uses: container@v1
            with: {image: bash:5, args: ["sleep", "120"]}
        """
    )
    run = wait_for_run(run, timeout=30)

    assert run.phase == "FAILED"
    slow = run.jobs.get(name="slow")
    assert slow.message == "timed out after 1s (the job's timeout)"
    assert "timeout of 1s reached" in job_log(run, "slow")


def test_retries_run_the_job_again_and_record_every_attempt(world):
    run = world.submit(
        """
        jobs:
          flaky:
            retries: 2
            uses: container@v1
            with: {image: bash:5, args: ["bash", "-c", "echo trying; exit 7"]}
        """
    )
    run = wait_for_run(run)

    flaky = run.jobs.get(name="flaky")
    assert (run.phase, flaky.phase, flaky.attempt) == ("FAILED", "FAILED", 3)
    assert [a["attempt"] for a in flaky.attempts] == [1, 2, 3]
    assert all(a["exitCode"] == 7 for a in flaky.attempts)
    log = job_log(run, "flaky").splitlines()
    assert log.count("trying") == 3
    # Each retried attempt's log starts by saying why the one before it ended.
    second, third = (index for index, line in enumerate(log) if "retrying" in line)
    assert log[second] == "attempt 1 failed (exited with code 7); retrying, attempt 2 of 3"
    assert log[third] == "attempt 2 failed (exited with code 7); retrying, attempt 3 of 3"
    assert log[second - 1] == log[third - 1] == "exited with code 7"


def test_git_checkout_clones_a_local_repository_at_a_commit(world, tmp_path):
    repo = tmp_path / "repo"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-C", str(repo)]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "train.py").write_text("print('first')\n")
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "first"], check=True)
    first = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    (repo / "train.py").write_text("print('second')\n")
    subprocess.run([*git, "commit", "-qam", "second"], check=True)
    world.dataset("code")

    run = world.submit(
        f"""
        jobs:
          clone:
            uses: git-checkout@v1
            with: {{url: "file://{repo}", ref: "{first}"}}
            outputs:
              code: {{type: dataset, with: {{ref: code}}}}
          use:
            needs: [clone]
            inputs:
              code: clone.outputs.code
            uses: container@v1
            with: {{image: bash:5, args: ["cat", "/inputs/code/train.py"]}}
        """
    )
    run = wait_for_run(run)

    assert run.phase == "SUCCEEDED", job_log(run, "clone")
    assert "print('first')" in job_log(run, "use")


def test_a_missing_string_output_fails_the_job_naming_it(world):
    run = world.submit(
        """
        jobs:
          quiet:
            uses: container@v1
            with: {image: bash:5, args: ["true"]}
            outputs:
              answer: {type: string}
        """
    )
    run = wait_for_run(run)

    quiet = run.jobs.get(name="quiet")
    assert quiet.phase == "FAILED"
    assert 'the string output "answer" is missing' in quiet.message


def test_a_too_large_string_output_fails_the_job_and_commits_nothing(world):
    world.dataset("side")
    run = world.submit(
        """
        jobs:
          chatty:
            uses: script@v1
            with:
              image: bash:5
              script: |-
                head -c 70000 /dev/zero | tr '\\0' x > /outputs/answer
                echo data > /outputs/side/file.txt
            outputs:
              answer: {type: string}
              side: {type: dataset, with: {ref: side}}
        """
    )
    run = wait_for_run(run)

    chatty = run.jobs.get(name="chatty")
    assert chatty.phase == "FAILED"
    assert "70000 bytes" in chatty.message and "64 KiB" in chatty.message
    assert not DatasetVersion.objects.filter(dataset__name="side").exists()


def test_a_secret_echoed_by_a_job_shows_as_stars(world):
    world.secret("token", "s3cr3t-t0ken-value")
    run = world.submit(
        """
        jobs:
          leak:
            env:
              TOKEN: secret:token
            uses: container@v1
            with: {image: bash:5, args: ["bash", "-c", "echo token=$TOKEN; echo $TOKEN | rev"]}
        """
    )
    run = wait_for_run(run)

    assert run.phase == "SUCCEEDED"
    log = job_log(run, "leak")
    assert "token=***" in log
    assert "s3cr3t-t0ken-value" not in log
    assert "s3cr3t-t0ken-value" not in json.dumps(run_status_document(run))


def test_create_model_registers_a_model_from_a_dataset(world):
    from workflows.models import RegisteredModel

    world.dataset("trained", {"model.onnx": b"onnx-bytes"})
    run = world.submit(
        """
        jobs:
          register:
            uses: create-model@v1
            with: {name: digits, type: ONNX}
            inputs:
              model: {type: dataset, with: {ref: trained}}
            outputs:
              model-id: {type: string}
        """
    )
    run = wait_for_run(run)

    assert run.phase == "SUCCEEDED", job_log(run, "register")
    model = RegisteredModel.objects.get()
    assert (model.name, model.model_type) == ("digits", "ONNX")
    assert model.dataset_version.dataset.name == "trained"
    assert run.jobs.get(name="register").outputs == {"model-id": {"value": model.id}}
    assert model.producer.job == run.jobs.get(name="register")


def test_run_spec_submits_waits_and_prints_the_status_with_logs(world, tmp_path, capsys):
    from django.core.management import call_command

    spec = tmp_path / "greet.yaml"
    spec.write_text(
        "jobs:\n  hello:\n    uses: container@v1\n"
        '    with: {image: bash:5, args: ["echo", "hello from run_spec"]}\n'
    )

    call_command(
        "run_spec", str(spec), "--project", world.project.handle, "--wait", "--json", "--logs"
    )

    document = json.loads(capsys.readouterr().out)
    assert document["status"]["phase"] == "SUCCEEDED"
    assert document["status"]["jobs"]["hello"]["phase"] == "SUCCEEDED"
    assert "hello from run_spec" in document["logs"]["hello"]
    assert world.project.workflows.get().name == "greet"


def test_run_spec_exits_1_for_a_failed_run_and_for_an_invalid_spec(world, tmp_path, capsys):
    from django.core.management import call_command

    failing = tmp_path / "fail.yaml"
    failing.write_text(
        'jobs:\n  no:\n    uses: container@v1\n    with: {image: x, args: ["false"]}\n'
    )
    invalid = tmp_path / "invalid.yaml"
    invalid.write_text("jobs:\n  a:\n    uses: container@v1\n    nedds: [b]\n")

    with pytest.raises(SystemExit) as failed:
        call_command("run_spec", str(failing), "--project", world.project.handle, "--wait")
    assert failed.value.code == 1
    assert "no: FAILED (exited with code 1)" in capsys.readouterr().out

    with pytest.raises(SystemExit) as refused:
        call_command("run_spec", str(invalid), "--project", world.project.handle)
    assert refused.value.code == 1
    assert "spec 4:5 jobs.a.nedds:" in capsys.readouterr().err


def test_the_demo_workflows_of_make_run_succeed(transactional_db, worker, tmp_path):
    from runs.services import run_submit
    from workflows.demo import demo_setup
    from workflows.models import Workflow

    user, created = demo_setup(password_file=tmp_path / "password")
    assert created and demo_setup(password_file=tmp_path / "password") == (user, False)
    workflows = Workflow.objects.filter(project__team__memberships__user=user).order_by("name")
    # The demo's workflows are the examples the rest of the suite checks.
    assert [(w.name, w.default_spec.text) for w in workflows] == [
        ("hello", HELLO),
        ("word-count", PIPELINE),
    ]

    for workflow in workflows:
        run = wait_for_run(run_submit(workflow=workflow, spec_text=None, user=user))
        assert run.phase == "SUCCEEDED", (workflow.name, phases(run))
    assert "***: 13 distinct words" in job_log(run, "report")


def test_very_long_lines_are_cut_and_binary_output_breaks_nothing(world):
    run = world.submit(
        """
        jobs:
          noisy:
            uses: script@v1
            with:
              image: bash:5
              script: |-
                head -c 100000 /dev/zero | tr '\\0' y; echo
                printf 'bin\\xff\\xfe\\x00ary\\n'
                echo after
        """
    )
    run = wait_for_run(run)

    assert run.phase == "SUCCEEDED"
    lines = job_log(run, "noisy").splitlines()
    long_line = next(line for line in lines if line.startswith("yyy"))
    assert long_line.endswith("[line cut: 83616 more characters]")
    assert len(long_line) < 17_000
    assert any(line.startswith("bin\ufffd\ufffd") for line in lines)
    assert lines[-1] == "after"


def test_a_string_output_with_a_nul_fails_the_job_naming_it(world):
    run = world.submit(
        """
        jobs:
          odd:
            uses: container@v1
            with: {image: bash:5, args: ["bash", "-c", "printf 'a\\\\0b' > /outputs/answer"]}
            outputs:
              answer: {type: string}
        """
    )
    run = wait_for_run(run)

    odd = run.jobs.get(name="odd")
    assert odd.phase == "FAILED"
    assert odd.message == 'the string output "answer" contains a NUL character; write text'


RERUN_FAILED = """
jobs:
  prepare:
    uses: script@v1
    with:
      image: bash:5
      script: |
        echo prepared > /outputs/data/file.txt
        echo 42 > /outputs/answer
    outputs:
      data: {type: dataset, with: {ref: prepared}}
      answer: {type: string}
  scratch:
    uses: script@v1
    with: {image: bash:5, script: "echo scratch > /outputs/space/note"}
    outputs:
      space: {type: volume}
  check:
    needs: [prepare, scratch]
    inputs:
      data: prepare.outputs.data
      answer: prepare.outputs.answer
      space: scratch.outputs.space
    env: {MODE: "secret:mode"}
    uses: script@v1
    with:
      image: bash:5
      script: |
        [ "$MODE" = go ] || exit 4
        cat /inputs/data/file.txt /inputs/answer /inputs/space/note
"""


def test_rerun_of_the_failed_jobs_reuses_datasets_and_strings_and_redoes_volumes(world):
    from runs.services import run_rerun

    world.dataset("prepared")
    world.secret("mode", "stop")
    first = wait_for_run(world.submit(RERUN_FAILED))
    assert phases(first) == {"prepare": "SUCCEEDED", "scratch": "SUCCEEDED", "check": "FAILED"}
    world.secret("mode", "go")

    second = wait_for_run(run_rerun(run=first, user=world.user, spec="failed"))

    assert second.phase == "SUCCEEDED", phases(second)
    assert job_log(second, "check").splitlines()[-3:] == ["prepared", "42", "scratch"]
    assert second.jobs.get(name="prepare").outputs == first.jobs.get(name="prepare").outputs
    assert DatasetVersion.objects.filter(dataset__name="prepared").count() == 1
    assert "reused: it succeeded in run #1" in job_log(second, "prepare")
    assert "bubblewrap" in job_log(second, "scratch"), "a volume a re-run job reads is made again"
