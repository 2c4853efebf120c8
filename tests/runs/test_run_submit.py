"""run_submit, the one way a run comes to exist: all checked up front, nothing half-written."""

import pytest
from django.utils import timezone

from runs.models import JobPhase, JobRun, Run, RunPhase
from runs.selectors import log_lines, run_status_document
from runs.services import SubmissionError, jobs_to_reuse, run_rerun, run_submit
from tests.factories import ClusterFactory, WorkflowFactory
from tests.specs import LISTING
from workflows.models import Dataset, DatasetVersion, Secret, StoredSpec
from workflows.services import secret_set
from workflows.spec import parse_spec

TOKEN_LINE = LISTING.splitlines().index("      TOKEN: secret:api-token") + 1
LISTINGS_LINE = LISTING.splitlines().index("          ref: listings") + 1


def _dataset(project, name: str, *versions: str) -> Dataset:
    dataset = Dataset.objects.create(project=project, name=name)
    for version in versions:
        DatasetVersion.objects.create(
            dataset=dataset, version=version, is_committed=True, committed=timezone.now()
        )
    return dataset


@pytest.fixture
def ready(project, cluster, workflow):
    """Everything LISTING needs: its datasets (raw with two versions) and its secret."""
    _dataset(project, "raw", "v1", "v2")
    _dataset(project, "listings")
    secret_set(team=project.team, scope=Secret.Scope.TEAM, name="api-token", value="t0ken")
    return workflow


def _counts() -> tuple[int, int, int]:
    return Run.objects.count(), JobRun.objects.count(), StoredSpec.objects.count()


@pytest.fixture
def enqueued(monkeypatch):
    """The runs whose start message left, once their transaction committed."""
    started = []
    monkeypatch.setattr("runs.queue._send", lambda task, ids: started.extend(ids))
    return started


@pytest.mark.django_db
class TestValidSubmission:
    def test_creates_the_run_and_its_jobs_pending_in_run_order(self, ready, owner, enqueued):
        run = run_submit(workflow=ready, spec_text=LISTING, user=owner)

        run.refresh_from_db()
        assert run.phase == RunPhase.PENDING
        assert run.spec.text == LISTING
        assert run.created_by == owner
        assert run.cluster.handle == "local"
        jobs = list(run.jobs.order_by("position"))
        assert [(job.name, job.position, job.phase) for job in jobs] == [
            ("prepare", 0, JobPhase.PENDING),
            ("report", 1, JobPhase.PENDING),
        ]

    def test_runs_are_numbered_per_workflow(self, ready, project, enqueued):
        other = WorkflowFactory(project=project)

        numbers = [run_submit(workflow=ready, spec_text=LISTING).number for _ in range(3)]
        other_number = run_submit(workflow=other, spec_text=LISTING).number

        assert numbers == [1, 2, 3]
        assert other_number == 1

    def test_a_dataset_input_without_version_is_pinned_to_the_latest_committed_one(
        self, ready, project, enqueued
    ):
        DatasetVersion.objects.create(dataset=Dataset.objects.get(name="raw"), version="v3")

        run = run_submit(workflow=ready, spec_text=LISTING)

        pinned = run.resolved_inputs["workflow"]["raw"]["dataset"]
        assert pinned["id"] == "raw:v2"
        status_inputs = run_status_document(run)["status"]["inputs"]
        assert status_inputs["raw"] == {"dataset": {"id": "raw:v2"}, "with": {"ref": "raw"}}
        assert status_inputs["greeting"] == {"value": "hello", "with": {"value": "hello"}}

    def test_run_time_inputs_override_the_defaults(self, ready, enqueued):
        run = run_submit(
            workflow=ready,
            spec_text=LISTING,
            inputs={"inputs": {"raw": {"id": "raw:v1"}, "greeting": {"value": "hi"}}},
        )

        assert run.resolved_inputs["workflow"]["raw"]["dataset"]["id"] == "raw:v1"
        assert run.resolved_inputs["workflow"]["greeting"]["with"] == {"value": "hi"}
        assert run.inputs == {"raw": {"id": "raw:v1"}, "greeting": {"value": "hi"}}

    def test_the_first_run_makes_its_spec_the_workflows_default(self, ready, enqueued):
        run_submit(workflow=ready, spec_text=LISTING)

        ready.refresh_from_db()
        assert ready.default_spec.text == LISTING


@pytest.mark.django_db
class TestSecrets:
    def test_a_missing_secret_is_an_error_at_the_line_of_its_use(
        self, project, cluster, workflow, enqueued
    ):
        _dataset(project, "raw", "v1")
        _dataset(project, "listings")
        before = _counts()

        with pytest.raises(SubmissionError) as caught:
            run_submit(workflow=workflow, spec_text=LISTING)

        (error,) = caught.value.errors
        assert error.path == "jobs.prepare.env.TOKEN"
        assert error.line == TOKEN_LINE
        assert '"api-token"' in error.message
        assert _counts() == before
        assert enqueued == []

    @pytest.mark.parametrize(
        ("scopes", "expected"),
        [
            (("team", "cluster", "project"), "project"),
            (("team", "cluster"), "cluster"),
            (("team",), "team"),
            (("cluster", "project"), "project"),
        ],
    )
    def test_precedence_is_project_then_cluster_then_team(self, project, cluster, scopes, expected):
        from workflows.selectors import secret_values, secrets_resolve

        for scope in scopes:
            secret_set(
                team=project.team,
                scope=scope,
                name="api-token",
                value=f"from-{scope}",
                project=project,
                cluster=cluster,
            )

        chosen = secrets_resolve(project=project, cluster=cluster, names=["api-token"])

        assert chosen["api-token"].scope == expected
        assert secret_values(project=project, cluster=cluster, names=["api-token"]) == {
            "api-token": f"from-{expected}"
        }

    def test_a_cluster_secret_of_another_cluster_does_not_count(
        self, project, cluster, workflow, team, enqueued
    ):
        _dataset(project, "raw", "v1")
        _dataset(project, "listings")
        elsewhere = ClusterFactory(team=team)
        secret_set(
            team=team, scope=Secret.Scope.CLUSTER, name="api-token", value="x", cluster=elsewhere
        )

        with pytest.raises(SubmissionError, match="api-token"):
            run_submit(workflow=workflow, spec_text=LISTING)


@pytest.mark.django_db
class TestNothingIsCreatedWhenRefused:
    def test_an_unknown_output_dataset_is_an_error_at_its_ref_line(
        self, project, cluster, workflow, enqueued
    ):
        _dataset(project, "raw", "v1")
        secret_set(team=project.team, scope="team", name="api-token", value="t0ken")
        before = _counts()

        with pytest.raises(SubmissionError) as caught:
            run_submit(workflow=workflow, spec_text=LISTING)

        (error,) = caught.value.errors
        assert error.path == "jobs.prepare.outputs.listing.with.ref"
        assert error.line == LISTINGS_LINE
        assert "listings" in error.message
        assert _counts() == before

    def test_an_invalid_spec_reports_every_error_and_creates_nothing(self, ready, enqueued):
        broken = LISTING.replace("needs: [prepare]", "needs: [prepair]").replace(
            "uses: script@v1", "uses: scirpt@v1"
        )
        before = _counts()

        with pytest.raises(SubmissionError) as caught:
            run_submit(workflow=ready, spec_text=broken)

        assert caught.value.status == 400
        assert caught.value.document == "spec"
        assert len(caught.value.errors) >= 2
        assert all(error.line > 1 for error in caught.value.errors)
        assert _counts() == before
        ready.refresh_from_db()
        assert ready.default_spec is None
        assert enqueued == []

    @pytest.mark.parametrize(
        "inputs",
        [
            {"inputs": {"raw": {"value": 3}}},
            {"inputs": {"nope": {"value": "x"}}},
            "inputs: [1, 2",
            '{"inputs": {"raw": {"id": "raw:v9"}}}',
        ],
    )
    def test_an_invalid_inputs_document_creates_nothing(self, ready, inputs, enqueued):
        before = _counts()

        with pytest.raises(SubmissionError) as caught:
            run_submit(workflow=ready, spec_text=LISTING, inputs=inputs)

        assert caught.value.document == "inputs"
        assert caught.value.errors
        assert _counts() == before

    def test_a_spec_over_the_limit_is_refused_with_413(self, ready, settings):
        settings.SPEC_MAX_BYTES = 1024
        before = _counts()

        with pytest.raises(SubmissionError) as caught:
            run_submit(workflow=ready, spec_text=LISTING + "#" * 1024)

        assert caught.value.status == 413
        assert _counts() == before

    def test_an_unknown_cluster_is_refused(self, ready):
        with pytest.raises(SubmissionError, match="no cluster"):
            run_submit(workflow=ready, spec_text=LISTING, cluster_id="gpu-farm")

        assert Run.objects.count() == 0

    def test_an_unknown_cluster_in_the_specs_defaults_is_an_error_at_its_line(self, ready):
        text = "defaults:\n  clusterId: gpu-farm\n" + LISTING

        with pytest.raises(SubmissionError) as caught:
            run_submit(workflow=ready, spec_text=text)

        (error,) = caught.value.errors
        assert (error.path, error.line, caught.value.document) == ("defaults.clusterId", 2, "spec")
        assert 'no cluster "gpu-farm"' in error.message


@pytest.mark.django_db
class TestRerunAndQueueing:
    def test_a_rerun_is_run_2_with_the_same_spec_and_inputs(self, ready, owner, enqueued):
        first = run_submit(
            workflow=ready, spec_text=LISTING, inputs={"inputs": {"greeting": {"value": "hi"}}}
        )

        second = run_rerun(run=first, user=owner)

        assert second.number == 2
        assert second.spec_id == first.spec_id
        assert second.inputs == first.inputs
        assert second.rerun_of == first
        assert second.reason == Run.Reason.RERUN
        assert list(second.jobs.values_list("name", flat=True)) == ["prepare", "report"]

    def test_the_run_is_queued_only_when_the_transaction_commits(
        self, ready, enqueued, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            run = run_submit(workflow=ready, spec_text=LISTING)
            assert enqueued == []

        assert len(callbacks) == 1
        assert enqueued == [run.id]

    def test_a_refused_submission_queues_nothing(
        self, ready, enqueued, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            with pytest.raises(SubmissionError):
                run_submit(workflow=ready, spec_text="jobs: {}\nsteps: []\n")

        assert callbacks == []
        assert enqueued == []


def _settle(run: Run, **phases: str) -> None:
    """Give the run's jobs these phases (and `prepare` its outputs); end the run FAILED."""
    for name, phase in phases.items():
        outputs = {}
        if name == "prepare" and phase == JobPhase.SUCCEEDED:
            version = DatasetVersion.objects.get(dataset__name="raw", version="v2")
            outputs = {"listing": {"dataset": {"id": "listings:v1", "versionId": version.pk}}}
        JobRun.objects.filter(run=run, name=name).update(phase=phase, outputs=outputs, exit_code=0)
    Run.objects.filter(pk=run.pk).update(phase=RunPhase.FAILED)
    run.refresh_from_db()


@pytest.mark.django_db
class TestRerunFailedJobs:
    def test_succeeded_jobs_keep_their_outputs_and_the_others_run_again(
        self, ready, owner, enqueued, django_capture_on_commit_callbacks
    ):
        first = run_submit(workflow=ready, spec_text=LISTING)
        _settle(first, prepare=JobPhase.SUCCEEDED, report=JobPhase.FAILED)
        # A newer version of the input must not change what the reused job's output came from.
        DatasetVersion.objects.create(
            dataset=Dataset.objects.get(name="raw"), version="v3", is_committed=True
        )

        with django_capture_on_commit_callbacks(execute=True):
            second = run_rerun(run=first, user=owner, spec="failed")

        assert enqueued == [second.id]
        assert second.rerun_of == first and second.reason == Run.Reason.RERUN
        assert second.resolved_inputs == first.resolved_inputs
        prepare = second.jobs.get(name="prepare")
        assert prepare.phase == JobPhase.SUCCEEDED
        assert prepare.outputs == first.jobs.get(name="prepare").outputs
        assert prepare.message.startswith("reused: it succeeded in run #1")
        assert prepare.reused_from_run == 1
        assert run_status_document(second)["status"]["jobs"]["prepare"]["reusedFrom"] == 1
        assert [line["message"] for line in log_lines(prepare)] == [prepare.message]
        assert second.jobs.get(name="report").phase == JobPhase.PENDING

    def test_a_job_reused_twice_names_the_run_where_it_ran(self, ready, enqueued):
        first = run_submit(workflow=ready, spec_text=LISTING)
        _settle(first, prepare=JobPhase.SUCCEEDED, report=JobPhase.FAILED)
        second = run_rerun(run=first, spec="failed")
        _settle(second, report=JobPhase.FAILED)

        third = run_rerun(run=second, spec="failed")

        prepare = third.jobs.get(name="prepare")
        assert prepare.reused_from_run == 1
        assert prepare.message.startswith("reused: it succeeded in run #1")

    def test_a_succeeded_job_whose_volume_a_rerunning_job_reads_runs_again(self):
        spec = parse_spec(VOLUME_SPEC).spec
        phases = {"scratch": "SUCCEEDED", "notes": "SUCCEEDED", "use": "FAILED", "other": "SKIPPED"}

        assert jobs_to_reuse(spec, phases) == {"notes"}

    def test_a_chain_of_volumes_runs_again_from_its_start(self):
        spec = parse_spec(VOLUME_SPEC).spec
        phases = {"scratch": "SUCCEEDED", "notes": "SUCCEEDED", "use": "SUCCEEDED"}

        assert jobs_to_reuse(spec, {**phases, "other": "FAILED"}) == {"notes"}
        assert jobs_to_reuse(spec, {**phases, "other": "SUCCEEDED"}) == set(phases) | {"other"}

    @pytest.mark.parametrize(
        ("phase", "message"),
        [
            (RunPhase.SUCCEEDED, "every job of run 1 succeeded; use a plain re-run instead"),
            (RunPhase.RUNNING, "run 1 is still running; wait for it to end or cancel it"),
        ],
    )
    def test_a_run_that_did_not_fail_is_refused(self, ready, enqueued, phase, message):
        first = run_submit(workflow=ready, spec_text=LISTING)
        Run.objects.filter(pk=first.pk).update(phase=phase)
        first.refresh_from_db()

        with pytest.raises(SubmissionError, match=message) as refused:
            run_rerun(run=first, spec="failed")

        assert refused.value.status == 409
        assert Run.objects.count() == 1


VOLUME_SPEC = """\
jobs:
  scratch:
    uses: script@v1
    with: {image: bash:5, script: "touch /outputs/space/a"}
    outputs: {space: {type: volume}}
  notes:
    uses: script@v1
    with: {image: bash:5, script: "echo n > /outputs/note"}
    outputs: {note: {type: string}}
  use:
    needs: [scratch, notes]
    uses: script@v1
    with: {image: bash:5, script: "cat /inputs/space/a /inputs/note"}
    inputs: {space: scratch.outputs.space, note: notes.outputs.note}
    outputs: {more: {type: volume}}
  other:
    needs: [use]
    uses: script@v1
    with: {image: bash:5, script: "ls /inputs/more"}
    inputs: {more: use.outputs.more}
"""
