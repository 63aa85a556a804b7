"""Start and stop a `sports-prophet worker` as a child process: for integration tests and benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from sports_prophet.config import REPO_ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WorkerProcess:
    """One worker on its own loopback port and data folder; `env` adds or overrides settings."""

    def __init__(self, folder: Path, name: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        folder.mkdir(parents=True, exist_ok=True)
        self.log_path = folder / f"{name}.log"
        self.env = {**os.environ, **(env or {}), "SP_WEB_HOST": "127.0.0.1", "SP_WEB_PORT": str(self.port),
                    "SP_DATA_DIR": str(folder / f"{name}-data")}
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 120, degraded: bool = False) -> "WorkerProcess":
        """Start and wait until /health answers 200 (or, `degraded`, any answer: a worker meant to run
        without Cassandra answers 503)."""
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "sports_prophet.cli", "worker"], cwd=REPO_ROOT,
                                         env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        try:
            self.wait_healthy(timeout, degraded)
        except BaseException:           # a worker that never became healthy is not left running
            self.stop()
            raise
        return self

    def wait_healthy(self, timeout: float, degraded: bool = False) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"worker exited:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except urllib.error.HTTPError as exc:
                if degraded and exc.code == 503:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"worker not healthy after {timeout}s:\n{self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the worker (SIGKILL simulates a crash) and wait until it is gone."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
