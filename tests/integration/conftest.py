"""Real workers against the real Kafka and Cassandra that `scripts/stack up` started.

Each test session uses its own Faust app id, Cassandra keyspace and data folders, so
it never reads or disturbs the state of a stack that is also serving the main job.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import aiohttp
import pytest

from sports_prophet.ops.worker_process import WorkerProcess

REPO = Path(__file__).resolve().parents[2]
SESSION_TAG = uuid.uuid4().hex[:8]
TEST_ENV = {
    "SP_APP_ID": f"sp-test-{SESSION_TAG}",
    "SP_KEYSPACE": "sp_test",
    "SP_REGISTRY_CACHE_SECONDS": "0.5",
    "SP_SILENCE_SECONDS": "2",
    # Runs silent for 30 s finish, are archived and leave the live subscription, as in production
    # after SP_FINISH_AFTER_SECONDS: otherwise the session's hundreds of test runs would all stay
    # subscribed and make every later rebalance slower.
    "SP_FINISH_AFTER_SECONDS": "30",
}


def unique(prefix: str) -> str:
    """A device or run id no other test (or earlier run) uses."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


class Worker(WorkerProcess):
    def __init__(self, folder: Path, name: str, app_id: str | None = None, env: dict[str, str] | None = None) -> None:
        super().__init__(folder, name, {**TEST_ENV, **({"SP_APP_ID": app_id} if app_id else {}), **(env or {})})


@pytest.fixture(scope="session")
def stack() -> None:
    """Fail fast, naming the fix, when the stack is not running; apply the test keyspace's schema."""
    result = subprocess.run([sys.executable, "-m", "sports_prophet.ops.stack", "status"], cwd=REPO,
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.exit(f"the stack is not running — run `scripts/stack up` (or `scripts/test`)\n{result.stdout}", 2)
    subprocess.run([sys.executable, "-m", "sports_prophet.cli", "schema"], cwd=REPO, check=True,
                   env={**os.environ, **TEST_ENV}, capture_output=True)


@pytest.fixture(scope="session")
def worker(stack: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    w = Worker(tmp_path_factory.mktemp("workers"), "worker-a").start()
    yield w
    w.stop()


@pytest.fixture
def make_worker(stack: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Start extra workers (same app id) for restart and two-worker tests, stopped when the test ends
    (every member more in the group makes each later rebalance slower)."""
    started: list[Worker] = []
    group = f"{TEST_ENV['SP_APP_ID']}-{uuid.uuid4().hex[:6]}"

    def make(name: str) -> Worker:
        """A worker in this test's own consumer group: restarts and kills here rebalance only this
        test's workers, never the session worker the other tests use."""
        w = Worker(tmp_path_factory.mktemp("workers"), name, app_id=group)
        started.append(w)
        return w

    yield make
    for w in started:
        w.stop()


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    # No pooled keep-alive connections: restart tests reuse a port, and a pooled connection to the
    # stopped process would fail the next request.
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60), connector=connector) as session:
        yield session


async def wait_for(condition, timeout: float = 20, interval: float = 0.1, what: str = "condition") -> Any:
    """Poll an async condition until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await condition()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


async def create_topic(name: str, partitions: int) -> None:
    """A topic made outside the project (as broker auto-create would make a run's)."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from sports_prophet.config import settings
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


GPS_SCHEMA = {"latitude": "float", "longitude": "float", "timestamp": "string"}


async def register(http: aiohttp.ClientSession, worker: Worker, schema: dict | None = None,
                   prefix: str = "dev") -> str:
    device = unique(prefix)
    async with http.post(f"{worker.url}/register-device",
                         json={"device_name": device, "schema": schema or GPS_SCHEMA}) as response:
        assert response.status == 201, await response.text()
    return device
