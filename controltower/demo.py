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

    for code, wms in WMS_OF_PLANT.items():
        rule, _ = RoutingRule.objects.update_or_create(
            name=f"Released orders of plant {code} to {wms}",
            defaults={"event_type": "production_order.released", "plant": plants[code],
                      "latency_class": LatencyClass.IMMEDIATE, "is_active": True},
        )
        rule.targets.set([System.objects.get(code=wms)])

    # The ERP counts pieces as PC; the canonical unit (and the warehouses') is EA.
    ValueMapping.objects.get_or_create(system=System.objects.get(code="ERP-S4"), domain=MappingDomain.UOM,
                                       external_value="PC", defaults={"canonical_value": "EA"})

    for username, role, plant_codes in PEOPLE:
        person, _ = User.objects.get_or_create(username=username)
        person.is_staff = person.is_superuser = role == Role.INTEGRATION_ADMIN
        person.set_password(seed.password)
        person.save()
        person.groups.set([Group.objects.get(name=role)])
        person.plants.set(plants.values() if plant_codes is None else [plants[c] for c in plant_codes])
    return seed
