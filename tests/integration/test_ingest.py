"""Ingest over real Kafka: WebSocket, HTTP batches, Sensor Logger pushes, and what bad input gets."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from aiokafka import AIOKafkaConsumer, TopicPartition

from models.run import run_topic
from sports_prophet.config import settings
from tests.integration.conftest import create_topic, register, unique, wait_for

pytestmark = pytest.mark.integration


def fix(i: int) -> dict:
    return {"latitude": 40.0 + i * 1e-5, "longitude": -75.0, "timestamp": f"2026-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}"}


async def messages(http, worker, device: str, run: str, limit: int = 100) -> list[dict]:
    async with http.get(f"{worker.url}/get-topic-messages/{device}/{run}?limit={limit}") as r:
        if r.status == 404:
            return []
        assert r.status == 200, await r.text()
        return (await r.json())["messages"]


async def test_websocket_readings_are_acked_and_read_back_newest_first(http, worker):
    device, run = await register(http, worker), unique("run")
    async with websockets.connect(f"{worker.ws_url}/send-stream/{device}/{run}") as ws:
        for i in range(10):
            await ws.send(json.dumps(fix(i)))
        await ws.send(json.dumps([fix(10), fix(11)]))          # an array frame
        acked = 0
        while acked < 11:
            reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert "error" not in reply, reply
            acked = reply["ack"]
        assert reply["readings"] == 12
    got = await messages(http, worker, device, run)
    assert got == [fix(i) for i in reversed(range(12))]
    assert await messages(http, worker, device, run, limit=1) == [fix(11)]


async def run_topic_records(device: str, run: str) -> int:
    """How many Kafka records the run's topic holds (all partitions)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await consumer.start()
    try:
        tps = [TopicPartition(run_topic(device, run), p) for p in range(settings.topic_partitions)]
        return sum((await consumer.end_offsets(tps)).values())
    finally:
        await consumer.stop()


async def test_a_fast_websocket_stream_is_packed_into_fewer_records(http, worker):
    """Frames 5 ms apart (a 10 Hz device replayed at 20x) linger up to SP_INGEST_LINGER_MS (50 ms) for
    more: ~10 frames a record, where writing whatever arrived during the last write gave one or two."""
    device, run = await register(http, worker), unique("run")
    frames = 200
    async with websockets.connect(f"{worker.ws_url}/send-stream/{device}/{run}") as ws:
        async def acks() -> dict:
            reply: dict = {"ack": 0}
            while reply["ack"] < frames:
                reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert "error" not in reply, reply
            return reply
        acked = asyncio.create_task(acks())
        for i in range(frames):
            await ws.send(json.dumps(fix(i)))
            await asyncio.sleep(0.005)
        assert (await acked)["readings"] == frames
    records = await run_topic_records(device, run)
    assert 0 < records <= frames / 4, records
    assert len(await messages(http, worker, device, run, limit=frames)) == frames


@pytest.mark.parametrize("frame, mentions", [
    ("{not json", "not valid JSON"),
    (json.dumps({"latitude": "40", "longitude": -75.0, "timestamp": "t"}), "Not a number"),
    ('{"latitude": NaN, "longitude": -75.0, "timestamp": "t"}', "NaN"),
    (json.dumps({"latitude": 40.0, "longitude": -75.0}), "Missing data"),
    (json.dumps({"latitude": 40.0, "longitude": -75.0, "timestamp": "t", "speed": 1}), "Unknown field"),
    (json.dumps([fix(0), {"latitude": True, "longitude": 1.0, "timestamp": "t"}]), "1 of 2 readings"),
    (json.dumps([]), "empty"),
])
async def test_bad_frames_get_an_error_frame_and_the_connection_stays_open(http, worker, frame, mentions):
    device, run = await register(http, worker), unique("run")
    async with websockets.connect(f"{worker.ws_url}/send-stream/{device}/{run}") as ws:
        await ws.send(frame)
        error = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert error["frame"] == 1 and mentions in json.dumps(error), error
        await ws.send(json.dumps(fix(1)))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"ack": 2, "readings": 1}
    assert await messages(http, worker, device, run) == [fix(1)]   # nothing of the bad frame was written


async def test_unknown_device_and_bad_run_id_close_with_4xxx(worker):
    for path, code in ((f"/send-stream/{unique('nodev')}/run_1", 4404), ("/send-stream/gps_x/bad.run", 4400)):
        async with websockets.connect(worker.ws_url + path) as ws:
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)
            assert ws.close_code == code


async def test_frame_over_one_mebibyte_closes_1009(http, worker):
    device, run = await register(http, worker), unique("run")
    async with websockets.connect(f"{worker.ws_url}/send-stream/{device}/{run}", max_size=None) as ws:
        await ws.send(json.dumps([fix(0)] * 20_000))    # ~1.3 MiB
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        assert ws.close_code == 1009
    assert await messages(http, worker, device, run) == []


async def test_old_example_client_that_never_reads_works_unchanged(http, worker):
    """The old client sends a frame every 0.5 s and never reads what the server says."""
    device, run = await register(http, worker), unique("run")
    async with websockets.connect(f"{worker.ws_url}/send-stream/{device}/{run}") as ws:
        for i in range(4):
            await ws.send(json.dumps(fix(i)))
            await asyncio.sleep(0.5)
    got = await wait_for(lambda: messages(http, worker, device, run), what="4 readings in Kafka",
                         timeout=10)
    assert got == [fix(i) for i in reversed(range(4))]


async def test_fast_client_that_never_reads_acks_does_not_stall(http, worker):
    device, run = await register(http, worker), unique("run")
    total = 30_000
    async with websockets.connect(f"{worker.ws_url}/send-stream/{device}/{run}") as ws:
        for i in range(total):
            await ws.send(json.dumps(fix(i)))

    async def newest_is_last() -> bool:
        got = await messages(http, worker, device, run, limit=1)
        return got == [fix(total - 1)]

    await wait_for(newest_is_last, timeout=60, interval=0.5, what=f"reading {total} in Kafka")
    assert len(await messages(http, worker, device, run, limit=10_000)) == 10_000


async def test_http_batch_json_and_ndjson(http, worker):
    device, run = await register(http, worker), unique("run")
    async with http.post(f"{worker.url}/ingest/{device}/{run}", json=[fix(0), fix(1)]) as r:
        assert r.status == 200
        assert (await r.json())["accepted"] == 2
    ndjson = "\n".join(json.dumps(fix(i)) for i in (2, 3, 4)) + "\n"
    async with http.post(f"{worker.url}/ingest/{device}/{run}", data=ndjson,
                         headers={"Content-Type": "application/x-ndjson"}) as r:
        assert r.status == 200
        assert (await r.json())["accepted"] == 3
    assert await messages(http, worker, device, run) == [fix(i) for i in reversed(range(5))]


async def test_http_batch_is_all_or_nothing_and_names_each_bad_reading(http, worker):
    device, run = await register(http, worker), unique("run")
    batch = [fix(0), {"latitude": "x", "longitude": -75.0, "timestamp": "t"}, fix(2),
             {"latitude": 1.0, "timestamp": "t"}]
    async with http.post(f"{worker.url}/ingest/{device}/{run}", json=batch) as r:
        assert r.status == 422
        body = await r.json()
    assert set(body["detail"]) == {"1", "3"}
    assert "latitude" in body["detail"]["1"] and "longitude" in body["detail"]["3"]
    async with http.get(f"{worker.url}/get-topic-messages/{device}/{run}") as r:
        assert r.status == 404                                     # nothing was written, not even the topic


async def test_http_batch_bad_requests(http, worker):
    device = await register(http, worker)
    cases = [
        (f"/ingest/{unique('nodev')}/run_1", json.dumps([fix(0)]).encode(), 404),
        (f"/ingest/{device}/bad.run", json.dumps([fix(0)]).encode(), 400),
        (f"/ingest/{device}/run_1", b"[{nope", 400),
        (f"/ingest/{device}/run_1", b"", 400),
        (f"/ingest/{device}/run_1", json.dumps([fix(0)] * 20_000).encode(), 413),
    ]
    for path, data, status in cases:
        async with http.post(worker.url + path, data=data) as r:
            assert r.status == status, (path, status, await r.text())
            body = await r.json()
            assert body["error"], body


def sensor_logger_push(message_id: int, session: str) -> dict:
    location = {"name": "location", "time": 1_767_225_600_000_000_000 + message_id * 10**9, "accuracy": 3,
                "values": {"latitude": 40.1, "longitude": -75.1, "altitude": 12.0, "speed": 1.5}}
    accelerometer = {"name": "accelerometer", "time": 1_767_225_600_000_000_000, "accuracy": 3,
                     "values": {"x": 0.1, "y": 0.2, "z": 9.8}}
    return {"messageId": message_id, "sessionId": session, "deviceId": "b5d7-phone",
            "payload": [location, accelerometer, accelerometer]}


async def test_sensor_logger_push_maps_entries_and_ignores_retries(http, worker):
    schema = {"latitude": "float", "longitude": "float", "time": "timestamp", "sensor": "string"}
    device, session = await register(http, worker, schema, "phone"), unique("session")
    push = sensor_logger_push(7, session)
    async with http.post(f"{worker.url}/sensor-logger/{device}", json=push) as r:
        assert r.status == 200, await r.text()
        first = await r.json()
    assert first["run_id"] == session and first["accepted"] == 1
    assert first["left_out"] == {"accelerometer": 2} and first["duplicate"] is False
    async with http.post(f"{worker.url}/sensor-logger/{device}", json=push) as r:   # the app's retry
        assert (await r.json())["duplicate"] is True
    got = await messages(http, worker, device, session)
    assert got == [{"latitude": 40.1, "longitude": -75.1, "time": push["payload"][0]["time"], "sensor": "location"}]


async def test_sensor_logger_rejects_what_is_not_a_push(http, worker):
    device = await register(http, worker, {"latitude": "float", "time": "timestamp"}, "phone")
    async with http.post(f"{worker.url}/sensor-logger/{device}", json={"payload": []}) as r:
        assert r.status == 422
        assert "sessionId" in (await r.json())["detail"]


async def test_a_run_topic_with_the_wrong_partition_count_is_refused_not_written(http, worker):
    """A topic made outside the project (say, by broker auto-create) would put the run's state in
    partitions another worker owns: HTTP gets a 409, a WebSocket an error frame and close 1011."""
    device, run = await register(http, worker), unique("run")
    await create_topic(f"readings.{device}.{run}", 1)
    async with http.post(f"{worker.url}/ingest/{device}/{run}", json=[fix(0)]) as r:
        assert r.status == 409 and "partition" in (await r.json())["detail"]
    async with websockets.connect(f"{worker.ws_url}/send-stream/{device}/{run}") as ws:
        await ws.send(json.dumps(fix(1)))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert reply["error"] == "run topic has the wrong partition count"
        with pytest.raises(websockets.ConnectionClosedError) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd.code == 1011
    assert await messages(http, worker, device, run) == []
