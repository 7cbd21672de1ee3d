"""Issue a personal API token for a person and print it once, as the last line."""

from django.core.management.base import BaseCommand, CommandError

from controltower.models import PersonalToken, User


class Command(BaseCommand):
    help = "Create an API token for USERNAME and print it as the last line (it is not stored in clear)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", required=True, help="what will use it, e.g. 'nightly reconciliation script'")

    def handle(self, *args, username, name, **options):
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"no active person {username!r}")
        token, raw = PersonalToken.issue(user, name)
        self.stderr.write(f"Token {token.prefix} issued for {username}. Store it now: it is not shown again.")
        self.stdout.write(raw)
