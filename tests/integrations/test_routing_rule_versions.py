"""Routing rules are versioned: every change is a new version, old versions are kept, and each
transaction names the version that routed it, whether the rule was edited in the API or the admin.
"""

import json

import pytest

from controltower.models import AuditEntry, User
from integrations.choices import LatencyClass
from integrations.models import RoutingRule, RoutingRuleVersion, Transaction
from integrations.services.configuration import routing_rule_deactivate, routing_rule_save
from integrations.services.routing import transactions_route_received
from tests.fixtures.events import released_event


def rule_audit(rule) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(object_type="integrations.routingrule", object_id=str(rule.pk))
                .order_by("at", "id"))


@pytest.fixture
def new_rule(carol, plant_1000, wms_east):
    return routing_rule_save(rule=RoutingRule(), fields={"name": "Released 1000", "plant": plant_1000,
                                                         "event_type": "production_order.released"},
                             targets=[wms_east], actor=carol)


def test_a_new_rule_is_version_1_with_a_snapshot(new_rule, carol):
    assert new_rule.version == 1
    [version] = new_rule.versions.all()
    assert (version.version, version.created_by) == (1, carol)
    assert version.snapshot == {"id": new_rule.pk, "name": "Released 1000", "event_type": "production_order.released",
                                "plant": "1000", "source": None, "conditions": {}, "targets": ["WMS-EAST"],
                                "latency_class": "immediate", "priority": 0, "is_active": True, "version": 1}


def test_each_change_is_a_new_version_and_old_snapshots_stay_as_they_were(new_rule, carol, erp):
    routing_rule_save(rule=new_rule, fields={"latency_class": LatencyClass.NEAR_REAL_TIME}, targets=None, actor=carol)
    routing_rule_save(rule=new_rule, fields={}, targets=[erp], actor=carol)
    routing_rule_deactivate(rule=new_rule, actor=carol)
    new_rule.refresh_from_db()
    assert new_rule.version == 4 and not new_rule.is_active
    snapshots = {v.version: v.snapshot for v in new_rule.versions.all()}
    assert sorted(snapshots) == [1, 2, 3, 4]
    assert (snapshots[1]["latency_class"], snapshots[1]["targets"]) == ("immediate", ["WMS-EAST"])
    assert (snapshots[2]["latency_class"], snapshots[2]["targets"]) == ("near_real_time", ["WMS-EAST"])
    assert (snapshots[3]["targets"], snapshots[3]["is_active"]) == (["ERP-S4"], True)
    assert (snapshots[4]["targets"], snapshots[4]["is_active"]) == (["ERP-S4"], False)
    assert [e.action for e in rule_audit(new_rule)] == ["create", "change", "change", "deactivate"]
    last = rule_audit(new_rule)[-1]
    assert (last.before["is_active"], last.after["is_active"], last.after["version"]) == (True, False, 4)


def test_a_save_that_changes_nothing_keeps_the_version(new_rule, carol, wms_east):
    routing_rule_save(rule=new_rule, fields={"name": "Released 1000"}, targets=[wms_east], actor=carol)
    new_rule.refresh_from_db()
    assert new_rule.version == 1 and new_rule.versions.count() == 1 and len(rule_audit(new_rule)) == 1


def test_a_rule_made_before_versioning_keeps_its_first_version_on_its_first_edit(released_to_wms_east, carol):
    rule = released_to_wms_east[0]
    assert not rule.versions.exists(), "made directly, as the fixtures and older data do"
    routing_rule_save(rule=rule, fields={"priority": 3}, targets=None, actor=carol)
    v1, v2 = rule.versions.order_by("version")
    assert (v1.version, v1.snapshot["priority"], v1.snapshot["targets"], v1.created_by) == (1, 0, ["WMS-EAST"], None)
    assert (v2.version, v2.snapshot["priority"], v2.created_by) == (2, 3, carol)


def test_an_edit_from_a_stale_copy_keeps_the_stored_fields(new_rule, carol):
    stale = RoutingRule.objects.get(pk=new_rule.pk)
    routing_rule_save(rule=new_rule, fields={"priority": 7}, targets=None, actor=carol)
    routing_rule_save(rule=stale, fields={"name": "Renamed"}, targets=None, actor=carol)
    stored = RoutingRule.objects.get(pk=new_rule.pk)
    assert (stored.name, stored.priority, stored.version) == ("Renamed", 7, 3)


@pytest.fixture
def receive(erp, plant_1000):
    """A transaction stored as ingest stores it, waiting for the router."""
    def _receive(order_number):
        event = released_event(order_number, "1000")
        tx = Transaction(correlation_id=order_number, source=erp, source_message_id=event["id"],
                         event_type=event["type"], plant=plant_1000, business_key=order_number,
                         raw_payload=event, canonical_payload=event["data"])
        tx.set_status("received", "test")
        tx.save()
        return tx

    return _receive


def test_a_transaction_routed_after_an_api_edit_records_the_new_version(client, carol, receive,
                                                                        released_to_wms_east):
    rule = released_to_wms_east[0]
    before = receive("1000000001")
    transactions_route_received()

    client.force_login(carol)
    response = client.patch(f"/api/v1/routing-rules/{rule.pk}", data=json.dumps({"latency_class": "micro_batch"}),
                            content_type="application/json")
    assert response.status_code == 200 and response.json()["version"] == 2
    after = receive("1000000002")
    transactions_route_received()

    before.refresh_from_db(), after.refresh_from_db()
    assert (before.routing_rule, before.routing_rule_version) == (rule, 1)
    assert before.deliveries.get().latency_class == "immediate"
    assert (after.routing_rule, after.routing_rule_version) == (rule, 2)
    assert after.deliveries.get().latency_class == "micro_batch"
    v1 = RoutingRuleVersion.objects.get(rule=rule, version=before.routing_rule_version)
    assert v1.snapshot["latency_class"] == "immediate", "the version that routed the older one is still readable"


# The admin -----------------------------------------------------------------------------------------


@pytest.fixture
def admin_site_client(client, db):
    client.force_login(User.objects.create_superuser("root", password="pw-root"))
    return client


def admin_form(rule_fields: dict, versions: int = 0) -> dict:
    return {
        **rule_fields,
        "versions-TOTAL_FORMS": str(versions), "versions-INITIAL_FORMS": str(versions),
        "versions-MIN_NUM_FORMS": "0", "versions-MAX_NUM_FORMS": "1000",
    }


def test_an_admin_site_add_is_version_1_with_its_targets(admin_site_client, plant_1000, wms_east, erp):
    response = admin_site_client.post("/admin/integrations/routingrule/add/", admin_form({
        "name": "Staged to ERP", "event_type": "material.staged", "plant": plant_1000.pk, "conditions": "{}",
        "targets": [wms_east.pk, erp.pk], "latency_class": "immediate", "priority": "0", "is_active": "on",
    }))
    assert response.status_code == 302, response.content.decode()[:3000]
    rule = RoutingRule.objects.get(name="Staged to ERP")
    [version] = rule.versions.all()
    assert rule.version == 1 and version.snapshot["targets"] == ["ERP-S4", "WMS-EAST"]
    [entry] = rule_audit(rule)
    assert entry.action == "create" and entry.actor.username == "root"


def test_an_admin_site_edit_of_the_targets_is_a_new_version_naming_the_final_targets(
        admin_site_client, released_to_wms_east, plant_1000, erp):
    rule = released_to_wms_east[0]
    response = admin_site_client.post(f"/admin/integrations/routingrule/{rule.pk}/change/", admin_form({
        "name": rule.name, "event_type": rule.event_type, "plant": plant_1000.pk, "conditions": "{}",
        "targets": [erp.pk], "latency_class": "immediate", "priority": "0", "is_active": "on",
    }))
    assert response.status_code == 302, response.content.decode()[:3000]
    rule.refresh_from_db()
    assert rule.version == 2 and list(rule.targets.values_list("code", flat=True)) == ["ERP-S4"]
    snapshots = {v.version: v.snapshot for v in rule.versions.all()}
    assert snapshots[1]["targets"] == ["WMS-EAST"] and snapshots[2]["targets"] == ["ERP-S4"]
    [entry] = rule_audit(rule)
    assert (entry.action, entry.before["targets"], entry.after["targets"]) == ("change", ["WMS-EAST"], ["ERP-S4"])


def test_the_admin_change_page_lists_the_versions_read_only(admin_site_client, new_rule, carol, erp):
    routing_rule_save(rule=new_rule, fields={"priority": 9}, targets=[erp], actor=carol)
    page = admin_site_client.get(f"/admin/integrations/routingrule/{new_rule.pk}/change/").content.decode()
    assert "Routing rule versions" in page or "routing rule versions" in page.lower()
    assert "ERP-S4" in page and "WMS-EAST" in page
    assert 'name="version"' not in page, "the version is not editable by hand"
