"""A small stand-in for Argo's workflow controller, driving workflows in the Kubernetes stand-in.

It reads the DAG of each Workflow and moves its nodes the way Argo does:
a task's node appears once its dependencies have Succeeded (Pending, then
Running with a pod printing its log, then Succeeded or Failed/Error with an
exit code); a task whose dependency failed is Omitted; a task with a
``retryStrategy`` is a Retry node with one Pod child per attempt
(``name(0)``, ``name(1)``, …); output parameters are set from the job's
behaviour; dataset outputs are uploaded to the artifact's S3 key as Argo
archives folders (a tar.gz holding the folder under its own name);
``spec.shutdown: Terminate`` fails what runs and ends the Workflow. Large
workflows (or any, when asked) get ``status.compressedNodes`` instead of
``status.nodes``.

Node ids and pod names are Argo's, computed here independently of the
engine: id ``<workflow>-<fnv32a(node name)>``, pod (format v2)
``<workflow>-<template>-<fnv32a(node name)>``.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import re
import tarfile
import threading
from dataclasses import dataclass, field

from tests.runs.argo.kube_standin import KubeStandIn, now_rfc3339

NODE_FINAL = {"Succeeded", "Failed", "Error", "Skipped", "Omitted"}
PARAMETER = re.compile(r"\{\{tasks\.([^.]+)\.outputs\.parameters\.([^}]+)\}\}")
WORKFLOW_PARAMETER = re.compile(r"\{\{workflow\.parameters\.([^}]+)\}\}")


def fnv32a(text: str) -> int:
    value = 0x811C9DC5
    for byte in text.encode():
        value ^= byte
        value = (value * 0x01000193) & 0xFFFFFFFF
    return value


@dataclass
class Behavior:
    """What one job's pods do."""

    outcome: str = "Succeeded"
    fail_attempts: int = 0
    exit_code: int = 3
    lines: tuple[str, ...] = ("working",)
    parameters: dict[str, str] = field(default_factory=dict)
    files: dict[str, dict[str, bytes]] = field(default_factory=dict)
    message: str = ""
    hold: bool = False
    missing_parameter: str | None = None


class ArgoSimulator:
    """Advances every Workflow of a namespace one step per ``step()``."""

    def __init__(
        self,
        kube: KubeStandIn,
        namespace: str,
        s3=None,
        behaviors: dict[str, Behavior] | None = None,
        compress_over: int | None = None,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.s3 = s3
        self.behaviors = behaviors or {}
        self.compress_over = compress_over
        self.released: set[str] = set()
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.pods: dict[str, str] = {}

    def behavior(self, template: dict) -> Behavior:
        job = (
            (template.get("metadata") or {})
            .get("annotations", {})
            .get("gradient-workflows.io/job-name", template["name"])
        )
        return self.behaviors.get(job, Behavior())

    def release(self, job: str) -> None:
        self.released.add(job)

    # -- running -------------------------------------------------------------------

    def step(self) -> bool:
        """One step for every unfinished Workflow; whether anything changed."""
        changed = False
        for name in self.kube.workflow_names(self.namespace):
            workflow = self.kube.workflow(self.namespace, name)
            if workflow is None:
                continue
            if (workflow.get("status") or {}).get("phase") in ("Succeeded", "Failed", "Error"):
                continue
            status = self._advance(workflow)
            if status is not None:
                self.kube.update_workflow(
                    self.namespace,
                    name,
                    lambda obj, status=status: obj.__setitem__("status", status),
                )
                changed = True
        return changed

    def run_to_end(self, on_step=None, max_steps: int = 200) -> None:
        for _ in range(max_steps):
            changed = self.step()
            if on_step is not None:
                on_step()
            if not changed:
                return
        raise AssertionError("the simulated controller did not finish")

    def start(self, interval: float = 0.05) -> None:
        def loop() -> None:
            while not self.stop_event.wait(interval):
                self.step()

        self.thread = threading.Thread(target=loop, name="argo-sim", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(5)

    # -- one workflow ----------------------------------------------------------------

    def _advance(self, workflow: dict) -> dict | None:
        name = workflow["metadata"]["name"]
        spec = workflow["spec"]
        status = workflow.get("status") or {}
        nodes = self._nodes(status)
        before = json.dumps(nodes, sort_keys=True) + status.get("phase", "")
        if not nodes:
            nodes[name] = {
                "id": name,
                "name": name,
                "displayName": name,
                "type": "DAG",
                "templateName": spec["entrypoint"],
                "phase": "Running",
                "startedAt": now_rfc3339(),
                "children": [],
            }
            status = {"phase": "Running", "startedAt": now_rfc3339()}
        templates = {template["name"]: template for template in spec["templates"]}
        tasks = templates[spec["entrypoint"]]["dag"]["tasks"]
        by_task = {}
        for task in tasks:
            node_name = f"{name}.{task['name']}"
            by_task[task["name"]] = nodes.get(self._id(name, node_name))
        shutdown = spec.get("shutdown") == "Terminate"
        for task in tasks:
            node_name = f"{name}.{task['name']}"
            node = by_task[task["name"]]
            template = templates[task["template"]]
            if node is None:
                if shutdown:
                    continue
                dependencies = [by_task.get(d) for d in task.get("dependencies", [])]
                if any(
                    d is not None and d["phase"] in ("Failed", "Error", "Omitted")
                    for d in dependencies
                ):
                    node = self._node(name, node_name, task, "Skipped", "Omitted")
                    node["message"] = "omitted: depends condition not met"
                    node["finishedAt"] = now_rfc3339()
                elif all(d is not None and d["phase"] == "Succeeded" for d in dependencies):
                    node = self._start_task(name, node_name, task, template, nodes, by_task, spec)
                else:
                    continue
                nodes[node["id"]] = node
                nodes[name]["children"].append(node["id"])
                by_task[task["name"]] = node
                continue
            if node["phase"] in NODE_FINAL:
                continue
            self._advance_task(name, node, task, template, nodes, shutdown)
        if all(node is not None and node["phase"] in NODE_FINAL for node in by_task.values()) or (
            shutdown and all(n is None or n["phase"] in NODE_FINAL for n in by_task.values())
        ):
            failed = any(
                node is None or node["phase"] not in ("Succeeded", "Skipped")
                for node in by_task.values()
            )
            status["phase"] = "Failed" if failed else "Succeeded"
            if shutdown:
                status["message"] = "Stopped with strategy 'Terminate'"
            elif failed:
                status["message"] = "child failed"
            status["finishedAt"] = now_rfc3339()
            nodes[name]["phase"] = status["phase"]
            nodes[name]["finishedAt"] = status["finishedAt"]
        if json.dumps(nodes, sort_keys=True) + status.get("phase", "") == before:
            return None
        status.pop("nodes", None)
        status.pop("compressedNodes", None)
        if self.compress_over is not None and len(nodes) > self.compress_over:
            status["compressedNodes"] = base64.b64encode(
                gzip.compress(json.dumps(nodes).encode())
            ).decode()
        else:
            status["nodes"] = nodes
        return status

    @staticmethod
    def _nodes(status: dict) -> dict:
        if status.get("nodes"):
            return status["nodes"]
        if status.get("compressedNodes"):
            return json.loads(gzip.decompress(base64.b64decode(status["compressedNodes"])))
        return {}

    @staticmethod
    def _id(workflow: str, node_name: str) -> str:
        return f"{workflow}-{fnv32a(node_name)}"

    def _node(self, workflow: str, node_name: str, task: dict, kind: str, phase: str) -> dict:
        return {
            "id": self._id(workflow, node_name),
            "name": node_name,
            "displayName": node_name.rsplit(".", 1)[-1],
            "type": kind,
            "templateName": task["template"],
            "phase": phase,
            "boundaryID": workflow,
            "startedAt": now_rfc3339(),
        }

    def _inputs(self, task: dict, by_task: dict, spec: dict) -> dict:
        """The task's input parameters with Argo's substitutions done."""
        given = {
            p["name"]: p.get("value") for p in (spec.get("arguments") or {}).get("parameters", [])
        }

        def output_of(match):
            node = by_task[match.group(1)]
            values = {p["name"]: p["value"] for p in node["outputs"]["parameters"]}
            return values[match.group(2)]

        parameters = []
        for argument in (task.get("arguments") or {}).get("parameters", []):
            value = PARAMETER.sub(output_of, argument["value"])
            value = WORKFLOW_PARAMETER.sub(lambda match: given[match.group(1)], value)
            parameters.append({"name": argument["name"], "value": value})
        return {"parameters": parameters} if parameters else {}

    def _start_task(self, workflow, node_name, task, template, nodes, by_task, spec) -> dict:
        inputs = self._inputs(task, by_task, spec)
        if template.get("retryStrategy"):
            node = self._node(workflow, node_name, task, "Retry", "Running")
            child = self._node(workflow, f"{node_name}(0)", task, "Pod", "Pending")
            if inputs:
                child["inputs"] = inputs
            nodes[child["id"]] = child
            node["children"] = [child["id"]]
        else:
            node = self._node(workflow, node_name, task, "Pod", "Pending")
        if inputs:
            node["inputs"] = inputs
        return node

    def pod_name(self, workflow: str, node: dict) -> str:
        return f"{workflow}-{node['templateName']}-{fnv32a(node['name'])}"

    def _advance_task(self, workflow, node, task, template, nodes, shutdown) -> None:
        if node["type"] == "Pod":
            self._advance_pod(workflow, node, template, attempt=0, shutdown=shutdown)
            return
        children = [nodes[child] for child in node["children"]]
        last = children[-1]
        if last["phase"] not in NODE_FINAL:
            self._advance_pod(
                workflow, last, template, attempt=len(children) - 1, shutdown=shutdown
            )
            return
        limit = int(template["retryStrategy"]["limit"])
        if last["phase"] in ("Failed", "Error") and len(children) <= limit and not shutdown:
            child = self._node(workflow, f"{node['name']}({len(children)})", task, "Pod", "Pending")
            if node.get("inputs"):
                child["inputs"] = node["inputs"]
            nodes[child["id"]] = child
            node["children"].append(child["id"])
            return
        node["phase"] = last["phase"]
        node["message"] = last.get("message", "")
        node["finishedAt"] = last.get("finishedAt")
        if "outputs" in last:
            node["outputs"] = last["outputs"]

    def _advance_pod(self, workflow, node, template, attempt, shutdown) -> None:
        behavior = self.behavior(template)
        pod = self.pod_name(workflow, node)
        job = template["metadata"]["annotations"]["gradient-workflows.io/job-name"]
        if shutdown:
            node["phase"] = "Failed"
            node["message"] = "workflow shutdown with strategy:  Terminate"
            node["finishedAt"] = now_rfc3339()
            if pod in self.pods:
                self.kube.pod_finish(self.namespace, pod)
            return
        if node["phase"] == "Pending":
            node["phase"] = "Running"
            self.pods[pod] = job
            self.kube.pod_start(self.namespace, pod)
            self.kube.pod_print(
                self.namespace, pod, f"attempt {attempt + 1} of {job}", *behavior.lines
            )
            return
        if behavior.hold and job not in self.released:
            return
        fails = attempt < behavior.fail_attempts or behavior.outcome != "Succeeded"
        self.kube.pod_print(self.namespace, pod, f"{job} done")
        self.kube.pod_finish(self.namespace, pod)
        node["finishedAt"] = now_rfc3339()
        if fails:
            node["phase"] = "Failed" if behavior.outcome != "Error" else "Error"
            node["message"] = behavior.message or f"Error (exit code {behavior.exit_code})"
            node["outputs"] = {"exitCode": str(behavior.exit_code)}
            return
        declared = (template.get("outputs") or {}).get("parameters", [])
        if behavior.missing_parameter:
            node["phase"] = "Error"
            node["message"] = (
                f"open /outputs/{behavior.missing_parameter}: no such file or directory"
            )
            return
        node["phase"] = "Succeeded"
        node["outputs"] = {
            "exitCode": "0",
            "parameters": [
                {
                    "name": p["name"],
                    "value": behavior.parameters.get(p["name"], f"{p['name']} of {job}"),
                    "valueFrom": p["valueFrom"],
                }
                for p in declared
            ],
        }
        if not node["outputs"]["parameters"]:
            del node["outputs"]["parameters"]
        for artifact in (template.get("outputs") or {}).get("artifacts", []):
            self._upload(artifact, behavior.files.get(artifact["name"], {}))

    def _upload(self, artifact: dict, files: dict[str, bytes]) -> None:
        buffer = io.BytesIO()
        top = artifact["path"].rstrip("/").rsplit("/", 1)[-1]
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            folder = tarfile.TarInfo(top)
            folder.type = tarfile.DIRTYPE
            folder.mode = 0o755
            tar.addfile(folder)
            for path, content in files.items():
                info = tarfile.TarInfo(f"{top}/{path}")
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
        self.s3.put_object(
            Bucket=artifact["s3"]["bucket"], Key=artifact["s3"]["key"], Body=buffer.getvalue()
        )
