"""The spec -> Argo Workflow compiler: Argo's schema, the DAG, and what each part becomes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import yaml

from runs.engine.argo.compiler import (
    DEFAULT_VOLUME_SIZE,
    ENTRYPOINT,
    JOB_ANNOTATION,
    JOB_LABEL,
    RUN_LABEL,
    ClusterConfig,
    CompileError,
    RunBinding,
    compile_workflow,
    dataset_version_key,
    manifest_yaml,
    task_names,
)
from runs.values import ResolvedInputs, VersionSlot
from tests.paths import REPO
from tests.runs.argo.schema import schema_errors
from tests.runs.argo.specgen import INSTANCE_TYPES, generated_spec
from tests.specs import EXAMPLE_SPECS
from workflows.spec import parse_spec

S3 = {
    "bucket": "gradient",
    "endpoint": "minio.argo:9000",
    "insecure": True,
    "region": "us-east-1",
    "keyPrefix": "gw",
    "accessKeySecret": {"name": "minio", "key": "accesskey"},
    "secretKeySecret": {"name": "minio", "key": "secretkey"},
}
CLUSTER = ClusterConfig(
    namespace="team-a",
    instance_types=INSTANCE_TYPES,
    settings={
        "artifactRepository": {"s3": S3},
        "volumeSize": "20Gi",
        "podGC": {"strategy": "OnPodSuccess"},
        "ttlStrategy": {"secondsAfterSuccess": 600, "secondsAfterFailure": 86400},
        "serviceAccountName": "gradient-jobs",
    },
)


def spec_of(text: str):
    result = parse_spec(textwrap.dedent(text))
    assert result.errors == (), [(e.path, e.message) for e in result.errors]
    return result.spec


def templates(manifest: dict) -> dict[str, dict]:
    return {template["name"]: template for template in manifest["spec"]["templates"]}


def template_of(compiled, job: str) -> dict:
    return templates(compiled.manifest)[compiled.task_names[job]]


def container_of(template: dict) -> dict:
    return template.get("container") or template["script"]


def assert_valid_and_dag_matches(spec, compiled) -> None:
    manifest = compiled.manifest
    assert schema_errors(manifest) == []
    assert manifest["apiVersion"] == "argoproj.io/v1alpha1"
    assert manifest["kind"] == "Workflow"
    by_task = {task: job for job, task in compiled.task_names.items()}
    assert len(by_task) == len(spec.jobs), "two jobs share a task name"
    dag = templates(manifest)[manifest["spec"]["entrypoint"]]["dag"]
    assert dag["failFast"] is False
    found = {
        by_task[task["name"]]: {by_task[dependency] for dependency in task.get("dependencies", [])}
        for task in dag["tasks"]
    }
    assert found == {job.name: set(job.needs) for job in spec.jobs}
    names = templates(manifest)
    for task in dag["tasks"]:
        assert task["template"] == task["name"] and task["name"] in names


@pytest.mark.parametrize("name", EXAMPLE_SPECS)
@pytest.mark.parametrize("cluster", [None, CLUSTER], ids=["preview", "cluster"])
def test_the_examples_compile_to_valid_workflows(name, cluster):
    spec = spec_of(EXAMPLE_SPECS[name])
    compiled = compile_workflow(spec, cluster)
    assert_valid_and_dag_matches(spec, compiled)


def test_the_examples_are_there():
    assert len(EXAMPLE_SPECS) >= 2


@pytest.mark.parametrize("seed", range(40))
def test_generated_specs_compile_to_valid_workflows(seed):
    spec = spec_of(generated_spec(seed, jobs=12 + seed % 7))
    binding = RunBinding(
        name=f"gw-{seed}-generated",
        run_id=seed,
        workflow_label="generated #1",
        resolved_inputs=ResolvedInputs.from_json(
            {
                "workflow": {
                    "corpus": {
                        "type": "dataset",
                        "with": {"ref": "corpus"},
                        "dataset": {"id": "corpus:v3", "datasetId": "abc", "versionId": 3},
                    },
                    "top": {"type": "string", "with": {"value": "7"}},
                    "given": {"type": "string", "with": {"value": "given at run time"}},
                    "scratch": {"type": "volume", "with": {}},
                }
            }
        ),
        model_ids={job.name: "m" * 15 for job in spec.jobs if job.action == "create-model"},
    )
    for cluster in (None, CLUSTER):
        compiled = compile_workflow(spec, cluster, binding)
        assert_valid_and_dag_matches(spec, compiled)
        text = json.dumps(compiled.manifest)
        assert "secret:" not in text


def test_the_generated_specs_cover_every_action_and_type():
    seen_actions, seen_types = set(), set()
    for seed in range(40):
        spec = spec_of(generated_spec(seed))
        for job in spec.jobs:
            seen_actions.add(job.action)
            seen_types |= {(i.type, i.source.kind) for i in job.inputs.values()}
            seen_types |= {(o.type, "output") for o in job.outputs.values()}
    assert seen_actions == {"container", "script", "git-checkout", "s3-download", "create-model"}
    for kind in ("dataset", "string", "volume"):
        assert {(kind, "workflow"), (kind, "job"), (kind, "output")} <= seen_types
    assert {("string", "inline"), ("dataset", "inline")} <= seen_types


# examples/pipeline.yaml with what the compiler must escape or map: "$" and "{{ }}" in
# values, a string output and an inline input, a command, a job's own instance type,
# timeout and retries.
TRICKY_PIPELINE = """
defaults:
  env:
    GREETING: secret:greeting
    PLAIN: "cost: $5, $(HOME) and $$"
  resources:
    instance-type: C4
inputs:
  corpus: {type: dataset, with: {ref: corpus}}
  top: {type: string, with: {value: "5"}}
jobs:
  scratch:
    uses: script@v1
    with:
      image: bash:5
      script: |-
        mkdir -p /outputs/work/stop
        echo {{ not-argo }}
    outputs:
      work: {type: volume}
      note: {type: string}
  count:
    needs: [scratch]
    inputs:
      corpus: workflow.inputs.corpus
      work: scratch.outputs.work
      note: scratch.outputs.note
      top: workflow.inputs.top
      inline: {type: string, with: {value: "an inline value"}}
    outputs:
      counts: {type: dataset, with: {ref: word-counts}}
      total: {type: string}
    uses: container@v1
    with:
      image: bash:5
      command: bash
      args: ["-c", "echo $GREETING $(cat /inputs/note) > /outputs/total"]
    resources:
      instance-type: P4000
    timeout: 30m
    retries: 2
  report:
    needs: [count]
    inputs:
      counts: count.outputs.counts
      work: scratch.outputs.work
    uses: container@v1
    with: {image: bash:5}
"""


@pytest.fixture
def pipeline():
    spec = spec_of(TRICKY_PIPELINE)
    binding = RunBinding(
        name="gw-7-pipeline",
        run_id=7,
        workflow_label="pipeline #3",
        resolved_inputs=ResolvedInputs.from_json(
            {
                "workflow": {
                    "corpus": {
                        "type": "dataset",
                        "with": {"ref": "corpus"},
                        "dataset": {"id": "corpus:v2", "datasetId": "ds1", "versionId": 12},
                    },
                    "top": {"type": "string", "with": {"value": "3"}},
                },
                "jobs": {},
            }
        ),
        output_versions={
            "count": {"counts": VersionSlot(dataset_id="ds2", version="v9", version_id=19)}
        },
    )
    return spec, compile_workflow(spec, CLUSTER, binding)


def test_metadata_carries_the_run_and_the_jobs(pipeline):
    _, compiled = pipeline
    manifest = compiled.manifest
    assert manifest["metadata"]["name"] == "gw-7-pipeline"
    assert manifest["metadata"]["namespace"] == "team-a"
    assert manifest["metadata"]["labels"][RUN_LABEL] == "7"
    assert manifest["spec"]["podMetadata"]["labels"][RUN_LABEL] == "7"
    count = template_of(compiled, "count")
    assert count["metadata"]["labels"][JOB_LABEL] == "count"
    assert count["metadata"]["annotations"][JOB_ANNOTATION] == "count"
    assert manifest["spec"]["entrypoint"] == ENTRYPOINT
    assert manifest["spec"]["serviceAccountName"] == "gradient-jobs"


def test_pod_gc_and_ttl_come_from_the_cluster(pipeline):
    _, compiled = pipeline
    assert compiled.manifest["spec"]["podGC"] == {"strategy": "OnPodSuccess"}
    assert compiled.manifest["spec"]["ttlStrategy"] == {
        "secondsAfterSuccess": 600,
        "secondsAfterFailure": 86400,
    }


def test_container_and_script_templates(pipeline):
    _, compiled = pipeline
    scratch = template_of(compiled, "scratch")
    assert scratch["script"]["image"] == "bash:5"
    assert scratch["script"]["command"] == ["bash"]
    assert scratch["script"]["source"].startswith("mkdir -p /outputs/work/stop")
    count = template_of(compiled, "count")["container"]
    assert count["name"] == "main"
    assert count["command"] == ["bash"]
    assert count["args"] == ["-c", "echo $GREETING $$(cat /inputs/note) > /outputs/total"]
    report = template_of(compiled, "report")["container"]
    assert "command" not in report and "args" not in report


def test_env_literals_are_values_and_secrets_are_references(pipeline):
    _, compiled = pipeline
    env = {item["name"]: item for item in container_of(template_of(compiled, "count"))["env"]}
    assert env["PLAIN"] == {"name": "PLAIN", "value": "cost: $5, $$(HOME) and $$$"}
    assert env["GREETING"] == {
        "name": "GREETING",
        "valueFrom": {"secretKeyRef": {"name": "gw-7-pipeline-secrets", "key": "greeting"}},
    }
    assert compiled.secret_name == "gw-7-pipeline-secrets"
    assert compiled.secret_keys == {"greeting": ("secret", "greeting")}


def test_string_outputs_are_parameters_and_arrive_as_files(pipeline):
    _, compiled = pipeline
    scratch = template_of(compiled, "scratch")
    assert {"name": "note", "valueFrom": {"path": "/outputs/note"}} in scratch["outputs"][
        "parameters"
    ]
    count = template_of(compiled, "count")
    parameters = {p["name"] for p in count["inputs"]["parameters"]}
    assert parameters == {"note", "top", "inline"}
    artifacts = {a["name"]: a for a in count["inputs"]["artifacts"]}
    for name in ("note", "top", "inline"):
        assert artifacts[name]["path"] == f"/inputs/{name}"
        assert artifacts[name]["raw"] == {"data": f"{{{{inputs.parameters.{name}}}}}"}
    dag = templates(compiled.manifest)[ENTRYPOINT]["dag"]["tasks"]
    arguments = {
        p["name"]: p["value"]
        for p in next(t for t in dag if t["name"] == "count")["arguments"]["parameters"]
    }
    assert arguments == {
        "note": "{{tasks.scratch.outputs.parameters.note}}",
        "top": "{{workflow.parameters.top}}",
        "inline": "an inline value",
    }
    assert compiled.manifest["spec"]["arguments"]["parameters"] == [{"name": "top", "value": "3"}]


def test_outputs_folder_exists_in_every_pod(pipeline):
    _, compiled = pipeline
    for job in ("scratch", "count", "report"):
        template = template_of(compiled, job)
        mounts = container_of(template)["volumeMounts"]
        assert {"name": "outputs", "mountPath": "/outputs"} in mounts
        assert {"name": "outputs", "emptyDir": {}} in template["volumes"]


def test_volumes_are_claims_written_by_their_job_and_read_only_elsewhere(pipeline):
    _, compiled = pipeline
    (claim,) = compiled.manifest["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert compiled.manifest["spec"]["volumeClaimGC"] == {"strategy": "OnWorkflowCompletion"}
    name = claim["metadata"]["name"]
    scratch = container_of(template_of(compiled, "scratch"))["volumeMounts"]
    assert {"name": name, "mountPath": "/outputs/work"} in scratch
    for job in ("count", "report"):
        mounts = container_of(template_of(compiled, job))["volumeMounts"]
        assert {"name": name, "mountPath": "/inputs/work", "readOnly": True} in mounts


def test_volume_size_defaults_to_5gi():
    spec = spec_of(TRICKY_PIPELINE)
    compiled = compile_workflow(spec, ClusterConfig(namespace="x", instance_types=INSTANCE_TYPES))
    (claim,) = compiled.manifest["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == DEFAULT_VOLUME_SIZE == "5Gi"


def test_datasets_are_artifacts_at_the_key_of_their_version(pipeline):
    _, compiled = pipeline
    count = template_of(compiled, "count")
    corpus = next(a for a in count["inputs"]["artifacts"] if a["name"] == "corpus")
    assert corpus["path"] == "/inputs/corpus"
    assert corpus["s3"] == {
        "bucket": "gradient",
        "endpoint": "minio.argo:9000",
        "region": "us-east-1",
        "insecure": True,
        "accessKeySecret": {"name": "minio", "key": "accesskey"},
        "secretKeySecret": {"name": "minio", "key": "secretkey"},
        "key": "gw/datasets/ds1/v2.tgz",
    }
    (counts,) = count["outputs"]["artifacts"]
    assert counts["path"] == "/outputs/counts"
    assert counts["s3"]["key"] == dataset_version_key("gw/", "ds2", "v9")
    mounts = container_of(count)["volumeMounts"]
    assert any(m["mountPath"] == "/outputs/counts" for m in mounts)
    report = template_of(compiled, "report")
    (read,) = report["inputs"]["artifacts"]
    assert read["s3"]["key"] == "gw/datasets/ds2/v9.tgz"


def test_without_a_repository_datasets_use_the_namespace_default():
    spec = spec_of(TRICKY_PIPELINE)
    compiled = compile_workflow(spec)
    count = template_of(compiled, "count")
    corpus = next(a for a in count["inputs"]["artifacts"] if a["name"] == "corpus")
    assert corpus["s3"] == {"key": "datasets/corpus/latest.tgz"}
    assert schema_errors(compiled.manifest) == []


def test_instance_types_map_to_selectors_tolerations_and_resources(pipeline):
    _, compiled = pipeline
    count = template_of(compiled, "count")
    assert count["nodeSelector"] == {"pool": "gpu", "gpu": "p4000"}
    assert count["tolerations"] == INSTANCE_TYPES["P4000"]["tolerations"]
    assert count["container"]["resources"] == {
        "requests": {"cpu": "8", "memory": "30Gi", "nvidia.com/gpu": "1"},
        "limits": {"memory": "30Gi", "nvidia.com/gpu": "1"},
    }
    scratch = template_of(compiled, "scratch")
    assert scratch["nodeSelector"] == {"pool": "cpu"}
    assert scratch["script"]["resources"]["requests"] == {"cpu": "4", "memory": "8Gi"}


def test_explicit_requests_and_limits_are_kept():
    spec = spec_of(
        """
        jobs:
          train:
            uses: container@v1
            with: {image: x}
            resources: {instance-type: A100}
        """
    )
    compiled = compile_workflow(spec, CLUSTER)
    container = template_of(compiled, "train")["container"]
    assert container["resources"] == {
        "requests": {"cpu": "16"},
        "limits": {"nvidia.com/gpu": "2"},
    }


def test_an_unknown_instance_type_is_a_clear_error_at_its_path():
    spec = spec_of(
        """
        defaults:
          resources: {instance-type: Z9}
        jobs:
          a:
            uses: container@v1
            with: {image: x}
          b:
            uses: container@v1
            with: {image: x}
          c:
            uses: container@v1
            with: {image: x}
            resources: {instance-type: V100}
        """
    )
    with pytest.raises(CompileError) as caught:
        compile_workflow(spec, CLUSTER)
    problems = caught.value.problems
    assert [path for path, _ in problems] == [
        ("defaults", "resources", "instance-type"),
        ("jobs", "c", "resources", "instance-type"),
    ]
    assert 'no instance type "Z9" (known: A100, C4, P4000)' in problems[0][1]


def test_without_a_cluster_instance_types_are_noted_not_mapped():
    spec = spec_of(TRICKY_PIPELINE)
    compiled = compile_workflow(spec)
    count = template_of(compiled, "count")
    assert "nodeSelector" not in count
    assert count["metadata"]["annotations"]["gradient-workflows.io/instance-type"] == "P4000"
    assert compiled.manifest["metadata"]["generateName"] == "gradient-"


def test_timeout_and_retries(pipeline):
    _, compiled = pipeline
    count = template_of(compiled, "count")
    assert count["activeDeadlineSeconds"] == "1800"
    assert count["retryStrategy"] == {"limit": "2", "retryPolicy": "Always"}
    scratch = template_of(compiled, "scratch")
    assert "activeDeadlineSeconds" not in scratch and "retryStrategy" not in scratch


def test_git_checkout_is_a_git_artifact_into_the_output():
    spec = spec_of(
        """
        jobs:
          fetch:
            uses: git-checkout@v1
            with:
              url: https://example.com/repo.git
              ref: v1.2
              username: robot
              password: secret:git-token
            outputs:
              repo: {type: volume}
          fetch-data:
            uses: git-checkout@v1
            with:
              url: https://example.com/data.git
              path: data/sub
            outputs:
              data: {type: dataset, with: {ref: snapshots}}
              other: {type: volume}
        """
    )
    compiled = compile_workflow(spec, CLUSTER, RunBinding(name="gw-1-x", run_id=1))
    assert_valid_and_dag_matches(spec, compiled)
    fetch = template_of(compiled, "fetch")
    (artifact,) = fetch["inputs"]["artifacts"]
    assert artifact["path"] == "/outputs/repo"
    assert artifact["git"] == {
        "repo": "https://example.com/repo.git",
        "revision": "v1.2",
        "usernameSecret": {"name": "gw-1-x-secrets", "key": ".git-username.fetch"},
        "passwordSecret": {"name": "gw-1-x-secrets", "key": "git-token"},
    }
    assert compiled.secret_keys == {
        ".git-username.fetch": ("literal", "robot"),
        "git-token": ("secret", "git-token"),
    }
    (other,) = template_of(compiled, "fetch-data")["inputs"]["artifacts"]
    assert other["path"] == "/outputs/data/sub"


def test_s3_download_is_an_s3_artifact_into_the_output():
    spec = spec_of(
        """
        jobs:
          get:
            uses: s3-download@v1
            with:
              url: s3://bucket/some/prefix/
              access-key: AKIAEXAMPLE
              secret-access-key: secret:s3-secret
              endpoint: http://minio.local:9000
              region: eu-west-1
            outputs:
              files: {type: dataset, with: {ref: downloads}}
        """
    )
    compiled = compile_workflow(spec, CLUSTER, RunBinding(name="gw-2-x", run_id=2))
    (artifact,) = template_of(compiled, "get")["inputs"]["artifacts"]
    assert artifact["path"] == "/outputs/files"
    assert artifact["s3"] == {
        "bucket": "bucket",
        "key": "some/prefix/",
        "endpoint": "minio.local:9000",
        "insecure": True,
        "region": "eu-west-1",
        "accessKeySecret": {"name": "gw-2-x-secrets", "key": ".s3-access-key.get"},
        "secretKeySecret": {"name": "gw-2-x-secrets", "key": "s3-secret"},
    }
    assert "AKIAEXAMPLE" not in json.dumps(compiled.manifest)


def test_create_model_writes_the_id_the_engine_assigned():
    spec = spec_of(
        """
        inputs:
          weights: {type: dataset, with: {ref: weights}}
        jobs:
          register:
            uses: create-model@v1
            inputs: {model: workflow.inputs.weights}
            outputs: {model-id: {type: string}}
            with: {name: resnet, type: ONNX}
        """
    )
    compiled = compile_workflow(
        spec, CLUSTER, RunBinding(name="gw-3-x", run_id=3, model_ids={"register": "abc123"})
    )
    register = template_of(compiled, "register")
    assert register["container"]["args"] == ["abc123", "/outputs/model-id"]
    assert register["outputs"]["parameters"] == [
        {"name": "model-id", "valueFrom": {"path": "/outputs/model-id"}}
    ]
    assert "inputs" not in register


def test_task_names_are_unique_dns_labels():
    names = task_names(["train", "Train", "TRAIN", "main", "a_b", "a-b", "x" * 100])
    assert names["train"] == "train" and names["a-b"] == "a-b"
    assert len(set(names.values())) == 7
    assert ENTRYPOINT not in names.values()
    for name in names.values():
        assert name == name.lower() and len(name) <= 63 and name[0].isalnum()
    assert task_names(["main", "Train"]) == task_names(["Train", "main"])


def test_yaml_output_is_the_same_manifest(pipeline):
    _, compiled = pipeline
    text = manifest_yaml(compiled.manifest)
    assert yaml.safe_load(text) == compiled.manifest
    assert "source: |-" in text
    assert "&id" not in text


def test_the_compiler_imports_nothing_from_django():
    code = (
        "import sys; import runs.engine.argo.compiler, runs.engine.argo.status; "
        "sys.exit(any(m.split('.')[0] in ('django', 'rest_framework') for m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True)
    assert result.returncode == 0, result.stderr.decode()


def test_an_input_and_an_output_of_one_name_stay_apart():
    spec = spec_of(
        """
        inputs:
          my-string: {type: string, with: {value: hello}}
          my-data: {type: dataset, with: {ref: raw}}
        jobs:
          shout:
            inputs:
              my-string: workflow.inputs.my-string
              my-data: workflow.inputs.my-data
            outputs:
              my-string: {type: string}
              my-data: {type: dataset, with: {ref: shouted}}
            uses: script@v1
            with:
              image: bash:5
              script: tr a-z A-Z < /inputs/my-string > /outputs/my-string
        """
    )
    compiled = compile_workflow(spec, CLUSTER)
    assert_valid_and_dag_matches(spec, compiled)
    template = template_of(compiled, "shout")
    assert template["inputs"]["parameters"] == [{"name": "my-string"}]
    assert {a["name"]: a["path"] for a in template["inputs"]["artifacts"]} == {
        "my-string": "/inputs/my-string",
        "my-data": "/inputs/my-data",
    }
    assert template["outputs"]["parameters"] == [
        {"name": "my-string", "valueFrom": {"path": "/outputs/my-string"}}
    ]
    (written,) = template["outputs"]["artifacts"]
    assert written["name"] == "my-data" and written["path"] == "/outputs/my-data"
    (read,) = [a for a in template["inputs"]["artifacts"] if a["name"] == "my-data"]
    assert read["s3"]["key"] != written["s3"]["key"]
