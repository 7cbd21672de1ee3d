"""Reads for Order 360 and the correlation thread, scoped to the plants a person may see."""

from django.db.models import Prefetch
from django.http import Http404

from integrations.models import Delivery, Transaction
from orders.models import ProductionOrder


def _deliveries() -> Prefetch:
    return Prefetch("deliveries", queryset=Delivery.objects.select_related("target").order_by("created_at", "id"))


def order_for_user(user, plant_code: str, order_number: str) -> ProductionOrder:
    """The order with its timeline (`timeline`: its transactions oldest first, each with deliveries).

    Raises Http404 when the order does not exist or belongs to a plant `user` may not see, so
    another plant's order is not even confirmed to exist.
    """
    timeline = Transaction.objects.select_related("source").prefetch_related(_deliveries()).order_by(
        "received_at", "id"
    )
    order = (
        ProductionOrder.objects.for_user(user)
        .select_related("plant")
        .prefetch_related(Prefetch("transactions", queryset=timeline, to_attr="timeline"))
        .filter(plant__code=plant_code, order_number=order_number)
        .first()
    )
    if order is None:
        raise Http404(f"No order {order_number} of plant {plant_code} that you may see.")
    return order


def correlation_thread_for_user(user, correlation_id: str) -> list[Transaction]:
    """Every transaction of `correlation_id` that `user` may see, oldest first, with deliveries.

    Raises Http404 when there is none.
    """
    thread = list(
        Transaction.objects.for_user(user)
        .filter(correlation_id=correlation_id)
        .select_related("source", "plant")
        .prefetch_related(_deliveries())
        .order_by("received_at", "id")
    )
    if not thread:
        raise Http404(f"No transactions with correlation ID {correlation_id} that you may see.")
    return thread
