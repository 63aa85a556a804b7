"""Ingest throughput: readings/s accepted over HTTP batches and over one WebSocket, against a raw
aiokafka producer writing the same readings in the same run (the baseline).

Run it with `scripts/bench ingest` (a freshly formatted stack of its own). Starts its own worker.
Usage: .venv/bin/python bench/ingest.py [--readings 200000] [--batch 1000] [--clients 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from sports_prophet.config import settings
from sports_prophet.ops.worker_process import WorkerProcess

SCHEMA = {"latitude": "float", "longitude": "float", "speed": "float", "timestamp": "timestamp"}


def reading(i: int) -> dict:
    return {"latitude": 40.0 + i * 1e-7, "longitude": -3.7, "speed": 4.2, "timestamp": 1_767_225_600 + i * 0.1}


async def raw_producer(readings: list[dict], batch: int) -> tuple[float, float]:
    """readings/s of a bare aiokafka producer: one record per reading, and records of `batch` readings."""
    topic = f"bench.raw.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, settings.topic_partitions, 1)])
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True,
                                linger_ms=1, max_request_size=4 * 1024 * 1024)
    await producer.start()
    try:
        results = []
        for chunk in (1, batch):
            started = time.perf_counter()
            futures = [await producer.send(topic, json.dumps(readings[i:i + chunk]).encode(), key=b"k")
                       for i in range(0, len(readings), chunk)]
            await asyncio.gather(*futures)
            results.append(len(readings) / (time.perf_counter() - started))
        return results[0], results[1]
    finally:
        await producer.stop()
        await admin.delete_topics([topic])
        await admin.close()


async def http_batches(url: str, device: str, readings: list[dict], batch: int, clients: int) -> float:
    chunks = [readings[i:i + batch] for i in range(0, len(readings), batch)]
    queue: asyncio.Queue = asyncio.Queue()
    for chunk in chunks:
        queue.put_nowait(chunk)
    async with aiohttp.ClientSession() as http:
        async def client() -> None:
            while not queue.empty():
                chunk = queue.get_nowait()
                async with http.post(f"{url}/ingest/{device}/http_run", json=chunk) as r:
                    assert r.status == 200, await r.text()

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        return len(readings) / (time.perf_counter() - started)


async def one_websocket(ws_url: str, device: str, readings: list[dict], frame_size: int) -> float:
    """Pipelined: send every frame, then wait for the cumulative ack of the last one."""
    frames = [json.dumps(readings[i] if frame_size == 1 else readings[i:i + frame_size])
              for i in range(0, len(readings), frame_size)]
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{ws_url}/send-stream/{device}/ws_run_{frame_size}") as ws:
            started = time.perf_counter()

            async def read_acks() -> None:
                async for message in ws:
                    reply = json.loads(message.data)
                    assert "error" not in reply, reply
                    if reply["ack"] == len(frames):
                        return

            reader = asyncio.create_task(read_acks())
            for frame in frames:
                await ws.send_str(frame)
            await asyncio.wait_for(reader, 300)
            return len(readings) / (time.perf_counter() - started)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readings", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000, help="readings per HTTP request")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients")
    args = parser.parse_args()
    readings = [reading(i) for i in range(args.readings)]

    with tempfile.TemporaryDirectory() as folder:
        worker = WorkerProcess(Path(folder), "bench-worker", {"SP_APP_ID": f"bench-{uuid.uuid4().hex[:6]}"})
        print(f"starting a worker (log {worker.log_path}) ...", flush=True)
        worker.start()
        try:
            device = f"bench_{uuid.uuid4().hex[:8]}"
            async with aiohttp.ClientSession() as http:
                async with http.post(f"{worker.url}/register-device",
                                     json={"device_name": device, "schema": SCHEMA}) as r:
                    assert r.status == 201
            print("raw aiokafka producer ...", flush=True)
            raw_single, raw_packed = await raw_producer(readings, args.batch)
            print("HTTP batches ...", flush=True)
            http_rate = await http_batches(worker.url, device, readings, args.batch, args.clients)
            print("one WebSocket, one reading per frame ...", flush=True)
            ws_single = await one_websocket(worker.ws_url, device, readings[:50_000], 1)
            print("one WebSocket, 100 readings per frame ...", flush=True)
            ws_array = await one_websocket(worker.ws_url, device, readings, 100)
        finally:
            worker.stop()

    rows = [
        ("raw aiokafka, 1 reading/record (baseline)", raw_single, raw_single),
        (f"raw aiokafka, {args.batch} readings/record", raw_packed, raw_single),
        (f"HTTP /ingest, {args.batch}/request, {args.clients} clients", http_rate, raw_single),
        ("WebSocket, 1 reading/frame, acked", ws_single, raw_single),
        ("WebSocket, 100 readings/frame, acked", ws_array, raw_single),
    ]
    print(f"\n{'path':48} {'readings/s':>12} {'vs baseline':>12}")
    for name, rate, base in rows:
        print(f"{name:48} {rate:12,.0f} {rate / base:11.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
