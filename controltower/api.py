"""What every API response shares: RFC 9457 problem+json errors and cursor pagination.

Every error body has `type`, `title`, `status`, `detail` and an `errors` list of
`{pointer, detail}` (JSON Pointers into the request body, RFC 6901).
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import Http404, JsonResponse
from django.views.defaults import page_not_found
from rest_framework import exceptions, status
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import BaseParser
from rest_framework.response import Response
from rest_framework.views import exception_handler

from controltower.counters import API_AUTH_FAILURES, counter_increment

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://controltower.dev/problems/"


class Problem(exceptions.APIException):
    """An error to answer with problem+json: `errors` point at what was wrong, and where."""

    def __init__(self, status_code: int, title: str, detail: str = "", errors=None, slug: str = ""):
        super().__init__(detail or title)
        self.status_code = status_code
        self.title = title
        self.errors = list(errors or [])
        self.slug = slug or title.lower().replace(" ", "-")


def problem_body(status_code: int, title: str, detail: str, errors=(), slug: str = "") -> dict:
    return {
        "type": PROBLEM_TYPE_BASE + (slug or title.lower().replace(" ", "-")),
        "title": title,
        "status": status_code,
        "detail": detail,
        "errors": list(errors),
    }


def problem_response(problem: Problem) -> Response:
    body = problem_body(problem.status_code, problem.title, str(problem.detail), problem.errors, problem.slug)
    return Response(body, status=problem.status_code, content_type=PROBLEM_CONTENT_TYPE)


def pointers(detail, prefix: str = "") -> list[dict]:
    """Flatten DRF validation details into [{pointer, detail}]."""
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            sub = prefix if key == "non_field_errors" else f"{prefix}/{key}"
            out.extend(pointers(value, sub))
        return out
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return [{"pointer": prefix or "/", "detail": str(item)} for item in detail]
        out = []
        for index, item in enumerate(detail):
            out.extend(pointers(item, f"{prefix}/{index}"))
        return out
    return [{"pointer": prefix or "/", "detail": str(detail)}]


def problem_exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: every API error leaves as problem+json."""
    if isinstance(exc, Problem):
        return problem_response(exc)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: Django's 500 handling and logging apply
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        # Counted, not stored (DESIGN §5): /metrics shows a key being guessed or a system misconfigured.
        counter_increment(API_AUTH_FAILURES,
                          "unknown_key" if isinstance(exc, exceptions.AuthenticationFailed) else "no_credentials")
    if isinstance(exc, exceptions.ValidationError):
        problem = Problem(status.HTTP_400_BAD_REQUEST, "Invalid request", "Some fields are not valid.",
                          pointers(exc.detail))
    elif isinstance(exc, exceptions.ParseError):
        problem = Problem(status.HTTP_400_BAD_REQUEST, "Unparsable body", "The body could not be read.",
                          [{"pointer": "/", "detail": str(exc.detail)}], slug="unparsable")
    else:
        title = {401: "Not authenticated", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
                 429: "Too many requests"}.get(response.status_code, "Error")
        detail = exc.detail if isinstance(getattr(exc, "detail", None), str) else str(exc)
        problem = Problem(response.status_code, title, str(detail))
    result = problem_response(problem)
    for header in ("WWW-Authenticate", "Retry-After", "Allow"):
        if header in response:
            result[header] = response[header]
    return result


class BodyLeftUnread(BaseParser):
    """For views that read the raw body themselves (to keep or judge it exactly as sent).

    With no parser at all, DRF answers 415 as soon as anything asks for its parsed data, and its
    CSRF check for session users does: this one claims every type and leaves the body unread.
    """

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        return {}


class CheckedCursorPagination(CursorPagination):
    """Cursor pagination where a crafted cursor (base64 of `p=foo`) is a 404, like a garbled one, not a 500."""

    def paginate_queryset(self, queryset, request, view=None):
        if not request.query_params.get(self.cursor_query_param):
            return super().paginate_queryset(queryset, request, view)
        try:
            return super().paginate_queryset(queryset, request, view)
        except (ValueError, TypeError, OverflowError, DjangoValidationError, DataError):
            # The cursor's position did not fit the ordering field (a date, a number, no NUL).
            raise exceptions.NotFound(self.invalid_cursor_message) from None


def not_found(request, exception=None):
    """Django's 404 for URLs no view matches: problem+json under /api/, the plain page elsewhere."""
    if request.path.startswith("/api/"):
        body = problem_body(404, "Not found", f"No API resource at {request.path!r}.", slug="not-found")
        return JsonResponse(body, status=404, content_type=PROBLEM_CONTENT_TYPE)
    return page_not_found(request, exception)


class TimeCursorPagination(CheckedCursorPagination):
    """Newest first, stable under inserts: a cursor, not a page number."""

    ordering = ("-received_at", "-id")
    page_size_query_param = "page_size"
    max_page_size = 500
