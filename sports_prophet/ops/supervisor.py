"""`sports-prophet supervise`: keep a worker running. An ops tool, not app wiring.

A worker that exits abnormally (a Faust service crashed and it exited non-zero, kill -9, the kernel's
out-of-memory killer) is started again after a back-off: 1 s, doubling to 30 s, back to 1 s once one
has run a minute. Each exit and restart is said on screen. Nothing acknowledged is lost by a
restart: every acknowledged reading is in Kafka, and the new worker resumes from the committed
offsets (the run agent skips what it had already applied).

SIGINT or SIGTERM stops the worker (SIGTERM, a clean stop) and the supervisor with it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


class Supervisor:
    def __init__(self, command: list[str], log_path: Path, first_delay: float = 1.0, max_delay: float = 30.0,
                 healthy_after: float = 60.0, say: Callable[[str], None] = print) -> None:
        self.command, self.log_path, self.say = command, log_path, say
        self.first_delay, self.max_delay, self.healthy_after = first_delay, max_delay, healthy_after
        self.stopping = threading.Event()
        self.process: subprocess.Popen | None = None
        self.restarts = 0

    def stop(self, *_: Any) -> None:
        self.stopping.set()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def run(self) -> int:
        """Run the command until it exits cleanly or the supervisor is stopped; return its last exit code."""
        delay = self.first_delay
        while True:
            started = time.monotonic()
            with open(self.log_path, "ab") as log:
                self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT)
            code = self.process.wait()
            if self.stopping.is_set() or code == 0:
                return code
            if time.monotonic() - started >= self.healthy_after:
                delay = self.first_delay
            self.say(f"==> {time.strftime('%H:%M:%S')} the worker exited with code {code}; "
                     f"restarting it in {delay:.0f}s (log: {self.log_path})\n{self.log_tail()}")
            if self.stopping.wait(delay):
                return code
            delay = min(delay * 2, self.max_delay)
            self.restarts += 1
            self.say(f"==> {time.strftime('%H:%M:%S')} worker restarted ({self.restarts} so far)")

    def log_tail(self, lines: int = 5) -> str:
        tail = self.log_path.read_text(errors="replace").splitlines()[-lines:] if self.log_path.exists() else []
        return "\n".join(f"    {line[:200]}" for line in tail)


def main(args: list[str]) -> int:
    """`sports-prophet supervise LOG [worker options]`: run `sports-prophet worker` under supervision."""
    if not args:
        print("usage: sports-prophet supervise LOGFILE [worker options]", file=sys.stderr)
        return 2
    supervisor = Supervisor([sys.executable, "-m", "sports_prophet.cli", "worker", *args[1:]], Path(args[0]),
                            say=lambda text: print(text, flush=True))
    signal.signal(signal.SIGTERM, supervisor.stop)
    signal.signal(signal.SIGINT, supervisor.stop)
    return supervisor.run()
