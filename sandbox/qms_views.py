"""The simulated QMS's HTTP API: EPCIS 2.0 capture, its own quality decisions, and its holds.

Views only read the request and write the response; the QMS's rules are in sandbox.qms.
"""

import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET, require_POST

from sandbox import qms, systems
from sandbox.views import control_endpoint, native_endpoint

JSON_TYPES = ("application/ld+json", "application/json")


def _answer(answer: systems.Answer) -> JsonResponse:
    problem = answer.status >= 400
    response = JsonResponse(answer.body, status=answer.status,
                            content_type="application/problem+json" if problem else "application/json")
    for name, value in answer.headers.items():
        response[name] = value
    return response


def _body(request: HttpRequest) -> object:
    """The parsed JSON body, or an Answer saying why there is none."""
    try:
        return json.loads(request.body or b"null")
    except ValueError as e:
        return qms.epcis_error(400, "ValidationException", "Unparsable body", f"the body is not valid JSON: {e}")


@require_POST
@native_endpoint(systems.QMS)
def epcis_events(request: HttpRequest, system: str) -> HttpResponse:
    """EPCIS capture of a document (or one event), exactly once per Idempotency-Key."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key or len(key) > 200:
        return _answer(qms.epcis_error(400, "ValidationException", "Missing Idempotency-Key",
                                       "an Idempotency-Key header of 1 to 200 characters is required"))
    content_type = (request.content_type or "").lower()
    if content_type not in JSON_TYPES:
        return _answer(qms.epcis_error(415, "ValidationException", "Unsupported media type",
                                       f"send {' or '.join(JSON_TYPES)}, not {content_type or 'nothing'}"))
    document = _body(request)
    if isinstance(document, systems.Answer):
        return _answer(document)
    return _answer(qms.capture(system, key, document))


def _decide(request: HttpRequest, system: str, action: str) -> HttpResponse:
    payload = _body(request)
    if isinstance(payload, systems.Answer):
        return _answer(payload)
    decision = qms.decision_parse(payload, action)
    if isinstance(decision, systems.Answer):
        return _answer(decision)
    return _answer(qms.decide(system, action, decision))


@require_POST
@native_endpoint(systems.QMS)
def simulate_hold(request: HttpRequest, system: str) -> HttpResponse:
    """The QMS puts a lot on hold ({plant, material, lot, reason}) and pushes the EPCIS event."""
    return _decide(request, system, qms.HELD)


@require_POST
@native_endpoint(systems.QMS)
def simulate_release(request: HttpRequest, system: str) -> HttpResponse:
    """The QMS releases a held lot ({plant, material, lot, reason?, usage_decision?}) and pushes it."""
    return _decide(request, system, qms.RELEASED)


@require_GET
@control_endpoint
def holds(request: HttpRequest, system: str) -> HttpResponse:
    """Every lot the QMS has held, with status and history (a control endpoint: never faulted)."""
    if systems.kind_of(system) != systems.QMS:
        return JsonResponse({"errors": [f"{system} is not a QMS"]}, status=404)
    return JsonResponse({"system": system, "holds": qms.holds(system)})
