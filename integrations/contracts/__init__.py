"""The event contract: one JSON Schema file per event type and version, served by the API.

Validation runs with format checks on (jsonschema's format extras), so a bad timestamp is an
error, not a silent pass.
"""

import json
from functools import cache
from pathlib import Path

from jsonschema import Draft202012Validator

CONTRACTS_DIR = Path(__file__).resolve().parent
ENVELOPE = "cloudevent"


@cache
def schema(event_type: str, version: str = "1") -> dict | None:
    """The JSON Schema of `event_type` at `version`, or None when there is none."""
    if event_type == ENVELOPE:
        path = CONTRACTS_DIR / "cloudevent.json"
    else:
        if "/" in event_type or event_type.startswith(".") or not version.isdigit():
            return None
        path = CONTRACTS_DIR / event_type / f"{version}.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text())


@cache
def _validator(event_type: str, version: str) -> Draft202012Validator:
    return Draft202012Validator(schema(event_type, version), format_checker=Draft202012Validator.FORMAT_CHECKER)


def event_types() -> list[str]:
    return sorted(p.name for p in CONTRACTS_DIR.iterdir() if p.is_dir() and not p.name.startswith("_"))


def versions(event_type: str) -> list[str]:
    return sorted(p.stem for p in (CONTRACTS_DIR / event_type).glob("*.json"))


def errors(event_type: str, version: str, document, prefix: str = "") -> list[dict]:
    """Every way `document` breaks the schema, as [{pointer, detail}] in document order."""
    found = []
    for error in _validator(event_type, version).iter_errors(document):
        path = list(error.absolute_path)
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else ""
            path.append(missing)
            detail = f"'{missing}' is required"
        else:
            detail = error.message
        pointer = prefix + "".join(f"/{str(part).replace('~', '~0').replace('/', '~1')}" for part in path)
        found.append({"pointer": pointer or "/", "detail": detail})
    return sorted(found, key=lambda e: e["pointer"])
