"""Play production traffic: the simulated ERP releases orders and pushes them to the tower.

    python -m django sandbox_traffic --settings sandbox.settings --rate 0.2 --plants 1000,2000,3000

Each lifecycle step is one method taking the order it works on, so later steps (stage, issue,
complete, …) slot in beside ``release_order``.
"""

import datetime as dt
import random
import signal
import time
from dataclasses import dataclass
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from sandbox import systems
from sandbox.models import OutboundLink


@dataclass(frozen=True)
class Material:
    """A finished good the plants make, with its bill of materials per piece."""

    number: str
    description: str
    bom: tuple[tuple[str, float, str, bool], ...]  # (component, quantity per piece, uom, lot-controlled)


# Pieces in the ERP's own unit, PC; the tower maps it to the canonical EA the warehouse uses.
CATALOGUE = (
    Material("FG-100", "Pump assembly", (("RM-210", 1, "PC", True), ("RM-220", 4, "PC", False),
                                          ("RM-300", 0.35, "KG", True))),
    Material("FG-200", "Valve body", (("RM-410", 1, "PC", True), ("RM-420", 0.8, "KG", True))),
    Material("FG-300", "Gearbox housing", (("RM-510", 1, "PC", True), ("RM-520", 12, "PC", False),
                                            ("RM-530", 0.05, "L", False))),
    Material("FG-400", "Control panel", (("RM-610", 1, "PC", False), ("RM-620", 2.5, "M", False))),
)
LOT_SIZES = (10, 20, 25, 40, 50, 80, 100, 120, 200, 250)


class Command(BaseCommand):
    help = "Release production orders in a simulated ERP at a steady rate and push them to the tower."

    def add_arguments(self, parser):
        parser.add_argument("--rate", type=float, default=0.2, help="orders per second (default 0.2)")
        parser.add_argument("--plants", default="1000,2000,3000", help="comma-separated plant codes")
        parser.add_argument("--count", type=int, help="stop after this many orders (default: run until stopped)")
        parser.add_argument("--seed", type=int, help="random seed, for a repeatable run")
        parser.add_argument("--system", default="ERP-S4", help="the simulated ERP that releases (default ERP-S4)")

    def handle(self, *args, rate, plants, count, seed, system, **options):
        if rate <= 0:
            raise CommandError("--rate must be > 0")
        self.plants = [p.strip() for p in plants.split(",") if p.strip()]
        if not self.plants:
            raise CommandError("--plants names no plant")
        if systems.kind_of(system) != systems.ERP:
            raise CommandError(f"{system} is not a simulated ERP")
        if not OutboundLink.objects.filter(system=system).exists():
            raise CommandError(f"{system} has no outbound link; PUT /sandbox/{system}/outbound first")
        self.system = system
        self.rng = random.Random(seed)
        self.stopping = False
        # Stop between orders, never in the middle of one: the order and its push belong together.
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)

        released = 0
        while not self.stopping and (count is None or released < count):
            self.release_order()
            released += 1
            if count is None or released < count:
                self._pause(1 / rate)
        self.stdout.write(f"released {released} order(s)")

    # Lifecycle steps ------------------------------------------------------------------------------

    def release_order(self) -> str | None:
        """Release one order for a random plant in the ERP and push it; the order number, or None."""
        plant = self.rng.choice(self.plants)
        material = self.rng.choice(CATALOGUE)
        quantity = self.rng.choice(LOT_SIZES)
        request = systems.ProductionOrderRequest(
            plant=plant,
            material=material.number,
            quantity=Decimal(quantity),
            uom="PC",
            scheduled_start=timezone.now() + dt.timedelta(hours=self.rng.randint(1, 48)),
            components=[
                {"material": component, "quantity": round(per_piece * quantity, 3), "uom": uom,
                 "lot_controlled": lot_controlled}
                for component, per_piece, uom, lot_controlled in material.bom
            ],
        )
        answer = systems.production_order_release(self.system, request)
        order_number = answer.body.get("order_number")
        if answer.status == 201:
            tower = answer.body["tower"]["status_code"]
            self.stdout.write(f"{order_number} plant {plant} {material.number} x{quantity} → tower {tower}")
        else:
            self.stderr.write(f"{order_number or '-'} plant {plant} {material.number} x{quantity} → "
                              f"{answer.status} {answer.body['error']['message']}")
        return order_number

    # Pacing ---------------------------------------------------------------------------------------

    def _stop(self, signum, frame) -> None:
        self.stopping = True

    def _pause(self, seconds: float) -> None:
        # Short sleeps, so a stop request is honoured within a fraction of a second.
        deadline = time.monotonic() + seconds
        while not self.stopping and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.2))
