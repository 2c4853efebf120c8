"""Where the suite finds the repository's own files: examples, docs, vendored schemas.

Everything the tests read lives in this checkout, so a fresh clone runs every
check (nothing is looked up beside the repository).
"""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
DOCS = REPO / "docs"
VENDOR = REPO / "tests" / "vendor"
