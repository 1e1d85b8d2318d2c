"""Run one run: train a planned run and write its folder.

:func:`execute_run` writes ``config.json`` (:func:`write_run_config`), ``metrics.parquet`` after
every evaluation and ``run.json`` with the final status, resuming from a checkpoint where one
exists; a run that raises is recorded as failed and reported as a :class:`RunOutcome`. Both
executors call it: the local one (:mod:`harness.launch`) in this process, the Slurm one
(:mod:`harness.slurm`) inside each array task. Only the process holding a run's lock
(:mod:`harness.lock`) trains it; any other skips it, so a local run and a Slurm task of the same
run never train it together.
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

from harness.lock import acquire, describe_owner, owner_alive, this_owner
from harness.plan import PlannedRun
from harness.progress import NullReporter, Reporter
from harness.spec import Spec
from harness.store import (
    STATUS_COMPLETED,
    STATUS_FAILED,
    STATUS_PREEMPTED,
    STATUS_RUNNING,
    BrokenFile,
    RunDir,
    WriteError,
    host_info,
    now,
    read_metrics,
    remove_temporaries,
    set_aside,
    versions,
    write_json,
    write_metrics,
    write_record,
)
from harness.tracking import make_trackers

#: Outcome of a run this process did not train: complete, or owned by another live process.
STATUS_SKIPPED = "skipped"


@dataclass(frozen=True)
class RunOutcome:
    """What happened to one run: ``completed``, ``failed``, ``preempted`` or ``skipped``
    (``error`` then says why, when another process owns the run)."""

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

    Only one process trains a run at a time: this one first takes the run folder's lock
    (:func:`harness.lock.acquire`), and skips the run (outcome ``skipped``, its files left
    alone) when another live process holds it or completed it meanwhile. The lock is released
    on any exit (the kernel drops it if the process dies). A file of the run that cannot be read
    (``run.json``, ``metrics.parquet``) is renamed to ``<name>.broken-<timestamp>`` and the run
    is trained again (from scratch when its metrics were lost).

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
    reporter = reporter or NullReporter()
    rundir = RunDir(results, spec.name, run.run_id)
    lock = acquire(rundir.path)
    if lock is None:
        detail = f"running in another process ({_owner(rundir)})"
        reporter.note(run.run_id, f"skipped {run.run_id}: {detail}")
        return RunOutcome(run.run_id, STATUS_SKIPPED, detail)
    try:
        if rundir.is_complete():  # completed by the process this one waited for
            reporter.note(run.run_id, f"skipped {run.run_id}: completed by another process")
            return RunOutcome(run.run_id, STATUS_SKIPPED)
        _set_aside_broken(rundir, reporter)
        return _execute_owned(spec, run, results, provenance, reporter, stop, trainers)
    finally:
        lock.release()


def _owner(rundir: RunDir) -> str:
    """``pid N on HOST`` of the process holding a run's lock, from its ``run.json``; waits a
    moment for a new owner's record when the one on disk names a process gone from here."""
    deadline = time.monotonic() + 3.0
    record = rundir.read_record() or {}
    while (not record.get("pid") or owner_alive(record) is False) and time.monotonic() < deadline:
        time.sleep(0.1)
        record = rundir.read_record() or {}
    return describe_owner(record)


def _set_aside_broken(rundir: RunDir, reporter: Reporter) -> None:
    """Rename the run's unreadable files aside and say so. Without its metrics the run starts
    from scratch: its checkpoint would resume it without the rows made before it."""
    for broken in rundir.broken():
        kept = set_aside(broken.path)
        again = "from scratch" if broken.path == rundir.metrics else "again"
        reporter.note(
            rundir.run_id, f"{broken}; kept as {kept.name}; {rundir.run_id} is trained {again}"
        )
        if broken.path == rundir.metrics and rundir.checkpoint.exists():
            shutil.rmtree(rundir.checkpoint, ignore_errors=True)


def _execute_owned(
    spec: Spec,
    run: PlannedRun,
    results: Path,
    provenance: dict[str, Any],
    reporter: Reporter,
    stop: threading.Event | None,
    trainers: dict[str, Any] | None,
) -> RunOutcome:
    """:func:`execute_run` once this process holds the run's lock."""
    from harness.train import Callbacks, Preempted, train

    rundir = RunDir(results, spec.name, run.run_id)
    # wall_s in run.json: this attempt's seconds plus, after a resume, the training seconds
    # before its checkpoint (as the Parquet's wall_s); on_resume moves `started` back.
    started = time.time()
    try:
        previous = rundir.read_record(strict=True) or {}
    except BrokenFile:  # set aside meanwhile? start the counts again
        previous = {}
    record: dict[str, Any] = {
        "run_id": run.run_id,
        "spec": spec.name,
        "status": STATUS_RUNNING,
        "started_at": now(),
        "attempts": int(previous.get("attempts", 0)) + 1,
        "resumes": int(previous.get("resumes", 0)),
        "slurm_job_id": _slurm_job_id(),
        **this_owner(),  # pid and hostname: who holds the lock
    }
    try:
        write_json(rundir.record, record)  # the owner first, for a second process to name it
        record.update(versions=versions(), host=host_info())
        write_run_config(spec, run, results, provenance)
        write_json(rundir.record, record)
    except WriteError as exc:  # a full disk: record the failure where it still fits
        return _fail(run, rundir, record, exc, started, reporter)
    rows: list[dict[str, Any]] = []
    tracker = make_trackers(spec, run, rundir, lambda m: reporter.note(run.run_id, m))  # issue 17

    def on_eval(point: dict[str, Any]) -> None:
        rows.extend(_metric_rows(spec.name, run, point))
        write_metrics(rundir.metrics, rows)
        tracker.log(point[step], point["metrics"])  # issue 17: TensorBoard, W&B
        reporter.evaluation(run.run_id, point)

    def on_progress(info: dict[str, Any]) -> None:
        reporter.progress(run.run_id, info)
        record["last_env_steps"] = info["env_steps"]

    # Offline rows all carry the dataset size as env_steps: they are ordered by grad_steps.
    step = "grad_steps" if run.config.data.mode == "offline" else "env_steps"

    def on_resume(info: dict[str, Any]) -> None:
        nonlocal started
        kept = []
        if rundir.metrics.exists():
            kept = [r for r in read_metrics(rundir.metrics).to_pylist() if r[step] <= info[step]]
        rows[:] = kept
        started -= float(info.get("wall_s", 0.0))
        record["resumes"] += 1
        record["resumed_from_env_steps"] = info["env_steps"]
        record["resumed_from_wall_s"] = float(info.get("wall_s", 0.0))
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
        return _fail(run, rundir, record, exc, started, reporter)
    finally:
        tracker.close()  # issue 17
    record.update(
        status=STATUS_COMPLETED,
        finished_at=now(),
        wall_s=time.time() - started,
        final=final,
        error=None,
    )
    try:
        write_record(rundir.record, record)
    except WriteError as exc:
        return _fail(run, rundir, record, exc, started, reporter)
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


def _fail(
    run: PlannedRun,
    rundir: RunDir,
    record: dict[str, Any],
    exc: Exception,
    started: float,
    reporter: Reporter,
) -> RunOutcome:
    """Record a run that raised as failed, after removing what its interrupted writes left
    (:func:`harness.store.remove_temporaries`); on a full disk ``run.json`` is written in
    place, shortened if need be (:func:`harness.store.write_record`)."""
    remove_temporaries(rundir.path)
    message = f"{type(exc).__name__}: {exc}"
    record.update(
        status=STATUS_FAILED,
        error={
            "type": type(exc).__name__,
            "message": str(exc),
            "traceback": "".join(traceback.format_exception(exc)),
        },
        finished_at=now(),
        wall_s=time.time() - started,
    )
    try:
        write_record(rundir.record, record)
    except WriteError as failed:
        message += f" (and run.json could not record it: {failed.cause})"
    reporter.run_finished(run.run_id, STATUS_FAILED, message)
    return RunOutcome(run.run_id, STATUS_FAILED, message)
