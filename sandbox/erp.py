"""The simulated SAP S/4HANA: material documents, order confirmations, stock and snapshots, in S/4's words.

The ERP answers in OData V2 JSON, as S/4 does: a created entity as ``{"d": {...}}``, a query as
``{"d": {"results": [...]}}``, an error as ``{"error": {"code", "message": {"lang", "value"},
"innererror"}}``. Field names are those of the public APIs API_MATERIAL_DOCUMENT_SRV,
API_PROD_ORDER_CONFIRMATION_2_SRV, API_MATERIAL_STOCK_SRV and API_PRODUCTION_ORDER_2_SRV; the stock
snapshot is a custom service (ZCT_STOCK_SNAPSHOT_SRV), as a plant would build one for the tower.

Posting rules, the ones a real S/4 enforces that matter to the tower:

- Stock is kept per (plant, storage location, material, batch) as a ``Record`` of kind "stock",
  with unrestricted-use and blocked quantities, in the material's unit: the unit of its first
  stock. The ERP's units are its own (PC, KG…): EA is not one of them, so a posting in EA is
  refused ("Unit EA is not defined for material …"), as is a unit other than the material's.
- 261, goods issue to an order (GoodsMovementCode 03): the order must exist in this ERP, be
  released (REL) and belong to the item's plant; unrestricted-use stock must cover the quantity,
  else "Deficit of SL Unrestricted-use 10 PC : RM-210 1000 0001 BATCH1".
- 101, goods receipt from an order (02, GoodsMovementRefDocType "F"): the order must be released
  and the material must be the order's; without a StorageLocation the receipt goes where the
  order says, and every order of this ERP receives into storage location 0001. Adds
  unrestricted-use stock.
- 501, goods receipt without an order (05): adds unrestricted-use stock. This is how a lot the
  warehouse received becomes ERP stock.
- 344 (04): unrestricted-use to blocked; 343 (04): blocked to unrestricted-use. Both need the
  quantity in the stock they take from. S/4 needs a quantity on every item: the caller reads
  the stock (A_MatlStkInAcctMod) and names it.
- A document is all or nothing: one refused item refuses the whole document, and a refused
  request leaves no trace, so the sender may correct it and send it again with the same key.
- Confirmations: the order must be released, the operation must exist in its routing (every
  order of this ERP has operation 0010 at WC-<plant>-01, as its release event says) and not be
  finally confirmed yet; the unit must be the order's.
- Numbers come from number ranges: material documents 49xxxxxxxx per posting year, confirmation
  groups (one per order operation) with a counter, snapshot ids.
- Idempotency: a real S/4 has none, so the tower's connector looks its reference up before it
  posts. The sandbox also honours an ``Idempotency-Key`` header, like every simulated system:
  the same key again gets the first answer (200, ``Idempotent-Replayed: true``) and changes
  nothing. Without the header, every POST posts, as in S/4. Either way each posting is one
  ledger entry.

Seeding stock for a demo or a test: ``POST /sandbox/{code}/simulate/stock`` sets one stock
quantity; in a running plant, the warehouse's receipts (goods.received → 501) create it.
``POST /sandbox/{code}/simulate/production-orders`` creates an order in a given status without
pushing it to the tower.
"""

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError
from django.db import transaction as db_transaction
from django.utils import timezone

from sandbox.models import LedgerEntry, NumberRange, ProductionOrder, Record
from sandbox.systems import Answer, OrderNumberTaken, ProductionOrderRequest, production_order_create

ODATA_ROOT = "sap/opu/odata/sap"
MATERIAL_DOCUMENT_CREATE = "material_document.create"
CONFIRMATION_CREATE = "confirmation.create"
SNAPSHOT_CREATE = "stock_snapshot.create"

STOCK, MATERIAL_DOCUMENT, CONFIRMATION, OPERATION, SNAPSHOT = (
    "stock", "material_document", "confirmation", "operation", "stock_snapshot")
UNRESTRICTED, BLOCKED = "01", "07"  # InventoryStockType
STOCK_TYPE_FIELD = {UNRESTRICTED: "unrestricted", BLOCKED: "blocked"}
STOCK_TYPE_LABEL = {UNRESTRICTED: "Unrestricted-use", BLOCKED: "Blocked stock"}

ERP_UNITS = ("PC", "KG", "G", "T", "L", "ML", "M", "CM", "MM", "M2", "M3", "H", "MIN")
DEFAULT_STORAGE_LOCATION = "0001"  # where every order of this ERP receives its output
MATERIAL_DOCUMENT_BASE = 4_900_000_000
THREE_PLACES = Decimal("0.001")
LARGEST_QUANTITY = Decimal("9999999999.999")  # S/4's quantity fields: 13 digits, 3 of them decimals

# Movement type → (GoodsMovementCode, stock type taken from, stock type put to).
MOVEMENTS = {
    "261": ("03", UNRESTRICTED, None),
    "101": ("02", None, UNRESTRICTED),
    "501": ("05", None, UNRESTRICTED),
    "344": ("04", UNRESTRICTED, BLOCKED),
    "343": ("04", BLOCKED, UNRESTRICTED),
}
ORDER_MOVEMENTS = ("261", "101")
FINAL_CONFIRMATION_TYPES = ("", "1", "X")  # partial, final, automatic final


class Rejected(Exception):
    """The ERP refuses a request; raised inside the posting's transaction to roll it back."""

    def __init__(self, answer: Answer):
        super().__init__(answer.body)
        self.answer = answer


def odata_error(status: int, code: str, message: str, details: list[dict] | None = None) -> Answer:
    """An error in S/4's OData V2 shape; ``details`` are ``{target, message}`` per field."""
    errordetails = [{"code": code, "message": d["message"], "propertyref": d["target"], "severity": "error",
                     "target": d["target"]} for d in details or []]
    return Answer(status, {"error": {
        "code": code,
        "message": {"lang": "en", "value": message},
        "innererror": {"transactionid": uuid.uuid4().hex.upper(), "errordetails": errordetails},
    }})


def _rejection(code: str, message: str) -> Rejected:
    return Rejected(odata_error(400, code, message))


# OData values ---------------------------------------------------------------------------------------

_ODATA_DATE = re.compile(r"/Date\((-?\d+)([+-]\d{4})?\)/")


def odata_datetime(moment: dt.datetime) -> str:
    """An instant as OData V2 JSON: ``/Date(<milliseconds since the epoch>)/``."""
    return f"/Date({int(moment.timestamp() * 1000)})/"


def odata_date(day: dt.date) -> str:
    """A date as S/4 writes it: midnight UTC in OData V2 JSON."""
    return odata_datetime(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC))


def parse_odata_datetime(value: object) -> dt.datetime | None:
    """``/Date(ms)/`` or ISO 8601 (a date alone, or a date-time; naive means UTC); None if neither."""
    if not isinstance(value, str):
        return None
    match = _ODATA_DATE.fullmatch(value.strip())
    if match:
        return dt.datetime.fromtimestamp(int(match[1]) / 1000, tz=dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def parse_quantity(value: object) -> Decimal | None:
    """An Edm.Decimal (a string, as OData V2 sends it, or a JSON number); None if not a finite number."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        quantity = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return quantity if quantity.is_finite() else None


def odata_quantity(quantity: Decimal) -> str:
    """A quantity as S/4 answers it: three decimal places, "120.000"."""
    return str(quantity.quantize(THREE_PLACES))


def short(quantity: Decimal) -> str:
    """A quantity for a message: "10", "0.35"."""
    return format(quantity.normalize(), "f")


# $filter ----------------------------------------------------------------------------------------

_FILTER_TERM = re.compile(r"\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*")
_FILTER_AND = re.compile(r"and\s+")


def filter_parse(expression: str, fields: tuple[str, ...]) -> dict[str, str] | Answer:
    """``Field eq 'value' and …`` as {field: value}; other expressions are answered 400."""
    terms: dict[str, str] = {}
    position = 0
    while expression.strip():
        term = _FILTER_TERM.match(expression, position)
        if term is None:
            return odata_error(400, "INVALID_FILTER", f"$filter supports only Field eq 'value' joined by and: "
                                                      f"{expression!r}")
        if term[1] not in fields:
            return odata_error(400, "INVALID_FILTER", f"$filter on {term[1]} is not supported; use "
                                                      f"{', '.join(fields)}")
        terms[term[1]] = term[2].replace("''", "'")
        position = term.end()
        if position >= len(expression):
            break
        joiner = _FILTER_AND.match(expression, position)
        if joiner is None:
            return odata_error(400, "INVALID_FILTER", f"$filter supports only Field eq 'value' joined by and: "
                                                      f"{expression!r}")
        position = joiner.end()
    return terms


def _results(rows: list[dict]) -> Answer:
    return Answer(200, {"d": {"results": rows}})


# Ledger -----------------------------------------------------------------------------------------


def _replay(system: str, idempotency_key: str | None) -> Answer | None:
    if not idempotency_key:
        return None
    entry = LedgerEntry.objects.filter(system=system, idempotency_key=idempotency_key).first()
    if entry is None:
        return None
    entry.count_replay()
    return Answer(200, entry.response, {"Idempotent-Replayed": "true"})


def _post_once(system: str, idempotency_key: str | None, operation: str, payload: dict, apply) -> Answer:
    """Apply ``apply()`` once per idempotency key, in one transaction with its ledger entry.

    ``apply`` returns (document number, OData entity, Location path) or raises Rejected, which
    rolls back every change it made. Without a key, each call posts, as in a real S/4.
    """
    replayed = _replay(system, idempotency_key)
    if replayed:
        return replayed
    try:
        with db_transaction.atomic():
            number, entity, location = apply()
            LedgerEntry.objects.create(
                system=system, idempotency_key=idempotency_key or f"{operation}:{number}", operation=operation,
                document_number=number, request=payload, response={"d": entity}, http_status=201,
            )
    except Rejected as rejected:
        return rejected.answer
    except IntegrityError:
        # The same key arrived on another connection and committed first (the number range lock
        # queued us behind it); everything we did was rolled back. Answer as its replay.
        replayed = _replay(system, idempotency_key)
        if replayed is None:
            raise
        return replayed
    return Answer(201, {"d": entity}, {"Location": location})


# Field checks -------------------------------------------------------------------------------------


class Fields:
    """Collects what is wrong with a request body, field by field, as S/4's error details do."""

    def __init__(self):
        self.details: list[dict] = []

    def problem(self, target: str, message: str) -> None:
        self.details.append({"target": target, "message": message})

    def text(self, body: dict, name: str, limit: int, where: str = "", *, required: bool = True,
             default: str = "") -> str:
        value = body.get(name)
        if value is None or value == "":
            if required:
                self.problem(where + name, "is required")
            return default
        if not isinstance(value, str) or len(value) > limit or value != value.strip():
            self.problem(where + name, f"must be a string of at most {limit} characters")
            return default
        return value

    def quantity(self, body: dict, name: str, where: str = "", *, allow_zero: bool = False,
                 required: bool = True) -> Decimal:
        value = body.get(name)
        if value is None and not required:
            return Decimal(0)
        quantity = parse_quantity(value)
        if quantity is None or quantity < 0 or (quantity == 0 and not allow_zero):
            self.problem(where + name, "must be a decimal " + (">= 0" if allow_zero else "> 0"))
            return Decimal(0)
        if quantity > LARGEST_QUANTITY:
            self.problem(where + name, f"is larger than the field holds ({LARGEST_QUANTITY})")
            return Decimal(0)
        if quantity != quantity.quantize(THREE_PLACES):
            self.problem(where + name, "has more than 3 decimal places")
        return quantity

    def date(self, body: dict, name: str, default: dt.date) -> dt.date:
        value = body.get(name)
        if value is None:
            return default
        parsed = parse_odata_datetime(value)
        if parsed is None:
            self.problem(name, "must be an OData date, /Date(ms)/, or ISO 8601")
            return default
        return parsed.date()

    def answer(self) -> Answer | None:
        if not self.details:
            return None
        message = "; ".join(f"{d['target']} {d['message']}" for d in self.details)
        return odata_error(400, "BAD_REQUEST", message, self.details)


def _items(body: dict, navigation: str, fields: Fields) -> list:
    """A deep-insert navigation property: ``{"results": [...]}`` (or a bare list)."""
    value = body.get(navigation)
    items = value.get("results") if isinstance(value, dict) else value
    if not isinstance(items, list) or not items:
        fields.problem(navigation, "must hold at least one item in results")
        return []
    return items


# Stock ------------------------------------------------------------------------------------------


def stock_key(plant: str, storage_location: str, material: str, batch: str) -> str:
    return f"{plant}/{storage_location}/{material}/{batch}"


def _material_unit(system: str, plant: str, material: str) -> str | None:
    """The unit the material's stock is kept in at ``plant``: that of its first stock."""
    return (Record.objects.filter(system=system, kind=STOCK, data__plant=plant, data__material=material)
            .order_by("id").values_list("data__unit", flat=True).first())


def _check_unit(system: str, plant: str, material: str, unit: str) -> None:
    kept_in = _material_unit(system, plant, material)
    if unit not in ERP_UNITS or (kept_in and unit != kept_in):
        raise _rejection("UNIT_NOT_DEFINED", f"Unit {unit} is not defined for material {material}")


def _stock_rows(system: str, wanted: dict[str, dict]) -> dict[str, Record]:
    """Lock the stock rows of ``wanted`` ({key: initial data}), creating missing ones.

    Rows are locked in key order, so two documents touching the same stocks cannot deadlock.
    """
    rows = {}
    for key in sorted(wanted):
        rows[key], _ = Record.objects.select_for_update().get_or_create(
            system=system, kind=STOCK, key=key, defaults={"data": wanted[key]})
    return rows


def stock_entities(record: Record) -> list[dict]:
    """A stock row as A_MatlStkInAcctMod entities: one per stock type that holds a quantity."""
    data = record.data
    return [
        {"Material": data["material"], "Plant": data["plant"], "StorageLocation": data["storage_location"],
         "Batch": data["batch"], "Supplier": "", "Customer": "", "WBSElementInternalID": "", "SDDocument": "",
         "SDDocumentItem": "", "InventorySpecialStockType": "", "InventoryStockType": stock_type,
         "MaterialBaseUnit": data["unit"], "MatlWrhsStkQtyInMatlBaseUnit": data[field]}
        for stock_type, field in STOCK_TYPE_FIELD.items()
        if Decimal(data[field]) > 0
    ]


def stock_find(system: str, expression: str) -> Answer:
    """API_MATERIAL_STOCK_SRV A_MatlStkInAcctMod: stock by plant, material, batch, location, type."""
    terms = filter_parse(expression, ("Plant", "Material", "Batch", "StorageLocation", "InventoryStockType"))
    if isinstance(terms, Answer):
        return terms
    records = Record.objects.filter(system=system, kind=STOCK).order_by("key")
    for field, data_key in (("Plant", "plant"), ("Material", "material"), ("Batch", "batch"),
                            ("StorageLocation", "storage_location")):
        if field in terms:
            records = records.filter(**{f"data__{data_key}": terms[field]})
    rows = [row for record in records for row in stock_entities(record)
            if row["InventoryStockType"] == terms.get("InventoryStockType", row["InventoryStockType"])]
    return _results(rows)


def stock_seed(system: str, payload: object) -> tuple[int, dict]:
    """Set one stock quantity (control API, for demos and tests). Returns (status, body)."""
    if not isinstance(payload, dict):
        return 400, {"errors": ["body must be a JSON object"]}
    errors = []
    for name, limit in (("plant", 4), ("storage_location", 4), ("material", 40)):
        value = payload.get(name)
        if not isinstance(value, str) or not value.strip() or len(value) > limit:
            errors.append(f"{name} must be a non-empty string of at most {limit} characters")
    batch = payload.get("batch") or ""
    if not isinstance(batch, str) or len(batch) > 10:
        errors.append("batch must be a string of at most 10 characters")
    quantity = parse_quantity(payload.get("quantity"))
    if quantity is None or quantity < 0:
        errors.append("quantity must be a number >= 0")
    unit = payload.get("unit")
    if unit not in ERP_UNITS:
        errors.append(f"unit must be one of the ERP's units: {', '.join(ERP_UNITS)}")
    stock_type = payload.get("stock_type", "unrestricted")
    if stock_type not in STOCK_TYPE_FIELD.values():
        errors.append("stock_type must be unrestricted or blocked")
    if errors:
        return 400, {"errors": errors}
    plant, location, material = payload["plant"], payload["storage_location"], payload["material"]
    with db_transaction.atomic():
        kept_in = _material_unit(system, plant, material)
        if kept_in and kept_in != unit:
            return 400, {"errors": [f"material {material} is kept in {kept_in} at plant {plant}, not {unit}"]}
        key = stock_key(plant, location, material, batch)
        record = _stock_rows(system, {key: _new_stock(plant, location, material, batch, unit)})[key]
        record.data[stock_type] = odata_quantity(quantity)
        record.save(update_fields=["data", "updated_at"])
    return 201, {**record.data, "entities": stock_entities(record)}


def _new_stock(plant: str, location: str, material: str, batch: str, unit: str) -> dict:
    return {"plant": plant, "storage_location": location, "material": material, "batch": batch, "unit": unit,
            "unrestricted": odata_quantity(Decimal(0)), "blocked": odata_quantity(Decimal(0))}


# Material documents -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentItem:
    material: str
    plant: str
    storage_location: str
    batch: str
    movement_type: str
    quantity: Decimal
    unit: str
    order_number: str
    reference_type: str
    text: str

    @property
    def stock_key(self) -> str:
        return stock_key(self.plant, self.storage_location, self.material, self.batch)


@dataclass(frozen=True)
class MaterialDocumentRequest:
    movement_code: str
    posting_date: dt.date
    document_date: dt.date
    header_text: str
    items: list[DocumentItem]


def material_document_parse(payload: object) -> MaterialDocumentRequest | Answer:
    """Read an A_MaterialDocumentHeader deep insert, or answer 400 naming every invalid field."""
    if not isinstance(payload, dict):
        return odata_error(400, "BAD_REQUEST", "body must be a JSON object")
    fields = Fields()
    code = fields.text(payload, "GoodsMovementCode", 2)
    codes = sorted({movement[0] for movement in MOVEMENTS.values()})
    if code and code not in codes:
        fields.problem("GoodsMovementCode", f"{code} is not supported; use one of {', '.join(codes)}")
    posting_date = fields.date(payload, "PostingDate", timezone.now().date())
    document_date = fields.date(payload, "DocumentDate", posting_date)
    header_text = fields.text(payload, "MaterialDocumentHeaderText", 25, required=False)
    items = []
    for i, raw in enumerate(_items(payload, "to_MaterialDocumentItem", fields)):
        where = f"to_MaterialDocumentItem/results/{i}/"
        if not isinstance(raw, dict):
            fields.problem(where.rstrip("/"), "must be an object")
            continue
        movement = fields.text(raw, "GoodsMovementType", 3, where)
        if movement and movement not in MOVEMENTS:
            fields.problem(where + "GoodsMovementType", f"{movement} is not supported; use one of "
                                                        f"{', '.join(MOVEMENTS)}")
        elif movement and code and MOVEMENTS[movement][0] != code:
            fields.problem(where + "GoodsMovementType", f"{movement} does not fit GoodsMovementCode {code}")
        order_number = fields.text(raw, "ManufacturingOrder", 12, where, required=movement in ORDER_MOVEMENTS)
        reference_type = fields.text(raw, "GoodsMovementRefDocType", 1, where, required=False)
        if movement == "101" and reference_type != "F":
            fields.problem(where + "GoodsMovementRefDocType", "must be F (order) for a receipt from an order")
        location = fields.text(raw, "StorageLocation", 4, where, required=movement != "101")
        items.append(DocumentItem(
            material=fields.text(raw, "Material", 40, where),
            plant=fields.text(raw, "Plant", 4, where),
            storage_location=location or DEFAULT_STORAGE_LOCATION,
            batch=fields.text(raw, "Batch", 10, where, required=False),
            movement_type=movement,
            quantity=fields.quantity(raw, "QuantityInEntryUnit", where),
            unit=fields.text(raw, "EntryUnit", 3, where),
            order_number=order_number,
            reference_type=reference_type,
            text=fields.text(raw, "MaterialDocumentItemText", 50, where, required=False),
        ))
    return fields.answer() or MaterialDocumentRequest(
        movement_code=code, posting_date=posting_date, document_date=document_date, header_text=header_text,
        items=items)


def _order_for(system: str, item: DocumentItem, orders: dict[str, ProductionOrder]) -> ProductionOrder:
    """The released order an item posts against, or a rejection saying why it cannot."""
    if item.order_number not in orders:
        order = ProductionOrder.objects.filter(system=system, order_number=item.order_number).first()
        if order is None:
            raise _rejection("ORDER_NOT_FOUND", f"Order {item.order_number} does not exist")
        orders[item.order_number] = order
    order = orders[item.order_number]
    if order.status != ProductionOrder.Status.RELEASED:
        raise _rejection("ORDER_NOT_RELEASED", f"Order {order.order_number} is not released")
    if order.plant != item.plant:
        raise _rejection("ORDER_OTHER_PLANT", f"Order {order.order_number} belongs to plant {order.plant}, "
                                              f"not {item.plant}")
    return order


def _move(row: Record, item: DocumentItem) -> None:
    """Apply one item's movement to its (locked) stock row, or refuse it with S/4's deficit message."""
    _, take_from, put_to = MOVEMENTS[item.movement_type]
    data = row.data
    if take_from:
        field = STOCK_TYPE_FIELD[take_from]
        available = Decimal(data[field])
        if available < item.quantity:
            batch = f" {item.batch}" if item.batch else ""
            raise _rejection("DEFICIT", f"Deficit of SL {STOCK_TYPE_LABEL[take_from]} "
                                        f"{short(item.quantity - available)} {item.unit} : {item.material} "
                                        f"{item.plant} {item.storage_location}{batch}")
        data[field] = odata_quantity(available - item.quantity)
    if put_to:
        field = STOCK_TYPE_FIELD[put_to]
        data[field] = odata_quantity(Decimal(data[field]) + item.quantity)


def _material_document_apply(system: str, request: MaterialDocumentRequest) -> tuple[str, dict, str]:
    orders: dict[str, ProductionOrder] = {}
    for item in request.items:
        if item.movement_type in ORDER_MOVEMENTS:
            order = _order_for(system, item, orders)
            if item.movement_type == "101" and item.material != order.material:
                raise _rejection("NOT_ORDER_MATERIAL", f"Material {item.material} is not the material of order "
                                                       f"{order.order_number} ({order.material})")
        _check_unit(system, item.plant, item.material, item.unit)
    rows = _stock_rows(system, {item.stock_key: _new_stock(item.plant, item.storage_location, item.material,
                                                           item.batch, item.unit)
                                for item in request.items})
    for item in request.items:
        _move(rows[item.stock_key], item)
    for row in rows.values():
        row.save(update_fields=["data", "updated_at"])

    year = str(request.posting_date.year)
    number = str(MATERIAL_DOCUMENT_BASE + NumberRange.take_next(f"ERP-MDOC-{year}"))
    entity = {
        "MaterialDocumentYear": year,
        "MaterialDocument": number,
        "InventoryTransactionType": "",
        "DocumentDate": odata_date(request.document_date),
        "PostingDate": odata_date(request.posting_date),
        "CreationDate": odata_date(timezone.now().date()),
        "GoodsMovementCode": request.movement_code,
        "MaterialDocumentHeaderText": request.header_text,
        "to_MaterialDocumentItem": {"results": [
            {"MaterialDocumentYear": year, "MaterialDocument": number, "MaterialDocumentItem": str(position),
             "Material": item.material, "Plant": item.plant, "StorageLocation": item.storage_location,
             "Batch": item.batch, "GoodsMovementType": item.movement_type,
             "QuantityInEntryUnit": odata_quantity(item.quantity), "EntryUnit": item.unit,
             "ManufacturingOrder": item.order_number, "GoodsMovementRefDocType": item.reference_type,
             "MaterialDocumentItemText": item.text}
            for position, item in enumerate(request.items, start=1)
        ]},
    }
    Record.objects.create(system=system, kind=MATERIAL_DOCUMENT, key=f"{year}/{number}", data=entity)
    location = (f"A_MaterialDocumentHeader(MaterialDocumentYear='{year}',MaterialDocument='{number}')")
    return f"{number}/{year}", entity, location


def material_document_post(system: str, idempotency_key: str | None, payload: object) -> Answer:
    """Post a material document (goods issue, receipt or transfer posting) with its stock effects."""
    request = material_document_parse(payload)
    if isinstance(request, Answer):
        return request
    return _post_once(system, idempotency_key, MATERIAL_DOCUMENT_CREATE, payload,
                      lambda: _material_document_apply(system, request))


def material_documents_find(system: str, expression: str) -> Answer:
    """Material documents (with their items) by header text, number or year, oldest first."""
    terms = filter_parse(expression, ("MaterialDocumentHeaderText", "MaterialDocument", "MaterialDocumentYear"))
    if isinstance(terms, Answer):
        return terms
    records = Record.objects.filter(system=system, kind=MATERIAL_DOCUMENT).order_by("id")
    for field, value in terms.items():
        records = records.filter(**{f"data__{field}": value})
    return _results([record.data for record in records])


# Production orders --------------------------------------------------------------------------------


def order_routing(order: ProductionOrder) -> list[dict]:
    """The operations of an order: one, 0010 at the plant's first work center, as its release says."""
    return [{"operation": "0010", "work_center": f"WC-{order.plant}-01"}]


def production_order_seed(system: str, request: ProductionOrderRequest, status: str) -> Answer:
    """Create an order in ``status`` (CRTD or REL) without pushing it to the tower (control API)."""
    try:
        order = production_order_create(system, request)
    except OrderNumberTaken as e:
        return odata_error(409, "ORDER_EXISTS", f"Order {e} already exists")
    if status != order.status:
        ProductionOrder.objects.filter(pk=order.pk).update(status=status)
    return Answer(201, {"order_number": order.order_number, "status": status})


def production_order_entity(order: ProductionOrder) -> dict:
    """An order as A_ProductionOrder_2, with its components and operations expanded.

    The sandbox keeps no plant time zones, so the start is the instant itself in OData's
    ``/Date(ms)/`` (UTC) without a separate time field; a real S/4 splits plant-local date and time.
    """
    changed = order.created_at.astimezone(dt.UTC)
    released = order.status == ProductionOrder.Status.RELEASED
    return {
        "ManufacturingOrder": order.order_number,
        "ManufacturingOrderCategory": "10",
        "ManufacturingOrderType": "YN01",
        "Material": order.material,
        "ProductionPlant": order.plant,
        "MfgOrderPlannedTotalQty": odata_quantity(order.quantity),
        "ProductionUnit": order.uom,
        "MfgOrderPlannedStartDate": odata_datetime(order.scheduled_start),
        "OrderIsCreated": True,
        "OrderIsReleased": released,
        "OrderIsTechnicallyCompleted": False,
        "OrderIsClosed": False,
        "OrderIsMarkedForDeletion": False,
        "MfgOrderConfirmedYieldQty": odata_quantity(Decimal(0)),
        "LastChangeDateTime": changed.strftime("%Y%m%d%H%M%S"),
        "to_ProductionOrderComponent": {"results": [
            {"ManufacturingOrder": order.order_number, "Material": c["material"],
             "RequiredQuantity": odata_quantity(Decimal(str(c["quantity"]))), "BaseUnit": c["uom"],
             "YY1_BatchManaged": bool(c.get("lot_controlled"))}
            for c in order.components
        ]},
        "to_ProductionOrderOperation": {"results": [
            {"ManufacturingOrder": order.order_number, "ManufacturingOrderOperation": op["operation"],
             "WorkCenter": op["work_center"]}
            for op in order_routing(order)
        ]},
    }


def production_orders_find(system: str, expression: str) -> Answer:
    """API_PRODUCTION_ORDER_2_SRV A_ProductionOrder_2 by order number or plant."""
    terms = filter_parse(expression, ("ManufacturingOrder", "ProductionPlant"))
    if isinstance(terms, Answer):
        return terms
    orders = ProductionOrder.objects.filter(system=system).order_by("id")
    if "ManufacturingOrder" in terms:
        orders = orders.filter(order_number=terms["ManufacturingOrder"])
    if "ProductionPlant" in terms:
        orders = orders.filter(plant=terms["ProductionPlant"])
    return _results([production_order_entity(order) for order in orders])


# Order confirmations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfirmationRequest:
    order_number: str
    operation: str
    sequence: str
    yield_quantity: Decimal
    scrap_quantity: Decimal
    unit: str
    final_type: str
    work_center: str
    posting_date: dt.date
    text: str


def confirmation_parse(payload: object) -> ConfirmationRequest | Answer:
    """Read a ProdnOrdConf2 create request, or answer 400 naming every invalid field."""
    if not isinstance(payload, dict):
        return odata_error(400, "BAD_REQUEST", "body must be a JSON object")
    fields = Fields()
    operation = fields.text(payload, "OrderOperation", 4)
    if operation and not operation.isdigit():
        fields.problem("OrderOperation", "must be an operation number such as 0010")
    final_type = payload.get("FinalConfirmationType", "")
    if final_type not in FINAL_CONFIRMATION_TYPES:
        fields.problem("FinalConfirmationType", "must be '' (partial), '1' (final) or 'X' (automatic final)")
    request = ConfirmationRequest(
        order_number=fields.text(payload, "OrderID", 12),
        operation=operation.zfill(4),
        sequence=fields.text(payload, "Sequence", 6, required=False, default="0"),
        yield_quantity=fields.quantity(payload, "ConfirmationYieldQuantity", allow_zero=True, required=False),
        scrap_quantity=fields.quantity(payload, "ConfirmationScrapQuantity", allow_zero=True, required=False),
        unit=fields.text(payload, "ConfirmationUnit", 3),
        final_type=final_type if final_type in FINAL_CONFIRMATION_TYPES else "",
        work_center=fields.text(payload, "WorkCenter", 40, required=False),
        posting_date=fields.date(payload, "PostingDate", timezone.now().date()),
        text=fields.text(payload, "ConfirmationText", 40, required=False),
    )
    return fields.answer() or request


def _confirmation_apply(system: str, request: ConfirmationRequest) -> tuple[str, dict, str]:
    order = ProductionOrder.objects.filter(system=system, order_number=request.order_number).first()
    if order is None:
        raise _rejection("ORDER_NOT_FOUND", f"Order {request.order_number} does not exist")
    if order.status != ProductionOrder.Status.RELEASED:
        raise _rejection("ORDER_NOT_RELEASED", f"Order {order.order_number} is not released")
    routing = {op["operation"]: op for op in order_routing(order)}
    if request.operation not in routing:
        raise _rejection("OPERATION_NOT_FOUND", f"Operation {request.operation} does not exist in order "
                                                f"{order.order_number}")
    if request.unit != order.uom:
        raise _rejection("UNIT_NOT_DEFINED", f"Unit {request.unit} is not defined for material {order.material}")
    operation, _ = Record.objects.select_for_update().get_or_create(
        system=system, kind=OPERATION, key=f"{order.order_number}/{request.operation}",
        defaults={"data": {"group": "", "count": 0, "yield": "0.000", "scrap": "0.000", "final": False}})
    state = operation.data
    if state["final"]:
        raise _rejection("ALREADY_FINAL", f"Operation {request.operation} of order {order.order_number} is "
                                          "already finally confirmed")
    if not state["group"]:
        state["group"] = f"{NumberRange.take_next('ERP-CONF-GROUP'):010d}"
    state["count"] += 1
    state["yield"] = odata_quantity(Decimal(state["yield"]) + request.yield_quantity)
    state["scrap"] = odata_quantity(Decimal(state["scrap"]) + request.scrap_quantity)
    state["final"] = request.final_type != ""
    operation.save(update_fields=["data", "updated_at"])

    group, count = state["group"], f"{state['count']:08d}"
    entity = {
        "ConfirmationGroup": group,
        "ConfirmationCount": count,
        "OrderID": order.order_number,
        "OrderOperation": request.operation,
        "Sequence": request.sequence,
        "Plant": order.plant,
        "Material": order.material,
        "WorkCenter": request.work_center or routing[request.operation]["work_center"],
        "FinalConfirmationType": request.final_type,
        "IsFinalConfirmation": state["final"],
        "PostingDate": odata_date(request.posting_date),
        "ConfirmationUnit": request.unit,
        "ConfirmationYieldQuantity": odata_quantity(request.yield_quantity),
        "ConfirmationScrapQuantity": odata_quantity(request.scrap_quantity),
        "OpTotalConfirmedYieldQty": state["yield"],
        "OpTotalConfirmedScrapQty": state["scrap"],
        "ConfirmationText": request.text,
    }
    Record.objects.create(system=system, kind=CONFIRMATION, key=f"{group}/{count}", data=entity)
    return f"{group}/{count}", entity, f"ProdnOrdConf2(ConfirmationGroup='{group}',ConfirmationCount='{count}')"


def confirmation_post(system: str, idempotency_key: str | None, payload: object) -> Answer:
    """Confirm yield and scrap of an order operation."""
    request = confirmation_parse(payload)
    if isinstance(request, Answer):
        return request
    return _post_once(system, idempotency_key, CONFIRMATION_CREATE, payload,
                      lambda: _confirmation_apply(system, request))


def confirmations_find(system: str, expression: str) -> Answer:
    terms = filter_parse(expression, ("ConfirmationText", "OrderID", "OrderOperation", "ConfirmationGroup"))
    if isinstance(terms, Answer):
        return terms
    records = Record.objects.filter(system=system, kind=CONFIRMATION).order_by("id")
    for field, value in terms.items():
        records = records.filter(**{f"data__{field}": value})
    return _results([record.data for record in records])


# Stock snapshots (custom service) -----------------------------------------------------------------


def snapshot_post(system: str, idempotency_key: str | None, payload: object) -> Answer:
    """Store a stock snapshot another system took, each line beside the ERP's own stock.

    The ERP does not post differences: that is a physical-inventory decision for its owners.
    It keeps the counts for reconciliation and answers them with ``ErpQuantity`` (unrestricted
    plus blocked) and ``DifferenceQuantity`` (reported minus ERP) per line.
    """
    if not isinstance(payload, dict):
        return odata_error(400, "BAD_REQUEST", "body must be a JSON object")
    fields = Fields()
    plant = fields.text(payload, "Plant", 4)
    taken_at = parse_odata_datetime(payload.get("SnapshotDateTime"))
    if taken_at is None:
        fields.problem("SnapshotDateTime", "must be an OData date-time, /Date(ms)/, or ISO 8601")
    reference = fields.text(payload, "SnapshotReference", 40, required=False)
    lines = []
    for i, raw in enumerate(_items(payload, "to_Item", fields)):
        where = f"to_Item/results/{i}/"
        if not isinstance(raw, dict):
            fields.problem(where.rstrip("/"), "must be an object")
            continue
        lines.append({
            "Material": fields.text(raw, "Material", 40, where),
            "StorageLocation": fields.text(raw, "StorageLocation", 4, where),
            "Batch": fields.text(raw, "Batch", 10, where, required=False),
            "Quantity": fields.quantity(raw, "Quantity", where, allow_zero=True),
            "Unit": fields.text(raw, "Unit", 3, where),
        })
    problem = fields.answer()
    if problem:
        return problem

    def apply() -> tuple[str, dict, str]:
        snapshot_id = f"{NumberRange.take_next('ERP-SNAPSHOT'):010d}"
        items = []
        for position, line in enumerate(lines, start=1):
            key = stock_key(plant, line["StorageLocation"], line["Material"], line["Batch"])
            stock = Record.objects.filter(system=system, kind=STOCK, key=key).first()
            erp = (Decimal(stock.data["unrestricted"]) + Decimal(stock.data["blocked"])) if stock else Decimal(0)
            items.append({**line, "SnapshotItem": str(position), "Quantity": odata_quantity(line["Quantity"]),
                          "ErpQuantity": odata_quantity(erp), "ErpUnit": stock.data["unit"] if stock else "",
                          "DifferenceQuantity": odata_quantity(line["Quantity"] - erp)})
        entity = {"SnapshotID": snapshot_id, "Plant": plant, "SnapshotDateTime": odata_datetime(taken_at),
                  "SnapshotReference": reference, "to_Item": {"results": items}}
        Record.objects.create(system=system, kind=SNAPSHOT, key=snapshot_id, data=entity)
        return snapshot_id, entity, f"StockSnapshot('{snapshot_id}')"

    return _post_once(system, idempotency_key, SNAPSHOT_CREATE, payload, apply)


def snapshots_find(system: str, expression: str) -> Answer:
    terms = filter_parse(expression, ("SnapshotReference", "Plant", "SnapshotID"))
    if isinstance(terms, Answer):
        return terms
    records = Record.objects.filter(system=system, kind=SNAPSHOT).order_by("id")
    for field, value in terms.items():
        records = records.filter(**{f"data__{field}": value})
    return _results([record.data for record in records])
