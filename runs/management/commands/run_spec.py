import json
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from runs.models import Run
from runs.selectors import log_lines, run_status_document
from runs.services import SubmissionError, run_submit
from runs.transitions import RUN_FINAL
from workflows.models import Project, Workflow
from workflows.services import workflow_create


def _read(path: str) -> str:
    try:
        return sys.stdin.read() if path == "-" else Path(path).read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise CommandError(f"cannot read {path}: {error}", returncode=2) from None


def _project(name: str | None) -> Project:
    projects = Project.objects.select_related("team")
    if name:
        found = projects.filter(handle=name).first() or projects.filter(name=name).first()
        if found is None:
            raise CommandError(f'there is no project "{name}"', returncode=2)
        return found
    if projects.count() == 1:
        return projects.get()
    names = ", ".join(projects.values_list("handle", flat=True)) or "none yet"
    raise CommandError(f"name the project with --project (projects: {names})", returncode=2)


class Command(BaseCommand):
    help = (
        "Submit a spec as a run of the workflow named after the file, through the same service "
        "as the API; the running workers execute it. Exit 0 when the run is submitted (with "
        "--wait: when it SUCCEEDED), 1 otherwise, 2 when a file or project cannot be found."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the spec (YAML); - for standard input")
        parser.add_argument("--inputs", help="a run-time inputs document (JSON or YAML)")
        parser.add_argument("--project", help="project handle or name")
        parser.add_argument("--workflow", help="workflow name (default: the file's name)")
        parser.add_argument("--wait", action="store_true", help="wait until the run ends")
        parser.add_argument("--json", action="store_true", help="print the status document")
        parser.add_argument("--logs", action="store_true", help="add each job's log")
        parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait at most")

    def handle(self, *args, **options):
        spec_text = _read(options["file"])
        inputs = _read(options["inputs"]) if options["inputs"] else None
        project = _project(options["project"])
        if not settings.REDIS_URL:
            raise CommandError(
                "no broker to reach the workers: start the dashboard with `make run`, or set "
                "REDIS_URL to the Redis its workers use",
                returncode=2,
            )
        name = options["workflow"] or (
            Path(options["file"]).stem if options["file"] != "-" else "stdin"
        )
        workflow = Workflow.objects.filter(project=project, name=name).first()
        workflow = workflow or workflow_create(project=project, name=name)
        try:
            run = run_submit(workflow=workflow, spec_text=spec_text, inputs=inputs)
        except SubmissionError as error:
            self._print_errors(error, as_json=options["json"])
            sys.exit(1)
        if options["wait"]:
            run = self._wait(run, options["timeout"])
        self._print_run(run, as_json=options["json"], with_logs=options["logs"])
        if options["wait"] and run.phase != "SUCCEEDED":
            sys.exit(1)

    def _wait(self, run: Run, timeout: float) -> Run:
        deadline = time.monotonic() + timeout
        while run.phase not in RUN_FINAL:
            if time.monotonic() > deadline:
                raise CommandError(f"run {run.number} is still {run.phase} after {timeout:g} s")
            time.sleep(0.2)
            run.refresh_from_db()
        return run

    def _print_errors(self, error: SubmissionError, *, as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps(error.as_dict(), indent=2))
            return
        for item in error.errors:
            hint = f" ({item.hint})" if item.hint else ""
            self.stderr.write(
                f"{error.document} {item.line}:{item.column} {item.path}: {item.message}{hint}"
            )

    def _print_run(self, run: Run, *, as_json: bool, with_logs: bool) -> None:
        jobs = list(run.jobs.all())
        document = run_status_document(run, jobs)
        if with_logs:
            document["logs"] = {
                job.name: "\n".join(line["message"] for line in log_lines(job, limit=10**9))
                for job in jobs
            }
        if as_json:
            self.stdout.write(json.dumps(document, indent=2))
            return
        self.stdout.write(f"{run.workflow.name} run {run.number}: {run.phase}")
        for job in jobs:
            message = f" ({job.message})" if job.message else ""
            self.stdout.write(f"  {job.name}: {job.phase}{message}")
        for name, text in document.get("logs", {}).items():
            self.stdout.write(f"--- {name}\n{text}")
