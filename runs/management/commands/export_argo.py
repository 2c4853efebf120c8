import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from runs.engine.argo.compiler import manifest_yaml
from runs.engine.argo.engine import spec_manifest
from workflows.models import Cluster
from workflows.services import SpecRejected


def _read(path: str) -> str:
    try:
        return sys.stdin.read() if path == "-" else Path(path).read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise CommandError(f"cannot read {path}: {error}", returncode=2) from None


def _cluster(name: str | None) -> Cluster | None:
    if not name:
        return None
    found = list(Cluster.objects.filter(handle=name).select_related("team"))
    if not found and name.isdigit():
        found = list(Cluster.objects.filter(pk=int(name)))
    if not found:
        raise CommandError(f'there is no cluster "{name}"', returncode=2)
    if len(found) > 1:
        ids = ", ".join(f"{cluster.pk} ({cluster.team})" for cluster in found)
        raise CommandError(
            f'several teams have a cluster "{name}"; give its id: {ids}', returncode=2
        )
    return found[0]


class Command(BaseCommand):
    help = (
        "Print the Argo Workflow manifest a spec becomes (YAML, or JSON with --json). With "
        "--cluster, instance types, the artifact repository and the other cluster settings are "
        "applied; without, it is a preview. Exit 1 when the spec is invalid or cannot run on the "
        "cluster, 2 when the file or cluster cannot be found."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the spec (YAML); - for standard input")
        parser.add_argument("--cluster", help="cluster handle or id")
        parser.add_argument("--json", action="store_true", help="print JSON instead of YAML")

    def handle(self, *args, **options):
        text = _read(options["file"])
        cluster = _cluster(options["cluster"])
        try:
            manifest = spec_manifest(text=text, cluster=cluster)
        except SpecRejected as error:
            for problem in error.errors:
                where = f"{problem.path} " if problem.path else ""
                self.stderr.write(
                    f"line {problem.line}, column {problem.column}: {where}{problem.message}"
                )
            raise CommandError(error.message) from None
        if options["json"]:
            self.stdout.write(json.dumps(manifest, indent=2))
        else:
            self.stdout.write(manifest_yaml(manifest), ending="")
