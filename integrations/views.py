"""Pages: the transactions list (with its HTMX table partial) and one transaction in full."""

import uuid

from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch, Q
from django.shortcuts import get_object_or_404, render
from django.utils.dateparse import parse_datetime

from integrations.filtersets import TransactionFilterSet
from integrations.models import Attempt, Delivery, Transaction

PAGE_SIZE = 50


def get_transaction_for_user(user, pk) -> Transaction:
    """The transaction if this person may see it; 404 otherwise (no hint that it exists)."""
    deliveries = Delivery.objects.select_related("target").prefetch_related(
        Prefetch("attempts", queryset=Attempt.objects.order_by("number"))
    )
    queryset = Transaction.objects.for_user(user).select_related("source", "plant").prefetch_related(
        Prefetch("deliveries", queryset=deliveries)
    )
    return get_object_or_404(queryset, pk=pk)


def page_mark(tx: Transaction) -> str:
    """Where the next (older) page starts: after this row, in the list's order (newest first, then id)."""
    return f"{tx.received_at.isoformat()}|{tx.pk}"


def older_than(queryset, mark: str):
    """Keyset paging: the rows after `mark` (stable while new rows arrive); all rows for no or a bad mark."""
    at_text, _, pk = mark.partition("|")
    try:
        at = parse_datetime(at_text) if at_text else None  # a month 13 is a ValueError, not None
        pk = uuid.UUID(pk) if pk else None
    except ValueError:
        at = pk = None
    if at is None or pk is None:
        return queryset
    return queryset.filter(Q(received_at__lt=at) | Q(received_at=at, id__lt=pk))


@login_required
def transaction_list(request):
    base = Transaction.objects.for_user(request.user).select_related("source", "plant").prefetch_related(
        Prefetch("deliveries", queryset=Delivery.objects.select_related("target"))
    )
    filterset = TransactionFilterSet(request.GET, queryset=base)
    before = request.GET.get("before", "")
    # A filter that does not parse shows its error and no rows, never the unfiltered list.
    shown = filterset.qs if filterset.is_valid() else base.none()
    rows = list(older_than(shown.order_by("-received_at", "-id"), before)[: PAGE_SIZE + 1])
    context = {
        "filterset": filterset,
        "transactions": rows[:PAGE_SIZE],
        "older": page_mark(rows[PAGE_SIZE - 1]) if len(rows) > PAGE_SIZE else "",
        "paged": bool(before),
        "plants": request.user.visible_plants(),
    }
    template = "integrations/transaction_list.html"
    if request.htmx and not request.htmx.boosted:
        template += "#transaction-table"
    response = render(request, template, context)
    response["Vary"] = "HX-Request"
    return response


@login_required
def transaction_detail(request, pk):
    tx = get_transaction_for_user(request.user, pk)
    return render(request, "integrations/transaction_detail.html", {"tx": tx})
