"""A run stopped by a signal keeps its work: real `harness run` processes, real signals.

SIGTERM, SIGINT (Ctrl-C), SIGUSR1 and SIGUSR2 each stop a training run at its next step with a
checkpoint, record ``interrupted`` and the signal in ``run.json``, print one line (no
traceback) and exit 128 + the signal's number; the next `harness run` resumes from that
checkpoint and ends with every evaluation once and the numbers of a run never stopped. A second
Ctrl-C exits at once, and so does a stop whose checkpoint does not come within
``hardware.stop_timeout_s``, each in one line. Every wait has a timeout.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from harness.cli import main

SPEC = """
name: sig
env: {id: point_u_maze, episode_length: 40}
network: {critic_depth: 4, actor_depth: 4, width: 16, repr_dim: 8}
algo: {batch_size: 32, utd: 0.05}
data: {num_envs: 4, unroll_length: 20, total_env_steps: 4800, replay_size_per_env: 200,
       min_replay_per_env: 40}
eval: {num_envs: 4, num_evals: 8, last_k: 2}
seeds: [0]
hardware: {checkpoint_every_min: 60}
"""
#: checkpoint_every_min 60: the only checkpoints are the one after the first evaluation
#: (iteration 0) and the one the signal asks for.


def _cli(*args: str) -> tuple[int, str, str]:
    """``harness ARGS`` in this process: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def _start(spec: Path, results: Path, *extra: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "harness.cli", "run", str(spec), "--results", str(results)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [*command, *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def _wait_for(proc: subprocess.Popen[str], ready, timeout_s: float = 300.0) -> None:
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.05)
    proc.kill()
    _, err = proc.communicate(timeout=60)
    raise AssertionError(f"never ready (rc {proc.returncode}):\n{err[-3000:]}")


def _eval_steps(run_dir: Path) -> list[int]:
    try:
        rows = pq.read_table(run_dir / "metrics.parquet").to_pylist()
    except (OSError, ValueError):  # not written yet
        return []
    return [r["env_steps"] for r in rows if r["metric"] == "eval/time_at_goal"]


def _values(run_dir: Path) -> dict[tuple[int, str], float]:
    """Every evaluation's metrics but timings, by (env steps, metric)."""
    rows = pq.read_table(run_dir / "metrics.parquet").to_pylist()
    return {(r["env_steps"], r["metric"]): r["value"] for r in rows if "perf/" not in r["metric"]}


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sig") / "sig.yaml"
    path.write_text(SPEC)
    return path


@pytest.fixture(scope="module")
def never_stopped(spec: Path) -> dict[tuple[int, str], float]:
    """The run's numbers, trained in one go."""
    results = spec.parent / "reference"
    code, _, err = _cli("run", str(spec), "--results", str(results))
    assert code == 0, err
    (run_dir,) = (results / "sig").iterdir()
    return _values(run_dir)


@pytest.mark.parametrize(
    ("name", "code", "resume"),
    [
        pytest.param("SIGTERM", 143, True, marks=pytest.mark.slow),  # .ci/run runs it
        ("SIGINT", 130, False),  # the same path as SIGTERM's, resumed in the slow cases
        pytest.param("SIGINT", 130, True, marks=pytest.mark.slow, id="SIGINT-130-resumed"),
        pytest.param("SIGUSR1", 138, True, marks=pytest.mark.slow),
        pytest.param("SIGUSR2", 140, True, marks=pytest.mark.slow),
    ],
)
def test_a_signal_checkpoints_the_run_and_it_resumes_with_the_same_numbers(
    spec: Path, request: pytest.FixtureRequest, tmp_path: Path, name: str, code: int, resume: bool
) -> None:
    """Sent once the run has evaluated after training (iteration >= 1); the test file sorts
    after test_reliability.py, whose runs compile the same programs (the cache is shared)."""
    results = tmp_path / "results"
    proc = _start(spec, results)
    runs = results / "sig"
    _wait_for(proc, lambda: any(len(set(_eval_steps(d))) >= 2 for d in runs.glob("*/")))
    (run_dir,) = runs.iterdir()
    sent = time.monotonic()
    proc.send_signal(getattr(signal, name))
    _, err = proc.communicate(timeout=180)
    took = time.monotonic() - sent
    assert proc.returncode == code, err
    assert "Traceback" not in err, err
    # Progress lines, then one line about the stop.
    about = [line for line in _lines(err) if name in line]
    assert len(about) == 1 and about[0].startswith(f"harness run: stopped by {name}: "), err
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "interrupted" and record["signal"] == name, record
    iteration, at = record["checkpoint"]["iteration"], record["checkpoint"]["env_steps"]
    assert f"{run_dir.name} checkpointed at env step " in about[0]
    assert f"(iteration {iteration})" in about[0]
    # The work since the first evaluation is kept: a checkpoint beyond iteration 0, and the
    # evaluations made up to it are on disk.
    assert [p.name for p in (run_dir / "checkpoint").iterdir() if p.name.isdigit()] == [
        str(iteration)
    ]
    assert iteration > 0 and max(_eval_steps(run_dir)) <= at
    assert took < 60, took
    # `harness status` shows it interrupted; `harness run` resumes from that checkpoint.
    code_, out, _ = _cli("status", str(spec), "--results", str(results), "--json")
    assert code_ == 0 and json.loads(out)[0]["status"] == "interrupted"
    if not resume:
        return
    never_stopped = request.getfixturevalue("never_stopped")
    code_, _, err = _cli("run", str(spec), "--results", str(results))
    assert code_ == 0, err
    assert "resumed from its checkpoint" in err
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "completed" and record["resumes"] == 1, record
    assert record["resumed_from_env_steps"] == at
    steps = _eval_steps(run_dir)
    assert len(steps) == len(set(steps)) == 9 and steps == sorted(steps)
    assert _values(run_dir) == never_stopped


def _started(runs: Path) -> bool:
    return any((d / "run.json").is_file() for d in runs.glob("*/"))


def test_a_second_ctrl_c_exits_at_once(spec: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    proc = _start(spec, results)
    _wait_for(proc, lambda: _started(results / "sig"))
    proc.send_signal(signal.SIGINT)  # while the run builds, compiles, prefills
    time.sleep(0.2)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert time.monotonic() - sent < 5
    assert "Traceback" not in err, err
    [line] = [line for line in _lines(err) if "SIGINT" in line]
    assert "stopped by SIGINT without a new checkpoint (a second SIGINT)" in line
    (run_dir,) = (results / "sig").iterdir()
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "interrupted" and record["signal"] == "SIGINT", record
    assert "without a new checkpoint" in record["note"]


def test_a_checkpoint_later_than_the_stop_timeout_is_given_up_in_one_line(
    spec: Path, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    proc = _start(spec, results, "--set", "hardware.stop_timeout_s=0.2")
    _wait_for(proc, lambda: _started(results / "sig"))
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)  # the first checkpoint is seconds away (compilation)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert time.monotonic() - sent < 5
    assert "Traceback" not in err, err
    [line] = [line for line in _lines(err) if "SIGTERM" in line]
    assert "stopped by SIGTERM without a new checkpoint (no checkpoint within 0.2 s)" in line
    assert "resumes from the last checkpoint" in line
    (run_dir,) = (results / "sig").iterdir()
    assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"
