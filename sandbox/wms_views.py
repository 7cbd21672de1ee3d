"""HTTP for the simulated WMS: staging requests, lot blocks, putaway (postings, once per key) and reports."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from sandbox import systems, wms
from sandbox.views import _answer, _BadJSON, _json_body, native_endpoint


def _posting(operation: Callable) -> Callable:
    @require_POST
    @native_endpoint(systems.WMS)
    def view(request: HttpRequest, system: str) -> HttpResponse:
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key or len(key) > 200:
            return _answer(systems.wms_error(400, "MISSING_IDEMPOTENCY_KEY",
                                             "an Idempotency-Key header of 1 to 200 characters is required"))
        try:
            return _answer(operation(system, key, _json_body(request)))
        except _BadJSON:
            return _answer(systems.wms_error(400, "BAD_REQUEST", "body is not valid JSON"))

    return view


staging_requests = _posting(systems.staging_request_create)
lot_blocks = _posting(wms.lot_block)
lot_block_release = _posting(wms.lot_release)
putaway_tasks = _posting(wms.putaway_create)


@require_POST
@native_endpoint(systems.WMS)
def simulate_report(request: HttpRequest, system: str) -> HttpResponse:
    """Make the WMS report something to the tower: a pick, a staging, a receipt, a stock count…"""
    try:
        return _answer(wms.report(system, _json_body(request)))
    except _BadJSON:
        return _answer(systems.wms_error(400, "BAD_REQUEST", "body is not valid JSON"))
