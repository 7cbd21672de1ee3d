"""Keep each production order's cross-system view up to date as transactions and deliveries land.

The projection is *rebuilt*, not incremented: applying a transaction adds it to the order's set
of transactions (a many-to-many row, unique per pair) and then recomputes every derived field
from that set and its deliveries. That makes it idempotent (applying twice changes nothing),
independent of arrival order (a completion that arrives before the release is simply sorted
before it), and self-healing (any later call repairs a missed one). An order sees tens, rarely
hundreds, of messages, and a worker's whole batch is applied at once, so a batch of rebuilds
costs a handful of queries. Applying locks the order rows, so concurrent workers rebuild one
after the other and the last rebuild sees every committed row.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import transaction as db_transaction
from django.db.models import Max, Prefetch, Q, prefetch_related_objects
from django.utils import timezone

from integrations.choices import DeliveryStatus
from integrations.models import Delivery, Transaction
from orders.models import ProductionOrder

logger = logging.getLogger(__name__)

# Event types about one production order, and the status each puts its sender in.
REPORTED_STATUS = {
    "production_order.released": "released",
    "production_order.changed": "changed",
    "production_order.cancelled": "cancelled",
    "production_order.closed": "closed",
    "material.staged": "staged",
    "material.issued": "issued",
    "material.shortage": "shortage",
    "operation.completed": "operation_completed",
    "production.completed": "completed",
    "goods.received": "goods_received",  # only when it names an order_number
}

# What a target's system entry says once one of its deliveries has ended.
ACKNOWLEDGED_STATUS = {
    DeliveryStatus.DELIVERED: "acknowledged",
    DeliveryStatus.REJECTED: "rejected",
    DeliveryStatus.DEAD: "dead",
}


def order_number_of(tx: Transaction) -> str:
    """The order a transaction is about, or "" when its type does not belong to an order."""
    if tx.event_type not in REPORTED_STATUS or not isinstance(tx.canonical_payload, dict):
        return ""
    return str(tx.canonical_payload.get("order_number") or "")


def order_apply_transaction(tx: Transaction) -> ProductionOrder | None:
    """Apply a stored transaction to its production order, creating the order on first sight.

    Returns the updated order, or None when the transaction is not about an order (its type
    carries no order_number, or it has no plant). Safe to call again for the same transaction.
    """
    return orders_apply([tx]).get(_order_key(tx))


def order_apply_delivery(delivery: Delivery) -> None:
    """Record a target's saved answer (delivered, rejected or dead) on the order its transaction is about.

    The answer shows under the target's system code as status acknowledged/rejected/dead, with
    the target's reference, the event type and the time. Does nothing for transactions that are
    not about an order.
    """
    orders_apply([delivery.transaction])


def orders_apply(transactions: list[Transaction]) -> dict[tuple[int, str], ProductionOrder]:
    """Apply stored transactions (and their deliveries' saved outcomes) to their orders, each order once.

    A worker's batch of routed or delivered messages costs a handful of queries in all, however
    many orders it touches. Returns the rebuilt orders by (plant id, order number).
    """
    by_order: dict[tuple[int, str], list[Transaction]] = defaultdict(list)
    for tx in transactions:
        if key := _order_key(tx):
            by_order[key].append(tx)
    if not by_order:
        return {}
    keys = Q()
    for plant_id, order_number in by_order:
        keys |= Q(plant_id=plant_id, order_number=order_number)
    with db_transaction.atomic():
        # Creating with ignore_conflicts survives two workers creating the same order; the locks,
        # always taken in id order, then serialise the rebuilds of each order.
        ProductionOrder.objects.bulk_create(
            [ProductionOrder(plant_id=plant_id, order_number=number) for plant_id, number in by_order],
            ignore_conflicts=True)
        orders = {(o.plant_id, o.order_number): o
                  for o in ProductionOrder.objects.select_for_update().filter(keys).order_by("pk")}
        ProductionOrder.transactions.through.objects.bulk_create(
            [ProductionOrder.transactions.through(productionorder_id=orders[key].pk, transaction_id=tx.pk)
             for key, txs in by_order.items() for tx in txs],
            ignore_conflicts=True)  # a transaction applied twice stays one link
        deliveries = Delivery.objects.select_related("target").annotate(last_attempt_at=Max("attempts__finished_at"))
        prefetch_related_objects(list(orders.values()), Prefetch(
            "transactions", Transaction.objects.select_related("source").prefetch_related(
                Prefetch("deliveries", deliveries))))
        for order in orders.values():
            _rebuild(order, list(order.transactions.all()))
        ProductionOrder.objects.bulk_update(list(orders.values()), REBUILT_FIELDS)
    return orders


def orders_refresh(transactions: list[Transaction]) -> None:
    """`orders_apply` for the pipeline: a failure is logged and never stops routing or delivery.

    The view is derived, so the order's next message rebuilds it from the stored transactions.
    """
    try:
        with db_transaction.atomic():
            orders_apply(transactions)
    except Exception:
        logger.exception("the orders of %d transaction(s) could not be rebuilt", len(transactions))


def _order_key(tx: Transaction) -> tuple[int, str] | None:
    order_number = order_number_of(tx)
    return (tx.plant_id, order_number) if order_number and tx.plant_id is not None else None


# --- the rebuild ---------------------------------------------------------------------------------


def _decimal(value) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal(0)


def _number(value: Decimal) -> int | float:
    """A JSON number: integral quantities stay integers (50, not 50.0)."""
    return int(value) if value == value.to_integral_value() else float(value)


def _quantity(payload: dict, key: str) -> tuple[Decimal, str]:
    q = payload.get(key) or {}
    return _decimal(q.get("value")), str(q.get("uom") or "")


class MaterialSums:
    """Quantities summed per (material, unit): units are never added across."""

    def __init__(self):
        self.sums: dict[tuple[str, str], Decimal] = defaultdict(Decimal)

    def add(self, material: str, quantity: Decimal, uom: str) -> None:
        self.sums[(material, uom)] += quantity

    def of(self, material: str, uom: str) -> Decimal:
        return self.sums.get((material, uom), Decimal(0))

    def rows(self) -> list[dict]:
        return [{"material": m, "quantity": _number(q), "uom": u} for (m, u), q in sorted(self.sums.items())]


@dataclass
class SystemView:
    """What one system last said (status, event, time) and what it reported in total."""

    entry: dict = field(default_factory=dict)
    staged: MaterialSums = field(default_factory=MaterialSums)
    issued: MaterialSums = field(default_factory=MaterialSums)
    received: MaterialSums = field(default_factory=MaterialSums)
    good: Decimal | None = None
    scrap: Decimal | None = None

    def as_json(self) -> dict:
        out = dict(self.entry)
        for name in ("staged", "issued", "received"):
            if getattr(self, name).sums:
                out[name] = getattr(self, name).rows()
        if self.good is not None:
            out["quantity_good"], out["quantity_scrap"] = _number(self.good), _number(self.scrap)
        return out


REBUILT_FIELDS = ["material", "planned_quantity", "uom", "correlation_id", "systems", "staged", "issued",
                  "quantity_good", "quantity_scrap", "mismatches", "last_event_at", "updated_at"]


def _rebuild(order: ProductionOrder, transactions: list[Transaction]) -> None:
    """Recompute every derived field of `order` from its transactions and their deliveries (not saved)."""
    # Each system's reports in that system's own order (its event time, else when we got it),
    # so a late-arriving older message does not overwrite a newer status. Acknowledgements are
    # placed at the time the target answered.
    items: list[tuple[datetime, datetime, int, Transaction, Delivery | None]] = []
    for tx in transactions:
        items.append((tx.source_time or tx.received_at, tx.received_at, 0, tx, None))
        for d in tx.deliveries.all():
            if d.status in ACKNOWLEDGED_STATUS:
                at = d.delivered_at or getattr(d, "last_attempt_at", None) or tx.received_at
                items.append((at, at, 1, tx, d))
    items.sort(key=lambda item: item[:3])

    views: dict[str, SystemView] = defaultdict(SystemView)
    staged, issued = MaterialSums(), MaterialSums()
    good = scrap = Decimal(0)
    completion_uoms: set[str] = set()
    release: Transaction | None = None
    components: dict[str, tuple[Decimal, str]] = {}
    planned: Decimal | None = None
    uom = material = ""
    cancelled_by = ""
    shortages: dict[str, str] = {}  # material → finding, until that material is staged or issued
    failed_deliveries: list[dict] = []
    first_report: Transaction | None = None

    for when, _, _, tx, d in items:
        if d is not None:
            view = views[d.target.code]
            view.entry.update(status=ACKNOWLEDGED_STATUS[d.status], event_type=tx.event_type, at=when.isoformat(),
                              transaction_id=str(tx.pk))
            if d.target_reference:
                view.entry["reference"] = d.target_reference
            if d.status != DeliveryStatus.DELIVERED:
                verb = "rejected" if d.status == DeliveryStatus.REJECTED else "never received (dead)"
                failed_deliveries.append({"code": f"delivery_{d.status}",
                                          "detail": f"{d.target.code} {verb} {tx.event_type}"})
            continue

        p, code, kind = tx.canonical_payload, tx.source.code, tx.event_type
        first_report = first_report or tx
        view = views[code]
        view.entry.update(status=REPORTED_STATUS[kind], event_type=kind, at=tx.received_at.isoformat(),
                          transaction_id=str(tx.pk))
        if kind == "production_order.released":
            release = tx
            material = p.get("material", "")
            planned, uom = _quantity(p, "quantity")
            view.entry.update(material=material, quantity=_number(planned), uom=uom)
            components = {c["material"]: (_decimal(c["quantity"]), c["uom"]) for c in p.get("components", [])}
        elif kind == "production_order.changed":
            if "quantity" in p:
                planned, uom = _quantity(p, "quantity")
                view.entry.update(quantity=_number(planned), uom=uom)
            view.entry.update({k: p[k] for k in ("priority", "scheduled_start", "scheduled_end") if k in p})
        elif kind in ("production_order.cancelled", "production_order.closed"):
            view.entry["reason"] = p.get("reason", "")
            if kind == "production_order.cancelled":
                cancelled_by = code
        elif kind in ("material.staged", "material.issued"):
            quantity, unit = _quantity(p, "quantity")
            sums, own = (staged, view.staged) if kind == "material.staged" else (issued, view.issued)
            sums.add(p["material"], quantity, unit)
            own.add(p["material"], quantity, unit)
            shortages.pop(p["material"], None)
        elif kind == "material.shortage":
            quantity, unit = _quantity(p, "quantity_short")
            view.entry["shortage"] = {"material": p["material"], "quantity": _number(quantity), "uom": unit}
            shortages[p["material"]] = f"{code} reports {_number(quantity)} {unit} of {p['material']} short"
        elif kind == "operation.completed":
            yield_, unit = _quantity(p, "yield")
            view.entry.update(operation=p.get("operation"), work_center=p.get("work_center"),
                              yield_quantity=_number(yield_), scrap_quantity=_number(_quantity(p, "scrap")[0]),
                              uom=unit)
        elif kind == "production.completed":
            q_good, unit = _quantity(p, "quantity_good")
            q_scrap = _quantity(p, "quantity_scrap")[0]
            good, scrap = good + q_good, scrap + q_scrap
            view.good = (view.good or Decimal(0)) + q_good
            view.scrap = (view.scrap or Decimal(0)) + q_scrap
            view.entry["uom"] = unit
            if p.get("lot"):
                view.entry["lot"] = p["lot"]
            completion_uoms.add(unit)
        elif kind == "goods.received":
            quantity, unit = _quantity(p, "quantity")
            view.received.add(p["material"], quantity, unit)

    mismatches: list[dict] = []
    if release is None and first_report is not None:
        mismatches.append({"code": "not_released",
                           "detail": f"No release from the ERP yet; {first_report.source.code} already reported "
                                     f"{first_report.event_type}"})
    completed_by = ", ".join(sorted(c for c, v in views.items() if v.good is not None))
    if planned is not None and uom and completion_uoms - {uom}:
        mismatches.append({"code": "completion_uom_differs",
                           "detail": f"{completed_by} reports completions in {', '.join(sorted(completion_uoms))}; "
                                     f"the order is planned in {uom}"})
    elif planned is not None and good > planned:
        mismatches.append({"code": "completed_exceeds_planned",
                           "detail": f"{completed_by} reports {_number(good)} {uom} good of {_number(planned)} "
                                     f"{uom} planned"})
    if cancelled_by and good > 0:
        mismatches.append({"code": "completed_on_cancelled_order",
                           "detail": f"{cancelled_by} cancelled the order, but {completed_by} reports "
                                     f"{_number(good)} good"})
    for component, (required, unit) in sorted(components.items()):
        if issued.of(component, unit) > required:
            mismatches.append({"code": "issued_exceeds_required",
                               "detail": f"{_number(issued.of(component, unit))} {unit} of {component} issued; "
                                         f"the order needs {_number(required)} {unit}"})
    mismatches += [{"code": "material_shortage", "detail": detail} for _, detail in sorted(shortages.items())]
    mismatches += failed_deliveries

    order.material, order.planned_quantity, order.uom = material, planned, uom
    # The release's thread; goods.received is keyed by lot, so its derived ID belongs to another thread.
    anchor = release or first_report
    order.correlation_id = anchor.correlation_id if anchor else ""
    order.systems = {code: view.as_json() for code, view in sorted(views.items())}
    order.staged, order.issued = staged.rows(), issued.rows()
    order.quantity_good, order.quantity_scrap = good, scrap
    order.mismatches = mismatches
    order.last_event_at = max((item[1] for item in items), default=None)
    order.updated_at = timezone.now()
