"""`sports-prophet supervise` (what scripts/run starts): a worker killed mid-stream comes back by
itself, and every reading acknowledged before and after the kill is counted once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sports_prophet.ops.worker_process import free_port
from tests.integration.conftest import REPO, TEST_ENV, register, unique, wait_for
from tests.integration.test_live import GPS, post, run_has, track

pytestmark = pytest.mark.integration


def worker_child(supervisor: subprocess.Popen) -> int | None:
    """The supervised worker's pid (the supervisor's one child), if it is running."""
    children = Path(f"/proc/{supervisor.pid}/task/{supervisor.pid}/children").read_text().split()
    return int(children[0]) if children else None


async def test_a_killed_worker_is_restarted_by_its_supervisor_and_loses_nothing(http, stack, tmp_path):
    port = free_port()
    env = {**os.environ, **TEST_ENV, "SP_APP_ID": unique("sp-test-supervised"), "SP_WEB_HOST": "127.0.0.1",
           "SP_WEB_PORT": str(port), "SP_DATA_DIR": str(tmp_path / "data")}
    supervisor = subprocess.Popen([sys.executable, "-m", "sports_prophet.cli", "supervise", str(tmp_path / "worker.log")],
                                  cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    class Url:
        url = f"http://127.0.0.1:{port}"

    async def healthy() -> bool:
        try:
            async with http.get(f"{Url.url}/health") as r:
                return r.status == 200
        except OSError:
            return False

    try:
        await wait_for(healthy, timeout=120, interval=0.5, what="the supervised worker healthy")
        device, run = await register(http, Url, GPS), unique("run")
        fixes = track(400)
        await post(http, Url, f"/ingest/{device}/{run}", fixes[:200])
        first = worker_child(supervisor)
        os.kill(first, signal.SIGKILL)
        await wait_for(healthy, timeout=120, interval=0.5, what="the worker restarted by the supervisor")
        assert worker_child(supervisor) not in (None, first)
        await post(http, Url, f"/ingest/{device}/{run}", fixes[200:])
        try:
            summary = await wait_for(lambda: run_has(http, Url, device, run, 400), timeout=90, interval=0.5,
                                     what="all 400 readings counted once across the restart")
        except AssertionError as exc:
            async with http.get(f"{Url.url}/runs/{device}/{run}") as r:
                raise AssertionError(f"{exc}; the run: {r.status} {(await r.text())[:200]}") from exc
        assert summary["stats"]["hr"]["count"] == 400
    finally:
        supervisor.send_signal(signal.SIGTERM)
        output, _ = supervisor.communicate(timeout=60)
    assert "exited with code -9" in output and "worker restarted" in output, output
