"""The simulated MES's HTTP API, and its routes (included under /sandbox/{system}/ by sandbox.urls).

- ``POST b2mml/operations-schedule``: a B2MML V0700 OperationsSchedule (XML, Idempotency-Key
  header required); faults apply, as to every native business endpoint.
- ``POST simulate/performance``: make the MES report production of an order it holds (JSON body,
  see ``sandbox.mes.performance_simulate``); a driver for tests and the traffic generator, so no
  faults apply.

The rules are in sandbox.mes; views only read the request and write the response.
"""

import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.http import require_POST

from sandbox import mes, systems
from sandbox.views import native_endpoint

MAX_KEY_LENGTH = 200


def _answer(answer: systems.Answer) -> JsonResponse:
    response = JsonResponse(answer.body, status=answer.status)
    for name, value in answer.headers.items():
        response[name] = value
    return response


@require_POST
@native_endpoint(systems.MES)
def operations_schedule(request: HttpRequest, system: str) -> HttpResponse:
    """MES: take an OperationsSchedule (idempotent by the Idempotency-Key header)."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        return _answer(mes.mes_error(400, "MISSING_IDEMPOTENCY_KEY",
                                     f"an Idempotency-Key header of 1 to {MAX_KEY_LENGTH} characters is required"))
    if "xml" not in (request.content_type or ""):
        return _answer(mes.mes_error(415, "UNSUPPORTED_MEDIA_TYPE",
                                     f"send application/xml, not {request.content_type or 'no content type'}"))
    return _answer(mes.schedule_receive(system, key, request.body))


@require_POST
def simulate_performance(request: HttpRequest, system: str) -> HttpResponse:
    """MES: report production of an order it holds, pushed to the tower as an OperationsPerformance."""
    if systems.kind_of(system) != systems.MES:
        return _answer(mes.mes_error(404, "NOT_FOUND", f"no MES system {system!r}"))
    try:
        payload = json.loads(request.body or b"null")
    except ValueError:
        return _answer(mes.mes_error(400, "BAD_REQUEST", "body is not valid JSON"))
    return _answer(mes.performance_simulate(system, payload))


urlpatterns = [
    path("b2mml/operations-schedule", operations_schedule),
    path("simulate/performance", simulate_performance),
]
