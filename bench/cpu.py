"""Where the machine's CPU goes, per process, between two moments: the budget a benchmark's rate is
spent from. Linux /proc only."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sports_prophet.ops.stack import SERVICES, running_pid

TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its waited-for children (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return sum(int(v) for v in fields[11:15]) / TICKS       # utime stime cutime cstime


def machine_cpu_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]                              # idle + iowait
    return (sum(values) - idle) / TICKS, sum(values) / TICKS


@dataclass
class CpuSnapshot:
    processes: dict[str, float]
    busy: float
    total: float

    @classmethod
    def take(cls, named_pids: dict[str, list[int]]) -> CpuSnapshot:
        """CPU seconds so far of each named group of processes, with the stack's servers beside them."""
        groups = {**named_pids, **{s.name: [pid] for s in SERVICES if (pid := running_pid(s)) is not None}}
        busy, total = machine_cpu_s()
        return cls({name: sum(process_cpu_s(pid) for pid in pids) for name, pids in groups.items()}, busy, total)

    def per_unit_us(self, later: CpuSnapshot, units: float) -> dict[str, float]:
        """µs of CPU per unit of work (a reading) each group spent between this snapshot and `later`,
        with `other` (the rest of the machine) and `machine` (all of it)."""
        spent = {name: later.processes.get(name, 0.0) - before for name, before in self.processes.items()}
        machine = later.busy - self.busy
        spent["other"] = machine - sum(spent.values())
        spent["machine"] = machine
        return {name: seconds * 1e6 / units for name, seconds in spent.items()} if units else {}

    def cores_busy(self, later: CpuSnapshot) -> float:
        """How many of the machine's cores were busy on average between the two snapshots."""
        cores = os.cpu_count() or 1
        return cores * (later.busy - self.busy) / max(later.total - self.total, 1e-9)
