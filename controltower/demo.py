"""Demo data: three plants, their systems, routing rules and one person per role.

Idempotent: running it again updates what exists. Each run sets a fresh password for the demo
people and issues fresh API keys for the demo systems, since neither is stored in clear.
"""

import secrets
from dataclasses import dataclass, field

from django.contrib.auth.models import Group
from django.db import transaction as db_transaction

from controltower.models import Plant, User
from controltower.roles import Role
from integrations.choices import LatencyClass, MappingDomain, SystemKind
from integrations.models import ApiKey, RoutingRule, System, ValueMapping

PLANTS = [
    ("1000", "Hamburg assembly", "Europe/Berlin"),
    ("2000", "Columbus machining", "America/New_York"),
    ("3000", "Monterrey packaging", "America/Monterrey"),
]

# code, name, kind, adapter, plants served. Adapters not yet in the registry (ERP, MES, QMS
# formats) are named already so that configuration does not change when they arrive.
SYSTEMS = [
    ("ERP-S4", "SAP S/4HANA", SystemKind.ERP, "erp_s4", ["1000", "2000", "3000"]),
    ("WMS-EAST", "Warehouse east", SystemKind.WMS, "wms_rest", ["1000", "2000"]),
    ("WMS-WEST", "Warehouse west", SystemKind.WMS, "wms_rest", ["3000"]),
    ("MES-P1000", "MES Hamburg", SystemKind.MES, "mes_b2mml", ["1000"]),
    ("MES-P2000", "MES Columbus", SystemKind.MES, "mes_b2mml", ["2000"]),
    ("MES-P3000", "MES Monterrey", SystemKind.MES, "mes_b2mml", ["3000"]),
    ("QMS-CENTRAL", "Quality central", SystemKind.QMS, "qms_epcis", ["1000", "2000", "3000"]),
]

WMS_OF_PLANT = {"1000": "WMS-EAST", "2000": "WMS-EAST", "3000": "WMS-WEST"}

# Per plant: event type, sender (None: any), systems that must act ({wms}, {plant} filled in),
# latency class. A rule with no target keeps the event on record only (status "ignored"): the
# order's view and reconciliation read it, no system needs to act on it.
ROUTES = [
    ("production_order.released", None, ["{wms}", "MES-P{plant}"], LatencyClass.IMMEDIATE),
    ("production_order.changed", None, ["MES-P{plant}"], LatencyClass.IMMEDIATE),
    ("production_order.cancelled", None, ["MES-P{plant}"], LatencyClass.IMMEDIATE),
    ("production_order.closed", None, [], LatencyClass.IMMEDIATE),
    ("material.staged", None, [], LatencyClass.IMMEDIATE),
    # The warehouse's pick posts the goods issue; the MES's consumption report is information only,
    # or every issue would be posted twice.
    ("material.issued", "{wms}", ["ERP-S4"], LatencyClass.NEAR_REAL_TIME),
    ("material.issued", "MES-P{plant}", [], LatencyClass.NEAR_REAL_TIME),
    ("material.shortage", None, [], LatencyClass.IMMEDIATE),
    ("operation.completed", None, ["ERP-S4"], LatencyClass.NEAR_REAL_TIME),
    # The ERP receives the output from the completion; the warehouse puts it away.
    ("production.completed", None, ["ERP-S4", "{wms}"], LatencyClass.NEAR_REAL_TIME),
    ("quality.hold_placed", None, ["ERP-S4", "{wms}"], LatencyClass.IMMEDIATE),
    ("quality.hold_released", None, ["ERP-S4", "{wms}"], LatencyClass.IMMEDIATE),
    ("goods.received", None, [], LatencyClass.IMMEDIATE),  # production receipts are posted from the completion
    ("inventory.adjusted", None, [], LatencyClass.IMMEDIATE),
    ("inventory.snapshot", None, ["ERP-S4"], LatencyClass.END_OF_DAY),
    ("shipment.confirmed", None, [], LatencyClass.IMMEDIATE),
]

# Each system's words for the canonical ones: the ERP's PC and storage locations, the MES's
# lower-case units, the warehouses' bins.
MAPPINGS = [
    ("ERP-S4", MappingDomain.UOM, "PC", "EA"),
    ("ERP-S4", MappingDomain.LOCATION, "0001", "RM-STORE"),
    ("ERP-S4", MappingDomain.LOCATION, "0002", "FG-STORE"),
    ("ERP-S4", MappingDomain.LOCATION, "0003", "LINE"),
    *[(mes, MappingDomain.UOM, unit.lower(), unit) for mes in ("MES-P1000", "MES-P2000", "MES-P3000")
      for unit in ("EA", "KG", "L", "M")],
    *[(wms, MappingDomain.LOCATION, bin_, canonical) for wms in ("WMS-EAST", "WMS-WEST")
      for bin_, canonical in (("A-01-01", "RM-STORE"), ("A-01-02", "RM-STORE"), ("FG-01-01", "FG-STORE"),
                              ("LINE-1", "LINE"))],
]

# username, role, plants (None: all)
PEOPLE = [
    ("admin", Role.INTEGRATION_ADMIN, None),
    ("planner1000", Role.PLANNER, ["1000"]),
    ("supervisor2000", Role.WAREHOUSE_SUPERVISOR, ["2000"]),
    ("finance", Role.FINANCE, ["1000", "2000", "3000"]),
    ("viewer", Role.VIEWER, ["1000"]),
]


@dataclass
class DemoSeed:
    password: str
    api_keys: dict[str, str] = field(default_factory=dict)


@db_transaction.atomic
def demo_seed(*, sandbox_url: str) -> DemoSeed:
    """Create or update the demo plants, systems, rules and people; return their credentials."""
    plants = {}
    for code, name, tz in PLANTS:
        plants[code], _ = Plant.objects.update_or_create(code=code, defaults={"name": name, "time_zone": tz})

    seed = DemoSeed(password=secrets.token_urlsafe(9))
    for code, name, kind, adapter, served in SYSTEMS:
        system, _ = System.objects.update_or_create(
            code=code,
            defaults={"name": name, "kind": kind, "adapter": adapter,
                      "base_url": f"{sandbox_url.rstrip('/')}/sandbox/{code}"},
        )
        system.plants.set([plants[c] for c in served])
        _, seed.api_keys[code] = ApiKey.issue(system, revoke_others=True)

    for code in plants:
        names = {"wms": WMS_OF_PLANT[code], "plant": code}
        for event_type, source, targets, latency in ROUTES:
            sender = System.objects.get(code=source.format(**names)) if source else None
            rule, _ = RoutingRule.objects.update_or_create(
                name=f"{event_type} of plant {code}" + (f" from {sender.code}" if sender else ""),
                defaults={"event_type": event_type, "plant": plants[code], "source": sender,
                          "latency_class": latency, "is_active": True},
            )
            rule.targets.set(System.objects.filter(code__in=[t.format(**names) for t in targets]))
    for system_code, domain, external, canonical in MAPPINGS:
        ValueMapping.objects.update_or_create(system=System.objects.get(code=system_code), domain=domain,
                                              external_value=external, defaults={"canonical_value": canonical})

    for username, role, plant_codes in PEOPLE:
        person, _ = User.objects.get_or_create(username=username)
        person.is_staff = person.is_superuser = role == Role.INTEGRATION_ADMIN
        person.set_password(seed.password)
        person.save()
        person.groups.set([Group.objects.get(name=role)])
        person.plants.set(plants.values() if plant_codes is None else [plants[c] for c in plant_codes])
    return seed
