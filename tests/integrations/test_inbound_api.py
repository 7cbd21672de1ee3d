"""POST /api/v1/inbound/{system}: native documents, parsed safely; every refusal explained and kept."""

from pathlib import Path

import pytest

from integrations.models import ApiKey, QuarantinedMessage, System, Transaction

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<OperationsPerformance>&lol4;</OperationsPerformance>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<OperationsPerformance><ID>&xxe;</ID></OperationsPerformance>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE OperationsPerformance SYSTEM "http://127.0.0.1:9/evil.dtd">
<OperationsPerformance/>"""


@pytest.fixture
def post(client, wms_east):
    key = ApiKey.issue(wms_east)[1]

    def _post(body: bytes, content_type: str = "application/xml", system: str = "WMS-EAST"):
        return client.post(f"/api/v1/inbound/{system}", data=body, content_type=content_type,
                           HTTP_AUTHORIZATION=f"Bearer {key}")

    return _post


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD], ids=["bomb", "xxe", "dtd"])
def test_unsafe_xml_is_refused_with_400_and_kept(post, body):
    response = post(body)
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    assert response.json()["title"] == "Unsafe XML"
    kept = QuarantinedMessage.objects.get()
    assert kept.raw_body == body.decode() and kept.http_status == 400
    assert "root:" not in kept.reason and Transaction.objects.count() == 0


def test_malformed_xml_says_where(post):
    response = post(b"<OperationsPerformance><ID>1</OperationsPerformance>")
    assert response.status_code == 400
    assert "line 1 column" in response.json()["errors"][0]["detail"]


def test_an_unsupported_media_type_is_415(post):
    assert post(b"order 1000000001 released", content_type="text/plain").status_code == 415
    assert QuarantinedMessage.objects.get().http_status == 415


def test_a_system_without_a_native_format_is_told_so(client, db):
    hook = System.objects.create(code="HOOK-1", name="webhook receiver", kind="TMS", adapter="webhook")
    response = client.post("/api/v1/inbound/HOOK-1", data=b'{"task": "WT-1"}', content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {ApiKey.issue(hook)[1]}")
    assert response.status_code == 422 and response.json()["title"] == "No native format"
    assert QuarantinedMessage.objects.get().http_status == 422


def test_a_key_cannot_post_for_another_system(post, erp):
    response = post(b"<a/>", system="ERP-S4")
    assert response.status_code == 403 and "WMS-EAST" in response.json()["detail"]


def test_an_oversized_document_is_413(post, settings):
    settings.MAX_MESSAGE_BYTES = 1024
    assert post(b"<a>" + b"x" * 2000 + b"</a>").status_code == 413


SAMPLE_V0700 = (Path(__file__).resolve().parent.parent / "connectors" / "data" / "operations-performance-v0700.xml")


@pytest.fixture
def post_mes(client, plant_1000):
    mes = System.objects.create(code="MES-P1000", name="MES", kind="MES", adapter="mes_b2mml")
    mes.plants.set([plant_1000])
    key = ApiKey.issue(mes)[1]

    def _post(body: bytes):
        return client.post("/api/v1/inbound/MES-P1000", data=body, content_type="application/xml",
                           HTTP_AUTHORIZATION=f"Bearer {key}")

    return _post


@pytest.mark.parametrize(("old", "new", "status"), [
    (b'<?xml version="1.0" encoding="UTF-8"?>', b'<?xml version="1.0" encoding="FOO-99"?>', 400),
    (b"<QuantityString>100.5</QuantityString>", b"<QuantityString>" + b"9" * 5000 + b"</QuantityString>", 422),
    (b"<ActualEndTime>2026-11-24T10:30:00+01:00</ActualEndTime>",
     b"<ActualEndTime>0001-01-01T00:00:00+14:00</ActualEndTime>", 422),
], ids=["unknown encoding", "5000 digits", "year 0 in UTC"])
def test_a_document_the_database_cannot_keep_is_refused_never_a_500(post_mes, old, new, status):
    sample = SAMPLE_V0700.read_bytes()
    assert old in sample
    response = post_mes(sample.replace(old, new))
    if status == 400:
        assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    else:
        assert response.status_code == 200, response.content
        assert status in [r["status"] for r in response.json()["results"]]
    assert QuarantinedMessage.objects.exists()
