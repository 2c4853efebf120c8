"""Reading an Argo Workflow's status: its nodes, per job, as our phases see them.

Pure code (no Django), so the reconciler, the tests and the benchmark share it.

Argo keeps one node per DAG task, named ``<workflow>.<task>``. Without a
retry strategy that node is the pod; with one it is a Retry node whose
children ``<workflow>.<task>(0)``, ``(1)``, … are the attempts' pods. Large
workflows may carry ``status.compressedNodes`` (base64 of gzip of the nodes
map) instead of ``status.nodes``.

Pod names follow Argo's format v2 (the default since v3.4):
``<workflow>-<template>-<hash>``, where ``<hash>`` is the same hash that ends
the node's id (``<workflow>-<hash>``), so the pod name is derived from the
node id and template name Argo reports rather than by hashing on our side.
A workflow annotated ``workflows.argoproj.io/pod-name-format: v1`` (a
controller run with ``POD_NAMES=v1``) names pods by node id.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from dataclasses import dataclass, field

NODE_FINAL = frozenset({"Succeeded", "Failed", "Error", "Skipped", "Omitted"})
NODE_FAILED = frozenset({"Failed", "Error"})
NODE_NOT_RUN = frozenset({"Skipped", "Omitted"})
WORKFLOW_FINAL = frozenset({"Succeeded", "Failed", "Error"})
POD_NAME_FORMAT_ANNOTATION = "workflows.argoproj.io/pod-name-format"
# Kubernetes names are at most 253 characters; Argo keeps room for "-" and a
# 10-digit hash after the "<workflow>-<template>" prefix.
_MAX_POD_PREFIX = 253 - 10 - 1
_ATTEMPT = re.compile(r"\((\d+)\)$")


class StatusUnreadable(ValueError):
    """A status whose nodes cannot be read (offloaded to Argo's database, or corrupt)."""


def workflow_nodes(status: dict | None) -> dict[str, dict]:
    """The nodes map of a Workflow status, decompressing ``compressedNodes`` when needed."""
    if not status:
        return {}
    nodes = status.get("nodes")
    if nodes:
        return nodes
    compressed = status.get("compressedNodes")
    if compressed:
        try:
            return json.loads(gzip.decompress(base64.b64decode(compressed)))
        except (ValueError, OSError) as error:
            raise StatusUnreadable(f"status.compressedNodes cannot be read: {error}") from None
    if status.get("offloadNodeStatusVersion"):
        raise StatusUnreadable(
            "the controller offloads node status to its database (persistence."
            "nodeStatusOffLoad); turn that off for namespaces the dashboard runs in"
        )
    return {}


def compress_nodes(nodes: dict) -> str:
    """``nodes`` as Argo stores them in ``status.compressedNodes``."""
    return base64.b64encode(gzip.compress(json.dumps(nodes).encode())).decode()


def pod_name(workflow: dict, node: dict) -> str:
    """The name of the pod that runs ``node``."""
    name = workflow["metadata"]["name"]
    annotations = workflow["metadata"].get("annotations") or {}
    node_id = node["id"]
    if annotations.get(POD_NAME_FORMAT_ANNOTATION) == "v1":
        return node_id
    suffix = node_id.removeprefix(f"{name}-")
    prefix = f"{name}-{node.get('templateName') or ''}"
    if len(prefix) > _MAX_POD_PREFIX:
        prefix = prefix[:_MAX_POD_PREFIX]
    return f"{prefix}-{suffix}"


def _exit_code(node: dict) -> int | None:
    value = (node.get("outputs") or {}).get("exitCode")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


@dataclass
class Attempt:
    """One attempt of a job: one pod node."""

    number: int
    phase: str
    pod: str
    started: str | None
    finished: str | None
    message: str
    exit_code: int | None

    @property
    def began(self) -> bool:
        """Whether the pod got past Pending (a container may have printed something)."""
        return self.phase != "Pending"

    @property
    def final(self) -> bool:
        return self.phase in NODE_FINAL


@dataclass
class TaskView:
    """What Argo says about one job's DAG task."""

    phase: str
    message: str
    started: str | None
    finished: str | None
    attempts: list[Attempt] = field(default_factory=list)
    parameters: dict[str, str] = field(default_factory=dict)
    exit_code: int | None = None

    @property
    def final(self) -> bool:
        return self.phase in NODE_FINAL


def _attempt(workflow: dict, node: dict, number: int) -> Attempt:
    return Attempt(
        number=number,
        phase=node.get("phase") or "Pending",
        pod=pod_name(workflow, node),
        started=node.get("startedAt"),
        finished=node.get("finishedAt"),
        message=node.get("message") or "",
        exit_code=_exit_code(node),
    )


def _parameters(node: dict) -> dict[str, str]:
    return {
        parameter["name"]: parameter.get("value", "")
        for parameter in (node.get("outputs") or {}).get("parameters") or ()
    }


def task_views(workflow: dict, tasks: set[str] | frozenset[str] | dict) -> dict[str, TaskView]:
    """Task name -> TaskView for every task of ``tasks`` that has a node yet."""
    name = workflow["metadata"]["name"]
    nodes = workflow_nodes(workflow.get("status"))
    prefix = f"{name}."
    cut = len(prefix)
    views: dict[str, TaskView] = {}
    for node in nodes.values():
        node_name = node.get("name", "")
        if not node_name.startswith(prefix):
            continue
        task = node_name[cut:]
        if task not in tasks:
            continue
        view = TaskView(
            phase=node.get("phase") or "Pending",
            message=node.get("message") or "",
            started=node.get("startedAt"),
            finished=node.get("finishedAt"),
            parameters=_parameters(node),
            exit_code=_exit_code(node),
        )
        if node.get("type") == "Retry":
            children = []
            for child_id in node.get("children") or ():
                child = nodes.get(child_id)
                if child is None or child.get("type") != "Pod":
                    continue
                match = _ATTEMPT.search(child.get("name", ""))
                children.append((int(match.group(1)) if match else len(children), child))
            children.sort(key=lambda item: item[0])
            view.attempts = [
                _attempt(workflow, child, index + 1) for index, (_, child) in enumerate(children)
            ]
            if view.final and not view.parameters and children:
                view.parameters = _parameters(children[-1][1])
            if view.exit_code is None and children:
                view.exit_code = _exit_code(children[-1][1])
        elif node.get("type") == "Pod":
            view.attempts = [_attempt(workflow, node, 1)]
        views[task] = view
    return views


def workflow_phase(workflow: dict) -> str:
    """The Workflow's phase ("" until the controller has seen it)."""
    return (workflow.get("status") or {}).get("phase") or ""


def workflow_message(workflow: dict) -> str:
    return (workflow.get("status") or {}).get("message") or ""
