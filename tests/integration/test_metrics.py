"""GET /metrics: Prometheus text that moves with what the worker does."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import register, unique, wait_for
from tests.integration.test_ingest import fix

pytestmark = pytest.mark.integration


async def scrape(http, worker) -> dict[tuple[str, tuple], float]:
    async with http.get(f"{worker.url}/metrics") as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain")
        text = await r.text()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


async def test_metrics_count_ingest_rejections_processing_latency_and_the_archive(http, worker):
    device, run = await register(http, worker), unique("run")
    async with http.post(f"{worker.url}/ingest/{device}/{run}", json=[fix(i) for i in range(30)]) as r:
        assert r.status == 200
    async with http.post(f"{worker.url}/ingest/{device}/{run}", json=[fix(30), {"latitude": "x"}]) as r:
        assert r.status == 422

    async def processed() -> dict | None:
        async with http.get(f"{worker.url}/runs/{device}/{run}") as r:
            return r.status == 200 and (await r.json())["readings"] == 30

    await wait_for(processed, timeout=60, what="the 30 readings processed")
    samples = await wait_for(lambda: scrape_when(http, worker, ("sp_sink_rows_written", ()), 30), timeout=60,
                             what="the archive's rows in the metrics")
    assert samples[("sp_readings_ingested_total", (("device", device),))] == 30
    assert samples[("sp_readings_rejected_total", (("device", device), ("reason", "invalid")))] == 2
    assert samples[("sp_records_processed_total", (("kind", "readings"),))] >= 1
    assert samples[("sp_request_seconds_count", (("method", "POST"), ("route", "/ingest/{device_id}/{run_id}")))] >= 2
    assert samples[("sp_runs_active", ())] >= 1
    assert ("sp_sink_unwritten_records", ()) in samples


async def scrape_when(http, worker, key: tuple[str, tuple], at_least: float) -> dict | None:
    samples = await scrape(http, worker)
    return samples if samples.get(key, 0) >= at_least else None
