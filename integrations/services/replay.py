"""Replay: send transactions again to their targets, one at once or many as a job with progress.

Replays reuse each delivery's idempotency key, so a target that already applied a posting applies
it once only; only a person with a reason may ask for a new posting (a new key). A replay does not
call the target itself: it makes the delivery due again and rings its delivery queue, so the send
goes through the usual path (gates, rate limit, retries, attempts). Bulk jobs are worked by
`replay_run` on the maintenance queue, in order of receipt and at a bounded rate
(`CT_REPLAY_RATE_PER_S`), so that a big replay cannot starve live traffic.
"""

import dataclasses
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction as db_transaction
from django.db.models import Q, QuerySet
from django.http import QueryDict
from django.utils import timezone

from controltower.api import Problem
from controltower.env import env_int
from controltower.live import notify_transactions_changed
from controltower.models import audit_record
from integrations.choices import DeliveryStatus
from integrations.doorbell import ring_deliveries, ring_replay
from integrations.filtersets import TransactionFilterSet
from integrations.models import Delivery, ReplayItem, ReplayJob, System, Transaction
from integrations.services.delivery import outbound_event
from integrations.services.transactions import transaction_refresh_status

logger = logging.getLogger(__name__)

# Items worked in one short DB transaction while the job row is locked; the rate is kept between chunks.
CHUNK_SIZE = 10
# A run hands its worker back after this long and rings for the rest, so a long replay never holds
# a maintenance worker (the sweeper's) for minutes, nor outlives the broker's visibility timeout.
SLICE_S = 20.0


class Action:
    """What a replay did, or would do, for one delivery (ReplayItem.action)."""

    QUEUED = "queued"  # not worked yet
    RESEND = "resend"
    NEW_POSTING = "new_posting"
    SKIPPED_IN_FLIGHT = "skipped_in_flight"
    SKIPPED_PARKED = "skipped_parked"
    FAILED = "failed"

    @staticmethod
    def would(action: str) -> str:
        return {Action.SKIPPED_IN_FLIGHT: "would_skip_in_flight",
                Action.SKIPPED_PARKED: "would_skip_parked"}.get(action, f"would_{action}")


def replay_rate_per_s() -> int:
    """Items a bulk replay works per second (CT_REPLAY_RATE_PER_S, read at call time)."""
    return env_int("CT_REPLAY_RATE_PER_S", 50, minimum=1)


@dataclass(frozen=True)
class ReplayOutcome:
    """What happened to one delivery. `idempotency_key` is the key sent (None: a new one would be made)."""

    action: str
    detail: str
    idempotency_key: str | None
    previous_idempotency_key: str | None = None
    latency_class: str = ""
    plant_code: str = ""

    @property
    def resent(self) -> bool:
        return self.action in (Action.RESEND, Action.NEW_POSTING)


def _actor_label(actor) -> str:
    return getattr(actor, "username", None) or "a deleted user"


def delivery_replay(*, delivery_id: int, actor_label: str, reason: str, new_posting: bool = False,
                    dry_run: bool = False, job: ReplayJob | None = None) -> ReplayOutcome:
    """Make one delivery due again (or say what that would do). Call inside `atomic()`.

    Locks the delivery, then its transaction, the order `delivery_record_outcome` takes them in.
    """
    now = timezone.now()
    deliveries = Delivery.objects.select_related("target", "transaction__source", "transaction__plant")
    if not dry_run:
        deliveries = deliveries.select_for_update(of=("self",))
    d = deliveries.get(pk=delivery_id)
    key = str(d.idempotency_key)
    plant_code = d.transaction.plant.code if d.transaction.plant else ""

    def outcome(action: str, detail: str, **kw) -> ReplayOutcome:
        return ReplayOutcome(Action.would(action) if dry_run else action, detail, **kw,
                             latency_class=d.latency_class, plant_code=plant_code)

    if d.lease_expires_at and d.lease_expires_at > now:
        return outcome(Action.SKIPPED_IN_FLIGHT, f"a worker is sending it now (lease until "
                       f"{d.lease_expires_at.isoformat()}); its outcome stands", idempotency_key=key)
    if d.status == DeliveryStatus.PARKED:
        # Sending it now would overtake its prerequisite: the order's sequence comes first.
        return outcome(Action.SKIPPED_PARKED, "it waits for a prerequisite delivery and is sent after it",
                       idempotency_key=key)
    if dry_run:
        if new_posting:
            return outcome(Action.NEW_POSTING, f"would be sent as a new posting: a new idempotency key "
                           f"replaces {key}", idempotency_key=None, previous_idempotency_key=key)
        return outcome(Action.RESEND, f"would be sent again with idempotency key {key}", idempotency_key=key)

    via = f" (replay {job.pk})" if job else ""
    if new_posting:
        d.idempotency_key = uuid.uuid4()
        new_key = str(d.idempotency_key)
        action = Action.NEW_POSTING
        detail = f"due again as a new posting with idempotency key {new_key}; was {key}"
        note = (f"replayed to {d.target.code} by {actor_label}{via} as a new posting, idempotency key {key} "
                f"replaced by {new_key}: {reason}")
    else:
        new_key = key
        action, detail = Action.RESEND, f"due again with idempotency key {key}"
        note = f"replayed to {d.target.code} by {actor_label}{via}: {reason}"
    d.status, d.next_attempt_at = DeliveryStatus.PENDING, now
    d.held_reason, d.last_error = "", ""
    # An expired lease is left as it is: the next claim takes it over, and `leases_expire` still
    # closes the dead worker's attempt.
    d.save(update_fields=["idempotency_key", "status", "next_attempt_at", "held_reason", "last_error"])
    # Routed again, unless a delivery this replay left alone is dead, rejected or parked: that still shows.
    transaction_refresh_status(d.transaction_id, note)
    return outcome(action, detail, idempotency_key=new_key,
                   previous_idempotency_key=key if new_posting else None)


def _ring_on_commit(outcomes: list[ReplayOutcome]) -> None:
    """After commit: wake the delivery queues of what was made due, and refresh the plants' pages."""
    resent = [o for o in outcomes if o.resent]
    for latency_class in sorted({o.latency_class for o in resent}):
        db_transaction.on_commit(lambda lc=latency_class: ring_deliveries(lc))
    plants = {o.plant_code for o in resent if o.plant_code}
    if plants:
        db_transaction.on_commit(lambda: notify_transactions_changed(plants))


def _unknown_targets(codes: list[str], known: set[str], detail) -> list[dict]:
    return [{"pointer": f"/targets/{i}", "detail": detail(code)} for i, code in enumerate(codes) if code not in known]


def _unprocessable(title: str, detail: str, errors: list[dict]) -> Problem:
    return Problem(422, title, detail, errors, slug="invalid-replay")


def transaction_replay(*, transaction: Transaction, actor, reason: str, targets: list[str] | None = None,
                       dry_run: bool = False, new_posting: bool = False) -> ReplayJob:
    """Replay one transaction to its targets (all, or those listed) now. Returns the finished job.

    Raises Problem 422 for a target the transaction was not routed to, 409 when it has no deliveries.
    """
    targets = list(dict.fromkeys(targets or []))
    with db_transaction.atomic():
        deliveries = transaction.deliveries.select_related("target").order_by("id")
        if not dry_run:
            # Every delivery before the transaction row, as `delivery_record_outcome` locks them: a worker
            # holding one delivery and waiting for the transaction must not wait on us too (a deadlock).
            deliveries = deliveries.select_for_update(of=("self",))
        deliveries = list(deliveries)
        by_code = {d.target.code: d for d in deliveries}
        errors = _unknown_targets(targets, set(by_code), lambda code: (
            f"{code} is not a target of this transaction; its targets are {', '.join(by_code) or 'none'}"))
        if errors:
            raise _unprocessable("Unknown target", "Some targets are not targets of this transaction.", errors)
        chosen = [by_code[code] for code in targets] if targets else deliveries
        if not chosen:
            raise Problem(409, "Nothing to replay", f"This transaction has no deliveries (it is {transaction.status}).",
                          [{"pointer": "/", "detail": "only a routed transaction can be sent again"}])
        job = ReplayJob.objects.create(
            created_by=actor, reason=reason, filters={"transaction_id": str(transaction.pk)}, targets=targets,
            dry_run=dry_run, new_posting=new_posting, status=ReplayJob.Status.RUNNING, total=len(chosen),
        )
        outcomes, items = [], []
        for position, d in enumerate(chosen, start=1):
            o = delivery_replay(delivery_id=d.pk, actor_label=_actor_label(actor), reason=reason,
                                new_posting=new_posting, dry_run=dry_run)
            outcomes.append(o)
            items.append(ReplayItem(job=job, transaction=transaction, target=d.target, position=position,
                                    action=o.action, detail=o.detail, done=True))
        ReplayItem.objects.bulk_create(items)
        job.done, job.status, job.finished_at = len(items), ReplayJob.Status.DONE, timezone.now()
        job.save(update_fields=["done", "status", "finished_at"])
        if not dry_run:
            audit_record(actor=actor, action="transaction.replay", obj=transaction, reason=reason, after={
                "job": job.pk, "new_posting": new_posting,
                "deliveries": [{"target": d.target.code, "action": o.action, "idempotency_key": o.idempotency_key,
                                "previous_idempotency_key": o.previous_idempotency_key}
                               for d, o in zip(chosen, outcomes, strict=True)],
            })
            _ring_on_commit(outcomes)
    return job


def transactions_matching(*, filters: dict, actor) -> QuerySet:
    """The transactions the API list would show for these filters. Raises Problem 422 with /filters pointers."""
    known = TransactionFilterSet.base_filters
    errors = [{"pointer": f"/filters/{name}", "detail": f"unknown filter; use one of {', '.join(known)}"}
              for name in sorted(set(filters) - set(known))]
    data = QueryDict(mutable=True)
    for name, value in filters.items():
        values = value if isinstance(value, list) else [value]
        if any(isinstance(v, dict | list) for v in values):
            errors.append({"pointer": f"/filters/{name}", "detail": "expected a string or a list of strings"})
        elif name in known and value not in (None, "", []):
            data.setlist(name, [str(v) for v in values])
    filterset = TransactionFilterSet(data=data, queryset=Transaction.objects.for_user(actor))
    if not filterset.is_valid():
        errors += [{"pointer": f"/filters/{name}", "detail": e["message"]}
                   for name, messages in filterset.errors.get_json_data().items() for e in messages]
    if not errors and not data:
        errors.append({"pointer": "/filters", "detail": "give at least one filter (a bulk replay of everything "
                                                        "ever received is not what you want)"})
    if errors:
        raise _unprocessable("Invalid filters", "Some filters are not valid.", errors)
    return filterset.qs


def replay_job_create(*, actor, reason: str, filters: dict | None = None, missing_for: str | None = None,
                      since: datetime | None = None, targets: list[str] | None = None, dry_run: bool = False,
                      new_posting: bool = False) -> ReplayJob:
    """Create a bulk replay job and ring for `replay_run` on commit. Returns the job.

    Either `filters` (the names of GET /api/v1/transactions) with optional `targets`, or "replay
    missing": `missing_for` a system and `since` a time, meaning every transaction received since
    then that was routed to that system, re-sent to it only. Items are in sending order: by
    received time, then transaction id, then delivery, which keeps each order's sequence.
    """
    targets = list(dict.fromkeys(targets or []))
    if missing_for is not None:
        if since is None:
            raise _unprocessable("Invalid replay", "Replay missing needs a time to start from.",
                                 [{"pointer": "/since", "detail": "give the time since when to re-send"}])
        if not System.objects.filter(code=missing_for).exists():
            raise _unprocessable("Unknown system", f"There is no system {missing_for}.",
                                 [{"pointer": "/missing_for", "detail": f"no system has the code {missing_for}"}])
        # "Replay missing" is a filter like any other: routed to that system, received since then.
        filters = {"target": missing_for, "received_after": since.isoformat()}
        targets = [missing_for]
    else:
        known = set(System.objects.filter(code__in=targets).values_list("code", flat=True))
        errors = _unknown_targets(targets, known, lambda code: f"no system has the code {code}")
        if errors:
            raise _unprocessable("Unknown target", "Some targets are not systems.", errors)
    matching = transactions_matching(filters=filters or {}, actor=actor)

    with db_transaction.atomic():
        job = ReplayJob.objects.create(created_by=actor, reason=reason, filters=filters, targets=targets,
                                       since=since if missing_for is not None else None, dry_run=dry_run,
                                       new_posting=new_posting)
        deliveries = Delivery.objects.filter(transaction_id__in=matching.order_by().values("pk"))
        if targets:
            deliveries = deliveries.filter(target__code__in=targets)
        rows = deliveries.order_by("transaction__received_at", "transaction_id", "id").values_list(
            "transaction_id", "target_id")
        items = [ReplayItem(job=job, transaction_id=tx_id, target_id=target_id, position=position,
                            action=Action.QUEUED)
                 for position, (tx_id, target_id) in enumerate(rows.iterator(chunk_size=2000), start=1)]
        ReplayItem.objects.bulk_create(items, batch_size=1000)
        job.total = len(items)
        if not items:
            job.status, job.finished_at = ReplayJob.Status.DONE, timezone.now()
        job.save(update_fields=["total", "status", "finished_at"])
        if not dry_run:
            audit_record(actor=actor, action="replay.bulk", obj=job, reason=reason, after={
                "filters": filters, "targets": targets, "missing_for": missing_for,
                "since": since.isoformat() if missing_for is not None else None,
                "new_posting": new_posting, "total": job.total,
            })
        if items:
            db_transaction.on_commit(lambda: ring_replay(job.pk))
    return job


def replay_job_run(*, job_id: int, max_items: int | None = None, slice_s: float = SLICE_S) -> int:
    """Work a job's items in order at the replay rate. Returns how many items this run worked.

    Idempotent: items are marked done in the same DB transaction as their effect, so a second run
    picks up after the last done item. Each chunk locks the job row with SKIP LOCKED: a run that
    finds it locked leaves the chunk to the run that holds it, so no item is worked twice.
    A run stops after `slice_s` seconds (or `max_items`) and rings for the rest.
    """
    worked, started = 0, time.monotonic()
    todo: list[int] | None = None  # ids of the items not done when this run began, in sending order
    cursor = 0
    while True:
        if max_items is not None and worked >= max_items:
            return worked
        if time.monotonic() - started > slice_s:
            db_transaction.on_commit(lambda: ring_replay(job_id))
            return worked
        rate = replay_rate_per_s()
        chunk_started = time.monotonic()
        with db_transaction.atomic():
            job = (ReplayJob.objects.select_for_update(skip_locked=True, of=("self",)).select_related("created_by")
                   .filter(pk=job_id).first())
            if job is None or job.status in (ReplayJob.Status.DONE, ReplayJob.Status.FAILED):
                return worked  # held by another run, gone, or finished
            if todo is None:
                # Read once per run, then fetch chunks by primary key: no rescan of a big job per chunk.
                todo = list(job.items.filter(done=False).order_by("position").values_list("pk", flat=True))
            limit = min(CHUNK_SIZE, rate, CHUNK_SIZE if max_items is None else max_items - worked)
            items: list[ReplayItem] = []
            while not items and cursor < len(todo):
                ids = todo[cursor:cursor + limit]
                cursor += len(ids)
                # done=False again: another run may have worked these while we did not hold the lock.
                items = list(ReplayItem.objects.filter(pk__in=ids, done=False).select_related("target")
                             .order_by("position"))
            if not items:
                failed = job.items.filter(action=Action.FAILED).exists()
                job.status = ReplayJob.Status.FAILED if failed else ReplayJob.Status.DONE
                job.done, job.finished_at = job.items.filter(done=True).count(), timezone.now()
                job.save(update_fields=["status", "done", "finished_at"])
                return worked
            job.status = ReplayJob.Status.RUNNING
            if not job.dry_run:
                # The chunk's deliveries first, then their transactions (see transaction_replay): no deadlock
                # with a worker that holds one of them and waits for its transaction.
                pairs = Q()
                for item in items:
                    pairs |= Q(transaction_id=item.transaction_id, target_id=item.target_id)
                list(Delivery.objects.select_for_update(of=("self",)).filter(pairs).order_by("id").values("pk"))
            outcomes = [_replay_item(job, item) for item in items]
            ReplayItem.objects.bulk_update(items, ["action", "detail", "done"])
            job.done += len(items)
            job.save(update_fields=["status", "done"])
            if not job.dry_run:
                _ring_on_commit([o for o in outcomes if o is not None])
        worked += len(items)
        if not job.dry_run:
            # Keep to the rate between chunks, holding no lock, so live deliveries go first.
            time.sleep(max(0.0, len(items) / rate - (time.monotonic() - chunk_started)))


def _replay_item(job: ReplayJob, item: ReplayItem) -> ReplayOutcome | None:
    """Work one item inside the chunk's transaction; a failure is recorded on the item, not raised."""
    item.done = True
    try:
        with db_transaction.atomic():  # a savepoint: one bad item does not undo the chunk
            delivery_id = Delivery.objects.only("pk").get(transaction_id=item.transaction_id,
                                                          target_id=item.target_id).pk
            o = delivery_replay(delivery_id=delivery_id, actor_label=_actor_label(job.created_by),
                                reason=job.reason, new_posting=job.new_posting, dry_run=job.dry_run, job=job)
            if o.action == Action.NEW_POSTING:
                # Every key change is traceable from the transaction's own audit trail.
                audit_record(actor=job.created_by, action="transaction.replay", obj=item.transaction,
                             reason=job.reason, after={
                                 "job": job.pk, "new_posting": True, "deliveries": [{
                                     "target": item.target.code, "action": o.action,
                                     "idempotency_key": o.idempotency_key,
                                     "previous_idempotency_key": o.previous_idempotency_key}]})
    except Exception as e:
        logger.exception("replay %s: item %s failed", job.pk, item.pk)
        item.action, item.detail = Action.FAILED, f"{e.__class__.__name__}: {e}"
        return None
    item.action, item.detail = o.action, o.detail
    return o


def dry_run_previews(items: list[ReplayItem]) -> dict[tuple, dict]:
    """For dry-run items: the key and the outbound event each delivery would be sent with.

    Keyed by (transaction_id, target_id). A new posting's key is made when it is sent, so it is None;
    an event that cannot be built (a missing value mapping) comes with `event_error` instead.
    """
    if not items:
        return {}
    deliveries = Delivery.objects.select_related("target", "transaction__source", "transaction__plant").filter(
        transaction_id__in={i.transaction_id for i in items}, target_id__in={i.target_id for i in items})
    new_postings = {(i.transaction_id, i.target_id) for i in items if i.action == Action.would(Action.NEW_POSTING)}
    previews = {}
    for d in deliveries:
        key = None if (d.transaction_id, d.target_id) in new_postings else str(d.idempotency_key)
        try:
            event, error = {**dataclasses.asdict(outbound_event(d)), "idempotency_key": key}, None
        except Exception as e:  # e.g. a value with no mapping for this target: the send would fail the same way
            event, error = None, f"{e.__class__.__name__}: {e}"
        previews[(d.transaction_id, d.target_id)] = {"idempotency_key": key, "event": event, "event_error": error}
    return previews
