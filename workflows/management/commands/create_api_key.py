from django.core.management.base import BaseCommand

from workflows.services import user_with_api_key


class Command(BaseCommand):
    help = (
        "Print a new API key for USERNAME on the last line, creating the user and a personal "
        "team when they do not exist."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="cli", help="a name to recognise the key by")

    def handle(self, *args, username: str, name: str, **options):
        user, raw_key = user_with_api_key(username=username, key_name=name)
        self.stderr.write(f"A new API key for {user.username} (shown once; store it now):")
        self.stdout.write(raw_key)
