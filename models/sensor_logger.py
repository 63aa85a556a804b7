"""The Sensor Logger phone app's HTTP push format, mapped onto a registered device's readings.

A push is `{"messageId", "sessionId", "deviceId", "payload": [{"name", "time", "values", "accuracy"}]}`
with `time` in nanoseconds since the epoch. Each payload entry becomes one reading of the
device: the device's fields are taken from `values` by name, its time field from `time`,
a string field named `sensor` from `name` and a field named `accuracy` from `accuracy`.
Entries that lack one of the device's fields (another sensor's samples, say) are not
readings of this device: they are counted per sensor name and left out.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from marshmallow import RAISE, Schema, fields, validate

from models.device import IDENTIFIER, IDENTIFIER_RULE, braces_escaped, time_field


class SensorEntrySchema(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(required=True)
    time = fields.Integer(required=True, strict=True)
    values = fields.Dict(keys=fields.String(), required=True)
    accuracy = fields.Raw(load_default=None)


class SensorLoggerPushSchema(Schema):
    class Meta:
        unknown = RAISE

    messageId = fields.Raw(required=True)
    sessionId = fields.String(required=True, validate=validate.Regexp(
        IDENTIFIER, error=braces_escaped(f"sessionId becomes the run id and must match {IDENTIFIER_RULE}")))
    deviceId = fields.String(required=True)
    payload = fields.List(fields.Nested(SensorEntrySchema), required=True)


def map_entries(device_schema: dict[str, str], entries: list[dict[str, Any]]
                ) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """(candidate readings for the device, {sensor name: entries left out})."""
    time_key = time_field(device_schema)
    readings: list[dict[str, Any]] = []
    left_out: Counter[str] = Counter()
    for entry in entries:
        reading = {name: entry["values"][name] for name in device_schema if name in entry["values"]}
        if time_key is not None:
            reading[time_key] = entry["time"]
        if "sensor" in device_schema and "sensor" not in reading:
            reading["sensor"] = entry["name"]
        if "accuracy" in device_schema and "accuracy" not in reading and entry.get("accuracy") is not None:
            reading["accuracy"] = entry["accuracy"]
        if reading.keys() == device_schema.keys():
            readings.append(reading)
        else:
            left_out[entry["name"]] += 1
    return readings, dict(left_out)
