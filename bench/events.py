"""The one message shape every figure uses: a valid `production_order.released` CloudEvent of about 1 KB
(pg_column_size of its JSONB about 1,010 bytes; research §4's payload was 987-991).

The raw PostgreSQL references store this same event as their JSONB payload, so tower and
reference write rows of the same shape.
"""

import itertools
import uuid

PLANTS = ("1000", "2000", "3000")  # the demo seed routes released orders to each plant's WMS and MES
_sequence = itertools.count(1)


def released_event(phase: str) -> dict:
    """A new event; its id starts with ERP-S4-<phase>- so a phase's transactions can be found later."""
    n = next(_sequence)
    plant = PLANTS[n % len(PLANTS)]
    return {
        "specversion": "1.0",
        "id": f"ERP-S4-{phase}-{uuid.uuid4()}",
        "source": "ERP-S4",
        "type": "production_order.released",
        "time": "2026-11-23T08:00:00Z",
        "plant": plant,
        "datacontenttype": "application/json",
        "data": {
            "order_number": f"{n:010d}",
            "plant": plant,
            "material": "FG-100",
            "quantity": {"value": 50, "uom": "EA"},
            "scheduled_start": "2026-11-24T06:00:00+01:00",
            "components": [{"material": f"RM-{210 + i}", "quantity": 100 + i, "uom": "EA",
                            "lot_controlled": i % 2 == 0} for i in range(4)],
            "routing": [{"operation": f"{10 * (i + 1):04d}", "work_center": f"WC-{plant}-{i + 1:02d}"}
                        for i in range(3)],
        },
    }
