"""Checkpoint and resume on the local executor: a seed group of two runs killed with SIGKILL
and started again resumes every seed from its checkpoint, and each Parquet has every evaluation
exactly once. (A solo run's SIGKILL and resume: tests/test_reliability.py.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

SPEC = """
name: resume
env: {id: point_u_maze, episode_length: 40}
network: {critic_depth: 4, actor_depth: 4, width: 16, repr_dim: 8}
algo: {batch_size: 32, utd: 0.05}
data: {num_envs: 4, unroll_length: 20, total_env_steps: 6000, replay_size_per_env: 200,
       min_replay_per_env: 40}
eval: {num_envs: 4, num_evals: 10, last_k: 2}
seeds: [0, 1]
hardware: {checkpoint_every_min: 0, seed_group: 2}
"""


def _harness(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness.cli", *args]


@pytest.mark.slow  # about 50 s: run by .ci/run's opt-in step (solo SIGKILL: test_reliability)
def test_sigkilled_seed_group_resumes_without_lost_or_duplicated_rows(tmp_path: Path) -> None:
    spec = tmp_path / "resume.yaml"
    spec.write_text(SPEC)
    results = tmp_path / "results"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        _harness("run", str(spec), "--results", str(results)),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    run_dirs: list[Path] = []
    deadline = time.time() + 300
    killed_at = None
    while time.time() < deadline and proc.poll() is None:
        run_dirs = sorted((results / "resume").glob("*/")) if results.exists() else []
        if len(run_dirs) == 2 and all((d / "metrics.parquet").exists() for d in run_dirs):
            rows = pq.read_table(run_dirs[1] / "metrics.parquet").to_pylist()
            steps = {r["env_steps"] for r in rows}
            ckpts = [p for p in (run_dirs[1] / "checkpoint").glob("*") if p.name.isdigit()]
            if len(steps) >= 3 and ckpts:
                proc.send_signal(signal.SIGKILL)
                killed_at = len(steps)
                break
        time.sleep(0.2)
    proc.wait(timeout=60)
    assert killed_at is not None, "the run finished or stalled before it could be killed"
    assert len(run_dirs) == 2
    for run_dir in run_dirs:
        record = json.loads((run_dir / "run.json").read_text())
        assert record["status"] == "running"  # killed: nobody could record anything

    done = subprocess.run(
        _harness("run", str(spec), "--results", str(results)),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr.count("resumed from its checkpoint") == 2
    for run_dir in run_dirs:
        record = json.loads((run_dir / "run.json").read_text())
        assert record["status"] == "completed" and record["resumes"] == 1
        assert record["attempts"] == 2
        rows = pq.read_table(run_dir / "metrics.parquet").to_pylist()
        tag = [
            (r["env_steps"], r["grad_steps"]) for r in rows if r["metric"] == "eval/time_at_goal"
        ]
        assert len(tag) == len(set(tag)) == 11  # before training + 10 evaluations, each once
        assert [s for s, _ in tag] == sorted(s for s, _ in tag)
        assert not (run_dir / "checkpoint").exists()  # removed once complete
        assert (run_dir / "params").is_dir()


def test_checkpoint_round_trips_empty_arrays(tmp_path: Path) -> None:
    """MJX states hold size-0 arrays (``act`` of a model without activations) that orbax
    cannot save; the checkpointer stores a stand-in and restores the empty array."""
    import jax.numpy as jnp

    from harness.checkpoint import Checkpointer, abstract

    state = {"x": jnp.arange(3.0), "act": jnp.zeros((2, 0)), "step": jnp.ones((), jnp.int32)}
    ckpt = Checkpointer(tmp_path / "checkpoint")
    ckpt.save(7, state, {"iteration": 7})
    ckpt.close()
    ckpt = Checkpointer(tmp_path / "checkpoint")
    restored = ckpt.restore(abstract(state))
    ckpt.close()
    assert restored is not None
    got, record = restored
    assert record == {"iteration": 7}
    assert got["act"].shape == (2, 0) and got["act"].dtype == jnp.float32
    assert got["x"].tolist() == [0.0, 1.0, 2.0] and int(got["step"]) == 1
