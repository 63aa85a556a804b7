"""Devices, their registered schemas, and validation of the readings they send.

A device registers a flat schema `{field: type}`. Every reading it sends is
checked against it with a marshmallow schema built from that mapping: unknown
fields, missing fields, wrong types and non-finite numbers are all errors.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Callable, Mapping

from marshmallow import Schema, ValidationError, fields, validate, validates

IDENTIFIER_RULE = r"^[A-Za-z0-9_-]{1,64}$"
IDENTIFIER = re.compile(IDENTIFIER_RULE)
# Field names end up as CQL/SQL column names and JSON keys: keep them plain identifiers.
FIELD_NAME_RULE = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
FIELD_NAME = re.compile(FIELD_NAME_RULE)
MAX_FIELDS = 64


def braces_escaped(message: str) -> str:
    """marshmallow formats validator messages with str.format: a rule's `{1,64}` must be escaped."""
    return message.replace("{", "{{").replace("}", "}}")


class InvalidIdentifier(ValueError):
    """A device or run id that breaks the identifier rule."""


def check_identifier(value: str, what: str) -> str:
    """Ids become Kafka topic names, CQL keys and file names; only this safe alphabet is allowed."""
    if not isinstance(value, str) or not IDENTIFIER.fullmatch(value):
        raise InvalidIdentifier(f"{what} {value!r} must match {IDENTIFIER_RULE} (letters, digits, _ and -, 1-64)")
    return value


class StrictFloat(fields.Float):
    """A JSON number, finite; strings and booleans are type errors (marshmallow's Float would coerce them)."""

    default_error_messages = {"invalid": "Not a number.", "special": "NaN and Infinity are not allowed.",
                              "range": "Out of a float's range."}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_nan=False, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping | None, **kwargs: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.make_error("invalid")
        try:
            finite = math.isfinite(value)
        except OverflowError:            # an integer past a float's range (1e308)
            raise self.make_error("range") from None
        if not finite:
            raise self.make_error("special")
        return float(value)


class StrictInteger(fields.Integer):
    """A JSON integer of 64 bits, as Kafka records and Cassandra's bigint carry them (1.0 and "1" and
    true are type errors)."""

    default_error_messages = {"invalid": "Not an integer.", "range": "Out of the 64-bit integer range."}

    def _deserialize(self, value: Any, attr: str | None, data: Mapping | None, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        if not -2**63 <= value < 2**63:
            raise self.make_error("range")
        return value


class StrictBoolean(fields.Boolean):
    """JSON true/false only (marshmallow's Boolean also takes "yes", 1, "on")."""

    default_error_messages = {"invalid": "Not a boolean."}

    def _deserialize(self, value: Any, attr: str | None, data: Mapping | None, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class StrictString(fields.String):
    default_error_messages = {"invalid": "Not a string."}

    def _deserialize(self, value: Any, attr: str | None, data: Mapping | None, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        return value


class Timestamp(fields.Field):
    """An instant: an ISO-8601 string (no zone means UTC) or an epoch number in s, ms, µs or ns.

    Keeps the value as sent (readings are stored as the device sent them); `event_time`
    turns it into epoch seconds.
    """

    default_error_messages = {"invalid": "Not a timestamp: use an ISO-8601 string or epoch seconds/ms/µs/ns."}

    def _deserialize(self, value: Any, attr: str | None, data: Mapping | None, **kwargs: Any) -> Any:
        if parse_instant(value) is None:
            raise self.make_error("invalid")
        return value


def parse_instant(value: Any) -> float | None:
    """Epoch seconds for an ISO-8601 string or an epoch number; None when it is neither.

    Epoch numbers are told apart by magnitude: above 1e17 ns, above 1e14 µs, above 1e11 ms,
    else seconds (1e11 s is the year 5138, so seconds never reach it).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            if not math.isfinite(value) or value < 0:
                return None
        except OverflowError:           # an integer past a float's range: no instant
            return None
        for scale, threshold in ((1e9, 1e17), (1e6, 1e14), (1e3, 1e11)):
            if value > threshold:
                return value / scale
        return float(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return parsed.timestamp()
    return None


FIELD_TYPES: dict[str, type[fields.Field]] = {
    "float": StrictFloat,
    "int": StrictInteger,
    "string": StrictString,
    "bool": StrictBoolean,
    "timestamp": Timestamp,
}
NUMERIC_TYPES = frozenset({"float", "int"})


class DeviceSchema(Schema):
    """The body of /register-device and /update-device (the old system's shape)."""

    device_name = fields.String(required=True, validate=validate.Regexp(
        IDENTIFIER, error=braces_escaped(f"must match {IDENTIFIER_RULE} (letters, digits, _ and -, 1-64)")))
    schema = fields.Dict(keys=fields.String(), values=fields.String(metadata={"enum": list(FIELD_TYPES)}),
                         required=True)

    @validates("schema")
    def check_schema(self, value: dict[str, str], **_: Any) -> None:
        if not value:
            raise ValidationError("the schema needs at least one field")
        if len(value) > MAX_FIELDS:
            raise ValidationError(f"at most {MAX_FIELDS} fields")
        errors: dict[str, str] = {}
        for name, kind in value.items():
            if not FIELD_NAME.fullmatch(name):
                errors[name] = f"field names must match {FIELD_NAME_RULE}"
            elif kind not in FIELD_TYPES:
                errors[name] = f"unknown type {kind!r}; use one of {', '.join(FIELD_TYPES)}"
        if errors:
            raise ValidationError(errors)


# A reading in the API document: its fields are the device's registered schema, known only at run
# time (`reading_validator` checks them), so the document can say no more than this.
READING_JSON_SCHEMA = {
    "type": "object", "additionalProperties": {"type": ["number", "string", "boolean"]},
    "description": "One reading: exactly the fields of the device's registered schema",
    "example": {"latitude": 40.4168, "longitude": -3.7038, "timestamp": "2026-05-01T12:00:00Z"}}


@lru_cache(maxsize=1024)
def _reading_schema(field_items: tuple[tuple[str, str], ...]) -> Schema:
    return Schema.from_dict(
        {name: FIELD_TYPES[kind](required=True) for name, kind in field_items},
        name="Reading")()


def reading_validator(device_schema: Mapping[str, str]) -> Schema:
    """The marshmallow schema for one device's readings (cached: schemas are few, readings many)."""
    return _reading_schema(tuple(sorted(device_schema.items())))


# The values each type's fast check passes: a subset of what its marshmallow field accepts (a float
# field's int must be exactly representable, an int field's must fit 64 bits). Anything else goes to
# marshmallow, which decides and words the error, so the fast path changes no answer.
def _plain_float(v: Any) -> bool:
    kind = type(v)
    return (kind is float and v - v == 0.0) or (kind is int and -MAX_EXACT_INT <= v <= MAX_EXACT_INT)


def _plain_int(v: Any) -> bool:
    return type(v) is int and -2**63 <= v < 2**63


def _plain_string(v: Any) -> bool:
    return type(v) is str


def _plain_bool(v: Any) -> bool:
    return type(v) is bool


def _plain_timestamp(v: Any) -> bool:
    return parse_instant(v) is not None


MAX_EXACT_INT = 2**53
PLAIN_VALUE: dict[str, Callable[[Any], bool]] = {
    "float": _plain_float, "int": _plain_int, "string": _plain_string, "bool": _plain_bool,
    "timestamp": _plain_timestamp,
}


@lru_cache(maxsize=1024)
def _plain_reading_time(field_items: tuple[tuple[str, str], ...], time_key: str | None
                        ) -> Callable[[Any, float], float | None]:
    kinds = dict(field_items)
    names = frozenset(kinds)
    timed = time_key is not None and kinds[time_key] == "timestamp"   # its check is the parse of its time
    checks = tuple((name, PLAIN_VALUE[kind]) for name, kind in field_items if not (timed and name == time_key))

    def plain_time(item: Any, arrival: float) -> float | None:
        if type(item) is not dict or item.keys() != names:
            return None
        for name, check in checks:
            if not check(item[name]):
                return None
        return parse_instant(item[time_key]) if timed else event_time(item, time_key, arrival)
    return plain_time


def plain_reading_time(device_schema: Mapping[str, str]) -> Callable[[Any, float], float | None]:
    """A fast check of a reading, built once per schema, that also gives its event time.

    A time means marshmallow would accept the reading; None means ask marshmallow
    (`reading_validator`) what is wrong, if anything. marshmallow costs ~45 µs a reading, the
    gateway's largest cost; this check ~1-3 µs on the readings devices actually send.
    """
    return _plain_reading_time(tuple(sorted(device_schema.items())), time_field(device_schema))


def time_field(device_schema: Mapping[str, str]) -> str | None:
    """Which field holds a reading's event time.

    The first `timestamp`-typed field; else a string field named `timestamp` or `time`
    (the old system registered its timestamps as strings). None: arrival time is used.
    """
    for name, kind in device_schema.items():
        if kind == "timestamp":
            return name
    for name in ("timestamp", "time"):
        if device_schema.get(name) == "string":
            return name
    return None


def measurement_fields(device_schema: Mapping[str, str]) -> list[str]:
    """The numeric fields that stats and windows aggregate: every int or float field but the time field."""
    time_key = time_field(device_schema)
    return sorted(name for name, kind in device_schema.items() if kind in NUMERIC_TYPES and name != time_key)


def event_time(reading: Mapping[str, Any], time_key: str | None, arrival: float) -> float:
    """The reading's own time in epoch seconds, or its arrival time when it carries none we can read."""
    if time_key is not None:
        instant = parse_instant(reading.get(time_key))
        if instant is not None:
            return instant
    return arrival
