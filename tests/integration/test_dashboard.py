"""The live dashboard in a real browser: Debian's chromium driven by Playwright, on two workers.

A simulated match streams into one worker while the page is served by the other, so the page
only sees every player if `WS /live` merges the runs each worker owns. Waits are on conditions
(Playwright's expect / wait_for_function), never fixed sleeps.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import urllib.request
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, async_playwright, expect

from models.run import parse_run_topic
from simulator.events import EVENT_SCHEMA, EVENTS_DEVICE
from simulator.transport import register
from sports_prophet.config import REPO_ROOT
from tests.integration.conftest import unique, wait_for

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOT = REPO_ROOT / "docs" / "dashboard.png"
PLAYERS = 22


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[Page]:
    """A fresh chromium profile's page; the test fails on any uncaught script error in it."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/browser (scripts/test does)")
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1440, "height": 1060})
        page = context.pages[0] if context.pages else await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        yield page
        await context.close()
    assert not errors, errors


@pytest.fixture
def simulate(tmp_path: Path) -> Any:
    """Start `sports-prophet simulate match` in the background, without its own event feed (the test
    sends the events it checks); stopped (Ctrl-C) when the test ends, and the match's run topics
    deleted: every worker group of the session consumes every run topic there is, and this match's
    backlog would otherwise be theirs to work through in the tests that follow."""
    started: list[tuple[subprocess.Popen, str, str]] = []

    def start(url: str, match: str) -> subprocess.Popen:
        log = open(tmp_path / f"simulate-{match}.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "sports_prophet.cli", "simulate", "match", "--url", url,
                                 "--match", match, "--speedup", "10", "--rate", "2", "--duration", "1200",
                                 "--no-events", "--progress-every", "2"], cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
        started.append((proc, url, match))
        return proc

    yield start
    for proc, url, match in started:
        stop(proc)
        delete_match_topics(url, match)


def delete_match_topics(url: str, match: str) -> None:
    with urllib.request.urlopen(f"{url}/list-topics", timeout=30) as response:
        topics = json.load(response)["topics"]
    for device, run in filter(None, map(parse_run_topic, topics)):
        if run == match or run.startswith(f"{match}_t"):
            urllib.request.urlopen(urllib.request.Request(f"{url}/delete-topic/{device}/{run}", method="DELETE"),
                                   timeout=60).close()


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)                # it waits up to 30 s for the last acks


async def get(http: aiohttp.ClientSession, url: str) -> dict:
    async with http.get(url) as response:
        assert response.status == 200, (url, await response.text())
        return await response.json()


async def local_runs(http: aiohttp.ClientSession, worker, match: str) -> dict[str, int]:
    """The match's runs this worker itself owns, with their reading counts."""
    return {r["run_id"]: r["readings"] for r in (await get(http, f"{worker.url}/runs?local=1"))["runs"]
            if r["run_id"].startswith(f"{match}_t")}


async def positions(page: Page) -> dict[str, list[str]]:
    return await page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('#players-layer .player')]
        .map(d => [d.dataset.run, [d.dataset.x, d.dataset.y]]))""")


async def shown_with_api(page: Page, http: aiohttp.ClientSession, url: str, run: str) -> tuple[dict, dict]:
    """The player's row and the API's summary at the same moment: the row once it shows the reading
    count the API has (the stream has stopped, so the count settles)."""
    seen: dict[str, Any] = {}

    async def same_moment() -> tuple[dict, dict] | None:
        api = await get(http, f"{url}/runs/gps_match/{run}")
        seen["api"] = api["readings"]
        seen["page"] = await page.evaluate("id => document.getElementById('row-' + id)?.dataset.readings", run)
        try:
            await page.wait_for_function("([id, n]) => document.getElementById('row-' + id)?.dataset.readings == n",
                                         arg=[run, api["readings"]], timeout=3000)
        except PlaywrightError:
            return None
        row = await page.evaluate("""id => { const r = document.getElementById('row-' + id);
            return {...r.dataset, text: Object.fromEntries([...r.querySelectorAll('td.num')]
                .map(td => [td.classList[1], td.textContent]))}; }""", run)
        return (api, row) if row["readings"] == str(api["readings"]) else None

    try:
        return await wait_for(same_moment, timeout=30, what=f"{run} on the page and in the API at one moment")
    except AssertionError as exc:          # say which side was behind
        raise AssertionError(f"{exc}; last seen: the API {seen.get('api')} readings, the page {seen.get('page')}") from None


async def page_state(page: Page) -> str:
    """What the page shows, for a failure message: its feed, last update and each row's readings."""
    try:
        state = await asyncio.wait_for(page.evaluate("""() => {
            const badge = document.getElementById('connection');
            return {feed: badge.dataset.state, updated_s_ago: (Date.now() - Number(badge.dataset.updatedAt)) / 1000,
                    rows: Object.fromEntries([...document.querySelectorAll('#players-body tr')]
                        .map(r => [r.dataset.run, r.dataset.readings]))}; }"""), 10)
    except (asyncio.TimeoutError, PlaywrightError) as exc:
        return f"the page did not answer ({type(exc).__name__})"
    return json.dumps(state)


@asynccontextmanager
async def explained(page: Page) -> AsyncIterator[None]:
    """A failing step's error says what the page showed then (a slow page, a stalled feed, a missing row)."""
    try:
        yield
    except (AssertionError, PlaywrightError) as exc:
        raise AssertionError(f"{str(exc).splitlines()[0]}; the page then: {await page_state(page)}") from exc


async def test_the_dashboard_shows_a_live_match_from_two_workers(http, make_worker, page, simulate, tmp_path):
    a, b = make_worker("dash-a").start(), make_worker("dash-b").start()
    match = unique("m")
    await register(http, a.url, EVENTS_DEVICE, EVENT_SCHEMA)
    streaming = simulate(a.url, match)

    async def every_player_processed() -> bool:
        owned = [await local_runs(http, w, match) for w in (a, b)]
        return sum(n > 0 for runs in owned for n in runs.values()) == PLAYERS

    await wait_for(every_player_processed, timeout=120, interval=0.5, what=f"the {PLAYERS} players' runs processed")
    async with explained(page):
        await page.goto(f"{b.url}/?match={match}")
        await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
        await expect(page.locator("#players-layer .player")).to_have_count(PLAYERS, timeout=30_000)
        await expect(page.locator("#players-body tr")).to_have_count(PLAYERS)

        async def split_over_both_workers() -> list[dict[str, int]] | None:
            owners = [await local_runs(http, w, match) for w in (a, b)]
            return owners if all(owners) and sum(map(len, owners)) == PLAYERS else None

        owners = await wait_for(split_over_both_workers, timeout=60, interval=0.5, what="players owned by both workers")
        home, away = sorted({int(run.split("_t")[-1].split("_")[0]) for runs in owners for run in runs})

        before = await positions(page)                # they move on, whichever worker owns each player now
        await page.wait_for_function("""before => [...document.querySelectorAll('#players-layer .player')]
            .filter(d => before[d.dataset.run] && (d.dataset.x !== before[d.dataset.run][0]
                                                   || d.dataset.y !== before[d.dataset.run][1])).length >= 15""",
                                     arg=before, timeout=60_000)

        scorer, booked = f"{match}_t{home}_9", f"{match}_t{away}_4"
        t0 = (await get(http, f"{a.url}/runs/gps_match/{scorer}"))["first_t"]
        events = [
            {"minute": 0.0, "event": "kickoff", "team": "home", "player": "", "xg": 0.0, "detail": ""},
            {"minute": 3.5, "event": "shot", "team": "home", "player": scorer, "xg": 0.31, "detail": "saved"},
            {"minute": 4.0, "event": "goal", "team": "home", "player": scorer, "xg": 0.42, "detail": "right foot"},
            {"minute": 6.2, "event": "yellow_card", "team": "away", "player": booked, "xg": 0.0, "detail": "foul"},
            {"minute": 8.9, "event": "goal", "team": "away", "player": f"{match}_t{away}_10", "xg": 0.12, "detail": "header"},
        ]
        async with http.post(f"{a.url}/ingest/{EVENTS_DEVICE}/{match}",
                             json=[{**e, "timestamp": t0 + e["minute"] * 60} for e in events]) as response:
            assert response.status == 200, await response.text()
        await expect(page.locator("#score")).to_have_attribute("data-home", "1", timeout=20_000)
        await expect(page.locator("#score")).to_have_attribute("data-away", "1")
        timeline = page.locator("#timeline li")
        await expect(timeline).to_have_count(len(events))
        await expect(timeline.first).to_have_attribute("data-event", "goal")         # newest first
        await expect(page.locator("#timeline li[data-event=yellow_card]")).to_contain_text("#4")
        await expect(page.locator("#match-minute")).to_have_text("8'")
        chart = page.locator("#winprob-chart")                     # the match agent's win probability, charted
        await expect(chart.locator("polyline.winprob")).to_have_count(3)
        now = (await get(http, f"{b.url}/matches/{match}/win-probability"))["win_probability"]
        await expect(chart).to_have_attribute("data-home", f"{now['home']:.4f}")
        assert int(await chart.get_attribute("data-points")) >= len(events)

        await page.click(f"#row-{scorer}")
        speed = page.locator("#speed-chart")
        await expect(speed).to_have_attribute("data-run", scorer)
        await page.wait_for_function("() => Number(document.getElementById('speed-chart').dataset.points) >= 10",
                                     timeout=60_000)
        await expect(page.locator(f"#dot-{scorer}")).to_have_class("player home selected")
        shot = await page.screenshot(full_page=True, timeout=120_000)      # a loaded CI machine renders slowly
        SCREENSHOT.parent.mkdir(exist_ok=True)
        for path in (SCREENSHOT, tmp_path / "dashboard.png"):
            path.write_bytes(shot)

        stop(streaming)
        for run in (scorer, booked):
            api, row = await shown_with_api(page, http, a.url, run)
            motion = api["motion"]
            assert float(row["distance"]) == motion["distance_m"] and float(row["topSpeed"]) == motion["top_speed_mps"]
            assert float(row["hsr"]) == motion["hsr_distance_m"] and int(row["sprints"]) == motion["sprints"]
            assert row["text"]["distance"] == f"{motion['distance_m']:,.0f}"
            assert row["text"]["top-speed"] == f"{motion['top_speed_mps']:.2f}"
            assert motion["distance_m"] > 0

        await page.goto(f"{b.url}/#/runs")
        await expect(page.locator(f"#runs-live tr[data-run={scorer}]")).to_have_count(1)
        await page.click(f"#runs-live tr[data-run={scorer}] a")
        cards = page.locator("#run-summary .cards")
        await expect(cards).to_be_visible(timeout=20_000)            # from history, or the live copy with a note why
        assert int(await cards.get_attribute("data-readings")) > 0   # the archive's copy may lag the live one


async def test_static_files_are_a_fixed_whitelist(http, worker):
    async with http.get(f"{worker.url}/") as response:
        assert response.status == 200 and response.content_type == "text/html"
        assert "/static/dashboard.js" in await response.text()
    for name, content_type in {"dashboard.js": "text/javascript", "dashboard.css": "text/css",
                               "favicon.svg": "image/svg+xml"}.items():
        async with http.get(f"{worker.url}/static/{name}") as response:
            assert response.status == 200 and response.content_type == content_type
    for name in ("index.html", "nope.js", "..%2F..%2Fpyproject.toml", "Dashboard.js"):
        async with http.get(f"{worker.url}/static/{name}") as response:
            assert response.status == 404, name
            assert (await response.json())["error"]
    routes = (await get(http, f"{worker.url}/api"))["routes"]
    assert "GET /live" in routes and "GET /runs/{device_id}/{run_id}" in routes


async def test_the_live_socket_rejects_a_bad_follow_and_stays_open(http, worker):
    async with http.ws_connect(f"{worker.ws_url}/live") as ws:
        await ws.send_str(json.dumps({"type": "follow", "match": "../etc"}))
        reply = await ws.receive_json(timeout=10)
        while reply["type"] != "error":
            reply = await ws.receive_json(timeout=10)
        assert "match" in reply["detail"]
        await ws.send_str("not json")
        while (reply := await ws.receive_json(timeout=10))["type"] != "error":
            pass
        assert not ws.closed
