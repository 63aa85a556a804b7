"""Device schemas, reading validation and event time: pure logic, no Kafka."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from models.device import (DeviceSchema, InvalidIdentifier, check_identifier, event_time, parse_instant,
                           plain_reading_time, reading_validator, time_field)
from models.run import parse_run_topic, run_topic, stamp_readings
from models.sensor_logger import map_entries

GPS = {"latitude": "float", "longitude": "float", "timestamp": "string"}


@pytest.mark.parametrize("value", ["gps_1", "A-b_9", "x" * 64])
def test_good_identifiers(value):
    assert check_identifier(value, "device_id") == value


@pytest.mark.parametrize("value", ["", "x" * 65, "a.b", "a/b", "a b", "é", None])
def test_bad_identifiers_name_the_rule(value):
    with pytest.raises(InvalidIdentifier, match=r"A-Za-z0-9_-"):
        check_identifier(value, "device_id")


def test_device_schema_accepts_every_type():
    schema = {"a": "float", "b": "int", "c": "string", "d": "bool", "e": "timestamp"}
    assert DeviceSchema().load({"device_name": "d1", "schema": schema})["schema"] == schema


@pytest.mark.parametrize("body, field", [
    ({"device_name": "d", "schema": {"a": "double"}}, "schema"),
    ({"device_name": "d", "schema": {}}, "schema"),
    ({"device_name": "d d", "schema": {"a": "float"}}, "device_name"),
    ({"device_name": "d", "schema": {"1a": "float"}}, "schema"),
    ({"device_name": "d", "schema": {f"f{i}": "int" for i in range(65)}}, "schema"),
])
def test_device_schema_rejects(body, field):
    with pytest.raises(ValidationError) as error:
        DeviceSchema().load(body)
    assert field in error.value.messages


def test_stamp_readings_validates_strictly_and_reports_by_index():
    items = [
        {"latitude": 1.0, "longitude": 2, "timestamp": "2026-01-01T00:00:00"},    # int is a valid float
        {"latitude": "1.0", "longitude": 2.0, "timestamp": "t"},                  # string for float
        {"latitude": True, "longitude": 2.0, "timestamp": "t"},                   # bool for float
        {"latitude": float("inf"), "longitude": 2.0, "timestamp": "t"},
        {"latitude": 1.0, "longitude": 2.0},                                      # missing
        {"latitude": 1.0, "longitude": 2.0, "timestamp": "t", "x": 1},            # unknown
        [1, 2],                                                                   # not an object
    ]
    stamped, errors = stamp_readings(GPS, items, arrival=5.0)
    assert [s["data"] for s in stamped] == [items[0]]
    assert stamped[0]["t"] == 1767225600.0           # naive ISO is UTC
    assert sorted(errors) == [1, 2, 3, 4, 5, 6]
    assert "latitude" in errors[1] and "timestamp" in errors[4] and "x" in errors[5]


def test_int_bool_and_timestamp_types_are_strict():
    schema = {"n": "int", "ok": "bool", "at": "timestamp"}
    _, errors = stamp_readings(schema, [{"n": 1.5, "ok": 1, "at": "yesterday"}], arrival=0)
    assert set(errors[0]) == {"n", "ok", "at"}
    stamped, errors = stamp_readings(schema, [{"n": 3, "ok": False, "at": 1_767_225_600_000}], arrival=0)
    assert not errors and stamped[0]["t"] == 1767225600.0


@pytest.mark.parametrize("value, expected", [
    ("2026-01-01T00:00:00Z", 1767225600.0),
    ("2026-01-01T01:00:00+01:00", 1767225600.0),
    ("2026-01-01T00:00:00.250", 1767225600.25),
    (1767225600, 1767225600.0),
    (1767225600500, 1767225600.5),
    (1767225600_000_000, 1767225600.0),
    (1767225600_000_000_000, 1767225600.0),
    ("not a time", None),
    (True, None),
    (-1, None),
])
def test_parse_instant(value, expected):
    assert parse_instant(value) == expected


def test_event_time_falls_back_to_arrival_when_the_time_is_unreadable():
    stamped, _ = stamp_readings(GPS, [{"latitude": 1.0, "longitude": 2.0, "timestamp": "soon"}], arrival=42.0)
    assert stamped[0]["t"] == 42.0


def test_time_field_prefers_timestamp_typed_fields():
    assert time_field({"timestamp": "string", "at": "timestamp"}) == "at"
    assert time_field(GPS) == "timestamp"
    assert time_field({"temperature": "float"}) is None


def test_run_topic_round_trip_and_foreign_topics():
    assert run_topic("gps_1", "run_001") == "readings.gps_1.run_001"
    assert parse_run_topic("readings.gps_1.run_001") == ("gps_1", "run_001")
    for topic in ("sports-prophet-__assignor-__leader", "readings.only", "readings.a.b.c", "__consumer_offsets"):
        assert parse_run_topic(topic) is None
    with pytest.raises(InvalidIdentifier):
        run_topic("gps 1", "run")


def test_sensor_logger_entries_map_by_field_name():
    schema = {"latitude": "float", "longitude": "float", "time": "timestamp", "sensor": "string"}
    entries = [
        {"name": "location", "time": 10, "values": {"latitude": 1.0, "longitude": 2.0, "speed": 3.0}},
        {"name": "accelerometer", "time": 11, "values": {"x": 0.1}},
    ]
    readings, left_out = map_entries(schema, entries)
    assert readings == [{"latitude": 1.0, "longitude": 2.0, "time": 10, "sensor": "location"}]
    assert left_out == {"accelerometer": 1}


def test_numbers_past_what_records_carry_are_named_errors_not_crashes():
    schema = {"speed": "float", "steps": "int"}
    _, errors = stamp_readings(schema, [{"speed": 10 ** 400, "steps": 1}, {"speed": 1.0, "steps": 2 ** 63},
                                        {"steps": -2 ** 63, "speed": 10 ** 30}], 0.0)
    assert errors == {0: {"speed": ["Out of a float's range."]}, 1: {"steps": ["Out of the 64-bit integer range."]}}


# The gateway's fast check (`plain_reading_time`) must change no answer: on any input, the same
# readings accepted with the same times, the same errors, as marshmallow alone gives.
ANY_VALUE = st.one_of(
    st.none(), st.booleans(), st.text(max_size=8), st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-2**70, max_value=2**70), st.sampled_from([2**53, 2**53 + 1, -2**63, 2**63, 2**1024]),
    st.sampled_from(["2026-05-01T12:00:00Z", "2026-05-01 12:00:00.5", "not a time", 1.7e9, 1.7e12, -5]),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2), st.integers(), max_size=2))
VALID_VALUE = {
    "float": st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-2**60, 2**60)),
    "int": st.integers(-2**63, 2**63 - 1), "string": st.text(max_size=5), "bool": st.booleans(),
    "timestamp": st.one_of(st.floats(0, 1e19), st.integers(0, 2**64), st.datetimes().map(lambda d: d.isoformat()))}
FIELD_SCHEMAS = st.dictionaries(st.sampled_from(["a", "b", "c", "timestamp", "time"]),
                                st.sampled_from(["float", "int", "string", "bool", "timestamp"]),
                                min_size=1, max_size=4)


@st.composite
def schema_and_items(draw: st.DrawFn) -> tuple[dict[str, str], list[object]]:
    schema = draw(FIELD_SCHEMAS)
    names = st.sampled_from(sorted(schema) + ["extra"])
    reading = st.dictionaries(names, ANY_VALUE, max_size=5)
    valid = st.fixed_dictionaries({name: VALID_VALUE[kind] for name, kind in schema.items()})
    complete = st.fixed_dictionaries({name: st.one_of(VALID_VALUE[kind], ANY_VALUE) for name, kind in schema.items()})
    return schema, draw(st.lists(st.one_of(valid, complete, reading, ANY_VALUE), max_size=6))


def marshmallow_only(schema: dict[str, str], items: list[object], arrival: float):
    validator, time_key = reading_validator(schema), time_field(schema)
    stamped, errors = [], {}
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            errors[index] = {"_reading": [f"a reading is a JSON object, not {type(item).__name__}"]}
        elif problems := validator.validate(item):
            errors[index] = problems
        else:
            stamped.append({"t": event_time(item, time_key, arrival), "data": item})
    return stamped, errors


@settings(max_examples=500, deadline=None)
@given(schema_and_items())
def test_fast_check_gives_marshmallows_answers(case):
    schema, items = case
    assert repr(stamp_readings(schema, items, 1.7e9)) == repr(marshmallow_only(schema, items, 1.7e9))


def test_fast_check_takes_plain_readings():
    check = plain_reading_time({"x": "float", "n": "int", "timestamp": "timestamp"})
    assert check({"x": 1.5, "n": 3, "timestamp": 1.7e12}, 0.0) == 1.7e9
    assert check({"x": 2, "n": 3, "timestamp": "1970-01-01T00:00:10Z"}, 0.0) == 10.0
    for bad in ({"x": True, "n": 3, "timestamp": 1.0}, {"x": 1.0, "n": 3.0, "timestamp": 1.0},
                {"x": float("nan"), "n": 3, "timestamp": 1.0}, {"x": 1.0, "n": 3}, {"x": 1.0, "n": 3, "timestamp": "x"}):
        assert check(bad, 0.0) is None
