"""Live experiment tracking: TensorBoard event files and Weights & Biases, per run.

The spec's ``logging`` section (:class:`~harness.spec.LoggingSpec`, not part of run ids) picks
the loggers; :func:`make_trackers` builds them for one run and the runner calls
``log(step, metrics)`` after every evaluation with the same metrics and steps as the run's
``metrics.parquet`` (env steps online, gradient steps offline) and ``close()`` at the end.

- TensorBoard (:class:`TensorBoardTracker`): event files in ``<run folder>/tensorboard/``,
  written with ``tensorboardX`` (no TensorFlow or PyTorch). ``tensorboard --logdir
  results/<spec>`` shows every run of a spec, named by its run id. A resumed run opens its
  writer with ``purge_step`` at its first new evaluation, so TensorBoard drops the evaluations
  that the earlier attempt recorded after its checkpoint (they are made again, as in the
  Parquet).
- Weights & Biases (:class:`WandbTracker`): one W&B run per harness run, id = the run id
  (``resume="allow"``: a resumed run continues it online), group = ``logging.wandb.group`` or
  the spec's name, config = the resolved run config plus ``run_id``, ``spec`` and the sweep
  values (``axes``), tags = env, algo, ``critic_depth=<d>``, ``actor_depth=<d>`` and the spec's
  tags. Offline mode writes ``<run folder>/wandb/offline-run-*``; ``wandb sync`` uploads it.

Each logger runs on a thread of its own (:class:`Guarded`): ``log`` only queues, so a slow
network never slows training, and a logger that raises (no network, quota, a full disk) warns
once and is dropped while the run goes on. ``close`` waits at most :data:`CLOSE_TIMEOUT_S`.
"""

from __future__ import annotations

import queue
import threading
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from harness.plan import PlannedRun
from harness.spec import Spec, WandbSpec
from harness.store import RunDir

#: Seconds ``close`` waits for a logger to flush (W&B finishing an upload) before moving on.
CLOSE_TIMEOUT_S = 30.0

#: Folder of the TensorBoard event files inside a run folder.
TENSORBOARD_DIR = "tensorboard"


class Tracker(Protocol):
    """What the runner calls: ``log`` after every evaluation, ``close`` once at the end."""

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        """Record ``metrics`` (flat ``name -> value``, names as in the Parquet) at ``step``
        (env steps online, gradient steps offline)."""
        ...

    def close(self) -> None:
        """Flush and release the logger."""
        ...


class NullTracker:
    """No logger configured: does nothing."""

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        pass

    def close(self) -> None:
        pass


class TensorBoardTracker:
    """Scalars to TensorBoard event files in ``logdir`` (``tensorboardX.SummaryWriter``),
    opened at the first ``log`` with ``purge_step`` = its step (see the module docstring)."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = Path(logdir)
        self._writer: Any = None

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        if self._writer is None:
            from tensorboardX import SummaryWriter

            self._writer = SummaryWriter(str(self.logdir), purge_step=int(step))
        for name, value in metrics.items():
            self._writer.add_scalar(name, float(value), int(step))
        self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def wandb_tags(run: PlannedRun, extra: list[str]) -> list[str]:
    """Tags of a run's W&B run: env, algo, critic and actor depth, then ``extra``."""
    cfg = run.config
    tags = [
        cfg.env_label,
        cfg.algo.name,
        f"critic_depth={cfg.network.critic_depth}",
        f"actor_depth={cfg.network.actor_depth}",
    ]
    return list(dict.fromkeys(tags + list(extra)))


def wandb_config(spec: Spec, run: PlannedRun) -> dict[str, Any]:
    """Config of a run's W&B run: the resolved run config plus ``run_id``, ``spec``, ``axes``."""
    return {
        **run.config.model_dump(mode="json"),
        "run_id": run.run_id,
        "spec": spec.name,
        "axes": dict(run.axes),
    }


class WandbTracker:
    """One W&B run per harness run (see the module docstring); started at the first ``log``."""

    def __init__(self, settings: WandbSpec, spec: Spec, run: PlannedRun, rundir: RunDir) -> None:
        self.settings = settings
        self.spec, self.run, self.rundir = spec, run, rundir
        self._run: Any = None

    def _start(self) -> Any:
        import wandb

        cfg = self.run.config
        return wandb.init(
            project=self.settings.project,
            entity=self.settings.entity,
            group=self.settings.group or self.spec.name,
            tags=wandb_tags(self.run, self.settings.tags),
            config=wandb_config(self.spec, self.run),
            name=(
                f"{cfg.env_label} {cfg.algo.name} critic {cfg.network.critic_depth} actor "
                f"{cfg.network.actor_depth} seed {cfg.seed} ({self.run.run_id})"
            ),
            id=self.run.run_id,
            resume="allow",
            mode=self.settings.mode,
            dir=str(self.rundir.path),
            reinit="create_new",
            settings=wandb.Settings(silent=True, console="off"),
        )

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        if self._run is None:
            self._run = self._start()
        self._run.log({name: float(value) for name, value in metrics.items()}, step=int(step))

    def close(self) -> None:
        if self._run is not None:
            self._run.finish()


_STOP = object()


class Guarded:
    """Runs a tracker on a background thread and keeps its failures away from the run.

    ``log`` puts the call on a queue and returns at once. The first exception the tracker
    raises is reported once through ``warn`` (``"<name> logging failed: ...; the run goes on
    without it"``) and every later call is dropped. ``close`` closes the tracker and waits at
    most ``close_timeout_s`` for it (then warns and leaves it to finish on its daemon thread).
    """

    def __init__(
        self,
        name: str,
        tracker: Tracker,
        warn: Callable[[str], None],
        close_timeout_s: float = CLOSE_TIMEOUT_S,
    ) -> None:
        self.name, self.tracker, self.warn = name, tracker, warn
        self.close_timeout_s = close_timeout_s
        self.failed = False
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._work, name=f"tracker-{name}", daemon=True)
        self._thread.start()
        self._closed = False

    def _fail(self, exc: BaseException) -> None:
        if not self.failed:
            self.failed = True
            self.warn(
                f"{self.name} logging failed: {type(exc).__name__}: {exc}; the run goes on "
                "without it"
            )

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                if not self.failed:
                    try:
                        self.tracker.close()
                    except Exception as exc:
                        self._fail(exc)
                return
            if self.failed:
                continue
            step, metrics = item
            try:
                self.tracker.log(step, metrics)
            except Exception as exc:
                self._fail(exc)

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        if not self.failed and not self._closed:
            self._queue.put((int(step), dict(metrics)))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(self.close_timeout_s)
        if self._thread.is_alive():
            self.warn(
                f"{self.name} logging did not finish within {self.close_timeout_s:.0f}s; "
                "it goes on in the background"
            )


class Trackers:
    """Several trackers behind one: ``log`` and ``close`` go to each."""

    def __init__(self, trackers: list[Tracker]) -> None:
        self.trackers = trackers

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        for tracker in self.trackers:
            tracker.log(step, metrics)

    def close(self) -> None:
        for tracker in self.trackers:
            tracker.close()


def _warn(message: str) -> None:
    warnings.warn(message, RuntimeWarning, stacklevel=2)


#: Environment variable that turns the diagnostics off whatever specs say (``off``, ``0``,
#: ``false``): a test suite or CI skips their extra compilation.
DIAGNOSTICS_ENV = "HARNESS_DIAGNOSTICS"


def diagnostics_enabled(spec: Spec) -> bool:
    """Whether runs of ``spec`` record ``diag/*`` (:mod:`harness.diagnostics`):
    ``logging.diagnostics`` (default true), unless :data:`DIAGNOSTICS_ENV` says ``off``."""
    import os

    if os.environ.get(DIAGNOSTICS_ENV, "").lower() in ("off", "0", "false", "no"):
        return False
    return bool(spec.logging.diagnostics)


def make_trackers(
    spec: Spec,
    run: PlannedRun,
    rundir: RunDir,
    warn: Callable[[str], None] | None = None,
) -> Tracker:
    """The loggers that ``spec.logging`` asks for, for one run, each :class:`Guarded`.

    Nothing is opened until the first ``log``; building never raises for a logger's sake.

    Args:
        spec: the validated spec (its ``logging`` section and name).
        run: the planned run (config, run id, sweep values).
        rundir: the run's folder (TensorBoard and offline W&B files go inside).
        warn: called once per failing logger with a message; default ``warnings.warn``.

    Returns:
        a :class:`Tracker` (a :class:`NullTracker` when no logger is on).
    """
    warn = warn or _warn
    logging = spec.logging
    trackers: list[Tracker] = []
    if logging.tensorboard:
        tb = TensorBoardTracker(rundir.path / TENSORBOARD_DIR)
        trackers.append(Guarded("TensorBoard", tb, warn))
    if logging.wandb is not None and logging.wandb.mode != "disabled":
        wb = WandbTracker(logging.wandb, spec, run, rundir)
        trackers.append(Guarded("Weights & Biases", wb, warn))
    if not trackers:
        return NullTracker()
    return trackers[0] if len(trackers) == 1 else Trackers(trackers)
