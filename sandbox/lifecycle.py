"""Realistic production-order lifecycles across the simulated plant, for the demo's traffic.

release (ERP) → staging (WMS) → picks (WMS, material issues) → operations and completion (MES)
→ putaway receipt (WMS) → shipment (WMS). Some orders go wrong the way real ones do: the MES
reports before the warehouse (out of order), a pick is sent twice (duplicate), a component lot is
put on quality hold before it is picked (the WMS refuses the pick until the QMS releases it), the
warehouse reports a shortage, or the ERP uses a unit nobody mapped (the order waits for a person).

Each system pushes to the tower itself, with its own key, in its own format; this module only
decides what happens when. Steps are plain functions of an `Order`, scheduled on a heap.
"""

import dataclasses
import datetime as dt
import heapq
import itertools
import random
from collections.abc import Callable
from decimal import Decimal

from django.utils import timezone

from sandbox import erp, mes, qms, systems, wms
from sandbox.systems import Answer

ERP_CODE, QMS_CODE = "ERP-S4", "QMS-CENTRAL"
WMS_OF_PLANT = {"1000": "WMS-EAST", "2000": "WMS-EAST", "3000": "WMS-WEST"}
WMS_UNIT = {"PC": "EA"}  # the warehouse counts pieces as EA
RAW_BIN, LINE_BIN, FG_BIN, ERP_STORE = "A-01-02", "LINE-1", "FG-01-01", "0001"


def finished_lot(order_number: str) -> str:
    return f"F{order_number[-8:]}"  # ERP batches have at most 10 characters
CARRIERS = ("DHL", "DB Schenker", "Kuehne+Nagel", "UPS")

# (finished good, description, [(component, per piece, ERP unit, lot-controlled)])
CATALOGUE = (
    ("FG-100", "Pump assembly", (("RM-210", 1, "PC", True), ("RM-220", 4, "PC", False), ("RM-300", 0.35, "KG", True))),
    ("FG-200", "Valve body", (("RM-410", 1, "PC", True), ("RM-420", 0.8, "KG", True))),
    ("FG-300", "Gearbox housing", (("RM-510", 1, "PC", True), ("RM-520", 12, "PC", False))),
    ("FG-400", "Control panel", (("RM-610", 1, "PC", False), ("RM-620", 2.5, "M", False))),
)
LOT_SIZES = (10, 20, 25, 40, 50, 80, 100, 120)

# How often each thing goes wrong, per order.
TWISTS = {"out_of_order": 0.10, "duplicate": 0.10, "hold": 0.06, "shortage": 0.05, "unmapped_unit": 0.03}


@dataclasses.dataclass
class Order:
    plant: str
    material: str
    quantity: int
    components: list[dict]  # {material, quantity, uom, lot_controlled, lot}
    twists: set[str]
    number: str = ""
    picked: bool = False

    @property
    def wms(self) -> str:
        return WMS_OF_PLANT.get(self.plant, "WMS-EAST")

    @property
    def mes(self) -> str:
        return f"MES-P{self.plant}"


class Lifecycles:
    """Starts orders and runs their steps when due; `tick()` does what is due now."""

    def __init__(self, *, plants: list[str], rng: random.Random, say: Callable[[str], None], erp_code=ERP_CODE):
        self.plants, self.rng, self.say, self.erp_code = plants, rng, say, erp_code
        self.steps: list[tuple[float, int, Callable[[], None]]] = []
        self.sequence = itertools.count()
        self.clock = 0.0

    # Scheduling ---------------------------------------------------------------------------------

    def at(self, delay_s: float, step: Callable[[], None]) -> None:
        heapq.heappush(self.steps, (self.clock + delay_s, next(self.sequence), step))

    def tick(self, now: float) -> None:
        self.clock = now
        while self.steps and self.steps[0][0] <= now:
            _, _, step = heapq.heappop(self.steps)
            step()

    @property
    def busy(self) -> bool:
        return bool(self.steps)

    def _report(self, order: Order, what: str, answer: Answer) -> bool:
        tower = answer.body.get("tower", {}) if isinstance(answer.body, dict) else {}
        detail = f"tower {tower['status_code']}" if tower else f"{answer.status} {_error_text(answer)}"
        self.say(f"{order.number or '-'} plant {order.plant}: {what} → {detail}")
        return answer.status < 300

    # The lifecycle ------------------------------------------------------------------------------

    def start(self) -> Order:
        """Release a new order in the ERP and schedule the rest of its life."""
        material, _, bom = self.rng.choice(CATALOGUE)
        quantity = self.rng.choice(LOT_SIZES)
        twists = {twist for twist, chance in TWISTS.items() if self.rng.random() < chance}
        components = []
        for component, per_piece, unit, lot_controlled in bom:
            amount = round(per_piece * quantity, 3)
            components.append({"material": component, "quantity": int(amount) if amount == int(amount) else amount,
                               "uom": unit, "lot_controlled": lot_controlled, "lot": ""})
        order = Order(self.rng.choice(self.plants), material, quantity, components, twists)
        unit = "ST" if "unmapped_unit" in twists else "PC"  # ST: a unit of measure nobody mapped
        request = systems.ProductionOrderRequest(
            plant=order.plant, material=material, quantity=Decimal(quantity), uom=unit,
            scheduled_start=timezone.now() + dt.timedelta(hours=self.rng.randint(1, 24)),
            components=[{k: c[k] for k in ("material", "quantity", "uom", "lot_controlled")} for c in components],
        )
        answer = systems.production_order_release(self.erp_code, request)
        order.number = answer.body.get("order_number", "")
        for index, component in enumerate(order.components):
            if component["lot_controlled"]:
                component["lot"] = f"L{order.number[-6:]}{index}"  # ERP batches have at most 10 characters
        if not self._report(order, f"released {material} x{quantity} {unit}", answer):
            return order
        if "unmapped_unit" in twists:
            return order  # it waits in the tower until a person maps ST; nothing else happens to it
        self._stock_components(order)
        self.at(2, lambda: self.stage(order))
        if "hold" in twists and any(c["lot"] for c in components):
            self.at(3, lambda: self.hold(order))
            self.at(12, lambda: self.release_hold(order))
        if "shortage" in twists:
            self.at(4, lambda: self.shortage(order))
        if "out_of_order" in twists:
            self.at(5, lambda: self.perform(order))  # the MES reports before the warehouse
            self.at(9, lambda: self.pick(order))
        else:
            self.at(5, lambda: self.pick(order))
            self.at(10, lambda: self.perform(order))
        return order

    def _stock_components(self, order: Order) -> None:
        # The ERP must hold the lots the warehouse will pick: they were received earlier.
        for component in order.components:
            erp.stock_seed(self.erp_code, {
                "plant": order.plant, "storage_location": ERP_STORE, "material": component["material"],
                "batch": component["lot"], "quantity": component["quantity"] if component["lot"] else 100000,
                "unit": component["uom"]})

    def _wms_line(self, component: dict) -> dict:
        return {"sku": component["material"], "qty": component["quantity"],
                "unit": WMS_UNIT.get(component["uom"], component["uom"]),
                **({"lot": component["lot"]} if component["lot"] else {})}

    def stage(self, order: Order) -> None:
        first = self._wms_line(order.components[0])
        self._report(order, f"staged {first['sku']}", wms.report(order.wms, {
            "message_type": "STAGED", "reference": order.number, "site": order.plant, **first,
            "from_bin": RAW_BIN, "to_bin": LINE_BIN}))

    def pick(self, order: Order, attempt: int = 1) -> None:
        for component in order.components:
            message = {"message_type": "PICK_CONFIRMED", "reference": order.number, "site": order.plant,
                       "bin": RAW_BIN, **self._wms_line(component),
                       "message_id": f"{order.wms}-PICK-{order.number}-{component['material']}"}
            answer = wms.report(order.wms, message)
            if answer.status == 409 and attempt < 5:  # the lot is blocked: pick again after the release
                self._report(order, f"pick {component['material']} refused", answer)
                self.at(5, lambda: self.pick(order, attempt + 1))
                return
            self._report(order, f"picked {component['material']} x{component['quantity']}", answer)
            if "duplicate" in order.twists:
                self._report(order, "sent the same pick again", wms.report(order.wms, message))
        order.picked = True
        if "out_of_order" not in order.twists:
            return
        self.at(3, lambda: self.put_away(order))

    def perform(self, order: Order, attempt: int = 1) -> None:
        scrap = self.rng.choice((0, 0, 0, 1, 2))
        answer = mes.performance_simulate(order.mes, {
            "order_number": order.number, "yield": order.quantity - scrap, "scrap": scrap, "lot": finished_lot(order.number)})
        if answer.status == 422 and attempt < 5:  # the schedule has not reached the MES yet
            self.at(3, lambda: self.perform(order, attempt + 1))
            return
        self._report(order, f"reported {order.quantity - scrap} good, {scrap} scrap", answer)
        if "out_of_order" not in order.twists:
            self.at(3, lambda: self.put_away(order))

    def put_away(self, order: Order) -> None:
        self._report(order, "put away", wms.report(order.wms, {
            "message_type": "RECEIPT_CONFIRMED", "reference": order.number, "site": order.plant,
            "sku": order.material, "qty": order.quantity, "unit": "EA", "lot": finished_lot(order.number), "bin": FG_BIN}))
        self.at(4, lambda: self.ship(order))

    def ship(self, order: Order) -> None:
        self._report(order, "shipped", wms.report(order.wms, {
            "message_type": "SHIPMENT_CONFIRMED", "shipment": f"8{order.number[-9:]}", "site": order.plant,
            "carrier": self.rng.choice(CARRIERS),
            "lines": [{"sku": order.material, "qty": order.quantity, "unit": "EA", "lot": finished_lot(order.number)}]}))

    def hold(self, order: Order) -> None:
        lot = next(c for c in order.components if c["lot"])
        decision = qms.decision_parse({"plant": order.plant, "material": lot["material"], "lot": lot["lot"],
                                       "reason": "supplier certificate missing"}, qms.HELD)
        self._report(order, f"hold on lot {lot['lot']}", qms.decide(QMS_CODE, qms.HELD, decision))

    def release_hold(self, order: Order) -> None:
        lot = next(c for c in order.components if c["lot"])
        decision = qms.decision_parse({"plant": order.plant, "material": lot["material"], "lot": lot["lot"],
                                       "reason": "certificate received"}, qms.RELEASED)
        self._report(order, f"released lot {lot['lot']}", qms.decide(QMS_CODE, qms.RELEASED, decision))

    def shortage(self, order: Order) -> None:
        component = order.components[-1]
        self._report(order, f"short of {component['material']}", wms.report(order.wms, {
            "message_type": "SHORTAGE", "reference": order.number, "site": order.plant,
            "sku": component["material"], "qty_short": max(1, int(component["quantity"]) // 10),
            "unit": WMS_UNIT.get(component["uom"], component["uom"])}))


def _error_text(answer: Answer) -> str:
    body = answer.body if isinstance(answer.body, dict) else {}
    error = body.get("error") or {}
    if isinstance(error, dict):
        message = error.get("message")
        return message.get("value", "") if isinstance(message, dict) else str(message or error.get("code", ""))
    return str(body.get("detail") or body.get("title") or body.get("ErrorDescription") or "")
