"""POST /api/v1/events: what a sending system sees, and what is kept when it is refused."""

import datetime as dt
import json
import uuid

import pytest

from integrations.models import ApiKey, QuarantinedMessage, System, Transaction
from integrations.services.ingest import derive_correlation_id
from tests.fixtures.events import released_event

URL = "/api/v1/events"


@pytest.fixture
def post(client, erp_key, plant_1000, plant_2000):
    def _post(body, *, key=erp_key, content_type="application/cloudevents+json", **headers):
        raw = body if isinstance(body, bytes | str) else json.dumps(body)
        auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
        return client.post(URL, data=raw, content_type=content_type, **auth, **headers)

    return _post


def assert_problem(response, status: int, pointer: str | None = None):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["title"] and body["type"].startswith("https://")
    if pointer is not None:
        assert pointer in [e["pointer"] for e in body["errors"]], body["errors"]
    return body


def test_a_new_event_is_stored_and_the_router_rung(post, django_capture_on_commit_callbacks):
    event = released_event("1000000042")
    with django_capture_on_commit_callbacks() as callbacks:
        response = post(event)
    assert response.status_code == 202
    body = response.json()
    tx = Transaction.objects.get(pk=body["transaction_id"])
    assert body == {"transaction_id": str(tx.pk), "correlation_id": tx.correlation_id, "status": "received",
                    "duplicate": False, "content_differs": False}
    assert (tx.source.code, tx.source_message_id, tx.business_key, tx.plant.code) == (
        "ERP-S4", event["id"], "1000000042", "1000")
    assert tx.correlation_id == derive_correlation_id("1000", "1000000042")
    assert tx.raw_payload == event and tx.canonical_payload == event["data"]
    assert len(callbacks) == 1, "one wake-up for the router after commit"


def test_the_same_event_twice_gives_one_transaction(post):
    event = released_event()
    first, second = post(event), post(event)
    assert first.status_code == 202 and second.status_code == 200
    assert second.json()["duplicate"] is True
    assert second.json()["transaction_id"] == first.json()["transaction_id"]
    assert Transaction.objects.count() == 1


def test_a_sent_correlation_id_is_kept_and_shared_by_the_order_thread(post):
    sent = post({**released_event("1000000001"), "correlationid": "corr-from-erp-17"}).json()
    derived_a = post(released_event("1000000002")).json()
    derived_b = post(released_event("1000000002", material="FG-200")).json()
    assert sent["correlation_id"] == "corr-from-erp-17"
    assert derived_a["correlation_id"] == derived_b["correlation_id"] != sent["correlation_id"]


def test_binary_mode_with_ce_headers_is_accepted(post):
    event = released_event()
    headers = {f"HTTP_CE_{k.upper()}": v for k, v in event.items() if k != "data"}
    response = post(event["data"], content_type="application/json", **headers)
    assert response.status_code == 202, response.content
    assert Transaction.objects.get().source_message_id == event["id"]


def test_malformed_json_is_400_and_quarantined(post):
    body = assert_problem(post(b'{"specversion": "1.0", "id": '), 400, "/")
    assert "line 1" in body["errors"][0]["detail"]
    kept = QuarantinedMessage.objects.get()
    assert (kept.http_status, kept.raw_body, kept.source.code) == (400, '{"specversion": "1.0", "id": ', "ERP-S4")
    assert Transaction.objects.count() == 0


def test_a_missing_data_field_is_422_naming_it(post):
    event = released_event()
    del event["data"]["material"]
    body = assert_problem(post(event), 422, "/data/material")
    assert "'material' is required" in json.dumps(body["errors"])
    kept = QuarantinedMessage.objects.get()
    assert kept.errors == body["errors"] and json.loads(kept.raw_body) == event


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        (lambda e: e["data"].update(scheduled_start="tomorrow morning"), "/data/scheduled_start"),
        (lambda e: e["data"]["quantity"].update(value=-5), "/data/quantity/value"),
        (lambda e: e["data"]["components"][0].pop("uom"), "/data/components/0/uom"),
        (lambda e: e.pop("specversion"), "/specversion"),
        (lambda e: e.update(specversion="0.3"), "/specversion"),
        (lambda e: e.update(type="production_order.teleported"), "/type"),
        (lambda e: e.update(dataschema="https://controltower.dev/contracts/production_order.released/9"),
         "/dataschema"),
        (lambda e: e.update(plant="9999"), "/plant"),
        (lambda e: e.update(plant="2000"), "/plant"),  # the data says 1000
    ],
)
def test_schema_violations_are_422_with_a_pointer(post, change, pointer):
    event = released_event()
    change(event)
    assert_problem(post(event), 422, pointer)
    assert QuarantinedMessage.objects.get().http_status == 422


def test_a_body_over_the_limit_is_413_and_its_start_is_kept(post, settings):
    event = released_event(notes="x" * (settings.MAX_MESSAGE_BYTES + 10))
    raw = json.dumps(event)
    assert_problem(post(raw), 413)
    kept = QuarantinedMessage.objects.get()
    assert kept.body_size == len(raw) and 0 < len(kept.raw_body) < len(raw)
    assert Transaction.objects.count() == 0


@pytest.mark.parametrize("key", [None, "ct_0000_not-a-key", "Basic abc"])
def test_no_or_unknown_key_is_401_and_not_stored(post, key):
    response = post(released_event(), key=key)
    assert_problem(response, 401)
    assert response["WWW-Authenticate"] == "Bearer"
    assert QuarantinedMessage.objects.count() == 0 and Transaction.objects.count() == 0


def test_a_revoked_key_is_refused(post, erp):
    _, raw = ApiKey.issue(erp)
    ApiKey.issue(erp, revoke_others=True)
    assert_problem(post(released_event(), key=raw), 401)


def test_a_key_of_one_system_cannot_send_as_another(post, wms_east):
    _, wms_key = ApiKey.issue(wms_east)
    body = assert_problem(post(released_event(), key=wms_key), 403, "/source")
    assert "WMS-EAST" in body["detail"]
    assert QuarantinedMessage.objects.get().source == wms_east


def test_people_cannot_post_events(client, carol, plant_1000):
    client.force_login(carol)
    response = client.post(URL, data=json.dumps(released_event()), content_type="application/json")
    assert response.status_code in (401, 403)
    assert Transaction.objects.count() == 0


def test_quarantine_is_listed_for_integration_admins_only(client, post, alice, carol):
    post(b"not json")
    client.force_login(alice)
    assert client.get("/api/v1/quarantine").status_code == 403
    client.force_login(carol)
    rows = client.get("/api/v1/quarantine").json()["results"]
    assert [(r["http_status"], r["raw_body"], r["source"]) for r in rows] == [(400, "not json", "ERP-S4")]


def test_contracts_are_served(client):
    response = client.get("/api/v1/contracts/production_order.released/1")
    assert response.status_code == 200
    assert "order_number" in response.json()["required"]
    assert client.get("/api/v1/contracts/production_order.released/7").status_code == 404
    assert client.get("/api/v1/contracts/..%2Fsettings/1").status_code == 404


def test_openapi_schema_describes_the_ingest_endpoint(client):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    ingest = schema["paths"]["/api/v1/events"]["post"]
    assert {"202", "200", "400", "401", "403", "413", "422"} <= set(ingest["responses"])
    assert ingest["security"] == [{"systemApiKey": []}]
    assert schema["components"]["securitySchemes"]["systemApiKey"]["scheme"] == "bearer"


def test_unknown_system_in_source_with_valid_key_still_403(post):
    event = released_event()
    event["source"] = f"ERP-{uuid.uuid4().hex[:6]}"
    assert_problem(post(event), 403, "/source")
    assert System.objects.filter(code=event["source"]).count() == 0


@pytest.mark.parametrize(("sent", "stored"), [
    ("2026-11-23t08:00:00z", "2026-11-23T08:00:00+00:00"),
    ("2026-11-23T08:00:00.123456789+01:00", "2026-11-23T07:00:00.123456+00:00"),
])
def test_every_rfc3339_time_is_understood(post, sent, stored):
    response = post({**released_event(), "time": sent})
    assert response.status_code == 202, response.content
    tx = Transaction.objects.get(pk=response.json()["transaction_id"])
    assert tx.source_time.astimezone(dt.UTC).isoformat() == stored


def _with(event: dict, path: str, value) -> dict:
    """A copy of `event` with the value at a /-separated path replaced."""
    copy = json.loads(json.dumps(event))
    *parents, last = path.split("/")
    target = copy
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    target[int(last) if isinstance(target, list) else last] = value
    return copy


@pytest.mark.parametrize(("body", "status", "pointer"), [
    pytest.param(json.dumps(released_event()).replace('"value": 50', '"value": NaN'), 400, "/", id="NaN"),
    pytest.param(json.dumps(released_event()).replace('"value": 50', '"value": -Infinity'), 400, "/", id="Infinity"),
    pytest.param(json.dumps(released_event()).replace('"value": 50', '"value": 1e400'), 400, "/", id="1e400"),
    pytest.param(json.dumps(released_event()).replace('"value": 50', '"value": ' + "9" * 5000), 400, "/",
                 id="5000 digits"),
    pytest.param(json.dumps(released_event()).replace('"value": 50', '"value": ' + "[" * 100_000 + "]" * 100_000),
                 400, "/", id="nested 100000 deep"),
    pytest.param(json.dumps(released_event()).encode("utf-16"), 400, "/", id="UTF-16"),
    pytest.param(_with(released_event(), "data/material", "FG\u0000100"), 422, "/data/material", id="NUL in data"),
    pytest.param(_with(released_event(), "id", "ERP-S4-\u0000"), 422, "/id", id="NUL in id"),
    pytest.param(_with(released_event(), "data/components/0/material", "RM-\ud800"), 422,
                 "/data/components/0/material", id="lone surrogate"),
    pytest.param(_with(released_event(), "data/quantity/value", 1e308), 422, "/data/quantity/value",
                 id="1e308 quantity"),
    pytest.param(_with(released_event(), "time", "0001-01-01T00:00:00+14:00"), 422, "/time", id="year 0 in UTC"),
    pytest.param(_with(released_event(), "time", "9999-12-31T23:59:59-14:00"), 422, "/time", id="year 10000 in UTC"),
    pytest.param(_with(released_event(), "time", "2026-11-23T08:00:00-23:59"), 422, "/time", id="offset -23:59"),
    pytest.param(_with(released_event(), "time", "2016-12-31T23:59:60Z"), 422, "/time", id="leap second"),
])
def test_what_postgresql_cannot_store_is_refused_with_a_pointer_and_kept(post, body, status, pointer):
    """A value the database cannot keep must never be accepted (it would fail every later read) nor be a 500."""
    response = post(body)
    assert_problem(response, status, pointer)
    assert not Transaction.objects.exists()
    raw = body if isinstance(body, bytes) else (body if isinstance(body, str) else json.dumps(body)).encode()
    kept = QuarantinedMessage.objects.get()
    assert kept.http_status == status and kept.body_size == len(raw)


def test_a_batch_with_one_unstorable_item_still_stores_the_good_one(client, erp_key, plant_1000):
    good, bad = released_event("4711"), _with(released_event("4712"), "data/material", "FG\u0000")
    response = client.post("/api/v1/events/batch", data=json.dumps([good, bad]),
                           content_type="application/cloudevents-batch+json", HTTP_AUTHORIZATION=f"Bearer {erp_key}")
    assert response.status_code == 200
    assert [r["status"] for r in response.json()["results"]] == [202, 422]
    assert Transaction.objects.get().source_message_id == good["id"]
    assert QuarantinedMessage.objects.get().errors[0]["pointer"] == "/data/material"


def test_a_system_cannot_send_for_a_plant_it_does_not_serve(client, wms_east, plant_1000, plant_2000):
    from controltower.models import Plant

    Plant.objects.create(code="3000", name="Plant 3000", time_zone="Europe/Berlin")
    wms_east.plants.set([plant_1000, plant_2000])
    event = {**released_event("4711", plant="3000"), "source": "WMS-EAST", "id": f"WMS-EAST-{uuid.uuid4()}"}
    response = client.post(URL, data=json.dumps(event), content_type="application/cloudevents+json",
                           HTTP_AUTHORIZATION=f"Bearer {ApiKey.issue(wms_east)[1]}")
    body = assert_problem(response, 422, "/plant")
    assert "WMS-EAST does not serve plant 3000" in body["detail"]
    assert "1000, 2000" in body["errors"][0]["detail"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/x-www-form-urlencoded", ""])
def test_a_body_that_is_not_declared_json_is_415_and_kept(post, content_type):
    assert_problem(post(released_event(), content_type=content_type), 415, "/")
    assert QuarantinedMessage.objects.get().http_status == 415 and not Transaction.objects.exists()


def test_json_with_a_charset_parameter_is_fine(post):
    assert post(released_event(), content_type="application/cloudevents+json; charset=utf-8").status_code == 202


def test_structured_mode_ignores_ce_headers(post):
    """CloudEvents HTTP binding: with a cloudevents Content-Type, the body is the event; headers do not override it."""
    response = post(released_event(), HTTP_CE_SPECVERSION="1.0", HTTP_CE_SOURCE="MES-P1000")
    assert response.status_code == 202, response.content


def test_binary_mode_percent_decodes_header_values(post):
    event = released_event()
    headers = {"HTTP_CE_SPECVERSION": "1.0", "HTTP_CE_ID": "ERP-S4-%E2%82%AC-1", "HTTP_CE_SOURCE": "ERP-S4",
               "HTTP_CE_TYPE": event["type"], "HTTP_CE_TIME": event["time"], "HTTP_CE_PLANT": "1000"}
    assert post(event["data"], content_type="application/json", **headers).status_code == 202
    assert Transaction.objects.get().source_message_id == "ERP-S4-€-1"


def test_a_batch_item_over_the_message_limit_is_413_beside_the_others(client, erp_key, plant_1000, settings):
    settings.MAX_MESSAGE_BYTES = 4096
    big = released_event("4711", pad="x" * 5000)
    response = client.post("/api/v1/events/batch", data=json.dumps([big, released_event("4712")]),
                           content_type="application/cloudevents-batch+json", HTTP_AUTHORIZATION=f"Bearer {erp_key}")
    assert [r["status"] for r in response.json()["results"]] == [413, 202]
    assert QuarantinedMessage.objects.get().http_status == 413


def test_a_batch_that_is_not_declared_json_is_415(client, erp_key, plant_1000):
    response = client.post("/api/v1/events/batch", data=json.dumps([released_event()]), content_type="text/plain",
                           HTTP_AUTHORIZATION=f"Bearer {erp_key}")
    assert_problem(response, 415, "/")


@pytest.mark.parametrize("dataschema", ["https://controltower.dev/contracts/production.completed/1",
                                        "https://controltower.dev/contracts/production_order.released/",
                                        "https://example.com/schemas/released.json"])
def test_a_dataschema_must_name_this_events_contract(post, dataschema):
    body = assert_problem(post({**released_event(), "dataschema": dataschema}), 422, "/dataschema")
    assert "production_order.released" in body["detail"]


def test_a_dataschema_naming_the_contract_is_accepted(post):
    event = {**released_event(), "dataschema": "https://controltower.dev/contracts/production_order.released/1"}
    assert post(event).status_code == 202


def test_ce_headers_without_specversion_are_told_what_is_missing(post):
    event = released_event()
    response = post(event["data"], content_type="application/json", HTTP_CE_ID="ERP-S4-1", HTTP_CE_SOURCE="ERP-S4",
                    HTTP_CE_TYPE=event["type"])
    assert "ce-specversion" in assert_problem(response, 422, "/")["errors"][0]["detail"]


def test_a_resend_with_the_same_id_but_other_content_is_not_applied_and_is_kept(post):
    """Idempotency keeps the first copy; a "correction" sent under the same id must not vanish silently."""
    event = released_event("1000000042")
    assert post(event).status_code == 202
    same = post(event)
    assert same.status_code == 200 and same.json()["content_differs"] is False
    assert not QuarantinedMessage.objects.exists(), "an identical resend is plain idempotency"

    changed = post({**event, "data": {**event["data"], "quantity": {"value": 99, "uom": "EA"}}})

    assert changed.status_code == 200
    assert (changed.json()["duplicate"], changed.json()["content_differs"]) == (True, True)
    assert Transaction.objects.get().canonical_payload["quantity"]["value"] == 50, "the first copy stands"
    kept = QuarantinedMessage.objects.get()
    assert kept.errors[0]["pointer"] == "/id" and '"value": 99' in kept.raw_body


def test_a_batch_flags_the_copy_that_differs(client, erp_key, plant_1000):
    event = released_event("1000000042")
    other = {**event, "data": {**event["data"], "material": "FG-200"}}
    response = client.post("/api/v1/events/batch", data=json.dumps([event, event, other]),
                           content_type="application/cloudevents-batch+json", HTTP_AUTHORIZATION=f"Bearer {erp_key}")
    flags = [(r["status"], r["content_differs"]) for r in response.json()["results"]]
    assert flags == [(202, False), (200, False), (200, True)]
    assert QuarantinedMessage.objects.get().endpoint == "/api/v1/events/batch#2"
