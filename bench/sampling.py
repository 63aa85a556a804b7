"""Sample a running worker with py-spy and rank where its time goes: the figures behind the README's
"top 10" table. A sampling profiler attached from outside, so the worker runs unmodified and at
full speed (cProfile inside would slow the per-reading Python it measures several-fold).
"""

from __future__ import annotations

import collections
import re
import signal
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

FRAME = re.compile(r"^(?P<function>.+?) \((?P<file>[^()]+?)(?::\d+)?\)$")


@dataclass
class Profile:
    """Samples per function: `own` where the function itself was running (the leaf), `total` where
    it was anywhere on the stack. A function named by `file:function`, the file cut to its last two parts."""

    samples: int = 0
    own: collections.Counter = field(default_factory=collections.Counter)
    total: collections.Counter = field(default_factory=collections.Counter)

    def top(self, n: int = 10) -> list[tuple[str, float, float]]:
        """The n functions with the most own time: (function, own %, total %)."""
        return [(name, 100 * count / self.samples, 100 * self.total[name] / self.samples)
                for name, count in self.own.most_common(n)]

    def table(self, n: int = 10) -> str:
        rows = [f"{'function (file)':70} {'own %':>6} {'total %':>8}"]
        rows += [f"{name[:70]:70} {own:6.1f} {total:8.1f}" for name, own, total in self.top(n)]
        return "\n".join(rows + [f"({self.samples:,} samples of the worker's threads)"])


def frame_name(frame: str) -> str:
    match = FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = Path(match["file"])
    return f"{'/'.join(path.parts[-2:])}:{match['function']}"


def parse_collapsed(text: str) -> Profile:
    """py-spy's `--format raw` output: one `frame;frame;...;leaf count` line per distinct stack."""
    profile = Profile()
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [frame_name(f) for f in stack.split(";") if f.strip() and not f.startswith("process ")
                  and not f.startswith("thread ")]
        if not frames:
            continue
        n = int(count)
        profile.samples += n
        profile.own[frames[-1]] += n
        for name in set(frames):
            profile.total[name] += n
    return profile


PY_SPY = Path(sys.executable).with_name("py-spy")      # installed in the virtualenv (pyproject's dev extras)


@contextmanager
def sampled(pid: int, rate: int = 200, keep: Path | None = None) -> Iterator[Profile]:
    """Sample `pid` (idle threads left out) for the duration of the block; the yielded Profile is
    filled when the block ends. `keep`: where to copy py-spy's collapsed stacks (for flamegraph.pl,
    speedscope, or reading callers)."""
    profile = Profile()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "stacks.txt"
        spy = subprocess.Popen([str(PY_SPY), "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw",
                                "--output", str(out), "--nonblocking"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            yield profile
        finally:
            spy.send_signal(signal.SIGINT)
            _, err = spy.communicate(timeout=60)
        if not out.exists():
            raise RuntimeError(f"py-spy wrote no profile: {err.decode(errors='replace')[-500:]}")
        if keep is not None:
            keep.write_text(out.read_text())
        filled = parse_collapsed(out.read_text())
        profile.samples, profile.own, profile.total = filled.samples, filled.own, filled.total
