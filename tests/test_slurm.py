"""The Slurm executor against a real single-node Slurm (scripts/slurm-local.sh start).

Skipped where no Slurm runs (no sbatch on PATH, or no node answers); `.ci/run` starts one, so CI
runs these for real: a sweep as a job array, a job requeued mid-training that resumes from its
checkpoint, and a failed job that a second `harness run` resubmits alone.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from harness.cli import main


def _slurm_up() -> bool:
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        return False
    out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, check=False)
    return out.returncode == 0 and any(
        s.strip().startswith(("idle", "mixed", "allocated")) for s in out.stdout.splitlines()
    )


pytestmark = pytest.mark.skipif(not _slurm_up(), reason="no Slurm (scripts/slurm-local.sh start)")

BASE = """
env: {id: point_u_maze, episode_length: 40}
network: {critic_depth: 4, actor_depth: 4, width: 16, repr_dim: 8}
algo: {batch_size: 32, utd: 0.05}
data: {num_envs: 4, unroll_length: 20, total_env_steps: TOTAL, replay_size_per_env: 200,
       min_replay_per_env: 40}
eval: {num_envs: 4, num_evals: EVALS, last_k: 2}
hardware: {executor: slurm, gpus: 0, cpus: 1, mem_gb: 2, time_min: 20, checkpoint_every_min: 0,
           seed_group: GROUP}
"""


def _spec(
    tmp_path: Path, name: str, extra: str, total: int = 400, evals: int = 2, group: int = 1
) -> Path:
    path = tmp_path / f"{name}.yaml"
    text = BASE.replace("TOTAL", str(total)).replace("EVALS", str(evals))
    text = text.replace("GROUP", str(group))
    path.write_text(f"name: {name}\n{text}{extra}")
    return path


def _status(spec: Path, results: Path) -> list[dict]:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(["status", str(spec), "--results", str(results), "--json"]) == 0
    return json.loads(buffer.getvalue())


def _wait_until(spec: Path, results: Path, done, timeout_s: float = 420) -> list[dict]:
    deadline = time.time() + timeout_s
    rows = _status(spec, results)
    while time.time() < deadline:
        rows = _status(spec, results)
        if done(rows):
            return rows
        time.sleep(1.0)
    logs = "\n".join(p.read_text()[-3000:] for p in results.rglob("*_log.out"))
    raise AssertionError(f"timed out; status {rows}\nlogs:\n{logs}")


def _submit(spec: Path, results: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert main(["run", str(spec), "--results", str(results)]) == 0
    out = capsys.readouterr().out
    submitted = [line.split()[1] for line in out.splitlines() if line.startswith("submitted ")]
    if submitted:  # the command to follow them keeps --results (and --set)
        assert f"follow with: harness status {spec} --results {results}" in out
    return submitted


def _finished(rows: list[dict]) -> bool:
    return all(r["status"] in ("completed", "failed", "lost") for r in rows)


def test_sweep_runs_as_a_job_array_and_completes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec(
        tmp_path,
        "array",
        "seeds: [0, 1]\nsweep:\n  network.critic_depth+network.actor_depth: [4, 8]\n",
    )
    results = tmp_path / "results"
    submitted = _submit(spec, results, capsys)
    assert len(submitted) == 4
    rows = _status(spec, results)
    jobs = {r["slurm_job_id"] for r in rows}
    assert len({j.split("_")[0] for j in jobs}) == 1  # one array job, four tasks
    # Submitting again while they are queued or running submits nothing.
    assert _submit(spec, results, capsys) == []
    rows = _wait_until(spec, results, _finished)
    assert [r["status"] for r in rows] == ["completed"] * 4
    for row in rows:
        table = pq.read_table(results / "array" / row["run_id"] / "metrics.parquet")
        assert set(table["critic_depth"].to_pylist()) == {row["critic_depth"]}
    assert main(["run", str(spec), "--results", str(results)]) == 0
    assert "nothing to submit" in capsys.readouterr().out


@pytest.mark.slow  # 38 s; .ci/run runs it after the default suite
def test_requeued_seed_group_resumes_from_its_checkpoints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A seed group of two runs is one array task; requeued mid-training, it resumes both
    seeds from their checkpoints with every evaluation once."""
    spec = _spec(tmp_path, "requeue", "seeds: [0, 1]\n", total=4800, evals=10, group=2)
    results = tmp_path / "results"
    assert len(_submit(spec, results, capsys)) == 2
    rows = _status(spec, results)
    job_ids = {row["slurm_job_id"] for row in rows}
    assert len(job_ids) == 1  # one array task trains the group
    job_id = job_ids.pop()
    run_dirs = [results / "requeue" / row["run_id"] for row in rows]

    def has_checkpoint(_: list[dict]) -> bool:
        for run_dir in run_dirs:
            ckpts = [p for p in (run_dir / "checkpoint").glob("*") if p.name.isdigit()]
            if not ckpts or int(max(p.name for p in ckpts)) == 0:
                return False
        return True

    _wait_until(spec, results, has_checkpoint)
    subprocess.run(["scontrol", "requeue", job_id], check=True, timeout=30)
    # Slurm holds a requeued job for a while before it may start again; once it is pending,
    # let it start at once so the test does not wait minutes for the scheduler.
    deadline = time.time() + 120
    while time.time() < deadline:
        state = subprocess.run(
            ["squeue", "-h", "-o", "%T", "--jobs", job_id],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        ).stdout.strip()
        if state == "PENDING":
            subprocess.run(
                ["scontrol", "update", f"JobId={job_id}", "StartTime=now"], check=False, timeout=30
            )
            break
        time.sleep(0.5)
    done = lambda rs: all(r["status"] == "completed" for r in rs)  # noqa: E731
    _wait_until(spec, results, done, timeout_s=600)
    for run_dir in run_dirs:
        record = json.loads((run_dir / "run.json").read_text())
        assert record["resumes"] >= 1 and record["attempts"] >= 2
        table = pq.read_table(run_dir / "metrics.parquet").to_pylist()
        evals = [r["env_steps"] for r in table if r["metric"] == "eval/time_at_goal"]
        assert len(evals) == len(set(evals)) == 11  # before training + 10, none lost or repeated
        assert evals == sorted(evals)


def test_failed_job_is_shown_and_resubmitted_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec(tmp_path, "fails", "seeds: [0]\nsweep:\n  algo.critic_lr: [3.0e-4, 1.0e30]\n")
    results = tmp_path / "results"
    assert len(_submit(spec, results, capsys)) == 2
    rows = _wait_until(spec, results, _finished)
    by_lr = {r["run_id"]: r for r in rows}
    statuses = sorted(r["status"] for r in rows)
    assert statuses == ["completed", "failed"]
    failed = next(r for r in by_lr.values() if r["status"] == "failed")
    assert "non-finite" in failed["error"]
    again = _submit(spec, results, capsys)
    assert again == [failed["run_id"]]


def test_cancel_stops_queued_and_running_jobs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _spec(tmp_path, "cancel", "seeds: [0]\n", total=200_000, evals=2)
    results = tmp_path / "results"
    assert len(_submit(spec, results, capsys)) == 1
    assert main(["cancel", str(spec), "--results", str(results)]) == 0
    assert "cancelled" in capsys.readouterr().out
    rows = _wait_until(spec, results, lambda rs: rs[0]["status"] == "cancelled", timeout_s=60)
    job = rows[0]["slurm_job_id"]
    deadline = time.time() + 60
    while time.time() < deadline:
        listed = subprocess.run(
            ["squeue", "-h", "--jobs", job], capture_output=True, text=True, check=False
        ).stdout.strip()
        if not listed:
            break
        time.sleep(0.5)
    assert not listed
    assert _status(spec, results)[0]["status"] == "cancelled"


def _no_gpu_partition() -> None:
    from harness.slurm_limits import read_nodes

    nodes = read_nodes() or []
    if any(n.gpus for n in nodes if n.default):
        pytest.skip("the default partition has GPUs: the refusal below needs one without")


def test_a_request_the_partition_cannot_meet_is_refused_before_submitting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """hardware.gpus: 1 (the default) on a cluster without GPUs: plan, validate and run each
    say so in one line naming the field (sinfo), exit 2, and nothing is written."""
    _no_gpu_partition()
    spec = _spec(tmp_path, "nogpu", "seeds: [0, 1]\n")
    results = tmp_path / "results"
    line = f"{spec}: hardware.gpus: 1 GPUs asked but partition debug has no GPUs (no gpu GRES)"
    for argv in (
        ["run", str(spec), "--results", str(results)],
        ["plan", str(spec), "--executor", "slurm", "--results", str(results)],
        ["validate", str(spec), "--executor", "slurm"],
    ):
        assert main([*argv, "--set", "hardware.gpus=1"]) == 2, argv
        [err] = capsys.readouterr().err.strip().splitlines()
        assert err.startswith(line), (argv, err)
    assert not results.exists()
    assert main(["validate", str(spec), "--executor", "slurm"]) == 0  # gpus: 0 fits


def test_a_refused_submission_is_one_line_and_leaves_nothing_queued(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """sbatch refuses the array (a reservation that does not exist, which sinfo cannot
    foresee): one line naming the field, exit 2; no config.json, run folder or _slurm/ file
    of the submission stays, a previous submission's files do, and status shows pending."""
    spec = _spec(tmp_path, "refused", "seeds: [0, 1]\nsweep:\n  algo.critic_lr: [3.0e-4, 1.0e-3]\n")
    results = tmp_path / "results"
    earlier = results / "refused" / "_slurm" / "123"
    earlier.mkdir(parents=True)
    (earlier / "123_log.out").write_text("an earlier job's log\n")
    argv = ["run", str(spec), "--results", str(results)]
    assert main([*argv, "--set", "hardware.sbatch_extra={reservation: no_such_one}"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip().splitlines() == [
        f"{spec}: hardware.sbatch_extra: sbatch refused the jobs: Requested reservation is "
        "invalid; nothing was submitted"
    ]
    assert sorted(p.relative_to(results) for p in results.rglob("*")) == [
        Path("refused"),
        Path("refused/_slurm"),
        Path("refused/_slurm/123"),
        Path("refused/_slurm/123/123_log.out"),
    ]
    assert [r["status"] for r in _status(spec, results)] == ["pending"] * 4
