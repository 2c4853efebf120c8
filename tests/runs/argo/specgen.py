"""Generated specs that use every action, input and output type, secrets, instance
types, timeouts and retries, in random DAG shapes (seeded, so reproducible)."""

from __future__ import annotations

import json
from random import Random

INSTANCE_TYPES = {
    "C4": {"cpu": "4", "memory": "8Gi", "nodeSelector": {"pool": "cpu"}},
    "P4000": {
        "cpu": "8",
        "memory": "30Gi",
        "gpu": 1,
        "nodeSelector": {"pool": "gpu", "gpu": "p4000"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    },
    "A100": {
        "resources": {"requests": {"cpu": "16"}, "limits": {"nvidia.com/gpu": "2"}},
        "tolerations": [{"key": "a100", "operator": "Equal", "value": "yes"}],
    },
}
ACTIONS = ("container", "script", "git-checkout", "s3-download", "create-model")
NAME_STYLES = ("job-{i}", "Job_{i}", "j{i}", "TRAIN-{i}", "main")


def _q(value: str) -> str:
    return json.dumps(value)


def generated_spec(seed: int, jobs: int = 12) -> str:
    """A valid spec of ``jobs`` jobs, shaped by ``seed``."""
    rng = Random(seed)
    lines = [
        "defaults:",
        "  env:",
        "    API_TOKEN: secret:api-token",
        f"    PRICE: {_q('$5 and $(HOME) and $$')}",
    ]
    if rng.random() < 0.7:
        lines += ["  resources:", f"    instance-type: {rng.choice(['C4', 'P4000'])}"]
    lines += [
        "inputs:",
        "  corpus: {type: dataset, with: {ref: corpus}}",
        '  top: {type: string, with: {value: "5"}}',
        "  given: {type: string}",
        "  scratch: {type: volume}",
        "jobs:",
    ]
    names: list[str] = []
    produced: list[tuple[str, str, str]] = []
    upstream: dict[str, set[str]] = {}
    for i in range(jobs):
        style = NAME_STYLES[i % len(NAME_STYLES)] if i < len(NAME_STYLES) else "job-{i}"
        name = style.format(i=i)
        action = ACTIONS[i % len(ACTIONS)] if i < 10 else rng.choice(ACTIONS)
        needs = sorted(rng.sample(names, min(len(names), rng.randint(0, 3))))
        closure = set(needs)
        for need in needs:
            closure |= upstream[need]
        upstream[name] = closure
        lines.append(f"  {name}:")
        lines.append(f"    uses: {action}@v1")
        if needs:
            lines.append(f"    needs: [{', '.join(needs)}]")
        inputs = _inputs(rng, name, action, closure, produced)
        if inputs:
            lines.append("    inputs:")
            lines += [f"      {key}: {value}" for key, value in inputs.items()]
        outputs = _outputs(rng, action, i)
        if outputs:
            lines.append("    outputs:")
            for key, (kind, ref) in outputs.items():
                with_ = f", with: {{ref: {ref}}}" if ref else ""
                lines.append(f"      {key}: {{type: {kind}{with_}}}")
                produced.append((name, key, kind))
        lines += _with(rng, action, outputs)
        if rng.random() < 0.5:
            lines += ["    env:", f"      STEP: {_q(str(i))}", "      KEY: secret:model-key"]
        if rng.random() < 0.3:
            lines += ["    resources:", "      instance-type: A100"]
        if rng.random() < 0.4:
            lines.append(f"    timeout: {rng.choice(['90s', '30m', '2h'])}")
        if rng.random() < 0.4:
            lines.append(f"    retries: {rng.randint(1, 3)}")
        names.append(name)
    return "\n".join(lines) + "\n"


def _inputs(rng: Random, name, action, closure, produced) -> dict[str, str]:
    inputs: dict[str, str] = {}
    if action == "create-model":
        datasets = [
            (job, out) for job, out, kind in produced if kind == "dataset" and job in closure
        ]
        if datasets:
            job, out = rng.choice(datasets)
            inputs["model"] = f"{job}.outputs.{out}"
        else:
            inputs["model"] = "workflow.inputs.corpus"
        return inputs
    if rng.random() < 0.5:
        inputs["corpus"] = "workflow.inputs.corpus"
    if rng.random() < 0.5:
        inputs["top"] = "workflow.inputs.top"
    if rng.random() < 0.2:
        inputs["given"] = "workflow.inputs.given"
    if rng.random() < 0.2:
        inputs["scratch"] = "workflow.inputs.scratch"
    if rng.random() < 0.3:
        inputs["inline-note"] = '{type: string, with: {value: "inline $(x) {{not}}"}}'
    if rng.random() < 0.2:
        inputs["pinned"] = "{type: dataset, with: {ref: corpus:v1}}"
    available = [(job, out, kind) for job, out, kind in produced if job in closure]
    for job, out, _kind in rng.sample(available, min(len(available), 3)):
        inputs[f"{job}-{out}".replace("_", "-").lower()] = f"{job}.outputs.{out}"
    return inputs


def _outputs(rng: Random, action: str, i: int) -> dict[str, tuple[str, str | None]]:
    if action == "create-model":
        return {"model-id": ("string", None)}
    if action in ("git-checkout", "s3-download"):
        kind = rng.choice(["dataset", "volume"])
        outputs = {"files": (kind, "fetched" if kind == "dataset" else None)}
        if rng.random() < 0.5:
            outputs["note"] = ("string", None)
        return outputs
    outputs: dict[str, tuple[str, str | None]] = {}
    if rng.random() < 0.6:
        outputs["note"] = ("string", None)
    if rng.random() < 0.5:
        outputs["data"] = ("dataset", rng.choice(["results", "word-counts"]))
    if rng.random() < 0.4:
        outputs["work"] = ("volume", None)
    return outputs


def _with(rng: Random, action: str, outputs) -> list[str]:
    if action == "container":
        lines = [
            "    with:",
            "      image: bash:5",
            '      args: ["bash", "-c", "echo $HOME $(date)"]',
        ]
        if rng.random() < 0.5:
            lines.append('      command: ["/usr/bin/env"]')
        return lines
    if action == "script":
        return [
            "    with:",
            "      image: python:3.11",
            "      script: |-",
            "        echo hi",
            "        ls /inputs",
        ]
    if action == "git-checkout":
        lines = ["    with:", "      url: https://example.com/repo.git", "      ref: main"]
        if rng.random() < 0.5:
            lines += ["      username: secret:git-user", "      password: secret:git-token"]
        elif rng.random() < 0.5:
            lines += ["      username: robot", "      password: secret:git-token"]
        if rng.random() < 0.5:
            lines.append("      path: files/src")
        return lines
    if action == "s3-download":
        lines = [
            "    with:",
            "      url: s3://bucket/some/prefix/",
            f"      access-key: {rng.choice(['AKIAEXAMPLE', 'secret:s3-key'])}",
            "      secret-access-key: secret:s3-secret",
        ]
        if rng.random() < 0.5:
            lines += ["      endpoint: http://minio.local:9000", "      region: us-east-1"]
        return lines
    return [
        "    with:",
        "      name: my-model",
        f"      type: {rng.choice(['Tensorflow', 'ONNX', 'Custom'])}",
    ]
