"""The sandbox's HTTP API: control endpoints (faults, ledger, outbound) and each system's native API.

Views only read the request and write the response; the systems' rules are in sandbox.systems.
Faults apply to the native business endpoints only, never to the control endpoints, so a test
can always inspect and repair a system it has broken.
"""

import datetime as dt
import json
import time
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from sandbox import systems
from sandbox.models import Fault, LedgerEntry, OutboundLink

TIMEOUT_FAULT_S = 15  # longer than the tower's connector timeout, so the caller gives up first
SLOW_FAULT_S = 2
MAX_FAULT_DURATION_S = 7 * 24 * 3600


class _BadJSON(Exception):
    pass


def _json_body(request: HttpRequest) -> object:
    try:
        return json.loads(request.body or b"null")
    except ValueError:
        raise _BadJSON from None


def _answer(answer: systems.Answer) -> JsonResponse:
    response = JsonResponse(answer.body, status=answer.status)
    for name, value in answer.headers.items():
        response[name] = value
    return response


# Control endpoints --------------------------------------------------------------------------------


def _control_errors(status: int, *errors: str) -> JsonResponse:
    return JsonResponse({"errors": list(errors)}, status=status)


def control_endpoint(view: Callable) -> Callable:
    """Answer 404 for unknown systems and 400 for unparsable bodies, in the control API's style."""

    @wraps(view)
    def wrapper(request: HttpRequest, system: str) -> HttpResponse:
        if systems.kind_of(system) is None:
            return _control_errors(404, f"no simulated system {system!r}")
        try:
            return view(request, system)
        except _BadJSON:
            return _control_errors(400, "body is not valid JSON")

    return wrapper


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_http_methods(["GET", "POST", "DELETE"])
@control_endpoint
def faults(request: HttpRequest, system: str) -> HttpResponse:
    """Inject (POST), show (GET) or clear (DELETE) the fault of one system."""
    if request.method == "DELETE":
        Fault.objects.filter(system=system).delete()
        return HttpResponse(status=204)
    if request.method == "GET":
        fault = Fault.objects.filter(system=system).first()
        return JsonResponse(fault.as_dict() if fault and fault.is_active() else {"mode": None})
    body = _json_body(request)
    if not isinstance(body, dict):
        return _control_errors(400, "body must be a JSON object")
    errors = []
    mode = body.get("mode")
    if mode not in Fault.Mode.values:
        errors.append(f"mode must be one of {', '.join(Fault.Mode.values)}")
    duration_s = body.get("duration_s", 60)
    if not _is_number(duration_s) or not 0 < duration_s <= MAX_FAULT_DURATION_S:
        errors.append(f"duration_s must be a number of seconds > 0 and <= {MAX_FAULT_DURATION_S}")
    rate = body.get("rate", 1.0)
    if not _is_number(rate) or not 0 <= rate <= 1:
        errors.append("rate must be a number from 0 to 1")
    if errors:
        return _control_errors(400, *errors)
    fault, _ = Fault.objects.update_or_create(
        system=system,
        defaults={"mode": mode, "rate": rate, "until": timezone.now() + dt.timedelta(seconds=duration_s)},
    )
    return JsonResponse(fault.as_dict(), status=201)


@require_http_methods(["GET", "DELETE"])
@control_endpoint
def ledger(request: HttpRequest, system: str) -> HttpResponse:
    """The postings one system applied, oldest first (GET), or forget them all (DELETE)."""
    entries = LedgerEntry.objects.filter(system=system)
    if request.method == "DELETE":
        entries.delete()
        return HttpResponse(status=204)
    key = request.GET.get("idempotency_key")
    if key is not None:
        entries = entries.filter(idempotency_key=key)
    return JsonResponse({"system": system, "entries": [entry.as_dict() for entry in entries]})


@require_http_methods(["PUT"])
@control_endpoint
def outbound(request: HttpRequest, system: str) -> HttpResponse:
    """Set where and with which API key the system pushes events to the tower."""
    body = _json_body(request)
    if not isinstance(body, dict):
        return _control_errors(400, "body must be a JSON object")
    tower_url = body.get("tower_url") or settings.SANDBOX_TOWER_URL
    api_key = body.get("api_key")
    errors = []
    if not isinstance(tower_url, str) or not tower_url.startswith(("http://", "https://")):
        errors.append("tower_url must be an http(s) URL")
    if not isinstance(api_key, str) or not api_key:
        errors.append("api_key must be a non-empty string")
    if errors:
        return _control_errors(400, *errors)
    OutboundLink.objects.update_or_create(system=system, defaults={"tower_url": tower_url, "api_key": api_key})
    return JsonResponse({"system": system, "tower_url": tower_url})


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# Native endpoints ---------------------------------------------------------------------------------


def native_endpoint(kind: str) -> Callable:
    """Serve a view only for systems of ``kind`` (else 404) and apply the system's fault first."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request: HttpRequest, system: str) -> HttpResponse:
            if systems.kind_of(system) != kind:
                return JsonResponse(
                    {"error": {"code": "NOT_FOUND", "message": f"no {kind} system {system!r}"}}, status=404
                )
            fault = Fault.objects.filter(system=system).first()
            if fault and fault.strikes():
                failure = _fault_response(fault.mode)
                if failure is not None:
                    return failure
            return view(request, system)

        return wrapper

    return decorate


def _fault_response(mode: str) -> HttpResponse | None:
    """What the caller sees under a fault, or None when the request goes on (after a delay)."""
    if mode == Fault.Mode.HTTP_503:
        return JsonResponse({"error": {"code": "UNAVAILABLE", "message": "service unavailable"}}, status=503)
    if mode == Fault.Mode.TIMEOUT:
        time.sleep(TIMEOUT_FAULT_S)
        return JsonResponse({"error": {"code": "GATEWAY_TIMEOUT", "message": "no answer in time"}}, status=504)
    if mode == Fault.Mode.REJECT:
        return JsonResponse({"error": {"code": "REJECTED", "message": "rejected by fault injection"}}, status=422)
    if mode == Fault.Mode.SLOW:
        time.sleep(SLOW_FAULT_S)
        return None
    # DOWN. An HTTP server cannot refuse a connection it has accepted; the nearest it can do is an
    # empty 503 and a closed connection, which a client sees as the system gone, not as an answer.
    response = HttpResponse(status=503)
    response["Connection"] = "close"
    return response


@require_POST
@native_endpoint(systems.ERP)
def production_orders(request: HttpRequest, system: str) -> HttpResponse:
    """ERP: create and release a production order, then push production_order.released to the tower."""
    try:
        payload = _json_body(request)
    except _BadJSON:
        return _answer(systems.erp_error(400, "BAD_REQUEST", "body is not valid JSON"))
    parsed = systems.production_order_request_parse(payload)
    if isinstance(parsed, systems.Answer):
        return _answer(parsed)
    return _answer(systems.production_order_release(system, parsed))


# Errors outside any view --------------------------------------------------------------------------


def not_found(request: HttpRequest, exception: Exception) -> JsonResponse:
    return JsonResponse({"error": {"code": "NOT_FOUND", "message": f"no such endpoint: {request.path}"}},
                        status=404)


def server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"error": {"code": "INTERNAL", "message": "internal error in the sandbox"}}, status=500)
