"""``manage.py validate_spec FILE [--json]``: check a workflow spec file.

Exit status 0 when the spec is valid, 1 when it is not (one error per line,
``LINE:COL path: message (hint)``), 2 when the file cannot be read. ``FILE``
may be ``-`` for standard input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from workflows.spec import parse_spec


class Command(BaseCommand):
    help = "Validate a workflow spec file; exit 0 if valid, 1 if not, 2 if it cannot be read."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="path of the spec, or - for standard input")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args: object, **options: object) -> None:
        text = self._read(str(options["file"]))
        result = parse_spec(text, max_jobs=settings.MAX_JOBS_PER_RUN)
        if options["json"]:
            payload = {"valid": result.valid, "errors": [e.as_dict() for e in result.errors]}
            self.stdout.write(json.dumps(payload, ensure_ascii=False))
        elif result.valid:
            jobs = len(result.spec.jobs) if result.spec is not None else 0
            self.stdout.write(f"valid: {jobs} job{'s' if jobs != 1 else ''}")
        else:
            for error in result.errors:
                line = f"{error.line}:{error.column} {error.path or '(document)'}: {error.message}"
                if error.hint:
                    line += f" ({error.hint})"
                self.stdout.write(line)
        if not result.valid:
            raise SystemExit(1)

    def _read(self, name: str) -> str:
        try:
            if name == "-":
                return sys.stdin.read()
            return Path(name).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {name}: {exc}", returncode=2) from exc
