"""Play production traffic across the simulated plant (sandbox.lifecycle): release, staging, picks,
operations, completion, putaway and shipment, each pushed to the tower by the system that owns it.

    python -m django sandbox_traffic --settings sandbox.settings --rate 0.2 --plants 1000,2000,3000

`--releases-only` just releases orders in the ERP.
"""

import datetime as dt
import random
import signal
import time
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from sandbox import systems
from sandbox.lifecycle import CATALOGUE, LOT_SIZES, Lifecycles
from sandbox.models import OutboundLink


class Command(BaseCommand):
    help = "Play production-order lifecycles across the simulated ERP, WMS, MES and QMS at a steady rate."

    def add_arguments(self, parser):
        parser.add_argument("--rate", type=float, default=0.2, help="orders per second (default 0.2)")
        parser.add_argument("--plants", default="1000,2000,3000", help="comma-separated plant codes")
        parser.add_argument("--count", type=int, help="stop after this many orders (default: run until stopped)")
        parser.add_argument("--seed", type=int, help="random seed, for a repeatable run")
        parser.add_argument("--system", default="ERP-S4", help="the simulated ERP that releases (default ERP-S4)")
        parser.add_argument("--releases-only", action="store_true",
                            help="only release orders (default: play each order's whole lifecycle)")

    def handle(self, *args, rate, plants, count, seed, system, releases_only, **options):
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

        if not releases_only:
            self.play_lifecycles(rate=rate, count=count)
            return
        released = 0
        while not self.stopping and (count is None or released < count):
            self.release_order()
            released += 1
            if count is None or released < count:
                self._pause(1 / rate)
        self.stdout.write(f"released {released} order(s)")

    def play_lifecycles(self, *, rate: float, count: int | None) -> None:
        """Start an order every 1/rate seconds and run every order's steps when due, until stopped."""
        lifecycles = Lifecycles(plants=self.plants, rng=self.rng, say=self.stdout.write, erp_code=self.system)
        started, began = 0, time.monotonic()
        next_start = 0.0
        while not self.stopping and (count is None or started < count or lifecycles.busy):
            now = time.monotonic() - began
            lifecycles.tick(now)
            if (count is None or started < count) and now >= next_start:
                lifecycles.start()
                started += 1
                next_start = now + 1 / rate
            self._pause(0.1)
        self.stdout.write(f"started {started} order lifecycle(s)")

    # Lifecycle steps ------------------------------------------------------------------------------

    def release_order(self) -> str | None:
        """Release one order for a random plant in the ERP and push it; the order number, or None."""
        plant = self.rng.choice(self.plants)
        material, _, bom = self.rng.choice(CATALOGUE)
        quantity = self.rng.choice(LOT_SIZES)
        request = systems.ProductionOrderRequest(
            plant=plant,
            material=material,
            quantity=Decimal(quantity),
            uom="PC",
            scheduled_start=timezone.now() + dt.timedelta(hours=self.rng.randint(1, 48)),
            components=[
                {"material": component, "quantity": round(per_piece * quantity, 3), "uom": uom,
                 "lot_controlled": lot_controlled}
                for component, per_piece, uom, lot_controlled in bom
            ],
        )
        answer = systems.production_order_release(self.system, request)
        order_number = answer.body.get("order_number")
        if answer.status == 201:
            tower = answer.body["tower"]["status_code"]
            self.stdout.write(f"{order_number} plant {plant} {material} x{quantity} → tower {tower}")
        else:
            self.stderr.write(f"{order_number or '-'} plant {plant} {material} x{quantity} → "
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
