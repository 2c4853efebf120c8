from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "runs"
    verbose_name = "Runs and jobs"

    def ready(self) -> None:
        from runs.services import delete_refuse_active_runs
        from workflows.services import delete_requested

        delete_requested.connect(delete_refuse_active_runs, dispatch_uid="runs-active")
