from django.conf import settings
from django.core.management.base import BaseCommand

from workflows.demo import demo_setup


class Command(BaseCommand):
    help = "Create the demo user, team and project on first start (make run calls this)."

    def handle(self, *args, **options):
        _, created = demo_setup(password_file=settings.DATA_DIR / "demo-password")
        if created:
            self.stdout.write("Created the demo user 'demo' with its team and project.")
        else:
            self.stdout.write("The demo user exists already.")
