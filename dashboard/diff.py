"""Line diffs of two spec texts, side by side and unified (difflib)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

# Unchanged lines kept around each change in both views; longer runs are folded.
CONTEXT = 3


@dataclass(frozen=True)
class DiffRow:
    """One row of the side-by-side view; a side is None where the other has extra lines.

    kind: "equal", "replace", "delete", "insert", or "fold" (unchanged lines left
    out; `left_text` then says how many).
    """

    kind: str
    left_number: int | None
    left_text: str | None
    right_number: int | None
    right_text: str | None


@dataclass(frozen=True)
class SpecDiff:
    rows: list[DiffRow]
    unified: str
    added: int
    removed: int

    @property
    def identical(self) -> bool:
        return not self.added and not self.removed


def _fold(count: int) -> DiffRow:
    return DiffRow("fold", None, f"{count} unchanged lines", None, None)


def spec_diff(left: str, right: str, *, left_name: str = "a", right_name: str = "b") -> SpecDiff:
    """Rows for the side-by-side view (unchanged stretches folded) and a unified diff."""
    a, b = left.splitlines(), right.splitlines()
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    rows: list[DiffRow] = []
    added = removed = 0
    opcodes = matcher.get_opcodes()
    for index, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        if tag == "equal":

            def same(k: int, i1: int = i1, j1: int = j1) -> DiffRow:
                return DiffRow("equal", i1 + k + 1, a[i1 + k], j1 + k + 1, b[j1 + k])

            keep_before = CONTEXT if index > 0 else 0
            keep_after = CONTEXT if index < len(opcodes) - 1 else 0
            length = i2 - i1
            if length > keep_before + keep_after + 1 and len(opcodes) > 1:
                rows += [same(k) for k in range(0, keep_before)]
                rows.append(_fold(length - keep_before - keep_after))
                rows += [same(k) for k in range(length - keep_after, length)]
            else:
                rows += [same(k) for k in range(length)]
            continue
        removed += i2 - i1
        added += j2 - j1
        for k in range(max(i2 - i1, j2 - j1)):
            left_here = i1 + k < i2
            right_here = j1 + k < j2
            kind = "replace" if left_here and right_here else "delete" if left_here else "insert"
            rows.append(
                DiffRow(
                    kind,
                    i1 + k + 1 if left_here else None,
                    a[i1 + k] if left_here else None,
                    j1 + k + 1 if right_here else None,
                    b[j1 + k] if right_here else None,
                )
            )
    unified = "\n".join(
        difflib.unified_diff(a, b, fromfile=left_name, tofile=right_name, n=CONTEXT, lineterm="")
    )
    return SpecDiff(rows=rows, unified=unified, added=added, removed=removed)
