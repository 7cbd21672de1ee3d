"""The configuration API: integration admins configure systems, rules, mappings, SLAs and windows.

Every endpoint is for integration admins only; every write is audited with before and after;
invalid input is 422 problem+json pointing at the field; the rule tester stores nothing.
"""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from controltower.models import AuditEntry, Plant, User
from integrations.choices import LatencyClass
from integrations.models import (
    ApiKey,
    MaintenanceWindow,
    QuarantinedMessage,
    RoutingRule,
    ServiceLevel,
    System,
    Transaction,
    ValueMapping,
)
from integrations.services.routing import transactions_route_received
from tests.fixtures.events import released_event

TEST_URL = "/api/v1/routing-rules/test"


def send(client, method: str, url: str, body=None, **extra):
    raw = body if isinstance(body, str) else json.dumps(body) if body is not None else None
    kwargs = {"data": raw, "content_type": "application/json"} if raw is not None and method != "get" else {}
    return getattr(client, method)(url, **kwargs, **extra)


@pytest.fixture
def as_carol(client, carol):
    client.force_login(carol)
    return lambda method, url, body=None, **extra: send(client, method, url, body, **extra)


def assert_problem(response, status: int, pointer: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["title"] and isinstance(body["errors"], list)
    if pointer is not None:
        assert pointer in [e["pointer"] for e in body["errors"]], body["errors"]
    return body


def audit_of(obj) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk)).order_by("at", "id"))


@pytest.fixture
def config(plant_1000, erp, wms_east):
    """One object of each kind, for the per-endpoint permission checks."""
    rule = RoutingRule.objects.create(name="Released to WMS", event_type="production_order.released",
                                      plant=plant_1000)
    rule.targets.set([wms_east])
    return {
        "system": erp,
        "rule": rule,
        "mapping": ValueMapping.objects.create(system=erp, domain="uom", external_value="PC", canonical_value="EA"),
        "sla": ServiceLevel.objects.create(event_type="", latency_class="immediate", max_seconds=5),
        "window": MaintenanceWindow.objects.create(name="Sunday", system=wms_east, kind="weekly", weekday=6,
                                                   start_time="02:00", duration_minutes=120),
    }


ENDPOINTS = [
    ("get", "/api/v1/systems"),
    ("post", "/api/v1/systems"),
    ("get", "/api/v1/systems/ERP-S4"),
    ("patch", "/api/v1/systems/ERP-S4"),
    ("delete", "/api/v1/systems/ERP-S4"),
    ("get", "/api/v1/routing-rules"),
    ("post", "/api/v1/routing-rules"),
    ("get", "/api/v1/routing-rules/{rule}"),
    ("patch", "/api/v1/routing-rules/{rule}"),
    ("delete", "/api/v1/routing-rules/{rule}"),
    ("get", "/api/v1/routing-rules/{rule}/versions"),
    ("post", TEST_URL),
    ("get", "/api/v1/value-mappings"),
    ("post", "/api/v1/value-mappings"),
    ("patch", "/api/v1/value-mappings/{mapping}"),
    ("delete", "/api/v1/value-mappings/{mapping}"),
    ("get", "/api/v1/slas"),
    ("post", "/api/v1/slas"),
    ("patch", "/api/v1/slas/{sla}"),
    ("delete", "/api/v1/slas/{sla}"),
    ("get", "/api/v1/maintenance-windows"),
    ("post", "/api/v1/maintenance-windows"),
    ("patch", "/api/v1/maintenance-windows/{window}"),
    ("delete", "/api/v1/maintenance-windows/{window}"),
]


def url_of(template: str, config: dict) -> str:
    return template.format(**{name: obj.pk for name, obj in config.items()})


@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
def test_a_planner_is_refused_every_configuration_endpoint(client, alice, config, method, url):
    client.force_login(alice)
    assert_problem(send(client, method, url_of(url, config), {}), 403)


@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
def test_anonymous_callers_and_system_keys_are_refused(client, config, method, url):
    assert_problem(send(client, method, url_of(url, config), {}), 401)
    key = ApiKey.issue(config["system"])[1]
    assert_problem(send(client, method, url_of(url, config), {}, HTTP_AUTHORIZATION=f"Bearer {key}"), 403)


@pytest.mark.parametrize(("method", "url"), [e for e in ENDPOINTS if e[0] == "get"])
def test_an_integration_admin_reads_every_list_and_object(as_carol, config, method, url):
    response = as_carol(method, url_of(url, config))
    assert response.status_code == 200, response.content


def test_refusals_change_nothing_and_write_no_audit(client, alice, config):
    client.force_login(alice)
    send(client, "patch", f"/api/v1/routing-rules/{config['rule'].pk}", {"name": "hijacked"})
    send(client, "delete", "/api/v1/value-mappings/{}".format(config["mapping"].pk))
    config["rule"].refresh_from_db()
    assert config["rule"].name == "Released to WMS" and ValueMapping.objects.exists()
    assert not AuditEntry.objects.exists()


# Systems -------------------------------------------------------------------------------------------


def test_an_admin_creates_a_system_with_its_plants_by_code(as_carol, carol, plant_1000, plant_2000):
    response = as_carol("post", "/api/v1/systems", {"code": "MES-P1000", "name": "MES Hamburg", "kind": "MES",
                                                    "adapter": "mes_b2mml", "plants": ["1000", "2000"]})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["code"] == "MES-P1000" and body["plants"] == ["1000", "2000"] and body["circuit_state"] == "closed"
    system = System.objects.get(code="MES-P1000")
    assert set(system.plants.values_list("code", flat=True)) == {"1000", "2000"}
    [entry] = audit_of(system)
    assert (entry.actor, entry.action, entry.before) == (carol, "create", None)
    assert entry.after["code"] == "MES-P1000" and entry.after["plants"] == ["1000", "2000"]


def test_unknown_plant_codes_are_422_at_their_index(as_carol, plant_1000):
    response = as_carol("post", "/api/v1/systems", {"code": "MES-X", "name": "x", "kind": "MES", "adapter": "m",
                                                    "plants": ["1000", "9999"]})
    body = assert_problem(response, 422, "/plants/1")
    assert "/plants/0" not in [e["pointer"] for e in body["errors"]]
    assert not System.objects.filter(code="MES-X").exists() and not AuditEntry.objects.exists()


@pytest.mark.parametrize(("body", "pointer"), [
    ({"code": "ERP-S4", "name": "again", "kind": "ERP", "adapter": "erp_s4"}, "/code"),
    ({"code": "NEW", "name": "n", "kind": "PLC", "adapter": "a"}, "/kind"),
    ({"code": "NEW", "name": "n", "kind": "ERP", "adapter": "a", "base_url": "not a url"}, "/base_url"),
    ({"name": "n", "kind": "ERP", "adapter": "a"}, "/code"),
])
def test_invalid_systems_are_422_with_pointers(as_carol, erp, body, pointer):
    assert_problem(as_carol("post", "/api/v1/systems", body), 422, pointer)


def test_an_unparsable_body_is_400_problem(as_carol):
    assert_problem(as_carol("post", "/api/v1/systems", "{not json"), 400)


def test_a_system_edit_is_audited_before_and_after(as_carol, erp, plant_1000):
    response = as_carol("patch", "/api/v1/systems/ERP-S4", {"paused": True, "paused_reason": "period close",
                                                            "plants": ["1000"]})
    assert response.status_code == 200, response.content
    assert response.json()["paused"] is True and response.json()["plants"] == ["1000"]
    erp.refresh_from_db()
    assert erp.paused and erp.name == "SAP S/4HANA", "fields not sent are kept"
    [entry] = audit_of(erp)
    assert entry.action == "change"
    assert (entry.before["paused"], entry.before["plants"]) == (False, [])
    assert (entry.after["paused"], entry.after["paused_reason"], entry.after["plants"]) == (True, "period close",
                                                                                            ["1000"])


def test_a_pause_needs_a_reason_and_unpausing_clears_it(as_carol, erp):
    assert_problem(as_carol("patch", "/api/v1/systems/ERP-S4", {"paused": True}), 422, "/paused_reason")
    assert as_carol("patch", "/api/v1/systems/ERP-S4", {"paused": True, "paused_reason": "period close"}).json()[
        "paused_reason"] == "period close"
    assert as_carol("patch", "/api/v1/systems/ERP-S4", {"paused": False}).json()["paused_reason"] == ""


def test_a_systems_code_and_circuit_cannot_be_edited(as_carol, erp):
    assert_problem(as_carol("patch", "/api/v1/systems/ERP-S4", {"code": "ERP-NEW"}), 422, "/code")
    as_carol("patch", "/api/v1/systems/ERP-S4", {"circuit_state": "open"})
    erp.refresh_from_db()
    assert erp.code == "ERP-S4" and erp.circuit_state == "closed"


def test_put_is_not_offered(as_carol, erp):
    assert_problem(as_carol("put", "/api/v1/systems/ERP-S4", {"name": "x"}), 405)


def test_a_system_without_history_is_deleted_and_audited(as_carol, wms_east):
    assert as_carol("delete", "/api/v1/systems/WMS-EAST").status_code == 204
    assert not System.objects.filter(code="WMS-EAST").exists()
    entry = AuditEntry.objects.get(object_type="integrations.system", action="delete")
    assert entry.before["code"] == "WMS-EAST" and entry.after is None


def test_a_system_with_transactions_or_rules_is_not_deleted(as_carol, erp, config):
    event = released_event()
    Transaction.objects.create(correlation_id="c", source=erp, source_message_id=event["id"],
                               event_type=event["type"], raw_payload=event, canonical_payload=event["data"])
    assert_problem(as_carol("delete", "/api/v1/systems/ERP-S4"), 409)
    assert_problem(as_carol("delete", "/api/v1/systems/WMS-EAST"), 409), "a rule targets it"
    assert System.objects.filter(code__in=["ERP-S4", "WMS-EAST"]).count() == 2
    assert not AuditEntry.objects.filter(action="delete").exists()


# Routing rules -------------------------------------------------------------------------------------

RULE = {"name": "Released 1000 to WMS", "event_type": "production_order.released", "plant": "1000",
        "targets": ["WMS-EAST"], "latency_class": "near_real_time", "conditions": {"material": "FG-100"}}


def test_an_admin_creates_a_rule_as_version_1(as_carol, carol, plant_1000, wms_east):
    response = as_carol("post", "/api/v1/routing-rules", RULE)
    assert response.status_code == 201, response.content
    body = response.json()
    rule = RoutingRule.objects.get()
    assert body == {"id": rule.pk, "name": "Released 1000 to WMS", "event_type": "production_order.released",
                    "plant": "1000", "source": None, "conditions": {"material": "FG-100"}, "targets": ["WMS-EAST"],
                    "latency_class": "near_real_time", "priority": 0, "is_active": True, "version": 1}
    [version] = rule.versions.all()
    assert version.version == 1 and version.created_by == carol
    assert version.snapshot["targets"] == ["WMS-EAST"] and version.snapshot["plant"] == "1000"
    [entry] = audit_of(rule)
    assert entry.action == "create" and entry.after["targets"] == ["WMS-EAST"]


@pytest.mark.parametrize(("change", "pointer"), [
    ({"targets": ["NOPE"]}, "/targets/0"),
    ({"targets": ["WMS-EAST", "NOPE"]}, "/targets/1"),
    ({"plant": "9999"}, "/plant"),
    ({"event_type": "production_order.teleported"}, "/event_type"),
    ({"latency_class": "whenever"}, "/latency_class"),
    ({"conditions": ["material"]}, "/conditions"),
    ({"conditions": {"colour": "red"}}, "/conditions/colour"),
    ({"name": ""}, "/name"),
])
def test_invalid_rules_are_422_with_pointers(as_carol, plant_1000, wms_east, change, pointer):
    assert_problem(as_carol("post", "/api/v1/routing-rules", {**RULE, **change}), 422, pointer)
    assert not RoutingRule.objects.exists()


def test_rules_are_listed_and_filtered_by_event_type_and_plant(as_carol, released_to_wms_east, erp):
    shipping = RoutingRule.objects.create(name="Shipments to ERP", event_type="shipment.confirmed")
    shipping.targets.set([erp])

    def names(query=""):
        return {r["name"] for r in as_carol("get", f"/api/v1/routing-rules{query}").json()["results"]}

    assert names() == {"Released 1000 to WMS-EAST", "Released 2000 to WMS-EAST", "Shipments to ERP"}
    assert names("?event_type=shipment.confirmed") == {"Shipments to ERP"}
    assert names("?plant=2000") == {"Released 2000 to WMS-EAST"}
    assert names("?event_type=production_order.released&plant=1000") == {"Released 1000 to WMS-EAST"}


def test_a_rule_edit_bumps_its_version_and_keeps_the_old_one(as_carol, carol, plant_1000, wms_east, erp):
    rule_id = as_carol("post", "/api/v1/routing-rules", RULE).json()["id"]
    response = as_carol("patch", f"/api/v1/routing-rules/{rule_id}", {"targets": ["WMS-EAST", "ERP-S4"],
                                                                      "priority": 5})
    assert response.status_code == 200, response.content
    assert response.json()["version"] == 2 and response.json()["targets"] == ["ERP-S4", "WMS-EAST"]

    versions = as_carol("get", f"/api/v1/routing-rules/{rule_id}/versions").json()["results"]
    assert [v["version"] for v in versions] == [2, 1], "newest first"
    assert versions[0]["snapshot"]["targets"] == ["ERP-S4", "WMS-EAST"] and versions[0]["snapshot"]["priority"] == 5
    assert versions[1]["snapshot"]["targets"] == ["WMS-EAST"] and versions[1]["snapshot"]["priority"] == 0
    assert versions[0]["created_by"] == "carol"
    change = audit_of(RoutingRule.objects.get(pk=rule_id))[-1]
    assert change.action == "change"
    assert (change.before["version"], change.before["targets"]) == (1, ["WMS-EAST"])
    assert (change.after["version"], change.after["targets"]) == (2, ["ERP-S4", "WMS-EAST"])


def test_a_rule_delete_deactivates_it_as_a_new_version(as_carol, plant_1000, wms_east):
    rule_id = as_carol("post", "/api/v1/routing-rules", RULE).json()["id"]
    response = as_carol("delete", f"/api/v1/routing-rules/{rule_id}")
    assert response.status_code == 200 and response.json()["is_active"] is False and response.json()["version"] == 2
    rule = RoutingRule.objects.get(pk=rule_id)
    assert not rule.is_active and rule.versions.count() == 2
    assert audit_of(rule)[-1].action == "deactivate"


def test_versions_of_an_unknown_rule_are_404(as_carol):
    assert_problem(as_carol("get", "/api/v1/routing-rules/999999/versions"), 404)


# Value mappings, SLAs, maintenance windows --------------------------------------------------------


def test_value_mappings_are_created_filtered_edited_and_deleted_with_audit(as_carol, carol, erp, wms_east):
    created = as_carol("post", "/api/v1/value-mappings", {"system": "ERP-S4", "domain": "uom", "external_value": "PC",
                                                          "canonical_value": "EA"})
    assert created.status_code == 201, created.content
    as_carol("post", "/api/v1/value-mappings", {"system": "WMS-EAST", "domain": "location", "external_value": "B-01",
                                                "canonical_value": "0001"})
    listed = as_carol("get", "/api/v1/value-mappings?system=ERP-S4").json()["results"]
    assert [(m["system"], m["external_value"]) for m in listed] == [("ERP-S4", "PC")]
    assert [m["system"] for m in as_carol("get", "/api/v1/value-mappings?domain=location").json()["results"]] == [
        "WMS-EAST"]

    mapping_id = created.json()["id"]
    edited = as_carol("patch", f"/api/v1/value-mappings/{mapping_id}", {"canonical_value": "KG"})
    assert edited.status_code == 200 and edited.json()["canonical_value"] == "KG"
    assert as_carol("delete", f"/api/v1/value-mappings/{mapping_id}").status_code == 204
    assert not ValueMapping.objects.filter(pk=mapping_id).exists()
    entries = AuditEntry.objects.filter(object_type="integrations.valuemapping", object_id=str(mapping_id))
    trail = [(e.action, (e.before or {}).get("canonical_value"), (e.after or {}).get("canonical_value"))
             for e in entries.order_by("at", "id")]
    assert trail == [("create", None, "EA"), ("change", "EA", "KG"), ("delete", "KG", None)]
    assert all(e.actor == carol for e in entries)


@pytest.mark.parametrize(("body", "pointer"), [
    ({"system": "NOPE", "domain": "uom", "external_value": "PC", "canonical_value": "EA"}, "/system"),
    ({"system": "ERP-S4", "domain": "colour", "external_value": "PC", "canonical_value": "EA"}, "/domain"),
    ({"system": "ERP-S4", "domain": "uom", "external_value": "KG", "canonical_value": "EA"}, "/"),  # duplicate
])
def test_invalid_value_mappings_are_422(as_carol, erp, body, pointer):
    ValueMapping.objects.create(system=erp, domain="uom", external_value="KG", canonical_value="KG")
    assert_problem(as_carol("post", "/api/v1/value-mappings", body), 422, pointer)
    assert ValueMapping.objects.count() == 1


def test_slas_are_created_edited_and_deleted_with_audit(as_carol, plant_1000):
    created = as_carol("post", "/api/v1/slas", {"event_type": "material.issued", "latency_class": "near_real_time",
                                                "plant": "1000", "max_seconds": 60})
    assert created.status_code == 201, created.content
    assert created.json()["plant"] == "1000"
    sla = ServiceLevel.objects.get()
    assert as_carol("patch", f"/api/v1/slas/{sla.pk}", {"max_seconds": 30}).json()["max_seconds"] == 30
    assert as_carol("get", "/api/v1/slas").json()["results"][0]["max_seconds"] == 30
    assert as_carol("delete", f"/api/v1/slas/{sla.pk}").status_code == 204
    actions = list(AuditEntry.objects.filter(object_type="integrations.servicelevel").order_by("at", "id")
                   .values_list("action", flat=True))
    assert actions == ["create", "change", "delete"]


@pytest.mark.parametrize(("body", "pointer"), [
    ({"latency_class": "sometime", "max_seconds": 5}, "/latency_class"),
    ({"latency_class": "immediate", "max_seconds": -1}, "/max_seconds"),
    ({"latency_class": "immediate", "max_seconds": 5, "event_type": "nope.nope"}, "/event_type"),
    ({"latency_class": "immediate", "max_seconds": 5, "plant": "9999"}, "/plant"),
])
def test_invalid_slas_are_422(as_carol, body, pointer):
    assert_problem(as_carol("post", "/api/v1/slas", body), 422, pointer)


def test_a_weekly_window_is_created_and_a_bad_edit_refused_by_the_models_rules(as_carol, wms_east, plant_1000):
    created = as_carol("post", "/api/v1/maintenance-windows", {
        "name": "MES Sunday", "system": "WMS-EAST", "plant": "1000", "kind": "weekly", "weekday": 6,
        "start_time": "02:00:00", "duration_minutes": 120})
    assert created.status_code == 201, created.content
    window_id = created.json()["id"]
    # The model's clean(): a weekday past Sunday, then a one-off without its times.
    assert_problem(as_carol("patch", f"/api/v1/maintenance-windows/{window_id}", {"weekday": 9}), 422, "/weekday")
    assert_problem(as_carol("patch", f"/api/v1/maintenance-windows/{window_id}", {"duration_minutes": 99999999}), 422,
                   "/duration_minutes")
    assert_problem(as_carol("patch", f"/api/v1/maintenance-windows/{window_id}", {"kind": "one_off"}), 422, "/")
    window = MaintenanceWindow.objects.get()
    assert (window.kind, window.weekday) == ("weekly", 6), "a refused edit changes nothing"
    assert [e.action for e in audit_of(window)] == ["create"]


@pytest.mark.parametrize(("body", "pointer"), [
    ({"name": "nowhere", "kind": "one_off", "starts_at": "2026-12-01T00:00:00Z", "ends_at": "2026-12-01T02:00:00Z"},
     "/"),
    ({"name": "backwards", "system": "WMS-EAST", "kind": "one_off", "starts_at": "2026-12-01T04:00:00Z",
      "ends_at": "2026-12-01T02:00:00Z"}, "/"),
    ({"name": "vague", "system": "WMS-EAST", "kind": "weekly", "weekday": 6}, "/"),
    ({"name": "bad system", "system": "NOPE", "kind": "weekly", "weekday": 6, "start_time": "02:00",
      "duration_minutes": 60}, "/system"),
])
def test_invalid_windows_are_422(as_carol, wms_east, body, pointer):
    body = assert_problem(as_carol("post", "/api/v1/maintenance-windows", body), 422, pointer)
    assert body["errors"][0]["detail"]
    assert not MaintenanceWindow.objects.exists()


def test_a_one_off_window_is_edited_and_deleted_with_audit(as_carol, wms_east):
    window_id = as_carol("post", "/api/v1/maintenance-windows", {
        "name": "ERP period close", "system": "WMS-EAST", "kind": "one_off",
        "starts_at": "2026-12-31T18:00:00Z", "ends_at": "2027-01-01T06:00:00Z"}).json()["id"]
    edited = as_carol("patch", f"/api/v1/maintenance-windows/{window_id}", {"ends_at": "2027-01-01T08:00:00Z"})
    assert edited.status_code == 200, edited.content
    assert as_carol("delete", f"/api/v1/maintenance-windows/{window_id}").status_code == 204
    trail = AuditEntry.objects.filter(object_type="integrations.maintenancewindow").order_by("at", "id")
    assert [e.action for e in trail] == ["create", "change", "delete"]
    assert trail[1].before["ends_at"].startswith("2027-01-01T06:00") and trail[1].after["ends_at"].startswith(
        "2027-01-01T08:00")


def test_an_edit_that_changes_nothing_writes_no_audit(as_carol, config):
    as_carol("patch", f"/api/v1/value-mappings/{config['mapping'].pk}", {"canonical_value": "EA"})
    as_carol("patch", f"/api/v1/routing-rules/{config['rule'].pk}", {"targets": ["WMS-EAST"]})
    assert not AuditEntry.objects.exists()
    config["rule"].refresh_from_db()
    assert config["rule"].version == 1


# The rule tester -----------------------------------------------------------------------------------


def test_the_tester_answers_targets_and_stores_nothing(as_carol, erp, released_to_wms_east):
    response = as_carol("post", TEST_URL, released_event("1000000001", "1000"))
    assert response.status_code == 200, response.content
    rule = released_to_wms_east[0]
    assert response.json() == {"targets": [{"system": "WMS-EAST", "latency_class": "immediate",
                                            "rule": {"id": rule.pk, "name": rule.name, "version": 1}}],
                               "unrouted": False}
    assert not Transaction.objects.exists() and not QuarantinedMessage.objects.exists()


def test_the_tester_works_from_a_browser_session_with_its_csrf_token(carol, erp, released_to_wms_east):
    """As the Swagger page or the UI call it: a session and the CSRF header, CSRF checks on."""
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(carol)
    browser.get("/api/docs/")  # any page sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    for content_type in ("application/json", "application/cloudevents+json"):
        response = browser.post(TEST_URL, data=json.dumps(released_event("1000000001", "1000")),
                                content_type=content_type, HTTP_X_CSRFTOKEN=token)
        assert response.status_code == 200, response.content
        assert [t["system"] for t in response.json()["targets"]] == ["WMS-EAST"]
    refused = browser.post(TEST_URL, data=json.dumps(released_event()), content_type="application/json")
    assert refused.status_code == 403, "without the token, CSRF protection still refuses"


def test_the_tester_says_unrouted_when_no_rule_matches(as_carol, erp, plant_1000):
    assert as_carol("post", TEST_URL, released_event()).json() == {"targets": [], "unrouted": True}
    assert not Transaction.objects.exists()


@pytest.fixture
def rules(plant_1000, plant_2000, erp, wms_east):
    """An all-plant rule to the ERP, a plant-1000 rule to WMS and ERP, and a pump-only rule for plant 2000."""
    def rule(name, targets, latency, plant=None, **conditions):
        made = RoutingRule.objects.create(name=name, event_type="production_order.released", plant=plant,
                                          conditions=conditions, latency_class=latency)
        made.targets.set(targets)
        return made

    return {
        "all": rule("Every plant to ERP", [erp], LatencyClass.END_OF_DAY),
        "1000": rule("Plant 1000 to WMS and ERP", [wms_east, erp], LatencyClass.IMMEDIATE, plant_1000),
        "pumps": rule("Plant 2000 pumps to WMS", [wms_east], LatencyClass.NEAR_REAL_TIME, plant_2000,
                      material="FG-200"),
    }


def routes_from_tester(as_carol, event) -> set[tuple[str, str, str]]:
    body = as_carol("post", TEST_URL, event).json()
    assert body["unrouted"] is (not body["targets"])
    return {(t["system"], t["latency_class"], t["rule"]["name"]) for t in body["targets"]}


def routed(erp, event) -> set[tuple[str, str, str]]:
    """What the router really does with this event, received as ingest would store it."""
    tx = Transaction(correlation_id=event["id"], source=erp, source_message_id=event["id"], event_type=event["type"],
                     plant=Plant.objects.get(code=event["plant"]),
                     business_key=event["data"]["order_number"], raw_payload=event, canonical_payload=event["data"])
    tx.set_status("received", "test")
    tx.save()
    transactions_route_received()
    tx.refresh_from_db()
    return {(d.target.code, d.latency_class, tx.routing_rule.name if tx.routing_rule else "")
            for d in tx.deliveries.select_related("target")}


@pytest.mark.parametrize(("plant", "material", "expected"), [
    # Plant 1000: its own rule wins for the ERP over the all-plant rule.
    ("1000", "FG-100", {("WMS-EAST", "immediate", "Plant 1000 to WMS and ERP"),
                        ("ERP-S4", "immediate", "Plant 1000 to WMS and ERP")}),
    # Plant 2000, not a pump: only the all-plant rule.
    ("2000", "FG-100", {("ERP-S4", "end_of_day", "Every plant to ERP")}),
    # Plant 2000, a pump: the conditional plant rule adds the WMS.
    ("2000", "FG-200", {("WMS-EAST", "near_real_time", "Plant 2000 pumps to WMS"),
                        ("ERP-S4", "end_of_day", "Every plant to ERP")}),
])
def test_the_tester_gives_the_targets_the_router_uses(as_carol, erp, rules, plant, material, expected):
    event = released_event("1000000001", plant, material=material)
    assert routes_from_tester(as_carol, event) == expected
    assert not Transaction.objects.exists()
    # The router names only the best rule per transaction; compare targets and latency with what it does.
    assert {(s, lc) for s, lc, _ in routed(erp, event)} == {(s, lc) for s, lc, _ in expected}


def test_the_tester_follows_rule_edits_and_deactivation(as_carol, erp, rules):
    event = released_event("2000000001", "2000", material="FG-200")
    as_carol("patch", f"/api/v1/routing-rules/{rules['pumps'].pk}", {"conditions": {"material": "FG-300"}})
    assert routes_from_tester(as_carol, event) == {("ERP-S4", "end_of_day", "Every plant to ERP")}
    as_carol("delete", f"/api/v1/routing-rules/{rules['all'].pk}")
    assert as_carol("post", TEST_URL, event).json() == {"targets": [], "unrouted": True}


def test_the_tester_skips_inactive_targets(as_carol, erp, wms_east, released_to_wms_east):
    wms_east.is_active = False
    wms_east.save()
    assert as_carol("post", TEST_URL, released_event()).json()["unrouted"] is True


def test_the_tester_accepts_binary_mode(as_carol, erp, plant_1000):
    event = released_event()
    headers = {f"HTTP_CE_{k.upper()}": v for k, v in event.items() if k != "data"}
    response = as_carol("post", TEST_URL, event["data"], **headers)
    assert response.status_code == 200, response.content
    assert response.json()["unrouted"] is True


def ingest_errors(client, key, event) -> list[dict]:
    response = send(client, "post", "/api/v1/events", event, HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code in (400, 422), response.content
    return response.json()["errors"]


@pytest.mark.parametrize("breakage", [
    lambda e: e["data"].pop("material"),
    lambda e: e["data"].update(quantity={"value": -1, "uom": "EA"}),
    lambda e: e.pop("specversion"),
    lambda e: e.update(type="production_order.teleported"),
    lambda e: e.update(dataschema="https://controltower.dev/contracts/production_order.released/7"),
    lambda e: e.update(plant="9999"),
    lambda e: e.update(plant="2000"),  # contradicts data.plant
    lambda e: e.update(time="yesterday"),
])
def test_the_tester_refuses_invalid_events_with_ingests_pointers(client, carol, erp, erp_key, plant_1000,
                                                                 plant_2000, breakage):
    event = released_event()
    breakage(event)
    client.force_login(carol)
    tested = send(client, "post", TEST_URL, event)
    assert tested.status_code in (400, 422), tested.content
    assert tested["Content-Type"] == "application/problem+json"
    assert not QuarantinedMessage.objects.exists(), "the tester keeps nothing"
    client.logout()
    assert tested.json()["errors"] == ingest_errors(client, erp_key, event)
    assert not Transaction.objects.exists()


def test_the_tester_needs_a_known_source_but_no_key(as_carol, erp, plant_1000):
    assert_problem(as_carol("post", TEST_URL, {**released_event(), "source": "ERP-GHOST"}), 422, "/source")
    assert_problem(as_carol("post", TEST_URL, {**released_event(), "source": 42}), 422, "/source")
    assert not ApiKey.objects.exists() and as_carol("post", TEST_URL, released_event()).status_code == 200


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"an event"'])
def test_the_tester_refuses_what_is_not_a_json_object_with_400(as_carol, erp, raw):
    assert_problem(as_carol("post", TEST_URL, raw), 400, "/")
    assert not QuarantinedMessage.objects.exists()


def test_openapi_schema_describes_the_configuration_endpoints(client):
    schema = client.get("/api/schema/?format=json").json()
    paths = schema["paths"]
    for path in ("/api/v1/systems", "/api/v1/systems/{code}", "/api/v1/routing-rules",
                 "/api/v1/routing-rules/{id}", "/api/v1/routing-rules/{id}/versions", "/api/v1/routing-rules/test",
                 "/api/v1/value-mappings", "/api/v1/value-mappings/{id}", "/api/v1/slas", "/api/v1/slas/{id}",
                 "/api/v1/maintenance-windows", "/api/v1/maintenance-windows/{id}"):
        assert path in paths, path
    assert "put" not in paths["/api/v1/systems/{code}"]
    assert "409" in paths["/api/v1/systems/{code}"]["delete"]["responses"]
    assert "422" in paths["/api/v1/routing-rules"]["post"]["responses"]
    test_response = paths["/api/v1/routing-rules/test"]["post"]["responses"]["200"]
    assert test_response["content"]["application/json"]["schema"]["$ref"].endswith("/RoutingTestResult")


def test_superusers_count_as_integration_admins(client, db, erp):
    client.force_login(User.objects.create_superuser("root", password="pw"))
    assert client.get("/api/v1/systems").status_code == 200


@pytest.mark.parametrize("url", ["/api/v1/systems", "/api/v1/routing-rules", "/api/v1/value-mappings",
                                 "/api/v1/slas", "/api/v1/maintenance-windows"])
def test_lists_take_the_same_number_of_queries_however_long(as_carol, config, django_assert_max_num_queries,
                                                             plant_2000, wms_east, erp, url):
    with CaptureQueriesContext(connection) as one:
        assert as_carol("get", url).status_code == 200
    for n in range(4):
        system = System.objects.create(code=f"MES-{n}", name="m", kind="MES", adapter="m")
        system.plants.set([plant_2000])
        rule = RoutingRule.objects.create(name=f"r{n}", event_type="material.issued", plant=plant_2000)
        rule.targets.set([wms_east, erp])
        ValueMapping.objects.create(system=system, domain="uom", external_value="PC", canonical_value="EA")
        ServiceLevel.objects.create(latency_class="immediate", plant=plant_2000, max_seconds=n + 1)
        MaintenanceWindow.objects.create(name=f"w{n}", system=system, plant=plant_2000, kind="weekly", weekday=n,
                                         start_time="01:00", duration_minutes=30)
    with django_assert_max_num_queries(len(one)):
        assert len(as_carol("get", url).json()["results"]) >= 5


def test_a_rule_for_one_sender_and_no_target_records_only(client, carol, plant_1000, erp):
    client.force_login(carol)
    response = client.post("/api/v1/routing-rules", content_type="application/json", data={
        "name": "MES consumption is information only", "event_type": "material.issued", "plant": "1000",
        "source": "ERP-S4", "targets": [], "latency_class": "near_real_time"})
    assert response.status_code == 201, response.content
    assert response.json()["source"] == "ERP-S4" and response.json()["targets"] == []
    unknown = client.post("/api/v1/routing-rules", content_type="application/json", data={
        "name": "x", "event_type": "material.issued", "source": "NOPE", "targets": []})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["pointer"] == "/source"


def test_a_one_off_window_without_an_offset_is_in_plant_time(as_carol, wms_east, plant_1000, plant_2000):
    """Planners write "Sunday 02:00" as the plant's clock shows it; an explicit offset is kept as sent."""
    for plant, sent, stored_utc in (("1000", "2026-12-06T02:00:00", "2026-12-06T01:00:00Z"),
                                    ("2000", "2026-12-06T02:00:00", "2026-12-06T07:00:00Z"),
                                    ("1000", "2026-12-06T02:00:00+00:00", "2026-12-06T02:00:00Z")):
        created = as_carol("post", "/api/v1/maintenance-windows", {
            "name": f"upgrade {plant}", "system": "WMS-EAST", "plant": plant, "kind": "one_off",
            "starts_at": sent, "ends_at": "2026-12-06T23:00:00+00:00"})
        assert created.status_code == 201, created.content
        assert created.json()["starts_at"] == stored_utc
