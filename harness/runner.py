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

import contextlib
import shutil
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import algos
from harness.lock import acquire, describe_owner, owner_alive, this_owner
from harness.pins import lock_record, version_changes
from harness.plan import PlannedRun
from harness.progress import NullReporter, Reporter
from harness.records import (
    checkpoint_steps,
    rebuild_record,
    resume_conflict,
    slurm_job_id,
)
from harness.spec import Spec
from harness.store import (
    FINAL_PREFIX,
    STATUS_COMPLETED,
    STATUS_FAILED,
    STATUS_INTERRUPTED,
    STATUS_PREEMPTED,
    STATUS_RUNNING,
    BrokenFile,
    RunDir,
    WriteError,
    final_scores,
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
from harness.tracking import diagnostics_enabled, make_trackers
from harness.watchdog import StalledError, Watchdog, stall_message

#: Outcome of a run this process did not train: complete, or owned by another live process.
STATUS_SKIPPED = "skipped"


@dataclass(frozen=True)
class RunOutcome:
    """What happened to one run: ``completed``, ``failed``, ``preempted`` (a Slurm task
    stopped, to be requeued), ``interrupted`` (a local run stopped by a signal, checkpointed;
    ``error`` then says where) or ``skipped`` (``error`` then says why, when another process
    owns the run)."""

    run_id: str
    status: str
    error: str | None = None


def label(run: PlannedRun) -> str:
    """Short human label of a run (env, depths, width, batch, seed)."""
    cfg = run.config
    mode = f" {cfg.data.mode} {cfg.algo.name}" if cfg.data.mode != "online" else ""
    if cfg.data.mode == "online" and cfg.algo.name != algos.DEFAULT:
        mode = f" {cfg.algo.name}"
    return (
        f"{cfg.env_label}{mode} critic_depth={cfg.network.critic_depth} "
        f"actor_depth={cfg.network.actor_depth} width={cfg.network.width} "
        f"batch={cfg.algo.batch_size} seed={cfg.seed}"
    )


def final_text(scores: dict[str, float], last: dict[str, float], last_k: int) -> str:
    """The completion line's scores: the final score (:func:`harness.store.final_scores`) with
    its K and the last evaluation alone, e.g. ``time_at_goal 129.8, success 0.80 (mean of the
    last 3 evals; last eval 126.5)``; OGBench runs: ``success 0.52 (...; last eval 0.55)``."""
    evals = "the last eval" if last_k == 1 else f"the mean of the last {last_k} evals"
    if "eval/success" in scores:
        alone = last.get("eval/success")
        tail = f"; last eval {alone:.2f}" if alone is not None and last_k > 1 else ""
        return f"success {scores['eval/success']:.2f} ({evals}{tail})"
    if "eval/time_at_goal" not in scores:
        return "no evaluation"
    alone = last.get("eval/time_at_goal")
    tail = f"; last eval {alone:.1f}" if alone is not None and last_k > 1 else ""
    success = scores.get("eval/success_any")
    rate = f", success {success:.2f}" if success is not None else ""
    return f"time_at_goal {scores['eval/time_at_goal']:.1f}{rate} ({evals}{tail})"


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
    key = run.config.seedless_key
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
    on_stall: Callable[[list[str]], None] | None = None,
) -> RunOutcome:
    """Train one run and write its folder; never raises for a failure inside training.

    A seed group of one (:func:`execute_group`); see there.
    """
    return execute_group(spec, [run], results, provenance, reporter, stop, trainers, on_stall)[0]


def execute_group(
    spec: Spec,
    runs: list[PlannedRun],
    results: Path,
    provenance: dict[str, Any],
    reporter: Reporter | None = None,
    stop: threading.Event | None = None,
    trainers: dict[str, Any] | None = None,
    on_stall: Callable[[list[str]], None] | None = None,
) -> list[RunOutcome]:
    """Train runs that differ only in their seed together (``hardware.seed_group``,
    :func:`harness.driver.drive`) and write each run's folder exactly as a solo run would;
    never raises for a failure inside training. Returns one outcome per run, in order.

    Only one process trains a run at a time: this one first takes each run folder's lock
    (:func:`harness.lock.acquire`), and skips a run (outcome ``skipped``, its files left
    alone) when another live process holds it or completed it meanwhile. Locks are released on
    any exit (the kernel drops them if the process dies). An unreadable ``run.json`` of a run
    whose other files show it finished is rebuilt (:func:`rebuild_record`; outcome
    ``completed``). Otherwise a file of a run that cannot be read (``run.json``,
    ``metrics.parquet``) is renamed to ``<name>.broken-<timestamp>`` and the run is trained
    again (from scratch when its metrics were lost). A run whose checkpoint was made with other
    versions of jax, brax or mujoco is not resumed (outcome ``failed``, its files left alone;
    :func:`resume_conflict`) unless ``provenance["allow_version_change"]`` (``harness run
    --allow-version-change``). The seeds left train as one
    group when their checkpoints are of one iteration (or none); seeds at different iterations
    (a kill between two seeds' saves) train as separate groups, and offline runs one by one.

    Per run: ``config.json`` first, ``metrics.parquet`` after every evaluation (atomically, so
    a crash leaves the evaluations so far), and ``run.json`` last with the final status. A run
    with a checkpoint resumes from it: evaluation rows recorded after the checkpoint are
    dropped and made again, so the final Parquet has each evaluation exactly once. A seed that
    diverges is recorded failed while the others go on. When ``stop`` is set (a signal,
    :mod:`harness.interrupt`; preemption), the runs finish their step, checkpoint, are recorded
    as ``interrupted`` (``preempted`` in a Slurm task) with the signal, and return.
    ``trainers`` caches built :class:`~harness.train.Trainer` objects across runs that differ
    only in their seed, so their programs are traced and compiled once.

    With ``on_stall`` and ``hardware.stall_timeout_min`` > 0 a :class:`harness.watchdog.Watchdog`
    watches the group: when it enters no new phase for that long, its runs are recorded as
    failed (``StalledError: no progress for N s in <phase>``) and ``on_stall(run_ids)`` is
    called from the watchdog thread; it must leave the process
    (:func:`harness.watchdog.reexec_skipping`, :func:`harness.watchdog.exit_stalled`), since
    the stuck thread cannot be stopped.

    Args:
        runs: runs of one config up to the seed (:func:`harness.plan.seed_groups`).
        provenance: the spec file, overrides and command line, stored in ``config.json``.

    Raises:
        KeyboardInterrupt: after recording the runs as interrupted (no checkpoint).
    """
    reporter = reporter or NullReporter()
    outcomes: dict[str, RunOutcome] = {}
    owned: list[tuple[PlannedRun, Any]] = []
    try:
        for run in runs:
            rundir = RunDir(results, spec.name, run.run_id)
            lock = acquire(rundir.path)
            if lock is None:
                detail = f"running in another process ({_owner(rundir)})"
                reporter.note(run.run_id, f"skipped {run.run_id}: {detail}")
                outcomes[run.run_id] = RunOutcome(run.run_id, STATUS_SKIPPED, detail)
                continue
            if rundir.is_complete():  # completed by the process this one waited for
                lock.release()
                reporter.note(run.run_id, f"skipped {run.run_id}: completed by another process")
                outcomes[run.run_id] = RunOutcome(run.run_id, STATUS_SKIPPED)
                continue
            rebuilt = rebuild_record(rundir, run)
            if rebuilt is not None:  # finished: only its record was lost
                lock.release()
                reporter.note(run.run_id, rebuilt)
                outcomes[run.run_id] = RunOutcome(run.run_id, STATUS_COMPLETED, rebuilt)
                continue
            _set_aside_broken(rundir, reporter)
            conflict = resume_conflict(rundir)
            if conflict and not provenance.get("allow_version_change"):
                lock.release()
                reporter.note(run.run_id, f"refused: {conflict}")
                outcomes[run.run_id] = RunOutcome(run.run_id, STATUS_FAILED, conflict)
                continue
            owned.append((run, lock))
        for batch in _resume_groups([run for run, _ in owned], results, spec.name):
            for outcome in _execute_owned(
                spec, batch, results, provenance, reporter, stop, trainers, on_stall
            ):
                outcomes[outcome.run_id] = outcome
    finally:
        for _, lock in owned:
            lock.release()
    return [outcomes[run.run_id] for run in runs]


def _resume_groups(runs: list[PlannedRun], results: Path, spec_name: str) -> list[list[PlannedRun]]:
    """Split owned runs into the groups that can train together: online runs whose newest
    checkpoint is of one iteration (or who have none), in order; offline runs alone."""
    groups: dict[Any, list[PlannedRun]] = {}
    for run in runs:
        if run.config.data.mode == "offline":
            groups[("offline", run.run_id)] = [run]
            continue
        steps = checkpoint_steps(RunDir(results, spec_name, run.run_id))
        groups.setdefault(max(steps, default=None), []).append(run)
    return list(groups.values())


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


class _Recorder:
    """The files of one run while this process trains it: ``run.json``, ``config.json``,
    ``metrics.parquet``, and the callbacks that write them."""

    def __init__(
        self,
        spec: Spec,
        run: PlannedRun,
        results: Path,
        provenance: dict[str, Any],
        reporter: Reporter,
    ) -> None:
        self.spec, self.run, self.results = spec, run, results
        self.provenance, self.reporter = provenance, reporter
        self.rundir = RunDir(results, spec.name, run.run_id)
        # wall_s in run.json: this attempt's seconds plus, after a resume, the training seconds
        # before its checkpoint (as the Parquet's wall_s); on_resume moves `started` back.
        self.started = time.time()
        self.rows: list[dict[str, Any]] = []
        self.record: dict[str, Any] = {}
        self.tracker: Any = None  # made by callbacks(): harness.tracking

    def start(self) -> None:
        """Write ``run.json`` (status running, this process as owner) and ``config.json``.

        Raises:
            WriteError: the disk is full or the folder cannot be written.
        """
        try:
            previous = self.rundir.read_record(strict=True) or {}
        except BrokenFile:  # set aside meanwhile? start the counts again
            previous = {}
        self.record = {
            "run_id": self.run.run_id,
            "spec": self.spec.name,
            "status": STATUS_RUNNING,
            "started_at": now(),
            "attempts": int(previous.get("attempts", 0)) + 1,
            "resumes": int(previous.get("resumes", 0)),
            "slurm_job_id": slurm_job_id(),
            **this_owner(),  # pid and hostname: who holds the lock
        }
        write_json(self.rundir.record, self.record)  # the owner first, for others to name it
        now_versions = versions()
        history = list(previous.get("version_changes") or [])
        if checkpoint_steps(self.rundir):  # resuming: record a change of physics allowed
            changes = version_changes(previous.get("versions") or {}, now_versions)
            if changes:
                at = previous.get("last_env_steps")
                history.append({"at": now(), "env_steps": at, "changes": changes})
        if history:
            self.record["version_changes"] = history
        self.record.update(versions=now_versions, host=host_info(), lock=lock_record())
        write_run_config(self.spec, self.run, self.results, self.provenance)
        write_json(self.rundir.record, self.record)

    def callbacks(self, beat: Callable[..., None], announce: bool = True) -> Any:
        """:class:`harness.train.Callbacks` writing this run's files (``beat``: the
        watchdog's heartbeat; ``announce``: report the phases training enters, for the first
        run of a seed group only)."""
        from harness.train import Callbacks

        run, rundir, record = self.run, self.rundir, self.record
        # Offline rows all carry the dataset size as env_steps: they are ordered by grad_steps.
        step = "grad_steps" if run.config.data.mode == "offline" else "env_steps"
        reporter = self.reporter
        self.tracker = make_trackers(self.spec, run, rundir, lambda m: reporter.note(run.run_id, m))

        def on_eval(point: dict[str, Any]) -> None:
            beat()
            self.rows.extend(_metric_rows(self.spec.name, run, point))
            write_metrics(rundir.metrics, self.rows)
            self.tracker.log(point[step], point["metrics"])  # TensorBoard, W&B (issue 17)
            self.reporter.evaluation(run.run_id, point)

        def on_progress(info: dict[str, Any]) -> None:
            beat()
            self.reporter.progress(run.run_id, info)
            record["last_env_steps"] = info["env_steps"]

        def on_checkpoint(info: dict[str, Any]) -> None:
            record["checkpoint"] = {**info, "at": now()}  # written with the run's end

        def on_resume(info: dict[str, Any]) -> None:
            kept = []
            if rundir.metrics.exists():
                rows = read_metrics(rundir.metrics).to_pylist()
                kept = [r for r in rows if r[step] <= info[step]]
            self.rows[:] = kept
            self.started -= float(info.get("wall_s", 0.0))
            record["resumes"] += 1
            record["resumed_from_env_steps"] = info["env_steps"]
            record["resumed_from_wall_s"] = float(info.get("wall_s", 0.0))
            write_json(rundir.record, record)
            self.reporter.run_resumed(run.run_id, info["env_steps"])

        def on_phase(name: str) -> None:
            beat(name)
            if announce:
                reporter.phase(run.run_id, name)

        return Callbacks(
            on_eval=on_eval,
            on_progress=on_progress,
            on_resume=on_resume,
            on_checkpoint=on_checkpoint,
            on_phase=on_phase,
        )

    def completed(self, final: dict[str, float]) -> RunOutcome:
        """Record the run as completed: its final scores (:func:`harness.store.final_scores`,
        the mean of the last ``eval.last_k`` evaluations) as ``final/*`` rows of
        ``metrics.parquet``, in the trackers and in ``run.json`` (``final_score``; ``final``
        keeps the last evaluation's metrics); drop its training checkpoint (params/ stays).
        """
        self.record.pop("checkpoint", None)  # removed below
        last_k = self.run.config.eval.last_k
        step = "grad_steps" if self.run.config.data.mode == "offline" else "env_steps"
        scores = final_scores(self.rows, last_k, step)
        self.record.update(
            status=STATUS_COMPLETED,
            finished_at=now(),
            wall_s=time.time() - self.started,
            final=final,
            final_score={"last_k": last_k, **scores},
            error=None,
        )
        try:
            self._write_final_rows(scores, last_k, step)
            write_record(self.rundir.record, self.record)
        except WriteError as exc:
            return self.failed(exc)
        # The training checkpoint (replay included) is only for resuming.
        shutil.rmtree(self.rundir.checkpoint, ignore_errors=True)
        self.reporter.run_finished(
            self.run.run_id,
            STATUS_COMPLETED,
            f"in {self.record['wall_s']:.0f}s, {final_text(scores, final, last_k)}",
        )
        return RunOutcome(self.run.run_id, STATUS_COMPLETED)

    def _write_final_rows(self, scores: dict[str, float], last_k: int, step: str) -> None:
        """Add ``final/<name>`` rows (and ``final/last_k``) at the last evaluation's steps to
        ``metrics.parquet`` and log them to the trackers (W&B keeps them in its summary)."""
        evals = [r for r in self.rows if not r["metric"].startswith(FINAL_PREFIX)]
        if not evals or not scores:
            return
        last = max(evals, key=lambda r: r[step])
        named = {FINAL_PREFIX + k.split("/", 1)[1]: v for k, v in scores.items()}
        named[FINAL_PREFIX + "last_k"] = float(last_k)
        self.rows[:] = evals + [
            {**last, "metric": name, "value": value} for name, value in sorted(named.items())
        ]
        write_metrics(self.rundir.metrics, self.rows)
        if self.tracker is not None:
            self.tracker.log(last[step], named)

    def preempted(self, exc: Exception, stop: threading.Event | None) -> RunOutcome:
        """Record the run as stopped with a checkpoint: ``interrupted`` for a local run,
        ``preempted`` for a Slurm task (Slurm or submitit requeues it), ``cancelled`` when
        `harness cancel` said so first; with the signal that asked (``signal``) and the
        checkpoint the next attempt resumes from (``checkpoint``)."""
        on_disk = self.rundir.read_record() or {}
        signame = getattr(stop, "name", None)
        status = STATUS_PREEMPTED if slurm_job_id() else STATUS_INTERRUPTED
        if on_disk.get("status") == "cancelled":
            status = "cancelled"
        checkpoint = self.record.get("checkpoint")
        where = str(exc)
        if checkpoint:
            where = (
                f"checkpointed at env step {checkpoint['env_steps']:,} "
                f"(iteration {checkpoint['iteration']})"
            )
        note = (f"stopped by {signame}; " if signame else "") + where
        self.record.update(
            status=status,
            signal=signame,
            finished_at=now(),
            wall_s=time.time() - self.started,
            error=None,
            note=note,
        )
        write_json(self.rundir.record, self.record)
        if status != STATUS_INTERRUPTED:  # the command says it once for all its runs
            self.reporter.run_finished(self.run.run_id, status, note)
        return RunOutcome(self.run.run_id, status, where)

    def interrupted(self) -> None:
        """Record the run as interrupted by a KeyboardInterrupt (Ctrl-C with Python's default
        handler: no checkpoint was written for it)."""
        self.record.update(
            status=STATUS_INTERRUPTED,
            signal="SIGINT",
            error=None,
            note="KeyboardInterrupt: stopped without a checkpoint",
            finished_at=now(),
            wall_s=time.time() - self.started,
        )
        write_json(self.rundir.record, self.record)

    def failed(self, exc: BaseException) -> RunOutcome:
        """Record the run as failed with ``exc``, after removing what its interrupted writes
        left (:func:`harness.store.remove_temporaries`); on a full disk ``run.json`` is written
        in place, shortened if need be (:func:`harness.store.write_record`)."""
        remove_temporaries(self.rundir.path)
        message = f"{type(exc).__name__}: {exc}"
        self.record.update(
            status=STATUS_FAILED,
            error={
                "type": type(exc).__name__,
                "message": str(exc),
                "traceback": "".join(traceback.format_exception(exc)),
            },
            finished_at=now(),
            wall_s=time.time() - self.started,
        )
        try:
            write_record(self.rundir.record, self.record)
        except WriteError as failed:
            message += f" (and run.json could not record it: {failed.cause})"
        self.reporter.run_finished(self.run.run_id, STATUS_FAILED, message)
        return RunOutcome(self.run.run_id, STATUS_FAILED, message)


def _execute_owned(
    spec: Spec,
    runs: list[PlannedRun],
    results: Path,
    provenance: dict[str, Any],
    reporter: Reporter,
    stop: threading.Event | None,
    trainers: dict[str, Any] | None,
    on_stall: Callable[[list[str]], None] | None = None,
) -> list[RunOutcome]:
    """:func:`execute_group` once this process holds the runs' locks (one resume group)."""
    from harness.driver import Preempted, drive

    outcomes: list[RunOutcome] = []
    recorders: list[_Recorder] = []
    for run in runs:
        recorder = _Recorder(spec, run, results, provenance, reporter)
        try:
            recorder.start()
            recorders.append(recorder)
        except WriteError as exc:  # a full disk: record the failure where it still fits
            outcomes.append(recorder.failed(exc))
    if not recorders:
        return outcomes
    timeout_s = 60.0 * spec.hardware.stall_timeout_min
    watchdog: Watchdog | contextlib.nullcontext[None] = contextlib.nullcontext()
    beat: Callable[..., None] = lambda phase=None: None  # noqa: E731
    if on_stall is not None and timeout_s > 0:

        def stalled(phase: str, idle_s: float) -> None:
            for recorder in recorders:
                recorder.failed(StalledError(stall_message(phase, idle_s)))
            on_stall([r.run.run_id for r in recorders])

        watchdog = Watchdog(timeout_s, stalled)
        beat = watchdog.beat
    first = recorders[0].run
    checkpoint_every_s = 60.0 * spec.hardware.checkpoint_every_min
    diagnostics = diagnostics_enabled(spec)
    try:
        with watchdog:
            beat("building the envs and the trainer")
            reporter.phase(first.run_id, "building the envs and the trainer")
            trainer = _trainer(first, trainers)  # online or offline: the same loop drives both
            finals = drive(
                trainer.program([r.run.config for r in recorders], diagnostics),
                [r.callbacks(beat, announce=i == 0) for i, r in enumerate(recorders)],
                checkpoint_dirs=[r.rundir.checkpoint for r in recorders],
                checkpoint_every_s=checkpoint_every_s,
                stop=stop,
                diagnostics=diagnostics,
            )
    except Preempted as exc:
        return outcomes + [r.preempted(exc, stop) for r in recorders]
    except KeyboardInterrupt:
        for recorder in recorders:
            recorder.interrupted()
        raise
    except Exception as exc:  # a failing run is recorded and the sweep goes on
        return outcomes + [r.failed(exc) for r in recorders]
    else:  # before the trackers close: the final scores go to them too
        for recorder, final in zip(recorders, finals, strict=True):
            if isinstance(final, BaseException):  # a diverged seed of a group
                outcomes.append(recorder.failed(final))
            else:
                outcomes.append(recorder.completed(final))
        return outcomes
    finally:
        for recorder in recorders:
            if recorder.tracker is not None:
                recorder.tracker.close()
