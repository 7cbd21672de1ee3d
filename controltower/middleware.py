"""Middleware of our own."""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse
from django.utils.decorators import sync_and_async_middleware
from whitenoise.middleware import WhiteNoiseMiddleware

from controltower.api import PROBLEM_CONTENT_TYPE, problem_body


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise, able to run in Django's async middleware chain.

    WhiteNoise is sync-only, so under ASGI Django switched every request from the event loop to a
    thread and back just to look a path up in a dict, before the view's own switch. Here the
    lookup runs wherever the chain runs, and only a static file is served from a thread.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response, *args, **kwargs):
        super().__init__(get_response, *args, **kwargs)
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self._acall(request)
        return super().__call__(request)

    async def _acall(self, request):
        static_file = self.find_file(request.path_info) if self.autorefresh else self.files.get(request.path_info)
        if static_file is not None:
            return self.serve(static_file, request)
        return await self.get_response(request)


def _nul_refusal(request) -> HttpResponse | None:
    """A 400 for a NUL character (%00) in the path or the query, which no lookup in PostgreSQL can take."""
    query = [text for key, values in request.GET.lists() for text in (key, *values)]
    if "\x00" not in request.path and not any("\x00" in text for text in query):
        return None
    detail = "The URL contains a NUL character (%00)."
    if request.path.startswith("/api/"):
        body = problem_body(400, "Invalid URL", detail, [{"pointer": "/", "detail": detail}], slug="invalid-url")
        return JsonResponse(body, status=400, content_type=PROBLEM_CONTENT_TYPE)
    return HttpResponseBadRequest(detail, content_type="text/plain; charset=utf-8")


@sync_and_async_middleware
def refuse_nul_characters(get_response):
    """Refuse URLs with NUL characters before any view looks them up (it would answer 500)."""
    if iscoroutinefunction(get_response):
        async def middleware(request):
            return _nul_refusal(request) or await get_response(request)
    else:
        def middleware(request):
            return _nul_refusal(request) or get_response(request)
    return middleware
