"""Native inbound messages: a system's own JSON or XML, parsed safely, turned into CloudEvents by its adapter.

XML is parsed with DTDs, entity expansion and external references refused (defusedxml), so a
billion-laughs bomb or an external entity is a 400 with a reason, never a 500 or a file read.
"""

from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from controltower.api import Problem
from integrations.connectors import connector_for
from integrations.models import System
from integrations.services.ingest import IngestResult, transactions_ingest_batch
from integrations.services.payloads import parse_json_body


def document_parse(raw: bytes, content_type: str) -> Element | dict | list:
    """The body as an XML element or JSON value; refuses unsafe or broken documents with 400."""
    if "xml" in content_type:
        try:
            return fromstring(raw, forbid_dtd=True)
        except DefusedXmlException as e:
            raise Problem(400, "Unsafe XML", "DTDs, entity declarations and external references are not accepted.",
                          [{"pointer": "/", "detail": f"{e.__class__.__name__}: {e}"}], slug="unsafe-xml") from None
        except LookupError as e:  # an encoding Python does not know
            raise Problem(400, "Unparsable body", "The XML declares an unknown encoding.",
                          [{"pointer": "/", "detail": str(e)}], slug="unparsable") from None
        except ParseError as e:
            line, column = e.position
            raise Problem(400, "Unparsable body", "The body is not well-formed XML.",
                          [{"pointer": "/", "detail": f"{e.msg if hasattr(e, 'msg') else e} at line {line} column "
                                                      f"{column}"}], slug="unparsable") from None
    if "json" in content_type:
        return parse_json_body(raw)
    raise Problem(415, "Unsupported media type", f"Send XML or JSON, not {content_type or 'no content type'}.",
                  [{"pointer": "/", "detail": "Content-Type must name XML or JSON"}], slug="unsupported-media-type")


def inbound_ingest(*, system: System, raw: bytes, content_type: str) -> list[IngestResult | Problem]:
    """Parse a native document from `system`, let its adapter make CloudEvents, and ingest them."""
    document = document_parse(raw, content_type)
    events = connector_for(system).parse_inbound(document)
    if not events:
        raise Problem(422, "Nothing to ingest", "The document holds no event this adapter understands.",
                      [{"pointer": "/", "detail": "no events found"}], slug="unrecognised-document")
    return transactions_ingest_batch(source=system, events=events)
