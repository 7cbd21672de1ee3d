"""An SAP S/4HANA–shaped ERP: postings out as OData V2 JSON, production orders in.

Outbound, each canonical event becomes one S/4 request (field names of the public APIs):

| canonical event | S/4 request | what it posts |
|---|---|---|
| material.issued | API_MATERIAL_DOCUMENT_SRV A_MaterialDocumentHeader, GoodsMovementCode 03 | one item, GoodsMovementType 261 to the order (GoodsMovementRefDocType F) from `location` |
| goods.received with order_number | same, code 02 | 101, receipt from the order into `location` |
| goods.received without order_number | same, code 05 | 501, receipt without an order into `location` |
| production.completed | same, code 02 | 101 of `quantity_good`, no StorageLocation: S/4 takes the order's receiving storage location; scrap is confirmed by operation.completed, not received |
| quality.hold_placed | same, code 04 | 344, one item per storage location holding unrestricted-use stock of the lot |
| quality.hold_released | same, code 04 | 343, one item per storage location holding blocked stock of the lot |
| operation.completed | API_PROD_ORDER_CONFIRMATION_2_SRV ProdnOrdConf2 | a final confirmation (FinalConfirmationType 1) of yield and scrap |
| inventory.snapshot | ZCT_STOCK_SNAPSHOT_SRV StockSnapshot (custom) | the counts, kept for reconciliation |

Quantities go as OData decimals (strings), units as the data names them: the tower has already
put the data into the ERP's vocabulary (EA → PC, bin → storage location) with value mappings.
Dates are OData V2 JSON, ``/Date(ms)/``: PostingDate and DocumentDate are today in the plant's
time zone. Receipts name the document: "4900000123/2026" (number/year) for a material document,
"0000001234/00000001" (group/counter) for a confirmation, the snapshot id for a snapshot.

Quality holds carry no quantity, and S/4 needs one on every item: the connector reads the lot's
stock (API_MATERIAL_STOCK_SRV A_MatlStkInAcctMod) and moves all of it, so the document says what
was blocked. No such stock is a transient failure (the receipt of the lot may still be on its
way); it becomes an exception when the retries run out.

A physical inventory document (API_PHYSICAL_INVENTORY_DOC_SRV) would make the ERP count and then
post differences, which is its owners' decision, not the tower's; so a snapshot goes to a custom
service that keeps the counts beside the ERP's stock.

**Exactly once.** S/4 has no idempotency header. Each posting carries the tower's reference,
"CT" and the first 23 hex digits of the idempotency key, in a field S/4 keeps and can filter on
(MaterialDocumentHeaderText, 25 characters; ConfirmationText; SnapshotReference), and before
every post the connector looks that reference up: a document found is the answer, and nothing
is posted again. This is what makes a retry after a timeout safe when the ERP applied the first
post. It cannot see a post still in flight in the ERP; the retry backoff makes that unlikely.
The Idempotency-Key header is sent as well, for ERPs (and the sandbox) that honour it. The
correlation ID goes into each item's text (MaterialDocumentItemText, 50 characters).

**Errors.** An OData error is turned into a ConnectorError whose message is S/4's own
(``error.message.value``), e.g. "Order 1000000123 is not released" or "Deficit of SL
Unrestricted-use 10 PC : RM-210 1000 0001 BATCH1"; 4xx is permanent, 5xx transient.
Production orders belong to the ERP: sending it production_order.* is unsupported.

Inbound, ``parse_inbound`` reads S/4 production orders (A_ProductionOrder_2, alone, in a list,
or in an OData ``{"d": …}`` envelope) and makes one CloudEvent per order:

- OrderIsMarkedForDeletion or OrderIsDeleted → production_order.cancelled (status DLFL);
- OrderIsClosed → production_order.closed (CLSD);
- OrderIsTechnicallyCompleted → production_order.closed if any yield was confirmed or
  delivered, else production_order.cancelled: S/4 has no cancel, planners TECO an order they
  will not make (TECO);
- OrderIsReleased → production_order.released the first time the tower hears of the order's
  release from this ERP, production_order.changed (quantity, dates, priority as they are now)
  afterwards (REL);
- anything else (an order only created) → 422, naming the status fields.

The first rule that matches wins. Event ids are ``<system>-<order>-<status>-<LastChangeDateTime>``
(or a digest of the document when it has no change time), so a re-sent document is a duplicate.
Flags are OData booleans or S/4's "X". Start and end are the scheduled dates when given, else the
planned ones: an ISO date-time with an offset as it is; ``/Date(ms)/`` with a separate time
(``PT06H00M00S``) as plant-local date and time; ``/Date(ms)/`` alone as an instant. A component
is lot-controlled when it names a Batch or its custom field YY1_BatchManaged is true.
"""

import datetime as dt
import hashlib
import json
import re
import uuid
from decimal import Decimal, InvalidOperation

from django.utils import timezone

from integrations.connectors.base import Connector, ConnectorError, OutboundEvent, Receipt

ODATA = "/sap/opu/odata/sap"
MATERIAL_DOCUMENTS = f"{ODATA}/API_MATERIAL_DOCUMENT_SRV/A_MaterialDocumentHeader"
CONFIRMATIONS = f"{ODATA}/API_PROD_ORDER_CONFIRMATION_2_SRV/ProdnOrdConf2"
STOCK = f"{ODATA}/API_MATERIAL_STOCK_SRV/A_MatlStkInAcctMod"
SNAPSHOTS = f"{ODATA}/ZCT_STOCK_SNAPSHOT_SRV/StockSnapshot"

UNRESTRICTED, BLOCKED = "01", "07"  # InventoryStockType
FINAL_CONFIRMATION = "1"
REFERENCE_PREFIX = "CT"
REFERENCE_DIGITS = 23  # "CT" + 23 = 25, the length of MaterialDocumentHeaderText
ITEM_TEXT_CHARS = 50


def posting_reference(idempotency_key: str) -> str:
    """The tower's reference of one posting, short enough for S/4's header text (25 characters).

    The tower's keys are UUIDs: their first 23 hex digits (88 random bits) are as unique as the
    key for any ERP's lifetime, and a person can find the delivery by that prefix.
    """
    try:
        digits = uuid.UUID(idempotency_key).hex
    except ValueError:
        digits = hashlib.sha256(idempotency_key.encode()).hexdigest()
    return REFERENCE_PREFIX + digits[:REFERENCE_DIGITS].upper()


def odata_date(day: dt.date) -> str:
    """A date as OData V2 JSON: ``/Date(ms)/`` of midnight UTC, as S/4 writes its dates."""
    return f"/Date({int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)})/"


def odata_datetime(moment: dt.datetime) -> str:
    return f"/Date({int(moment.timestamp() * 1000)})/"


def decimal_text(value) -> str:
    """A quantity as an OData Edm.Decimal: a string, "120", "0.35"."""
    return format(Decimal(str(value)).normalize(), "f")


def literal(value: str) -> str:
    """A string literal for $filter, with OData's quote doubling."""
    return "'" + value.replace("'", "''") + "'"


def plant_today(plant_code: str) -> dt.date:
    """Today in the plant's time zone: the date S/4 posts on (UTC for a plant the tower does not know)."""
    from controltower.models import Plant

    plant = Plant.objects.filter(code=plant_code).first()
    return timezone.now().astimezone(plant.tz if plant else dt.UTC).date()


class ErpS4Connector(Connector):
    """Postings to an S/4HANA-shaped ERP, and its production orders in (see the module docstring)."""

    def deliver(self, event: OutboundEvent) -> Receipt:
        senders = {
            "material.issued": self._material_issued,
            "goods.received": self._goods_received,
            "production.completed": self._production_completed,
            "quality.hold_placed": self._hold_placed,
            "quality.hold_released": self._hold_released,
            "operation.completed": self._operation_completed,
            "inventory.snapshot": self._inventory_snapshot,
        }
        send = senders.get(event.event_type)
        if send is None:
            raise self.unsupported(event)
        return send(event)

    # Material documents ---------------------------------------------------------------------------

    def _material_document(self, event: OutboundEvent, movement_code: str, items: list[dict]) -> dict:
        today = plant_today(event.plant or event.data.get("plant", ""))
        for item in items:
            item["MaterialDocumentItemText"] = event.correlation_id[:ITEM_TEXT_CHARS]
        return {
            "GoodsMovementCode": movement_code,
            "PostingDate": odata_date(today),
            "DocumentDate": odata_date(today),
            "MaterialDocumentHeaderText": posting_reference(event.idempotency_key),
            "to_MaterialDocumentItem": {"results": items},
        }

    @staticmethod
    def _item(data: dict, movement_type: str, quantity: dict, *, location: str | None, order: str | None) -> dict:
        item = {"Material": data["material"], "Plant": data["plant"], "GoodsMovementType": movement_type,
                "QuantityInEntryUnit": decimal_text(quantity["value"]), "EntryUnit": quantity["uom"]}
        if location:
            item["StorageLocation"] = location
        if data.get("lot"):
            item["Batch"] = data["lot"]
        if order:
            item["ManufacturingOrder"] = order
            item["GoodsMovementRefDocType"] = "F"
        return item

    def _material_issued(self, event: OutboundEvent) -> Receipt:
        data = event.data
        item = self._item(data, "261", data["quantity"], location=data["location"], order=data["order_number"])
        return self._post_material_document(event, lambda: self._material_document(event, "03", [item]))

    def _goods_received(self, event: OutboundEvent) -> Receipt:
        data = event.data
        order = data.get("order_number")
        item = self._item(data, "101" if order else "501", data["quantity"], location=data["location"], order=order)
        return self._post_material_document(event, lambda: self._material_document(event, "02" if order else "05",
                                                                                   [item]))

    def _production_completed(self, event: OutboundEvent) -> Receipt:
        data = event.data
        item = self._item(data, "101", data["quantity_good"], location=None, order=data["order_number"])
        return self._post_material_document(event, lambda: self._material_document(event, "02", [item]))

    def _hold_placed(self, event: OutboundEvent) -> Receipt:
        return self._post_material_document(event, lambda: self._transfer_whole_lot(event, "344", UNRESTRICTED))

    def _hold_released(self, event: OutboundEvent) -> Receipt:
        return self._post_material_document(event, lambda: self._transfer_whole_lot(event, "343", BLOCKED))

    def _transfer_whole_lot(self, event: OutboundEvent, movement_type: str, from_stock: str) -> dict:
        """A transfer posting of all of the lot's stock of type ``from_stock``, per storage location."""
        data = event.data
        rows = self._query(STOCK, " and ".join([
            f"Plant eq {literal(data['plant'])}", f"Material eq {literal(data['material'])}",
            f"Batch eq {literal(data['lot'])}", f"InventoryStockType eq {literal(from_stock)}",
        ]))
        items = [
            {"Material": row["Material"], "Plant": row["Plant"], "StorageLocation": row["StorageLocation"],
             "Batch": row["Batch"], "GoodsMovementType": movement_type,
             "QuantityInEntryUnit": decimal_text(row["MatlWrhsStkQtyInMatlBaseUnit"]),
             "EntryUnit": row["MaterialBaseUnit"]}
            for row in rows if _decimal(row.get("MatlWrhsStkQtyInMatlBaseUnit")) > 0
        ]
        if not items:
            kind = "unrestricted-use" if from_stock == UNRESTRICTED else "blocked"
            raise ConnectorError(
                f"{self.system.code} has no {kind} stock of batch {data['lot']} of material {data['material']} "
                f"in plant {data['plant']} to {'block' if movement_type == '344' else 'release'}",
                permanent=False, error_class="nothing_to_post")
        return self._material_document(event, "04", items)

    def _post_material_document(self, event: OutboundEvent, body) -> Receipt:
        return self._post_once(event, MATERIAL_DOCUMENTS, "MaterialDocumentHeaderText", body,
                               lambda d: f"{d['MaterialDocument']}/{d['MaterialDocumentYear']}")

    # Confirmations and snapshots ------------------------------------------------------------------

    def _operation_completed(self, event: OutboundEvent) -> Receipt:
        data = event.data

        def body() -> dict:
            return {
                "OrderID": data["order_number"],
                "OrderOperation": data["operation"],
                "Sequence": "0",
                "Plant": data["plant"],
                "WorkCenter": data["work_center"],
                "ConfirmationYieldQuantity": decimal_text(data["yield"]["value"]),
                "ConfirmationScrapQuantity": decimal_text(data["scrap"]["value"]),
                "ConfirmationUnit": data["yield"]["uom"],
                "FinalConfirmationType": FINAL_CONFIRMATION,
                "PostingDate": odata_date(plant_today(data["plant"])),
                "ConfirmationText": posting_reference(event.idempotency_key),
            }

        if data["scrap"]["value"] and data["scrap"]["uom"] != data["yield"]["uom"]:
            raise ConnectorError(f"{self.system.code} takes yield and scrap in one unit, not "
                                 f"{data['yield']['uom']} and {data['scrap']['uom']}", permanent=True,
                                 error_class="unit_mismatch")
        return self._post_once(event, CONFIRMATIONS, "ConfirmationText", body,
                               lambda d: f"{d['ConfirmationGroup']}/{d['ConfirmationCount']}")

    def _inventory_snapshot(self, event: OutboundEvent) -> Receipt:
        data = event.data

        def body() -> dict:
            return {
                "Plant": data["plant"],
                "SnapshotDateTime": odata_datetime(dt.datetime.fromisoformat(data["as_of"])),
                "SnapshotReference": posting_reference(event.idempotency_key),
                "to_Item": {"results": [
                    {"Material": line["material"], "StorageLocation": line["location"], "Batch": line.get("lot", ""),
                     "Quantity": decimal_text(line["quantity"]["value"]), "Unit": line["quantity"]["uom"]}
                    for line in data["lines"]
                ]},
            }

        return self._post_once(event, SNAPSHOTS, "SnapshotReference", body, lambda d: d["SnapshotID"])

    # HTTP -----------------------------------------------------------------------------------------

    def _post_once(self, event: OutboundEvent, path: str, reference_field: str, body, reference_of) -> Receipt:
        """Find the posting by its reference; post it only if the ERP has none (module docstring).

        ``body`` is called only after the lookup, so what it reads (a lot's stock) is read after
        any earlier attempt has taken effect.
        """
        reference = posting_reference(event.idempotency_key)
        found = self._query(path, f"{reference_field} eq {literal(reference)}")
        if found:
            return Receipt(target_reference=reference_of(found[0]), http_status=200,
                           response_excerpt=f"already posted: {reference_field} {reference} found; not posted again. "
                                            + json.dumps(found[0])[:400])
        try:
            response = self.post(path, event=event, json=body(), headers={"Accept": "application/json"})
        except ConnectorError as error:
            raise self._with_sap_message(error, event) from error
        try:
            entity = response.json()["d"]
            target_reference = reference_of(entity)
        except (ValueError, KeyError, TypeError) as e:
            # The ERP may have posted: the retry's lookup finds out.
            raise ConnectorError(f"{self.system.code} answered {response.status_code} without a document: "
                                 f"{response.text[:300]}", permanent=False, http_status=response.status_code,
                                 response_excerpt=response.text, error_class="bad_response") from e
        return Receipt(target_reference=target_reference, http_status=response.status_code,
                       response_excerpt=response.text[:500])

    def _query(self, path: str, expression: str) -> list[dict]:
        """GET an OData entity set with ``$filter``; its results, or a ConnectorError as ``post`` raises."""
        try:
            response = self.request("GET", path, params={"$filter": expression, "$format": "json"},
                                    headers={"Accept": "application/json"})
        except ConnectorError as error:
            message = sap_message(error.response_excerpt)
            if not message:
                raise
            raise ConnectorError(f"{self.system.code} answered {error.http_status} to a lookup: {message}",
                                 permanent=error.permanent, http_status=error.http_status,
                                 response_excerpt=error.response_excerpt, error_class=error.error_class) from error
        try:
            return list(response.json()["d"]["results"])
        except (ValueError, KeyError, TypeError) as e:
            raise ConnectorError(f"{self.system.code} answered a lookup with no results: {response.text[:300]}",
                                 permanent=False, http_status=response.status_code,
                                 response_excerpt=response.text, error_class="bad_response") from e

    def _with_sap_message(self, error: ConnectorError, event: OutboundEvent) -> ConnectorError:
        """The same error, its message S/4's own words when the answer is an OData error."""
        message = sap_message(error.response_excerpt)
        if not message:
            return error
        verb = "rejected" if error.permanent else "could not post"
        return ConnectorError(f"{self.system.code} {verb} {event.event_type}: {message}",
                              permanent=error.permanent, http_status=error.http_status,
                              response_excerpt=error.response_excerpt, error_class=error.error_class)

    # Inbound --------------------------------------------------------------------------------------

    def parse_inbound(self, document) -> list[dict]:
        """CloudEvents for S/4 production orders (rules in the module docstring); 422 naming what is missing."""
        from controltower.api import Problem

        orders = _order_documents(document)
        if orders is None:
            raise Problem(422, "Unrecognised document", f"{self.system.code} ({self.system.adapter}) reads S/4 "
                          "production orders (A_ProductionOrder_2): an object, a list, or an OData {\"d\": …} "
                          "envelope of them.",
                          [{"pointer": "/", "detail": "expected an object with ManufacturingOrder, or a list of them"}],
                          slug="unrecognised-document")
        events, errors = [], []
        released_here: set[tuple[str, str]] = set()
        for pointer, order in orders:
            reader = _OrderReader(order, pointer)
            event = self._order_event(reader, released_here)
            if reader.errors:
                errors.extend(reader.errors)
            else:
                events.append(event)
        if errors:
            raise Problem(422, "Unrecognised production order", "The document is not an S/4 production order the "
                          "tower can turn into an event.", errors, slug="unrecognised-document")
        return events

    def _order_event(self, order: "_OrderReader", released_here: set) -> dict | None:
        number = order.text("ManufacturingOrder")
        plant = order.text("ProductionPlant")
        if order.errors:
            return None
        if order.flag("OrderIsMarkedForDeletion") or order.flag("OrderIsDeleted"):
            status, event_type = "DLFL", "production_order.cancelled"
            data = {"order_number": number, "plant": plant, "reason": "marked for deletion in the ERP"}
        elif order.flag("OrderIsClosed"):
            status, event_type = "CLSD", "production_order.closed"
            data = {"order_number": number, "plant": plant, "reason": "closed in the ERP"}
        elif order.flag("OrderIsTechnicallyCompleted"):
            status = "TECO"
            if order.has_output():
                event_type, reason = "production_order.closed", "technically completed in the ERP"
            else:
                event_type, reason = ("production_order.cancelled",
                                      "technically completed in the ERP before any yield was confirmed")
            data = {"order_number": number, "plant": plant, "reason": reason}
        elif order.flag("OrderIsReleased"):
            status = "REL"
            if (number, plant) in released_here or self._release_known(number, plant):
                event_type, data = "production_order.changed", self._changed_data(order, number, plant)
            else:
                event_type, data = "production_order.released", self._released_data(order, number, plant)
                released_here.add((number, plant))
        else:
            order.problem("/OrderIsReleased", f"order {number} is neither released, technically completed, closed "
                          "nor marked for deletion (OrderIsReleased, OrderIsTechnicallyCompleted, OrderIsClosed, "
                          "OrderIsMarkedForDeletion): there is nothing to tell")
            return None
        changed_at = order.change_time()
        stamp = changed_at.strftime("%Y%m%d%H%M%S") if changed_at else order.digest()
        event = {
            "specversion": "1.0",
            "id": f"{self.system.code}-{number}-{status}-{stamp}",
            "source": self.system.code,
            "type": event_type,
            "plant": plant,
            "businesskey": number,
            "datacontenttype": "application/json",
            "data": data,
        }
        if changed_at:
            event["time"] = changed_at.isoformat()
        return event

    def _release_known(self, number: str, plant: str) -> bool:
        """Whether the tower already has this ERP's release of the order, so a new version is a change.

        S/4 sends the whole order again on every change and nothing in it says "changed".
        """
        from integrations.models import Transaction

        return Transaction.objects.filter(source=self.system, event_type="production_order.released",
                                          business_key=number, plant__code=plant).exists()

    @staticmethod
    def _released_data(order: "_OrderReader", number: str, plant: str) -> dict:
        data = {"order_number": number, "plant": plant, "material": order.text("Material"),
                "quantity": order.quantity("MfgOrderPlannedTotalQty", "ProductionUnit"),
                "scheduled_start": order.moment("Start", plant, required=True)}
        end = order.moment("End", plant)
        if end:
            data["scheduled_end"] = end
        components = order.expanded("to_ProductionOrderComponent")
        if components is not None:
            data["components"] = [
                {"material": c.text("Material"), "quantity": c.number("RequiredQuantity"), "uom": c.text("BaseUnit"),
                 "lot_controlled": bool(c.raw.get("Batch")) or c.flag("YY1_BatchManaged")}
                for c in components
            ]
        operations = order.expanded("to_ProductionOrderOperation")
        if operations is not None:
            data["routing"] = [
                {"operation": op.text("ManufacturingOrderOperation", "OrderOperation"),
                 "work_center": op.text("WorkCenter")}
                for op in operations
            ]
        return data

    @staticmethod
    def _changed_data(order: "_OrderReader", number: str, plant: str) -> dict:
        data = {"order_number": number, "plant": plant,
                "quantity": order.quantity("MfgOrderPlannedTotalQty", "ProductionUnit")}
        for which, key in (("Start", "scheduled_start"), ("End", "scheduled_end")):
            moment = order.moment(which, plant)
            if moment:
                data[key] = moment
        importance = order.raw.get("ManufacturingOrderImportance")
        if isinstance(importance, str) and importance.isdigit():
            data["priority"] = int(importance)
        return data


def sap_message(text: str) -> str:
    """S/4's message from an OData error body (``error.message.value``, with its code), or ""."""
    try:
        error = json.loads(text)["error"]
        message = error["message"]
        value = message["value"] if isinstance(message, dict) else message
        code = error.get("code")
    except (ValueError, KeyError, TypeError):
        # A long body may be cut off in the excerpt; the message comes first in S/4's errors.
        match = re.search(r'"value"\s*:\s*"((?:[^"\\]|\\.)*)"', text or "")
        return json.loads(f'"{match[1]}"') if match else ""
    if not isinstance(value, str) or not value:
        return ""
    return f"{value} ({code})" if code else value


def _decimal(value) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return Decimal(0)


def _order_documents(document) -> list[tuple[str, dict]] | None:
    """(JSON pointer, order) for each order in the document, or None if it holds no object of orders."""
    base = ""
    if isinstance(document, dict) and isinstance(document.get("d"), dict | list):
        document, base = document["d"], "/d"
    if isinstance(document, dict) and isinstance(document.get("results"), list):
        document, base = document["results"], base + "/results"
    if isinstance(document, dict):
        return [(base, document)] if "ManufacturingOrder" in document else None
    if isinstance(document, list) and document and all(isinstance(o, dict) for o in document):
        return [(f"{base}/{i}", order) for i, order in enumerate(document)]
    return None


_ODATA_DATE = re.compile(r"/Date\((-?\d+)([+-]\d{4})?\)/")
_ODATA_TIME = re.compile(r"PT(\d{1,2})H(\d{1,2})M(\d{1,2})S")
_TRUE = (True, "X", "x", "true")


class _OrderReader:
    """Reads the fields of one S/4 order (or component, operation) and collects what is wrong."""

    def __init__(self, raw: dict, pointer: str, errors: list | None = None):
        self.raw = raw
        self.pointer = pointer
        self.errors: list[dict] = [] if errors is None else errors

    def problem(self, where: str, detail: str) -> None:
        self.errors.append({"pointer": self.pointer + where, "detail": detail})

    def text(self, *names: str) -> str:
        for name in names:
            value = self.raw.get(name)
            if isinstance(value, str) and value.strip():
                return value.strip()
        self.problem(f"/{names[0]}", f"{names[0]} is required: a non-empty string")
        return ""

    def flag(self, name: str) -> bool:
        return self.raw.get(name) in _TRUE

    def number(self, name: str) -> int | float:
        value = _decimal(self.raw.get(name)) if self.raw.get(name) is not None else Decimal(0)
        if value <= 0:
            self.problem(f"/{name}", f"{name} must be a decimal > 0")
            return 0
        return int(value) if value == value.to_integral_value() else float(value)

    def quantity(self, value_field: str, unit_field: str) -> dict:
        return {"value": self.number(value_field), "uom": self.text(unit_field)}

    def has_output(self) -> bool:
        confirmed = _decimal(self.raw.get("MfgOrderConfirmedYieldQty") or 0) > 0
        return confirmed or any(self.flag(name) for name in (
            "OrderIsConfirmed", "OrderIsPartiallyConfirmed", "OrderIsDelivered", "OrderIsPartiallyDelivered"))

    def moment(self, which: str, plant: str, *, required: bool = False) -> str | None:
        """The scheduled (else planned) start or end as ISO 8601 with an offset."""
        for kind in ("Scheduled", "Planned"):
            date_field, time_field = f"MfgOrder{kind}{which}Date", f"MfgOrder{kind}{which}Time"
            if self.raw.get(date_field) in (None, ""):
                continue
            moment = _moment(self.raw[date_field], self.raw.get(time_field), plant)
            if moment is None:
                self.problem(f"/{date_field}", f"{date_field} must be /Date(ms)/ or ISO 8601, with "
                             f"{time_field} as PThhHmmMssS if given")
                return None
            return moment.isoformat()
        if required:
            self.problem(f"/MfgOrderPlanned{which}Date", f"MfgOrderScheduled{which}Date or "
                         f"MfgOrderPlanned{which}Date is required")
        return None

    def change_time(self) -> dt.datetime | None:
        value = self.raw.get("LastChangeDateTime")
        if isinstance(value, str) and re.fullmatch(r"\d{14}(\.\d+)?", value):
            return dt.datetime.strptime(value[:14], "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)
        return _moment(value, None, "") if isinstance(value, str) else None

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.raw, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def expanded(self, navigation: str) -> list["_OrderReader"] | None:
        value = self.raw.get(navigation)
        if value is None:
            return None
        where = f"/{navigation}"
        if isinstance(value, dict):
            value, where = value.get("results"), f"{where}/results"
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.problem(f"/{navigation}", f"{navigation} must be a list of objects, or {{\"results\": [...]}}")
            return None
        return [_OrderReader(v, f"{self.pointer}{where}/{i}", self.errors) for i, v in enumerate(value)]


def _moment(date_value, time_value, plant: str) -> dt.datetime | None:
    """A date-time from S/4's date (``/Date(ms)/`` or ISO) and optional Edm.Time (plant-local)."""
    if not isinstance(date_value, str):
        return None
    match = _ODATA_DATE.fullmatch(date_value.strip())
    if match:
        moment = dt.datetime.fromtimestamp(int(match[1]) / 1000, tz=dt.UTC)
    else:
        try:
            moment = dt.datetime.fromisoformat(date_value.strip())
        except ValueError:
            return None
        if moment.tzinfo:
            return moment
    if time_value in (None, ""):
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    clock = _ODATA_TIME.fullmatch(time_value) if isinstance(time_value, str) else None
    if clock is None:
        return None
    from controltower.models import Plant

    known = Plant.objects.filter(code=plant).first()
    local = dt.datetime.combine(moment.date(), dt.time(int(clock[1]), int(clock[2]), int(clock[3])))
    return local.replace(tzinfo=known.tz if known else dt.UTC)
