"""Hostile input on a real worker: odd digits, deeply nested JSON and heavy SQL get a JSON 4xx
(or an error frame), never a 500, a broken connection or a worker busy for ever."""

from __future__ import annotations

import pytest
from yarl import URL

from tests.integration.conftest import unique, wait_for

pytestmark = pytest.mark.integration

async def answer(http, worker, path: str) -> tuple[int, dict]:
    """The status and JSON body of a GET, once the worker is past a rebalance (no 503)."""
    async def settled():
        async with http.get(URL(worker.url + path, encoded=True)) as r:
            return None if r.status == 503 else (r.status, await r.json())
    return await wait_for(settled, what=f"an answer other than 503 from {path}")


ODD_NUMBERS = ["%C2%B2", "%EF%BC%95", "1_000", "%D9%A5"]     # superscript 2, full-width 5, 1_000, Arabic-Indic 5


@pytest.mark.parametrize("value", ODD_NUMBERS)
@pytest.mark.parametrize("route", ["/get-topic-messages/{d}/{r}?limit=", "/history/{d}/{r}/readings?limit=",
                                   "/history/{d}/{r}/windows?limit=", "/runs/{d}/{r}/windows?last=",
                                   "/history/{d}/{r}/readings?from=", "/history/{d}/{r}/windows?to="])
async def test_numbers_in_other_than_ascii_digits_are_422(http, worker, route, value):
    path = route.format(d=unique("dev"), r=unique("run")) + value
    status, body = await answer(http, worker, path)
    assert status == 422 and body["error"].startswith("invalid"), (path, status, body)


@pytest.mark.parametrize("value", ["nan", "inf", "1e400"])
async def test_epochs_that_are_not_numbers_are_422(http, worker, value):
    path = f"/history/{unique('dev')}/{unique('run')}/readings?from={value}"
    status, body = await answer(http, worker, path)
    assert status == 422 and body["error"] == "invalid from", (path, status, body)
