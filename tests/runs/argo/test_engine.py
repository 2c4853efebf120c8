"""The Argo engine end to end against the Kubernetes stand-in and the simulated controller:
submission, reconciling statuses, outputs, dataset commits, logs, retries, cancel."""

from __future__ import annotations

import base64
import io
import json
import tarfile
from pathlib import Path

import pytest

from runs.engine.argo import engine
from runs.engine.argo.compiler import RUN_LABEL
from runs.engine.argo.watcher import reconcile_now
from runs.models import Run
from runs.selectors import run_status_document
from runs.transitions import RUN_FINAL
from tests.runs.argo.argo_sim import ArgoSimulator, Behavior
from tests.runs.argo.conftest import BUCKET, NAMESPACE
from tests.runs.argo.schema import schema_errors
from tests.runs.engine_helpers import DIAMOND, DIAMOND_BROKEN_PHASES, job_log, phases
from tests.specs import PIPELINE, PIPELINE_INPUTS
from workflows.models import DatasetVersion, RegisteredModel


def drive(run: Run, sim: ArgoSimulator, max_steps: int = 100) -> Run:
    """Step the controller and reconcile after each step until the run has ended."""
    for _ in range(max_steps):
        sim.step()
        reconcile_now(run.pk)
        run.refresh_from_db()
        if run.phase in RUN_FINAL:
            return run
    raise AssertionError(f"run {run.pk} is still {run.phase}: {phases(run)}")


def log_of(run: Run, job: str) -> list[str]:
    text = job_log(run, job)
    return text.split("\n") if text else []


def pipeline_world(world):
    world.dataset("corpus", {"a.txt": b"the cat sat on the mat\n", "b.txt": b"a dog\n"})
    world.dataset("word-counts")
    world.dataset("reports")
    world.secret("greeting", "Hello-from-a-secret")


def test_submission_creates_the_secret_and_the_workflow(world, kube_api, s3):
    pipeline_world(world)
    run = world.start(PIPELINE, inputs=PIPELINE_INPUTS)

    assert run.phase == "RUNNING"
    state = run.engine_state
    workflow = kube_api.workflow(NAMESPACE, state["name"])
    assert workflow["metadata"]["uid"] == state["uid"]
    assert workflow["metadata"]["labels"][RUN_LABEL] == str(run.pk)
    assert schema_errors({k: v for k, v in workflow.items() if k != "status"}) == []
    assert "Hello-from-a-secret" not in json.dumps(workflow)
    secret = kube_api.secret(NAMESPACE, state["secret"])
    assert base64.b64decode(secret["data"]["greeting"]) == b"Hello-from-a-secret"
    assert secret["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "name": state["name"],
            "uid": state["uid"],
        }
    ]
    assert ("PATCH", f"/api/v1/namespaces/{NAMESPACE}/secrets/{state['secret']}") in [
        (method, path) for method, path, _ in kube_api.requests
    ]
    corpus = DatasetVersion.objects.get(dataset__name="corpus")
    key = f"gw/datasets/{corpus.dataset_id}/{corpus.version}.tgz"
    archive = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        assert sorted(tar.getnames()) == ["v1", "v1/a.txt", "v1/b.txt"]
    reserved = state["datasets"]["count"]["counts"]
    assert DatasetVersion.objects.get(pk=reserved["versionId"]).is_committed is False


def test_submitting_twice_adopts_the_workflow(world, kube_api):
    pipeline_world(world)
    run = world.start(PIPELINE)
    Run.objects.filter(pk=run.pk).update(phase="PENDING")
    engine.run_start(run.pk)
    run.refresh_from_db()
    assert kube_api.workflow_names(NAMESPACE) == [run.engine_state["name"]]
    assert run.phase == "RUNNING"


def test_the_pipeline_example_runs_to_the_end(
    world, sim, s3, published, django_capture_on_commit_callbacks
):
    pipeline_world(world)
    sim.behaviors = {
        "scratch": Behavior(lines=("making the stop list",)),
        "count": Behavior(
            lines=("counting", "secret is Hello-from-a-secret"),
            parameters={"total": "6"},
            files={"counts": {"counts.txt": b"2 cat\n1 dog\n"}},
        ),
        "report": Behavior(
            lines=("Hello-from-a-secret: 6 distinct words",),
            files={"report": {"report.txt": b"Hello: 6 distinct words\n", "sub/x.txt": b"x"}},
        ),
    }
    with django_capture_on_commit_callbacks(execute=True):
        run = world.start(PIPELINE, inputs=PIPELINE_INPUTS)
        run = drive(run, sim)

    assert run.phase == "SUCCEEDED", (phases(run), run.message)
    status = run_status_document(run)["status"]
    count = status["jobs"]["count"]
    assert count["outputs"]["total"] == {"value": "6"}
    counts = count["outputs"]["counts"]["dataset"]
    assert counts["id"] == "word-counts:v1" and counts["isCommitted"] is True
    version = DatasetVersion.objects.get(pk=counts["versionId"])
    assert version.is_committed and version.file_count == 1
    assert (Path(version.storage_location) / "counts.txt").read_bytes() == b"2 cat\n1 dog\n"
    report = status["jobs"]["report"]["outputs"]["report"]["dataset"]
    report_version = DatasetVersion.objects.get(pk=report["versionId"])
    assert report_version.file_count == 2
    assert (Path(report_version.storage_location) / "sub" / "x.txt").read_bytes() == b"x"
    assert status["jobs"]["scratch"]["outputs"]["work"] == {
        "volume": {"id": f"{run.pk}/scratch/work"}
    }
    assert log_of(run, "count") == [
        "attempt 1 of count",
        "counting",
        "secret is ***",
        "count done",
    ]
    assert "Hello-from-a-secret" not in json.dumps(status)
    report_node = _node(sim, run, "report")
    assert {"name": "total", "value": "6"} in report_node["inputs"]["parameters"]
    assert {"name": "top", "value": "3"} in report_node["inputs"]["parameters"]
    for job in status["jobs"].values():
        assert job["phase"] == "SUCCEEDED" and job["attempt"] == 1 and job["exitCode"] == 0
    kinds = [event["type"] for _, event in published]
    assert kinds.count("run.phase") == 2


def _node(sim: ArgoSimulator, run: Run, task: str) -> dict:
    workflow = sim.kube.workflow(NAMESPACE, run.engine_state["name"])
    nodes = sim._nodes(workflow["status"])
    return next(node for node in nodes.values() if node["displayName"] == task)


def test_a_failed_branch_skips_what_needs_it_and_the_rest_finishes(world, sim):
    sim.behaviors = {"broken": Behavior(outcome="Failed", exit_code=3, lines=("about to fail",))}
    run = drive(world.start(DIAMOND), sim)

    assert run.phase == "FAILED"
    assert phases(run) == DIAMOND_BROKEN_PHASES
    broken = run.jobs.get(name="broken")
    assert broken.exit_code == 3
    assert broken.message == "exited with code 3"
    assert "about to fail" in log_of(run, "broken")
    assert run.jobs.get(name="join").message == 'skipped: it needs "broken", which did not succeed'
    assert run.jobs.get(name="after-join").message == (
        'skipped: it needs "join", which did not succeed'
    )


RETRIED = """
jobs:
  flaky:
    uses: container@v1
    with: {image: bash:5, args: [bash, -c, "exit 1"]}
    retries: 2
    outputs:
      note: {type: string}
  after:
    needs: [flaky]
    uses: container@v1
    with: {image: bash:5}
    inputs:
      note: flaky.outputs.note
"""


def test_retries_are_attempts_of_one_job(world, sim, published, django_capture_on_commit_callbacks):
    sim.behaviors = {"flaky": Behavior(fail_attempts=1, exit_code=1, parameters={"note": "ok"})}
    with django_capture_on_commit_callbacks(execute=True):
        run = drive(world.start(RETRIED), sim)

    assert run.phase == "SUCCEEDED", phases(run)
    flaky = run.jobs.get(name="flaky")
    assert flaky.attempt == 2
    assert [entry["attempt"] for entry in flaky.attempts] == [1, 2]
    assert flaky.attempts[0]["exitCode"] == 1
    assert flaky.outputs == {"note": {"value": "ok"}}
    assert log_of(run, "flaky") == [
        "attempt 1 of flaky",
        "working",
        "flaky done",
        "attempt 2 of flaky",
        "working",
        "flaky done",
    ]
    moves = [e["phase"] for _, e in published if e["type"] == "job.phase" and e["job"] == "flaky"]
    assert moves == ["RUNNING", "PENDING", "RUNNING", "SUCCEEDED"]
    retry = next(e for _, e in published if e.get("job") == "flaky" and e.get("phase") == "PENDING")
    assert retry["message"] == "attempt 1 failed (exited with code 1); retrying, attempt 2 of 3"


def test_out_of_retries_fails(world, sim):
    sim.behaviors = {"flaky": Behavior(outcome="Failed", exit_code=7)}
    run = drive(world.start(RETRIED), sim)
    flaky = run.jobs.get(name="flaky")
    assert (run.phase, flaky.phase, flaky.attempt, flaky.exit_code) == ("FAILED", "FAILED", 3, 7)
    assert run.jobs.get(name="after").phase == "SKIPPED"


def test_compressed_nodes_are_read(world, sim):
    sim.compress_over = 0
    run = drive(world.start(DIAMOND), sim)
    workflow = sim.kube.workflow(NAMESPACE, run.engine_state["name"])
    assert "compressedNodes" in workflow["status"] and "nodes" not in workflow["status"]
    assert phases(run)["after-fine"] == "SUCCEEDED"
    assert phases(run)["after-join"] == "SUCCEEDED"


def test_applying_the_same_status_again_changes_nothing(
    world, sim, published, django_capture_on_commit_callbacks
):
    sim.behaviors = {"broken": Behavior(outcome="Failed")}
    with django_capture_on_commit_callbacks(execute=True):
        run = drive(world.start(DIAMOND), sim)
    before = (list(published), phases(run), [job.log_line_count for job in run.jobs.all()])
    assert len(before[0]) > 10
    Run.objects.filter(pk=run.pk).update(phase="RUNNING")
    with django_capture_on_commit_callbacks(execute=True):
        reconcile_now(run.pk)
        reconcile_now(run.pk)
    job_events = [e for _, e in published if e["type"] != "run.phase"]
    assert job_events == [e for _, e in before[0] if e["type"] != "run.phase"]
    assert phases(run) == before[1]
    assert [job.log_line_count for job in run.jobs.all()] == before[2]


def test_a_missing_string_output_fails_the_job_with_the_local_message(world, sim):
    sim.behaviors = {"flaky": Behavior(missing_parameter="note")}
    spec = RETRIED.replace("    retries: 2\n", "")
    run = drive(world.start(spec), sim)
    flaky = run.jobs.get(name="flaky")
    assert flaky.phase == "FAILED"
    assert flaky.message == (
        'the string output "note" is missing: the job must write the file /outputs/note'
    )


def test_a_string_output_over_64_kib_fails_the_job_and_skips_its_dependents(world, sim):
    sim.behaviors = {"flaky": Behavior(parameters={"note": "x" * (64 * 1024 + 1)})}
    run = drive(world.start(RETRIED.replace("    retries: 2\n", "")), sim)
    assert phases(run) == {"flaky": "FAILED", "after": "SKIPPED"}
    assert "string outputs hold at most 64 KiB" in run.jobs.get(name="flaky").message


HELD = """
jobs:
  long:
    uses: container@v1
    with: {image: bash:5, args: [sleep, "3600"]}
  later:
    needs: [long]
    uses: container@v1
    with: {image: bash:5}
"""


def test_cancel_terminates_the_workflow(world, sim, kube_api):
    sim.behaviors = {"long": Behavior(hold=True)}
    run = world.start(HELD)
    for _ in range(3):
        sim.step()
        reconcile_now(run.pk)
    assert phases(run) == {"long": "RUNNING", "later": "PENDING"}

    engine.run_cancel(run.pk)

    workflow = kube_api.workflow(NAMESPACE, run.engine_state["name"])
    assert workflow["spec"]["shutdown"] == "Terminate"
    patch = [r for r in kube_api.requests if r[0] == "PATCH" and "/workflows/" in r[1]]
    assert patch[-1][2] == "application/merge-patch+json"
    assert phases(run) == {"long": "RUNNING", "later": "CANCELED"}
    run = drive(run, sim)
    assert run.phase == "CANCELED"
    assert phases(run) == {"long": "CANCELED", "later": "CANCELED"}


def test_cancel_before_submission_creates_nothing(world, kube_api):
    run = world.submit(HELD)
    engine.run_cancel(run.pk)
    engine.run_start(run.pk)
    run.refresh_from_db()
    assert run.phase == "CANCELED"
    assert kube_api.workflow_names(NAMESPACE) == []


def test_an_unknown_instance_type_is_refused_at_submission_at_its_line(world, kube_api):
    from runs.models import Run
    from runs.services import SubmissionError

    with pytest.raises(SubmissionError) as refused:
        world.submit(
            """
            jobs:
              train:
                uses: container@v1
                with: {image: x}
                resources: {instance-type: H100}
            """
        )

    (error,) = refused.value.errors
    assert error.path == "jobs.train.resources.instance-type"
    assert error.line == 6
    assert 'no instance type "H100"' in error.message
    assert not Run.objects.exists()
    assert kube_api.workflow_names(NAMESPACE) == []


def test_datasets_need_an_artifact_repository(world, kube_api):
    world.cluster.settings = {"kubeconfig": world.cluster.settings["kubeconfig"]}
    world.cluster.save()
    world.dataset("results")
    run = world.start(
        """
        jobs:
          a:
            uses: container@v1
            with: {image: x}
            outputs: {out: {type: dataset, with: {ref: results}}}
        """
    )
    assert run.phase == "FAILED"
    assert "no artifact repository" in run.message
    assert not DatasetVersion.objects.filter(dataset__name="results").exists()


def test_a_deleted_workflow_ends_the_run(world, sim, kube_api):
    sim.behaviors = {"long": Behavior(hold=True)}
    run = world.start(HELD)
    sim.step()
    sim.step()
    reconcile_now(run.pk)
    kube_api.delete_workflow(NAMESPACE, run.engine_state["name"])
    reconcile_now(run.pk)
    run.refresh_from_db()
    assert run.phase == "FAILED"
    assert run.message == "the Argo Workflow was deleted before it finished"
    assert phases(run) == {"long": "FAILED", "later": "SKIPPED"}


MODEL = """
inputs:
  weights: {type: dataset, with: {ref: weights}}
jobs:
  train:
    uses: container@v1
    with: {image: x}
    inputs: {weights: workflow.inputs.weights}
    outputs: {trained: {type: dataset, with: {ref: trained}}}
  register:
    needs: [train]
    uses: create-model@v1
    inputs: {model: train.outputs.trained}
    outputs: {model-id: {type: string}}
    with: {name: resnet, type: ONNX}
  use:
    needs: [register]
    uses: container@v1
    with: {image: x}
    inputs: {model-id: register.outputs.model-id}
"""


def test_create_model_registers_the_model_when_the_job_succeeds(world, sim):
    world.dataset("weights", {"w.bin": b"\x00\x01"})
    world.dataset("trained")
    sim.behaviors = {"train": Behavior(files={"trained": {"model.onnx": b"onnx"}})}
    run = world.start(MODEL)
    model_id = run.engine_state["models"]["register"]
    register = kube_api_template(sim, run, "register")
    assert register["container"]["args"][0] == model_id
    sim.behaviors["register"] = Behavior(parameters={"model-id": model_id})

    run = drive(run, sim)

    assert run.phase == "SUCCEEDED", phases(run)
    model = RegisteredModel.objects.get(pk=model_id)
    trained = run.jobs.get(name="train").outputs["trained"]["dataset"]
    assert (model.name, model.model_type, model.dataset_version_id) == (
        "resnet",
        "ONNX",
        trained["versionId"],
    )
    assert model.producer.job == run.jobs.get(name="register")
    assert run.jobs.get(name="register").outputs == {"model-id": {"value": model_id}}
    assert {"name": "model-id", "value": model_id} in _node(sim, run, "use")["inputs"]["parameters"]


def kube_api_template(sim: ArgoSimulator, run: Run, name: str) -> dict:
    workflow = sim.kube.workflow(NAMESPACE, run.engine_state["name"])
    return next(t for t in workflow["spec"]["templates"] if t["name"] == name)


def test_a_failed_job_commits_nothing(world, sim):
    world.dataset("results")
    sim.behaviors = {"a": Behavior(outcome="Failed")}
    run = drive(
        world.start(
            """
            jobs:
              a:
                uses: container@v1
                with: {image: x}
                outputs: {out: {type: dataset, with: {ref: results}}}
            """
        ),
        sim,
    )
    assert run.phase == "FAILED"
    assert not DatasetVersion.objects.filter(dataset__name="results").exists()


def test_logs_resume_after_a_dropped_stream_without_doubles(world, sim, kube_api):
    sim.behaviors = {"long": Behavior(hold=True, lines=tuple(f"line {n}" for n in range(5)))}
    run = world.start(HELD)
    sim.step()
    sim.step()
    reconcile_now(run.pk)
    pod = next(iter(sim.pods))
    kube_api.pod_print(NAMESPACE, pod, "more 1", "more 2")
    reconcile_now(run.pk)
    kube_api.drop_streams()
    kube_api.pod_print(NAMESPACE, pod, "more 3")
    reconcile_now(run.pk)
    sim.release("long")
    run = drive(run, sim)
    assert log_of(run, "long") == kube_api.pod_lines(NAMESPACE, pod)
    assert len(log_of(run, "long")) == 10


def test_the_workflow_name_and_context_come_from_the_cluster(world, kube_api):
    run = world.start(HELD)
    assert run.engine_state["name"].startswith(f"gw-{run.pk}-workflow")
    assert run.engine_state["namespace"] == NAMESPACE
    assert all(
        path.startswith(f"/apis/argoproj.io/v1alpha1/namespaces/{NAMESPACE}/")
        or path.startswith(f"/api/v1/namespaces/{NAMESPACE}/")
        for _, path, _ in kube_api.requests
    )


def test_a_timeout_is_told_as_on_the_local_engine(world, sim):
    sim.behaviors = {
        "slow": Behavior(
            outcome="Failed",
            exit_code=137,
            message="Pod was active on the node longer than the specified deadline",
        )
    }
    run = drive(
        world.start(
            """
            jobs:
              slow:
                uses: container@v1
                with: {image: x, args: [sleep, "600"]}
                timeout: 90s
            """
        ),
        sim,
    )
    slow = run.jobs.get(name="slow")
    assert (slow.phase, slow.exit_code) == ("FAILED", 137)
    assert slow.message == "timed out after 1m30s (the job's timeout)"
    template = kube_api_template(sim, run, "slow")
    assert template["activeDeadlineSeconds"] == "90"


def test_git_credentials_go_into_the_run_secret(world, kube_api, sim):
    world.secret("git-token", "ghp_s3cret")
    run = world.start(
        """
        jobs:
          fetch:
            uses: git-checkout@v1
            with:
              url: https://example.com/repo.git
              ref: main
              username: robot
              password: secret:git-token
            outputs:
              repo: {type: volume}
        """
    )
    secret = kube_api.secret(NAMESPACE, run.engine_state["secret"])
    decoded = {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
    assert decoded == {".git-username.fetch": "robot", "git-token": "ghp_s3cret"}
    workflow = kube_api.workflow(NAMESPACE, run.engine_state["name"])
    assert "ghp_s3cret" not in json.dumps(workflow)
    run = drive(run, sim)
    assert run.phase == "SUCCEEDED"
    assert run.jobs.get(name="fetch").outputs == {
        "repo": {"volume": {"id": f"{run.pk}/fetch/repo"}}
    }


def test_the_celery_tasks_hand_argo_runs_to_this_engine(world, kube_api):
    from runs.tasks import run_cancel, run_start

    run = world.submit(HELD)
    run_start(run.pk)
    run.refresh_from_db()
    assert run.phase == "RUNNING"
    assert kube_api.workflow_names(NAMESPACE) == [run.engine_state["name"]]
    run_cancel(run.pk)
    assert kube_api.workflow(NAMESPACE, run.engine_state["name"])["spec"]["shutdown"] == "Terminate"


def test_argo_watch_once_reconciles_every_run(world, sim):
    from io import StringIO

    from django.core.management import call_command

    run = world.start(DIAMOND)
    for _ in range(30):
        sim.step()
        out = StringIO()
        call_command("argo_watch", "--once", stdout=out)
        run.refresh_from_db()
        if run.phase in RUN_FINAL:
            break
    assert run.phase == "SUCCEEDED"
    assert out.getvalue() == "k8s: 1 run(s) reconciled\n"


def test_rerun_of_the_failed_jobs_submits_only_those_and_feeds_them_the_kept_outputs(
    world, sim, kube_api
):
    from runs.services import run_rerun

    pipeline_world(world)
    sim.behaviors = {
        "count": Behavior(parameters={"total": "6"}, files={"counts": {"counts.txt": b"2 cat\n"}}),
        "report": Behavior(outcome="Failed", exit_code=2),
    }
    first = drive(world.start(PIPELINE, inputs=PIPELINE_INPUTS), sim)
    assert phases(first) == {"scratch": "SUCCEEDED", "count": "SUCCEEDED", "report": "FAILED"}
    sim.behaviors["report"] = Behavior(files={"report": {"report.txt": b"6 words\n"}})

    second = run_rerun(run=first, user=world.user, spec="failed")
    engine.run_start(second.pk)
    second.refresh_from_db()

    manifest = kube_api.workflow(NAMESPACE, second.engine_state["name"])
    assert schema_errors({k: v for k, v in manifest.items() if k != "status"}) == []
    (dag,) = [t for t in manifest["spec"]["templates"] if "dag" in t]
    assert [(task["name"], task.get("dependencies")) for task in dag["dag"]["tasks"]] == [
        ("report", None)
    ]
    assert {"name": "total", "value": "6"} in dag["dag"]["tasks"][0]["arguments"]["parameters"]
    assert "volumeClaimTemplates" not in manifest["spec"]
    assert set(second.engine_state["datasets"]) == {"report"}
    counts = first.jobs.get(name="count").outputs["counts"]["dataset"]
    (report,) = [t for t in manifest["spec"]["templates"] if t["name"] == "report"]
    (counts_in,) = [a for a in report["inputs"]["artifacts"] if a["name"] == "counts"]
    version = DatasetVersion.objects.get(pk=counts["versionId"])
    assert counts_in["s3"]["key"] == f"gw/datasets/{version.dataset_id}/{version.version}.tgz"

    second = drive(second, sim)
    assert phases(second) == {"scratch": "SUCCEEDED", "count": "SUCCEEDED", "report": "SUCCEEDED"}
    assert second.jobs.get(name="count").outputs == first.jobs.get(name="count").outputs
    assert DatasetVersion.objects.filter(dataset__name="word-counts").count() == 1
    assert DatasetVersion.objects.filter(dataset__name="reports", is_committed=True).count() == 1


SECRET_THROUGH_OUTPUT = """
jobs:
  leak:
    uses: script@v1
    env: {TOKEN: "secret:api-token"}
    outputs: {copy: {type: string}}
    with: {image: bash:5, script: "printf '%s' \\"$TOKEN\\" > /outputs/copy"}
  read:
    needs: [leak]
    inputs: {copy: leak.outputs.copy}
    uses: script@v1
    with: {image: bash:5, script: "cat /inputs/copy"}
"""


def test_a_secret_through_a_string_output_is_masked_but_reaches_the_reader(world, sim):
    """Issue 12 item 6 on Argo: the reading job's log and the status document mask it."""
    world.secret("api-token", "S3cr3t-Value-123")
    sim.behaviors = {
        "leak": Behavior(parameters={"copy": "x-S3cr3t-Value-123-y"}),
        "read": Behavior(lines=("consumer got x-S3cr3t-Value-123-y",)),
    }

    run = drive(world.start(SECRET_THROUGH_OUTPUT), sim)

    assert run.phase == "SUCCEEDED", phases(run)
    assert "consumer got x-***-y" in log_of(run, "read")
    document = run_status_document(run)
    assert document["status"]["jobs"]["leak"]["outputs"]["copy"] == {"value": "x-***-y"}
    assert "S3cr3t-Value-123" not in json.dumps(document)
    read_node = _node(sim, run, "read")
    assert {"name": "copy", "value": "x-S3cr3t-Value-123-y"} in read_node["inputs"]["parameters"]


def test_an_input_and_an_output_of_one_name_pass_their_values_along(world, sim):
    spec = """
jobs:
  first:
    uses: script@v1
    with: {image: bash:5, script: echo one > /outputs/note}
    outputs:
      note: {type: string}
  second:
    needs: [first]
    inputs:
      note: first.outputs.note
    outputs:
      note: {type: string}
    uses: script@v1
    with: {image: bash:5, script: cat /inputs/note > /outputs/note}
"""
    sim.behaviors = {"second": Behavior(parameters={"note": "one, read and written again"})}

    run = drive(world.start(spec), sim)

    assert phases(run) == {"first": "SUCCEEDED", "second": "SUCCEEDED"}
    status = run_status_document(run)["status"]["jobs"]
    assert status["second"]["outputs"]["note"] == {"value": "one, read and written again"}
