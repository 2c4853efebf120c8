"""Setting up projects and submitting specs for the engine tests."""

from __future__ import annotations

import hashlib
import io
import platform
import struct
import textwrap
import time
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model

from runs.models import Run
from runs.services import run_submit
from runs.transitions import RUN_FINAL
from workflows.models import Project, Team
from workflows.services import (
    dataset_create,
    dataset_version_upload,
    project_create,
    secret_set,
    team_create,
    workflow_create,
)

# One spec for both engines: a failing branch, its dependents, and a branch that goes on.
DIAMOND = """
jobs:
  start:
    uses: script@v1
    with: {image: bash:5, script: echo start}
  broken:
    needs: [start]
    uses: script@v1
    with: {image: bash:5, script: "echo about to fail; exit 3"}
  fine:
    needs: [start]
    uses: script@v1
    with: {image: bash:5, script: echo fine}
  join:
    needs: [broken, fine]
    uses: script@v1
    with: {image: bash:5, script: echo join}
  after-fine:
    needs: [fine]
    uses: script@v1
    with: {image: bash:5, script: echo after}
  after-join:
    needs: [join]
    uses: script@v1
    with: {image: bash:5, script: echo never}
"""

# What DIAMOND ends with when "broken" fails, on either engine.
DIAMOND_BROKEN_PHASES = {
    "start": "SUCCEEDED",
    "broken": "FAILED",
    "fine": "SUCCEEDED",
    "join": "SKIPPED",
    "after-fine": "SUCCEEDED",
    "after-join": "SKIPPED",
}


# Four jobs without workers: first -> second; first, other -> join.
FOUR_JOBS = """\
jobs:
  first:
    uses: container@v1
    with: {image: bash:5, args: ["true"]}
  second:
    needs: [first]
    uses: container@v1
    with: {image: bash:5, args: ["true"]}
  other:
    uses: container@v1
    with: {image: bash:5, args: ["true"]}
  join:
    needs: [first, other]
    uses: container@v1
    with: {image: bash:5, args: ["true"]}
"""


def four_job_run(*, jobs: dict[str, str] | None = None, created_ago: float = 0, **fields) -> Run:
    """A run of FOUR_JOBS, made with the factories, whose jobs are in the phases `jobs`
    names (PENDING when not named); `fields` go to RunFactory."""
    from django.utils import timezone

    from tests.factories import JobRunFactory, RunFactory, StoredSpecFactory

    sha256 = hashlib.sha256(FOUR_JOBS.encode()).hexdigest()
    run = RunFactory(spec=StoredSpecFactory(text=FOUR_JOBS, sha256=sha256), **fields)
    Run.objects.filter(pk=run.pk).update(created=timezone.now() - timedelta(seconds=created_ago))
    run.refresh_from_db()
    for position, name in enumerate(("first", "other", "second", "join")):
        phase = (jobs or {}).get(name, "PENDING")
        JobRunFactory(run=run, name=name, position=position, phase=phase)
    return run


# s3-download of s3://models/resnet/ into the dataset "weights" (format with the endpoint).
S3_DOWNLOAD = """
jobs:
  fetch:
    uses: s3-download@v1
    with:
      url: s3://models/resnet/
      access-key: local-key
      secret-access-key: secret:s3-secret
      region: us-east-1
      endpoint: {endpoint}
    outputs:
      weights: {{type: dataset, with: {{ref: weights}}}}
"""


@dataclass
class World:
    user: object
    team: Team
    project: Project

    def dataset(self, name: str, files: dict[str, bytes] | None = None):
        dataset = dataset_create(project=self.project, name=name)
        if files:
            dataset_version_upload(
                dataset=dataset,
                files=[(path, io.BytesIO(content)) for path, content in files.items()],
            )
        return dataset

    def secret(self, name: str, value: str) -> None:
        secret_set(team=self.team, scope="project", project=self.project, name=name, value=value)

    def submit(self, spec: str, inputs=None, workflow: str = "workflow") -> Run:
        from workflows.models import Workflow

        found = Workflow.objects.filter(project=self.project, name=workflow).first()
        found = found or workflow_create(project=self.project, name=workflow, user=self.user)
        return run_submit(
            workflow=found, spec_text=textwrap.dedent(spec), inputs=inputs, user=self.user
        )


def make_world(username: str = "engineer") -> World:
    user = get_user_model().objects.create(username=username)
    team = team_create(name=f"{username}'s team", owner=user)
    return World(user=user, team=team, project=project_create(team=team, name="Project"))


def wait_for_run(run: Run, timeout: float = 60.0) -> Run:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.phase in RUN_FINAL:
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run.number} is still {run.phase} after {timeout} s")


def wait_for_job_phase(run: Run, name: str, phase: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = run.jobs.get(name=name)
        if job.phase == phase:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {name} is still {job.phase}, not {phase}, after {timeout} s")


def job_log(run: Run, name: str) -> str:
    from runs.selectors import log_lines

    return "\n".join(line["message"] for line in log_lines(run.jobs.get(name=name), limit=100000))


def phases(run: Run) -> dict[str, str]:
    return dict(run.jobs.values_list("name", "phase"))


def script_calling_the_32_bit_abi() -> str:
    """Script lines that write the program below to /tmp/abi32, run it and print
    `exit N`: 159 (SIGSYS) when a filter kills the call, 42 when the 32-bit ABI is open.

    Fails the calling test on a host that is not x86-64, whose machine code it is.
    """
    if platform.machine() != "x86_64":
        pytest.fail(f"the test's program is x86-64 machine code; this host is {platform.machine()}")
    program = "".join(f"\\{byte:03o}" for byte in _program_calling_the_32_bit_abi())
    return f"printf '{program}' > /tmp/abi32 && chmod +x /tmp/abi32\n/tmp/abi32; echo \"exit $?\"\n"


def _program_calling_the_32_bit_abi() -> bytes:
    """A static x86-64 program that exits with 42 through the i386 ABI (`int 0x80`),
    else with 7 through the 64-bit one: 42 means the 32-bit ABI is open."""
    code = bytes.fromhex("b801000000bb2a000000cd80b83c000000bf070000000f05")
    base, header, segment = 0x400000, 64, 56
    length = header + segment + len(code)
    elf = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    elf += struct.pack(
        "<HHIQQQIHHHHHH",
        2,
        0x3E,
        1,
        base + header + segment,
        header,
        0,
        0,
        header,
        segment,
        1,
        0,
        0,
        0,
    )
    elf += struct.pack("<IIQQQQQQ", 1, 5, 0, base, base, length, length, 0x1000)
    return elf + code
