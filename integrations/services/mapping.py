"""Value mappings: each system's vocabulary ↔ the canonical one (ERP `PC` ↔ canonical `EA`).

Inbound, a sender's values become canonical when the transaction is routed; outbound, canonical
values become the target's own where it has a mapping. A unit of measure that is neither
canonical nor mapped stops the transaction: it waits, with one mapping exception per value,
and is reprocessed by itself when a person adds the mapping
(`integrations.services.configuration.value_mapping_save`).
"""

from dataclasses import dataclass

from django.db import transaction as db_transaction

from controltower.roles import Role
from exceptions_queue.models import Category
from exceptions_queue.services import exception_raise, exceptions_resolve
from integrations.choices import CANONICAL_UOMS, MappingDomain, TransactionStatus
from integrations.doorbell import ring_router
from integrations.models import System, Transaction, ValueMapping

# Which keys of canonical data hold values of which domain, wherever they appear.
DOMAIN_OF_KEY = {
    "uom": MappingDomain.UOM,
    "material": MappingDomain.MATERIAL,
    "location": MappingDomain.LOCATION,
    "from_location": MappingDomain.LOCATION,
    "to_location": MappingDomain.LOCATION,
    "movement_type": MappingDomain.MOVEMENT_TYPE,
}



@dataclass
class MappingMissing(Exception):
    system: str
    domain: str
    value: str
    pointer: str

    @property
    def key(self) -> str:
        return f"mapping:{self.system}:{self.domain}:{self.value}"


class Vocabulary:
    """One system's mappings, read once, both ways."""

    def __init__(self, system: System):
        self.system = system
        rows = list(ValueMapping.objects.filter(system=system).values_list("domain", "external_value",
                                                                           "canonical_value", "outbound"))
        self.to_canonical = {(d, e): c for d, e, c, _ in rows}
        # Several spellings may mean one canonical value inbound; only the outbound one is sent.
        self.to_external = {(d, c): e for d, e, c, outbound in rows if outbound}

    def canonical(self, domain: str, value: str, pointer: str) -> str:
        mapped = self.to_canonical.get((domain, value))
        if mapped is not None:
            return mapped
        if domain == MappingDomain.UOM and value not in CANONICAL_UOMS:
            raise MappingMissing(self.system.code, domain, value, pointer)
        return value

    def external(self, domain: str, value: str, pointer: str) -> str:
        return self.to_external.get((domain, value), value)


def _translate(data, translate, pointer: str = "/data"):
    if isinstance(data, dict):
        return {
            key: translate(DOMAIN_OF_KEY[key], value, f"{pointer}/{key}")
            if key in DOMAIN_OF_KEY and isinstance(value, str) else _translate(value, translate, f"{pointer}/{key}")
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [_translate(item, translate, f"{pointer}/{index}") for index, item in enumerate(data)]
    return data


def data_canonicalize(data: dict, source: System) -> dict:
    """The sender's data in canonical values; raises MappingMissing naming the first unmapped one."""
    return _translate(data, Vocabulary(source).canonical)


def data_localize(data: dict, target: System) -> dict:
    """Canonical data in the target's own values, where it has mappings."""
    return _translate(data, Vocabulary(target).external)


def transaction_wait_for_mapping(tx: Transaction, missing: MappingMissing) -> None:
    """Park the transaction until the mapping exists; one exception per missing value."""
    tx.waiting_for = missing.key
    tx.set_status(TransactionStatus.PARKED, f"waits for a {missing.domain} mapping of {missing.value!r} from "
                                            f"{missing.system} (at {missing.pointer})")
    tx.save(update_fields=["status", "status_changed_at", "history", "waiting_for"])
    exception_raise(
        cause_key=missing.key, category=Category.MAPPING, role=Role.INTEGRATION_ADMIN, plant=tx.plant,
        transaction=tx,
        title=f"No {missing.domain} mapping for {missing.value!r} from {missing.system}",
        detail=f"Messages from {missing.system} use {missing.value!r} ({missing.pointer}), which is not a canonical "
               f"{missing.domain}. Add the mapping: every waiting message is then processed by itself.",
    )


def mapping_reprocess_waiting(*, mapping: ValueMapping, actor=None) -> int:
    """Send the transactions that waited for `mapping` back to routing; resolve its exception."""
    key = f"mapping:{mapping.system.code}:{mapping.domain}:{mapping.external_value}"
    waiting = list(Transaction.objects.select_for_update().filter(waiting_for=key, status=TransactionStatus.PARKED))
    for tx in waiting:
        tx.waiting_for = ""
        tx.set_status(TransactionStatus.RECEIVED, f"mapping {mapping.external_value!r} → "
                                                  f"{mapping.canonical_value!r} added: reprocessing")
    Transaction.objects.bulk_update(waiting, ["waiting_for", "status", "status_changed_at", "history"])
    who = getattr(actor, "username", "") or "the system"
    exceptions_resolve(cause_key=key, resolution=f"mapping added by {who}; {len(waiting)} waiting message(s) "
                                                  "reprocessed")
    if waiting:
        db_transaction.on_commit(ring_router)
    return len(waiting)
