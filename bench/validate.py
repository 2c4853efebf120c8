"""How long parse_spec takes on large specs.

    .venv/bin/python bench/validate.py [--runs 15]

Generates specs of 50, 1,000 and 2,000 jobs shaped like real pipelines (layers
of jobs, each reading a workflow input and the outputs of jobs in the layer
before it, with all three output types), validates each after a warm-up, and
prints median and p90 wall-clock times (and the median CPU time, which other
processes on the machine disturb less) against the targets. It only reports;
it never fails on timing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workflows.spec import parse_spec  # noqa: E402

TARGETS_MS = {50: 15.0, 1000: 250.0, 2000: None}
LAYER_WIDTH = 10


def generate_spec(jobs: int) -> str:
    """A valid spec of ``jobs`` jobs in layers, each layer fanning in from the one before."""
    lines = [
        "defaults:",
        "  env:",
        "    API_TOKEN: secret:api-token",
        "    MODE: fast",
        "  resources:",
        "    instance-type: C4",
        "inputs:",
        "  corpus:",
        "    type: dataset",
        "    with:",
        "      ref: corpus",
        "  top:",
        "    type: string",
        "    with:",
        '      value: "5"',
        "jobs:",
    ]
    for index in range(jobs):
        layer, slot = divmod(index, LAYER_WIDTH)
        name = f"job-{index}"
        lines.append(f"  {name}:")
        if layer:
            previous = (layer - 1) * LAYER_WIDTH
            needed = sorted({previous + slot, previous + (slot + 1) % LAYER_WIDTH})
            lines.append(f"    needs: [{', '.join(f'job-{n}' for n in needed)}]")
        lines.append("    inputs:")
        lines.append("      corpus: workflow.inputs.corpus")
        if layer:
            lines.append(f"      previous-counts: job-{needed[0]}.outputs.counts")
            lines.append(f"      previous-note: job-{needed[-1]}.outputs.note")
        else:
            lines.append("      top: workflow.inputs.top")
        lines.extend(
            [
                "    outputs:",
                "      counts:",
                "        type: dataset",
                "        with:",
                f"          ref: counts-{slot}",
                "      note:",
                "        type: string",
                "      work:",
                "        type: volume",
            ]
        )
        if index % 2:
            lines.extend(
                [
                    "    uses: script@v1",
                    "    with:",
                    "      image: bash:5",
                    "      script: |-",
                    "        ls /inputs > /outputs/note",
                    "        cp -r /inputs/corpus/. /outputs/counts/",
                ]
            )
        else:
            lines.extend(
                [
                    "    env:",
                    "      LC_ALL: C",
                    "    uses: container@v1",
                    "    with:",
                    "      image: python:3.11",
                    '      args: ["python", "-c", "print(1)"]',
                ]
            )
    return "\n".join(lines) + "\n"


def measure(text: str, runs: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU milliseconds of ``runs`` validations, after two warm-up runs."""
    for _ in range(2):
        result = parse_spec(text)
        if not result.valid:
            raise SystemExit(f"generated spec is invalid: {result.errors[:3]}")
    wall, cpu = [], []
    results = []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = parse_spec(text)
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
        # Keep results until the end, so freeing one is not timed as part of the next.
        results.append(result)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    print(
        f"{args.runs} runs each after 2 warm-up runs; load average {load:.2f} "
        f"on {os.cpu_count()} CPUs (other processes inflate wall-clock times)"
    )
    header = (
        f"{'jobs':>6} {'lines':>7} {'median ms':>10} {'p90 ms':>8} {'cpu median':>11} "
        f"{'target':>8}  met"
    )
    print(header)
    print("-" * len(header))
    for jobs, target in TARGETS_MS.items():
        text = generate_spec(jobs)
        wall, cpu = measure(text, args.runs)
        wall.sort()
        median = statistics.median(wall)
        p90 = wall[min(len(wall) - 1, round(0.9 * (len(wall) - 1)))]
        target_text = f"{target:.0f} ms" if target else "-"
        met = "-" if target is None else ("yes" if median <= target else "NO")
        lines = text.count("\n")
        print(
            f"{jobs:>6} {lines:>7} {median:>10.1f} {p90:>8.1f} {statistics.median(cpu):>11.1f} "
            f"{target_text:>8}  {met}"
        )


if __name__ == "__main__":
    main()
