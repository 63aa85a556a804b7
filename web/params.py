"""Query parameters, parsed strictly. Numbers: ASCII digits only, bounded in length and value.

Python's own parsers take more than a client means: `'²'.isdigit()` is true but `int('²')` fails
(a 500), `int('５')` is 5 and `float()` also takes `'1_000'`, `'nan'`, `'inf'` and `'1e400'`.
"""

from __future__ import annotations

import re

from faust.web import Request

from models.queries import SEGMENT_KINDS
from web.errors import ApiError

WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")
# Epoch seconds (or ms, µs, ns: told apart by size), with an optional fraction.
EPOCH_NUMBER = re.compile(r"[0-9]{1,20}(?:\.[0-9]{1,9})?")


def query_int(request: Request, name: str, default: int, most: int) -> int:
    """The query parameter `name` as a whole number from 1 to `most` (`default` when absent); 422 otherwise."""
    raw = request.query.get(name)
    if raw is None:
        return default
    if WHOLE_NUMBER.fullmatch(raw) is None or not 1 <= int(raw) <= most:
        raise ApiError(422, f"invalid {name}", f"{name} must be a whole number from 1 to {most} in ASCII digits, "
                                               f"got {raw[:40]!r}")
    return int(raw)


def epoch_number(raw: str) -> float | None:
    """`raw` as a number when it is an epoch number written in ASCII digits, else None."""
    return float(raw) if EPOCH_NUMBER.fullmatch(raw) else None


def segment_kind(request: Request) -> str:
    """The `kind` a segments route asks for, or a 422 saying which there are."""
    kind = request.query.get("kind")
    if kind not in SEGMENT_KINDS:
        raise ApiError(422, "invalid kind", f"give kind=, one of {', '.join(SEGMENT_KINDS)}")
    return kind
