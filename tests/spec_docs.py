"""The example blocks of docs/spec.md, as the tests that check them read them.

A block's fence says how it is checked: `yaml` a valid spec, `yaml run` a
valid spec that also runs on the local engine, `yaml invalid` a spec that
fails with the error its first line names (`# error: PATH: FRAGMENT`), `json
inputs` run-time inputs of the spec before it, `json status` a run's status
document, `sh` commands of manage.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tests.paths import DOCS
from workflows.spec import WorkflowSpec

SPEC_DOC = DOCS / "spec.md"
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
KINDS = ("yaml", "yaml run", "yaml invalid", "json inputs", "json status", "sh")


@dataclass(frozen=True)
class Block:
    """One fenced block: its info string, its text and the line its fence opens on."""

    kind: str
    text: str
    line: int

    @property
    def name(self) -> str:
        return f"docs/spec.md:{self.line}"


def spec_doc_blocks() -> list[Block]:
    text = SPEC_DOC.read_text()
    return [
        Block(kind=match[1].strip(), text=match[2], line=text.count("\n", 0, match.start()) + 1)
        for match in FENCE.finditer(text)
    ]


def blocks_of(kind: str) -> list[Block]:
    return [block for block in spec_doc_blocks() if block.kind == kind]


def dataset_names(spec: WorkflowSpec) -> set[str]:
    """The datasets a spec reads or writes by name (what a project needs before it runs)."""
    refs = [item.default for item in spec.inputs.values() if item.type == "dataset"]
    for job in spec.jobs:
        refs += [i.source.with_ for i in job.inputs.values() if i.source.kind == "inline"]
        refs += [o.with_ for o in job.outputs.values() if o.type == "dataset"]
    return {ref["ref"].split(":")[0] for ref in refs if ref and "ref" in ref}
