"""The status of a run: its record (``run.json``), Slurm's view of its job, its final scores.

A run's record says what the run itself last wrote (running, completed, failed, preempted, ...);
the run folder's lock (:mod:`harness.lock`) says whether a live process owns the run; for runs
submitted to Slurm, :func:`live_states` asks ``squeue`` whether the job is still alive
(``sacct`` fails on clusters without slurmdbd, so accounting is never used), and
:func:`effective_status` joins the three into one word. A run whose ``run.json``,
``config.json`` or ``metrics.parquet`` cannot be read is ``broken``, the file named in its
``error``. :func:`summarize` gives one row per run of a spec: status, progress and final scores
(the mean of the last k evaluations). Both executors and the report read runs through here;
nothing here submits or trains. :func:`watch` redraws the table of :func:`summarize` every few
seconds (``harness status --watch``).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from harness.lock import is_held, owner_alive
from harness.plan import expand
from harness.progress import summary_table
from harness.spec import Spec
from harness.store import STATUS_COMPLETED, STATUS_RUNNING, BrokenFile, RunDir, read_metrics

#: Status of a run with a file that cannot be read (named in its error); `harness run` sets the
#: file aside and trains the run again.
STATUS_BROKEN = "broken"

#: Status of a run submitted to Slurm that has not started (written by harness.slurm.submit).
STATUS_QUEUED = "queued"
#: squeue states that mean a job is still alive (pending, running, or about to requeue).
ALIVE_STATES = {
    "PENDING",
    "RUNNING",
    "CONFIGURING",
    "COMPLETING",
    "REQUEUED",
    "REQUEUE_FED",
    "REQUEUE_HOLD",
    "RESIZING",
    "SUSPENDED",
    "STOPPED",
    "SIGNALING",
    "STAGE_OUT",
}


def slurm_available() -> bool:
    """Whether a Slurm client (``sbatch`` and ``squeue``) is on PATH."""
    return shutil.which("sbatch") is not None and shutil.which("squeue") is not None


def live_states(job_ids: list[str]) -> dict[str, str]:
    """Slurm states of the given job ids from ``squeue`` (jobs squeue no longer lists are
    absent). Array tasks are listed one per line (``-r``)."""
    if not job_ids:
        return {}
    try:
        result = subprocess.run(
            ["squeue", "-h", "-r", "-o", "%i|%T", "--jobs", ",".join(sorted(set(job_ids)))],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return {}
    states = {}
    for line in result.stdout.splitlines():
        job, _, state = line.strip().partition("|")
        if job:
            states[job] = state
    return states


def run_states(spec: Spec, results: Path) -> dict[str, dict[str, Any]]:
    """Per run: the record (empty when missing or unreadable), ``live`` = the squeue state or
    None, ``held`` = whether a live process holds the run's lock (:func:`harness.lock.is_held`)
    and ``broken`` = the message of an unreadable ``run.json``, or None."""
    records: dict[str, dict[str, Any]] = {}
    broken: dict[str, str | None] = {}
    held: dict[str, bool | None] = {}
    for run in expand(spec):
        rundir = RunDir(results, spec.name, run.run_id)
        try:
            records[run.run_id], broken[run.run_id] = rundir.read_record(strict=True) or {}, None
        except BrokenFile as exc:
            records[run.run_id], broken[run.run_id] = {}, str(exc)
        held[run.run_id] = is_held(rundir.path)
    job_ids = [str(r["slurm_job_id"]) for r in records.values() if r.get("slurm_job_id")]
    live = live_states(job_ids) if job_ids and slurm_available() else {}
    out = {}
    for rid, record in records.items():
        job = str(record.get("slurm_job_id") or "")
        out[rid] = {
            "record": record,
            "live": live.get(job),
            "held": held[rid],
            "broken": broken[rid],
        }
    return out


def effective_status(record: dict[str, Any], live: str | None, held: bool | None = None) -> str:
    """One status word per run: pending, queued, running, requeued, preempted, completed,
    failed, cancelled, or lost (its owner is gone and it never recorded an end: its Slurm job
    is no longer listed, or nobody holds the lock of a local run).

    Args:
        record: the run's ``run.json`` (empty when missing).
        live: the squeue state of its Slurm job, or None.
        held: whether a live process holds the run's lock, or None when that cannot be told
            (no lock file); then a local run's recorded pid is looked up, if on this host.
    """
    status = str(record.get("status", "pending"))
    if status in (STATUS_COMPLETED, "failed", "cancelled"):
        return status
    if held:  # a live process owns the run (a local run, or a Slurm task that started)
        return STATUS_RUNNING
    if live is not None:
        if live == "PENDING":
            return "requeued" if record.get("attempts") else STATUS_QUEUED
        if live.startswith("REQUEUE"):
            return "requeued"
        return "running" if live in ALIVE_STATES else live.lower()
    if record.get("slurm_job_id") and status in (STATUS_QUEUED, "running", "preempted"):
        return "lost"
    if status == STATUS_RUNNING and (
        held is False or (held is None and owner_alive(record) is False)
    ):
        return "lost"  # a local run whose process died (SIGKILL, power loss)
    return status


def final_score(
    rundir: RunDir, metric: str, last_k: int, table: pa.Table | None = None
) -> float | None:
    """Mean of the last ``last_k`` evaluations of ``metric`` (``last_k``: the spec's
    ``eval.last_k``, as in :func:`harness.store.final_scores`), or None.

    ``table`` is the run's metrics if already read (else the file is read).
    """
    if table is None:
        try:
            table = read_metrics(rundir.metrics)
        except (FileNotFoundError, BrokenFile):  # a broken file is named by summarize
            return None
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
    """One row per run of the spec: status (from the run record, the run's lock and, for Slurm
    jobs, squeue), final time at goal (mean of the last k evaluations), wall time, error (for a
    ``broken`` run: the unreadable files, each named)."""
    states = run_states(spec, results)
    rows = []
    for run in expand(spec):
        cfg = run.config
        rundir = RunDir(results, spec.name, run.run_id)
        state = states[run.run_id]
        record = state["record"]
        status = effective_status(record, state["live"], state["held"])
        problems = [str(exc) for exc in rundir.broken()]
        last_env_steps = None
        try:
            table = read_metrics(rundir.metrics) if rundir.metrics.exists() else None
        except BrokenFile:  # named in problems
            table = None
        if problems and status != STATUS_RUNNING:
            status = STATUS_BROKEN
        error = record.get("error")
        message = error.get("message") if isinstance(error, dict) else error
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
                "error": "; ".join(problems) if problems else message,
            }
        )
    return rows


def add_watch_arguments(parser: Any) -> None:
    """``--watch [SECONDS]`` and ``--count N`` of ``harness status`` (an argparse parser)."""
    parser.add_argument(
        "--watch",
        type=float,
        nargs="?",
        const=5.0,
        default=None,
        metavar="SECONDS",
        help="redraw the table, with each run's latest evaluation, every SECONDS (default 5) "
        "until ctrl-C",
    )
    parser.add_argument(
        "--count", type=int, default=None, metavar="N", help="with --watch: stop after N tables"
    )


def watch(
    spec: Spec, results: Path, console: Any, interval_s: float = 5.0, count: int | None = None
) -> int:
    """Redraw the status table of a spec, with each run's latest evaluation, every
    ``interval_s`` seconds (at least 0.1) until ctrl-C, or ``count`` times.

    Args:
        console: a ``rich.console.Console``; on a terminal the table is redrawn in place
            (``rich.live.Live``), else printed again each time.

    Returns:
        0 (the exit code of ``harness status --watch``).
    """
    from rich.live import Live

    interval = max(float(interval_s), 0.1)

    def table() -> Any:
        stamp = time.strftime("%H:%M:%S")
        title = (
            f"{spec.name} ({results / spec.name}) at {stamp}; every {interval:g} s, ctrl-C stops"
        )
        last_k = {run.config.eval.last_k for run in expand(spec)}
        rows = summarize(spec, results)
        return summary_table(rows, title=title, latest=True, width=console.width, last_k=last_k)

    live = Live(console=console, auto_refresh=False) if console.is_terminal else None
    shown = 0
    try:
        if live is not None:
            live.start()
        while True:
            if live is not None:
                live.update(table(), refresh=True)
            else:
                console.print(table())
            shown += 1
            if count is not None and shown >= count:
                break
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
    finally:
        if live is not None:
            live.stop()
    return 0
