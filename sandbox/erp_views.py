"""The simulated ERP's OData services over HTTP, and its simulation controls.

Views read the request and write the response; the ERP's rules are in sandbox.erp. Posts take
the system's injected fault like every native endpoint. Reads (the lookups a caller makes before
it posts, and reconciliation) take every fault but ``slow``: ``slow`` stands for an ERP whose
postings queue behind its update tasks, which does not hold up a query.
"""

from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from sandbox import erp, systems
from sandbox.models import Fault, ProductionOrder
from sandbox.views import _answer, _BadJSON, _fault_response, _json_body, control_endpoint, native_endpoint

MAX_KEY_LENGTH = 200


def erp_read(view: Callable) -> Callable:
    """Serve a query only for ERP systems (else 404), under the system's fault unless it is ``slow``."""

    @wraps(view)
    def wrapper(request: HttpRequest, system: str) -> HttpResponse:
        if systems.kind_of(system) != systems.ERP:
            return _answer(erp.odata_error(404, "NOT_FOUND", f"no ERP system {system!r}"))
        fault = Fault.objects.filter(system=system).first()
        if fault and fault.mode != Fault.Mode.SLOW and fault.strikes():
            failure = _fault_response(fault.mode)
            if failure is not None:
                return failure
        return view(request, system)

    return wrapper


def _posting(post: Callable[[str, str | None, object], systems.Answer]) -> Callable:
    """A POST view calling ``post(system, idempotency key or None, body)``."""

    @native_endpoint(systems.ERP)
    def view(request: HttpRequest, system: str) -> HttpResponse:
        # S/4 has no idempotency header; the sandbox honours one when it is sent (sandbox.erp).
        key = request.headers.get("Idempotency-Key", "").strip() or None
        if key and len(key) > MAX_KEY_LENGTH:
            return _answer(erp.odata_error(400, "BAD_REQUEST", f"Idempotency-Key is longer than "
                                                               f"{MAX_KEY_LENGTH} characters"))
        try:
            payload = _json_body(request)
        except _BadJSON:
            return _answer(erp.odata_error(400, "BAD_REQUEST", "body is not valid JSON"))
        return _answer(post(system, key, payload))

    return view


def _query(find: Callable[[str, str], systems.Answer]) -> Callable:
    """A GET view calling ``find(system, $filter)``."""

    @erp_read
    def view(request: HttpRequest, system: str) -> HttpResponse:
        return _answer(find(system, request.GET.get("$filter", "")))

    return view


def _entity_set(post: Callable, find: Callable) -> Callable:
    """One OData entity set: GET queries it, POST creates in it."""
    create, query = _posting(post), _query(find)

    @require_http_methods(["GET", "POST"])
    def view(request: HttpRequest, system: str) -> HttpResponse:
        return query(request, system) if request.method == "GET" else create(request, system)

    return view


material_documents = _entity_set(erp.material_document_post, erp.material_documents_find)
confirmations = _entity_set(erp.confirmation_post, erp.confirmations_find)
stock_snapshots = _entity_set(erp.snapshot_post, erp.snapshots_find)
stock = require_GET(_query(erp.stock_find))
production_orders = require_GET(_query(erp.production_orders_find))


# Simulation controls (no faults: a test can always set up the ERP it has broken) -------------------


@require_POST
@control_endpoint
def simulate_stock(request: HttpRequest, system: str) -> HttpResponse:
    """Set one stock quantity: {plant, storage_location, material, batch?, quantity, unit, stock_type?}."""
    if systems.kind_of(system) != systems.ERP:
        return JsonResponse({"errors": [f"{system} is not an ERP"]}, status=404)
    status, body = erp.stock_seed(system, _json_body(request))
    return JsonResponse(body, status=status)


@require_POST
@control_endpoint
def simulate_production_orders(request: HttpRequest, system: str) -> HttpResponse:
    """Create an order without pushing it: the body of /production-orders plus ``status`` CRTD or REL."""
    if systems.kind_of(system) != systems.ERP:
        return JsonResponse({"errors": [f"{system} is not an ERP"]}, status=404)
    payload = _json_body(request)
    if not isinstance(payload, dict):
        return JsonResponse({"errors": ["body must be a JSON object"]}, status=400)
    status = payload.get("status", ProductionOrder.Status.RELEASED)
    if status not in ProductionOrder.Status.values:
        return JsonResponse({"errors": [f"status must be one of {', '.join(ProductionOrder.Status.values)}"]},
                            status=400)
    parsed = systems.production_order_request_parse(payload)
    if isinstance(parsed, systems.Answer):
        return _answer(parsed)
    return _answer(erp.production_order_seed(system, parsed, status))
