"""Inbound bodies as PostgreSQL can keep them: JSON parsed strictly, and what it cannot store refused.

PostgreSQL's JSONB takes no NaN or Infinity, no NUL character and no unpaired surrogate, and a
timestamp only between 4713 BC and AD 294276 with an offset of less than 16 hours. A message
carrying one of those would be accepted and then fail every time the router or a page reads it,
so each is refused up front, with a pointer, like any other invalid field.
"""

import json
import math
import re
from datetime import UTC, datetime, timedelta

from rest_framework import status

from controltower.api import Problem

UNSTORABLE_CHARACTERS = re.compile("[\x00\ud800-\udfff]")
# Far beyond any quantity, count or price a plant handles, and exact as a double.
LARGEST_NUMBER = 10**15
EARLIEST, LATEST = datetime(1900, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC)
LARGEST_UTC_OFFSET = timedelta(hours=14)  # Kiribati; PostgreSQL refuses 16 h and more


def _unparsable(detail: str) -> Problem:
    return Problem(status.HTTP_400_BAD_REQUEST, "Unparsable body", "The body is not valid JSON.",
                   [{"pointer": "/", "detail": detail}], slug="unparsable")


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large for a number")
    return value


def parse_json_body(raw: bytes) -> object:
    """Decode a JSON body (UTF-8, RFC 8259: no NaN or Infinity) or raise a 400 problem saying where it broke."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Problem(status.HTTP_400_BAD_REQUEST, "Unparsable body", "The body is not UTF-8 text.",
                      [{"pointer": "/", "detail": f"invalid UTF-8 at byte {e.start}"}], slug="unparsable") from None
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as e:
        raise _unparsable(f"{e.msg} at line {e.lineno} column {e.colno}") from None
    except ValueError as e:  # NaN, Infinity, 1e400, or an integer of thousands of digits
        raise _unparsable(str(e)) from None
    except RecursionError:
        raise _unparsable("nested too deeply") from None


def pointer_token(key) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def unstorable_values(document: object, root: str = "") -> list[dict]:
    """[{pointer, detail}] for every string, key or number in `document` that cannot be stored.

    Iterative, so a document nested as deep as the JSON parser allows is walked too.
    """
    found, stack = [], [(root, document)]
    while stack:
        pointer, value = stack.pop()
        if isinstance(value, str):
            if match := UNSTORABLE_CHARACTERS.search(value):
                what = "a NUL character" if match[0] == "\x00" else "an unpaired UTF-16 surrogate"
                found.append({"pointer": pointer or "/", "detail": f"contains {what}, which cannot be stored"})
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int | float):
            if not (isinstance(value, int) or math.isfinite(value)) or abs(value) > LARGEST_NUMBER:
                found.append({"pointer": pointer or "/", "detail": f"a number of at most {LARGEST_NUMBER:.0e}"})
        elif isinstance(value, dict):
            for key, item in value.items():
                child = f"{pointer}/{pointer_token(key)}"
                if UNSTORABLE_CHARACTERS.search(str(key)):
                    found.append({"pointer": storable(child), "detail": "this name contains a character that "
                                                                        "cannot be stored"})
                stack.append((child, item))
        elif isinstance(value, list):
            stack.extend((f"{pointer}/{index}", item) for index, item in enumerate(value))
    return sorted(found, key=lambda error: error["pointer"])


def storable_time_problem(value: datetime) -> str:
    """Why an (aware) event time cannot be kept, or "" when it can."""
    offset = value.utcoffset() or timedelta(0)
    if abs(offset) > LARGEST_UTC_OFFSET:
        return "the UTC offset must be at most 14 hours"
    try:
        in_utc = value.astimezone(UTC)
    except OverflowError:
        in_utc = None
    if in_utc is None or not EARLIEST <= in_utc < LATEST:
        return f"must lie between {EARLIEST.year} and {LATEST.year}"
    return ""


def storable(value):
    """`value` (text, or JSON of lists and dicts) with what PostgreSQL cannot store replaced by U+FFFD.

    For keeping refused messages and their reasons exactly enough for a person to read them.
    """
    if isinstance(value, str):
        return UNSTORABLE_CHARACTERS.sub("\ufffd", value)
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(item) for item in value]
    return value
