"""ISA-95 B2MML: the namespaces of its three releases, their official schemas, and XML helpers.

Plain lxml and the standard library, no Django models or DRF, so the simulated MES (a separate
Django project) validates with the same code and the same shipped schemas as the adapter.

The schemas are the official ones, shipped in `integrations/standards/b2mml/` (see its README).
Each document is validated against the *root* schema of its document type and version, compiled
once per thread. The per-document legacy roots import `*-AllExtensions.xsd` before they include
`*-Common.xsd`, so they compile as they are: no wrapper schema is needed for the import-order
caveat of the legacy `AllSchemas.xsd` files, which are never loaded.
"""

import datetime as dt
import re
import threading
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from xml.etree import ElementTree as ET

from lxml import etree

NS_V0700 = "http://www.mesa.org/xml/B2MML"  # V0700 / "Version 0701", ISA-95:2018
NS_V0600 = "http://www.mesa.org/xml/B2MML-V0600"
NS_V0401 = "http://www.wbf.org/xml/B2MML-V0401"
VERSION_OF = {NS_V0700: "V0700", NS_V0600: "V0600", NS_V0401: "V0401"}

STANDARDS_DIR = Path(__file__).resolve().parents[1] / "standards" / "b2mml"
OPERATIONS_SCHEDULE_XSD = "Schema/B2MML-OperationsSchedule.xsd"
OPERATIONS_PERFORMANCE_XSD = "Schema/B2MML-OperationsPerformance.xsd"
# The root schema of each (namespace, noun); a BOD (SyncProductionPerformance, …) is declared in
# the same root schema as its noun.
ROOT_SCHEMAS = {
    (NS_V0700, "OperationsSchedule"): OPERATIONS_SCHEDULE_XSD,
    (NS_V0700, "OperationsPerformance"): OPERATIONS_PERFORMANCE_XSD,
    (NS_V0600, "ProductionPerformance"): "V0600/B2MML-V0600-ProductionPerformance.xsd",
    (NS_V0401, "ProductionPerformance"): "V0401/B2MML-V0401-ProductionPerformance.xsd",
}
# OAGIS verbs of the Business Object Documents B2MML wraps its nouns in (ISA-95 Part 5).
BOD_VERBS = ("Get", "Show", "Process", "Acknowledge", "Change", "Respond", "Cancel", "Sync")
MAX_REPORTED_ERRORS = 20

# Parsing what we produced ourselves, or what defusedxml already parsed: still no DTD, no entities,
# no network.
_SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                               remove_comments=False)


def split_tag(tag: str) -> tuple[str, str]:
    """("namespace", "LocalName") of an ElementTree/lxml tag such as "{ns}LocalName"."""
    if isinstance(tag, str) and tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return "", str(tag)


def bod_parts(local_name: str) -> tuple[str | None, str]:
    """(verb, noun) of a BOD element name: "SyncProductionPerformance" → ("Sync", "ProductionPerformance")."""
    for verb in BOD_VERBS:
        rest = local_name[len(verb):]
        if local_name.startswith(verb) and rest[:1].isupper():
            return verb, rest
    return None, local_name


# Schemas ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SchemaError:
    """One XSD violation: where (line, element path without prefixes) and what."""

    line: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


_compiled: dict[str, etree.XMLSchema] = {}
# An XMLSchema keeps the errors of its last validation on itself, so threads take turns with it.
# One compiled copy per process, not per thread: an ASGI server runs each request on a new thread,
# and compiling B2MML costs far more than validating a document.
_schema_lock = threading.Lock()


def schema(relative_path: str) -> etree.XMLSchema:
    """The compiled root schema at `relative_path` under the shipped standards, compiled once per process.

    Use it under `_schema_lock` when other threads may validate with it (`validate` does).
    """
    if relative_path not in _compiled:
        # Parsed from the file path so that the relative schemaLocations of its siblings resolve.
        _compiled[relative_path] = etree.XMLSchema(etree.parse(str(STANDARDS_DIR / relative_path), _SAFE_PARSER))
    return _compiled[relative_path]


def to_lxml(document) -> etree._Element:
    """An lxml element for bytes, an lxml element, or an ElementTree element (re-serialised).

    An ElementTree element has no line numbers; re-serialised, its lines count from its own start
    tag (text and tails, and so the line breaks inside it, are kept as they were).
    """
    if isinstance(document, etree._Element):
        return document
    if isinstance(document, ET.Element):
        document = ET.tostring(document, encoding="utf-8")
    return etree.fromstring(document, _SAFE_PARSER)


def _path_without_prefixes(path: str | None) -> str:
    return re.sub(r"(?<=/)[\w.-]+:", "", path or "") or "/"


def validate(document, relative_path: str) -> list[SchemaError]:
    """The XSD errors of `document` against the root schema `relative_path` (empty: valid)."""
    document = to_lxml(document)
    with _schema_lock:
        compiled = schema(relative_path)
        if compiled.validate(document):
            return []
        errors = list(compiled.error_log)[:MAX_REPORTED_ERRORS]
    return [SchemaError(entry.line, _path_without_prefixes(entry.path), entry.message) for entry in errors]


# Values -------------------------------------------------------------------------------------------


def xml_datetime(value: str | dt.datetime) -> str:
    """An xsd:dateTime with its UTC offset, from an ISO 8601 string or an aware datetime."""
    parsed = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed.isoformat()


def parse_datetime(text: str, default_tz: dt.tzinfo = dt.UTC) -> dt.datetime | None:
    """An aware datetime from an xsd:dateTime (any number of fractional digits; naive → `default_tz`)."""
    text = (text or "").strip()
    if not text:
        return None
    match = re.fullmatch(r"(.*T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?", text)
    if match:  # Python takes at most 6 fractional digits; B2MML writers (.NET) send 7.
        head, fraction, zone = match.groups()
        text = head + (fraction[:7].ljust(7, "0") if fraction else "") + (zone or "")
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=default_tz)


def decimal_text(value) -> str:
    """A number as an xsd:decimal literal: 120 → "120", 42.5 → "42.5", never "1E+2"."""
    number = Decimal(str(value))
    text = f"{number:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def parse_decimal(text: str | None) -> Decimal | None:
    try:
        number = Decimal((text or "").strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def json_number(value: Decimal) -> int | float:
    """A quantity as a JSON number: 120 rather than 120.000."""
    return int(value) if value == value.to_integral_value() else float(value)


# Building (lxml) ----------------------------------------------------------------------------------


class Builder:
    """Small helpers to write B2MML elements of one namespace in schema order."""

    def __init__(self, namespace: str = NS_V0700):
        self.namespace = namespace

    def element(self, name: str, text: str | None = None, **attributes) -> etree._Element:
        el = etree.Element(f"{{{self.namespace}}}{name}", nsmap={None: self.namespace}, **attributes)
        if text is not None:
            el.text = str(text)
        return el

    def sub(self, parent: etree._Element, name: str, text: str | None = None, **attributes) -> etree._Element:
        el = etree.SubElement(parent, f"{{{self.namespace}}}{name}", **attributes)
        if text is not None:
            el.text = str(text)
        return el

    def hierarchy_scope(self, parent: etree._Element, equipment_id: str, level: str) -> etree._Element:
        scope = self.sub(parent, "HierarchyScope")
        self.sub(scope, "EquipmentID", equipment_id)
        self.sub(scope, "EquipmentLevel", level)
        return scope

    def quantity(self, parent: etree._Element, value, uom: str, key: str | None = None,
                 name: str = "Quantity") -> etree._Element:
        quantity = self.sub(parent, name)
        self.sub(quantity, "QuantityString", decimal_text(value))
        self.sub(quantity, "DataType", "decimal")
        self.sub(quantity, "UnitOfMeasure", uom)
        if key:
            self.sub(quantity, "Key", key)
        return quantity

    def value(self, parent: etree._Element, text: str, data_type: str, uom: str | None = None) -> etree._Element:
        value = self.sub(parent, "Value")
        self.sub(value, "ValueString", text)
        self.sub(value, "DataType", data_type)
        if uom:
            self.sub(value, "UnitOfMeasure", uom)
        return value


def serialize(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


# Reading (ElementTree or lxml, one namespace) ----------------------------------------------------


class Reader:
    """Find children and text in one B2MML namespace, on ElementTree or lxml elements."""

    def __init__(self, namespace: str):
        self.namespace = namespace

    def tag(self, name: str) -> str:
        return f"{{{self.namespace}}}{name}"

    def children(self, element, name: str) -> list:
        return [] if element is None else element.findall(self.tag(name))

    def child(self, element, *path: str):
        for name in path:
            if element is None:
                return None
            element = element.find(self.tag(name))
        return element

    def text(self, element, *path: str) -> str:
        found = self.child(element, *path)
        return (found.text or "").strip() if found is not None else ""

    def texts(self, element, name: str) -> list[str]:
        return [(c.text or "").strip() for c in self.children(element, name) if (c.text or "").strip()]
