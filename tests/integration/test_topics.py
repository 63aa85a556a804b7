"""Topic admin routes of the old system, over real Kafka."""

from __future__ import annotations

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from sports_prophet.config import settings
from tests.integration.conftest import register, unique

pytestmark = pytest.mark.integration


async def cluster_topics() -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def stream_one(http, worker) -> tuple[str, str]:
    device, run = await register(http, worker), unique("run")
    reading = {"latitude": 1.0, "longitude": 2.0, "timestamp": "2026-01-01T00:00:00Z"}
    async with http.post(f"{worker.url}/ingest/{device}/{run}", json=[reading]) as r:
        assert r.status == 200
    return device, run


async def test_run_topics_have_the_apps_partition_count_and_are_listed(http, worker):
    device, run = await stream_one(http, worker)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([f"readings.{device}.{run}"])
    finally:
        await admin.close()
    assert len(described["partitions"]) == settings.topic_partitions
    async with http.get(f"{worker.url}/list-topics") as r:
        topics = (await r.json())["topics"]
    assert f"readings.{device}.{run}" in topics
    assert all(t.startswith("readings.") for t in topics)       # never Faust's own topics


async def test_unknown_run_is_404_and_bad_limit_is_422(http, worker):
    device, run = await stream_one(http, worker)
    for url, status in ((f"/get-topic-messages/{device}/{unique('norun')}", 404),
                        (f"/delete-topic/{device}/{unique('norun')}", 404),
                        (f"/get-topic-messages/{device}/{run}?limit=0", 422),
                        (f"/get-topic-messages/{device}/{run}?limit=abc", 422),
                        (f"/get-topic-messages/{device}/bad.run", 400)):
        method = "DELETE" if url.startswith("/delete") else "GET"
        async with http.request(method, worker.url + url) as r:
            assert r.status == status, url
            assert (await r.json())["error"]


async def test_delete_topic(http, worker):
    device, run = await stream_one(http, worker)
    async with http.delete(f"{worker.url}/delete-topic/{device}/{run}") as r:
        assert r.status == 200
        assert (await r.json())["deleted"] == [f"readings.{device}.{run}"]
    async with http.get(f"{worker.url}/get-topic-messages/{device}/{run}") as r:
        assert r.status == 404


async def test_delete_all_topics_spares_faust_internal_topics(http, worker):
    await stream_one(http, worker)
    internal_before = {t for t in await cluster_topics() if not t.startswith("readings.")}
    assert internal_before                                       # Faust's assignor/changelog topics exist
    async with http.delete(f"{worker.url}/delete-all-topics") as r:
        assert r.status == 200
        assert (await r.json())["deleted"]
    after = await cluster_topics()
    assert not {t for t in after if t.startswith("readings.")}
    assert internal_before <= after
