"""What every connector shares: the outbound event, the receipt, and one error type.

Connectors only speak HTTP and map errors; they never touch delivery state. A `ConnectorError`
says whether a failure is permanent (the target refused the content: no retry) or transient
(timeout, refused connection, 5xx, 429: retry with backoff).
"""

from dataclasses import dataclass

import httpx
from django.conf import settings

EXCERPT_CHARS = 2000
_client: httpx.Client | None = None


def http_client() -> httpx.Client:
    """One pooled client per worker process, so keep-alive connections are reused."""
    global _client
    if _client is None:
        _client = httpx.Client(timeout=settings.CONNECTOR_TIMEOUT_S,
                               limits=httpx.Limits(max_connections=50, max_keepalive_connections=20))
    return _client


@dataclass(frozen=True)
class OutboundEvent:
    """A canonical event on its way to one target."""

    event_type: str
    data: dict
    idempotency_key: str
    transaction_id: str
    correlation_id: str
    plant: str
    business_key: str
    source: str


@dataclass(frozen=True)
class Receipt:
    target_reference: str
    http_status: int
    response_excerpt: str


class ConnectorError(Exception):
    def __init__(self, message: str, *, permanent: bool, http_status: int | None = None,
                 response_excerpt: str = "", error_class: str = ""):
        super().__init__(message)
        self.permanent = permanent
        self.http_status = http_status
        self.response_excerpt = response_excerpt[:EXCERPT_CHARS]
        self.error_class = error_class or ("business" if permanent else "transient")


class Connector:
    """Base class: turn a canonical event into the target's native request and send it."""

    def __init__(self, system):
        self.system = system

    def deliver(self, event: OutboundEvent) -> Receipt:
        raise NotImplementedError

    def parse_inbound(self, document) -> list[dict]:
        """CloudEvents for a native document this system sent (an XML element or a JSON value).

        Raises `controltower.api.Problem` (422, with pointers) for a document it does not understand.
        """
        from controltower.api import Problem

        raise Problem(422, "No native format", f"{self.system.code} ({self.system.adapter}) sends CloudEvents to "
                      "/api/v1/events; it has no native inbound format.",
                      [{"pointer": "/", "detail": f"adapter {self.system.adapter} parses no native documents"}],
                      slug="unrecognised-document")

    def unsupported(self, event: OutboundEvent) -> ConnectorError:
        return ConnectorError(f"{self.system.code} ({self.system.adapter}) takes no {event.event_type}",
                              permanent=True, error_class="unsupported_event")

    def post(self, path: str, *, event: OutboundEvent, json=None, content: bytes | None = None,
             headers: dict | None = None) -> httpx.Response:
        """POST with the idempotency key; map failures to ConnectorError; return a 2xx response."""
        all_headers = {"Idempotency-Key": event.idempotency_key, "X-Correlation-ID": event.correlation_id,
                       **(headers or {})}
        return self.request("POST", path, json=json, content=content, headers=all_headers)

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        """Call the system; a 2xx response, or a ConnectorError saying whether to retry.

        Timeouts, refused connections, 5xx, 408, 425 and 429 are transient; other 4xx are the
        system refusing the content (permanent).
        """
        url = self.system.base_url.rstrip("/") + path
        try:
            response = http_client().request(method, url, timeout=self.system.timeout_s, **kwargs)
        except httpx.TimeoutException as e:
            raise ConnectorError(f"{self.system.code} timed out: {e!r}", permanent=False,
                                 error_class="timeout") from e
        except httpx.TransportError as e:
            raise ConnectorError(f"{self.system.code} unreachable: {e!r}", permanent=False,
                                 error_class="connection") from e
        if response.is_success:
            return response
        excerpt = response.text[:EXCERPT_CHARS]
        transient = response.status_code >= 500 or response.status_code in (408, 425, 429)
        raise ConnectorError(
            f"{self.system.code} answered {response.status_code}: {excerpt[:300]}",
            permanent=not transient, http_status=response.status_code, response_excerpt=excerpt,
            error_class=f"http_{response.status_code}",
        )
