"""Client JSON too deep to parse safely is refused before parsing, whatever hides the brackets."""

from __future__ import annotations

import json

import pytest

from web.client_json import MAX_DEPTH, TooDeep, loads

READING = {"latitude": 40.0, "longitude": -75.0, "timestamp": "2026-01-01T00:00:00"}


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("text", [
    nested(100_000),                                    # a RecursionError in json.loads
    nested(MAX_DEPTH + 1),
    "[" + ",".join([json.dumps(READING)] * 1000 + [nested(MAX_DEPTH)]) + "]",   # one deep item in a batch
    "[" * 100_000,                                      # never closed
    "{" + '"a":{' * MAX_DEPTH + "1" + "}" * MAX_DEPTH + "}",
    ']]]]]\n' + "[" * (MAX_DEPTH + 1),                  # NDJSON: stray closers before a deep line
    '{"a": "unterminated\n' + nested(MAX_DEPTH + 1),    # NDJSON: a line's open string ends with the line
    '["\\\\"' + "," + nested(MAX_DEPTH + 1) + "]",      # an escaped backslash ends the string before the brackets
])
@pytest.mark.parametrize("as_bytes", [False, True])
def test_too_deep_is_refused_with_the_limit(text, as_bytes):
    with pytest.raises(TooDeep, match=f"nested deeper than {MAX_DEPTH} levels"):
        loads(text.encode() if as_bytes else text)


@pytest.mark.parametrize("value", [
    READING, [READING] * 1000, json.loads(nested(MAX_DEPTH)),
    [{"name": "[" * 100 + '\\"' + "{" * 100, "t": 1}] * 50,      # brackets and escaped quotes inside strings
    {"é": "ü \u2028 " + "[" * 40},
])
def test_valid_json_within_the_limit_parses(value):
    text = json.dumps(value, ensure_ascii=False)
    assert loads(text) == value and loads(text.encode()) == value


@pytest.mark.parametrize("text", ["[{nope", "", "[1,]"])
def test_malformed_json_is_still_a_value_error(text):
    with pytest.raises(ValueError) as caught:
        loads(text)
    assert not isinstance(caught.value, TooDeep)
