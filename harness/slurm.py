"""Slurm executor: a spec's pending runs become one job array, submitted with submitit.

Each array task is a :class:`RunJob` that holds only paths and run ids (never models or
arrays, as in the submitit users dinov2 and mae): one run, or one seed group of
``hardware.seed_group`` runs that differ only in their seed (:func:`harness.plan.seed_groups`). The run's ``config.json`` is written at
submission, so the job trains exactly what was planned even if the spec file changes later.

Preemption and time limits: Slurm sends SIGUSR2 ``signal_delay_s`` before the time limit, and
submitit calls :meth:`RunJob.checkpoint`, which asks training to stop at the next iteration
boundary, waits for the checkpoint to be written, and hands submitit a fresh job to requeue.
SIGTERM (``scontrol requeue``, preemption, ``scancel``), SIGINT and SIGUSR1 do the same without
submitit's requeue (Slurm requeues or ends the job itself). The runs are recorded
``preempted`` with the signal; the wait is bounded by ``hardware.stop_timeout_s``. Training runs in a worker thread so that the
signal handlers, which Python runs on the main thread, can wait for it.

Each task trains its runs with :func:`harness.runner.execute_group`, as the local executor does.
Status without accounting: ``sacct`` fails on clusters without slurmdbd, so
:func:`harness.status.live_states` asks ``squeue`` only, and the run records (``run.json``) say
the rest (:mod:`harness.status`).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import submitit

from harness.interrupt import StopRequest, signal_name
from harness.plan import PlannedRun, expand, seed_groups
from harness.records import abandon_runs, rebuild_record
from harness.runner import execute_group, write_run_config
from harness.slurm_limits import explain_sbatch_error
from harness.spec import RunConfig, Spec, SpecError
from harness.status import (
    ALIVE_STATES,
    STATUS_QUEUED,
    effective_status,
    run_states,
    slurm_available,
    summarize,
)
from harness.store import STATUS_COMPLETED, RunDir, now, read_json, set_aside, write_json
from harness.watchdog import exit_stalled


class SlurmUnavailable(RuntimeError):
    """No Slurm client (``sbatch``) on PATH."""


class SubmitError(RuntimeError):
    """``sbatch`` refused the jobs; nothing of the submission is left on disk.

    Attributes:
        field: the spec field to change (``hardware.gpus``; ``hardware`` when sbatch's words
            name none, :func:`harness.slurm_limits.explain_sbatch_error`).
        cause: sbatch's reason, one line.
    """

    def __init__(self, field: str, cause: str) -> None:
        super().__init__(f"{field}: sbatch refused the jobs: {cause}")
        self.field, self.cause = field, cause


def check_resources(spec: Spec, source: str) -> bool:
    """Compare what each job of ``spec`` asks (``hardware.gpus``, ``cpus``, ``mem_gb``,
    ``time_min``, ``partition``, ``constraint``) with the partition's nodes in ``sinfo``.

    Returns:
        False when no Slurm answers (nothing checked), True when the request fits.

    Raises:
        SpecError: one ``SOURCE: hardware.FIELD: problem`` line per request the partition
            cannot meet.
    """
    from harness.slurm_limits import check_request, read_nodes

    nodes = read_nodes()
    if nodes is None:
        return False
    hw = spec.hardware
    problems = check_request(
        nodes, hw.partition, hw.gpus, hw.cpus, hw.mem_gb, hw.time_min, hw.constraint
    )
    if problems:
        raise SpecError([f"{source}: {field}: {problem}" for field, problem in problems])
    return True


class RunJob:
    """One Slurm array task: trains (or resumes) one run from its folder.

    Args:
        results: results root folder.
        spec_name: the spec's name (folder under ``results``).
        run_id: the run to train; its ``config.json`` must exist.
    """

    def __init__(self, results: str, spec_name: str, run_id: str | list[str]) -> None:
        self.results = str(Path(results).resolve())
        self.spec_name = spec_name
        self.run_ids = [run_id] if isinstance(run_id, str) else list(run_id)
        self.run_id = ",".join(self.run_ids)  # for messages
        self._stop: StopRequest | None = None
        self._worker: threading.Thread | None = None
        self._timeout_s = 120.0  # hardware.stop_timeout_s, read with the spec

    def _load(self) -> tuple[Spec, list[PlannedRun], dict[str, Any]]:
        runs: list[PlannedRun] = []
        spec: Spec | None = None
        provenance: dict[str, Any] = {}
        for rid in self.run_ids:
            rundir = RunDir(Path(self.results), self.spec_name, rid)
            payload = json.loads(rundir.config.read_text())
            spec = spec or Spec.model_validate(payload["spec_dump"])
            config = RunConfig.model_validate(payload["config"])
            runs.append(PlannedRun(rid, config, payload.get("axes", {})))
            keys = ("spec_file", "overrides", "command", "allow_version_change")
            provenance = provenance or {k: payload[k] for k in keys if k in payload}
        assert spec is not None
        return spec, runs, provenance

    def __call__(self) -> str:
        from harness.progress import ConsoleReporter
        from harness.train import enable_compilation_cache

        enable_compilation_cache()
        spec, runs, provenance = self._load()
        self._stop = StopRequest()
        self._timeout_s = spec.hardware.stop_timeout_s
        outcomes: list[Any] = []

        def work() -> None:
            outcomes.extend(
                execute_group(
                    spec,
                    runs,
                    Path(self.results),
                    provenance,
                    ConsoleReporter(interval_s=60.0),
                    stop=self._stop,
                    on_stall=exit_stalled,
                )
            )

        # SIGUSR2 (the time limit's signal) stays submitit's: it calls checkpoint() and requeues.
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
            signal.signal(signum, self._on_signal)
        # A daemon: a stalled run's thread cannot be joined (the watchdog exits the process).
        self._worker = threading.Thread(target=work, name=f"train-{self.run_id}", daemon=True)
        self._worker.start()
        while self._worker.is_alive():
            self._worker.join(0.5)
        if not outcomes:
            raise RuntimeError(f"runs {self.run_id} ended without an outcome")
        failed = [o for o in outcomes if o.status == "failed"]
        if failed:
            errors = "; ".join(f"{o.run_id}: {o.error}" for o in failed)
            raise RuntimeError(f"{len(failed)} of {len(outcomes)} runs failed: {errors}")
        return ",".join(str(o.status) for o in outcomes)

    def _on_signal(self, signum: int, frame: Any) -> None:
        """SIGTERM (``scontrol requeue``, preemption, ``scancel``), SIGINT, SIGUSR1: stop at
        the next step with a checkpoint; leave at once on a second signal or when the
        checkpoint takes longer than ``hardware.stop_timeout_s``. Slurm requeues or ends the
        job itself."""
        again = self._stop is not None and self._stop.is_set()
        name = signal_name(signum)
        print(f"harness: {name}: checkpointing {self.run_id}", file=sys.stderr, flush=True)
        if again or not self._wait_for_checkpoint(signum):
            self._abandon(signum, f"a second {name}" if again else None)
            os._exit(128 + signum)

    def _wait_for_checkpoint(self, signum: int | None) -> bool:
        """Ask training to stop with a checkpoint and wait for it, at most
        ``hardware.stop_timeout_s``; False when it did not end in time."""
        if self._stop is not None:
            self._stop.request(signum)
        if self._worker is not None and self._worker is not threading.current_thread():
            self._worker.join(self._timeout_s)
            return not self._worker.is_alive()
        return True

    def _abandon(self, signum: int, reason: str | None) -> None:
        """Record the runs in training as stopped without a new checkpoint, in one line."""
        reason = reason or f"no checkpoint within {self._timeout_s:g} s"
        name = signal_name(signum)
        abandon_runs(Path(self.results), self.spec_name, name, reason)
        print(
            f"harness: stopped by {name} without a new checkpoint ({reason}): {self.run_id}",
            file=sys.stderr,
            flush=True,
        )

    def checkpoint(self) -> submitit.helpers.DelayedSubmission:
        """Called by submitit on the time-limit / preemption signal (SIGUSR2): checkpoint,
        then requeue (without a new checkpoint when it takes over ``hardware.stop_timeout_s``:
        the requeued job resumes from the one before)."""
        if not self._wait_for_checkpoint(signal.SIGUSR2):
            self._abandon(signal.SIGUSR2, None)
        return submitit.helpers.DelayedSubmission(
            RunJob(self.results, self.spec_name, self.run_ids)
        )


def submit(spec: Spec, results: Path, provenance: dict[str, Any]) -> list[tuple[str, str]]:
    """Submit every run that is not complete and not alive in Slurm, as one job array.

    Returns:
        ``(run_id, slurm_job_id)`` for each submitted run (empty when nothing is pending).

    Raises:
        SlurmUnavailable: no ``sbatch`` on PATH.
        SubmitError: ``sbatch`` refused the jobs; the files this submission wrote are gone.
    """
    if not slurm_available():
        raise SlurmUnavailable("no Slurm client (sbatch, squeue) on PATH")
    states = run_states(spec, results)
    pending = []
    for run in expand(spec):
        state = states[run.run_id]
        status = effective_status(state["record"], state["live"], state["held"])
        if status == STATUS_COMPLETED or state["held"]:  # done, or a live process owns it
            continue
        # A job that is still listed (pending, running, completing) is left alone, unless its
        # run already recorded its end (a failed run whose job is still completing).
        if state["live"] in ALIVE_STATES and status not in ("failed", "cancelled"):
            continue
        if state["broken"]:  # an unreadable run.json is kept, renamed, before it is replaced
            rundir = RunDir(results, spec.name, run.run_id)
            if rebuild_record(rundir, run) is not None:  # it had finished: nothing to submit
                continue
            set_aside(rundir.record)
        pending.append(run)
    if not pending:
        return []
    hw = spec.hardware
    folder = Path(results) / spec.name / "_slurm" / "%j"
    executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=hw.max_requeues)
    params: dict[str, Any] = {
        "job_name": f"harness-{spec.name}",
        "time": hw.time_min,
        "cpus_per_task": hw.cpus,
        "mem": f"{hw.mem_gb}G",
        "array_parallelism": hw.array_parallelism,
        "signal_delay_s": hw.signal_delay_s,
        "stderr_to_stdout": True,
    }
    if hw.gpus:
        params["gpus_per_node"] = hw.gpus
    for name in ("partition", "account", "qos", "constraint"):
        if getattr(hw, name):
            params[name] = getattr(hw, name)
    if hw.setup:
        params["setup"] = list(hw.setup)
    if hw.sbatch_extra:
        params["additional_parameters"] = dict(hw.sbatch_extra)
    executor.update_parameters(**params)
    undo = _Undo(results, spec.name, [run.run_id for run in pending])
    rundirs = [write_run_config(spec, run, results, provenance) for run in pending]
    # One array task per seed group (hardware.seed_group; groups of one by default).
    groups = seed_groups(pending, hw.seed_group)
    try:  # submitit prints sbatch's refusal on stderr: it is said once, in SubmitError
        with contextlib.redirect_stderr(io.StringIO()), executor.batch():
            tasks = [
                executor.submit(RunJob(str(results), spec.name, [run.run_id for run in group]))
                for group in groups
            ]
    except (
        submitit.core.utils.UncompletedJobError,
        submitit.core.utils.FailedSubmissionError,
        subprocess.SubprocessError,
    ) as exc:
        undo()  # nothing may look queued: config.json, run folders, _slurm/ files go
        raise SubmitError(*explain_sbatch_error(str(exc))) from None
    jobs = [job for group, job in zip(groups, tasks, strict=True) for _ in group]
    pending = [run for group in groups for run in group]
    by_id = {rundir.run_id: rundir for rundir in rundirs}
    rundirs = [by_id[run.run_id] for run in pending]
    submitted = []
    for run, rundir, job in zip(pending, rundirs, jobs, strict=True):
        previous = read_json(rundir.record) or {}
        write_json(
            rundir.record,
            {
                **{k: v for k, v in previous.items() if k in ("attempts", "resumes")},
                "run_id": run.run_id,
                "spec": spec.name,
                "status": STATUS_QUEUED,
                "slurm_job_id": str(job.job_id),
                "submitted_at": now(),
            },
        )
        submitted.append((run.run_id, str(job.job_id)))
    return submitted


class _Undo:
    """What a submission writes (``config.json`` of each run, its folder, files under
    ``_slurm/``), noted before, so a refused submission can take it back."""

    def __init__(self, results: Path, spec_name: str, run_ids: list[str]) -> None:
        self.root, self.folder = Path(results), Path(results) / spec_name
        self.slurm = self.folder / "_slurm"
        self.existed = {p for p in (self.root, self.folder, self.slurm) if p.exists()}
        self.slurm_files = set(self.slurm.rglob("*")) if self.slurm.is_dir() else set()
        self.rundirs = [RunDir(results, spec_name, rid) for rid in run_ids]
        self.configs = {
            r.run_id: r.config.read_bytes() if r.config.is_file() else None for r in self.rundirs
        }
        self.existed |= {r.path for r in self.rundirs if r.path.exists()}

    def __call__(self) -> None:
        for rundir in self.rundirs:
            before = self.configs[rundir.run_id]
            if before is None:
                rundir.config.unlink(missing_ok=True)
            else:
                rundir.config.write_bytes(before)
            if rundir.path not in self.existed:
                shutil.rmtree(rundir.path, ignore_errors=True)
        if self.slurm.is_dir():
            made = set(self.slurm.rglob("*")) - self.slurm_files
            for path in sorted(made, key=lambda p: -len(p.parts)):  # files, then their folders
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
        for folder in (self.slurm, self.folder, self.root):
            if folder not in self.existed and folder.is_dir():
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only when empty


def cancel(spec: Spec, results: Path) -> list[str]:
    """``scancel`` the alive jobs of a spec and record their runs as cancelled."""
    states = run_states(spec, results)
    cancelled = []
    for rid, state in states.items():
        job = state["record"].get("slurm_job_id")
        if job and state["live"] in ALIVE_STATES:
            subprocess.run(["scancel", str(job)], check=False, timeout=30)
            rundir = RunDir(results, spec.name, rid)
            write_json(
                rundir.record, {**state["record"], "status": "cancelled", "cancelled_at": now()}
            )
            cancelled.append(rid)
    return cancelled


def follow(
    spec: Spec,
    results: Path,
    poll_s: float,
    on_change: Callable[[dict[str, Any]], None],
) -> list[dict[str, Any]]:
    """Follow a spec's Slurm jobs until none is queued or running (``harness run --wait``).

    Every ``poll_s`` seconds reads :func:`harness.status.summarize` and calls ``on_change(row)``
    for each run whose status or env steps changed since the last look (every run the first
    time).

    Returns:
        The last :func:`~harness.status.summarize` rows, once no run with a Slurm job is queued,
        running, requeued, preempted or pending.
    """
    active = {"queued", "running", "requeued", "preempted", "pending"}
    seen: dict[str, tuple[str, Any]] = {}
    while True:
        rows = summarize(spec, results)
        for row in rows:
            state = (row["status"], row["env_steps"])
            if seen.get(row["run_id"]) != state:
                seen[row["run_id"]] = state
                on_change(row)
        if not any(r["status"] in active and r["slurm_job_id"] for r in rows):
            return rows
        time.sleep(poll_s)
