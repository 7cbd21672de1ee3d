"""Configuration writes by integration admins: systems, routing rules, value mappings, SLAs, windows.

Every write validates with the model's own rules (`full_clean`, so `MaintenanceWindow.clean()` and
the unique constraints apply), runs in one database transaction, and leaves an audit entry with the
object before and after. A routing rule edit also bumps the rule's `version` and keeps a
`RoutingRuleVersion` snapshot, so a transaction can always be traced to the rule as it was.
"""

import datetime as dt
import uuid
from decimal import Decimal

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models
from django.db import transaction as db_transaction

from controltower.api import Problem, pointers
from controltower.models import Plant, User, audit_record
from integrations.models import (
    Delivery,
    MaintenanceWindow,
    RoutingRule,
    RoutingRuleVersion,
    ServiceLevel,
    System,
    Transaction,
    ValueMapping,
)
from integrations.services.ingest import PlantsByCode, _check_envelope, _prepare
from integrations.services.mapping import mapping_reprocess_waiting
from integrations.services.routing import Route, routes_for


def _json_value(value):
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    return value


def _label(related: models.Model):
    # Systems and plants are known to people by their code, not their database id.
    return getattr(related, "code", related.pk)


def snapshot(obj: models.Model) -> dict:
    """The object's fields as JSON, related systems and plants by code (many-to-many sorted)."""
    out = {}
    for field in obj._meta.concrete_fields:
        if field.is_relation:
            related = getattr(obj, field.name)
            out[field.name] = _label(related) if related is not None else None
        else:
            out[field.name] = _json_value(field.value_from_object(obj))
    if obj.pk is not None:
        for field in obj._meta.many_to_many:
            out[field.name] = sorted(_label(related) for related in getattr(obj, field.name).all())
    return out


def _validate(obj: models.Model) -> None:
    """Run the model's own rules; refuse with 422 and a pointer per field (`/` for the whole object)."""
    try:
        obj.full_clean()
    except ValidationError as e:
        details = {("non_field_errors" if key == NON_FIELD_ERRORS else key): value
                   for key, value in e.message_dict.items()}
        raise Problem(422, "Invalid configuration", f"This {obj._meta.verbose_name} is not valid.",
                      pointers(details), slug="invalid-configuration") from None


def _actor_user(actor) -> User | None:
    return actor if isinstance(actor, User) else None


def _write(*, obj: models.Model, fields: dict, m2m: dict[str, list] | None = None) -> tuple[dict | None, dict]:
    """Apply `fields` (and many-to-many sets) to `obj`, validate, save; return (before, after).

    The row is re-read under a lock: concurrent edits queue up instead of overwriting each other,
    `before` is what was stored even when the caller's instance already carries new values (the
    admin's form applies them before saving), and fields not being edited are not saved stale.
    Caller holds the database transaction.
    """
    before = None
    if obj.pk is not None:
        current = type(obj).objects.select_for_update().get(pk=obj.pk)
        before = snapshot(current)
        for field in obj._meta.concrete_fields:
            setattr(obj, field.attname, getattr(current, field.attname))
    for name, value in fields.items():
        setattr(obj, name, value)
    _validate(obj)
    obj.save()
    for name, related in (m2m or {}).items():
        if related is not None:
            getattr(obj, name).set(related)
    return before, snapshot(obj)


def config_save(*, obj: models.Model, fields: dict, actor, m2m: dict[str, list] | None = None) -> models.Model:
    """Create or edit a configuration object and audit it; an edit that changes nothing is not recorded."""
    with db_transaction.atomic():
        before, after = _write(obj=obj, fields=fields, m2m=m2m)
        if before != after:
            audit_record(actor=actor, action="create" if before is None else "change", obj=obj,
                         before=before, after=after)
    return obj


def config_delete(*, obj: models.Model, actor) -> None:
    """Delete a configuration object; the audit entry keeps what it was."""
    with db_transaction.atomic():
        audit_record(actor=actor, action="delete", obj=obj, before=snapshot(obj))
        obj.delete()


# Systems ---------------------------------------------------------------------------------------------


def system_save(*, system: System, fields: dict, plants: list[Plant] | None, actor) -> System:
    """Create or edit a system (and the plants it serves, when given); audited."""
    return config_save(obj=system, fields=fields, m2m={"plants": plants}, actor=actor)


def system_delete(*, system: System, actor) -> None:
    """Delete a system that has no history and no routing rule pointing at it; 409 otherwise.

    Transactions and deliveries keep their system for years; a rule target removed by a cascade
    would change the rule without a new version.
    """
    if Transaction.objects.filter(source=system).exists() or Delivery.objects.filter(target=system).exists():
        raise Problem(409, "System in use", f"{system.code} has transactions; deactivate it instead.",
                      [{"pointer": "/", "detail": "has transactions or deliveries"}], slug="system-in-use")
    rules = list(system.routing_rules.values_list("name", flat=True))
    if rules:
        raise Problem(409, "System in use", f"{system.code} is a target of routing rules: {', '.join(rules)}. "
                      "Remove it from them first.", [{"pointer": "/", "detail": "routing rules target it"}],
                      slug="system-in-use")
    config_delete(obj=system, actor=actor)


# Routing rules ---------------------------------------------------------------------------------------

_NOT_A_CHANGE = ("version",)


def _rule_changes(before: dict | None, after: dict) -> bool:
    if before is None:
        return True
    return {k: v for k, v in before.items() if k not in _NOT_A_CHANGE} != {
        k: v for k, v in after.items() if k not in _NOT_A_CHANGE}


def _routing_rule_write(*, rule: RoutingRule, fields: dict, targets: list[System] | None, actor,
                        action: str) -> RoutingRule:
    with db_transaction.atomic():
        before, after = _write(obj=rule, fields=fields, m2m={"targets": targets})
        if not _rule_changes(before, after):
            return rule
        if before is not None:
            # A rule made before versioning (or by a fixture) has no snapshot of its current
            # version yet: keep it now, before it is replaced.
            RoutingRuleVersion.objects.get_or_create(rule=rule, version=before["version"],
                                                     defaults={"snapshot": before})
            rule.version = before["version"] + 1
            rule.save(update_fields=["version"])
            after["version"] = rule.version
        RoutingRuleVersion.objects.create(rule=rule, version=rule.version, snapshot=after,
                                          created_by=_actor_user(actor))
        audit_record(actor=actor, action="create" if before is None else action, obj=rule,
                     before=before, after=after)
    return rule


def routing_rule_save(*, rule: RoutingRule, fields: dict, targets: list[System] | None, actor) -> RoutingRule:
    """Create or edit a routing rule; `targets` None keeps the current ones.

    A new rule is version 1; every save that changes anything bumps `version` and keeps a snapshot
    of the new version (fields and target codes), so older versions stay readable. Audited.
    """
    return _routing_rule_write(rule=rule, fields=fields, targets=targets, actor=actor, action="change")


def routing_rule_deactivate(*, rule: RoutingRule, actor) -> RoutingRule:
    """Switch a rule off (rules are never deleted: transactions name the version that routed them)."""
    return _routing_rule_write(rule=rule, fields={"is_active": False}, targets=None, actor=actor,
                               action="deactivate")


def routing_rules_test(*, event: object) -> list[Route]:
    """The routes a CloudEvent would get, validated exactly as ingest validates it; nothing is stored.

    The event's `source` must be a configured system (an admin is testing, so no API key is needed).
    """
    claimed = event.get("source") if isinstance(event, dict) else None
    source = System.objects.filter(code=claimed).first() if isinstance(claimed, str) else None
    # The envelope is judged first, as ingest does; a stand-in with the claimed code passes the
    # source-matches-key check, which does not apply here.
    _check_envelope(source or System(code=str(claimed)), event)
    if source is None:
        raise Problem(422, "Unknown source", f"No system has the code {claimed!r}.",
                      [{"pointer": "/source", "detail": f"unknown system {claimed!r}"}], slug="unknown-source")
    tx = _prepare(source, event, PlantsByCode())  # built, never saved
    return routes_for(tx.event_type, tx.plant_id, tx.canonical_payload, tx.source_id)


# Value mappings, SLAs, maintenance windows: the generic write is all they need ----------------------


def value_mapping_save(*, mapping: ValueMapping, fields: dict, actor) -> ValueMapping:
    """Create or edit a value mapping, audited; every message waiting for it is then reprocessed."""
    with db_transaction.atomic():
        config_save(obj=mapping, fields=fields, actor=actor)
        mapping_reprocess_waiting(mapping=mapping, actor=actor)
    return mapping


def value_mapping_delete(*, mapping: ValueMapping, actor) -> None:
    config_delete(obj=mapping, actor=actor)


def service_level_save(*, service_level: ServiceLevel, fields: dict, actor) -> ServiceLevel:
    """Create or edit an SLA; audited."""
    return config_save(obj=service_level, fields=fields, actor=actor)


def service_level_delete(*, service_level: ServiceLevel, actor) -> None:
    config_delete(obj=service_level, actor=actor)


def maintenance_window_save(*, window: MaintenanceWindow, fields: dict, actor) -> MaintenanceWindow:
    """Create or edit a maintenance window; its `clean()` rules answer 422 with pointers. Audited."""
    return config_save(obj=window, fields=fields, actor=actor)


def maintenance_window_delete(*, window: MaintenanceWindow, actor) -> None:
    config_delete(obj=window, actor=actor)
