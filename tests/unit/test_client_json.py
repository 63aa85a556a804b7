"""Client JSON too deep to parse safely is refused before parsing, whatever hides the brackets."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from web.client_json import MAX_DEPTH, TooDeep, decode, loads

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


# `decode` reads with orjson when it can: it must give json.loads's exact values (int or float,
# big integers, NaN, lone surrogates) on any document, valid or not.
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.floats(), st.integers(min_value=-2**80, max_value=2**80),
              st.text(alphabet=st.characters(codec=None), max_size=6)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=3), inner, max_size=4)),
    max_leaves=12)


def json_answer(text: bytes) -> str:
    try:
        return repr(json.loads(text))
    except ValueError:
        return "ValueError"


def decode_answer(text: bytes) -> str:
    try:
        return repr(decode(text))
    except ValueError:
        return "ValueError"


@settings(max_examples=400, deadline=None)
@given(st.one_of(JSON_VALUES.map(lambda v: json.dumps(v).encode("utf-8", "surrogatepass")),
                 st.binary(max_size=20), st.sampled_from([b"1e400", b"NaN", b"[-Infinity]", b'"\\ud800"',
                                                          b"12345678901234567890123", b"\xef\xbb\xbf[1]"])))
def test_decode_answers_as_json_loads(text):
    assert decode_answer(text) == json_answer(text)
