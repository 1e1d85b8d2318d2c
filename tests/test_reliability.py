"""One owner per run, dead owners, broken files: real processes on real run folders.

Two `harness run` on one results folder train each run once; a run whose lock another live
process holds is skipped and left alone, and shows as `lost` once that process is SIGKILLed; a
SIGKILLed `harness run` shows as `lost` and resumes; a truncated `metrics.parquet` and a garbage
`run.json` are named by `status` and `report`, and `run` sets them aside and trains again.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness.cli import main
from harness.plan import expand
from harness.records import rebuild_record
from harness.spec import load_spec
from harness.store import RunDir

SPEC = """
name: rel
env: {id: point_u_maze, episode_length: 40}
network: {critic_depth: 4, actor_depth: 4, width: 16, repr_dim: 8}
algo: {batch_size: 32, utd: 0.05}
data: {num_envs: 4, unroll_length: 20, total_env_steps: TOTAL, replay_size_per_env: 200,
       min_replay_per_env: 40}
eval: {num_envs: 4, num_evals: EVALS, last_k: 2}
seeds: SEEDS
hardware: {checkpoint_every_min: 0}
"""

#: Holds a run folder's lock like a training process would, and records itself as its owner.
HOLDER = """
import json, os, socket, sys, time
from filelock import FileLock
lock = FileLock(sys.argv[1])
lock.acquire()
record = {"status": "running", "pid": os.getpid(), "hostname": socket.gethostname()}
path = os.path.join(os.path.dirname(sys.argv[1]), "run.json")
with open(path + ".tmp", "w") as handle:
    json.dump(record, handle)
os.replace(path + ".tmp", path)
time.sleep(300)
"""


def _spec(folder: Path, total: int, evals: int, seeds: str) -> Path:
    path = folder / "rel.yaml"
    text = SPEC.replace("TOTAL", str(total)).replace("EVALS", str(evals))
    path.write_text(text.replace("SEEDS", seeds))
    return path


def _harness(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness.cli", *args]


def _cli(*args: str) -> tuple[int, str, str]:
    """``harness ARGS`` in this process: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def _status(spec: Path, results: Path) -> dict[str, dict]:
    code, out, _ = _cli("status", str(spec), "--results", str(results), "--json")
    assert code == 0
    return {row["run_id"]: row for row in json.loads(out)}


def _evals(run_dir: Path) -> list[int]:
    rows = pq.read_table(run_dir / "metrics.parquet").to_pylist()
    return [r["env_steps"] for r in rows if r["metric"] == "eval/time_at_goal"]


@pytest.fixture(scope="module")
def together(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two `harness run` started together on a spec of one run: the one that takes the run
    trains it and is SIGKILLed once it has checkpointed; then `harness run` resumes it."""
    root = tmp_path_factory.mktemp("together")
    spec = _spec(root, total=4800, evals=8, seeds="[0]")
    results = root / "results"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    procs, logs = [], []
    for name in ("a", "b"):
        log = (root / f"{name}.err").open("w")
        logs.append(log)
        command = _harness("run", str(spec), "--results", str(results))
        procs.append(subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log))
    out: dict = {"spec": spec, "results": results, "procs": procs}
    try:
        deadline = time.time() + 300
        while all(p.poll() is None for p in procs) and time.time() < deadline:
            time.sleep(0.05)
        skipper = next(p for p in procs if p.poll() is not None)  # the first to end
        owner = procs[1 - procs.index(skipper)]
        run_dir = next(results.glob("rel/*/"))
        out.update(skipper=skipper, owner=owner, run_dir=run_dir)
        out["record_after_skip"] = json.loads((run_dir / "run.json").read_text())
        while owner.poll() is None and time.time() < deadline:
            if (run_dir / "metrics.parquet").exists():
                ckpts = [p for p in (run_dir / "checkpoint").glob("*") if p.name.isdigit()]
                if len(set(_evals(run_dir))) >= 3 and ckpts:
                    owner.send_signal(signal.SIGKILL)
                    out["killed"] = True
                    break
            time.sleep(0.1)
        owner.wait(timeout=60)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=60)
        for log in logs:
            log.close()
    out["errs"] = {p.pid: (root / f"{n}.err").read_text() for p, n in zip(procs, "ab", strict=True)}
    out["status_after_kill"] = _status(spec, results)
    # As if the killed attempt had run with another brax: a resume would mix two physics.
    if out.get("killed"):
        record_path = out["run_dir"] / "run.json"
        record = json.loads(record_path.read_text())
        out["versions_before"] = dict(record["versions"])
        record["versions"]["brax"] = "0.0.1"
        record_path.write_text(json.dumps(record))
        out["refused"] = _cli("run", str(spec), "--results", str(results))
    out["resume"] = _cli("run", str(spec), "--results", str(results), "--allow-version-change")
    return out


def test_two_runs_at_once_train_the_run_once(together: dict) -> None:
    skipper, owner, run_dir = together["skipper"], together["owner"], together["run_dir"]
    err = together["errs"][skipper.pid]
    assert skipper.returncode == 0, err
    host = socket.gethostname()
    line = f"skipped {run_dir.name}: running in another process (pid {owner.pid} on {host})"
    assert line in err
    # The skipping process left the run alone: not failed, still the owner's.
    record = together["record_after_skip"]
    assert record["status"] == "running" and record["pid"] == owner.pid
    assert record["hostname"] == host and record["attempts"] == 1
    # The owner was killed mid-run and the run resumed: every evaluation once, in order.
    steps = _evals(run_dir)
    assert len(steps) == len(set(steps)) == 9 and steps == sorted(steps)


def test_a_run_owned_elsewhere_is_skipped_then_lost_when_its_owner_dies(tmp_path: Path) -> None:
    spec = _spec(tmp_path, total=400, evals=2, seeds="[0]")
    results = tmp_path / "results"
    code, out, _ = _cli("plan", str(spec), "--results", str(results), "--json")
    run_id = json.loads(out)[0]["run_id"]
    run_dir = results / "rel" / run_id
    run_dir.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run_dir / ".lock")])
    try:
        deadline = time.time() + 60
        while not (run_dir / "run.json").exists() and time.time() < deadline:
            time.sleep(0.05)
        assert _status(spec, results)[run_id]["status"] == "running"
        code, _, err = _cli("run", str(spec), "--results", str(results))
        assert code == 0, err
        owner = f"(pid {holder.pid} on {socket.gethostname()})"
        assert f"skipped {run_id}: running in another process {owner}" in err
        record = json.loads((run_dir / "run.json").read_text())
        assert record == {
            "status": "running",
            "pid": holder.pid,
            "hostname": socket.gethostname(),
        }  # left alone: not marked failed, not taken over
        assert not (run_dir / "metrics.parquet").exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    assert _status(spec, results)[run_id]["status"] == "lost"
    code, out, _ = _cli("plan", str(spec), "--results", str(results), "--json")
    assert code == 0 and json.loads(out)[0]["status"] == "lost"  # plan says it too


def test_a_sigkilled_run_shows_lost_and_resumes(together: dict) -> None:
    assert together.get("killed"), "the run finished or stalled before it could be killed"
    run_dir = together["run_dir"]
    assert together["owner"].returncode == -signal.SIGKILL
    assert together["status_after_kill"][run_dir.name]["status"] == "lost"
    code, _, err = together["resume"]
    assert code == 0, err
    assert "resumed from its checkpoint" in err
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "completed" and record["attempts"] == 2 and record["resumes"] == 1
    assert record["pid"] == os.getpid()
    table = pq.read_table(run_dir / "metrics.parquet").to_pylist()
    # run.json's wall_s is cumulative, as the Parquet's: the first attempt up to the checkpoint
    # counts in both.
    assert record["resumed_from_wall_s"] > 0
    assert record["wall_s"] >= max(r["wall_s"] for r in table) > record["resumed_from_wall_s"]
    # perf/sps leaves out the first iteration after the resume (it compiles), as at a start.
    resumed = record["resumed_from_env_steps"]
    sps = sorted((r["env_steps"], r["value"]) for r in table if r["metric"] == "perf/sps")
    before = [v for s, v in sps if s <= resumed]
    after = [v for s, v in sps if s > resumed]
    assert after[0] > 0.25 * statistics.median(before), sps


def test_a_resume_across_a_brax_change_is_refused_unless_allowed(together: dict) -> None:
    assert together.get("killed"), "the run finished or stalled before it could be killed"
    code, _, err = together["refused"]
    brax = together["versions_before"]["brax"]
    assert code == 2, err
    assert f"brax 0.0.1 -> {brax}" in err and "--allow-version-change" in err
    assert "mix two versions of the physics" in err
    record = json.loads((together["run_dir"] / "run.json").read_text())
    # allowed: resumed, and the change is on record
    assert record["status"] == "completed" and record["resumes"] == 1
    [change] = record["version_changes"]
    assert change["changes"] == [f"brax 0.0.1 -> {brax}"]
    assert record["versions"]["brax"] == brax


@pytest.mark.slow  # .ci/run runs it after the default suite
def test_broken_files_are_named_kept_and_run_again(together: dict, tmp_path: Path) -> None:
    spec = together["spec"]
    results = tmp_path / "results"
    shutil.copytree(together["results"], results)
    run_dir = results / "rel" / together["run_dir"].name
    # Another completed run in the folder (a copy under another id), for the report to go on with.
    shutil.copytree(run_dir, results / "rel" / "0123456789ab")
    metrics = run_dir / "metrics.parquet"
    metrics.write_bytes(metrics.read_bytes()[: metrics.stat().st_size // 2])
    garbage = '{"status": "completed", "wall_s": 1'
    (run_dir / "run.json").write_text(garbage)

    row = _status(spec, results)[run_dir.name]
    assert row["status"] == "broken"
    assert str(metrics) in row["error"] and str(run_dir / "run.json") in row["error"]
    code, out, _ = _cli("status", str(spec), "--results", str(results))
    assert code == 0 and f"{metrics}: " in out and f"{run_dir / 'run.json'}: " in out

    code, out, _ = _cli("report", str(spec), "--results", str(results), "--no-plots", "--json")
    assert code == 0
    report = json.loads(out)
    assert [g["run_ids"] for g in report["groups"]] == [["0123456789ab"]]
    [listed] = report["not_finished"]
    assert listed["run_id"] == run_dir.name and listed["status"] == "broken"
    assert "run.json: not valid JSON" in listed["error"]
    assert "metrics.parquet: not a readable Parquet file" in listed["error"]
    code, out, _ = _cli("report", str(spec), "--results", str(results), "--no-plots")
    assert code == 0 and "metrics.parquet: not a readable Parquet" in out

    code, _, err = _cli("run", str(spec), "--results", str(results))
    assert code == 0, err
    for name in ("metrics.parquet", "run.json"):
        [kept] = run_dir.glob(f"{name}.broken-*")
        assert f"{run_dir / name}: " in err and f"kept as {kept.name}" in err
    assert next(run_dir.glob("run.json.broken-*")).read_text() == garbage
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "completed" and record["attempts"] == 1
    steps = _evals(run_dir)
    assert len(steps) == len(set(steps)) == 9
    assert _status(spec, results)[run_dir.name]["status"] == "completed"


def test_a_garbage_record_of_a_finished_run_is_rebuilt_not_retrained(
    together: dict, tmp_path: Path
) -> None:
    """run.json of random bytes beside a complete Parquet and params/: `harness run` rebuilds
    the record (completed, with a note, the garbage kept) and trains nothing."""
    spec = together["spec"]
    results = tmp_path / "results"
    shutil.copytree(together["results"], results)
    run_dir = results / "rel" / together["run_dir"].name
    metrics = (run_dir / "metrics.parquet").read_bytes()
    final = json.loads((run_dir / "run.json").read_text())["final"]
    garbage = bytes(range(256))
    (run_dir / "run.json").write_bytes(garbage)
    assert _status(spec, results)[run_dir.name]["status"] == "broken"

    code, _, err = _cli("run", str(spec), "--results", str(results))
    assert code == 0, err
    [kept] = run_dir.glob("run.json.broken-*")
    assert kept.read_bytes() == garbage
    line = f"{run_dir / 'run.json'}: unreadable"
    assert line in err and f"kept as {kept.name}; rebuilt as completed" in err, err
    assert "eval @" not in err  # not trained again
    assert (run_dir / "metrics.parquet").read_bytes() == metrics
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "completed" and "rebuilt" in record["note"]
    assert record["final"] == pytest.approx(final)
    assert _status(spec, results)[run_dir.name]["status"] == "completed"
    # Without params/, or with an evaluation missing, the run is not known to have finished:
    # nothing is rebuilt (`harness run` sets the record aside and trains it again).
    [run] = expand(load_spec(spec))
    rundir = RunDir(results, "rel", run_dir.name)
    (run_dir / "run.json").write_bytes(garbage)
    table = pq.read_table(run_dir / "metrics.parquet")
    last = max(table["env_steps"].to_pylist())
    rows = [r for r in table.to_pylist() if r["env_steps"] < last]
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), run_dir / "metrics.parquet")
    assert rebuild_record(rundir, run) is None
    (run_dir / "metrics.parquet").write_bytes(metrics)
    shutil.rmtree(run_dir / "params")
    assert rebuild_record(rundir, run) is None
    assert (run_dir / "run.json").read_bytes() == garbage


def test_a_second_spec_with_the_same_name_is_refused_naming_both_files(
    together: dict, tmp_path: Path
) -> None:
    """Two spec files with one `name:` would share results/<name>/ silently: `harness run` of
    the second is refused (exit 2, both files named) unless --allow-shared-name, and a report
    of either says it pools both."""
    results = tmp_path / "results"
    shutil.copytree(together["results"], results)
    first = together["spec"].resolve()
    second = tmp_path / "other" / "rel.yaml"
    second.parent.mkdir()
    second.write_text(first.read_text())
    code, out, err = _cli("run", str(second), "--results", str(results))
    assert code == 2 and out == ""
    [line] = err.strip().splitlines()
    assert line.startswith(f"{second}: name: 'rel' is also the name of another spec: ")
    assert f"1 from {first}" in line and "--allow-shared-name" in line
    code, _, err = _cli("run", str(second), "--results", str(results), "--allow-shared-name")
    assert code == 0, err  # its one run is the first spec's, complete: skipped
    code, _, err = _cli("run", str(first), "--results", str(results))
    assert code == 0, err  # the folder's own spec goes on as before
    code, _, err = _cli("report", str(second), "--results", str(results), "--no-plots")
    assert (
        code == 0 and f"also holds runs of another spec file with the name 'rel' ({first})" in err
    )
