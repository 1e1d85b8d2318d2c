"""The stall watchdog: a run that makes no progress becomes a failed run and the sweep goes on.

The end-to-end test runs a real `harness run` of two seeds in a subprocess whose training of
seed 0 stops making progress at its third iteration (its ``Trainer.iteration`` sleeps, as a
thread stuck in XLA would wait); the watchdog records it as failed and starts the command again,
which skips it and trains seed 1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.watchdog import STALLED_ENV, StalledError, Watchdog, stall_message, stalled_runs

SPEC = """
name: stall
env: {id: point_u_maze, episode_length: 40}
network: {critic_depth: 4, actor_depth: 4, width: 16, repr_dim: 8}
algo: {batch_size: 16, utd: 0.02}
data: {num_envs: 4, unroll_length: 20, total_env_steps: 960, replay_size_per_env: 200,
       min_replay_per_env: 40}
eval: {num_envs: 4, num_evals: 2, last_k: 1}
seeds: [0, 1]
hardware: {stall_timeout_min: 0.5, checkpoint_every_min: 0}
"""

#: `harness run ARGS` in which seed 0's third training iteration never ends.
STALLING = """
import sys, time
import harness.train as train

original = train.Trainer.iteration
calls = {"n": 0}

def iteration(self, ts):
    if self.cfg.seed == 0:
        calls["n"] += 1
        if calls["n"] == 3:
            time.sleep(3600)
    return original(self, ts)

train.Trainer.iteration = iteration
from harness.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_watchdog_fires_once_with_the_phase() -> None:
    fired: list[tuple[str, float]] = []
    done = threading.Event()

    def on_stall(phase: str, idle_s: float) -> None:
        fired.append((phase, idle_s))
        done.set()

    with Watchdog(0.3, on_stall, poll_s=0.02) as dog:
        for i in range(10):  # beats every 0.05 s: no stall
            dog.beat(f"iteration {i}")
            time.sleep(0.05)
        assert not fired
        dog.beat("evaluation")
        assert done.wait(5.0)
    time.sleep(0.1)
    assert len(fired) == 1 and dog.fired
    phase, idle = fired[0]
    assert phase == "evaluation" and idle >= 0.3
    assert stall_message(phase, idle).startswith("no progress for 0 s in evaluation")


def test_watchdog_stops_with_its_context_and_refuses_no_timeout() -> None:
    fired: list[str] = []
    with Watchdog(0.2, lambda phase, idle: fired.append(phase), poll_s=0.02):
        pass
    time.sleep(0.4)
    assert not fired
    with pytest.raises(ValueError, match="timeout_s"):
        Watchdog(0, lambda phase, idle: None)


def test_stalled_runs_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STALLED_ENV, "a,,b")
    assert stalled_runs() == {"a", "b"}
    monkeypatch.delenv(STALLED_ENV)
    assert stalled_runs() == set()


@pytest.mark.slow  # about 60 s, half of it the stall timeout: run by .ci/run's opt-in step
def test_stalled_run_fails_and_the_sweep_goes_on(tmp_path: Path) -> None:
    spec = tmp_path / "stall.yaml"
    spec.write_text(SPEC)
    script = tmp_path / "stalling.py"
    script.write_text(STALLING)
    results = tmp_path / "results"
    env = {k: v for k, v in os.environ.items() if k != STALLED_ENV}
    proc = subprocess.run(
        [sys.executable, str(script), "run", str(spec), "--results", str(results)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**env, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "completed" in proc.stderr, proc.stderr[-3000:]
    records = {}
    for record_file in (results / "stall").glob("*/run.json"):
        record = json.loads(record_file.read_text())
        config = json.loads((record_file.parent / "config.json").read_text())
        records[config["config"]["seed"]] = record
    assert records[1]["status"] == "completed"
    stalled = records[0]
    assert stalled["status"] == "failed"
    assert stalled["error"]["type"] == StalledError.__name__
    message = stalled["error"]["message"]
    assert message.startswith(("no progress for 3", "no progress for 4")), message  # 30 s + poll
    assert "in training iteration 3" in message
    assert not (records[0].get("final") or {})
    assert "stalled earlier in this command" in proc.stderr
    # nothing half-written stays behind in the stalled run's folder
    assert not list((results / "stall").glob("*/*.tmp"))
