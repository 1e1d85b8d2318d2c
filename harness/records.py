"""What a run folder's files say about the run, read or rewritten outside its training: the
version conflict that stops a resume (:func:`resume_conflict`), a record rebuilt from the files
of a finished run (:func:`rebuild_record`), the runs a stopped process leaves behind
(:func:`abandon_runs`), and whether this process is a Slurm task (:func:`slurm_job_id`).

:mod:`harness.runner` (training one run), :mod:`harness.slurm` and the CLI use them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from harness.pins import RESULT_PACKAGES, installed, version_changes
from harness.plan import PlannedRun
from harness.store import (
    FINAL_PREFIX,
    STATUS_COMPLETED,
    STATUS_INTERRUPTED,
    STATUS_PREEMPTED,
    STATUS_RUNNING,
    BrokenFile,
    RunDir,
    WriteError,
    load_json,
    now,
    read_metrics,
    set_aside,
    write_json,
    write_record,
)


def slurm_job_id() -> str | None:
    """``<array job>_<task>`` or the plain job id when running inside Slurm, else None."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array and task:
        return f"{array}_{task}"
    return os.environ.get("SLURM_JOB_ID")


def checkpoint_steps(rundir: RunDir) -> list[int]:
    """Iterations of the run's saved training checkpoints (``checkpoint/<iteration>/``)."""
    return [int(p.name) for p in rundir.checkpoint.glob("*") if p.name.isdigit()]


def resume_conflict(rundir: RunDir) -> str | None:
    """Why a run must not resume in this environment, or None.

    A run resumes from its checkpoint (``checkpoint/<iteration>/``); when its last attempt ran
    with another version of a package of :data:`harness.pins.RESULT_PACKAGES` (jax, jaxlib,
    brax, mujoco, mujoco-mjx: ``run.json``'s ``versions``), its learning curve would mix two
    versions of the physics or the numerics. A run without a checkpoint trains from scratch and
    has no conflict. ``harness run --allow-version-change`` resumes it anyway.
    """
    if not checkpoint_steps(rundir):
        return None
    record = rundir.read_record() or {}
    changes = version_changes(record.get("versions") or {}, installed(list(RESULT_PACKAGES)))
    if not changes:
        return None
    at = record.get("last_env_steps")
    where = f" at {at:,} env steps" if isinstance(at, int) else ""
    return (
        f"{rundir.run_id} would resume from its checkpoint{where} with {', '.join(changes)}: "
        "one learning curve would mix two versions of the physics or numerics. Install the "
        "versions it ran with (run.json's versions; requirements/lock.txt of its git_commit), "
        "delete its folder to train it again from scratch, or pass --allow-version-change to "
        "resume anyway (run.json then lists the change under version_changes)"
    )


def rebuild_record(rundir: RunDir, run: PlannedRun) -> str | None:
    """Rebuild an unreadable ``run.json`` of a run that finished: its ``config.json`` is
    readable, its ``metrics.parquet`` has every evaluation the run's schedule makes
    (:func:`harness.plan.eval_points`) and its ``params/`` (and ``replay.npz`` with
    ``data.save_replay``) were written. The garbage is kept as ``run.json.broken-<time>``
    and a record ``completed`` is written from the files, with a ``note``; the run is not
    trained again. The caller holds the run's lock (or knows no process owns it).

    Returns:
        The note (naming the broken file), or None when there is nothing to rebuild (a
        readable or missing ``run.json``, or a run that did not finish).
    """
    from harness.plan import eval_points

    try:
        load_json(rundir.record)
        return None
    except BrokenFile as exc:
        broken = exc
    try:
        config = load_json(rundir.config) or {}
        table = read_metrics(rundir.metrics)
    except (BrokenFile, FileNotFoundError):
        return None
    cfg = run.config
    params = rundir.params
    wrote_params = params.is_dir() and any(params.iterdir())
    wrote_replay = not cfg.data.save_replay or (rundir.path / "replay.npz").is_file()
    if config.get("run_id") != run.run_id or not wrote_params or not wrote_replay:
        return None
    column, expected = eval_points(cfg)
    rows = [r for r in table.to_pylist() if str(r["metric"]).startswith("eval/")]
    if sorted({int(r[column]) for r in rows}) != expected:
        return None
    last = [
        r
        for r in table.to_pylist()
        if r[column] == expected[-1] and not str(r["metric"]).startswith(FINAL_PREFIX)
    ]
    kept = set_aside(rundir.record)
    note = (
        f"{broken}; kept as {kept.name}; rebuilt as completed from metrics.parquet and "
        "params/ (not trained again)"
    )
    write_record(
        rundir.record,
        {
            "run_id": run.run_id,
            "spec": config.get("spec"),
            "status": STATUS_COMPLETED,
            "final": {str(r["metric"]): float(r["value"]) for r in last},
            "wall_s": max(float(r["wall_s"]) for r in last),
            "finished_at": now(),
            "error": None,
            "note": note,
        },
    )
    shutil.rmtree(rundir.checkpoint, ignore_errors=True)  # as a completed run's
    return note


def abandon_runs(results: Path, spec_name: str, signame: str | None, reason: str) -> list[str]:
    """Record the runs this process is training as ``interrupted`` (``preempted`` in a Slurm
    task) without a new checkpoint, just before it leaves without waiting for them
    (:func:`harness.interrupt.run_stoppable`: a second Ctrl-C, or no checkpoint within
    ``hardware.stop_timeout_s``). The next ``harness run`` resumes them from the last
    checkpoint they wrote, or from the start.

    Returns:
        The run ids recorded.
    """
    folder = Path(results) / spec_name
    pid, done = os.getpid(), []
    for path in sorted(folder.glob("*/run.json")) if folder.is_dir() else []:
        record = RunDir(results, spec_name, path.parent.name).read_record() or {}
        if record.get("status") != STATUS_RUNNING or record.get("pid") != pid:
            continue
        record.update(
            status=STATUS_PREEMPTED if slurm_job_id() else STATUS_INTERRUPTED,
            signal=signame,
            finished_at=now(),
            error=None,
            note=f"stopped by {signame or 'request'} without a new checkpoint ({reason})",
        )
        with contextlib.suppress(WriteError):
            write_json(path, record)
        done.append(path.parent.name)
    return done
