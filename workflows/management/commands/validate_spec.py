"""``manage.py validate_spec FILE [--json]``: check a workflow spec file.

Exit status 0 when the spec is valid, 1 when it is not (one error per line,
``LINE:COL path: message (hint)``), 2 when the file cannot be read. ``FILE``
may be ``-`` for standard input.

The file is read as bytes and handed to the spec library, as the API does, so
a NUL, a lone surrogate or a byte that is not UTF-8 is reported at its line
and column, the same as through the API. A file over the API's size limit is
refused the same way too: a message without a line (`{"valid": false,
"detail": ...}` with --json).
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
        name = str(options["file"])
        text = self._read(name)
        if len(text) > settings.SPEC_MAX_BYTES:
            self._refuse(
                name,
                f"the spec is larger than {settings.SPEC_MAX_BYTES // 1024} KiB; split it into "
                "several workflows",
                as_json=bool(options["json"]),
            )
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

    def _refuse(self, name: str, message: str, *, as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps({"valid": False, "detail": message, "errors": []}))
        else:
            self.stdout.write(f"{name}: {message}")
        raise SystemExit(1)

    def _read(self, name: str) -> bytes:
        """The file's bytes, up to one past the size limit (enough to refuse it)."""
        limit = settings.SPEC_MAX_BYTES + 1
        try:
            if name == "-":
                return sys.stdin.buffer.read(limit)
            with Path(name).open("rb") as spec_file:
                return spec_file.read(limit)
        except OSError as exc:
            raise CommandError(f"cannot read {name}: {exc}", returncode=2) from exc
