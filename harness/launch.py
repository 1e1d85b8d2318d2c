"""Executors: run the planned runs of a spec and record each one's outcome.

Local execution runs the pending runs one after another in this process. A run whose folder
is complete (``run.json`` says completed and ``metrics.parquet`` exists) is skipped; a run
that raises is recorded as failed with its error and the sweep goes on (HELM's habit: collect
failures, report them together at the end).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from harness.plan import PlannedRun, expand
from harness.progress import NullReporter, Reporter
from harness.spec import Spec
from harness.store import (
    STATUS_COMPLETED,
    STATUS_FAILED,
    STATUS_PREEMPTED,
    STATUS_RUNNING,
    RunDir,
    host_info,
    now,
    read_metrics,
    versions,
    write_json,
    write_metrics,
)


@dataclass(frozen=True)
class RunOutcome:
    """What happened to one run: ``completed``, ``failed`` or ``skipped``."""

    run_id: str
    status: str
    error: str | None = None


def label(run: PlannedRun) -> str:
    """Short human label of a run (env, depths, width, batch, seed)."""
    cfg = run.config
    mode = f" {cfg.data.mode} {cfg.algo.name}" if cfg.data.mode != "online" else ""
    if cfg.data.mode == "online" and cfg.algo.name != "crl":
        mode = f" {cfg.algo.name}"
    return (
        f"{cfg.env_label}{mode} critic_depth={cfg.network.critic_depth} "
        f"actor_depth={cfg.network.actor_depth} width={cfg.network.width} "
        f"batch={cfg.algo.batch_size} seed={cfg.seed}"
    )


def _metric_rows(spec_name: str, run: PlannedRun, point: dict[str, Any]) -> list[dict[str, Any]]:
    cfg = run.config
    base = {
        **run.columns(),
        "spec": spec_name,
        "algo": cfg.algo.name,
        "data_mode": cfg.data.mode,
        "env_steps": point["env_steps"],
        "grad_steps": point["grad_steps"],
        "wall_s": point["wall_s"],
    }
    return [
        {**base, "metric": name, "value": value} for name, value in sorted(point["metrics"].items())
    ]


def _slurm_job_id() -> str | None:
    """``<array job>_<task>`` or the plain job id when running inside Slurm, else None."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array and task:
        return f"{array}_{task}"
    return os.environ.get("SLURM_JOB_ID")


def _trainer(run: PlannedRun, cache: dict[str, Any] | None) -> Any:
    """The run's Trainer, shared with earlier runs of the same config up to the seed (the seed
    only changes the PRNG keys, which are run-time inputs of the compiled programs)."""
    from harness.train import Trainer

    build: Any = Trainer
    if run.config.data.mode == "offline":
        from harness.offline import OfflineTrainer

        build = OfflineTrainer  # loads the dataset once for all seeds
    if cache is None:
        return build(run.config)
    key = json.dumps(run.config.model_dump(mode="json", exclude={"seed"}), sort_keys=True)
    if key not in cache:
        cache.clear()  # keep one: a sweep is ordered with seeds innermost
        cache[key] = build(run.config)
    return cache[key]


def write_run_config(
    spec: Spec, run: PlannedRun, results: Path, provenance: dict[str, Any]
) -> RunDir:
    """Write ``config.json``: resolved run config, the whole spec, sweep values, provenance."""
    rundir = RunDir(results, spec.name, run.run_id)
    write_json(
        rundir.config,
        {
            "run_id": run.run_id,
            "spec": spec.name,
            "axes": run.axes,
            "config": run.config.model_dump(mode="json"),
            "hardware": spec.hardware.model_dump(mode="json"),
            "spec_dump": spec.model_dump(mode="json"),
            **provenance,
        },
    )
    return rundir


def execute_run(
    spec: Spec,
    run: PlannedRun,
    results: Path,
    provenance: dict[str, Any],
    reporter: Reporter | None = None,
    stop: threading.Event | None = None,
    trainers: dict[str, Any] | None = None,
) -> RunOutcome:
    """Train one run and write its folder; never raises for a failure inside training.

    Writes ``config.json`` first, ``metrics.parquet`` after every evaluation (atomically, so a
    crash leaves the evaluations so far), and ``run.json`` last with the final status. A run
    with a checkpoint resumes from it: evaluation rows recorded after the checkpoint are
    dropped and made again, so the final Parquet has each evaluation exactly once. When
    ``stop`` is set (preemption), the run checkpoints, is recorded as ``preempted`` and
    returns. ``trainers`` caches built :class:`~harness.train.Trainer` objects across runs
    that differ only in their seed, so their programs are traced and compiled once.

    Args:
        provenance: the spec file, overrides and command line, stored in ``config.json``.

    Raises:
        KeyboardInterrupt: after recording the run as failed (interrupted).
    """
    from harness.train import Callbacks, Preempted, train

    reporter = reporter or NullReporter()
    rundir = RunDir(results, spec.name, run.run_id)
    started = time.time()
    previous = rundir.read_record() or {}
    record: dict[str, Any] = {
        "run_id": run.run_id,
        "spec": spec.name,
        "status": STATUS_RUNNING,
        "started_at": now(),
        "attempts": int(previous.get("attempts", 0)) + 1,
        "resumes": int(previous.get("resumes", 0)),
        "slurm_job_id": previous.get("slurm_job_id") or _slurm_job_id(),
        "versions": versions(),
        "host": host_info(),
    }
    write_run_config(spec, run, results, provenance)
    write_json(rundir.record, record)
    rows: list[dict[str, Any]] = []

    def on_eval(point: dict[str, Any]) -> None:
        rows.extend(_metric_rows(spec.name, run, point))
        write_metrics(rundir.metrics, rows)
        reporter.evaluation(run.run_id, point)

    def on_progress(info: dict[str, Any]) -> None:
        reporter.progress(run.run_id, info)
        record["last_env_steps"] = info["env_steps"]

    # Offline rows all carry the dataset size as env_steps: they are ordered by grad_steps.
    step = "grad_steps" if run.config.data.mode == "offline" else "env_steps"

    def on_resume(info: dict[str, Any]) -> None:
        kept = []
        if rundir.metrics.exists():
            kept = [r for r in read_metrics(rundir.metrics).to_pylist() if r[step] <= info[step]]
        rows[:] = kept
        record["resumes"] += 1
        record["resumed_from_env_steps"] = info["env_steps"]
        write_json(rundir.record, record)
        reporter.run_resumed(run.run_id, info["env_steps"])

    callbacks = Callbacks(on_eval=on_eval, on_progress=on_progress, on_resume=on_resume)
    train_fn: Any = train
    if run.config.data.mode == "offline":
        from harness.offline import train_offline

        train_fn = train_offline
    try:
        final = train_fn(
            run.config,
            callbacks,
            trainer=_trainer(run, trainers),
            checkpoint_dir=rundir.checkpoint,
            checkpoint_every_s=60.0 * spec.hardware.checkpoint_every_min,
            stop=stop,
        )
    except Preempted as exc:
        on_disk = rundir.read_record() or {}
        record.update(
            # `harness cancel` may have recorded the run as cancelled before the signal came.
            status="cancelled" if on_disk.get("status") == "cancelled" else STATUS_PREEMPTED,
            finished_at=now(),
            wall_s=time.time() - started,
            error=None,
            note=str(exc),
        )
        write_json(rundir.record, record)
        reporter.run_finished(run.run_id, STATUS_PREEMPTED, str(exc))
        return RunOutcome(run.run_id, STATUS_PREEMPTED)
    except KeyboardInterrupt:
        record.update(
            status=STATUS_FAILED,
            error={"type": "KeyboardInterrupt", "message": "interrupted by the user"},
            finished_at=now(),
            wall_s=time.time() - started,
        )
        write_json(rundir.record, record)
        reporter.run_finished(run.run_id, STATUS_FAILED, "interrupted")
        raise
    except Exception as exc:  # a failing run is recorded and the sweep goes on
        message = f"{type(exc).__name__}: {exc}"
        record.update(
            status=STATUS_FAILED,
            error={
                "type": type(exc).__name__,
                "message": str(exc),
                "traceback": traceback.format_exc(),
            },
            finished_at=now(),
            wall_s=time.time() - started,
        )
        write_json(rundir.record, record)
        reporter.run_finished(run.run_id, STATUS_FAILED, message)
        return RunOutcome(run.run_id, STATUS_FAILED, message)
    record.update(
        status=STATUS_COMPLETED,
        finished_at=now(),
        wall_s=time.time() - started,
        final=final,
        error=None,
    )
    write_json(rundir.record, record)
    # The training checkpoint (replay included) is only for resuming; the final parameters
    # stay in params/.
    shutil.rmtree(rundir.checkpoint, ignore_errors=True)
    score = (
        f"success {final['eval/success']:.2f}"
        if "eval/success" in final
        else f"time_at_goal {final.get('eval/time_at_goal', 0.0):.1f}"
    )
    reporter.run_finished(run.run_id, STATUS_COMPLETED, f"in {record['wall_s']:.0f}s, {score}")
    return RunOutcome(run.run_id, STATUS_COMPLETED)


def run_local(
    spec: Spec,
    results: Path,
    provenance: dict[str, Any],
    reporter: Reporter | None = None,
) -> list[RunOutcome]:
    """Run every pending run of ``spec`` in this process; skip completed ones."""
    from harness.train import enable_compilation_cache

    enable_compilation_cache()
    reporter = reporter or NullReporter()
    runs = expand(spec)
    outcomes = []
    trainers: dict[str, Any] = {}
    for index, run in enumerate(runs, start=1):
        if RunDir(results, spec.name, run.run_id).is_complete():
            reporter.run_skipped(index, len(runs), run.run_id, label(run))
            outcomes.append(RunOutcome(run.run_id, "skipped"))
            continue
        reporter.run_started(index, len(runs), run.run_id, label(run))
        outcomes.append(execute_run(spec, run, results, provenance, reporter, trainers=trainers))
    return outcomes


def final_score(
    rundir: RunDir, metric: str, last_k: int, table: pa.Table | None = None
) -> float | None:
    """Mean of the last ``last_k`` evaluations of ``metric`` (paper: last 5), or None.

    ``table`` is the run's metrics if already read (else the file is read).
    """
    if table is None:
        if not rundir.metrics.exists():
            return None
        table = read_metrics(rundir.metrics)
    table = table.filter(pc.equal(table["metric"], metric)).sort_by("env_steps")
    values = table["value"].to_pylist()
    if not values:
        return None
    tail = values[-last_k:]
    return float(sum(tail) / len(tail))


def _success(rundir: RunDir, last_k: int, table: pa.Table | None) -> float | None:
    """Final success: ``eval/success_any`` (online evaluation), else ``eval/success`` (OGBench
    evaluation of offline runs: mean over its 5 tasks)."""
    score = final_score(rundir, "eval/success_any", last_k, table)
    return score if score is not None else final_score(rundir, "eval/success", last_k, table)


def summarize(spec: Spec, results: Path) -> list[dict[str, Any]]:
    """One row per run of the spec: status (from the run record and, for Slurm jobs, squeue),
    final time at goal (mean of the last k evaluations), wall time, error."""
    from harness.slurm import effective_status, run_states

    states = run_states(spec, results)
    rows = []
    for run in expand(spec):
        cfg = run.config
        rundir = RunDir(results, spec.name, run.run_id)
        record = states[run.run_id]["record"]
        status = effective_status(record, states[run.run_id]["live"])
        last_env_steps = None
        table = read_metrics(rundir.metrics) if rundir.metrics.exists() else None
        if table is not None:
            steps = table["env_steps"].to_pylist()
            last_env_steps = max(steps) if steps else None
        rows.append(
            {
                **run.columns(),
                "status": status,
                "slurm_job_id": record.get("slurm_job_id"),
                "attempts": record.get("attempts", 0),
                "resumes": record.get("resumes", 0),
                "env_steps": last_env_steps,
                "time_at_goal": final_score(rundir, "eval/time_at_goal", cfg.eval.last_k, table),
                "success_any": _success(rundir, cfg.eval.last_k, table),
                "random_time_at_goal": final_score(rundir, "random/time_at_goal", 1, table),
                "last_time_at_goal": final_score(rundir, "eval/time_at_goal", 1, table),
                "wall_s": record.get("wall_s"),
                "error": (record.get("error") or {}).get("message"),
            }
        )
    return rows
