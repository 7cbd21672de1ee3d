"""Pages: the transactions list (with its HTMX table partial) and one transaction in full."""

from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404, render

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


@login_required
def transaction_list(request):
    base = Transaction.objects.for_user(request.user).select_related("source", "plant").prefetch_related(
        Prefetch("deliveries", queryset=Delivery.objects.select_related("target"))
    )
    filterset = TransactionFilterSet(request.GET, queryset=base)
    rows = list(filterset.qs[: PAGE_SIZE + 1])
    context = {
        "filterset": filterset,
        "transactions": rows[:PAGE_SIZE],
        "has_more": len(rows) > PAGE_SIZE,
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
