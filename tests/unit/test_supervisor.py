"""The worker supervisor (`sports-prophet supervise`), on real child processes."""

from __future__ import annotations

import sys
import threading

from sports_prophet.ops.supervisor import Supervisor


def crash_twice_then_succeed(tmp_path) -> list[str]:
    """A command that exits 3, then 3 again, then 0 (it counts its runs in a file)."""
    counter = tmp_path / "runs"
    script = ("import pathlib, sys; p = pathlib.Path(sys.argv[1]); n = int(p.read_text() or 0) if p.exists() else 0; "
              "p.write_text(str(n + 1)); print('run', n + 1); sys.exit(3 if n < 2 else 0)")
    return [sys.executable, "-c", script, str(counter)]


def test_an_abnormal_exit_is_restarted_with_growing_back_off_and_said(tmp_path):
    said: list[str] = []
    supervisor = Supervisor(crash_twice_then_succeed(tmp_path), tmp_path / "worker.log", first_delay=0.05,
                            max_delay=0.08, say=said.append)
    assert supervisor.run() == 0
    assert supervisor.restarts == 2
    exits = [line for line in said if "exited with code 3" in line]
    assert len(exits) == 2 and "restarting it in 0s" in exits[0]
    assert "run 2" in exits[1]                           # the log's tail is shown with the exit
    assert (tmp_path / "worker.log").read_text().count("run ") == 3


def test_a_clean_exit_is_not_restarted(tmp_path):
    supervisor = Supervisor([sys.executable, "-c", "pass"], tmp_path / "worker.log", say=lambda _: None)
    assert supervisor.run() == 0 and supervisor.restarts == 0


def test_stop_ends_the_worker_and_the_supervision(tmp_path):
    said: list[str] = []
    supervisor = Supervisor([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "worker.log",
                            say=said.append)
    runner = threading.Thread(target=supervisor.run)
    runner.start()
    while supervisor.process is None:
        threading.Event().wait(0.01)
    supervisor.stop()
    runner.join(10)
    assert not runner.is_alive()
    assert supervisor.restarts == 0 and not said
