"""What a person can do about an exception. Each action is audited; each says what it changed.

`retry` sends the failed delivery again with its idempotency key; `resubmit` sends corrected
content as a new posting (the target refused the old one, so there is nothing to apply twice);
`map_value` adds the missing value mapping and reprocesses everything waiting for it.
"""

import uuid

from django.db import transaction as db_transaction
from django.utils import timezone

from controltower.api import Problem
from controltower.models import User, audit_record
from exceptions_queue.models import Category, ExceptionCase, Status
from integrations import contracts
from integrations.choices import DeliveryStatus, MappingDomain
from integrations.doorbell import ring_deliveries
from integrations.models import Delivery, ValueMapping
from integrations.services.configuration import value_mapping_save
from integrations.services.transactions import transaction_refresh_status

ACTIONS = ("assign", "retry", "resubmit", "map_value", "cancel", "resolve")
RETRYABLE = (DeliveryStatus.REJECTED, DeliveryStatus.DEAD, DeliveryStatus.PARKED, DeliveryStatus.HELD)


def may_act(user, exception: ExceptionCase) -> bool:
    return user.sees_all_plants or user.has_role(exception.role)


def _require(condition: bool, detail: str, pointer: str = "/") -> None:
    if not condition:
        raise Problem(422, "Action not possible", detail, [{"pointer": pointer, "detail": detail}],
                      slug="invalid-action")


def _close(exception: ExceptionCase, resolution: str, status: str = Status.RESOLVED) -> None:
    now = timezone.now()
    exception.status, exception.resolution, exception.resolved_at, exception.updated_at = status, resolution, now, now
    exception.save(update_fields=["status", "resolution", "resolved_at", "updated_at"])


def _delivery_resend(delivery: Delivery, note: str, *, new_key: bool = False) -> None:
    delivery.status, delivery.next_attempt_at, delivery.held_reason, delivery.last_error = (
        DeliveryStatus.PENDING, timezone.now(), "", "")
    fields = ["status", "next_attempt_at", "held_reason", "last_error"]
    if new_key:
        delivery.idempotency_key = uuid.uuid4()
        fields.append("idempotency_key")
    delivery.save(update_fields=fields)
    transaction_refresh_status(delivery.transaction_id, note)
    db_transaction.on_commit(lambda: ring_deliveries(delivery.latency_class))


def _delivery_end(delivery: Delivery | None, note: str) -> None:
    """A person decided this delivery will not be made (or was made by hand): it ends as cancelled,
    and its transaction no longer shows as failed or in flight. A delivered one stays delivered."""
    if delivery is None:
        return
    if delivery.status != DeliveryStatus.DELIVERED:
        delivery.status, delivery.lease_owner, delivery.lease_expires_at = DeliveryStatus.CANCELLED, "", None
        delivery.save(update_fields=["status", "lease_owner", "lease_expires_at"])
    transaction_refresh_status(delivery.transaction_id, note)


def exception_act(*, exception_id: int, action: str, actor: User, data: dict) -> ExceptionCase:
    """Carry out `action` on an exception the actor may see and act on; return it afterwards."""
    if action not in ACTIONS:
        raise Problem(404, "Not found", f"No action {action!r}; actions: {', '.join(ACTIONS)}.")
    with db_transaction.atomic():
        exception = ExceptionCase.objects.for_user(actor).select_for_update(of=("self",)).select_related(
            "delivery__target", "delivery__transaction", "transaction__source").get(pk=exception_id)
        if not may_act(actor, exception):
            raise Problem(403, "Forbidden", f"This exception is in the {exception.get_role_display()} queue.")
        _require(action == "assign" or exception.status == Status.OPEN, f"The exception is {exception.status}.")
        before = {"status": exception.status, "owner": exception.owner.username if exception.owner else None}
        reason = str(data.get("reason") or "").strip()
        delivery = exception.delivery
        who = actor.username

        if action == "assign":
            username = data.get("owner") or who
            owner = User.objects.filter(username=username, is_active=True).first()
            _require(owner is not None, f"No person {username!r}.", "/owner")
            _require(may_act(owner, exception) and (exception.plant_id is None or owner.sees_all_plants
                                                    or owner.plants.filter(pk=exception.plant_id).exists()),
                     f"{username} cannot act on this exception: it needs the {exception.get_role_display()} "
                     "role and its plant.", "/owner")
            exception.owner, exception.updated_at = owner, timezone.now()
            exception.save(update_fields=["owner", "updated_at"])
        elif action == "retry":
            _require(delivery is not None and delivery.status in RETRYABLE,
                     "Only a rejected, dead, parked or held delivery can be retried.")
            _delivery_resend(delivery, f"retried by {who}" + (f": {reason}" if reason else ""))
            _close(exception, f"retried by {who}")
        elif action == "resubmit":
            tx = exception.transaction
            payload = data.get("payload")
            _require(tx is not None and delivery is not None, "This exception has no delivery to resubmit.")
            _require(delivery.status != DeliveryStatus.DELIVERED,
                     f"{delivery.target.code} already has it (delivered): resubmitting would post it twice.")
            _require(isinstance(payload, dict), "Send the corrected `payload` (the event data).", "/payload")
            key_field = (contracts.schema(tx.event_type, tx.schema_version) or {}).get("x-business-key", "")
            for field, kept in (("plant", tx.plant.code if tx.plant else None), (key_field, tx.business_key or None)):
                _require(field not in payload or kept is None or str(payload[field]) == kept,
                         f"A correction keeps the message's {field} ({kept}); send a new message for another.",
                         f"/payload/{field}")
            errors = contracts.errors(tx.event_type, tx.schema_version, payload, prefix="/payload")
            if errors:
                raise Problem(422, "Invalid payload", f"The payload does not match {tx.event_type}.", errors,
                              slug="invalid-event")
            tx.canonical_payload = payload
            tx.save(update_fields=["canonical_payload"])
            _delivery_resend(delivery, f"resubmitted with corrected content by {who}", new_key=True)
            _close(exception, f"resubmitted with corrected content by {who}")
        elif action == "map_value":
            _require(exception.category == Category.MAPPING, "Only a mapping exception takes a value mapping.")
            _, system, domain, value = exception.cause_key.split(":", 3)
            canonical = data.get("canonical_value")
            _require(isinstance(canonical, str) and bool(canonical.strip()), "Name the canonical value (a text).",
                     "/canonical_value")
            canonical = canonical.strip()
            _require(domain in MappingDomain.values, f"Unknown domain {domain!r}.")
            source = exception.transaction.source if exception.transaction else None
            _require(source is not None and source.code == system, "The system of this exception is unknown.")
            value_mapping_save(mapping=ValueMapping(system=source), actor=actor, fields={
                "domain": domain, "external_value": value, "canonical_value": canonical,
            })  # resolves this exception and reprocesses every waiting message
            exception.refresh_from_db()
        elif action == "cancel":
            _require(bool(reason), "Say why the delivery is cancelled.", "/reason")
            _delivery_end(delivery, f"cancelled by {who}: {reason}")
            _close(exception, f"cancelled by {who}: {reason}", Status.CANCELLED)
        elif action == "resolve":
            _require(bool(reason), "Say how it was resolved.", "/reason")
            _delivery_end(delivery, f"resolved outside the tower by {who}: {reason}")
            _close(exception, f"resolved by {who}: {reason}")

        audit_record(actor=actor, action=f"exception.{action}", obj=exception, before=before, reason=reason,
                     after={"status": exception.status, "owner": exception.owner.username if exception.owner else None,
                            **{k: v for k, v in data.items() if k != "reason"}})
    return exception
