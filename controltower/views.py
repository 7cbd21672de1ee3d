"""Health, readiness, metrics, and the tower home page."""

import redis
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.db.models import Count, Q
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.crypto import constant_time_compare
from django.views.decorators.cache import never_cache

from controltower.metrics import metrics_exposition
from controltower.models import PersonalToken
from exceptions_queue.models import ExceptionCase, Status
from integrations.choices import TransactionStatus
from integrations.models import Transaction


@never_cache
def healthz(request):
    """Liveness: the process answers."""
    return JsonResponse({"status": "ok"})


def _database_ready() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as e:
        return f"database unreachable: {e.__class__.__name__}: {e}"
    return ""


def _broker_ready() -> str:
    try:
        redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=1, socket_timeout=1).ping()
    except Exception as e:
        return f"broker unreachable: {e.__class__.__name__}: {e}"
    return ""


@never_cache
def readyz(request):
    """Readiness: the database and the broker both answer; 503 naming the one that does not."""
    checks = {"database": _database_ready(), "broker": _broker_ready()}
    problems = [reason for reason in checks.values() if reason]
    body = {"status": "unavailable" if problems else "ok",
            "checks": {name: reason or "ok" for name, reason in checks.items()}}
    return JsonResponse(body, status=503 if problems else 200)


@never_cache
def metrics(request):
    """Prometheus metrics. Open like /healthz unless CT_METRICS_TOKEN asks scrapers for a bearer token."""
    token = settings.METRICS_TOKEN
    if token and not constant_time_compare(request.headers.get("Authorization", ""), f"Bearer {token}"):
        return HttpResponse("metrics need the scrape token: Authorization: Bearer <CT_METRICS_TOKEN>\n", status=401,
                            content_type="text/plain; charset=utf-8", headers={"WWW-Authenticate": "Bearer"})
    return HttpResponse(metrics_exposition(), content_type="text/plain; version=0.0.4; charset=utf-8")


@login_required
def home(request):
    """The tower: one tile per plant the person may see, with where its transactions stand."""
    attention = [TransactionStatus.FAILED, TransactionStatus.DEAD, TransactionStatus.UNROUTED]
    plants = request.user.visible_plants().annotate(
        total=Count("transactions"),
        delivered=Count("transactions", filter=Q(transactions__status=TransactionStatus.DELIVERED)),
        in_flight=Count("transactions", filter=Q(transactions__status__in=[
            TransactionStatus.RECEIVED, TransactionStatus.ROUTED, TransactionStatus.PARKED])),
        attention=Count("transactions", filter=Q(transactions__status__in=attention)),
    ).order_by("code")  # GROUP BY drops Meta.ordering
    open_exceptions = ExceptionCase.objects.for_user(request.user).filter(status=Status.OPEN).count()
    latest = Transaction.objects.for_user(request.user).select_related("source", "plant")[:10]
    return render(request, "home.html", {"plants": plants, "open_exceptions": open_exceptions, "latest": latest})


@login_required
def api_tokens(request):
    """The person's tokens for the API: create one (shown once), see when each was last used, revoke."""
    created = ""
    if request.method == "POST":
        if "revoke" in request.POST:
            pk = request.POST["revoke"]
            token = PersonalToken.objects.filter(user=request.user, pk=pk).first() if pk.isdigit() else None
            if token is not None:  # someone else's token, or none: nothing to do, nothing to confirm
                token.revoke(actor=request.user)
            return redirect("api-tokens")
        name = request.POST.get("name", "").strip()[:100]
        if not name:
            return render(request, "controltower/api_tokens.html", {
                "tokens": request.user.api_tokens.all(), "error": "Name the token: what will use it?"}, status=400)
        created = PersonalToken.issue(request.user, name)[1]
    # Shown once, in this response only: never cache it.
    response = render(request, "controltower/api_tokens.html", {"tokens": request.user.api_tokens.all(),
                                                                  "created": created})
    add_never_cache_headers(response)
    return response
