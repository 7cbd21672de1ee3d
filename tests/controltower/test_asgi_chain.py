"""The ASGI request path the web server runs (pages, static files, API), not the test server's WSGI one."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.test import AsyncClient
from django.utils.module_loading import import_string

from controltower.middleware import StaticFilesMiddleware


@pytest.mark.parametrize("path", settings.MIDDLEWARE)
def test_every_middleware_runs_on_the_event_loop(path):
    """A sync-only middleware would cost every request two more switches between loop and thread."""
    assert import_string(path).async_capable, f"{path} is sync-only"


async def _get_and_post():
    client = AsyncClient()
    static = await client.get("/static/vendor/htmx/htmx.min.js")
    body = b"".join(static.streaming_content)
    missing = await client.get("/static/no-such-file.js")
    refused = await client.post("/api/v1/events", data="{}", content_type="application/cloudevents+json")
    return static, body, missing, refused


@pytest.mark.django_db(transaction=True)
def test_static_files_and_the_api_are_served_through_the_async_chain():
    # On a thread of its own: a Playwright test earlier in this process may leave its loop running here.
    with ThreadPoolExecutor(1) as pool:
        static, body, missing, refused = pool.submit(asyncio.run, _get_and_post()).result()
    assert static.status_code == 200 and b"htmx" in body
    assert missing.status_code == 404
    assert refused.status_code == 401 and refused["Content-Type"] == "application/problem+json"


def test_the_static_middleware_runs_in_a_sync_chain_too(rf):
    middleware = StaticFilesMiddleware(lambda request: "passed on")
    assert middleware(rf.get("/api/v1/events")) == "passed on"
    assert middleware(rf.get("/static/css/tower.css")).status_code == 200
