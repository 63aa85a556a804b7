"""The archive's CQL timestamp serializer gives the driver's own bytes (or error) for every input."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cql.session import _serialize_timestamp, serialize_timestamp


def answer(serialize, value):
    try:
        return serialize(value, 5)
    except Exception as exc:          # the driver's error for a value it refuses: the same either way
        return type(exc)


@given(st.one_of(st.integers(min_value=-2**64, max_value=2**64), st.floats(allow_nan=False, allow_infinity=False,
                                                                          min_value=-1e17, max_value=1e17),
                 st.booleans(), st.none(), st.text(max_size=3),
                 st.datetimes(timezones=st.just(timezone.utc)), st.datetimes(), st.dates()))
def test_same_bytes_as_the_driver(value):
    assert answer(serialize_timestamp, value) == answer(_serialize_timestamp, value)


@pytest.mark.parametrize("value", [0, 1_767_225_600_000, -1, 2**63 - 1, datetime(2026, 1, 1), date(2026, 1, 1)])
def test_known_values(value):
    assert serialize_timestamp(value, 5) == _serialize_timestamp(value, 5)


def test_the_driver_uses_it():
    from cassandra import cqltypes
    assert cqltypes.DateType.serialize(1, 5) == serialize_timestamp(1, 5)
    assert cqltypes.DateType.serialize is serialize_timestamp
