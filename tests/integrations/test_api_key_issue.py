from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from controltower.models import AuditEntry
from integrations.models import ApiKey


def issue(*args) -> str:
    out = StringIO()
    call_command("api_key_issue", *args, stdout=out, stderr=StringIO())
    return out.getvalue().strip().splitlines()[-1]


def test_the_key_is_the_last_line_and_authenticates_its_system(erp):
    raw = issue("ERP-S4")
    key = ApiKey.authenticate(raw)
    assert key is not None and key.system == erp
    assert raw not in ApiKey.objects.values_list("key_hash", flat=True), "only a hash is stored"
    assert AuditEntry.objects.filter(action="api_key.issue", object_id=str(key.pk)).exists()


def test_rotation_keeps_the_old_key_until_others_are_revoked(erp):
    old = issue("ERP-S4")
    new = issue("ERP-S4")
    assert ApiKey.authenticate(old) and ApiKey.authenticate(new)
    newest = issue("ERP-S4", "--revoke-others")
    assert ApiKey.authenticate(old) is None and ApiKey.authenticate(new) is None
    assert ApiKey.authenticate(newest) is not None


def test_an_unknown_system_is_named(erp):
    with pytest.raises(CommandError, match="no system 'WMS-NORTH' .*ERP-S4"):
        issue("WMS-NORTH")
