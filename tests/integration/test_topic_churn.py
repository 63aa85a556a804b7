"""The old clients' own flow: delete a run's topic and stream the run again at once, run after run,
while other runs stream. Each deletion and each re-created topic is a rebalance; Faust's table
recovery then seeks partitions that the next rebalance has already taken, which crashed the worker
(sports_prophet/faust_fixes.py). The worker must stay up and count every reading exactly once."""

from __future__ import annotations

import asyncio
import os

import aiohttp
import pytest

from tests.integration.conftest import register, unique, wait_for
from tests.integration.test_live import counted_everywhere

pytestmark = pytest.mark.integration

TRACKING = {"x": "float", "y": "float", "timestamp": "timestamp"}
T0 = 1_767_225_600.0
CYCLES = int(os.environ.get("SP_TEST_CHURN_CYCLES", "20"))
FIRST_READINGS = 1000                    # the run before its topic is deleted
READINGS_PER_RUN = 3000                  # a minute of 50 Hz tracking, one POST: the run streamed again


def tracking(n: int, start: int = 0, hz: float = 50.0) -> list[dict]:
    """A player jogging along the pitch at 4 m/s, positions in metres."""
    return [{"x": -40.0 + 4.0 * i / hz, "y": 3.0, "timestamp": T0 + i / hz} for i in range(start, start + n)]


async def readings_of(http, worker, device: str, run: str) -> int | None:
    async with http.get(f"{worker.url}/runs/{device}/{run}") as r:
        return (await r.json())["readings"] if r.status == 200 else None


async def miscounted(http, workers, device: str, expected: dict[str, int]) -> dict[str, int | None]:
    """The (worker port, run) pairs whose count differs from the expected one, with what they answer."""
    wrong = {}
    for w in workers:
        for run, n in expected.items():
            got = await readings_of(http, w, device, run)
            if got != n:
                wrong[f"{w.port}:{run}"] = got
    return wrong


class BackgroundRuns:
    """Runs that keep streaming through the churn, counting what the worker acknowledged."""

    def __init__(self, http, worker, device: str, runs: int = 3, batch: int = 25) -> None:
        self.http, self.worker, self.device, self.batch = http, worker, device, batch
        self.acked = {unique("bg"): 0 for _ in range(runs)}
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(self.stream())

    async def stream(self) -> None:
        while not self.stop.is_set():
            for run, sent in self.acked.items():
                fixes = tracking(self.batch, start=sent)
                async with self.http.post(f"{self.worker.url}/ingest/{self.device}/{run}", json=fixes) as r:
                    if r.status == 200:           # a 503 acknowledges nothing: sent again next round
                        self.acked[run] = sent + (await r.json())["accepted"]
            try:
                await asyncio.wait_for(self.stop.wait(), 0.1)
            except asyncio.TimeoutError:
                pass

    async def finish(self) -> dict[str, int]:
        self.stop.set()
        await self.task
        return self.acked


async def keep_asking(http, worker, device: str, run: str) -> None:
    """Ask a worker about the run all the time (a dashboard open on it): from the moment it starts,
    through its recovery, until cancelled."""
    while True:
        try:
            await readings_of(http, worker, device, run)
        except aiohttp.ClientError:                  # not listening yet
            await asyncio.sleep(0.05)


def lines_about(worker, run: str, most: int = 80) -> str:
    """The worker's log lines that name the run (and its topic), the last `most` of them."""
    return "\n".join([line for line in worker.log_path.read_text(errors="replace").splitlines() if run in line][-most:])


def assert_alive(workers) -> None:
    for w in workers:
        assert w.proc.poll() is None, f"worker on {w.port} exited ({w.proc.returncode}):\n{w.log_tail(60)}"
        crashes = [line for line in w.log_path.read_text(errors="replace").splitlines() if "Crashed reason" in line]
        assert not crashes, f"a Faust service crashed in the worker on {w.port}:\n" + "\n".join(crashes[:5])


@pytest.mark.parametrize("workers", [1, 2])
async def test_deleting_and_re_streaming_runs_while_others_stream_keeps_workers_up_and_counts_exact(
        http, make_worker, workers):
    group = [make_worker(f"churn-{workers}-{i}").start() for i in range(workers)]
    device = await register(http, group[0], TRACKING, prefix="churn")
    churned = [unique("run") for _ in range(CYCLES)]
    first = tracking(FIRST_READINGS)
    for run in churned:
        async with http.post(f"{group[0].url}/ingest/{device}/{run}", json=first) as r:
            assert r.status == 200, await r.text()
    background = BackgroundRuns(http, group[-1], device)

    again = tracking(READINGS_PER_RUN, start=10_000)          # other times: a mix-up would show
    for i, run in enumerate(churned):
        via = group[i % workers]
        async with http.delete(f"{via.url}/delete-topic/{device}/{run}") as r:
            assert r.status == 200, await r.text()
        async with http.post(f"{via.url}/ingest/{device}/{run}", json=again) as r:
            assert r.status == 200, (i, r.status, await r.text())
        assert_alive(group)

    acked = await background.finish()
    assert all(n > 0 for n in acked.values()), acked
    expected = {**{run: READINGS_PER_RUN for run in churned}, **acked}
    async def all_counted() -> bool:
        return not await miscounted(http, group, device, expected)

    try:
        await wait_for(all_counted, timeout=180, interval=1,
                       what="every re-streamed run counted afresh and every background reading once")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; expected {READINGS_PER_RUN} per re-streamed run, "
                             f"{acked} for the background runs; differing: "
                             f"{await miscounted(http, group, device, expected)}") from exc
    assert_alive(group)


async def test_a_worker_down_while_a_run_was_deleted_and_streamed_again_agrees_when_it_is_back(http, make_worker):
    """The deletion and the new run happen while one worker is stopped: back, it must neither serve
    the old run's state from its own store nor take the new topic's offsets for replays."""
    a, b = make_worker("down-a").start(), make_worker("down-b").start()
    device, run = await register(http, a, TRACKING, prefix="churn"), unique("run")
    async with http.post(f"{a.url}/ingest/{device}/{run}", json=tracking(FIRST_READINGS)) as r:
        assert r.status == 200, await r.text()
    await wait_for(lambda: counted_everywhere(http, (a, b), device, [run], FIRST_READINGS), timeout=90, interval=0.5,
                   what="the first run counted on both workers")
    b.stop()
    async with http.delete(f"{a.url}/delete-topic/{device}/{run}") as r:
        assert r.status == 200, await r.text()
    again = tracking(READINGS_PER_RUN, start=10_000)
    async with http.post(f"{a.url}/ingest/{device}/{run}", json=again) as r:
        assert r.status == 200, await r.text()
    b.start()
    asking = asyncio.create_task(keep_asking(http, b, device, run))    # queries during b's recovery, too
    try:
        await wait_for(lambda: counted_everywhere(http, (a, b), device, [run], READINGS_PER_RUN), timeout=120,
                       interval=0.5, what="the run streamed again counted afresh on both workers")
    except AssertionError as exc:
        answers = await miscounted(http, (a, b), device, {run: READINGS_PER_RUN})
        raise AssertionError(f"{exc}; differing (port:run → readings): {answers}\n"
                             + "\n".join(f"--- worker on {w.port}, its lines about the run:\n{lines_about(w, run)}"
                                         for w in (a, b))) from exc
    finally:
        asking.cancel()
    for w in (a, b):
        async with http.get(f"{w.url}/runs/{device}/{run}") as r:
            assert (await r.json())["first_t"] == again[0]["timestamp"]
