"""How fast the Argo engine's hot paths are: compiling, and applying a status update.

    .venv/bin/python bench/argo.py [--runs 15]

Measures, after warm-up runs, the median and p90 of:

- compiling a 1,000-job spec (every input and output type, secrets, instance
  types, timeouts, retries) into its Workflow manifest (target 100 ms);
- reading a 2,000-node Workflow status (``status.compressedNodes``, as Argo
  sends large workflows) into what each of our 2,000 jobs should be: the
  pure part of every watch event (target 200 ms);
- a whole reconcile pass over a 2,000-job run in a throwaway SQLite database
  (or DATABASE_URL) for such an update in which 20 jobs moved (target 200 ms),
  and for one in which nothing did.

It prints a table; it never fails on timing (the machine may be busy).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

LAYER_WIDTH = 10


def generate_spec(jobs: int) -> str:
    """A valid spec of ``jobs`` jobs in layers, each reading the layer before it."""
    lines = [
        "defaults:",
        "  env:",
        "    API_TOKEN: secret:api-token",
        '    PRICE: "$5 and $(HOME)"',
        "  resources:",
        "    instance-type: C4",
        "inputs:",
        "  corpus: {type: dataset, with: {ref: corpus}}",
        '  top: {type: string, with: {value: "5"}}',
        "jobs:",
    ]
    for index in range(jobs):
        layer, slot = divmod(index, LAYER_WIDTH)
        lines.append(f"  job-{index}:")
        inputs = ["      corpus: workflow.inputs.corpus", "      top: workflow.inputs.top"]
        if layer:
            previous = (layer - 1) * LAYER_WIDTH
            needed = sorted({previous + slot, previous + (slot + 1) % LAYER_WIDTH})
            lines.append(f"    needs: [{', '.join(f'job-{n}' for n in needed)}]")
            inputs += [
                f"      previous-counts: job-{needed[0]}.outputs.counts",
                f"      previous-note: job-{needed[-1]}.outputs.note",
                f"      previous-work: job-{needed[0]}.outputs.work",
            ]
        lines += ["    inputs:", *inputs]
        lines += [
            "    outputs:",
            f"      counts: {{type: dataset, with: {{ref: counts-{slot}}}}}",
            "      note: {type: string}",
            "      work: {type: volume}",
        ]
        if index % 3 == 0:
            lines += ["    resources: {instance-type: P4000}", "    timeout: 30m", "    retries: 2"]
        if index % 2:
            lines += [
                "    uses: script@v1",
                "    with:",
                "      image: bash:5",
                "      script: |-",
                "        ls /inputs > /outputs/note",
            ]
        else:
            lines += [
                "    env: {LC_ALL: C, KEY: secret:model-key}",
                "    uses: container@v1",
                "    with:",
                "      image: python:3.11",
                '      args: ["python", "-c", "print(1)"]',
            ]
    return "\n".join(lines) + "\n"


CLUSTER_SETTINGS = {
    "artifactRepository": {
        "s3": {
            "bucket": "gradient",
            "endpoint": "minio:9000",
            "insecure": True,
            "keyPrefix": "gw",
            "accessKeySecret": {"name": "minio", "key": "accesskey"},
            "secretKeySecret": {"name": "minio", "key": "secretkey"},
        }
    },
    "volumeSize": "10Gi",
    "podGC": {"strategy": "OnPodSuccess"},
}
INSTANCE_TYPES = {
    "C4": {"cpu": "4", "memory": "8Gi", "nodeSelector": {"pool": "cpu"}},
    "P4000": {"cpu": "8", "memory": "30Gi", "gpu": 1, "nodeSelector": {"pool": "gpu"}},
}


def timed(function, runs: int, warm_up: int = 2) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU milliseconds of ``runs`` calls after ``warm_up`` calls.

    The previous result is freed, and the collector run, before each timed
    call, so a call is not charged for the garbage of the one before.
    """
    for _ in range(warm_up):
        function()
    wall, cpu = [], []
    result = None
    for _ in range(runs):
        result = None
        gc.collect()
        start, start_cpu = time.perf_counter(), time.process_time()
        result = function()
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    del result
    return wall, cpu


def status_of(name: str, tasks: list[str], phases: dict[str, str]) -> dict:
    """A Workflow status like Argo's, with one Pod node per task, compressed."""
    from runs.engine.argo.status import compress_nodes

    nodes = {
        name: {"id": name, "name": name, "type": "DAG", "phase": "Running", "children": []},
    }
    for index, task in enumerate(tasks):
        node_id = f"{name}-{1000000000 + index}"
        nodes[name]["children"].append(node_id)
        phase = phases.get(task, "Succeeded")
        node = {
            "id": node_id,
            "name": f"{name}.{task}",
            "displayName": task,
            "type": "Pod",
            "templateName": task,
            "phase": phase,
            "startedAt": "2026-11-27T10:00:00Z",
        }
        if phase == "Succeeded":
            node["finishedAt"] = "2026-11-27T10:00:05Z"
            node["outputs"] = {
                "exitCode": "0",
                "parameters": [{"name": "note", "value": f"note of {task}"}],
            }
        nodes[node_id] = node
    return {"phase": "Running", "compressedNodes": compress_nodes(nodes)}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="bench-argo-"))
    os.environ["GRADIENT_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("SECRET_KEY", "bench-argo")
    os.environ["REDIS_URL"] = ""
    os.environ["DJANGO_SETTINGS_MODULE"] = "gradient.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    from runs.engine.argo.compiler import ClusterConfig, RunBinding, compile_workflow
    from runs.engine.argo.status import task_views
    from workflows.spec import parse_spec

    rows = []
    result = parse_spec(generate_spec(1000))
    if not result.valid:
        raise SystemExit(f"the generated spec is invalid: {result.errors[:3]}")
    spec = result.spec
    cluster = ClusterConfig(
        namespace="bench", instance_types=INSTANCE_TYPES, settings=CLUSTER_SETTINGS
    )
    binding = RunBinding(name="gw-1-bench", run_id=1)
    rows.append(
        (
            "compile a 1,000-job spec",
            *timed(lambda: compile_workflow(spec, cluster, binding), args.runs),
            100.0,
        )
    )

    big = parse_spec(generate_spec(2000)).spec
    tasks = list(compile_workflow(big, cluster, binding).task_names.values())
    workflow = {
        "metadata": {"name": "gw-1-bench"},
        "status": status_of("gw-1-bench", tasks, {}),
    }
    every_task = frozenset(tasks)
    rows.append(
        (
            "read a 2,000-node status (compressed)",
            *timed(lambda: task_views(workflow, every_task), args.runs),
            200.0,
        )
    )
    moved, quiet = reconcile_times(big, tasks, args.runs)
    rows.append(("reconcile pass, 2,000 jobs, 20 moved", *moved, 200.0))
    rows.append(("reconcile pass, 2,000 jobs, none moved", *quiet, 200.0))

    load = os.getloadavg()[0]
    print(
        f"\nArgo engine, median of {args.runs} runs after warm-up; load average {load:.2f} on "
        f"{os.cpu_count()} CPUs (other processes inflate wall-clock times)"
    )
    header = (
        f"{'measure':<40} {'median ms':>10} {'p90 ms':>8} {'min ms':>7} {'cpu median':>11} "
        f"{'target':>8}  met"
    )
    print(header)
    print("-" * len(header))
    for name, wall, cpu, target in rows:
        median = statistics.median(wall)
        print(
            f"{name:<40} {median:>10.1f} {percentile(wall, 0.9):>8.1f} {min(wall):>7.1f} "
            f"{statistics.median(cpu):>11.1f} {f'<= {target:.0f}':>8}  "
            f"{'yes' if median <= target else 'NO'}"
        )
    return 0


def reconcile_times(spec, tasks: list[str], runs: int) -> tuple[list, list]:
    """Reconcile passes over a 2,000-job run whose jobs are RUNNING or SUCCEEDED."""
    from django.contrib.auth import get_user_model

    from runs.engine.argo.reconcile import reconcile_run
    from runs.models import JobPhase, JobRun, Run
    from workflows.models import Cluster, Workflow
    from workflows.services import project_create, spec_store, team_create

    class CompleteLogs:
        def complete(self, job_run, attempt, attempt_final):
            return True

    user = get_user_model().objects.create(username="bench")
    team = team_create(name="bench", owner=user)
    project = project_create(team=team, name="bench")
    cluster = Cluster.objects.create(
        team=team, handle="argo", name="argo", kind="argo", namespace="bench"
    )
    stored = spec_store(text=generate_spec(2000), parsed={})
    workflow = Workflow.objects.create(project=project, name="bench")
    run = Run.objects.create(
        workflow=workflow,
        number=1,
        spec=stored,
        cluster=cluster,
        phase="RUNNING",
        engine_state={"name": "gw-1-bench", "uid": "u-1", "datasets": {}, "models": {}},
    )
    JobRun.objects.bulk_create(
        JobRun(run=run, name=job.name, position=index, phase=JobPhase.RUNNING, attempt=1)
        for index, job in enumerate(spec.jobs)
    )
    moving = set(tasks[:20])
    # Every other job has already SUCCEEDED in our rows; the 20 go from Pending to Running
    # in the update (dataset outputs cannot be committed without a repository here).
    done = [job.name for job in spec.jobs if job.name not in moving]
    JobRun.objects.filter(run=run, name__in=done).update(phase=JobPhase.SUCCEEDED)
    before = {task: "Pending" for task in moving}
    after = {task: "Running" for task in moving}
    metadata = {"name": "gw-1-bench", "uid": "u-1"}
    pending = {"metadata": metadata, "status": status_of("gw-1-bench", tasks, before)}
    running = {"metadata": metadata, "status": status_of("gw-1-bench", tasks, after)}
    names = [job.name for job in spec.jobs if job.name in moving]

    def one_pass(reset: bool) -> tuple[float, float]:
        if reset:
            JobRun.objects.filter(run=run, name__in=names).update(phase=JobPhase.PENDING, attempt=0)
        gc.collect()
        start, start_cpu = time.perf_counter(), time.process_time()
        reconcile_run(run.pk, running, CompleteLogs(), None)
        return (time.perf_counter() - start) * 1000, (time.process_time() - start_cpu) * 1000

    reconcile_run(run.pk, pending, CompleteLogs(), None)
    for _ in range(2):
        one_pass(True)
    moved = list(zip(*(one_pass(True) for _ in range(runs)), strict=True))
    assert JobRun.objects.filter(run=run, phase=JobPhase.RUNNING).count() == 20
    quiet = list(zip(*(one_pass(False) for _ in range(runs)), strict=True))
    return moved, quiet


if __name__ == "__main__":
    sys.exit(main())
