"""Numeric query parameters: ASCII digits only, bounded; anything else is a 422, never a 500."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from web.errors import ApiError
from web.params import epoch_number, query_int


def request(**query: str) -> SimpleNamespace:
    return SimpleNamespace(query=query)


@pytest.mark.parametrize("raw, expected", [("1", 1), ("100", 100), ("007", 7), ("10000", 10_000)])
def test_whole_numbers_in_range(raw, expected):
    assert query_int(request(limit=raw), "limit", 5, 10_000) == expected


def test_absent_is_the_default():
    assert query_int(request(), "limit", 5, 10_000) == 5


@pytest.mark.parametrize("raw", [
    "\u00b2",              # superscript two: isdigit() but not int()
    "\uff15",              # full-width five: int() takes it
    "\u0665",              # Arabic-Indic five
    "1_000", " 5", "5\n", "+5", "-1", "0", "10001", "", "1.0", "9" * 5000,
])
def test_anything_else_is_422(raw):
    with pytest.raises(ApiError) as caught:
        query_int(request(last=raw), "last", 5, 10_000)
    assert caught.value.status == 422 and caught.value.error == "invalid last"


@pytest.mark.parametrize("raw, expected", [("1767225600", 1767225600.0), ("1767225600.5", 1767225600.5)])
def test_epoch_numbers(raw, expected):
    assert epoch_number(raw) == expected


@pytest.mark.parametrize("raw", ["nan", "inf", "-inf", "1e400", "1_000", "\uff15", "\u00b2", "-5", "2026-01-01"])
def test_not_epoch_numbers(raw):
    assert epoch_number(raw) is None
