import logging
import signal

from django.core.management.base import BaseCommand

from runs.engine.argo.watcher import (
    CLUSTER_POLL_SECONDS,
    WATCH_SECONDS,
    ArgoWatcher,
    reconcile_cluster_once,
)
from workflows.models import Cluster

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Watch the Argo Workflows of every Argo cluster and apply them to runs: phases, outputs, "
        "dataset commits, logs. Run exactly one per deployment. --once does a single pass over "
        "every cluster and exits."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="one pass, then exit")
        parser.add_argument("--workers", type=int, default=4, help="runs reconciled at once")
        parser.add_argument(
            "--watch-seconds", type=int, default=WATCH_SECONDS, help="length of one watch request"
        )
        parser.add_argument(
            "--cluster-poll-seconds",
            type=float,
            default=CLUSTER_POLL_SECONDS,
            help="how often to look for new Argo clusters",
        )

    def handle(self, *args, **options):
        if options["once"]:
            for cluster in Cluster.objects.filter(kind=Cluster.Kind.ARGO):
                count = reconcile_cluster_once(cluster)
                self.stdout.write(f"{cluster.handle}: {count} run(s) reconciled")
            return
        watcher = ArgoWatcher(
            workers=options["workers"],
            watch_seconds=options["watch_seconds"],
            cluster_poll_seconds=options["cluster_poll_seconds"],
        )

        def stop(signum, frame):
            watcher.stop.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write("watching Argo clusters; Ctrl-C to stop")
        watcher.run()
