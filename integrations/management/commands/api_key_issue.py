"""Issue an API key for a system and print it once, as the last line."""

from django.core.management.base import BaseCommand, CommandError

from controltower.models import audit_record
from integrations.models import ApiKey, System


class Command(BaseCommand):
    help = "Create an API key for SYSTEM_CODE and print it as the last line (it is not stored in clear)."

    def add_arguments(self, parser):
        parser.add_argument("system_code")
        parser.add_argument("--revoke-others", action="store_true",
                            help="revoke the system's other keys (finish a rotation)")

    def handle(self, *args, system_code, revoke_others, **options):
        system = System.objects.filter(code=system_code).first()
        if system is None:
            known = ", ".join(System.objects.values_list("code", flat=True)) or "none yet"
            raise CommandError(f"no system {system_code!r} (known: {known})")
        key, raw = ApiKey.issue(system, revoke_others=revoke_others)
        audit_record(actor=None, action="api_key.issue", obj=key,
                     after={"system": system.code, "revoked_others": revoke_others})
        self.stderr.write(f"Key {key.prefix} issued for {system.code}. Store it now: it is not shown again.")
        self.stdout.write(raw)
