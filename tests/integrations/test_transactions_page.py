"""The transactions page pages back through history, newest first, without gaps or repeats."""

import datetime as dt
import re

from django.utils import timezone

from integrations.models import Transaction
from tests.fixtures.events import released_event


def make(erp, plant, order_number: str, received_at) -> Transaction:
    event = released_event(order_number, plant.code)
    return Transaction.objects.create(
        correlation_id=order_number, source=erp, source_message_id=event["id"], event_type=event["type"],
        plant=plant, business_key=order_number, raw_payload=event, canonical_payload=event["data"],
        received_at=received_at)


def keys_and_older_link(client, url: str) -> tuple[list[str], str | None]:
    page = client.get(url).content.decode()
    keys = re.findall(r'<a href="/transactions/[0-9a-f-]+/">(\d+)</a>', page)
    older = re.search(r'<a href="([^"]+)"[^>]*>Older', page)
    return keys, older and "/transactions/" + older[1].replace("&amp;", "&")  # the link is "?…", relative


def test_older_pages_follow_on_without_gaps_while_new_rows_arrive(client, carol, erp, plant_1000):
    """GIVEN 120 transactions, five of them received at the very same instant across the page edge
    WHEN a person pages back with "Older", while a new transaction arrives after the first page
    THEN the pages hold 50, 50 and 20 rows, every transaction once, newest first."""
    now = timezone.now()
    for n in range(120):
        same_instant = 47 <= n <= 51  # a batch: identical receipt times around row 50
        make(erp, plant_1000, f"{n:010d}", now - dt.timedelta(seconds=47 if same_instant else n))
    client.force_login(carol)

    seen, url, sizes = [], "/transactions/?plant=1000", []
    while url:
        keys, url = keys_and_older_link(client, url)
        seen += keys
        sizes.append(len(keys))
        if len(sizes) == 1:
            make(erp, plant_1000, "9999999999", now + dt.timedelta(seconds=1))  # must not shift page 2

    assert sizes == [50, 50, 20]
    assert sorted(seen) == [f"{n:010d}" for n in range(120)]
    assert seen[:3] == ["0000000000", "0000000001", "0000000002"]


def test_a_bad_page_mark_shows_the_newest_page(client, carol, erp, plant_1000):
    make(erp, plant_1000, "0000000001", timezone.now())
    client.force_login(carol)
    for mark in ("garbage", "2026-01-01T00:00:00|not-a-uuid", "|", "2026-13-01T00:00:00+00:00|" + "0" * 32,
                 "9999-99-99|" + "0" * 32):
        assert "0000000001" in client.get("/transactions/", {"before": mark}).content.decode()


def test_a_filter_that_does_not_parse_shows_its_error_and_no_rows(client, carol, erp, plant_1000):
    make(erp, plant_1000, "0000000001", timezone.now())
    client.force_login(carol)
    page = client.get("/transactions/", {"received_after": "not a date"}).content.decode()
    assert 'role="alert"' in page and "0000000001" not in page
