"""Value mappings: the ERP's PC becomes canonical EA; an unmapped unit waits for a person, then flows."""

import uuid

import httpx
import pytest

from exceptions_queue.models import ExceptionCase
from integrations.models import Delivery, Transaction, ValueMapping
from integrations.services.configuration import value_mapping_save
from integrations.services.delivery import outbound_event
from integrations.services.routing import transactions_route_received
from tests.fixtures.events import released_event
from tests.fixtures.pipeline import wait_until


def add_mapping(erp, actor) -> ValueMapping:
    return value_mapping_save(mapping=ValueMapping(system=erp), actor=actor,
                              fields={"domain": "uom", "external_value": "PC", "canonical_value": "EA"})


@pytest.fixture
def receive(erp, plant_1000, released_to_wms_east):
    def _receive(order_number: str, uom: str = "PC") -> Transaction:
        event = released_event(order_number, components=[{"material": "RM-210", "quantity": 4, "uom": uom}])
        tx = Transaction(correlation_id=order_number, source=erp, source_message_id=str(uuid.uuid4()),
                         event_type=event["type"], plant=plant_1000, business_key=order_number,
                         raw_payload=event, canonical_payload=event["data"])
        tx.set_status("received", "test")
        tx.save()
        return tx

    return _receive


def test_an_unmapped_unit_parks_the_messages_behind_one_exception(receive):
    first, second = receive("1000000001"), receive("1000000002")
    transactions_route_received()
    first.refresh_from_db()
    assert (first.status, first.waiting_for) == ("parked", "mapping:ERP-S4:uom:PC")
    assert "waits for a uom mapping of 'PC' from ERP-S4 (at /data/components/0/uom)" in first.history[-1]["note"]
    assert not Delivery.objects.exists(), "nothing is sent in a unit the targets may not know"
    [exception] = ExceptionCase.objects.filter(category="mapping")
    assert (exception.title, exception.occurrences, exception.role) == (
        "No uom mapping for 'PC' from ERP-S4", 2, "integration_admin")
    second.refresh_from_db()
    assert second.status == "parked"


def test_adding_the_mapping_reprocesses_every_waiting_message(receive, erp, carol,
                                                              django_capture_on_commit_callbacks):
    waiting = [receive("1000000001"), receive("1000000002")]
    other = receive("1000000003", uom="KG")
    transactions_route_received()
    with django_capture_on_commit_callbacks() as callbacks:
        mapping = add_mapping(erp, carol)
    assert Transaction.objects.filter(status="received").count() == 2
    assert len(callbacks) == 1, "the router is rung once for all of them"
    assert ExceptionCase.objects.get(category="mapping").status == "resolved"
    assert transactions_route_received() == 2
    for tx in waiting:
        tx.refresh_from_db()
        assert tx.status == "routed" and tx.waiting_for == ""
        assert tx.canonical_payload["components"][0]["uom"] == "EA"
        assert tx.raw_payload["data"]["components"][0]["uom"] == "PC", "what the ERP sent is kept as sent"
    other.refresh_from_db()
    assert other.status == "routed" and other.canonical_payload["components"][0]["uom"] == "KG"
    assert mapping.pk and carol.pk


def test_a_target_receives_its_own_vocabulary(receive, erp, wms_east):
    ValueMapping.objects.create(system=erp, domain="uom", external_value="PC", canonical_value="EA")
    ValueMapping.objects.create(system=wms_east, domain="material", external_value="SKU-210", canonical_value="RM-210")
    receive("1000000001")
    transactions_route_received()
    sent = outbound_event(Delivery.objects.select_related("transaction__plant", "transaction__source", "target").get())
    assert sent.data["components"] == [{"material": "SKU-210", "quantity": 4, "uom": "EA"}]


@pytest.mark.pipeline
@pytest.mark.django_db(transaction=True)
def test_unknown_uom_waits_then_every_waiting_order_is_delivered_once_mapped(tower, sandbox, erp, erp_key, carol):
    events = [released_event(f"70000{n:05d}", components=[{"material": "RM-210", "quantity": 2, "uom": "PC"}])
              for n in range(3)]
    ids = [httpx.post(f"{tower.url}/api/v1/events", json=e, headers={"Authorization": f"Bearer {erp_key}"},
                      timeout=10).json()["transaction_id"] for e in events]
    wait_until(lambda: Transaction.objects.filter(pk__in=ids, status="parked").count() == 3, what="parked")
    assert ExceptionCase.objects.get(category="mapping").occurrences == 3

    add_mapping(erp, carol)

    wait_until(lambda: Transaction.objects.filter(pk__in=ids, status="delivered").count() == 3, what="delivered")
    for delivery in Delivery.objects.filter(transaction_id__in=ids):
        [entry] = sandbox.ledger("WMS-EAST", idempotency_key=str(delivery.idempotency_key))
        assert entry["request"]["lines"][0]["unit"] == "EA"


def test_a_mapping_added_through_the_api_reprocesses_the_waiting_messages(client, receive, carol):
    waiting = receive("1000000001")
    transactions_route_received()
    client.force_login(carol)
    response = client.post("/api/v1/value-mappings", content_type="application/json",
                           data={"system": "ERP-S4", "domain": "uom", "external_value": "PC", "canonical_value": "EA"})
    assert response.status_code == 201, response.content
    waiting.refresh_from_db()
    assert waiting.status == "received" and "added: reprocessing" in waiting.history[-1]["note"]


def test_an_inbound_alias_never_changes_what_is_sent_out(erp, carol):
    """The ERP writes PC; a second spelling ST is mapped to EA too. Outbound, EA must still be PC:
    otherwise every posting to the ERP would suddenly carry a unit it does not know."""
    from integrations.services.mapping import data_localize

    add_mapping(erp, carol)
    alias = value_mapping_save(mapping=ValueMapping(system=erp), actor=carol,
                               fields={"domain": "uom", "external_value": "ST", "canonical_value": "EA"})
    assert alias.outbound is False
    assert data_localize({"uom": "EA"}, erp) == {"uom": "PC"}

    value_mapping_save(mapping=alias, actor=carol, fields={"outbound": True})  # chosen explicitly: it takes over
    assert data_localize({"uom": "EA"}, erp) == {"uom": "ST"}
    assert list(ValueMapping.objects.filter(outbound=True).values_list("external_value", flat=True)) == ["ST"]


def test_a_unit_mapping_must_name_a_canonical_unit(client, erp, carol):
    client.force_login(carol)
    response = client.post("/api/v1/value-mappings", {"system": "ERP-S4", "domain": "uom", "external_value": "PCX",
                                                      "canonical_value": "NOT-A-CANONICAL-UNIT"},
                           content_type="application/json")
    assert response.status_code == 422 and response.json()["errors"][0]["pointer"] == "/canonical_value"


def test_map_value_takes_only_a_text(client, receive, carol):
    receive("1000000001")
    transactions_route_received()
    exception = ExceptionCase.objects.get(category="mapping")
    client.force_login(carol)
    response = client.post(f"/api/v1/exceptions/{exception.pk}/map_value", data={"canonical_value": {"a": 1}},
                           content_type="application/json")
    assert response.status_code == 422 and response.json()["errors"][0]["pointer"] == "/canonical_value"
    assert not ValueMapping.objects.exists()
