"""One host loop for every kind of training: online solo runs, seed groups and offline runs.

The trainers (:mod:`harness.train`, :mod:`harness.offline`) compile pure programs (collect,
update, evaluate) and describe them to :func:`drive` through a :class:`Program`; the loop here
owns everything around them, once: resuming from a checkpoint, the evaluation before training,
evaluations on the program's schedule with the NaN check (a diverged seed of a group is masked
out and the others go on; a lone run raises), the depth diagnostics after that check, the
steps-per-second window (compiling calls left out), ``perf/first_iter_s``, checkpoints on a
wall-clock period and on preemption, the progress and phase hooks
(:class:`harness.progress.Callbacks`), and the final parameters. It is the shape of Brax's
training loops: pure ``training_epoch`` programs under a thin host loop with a ``progress_fn``.

A program runs ``n`` seeds (1 offline) and ``num_iters`` iterations (online: collect + update
of ``steps_per_iter`` env steps; offline: a chunk of gradient steps that ends at the next
evaluation); the state holds every seed (a leading axis when ``n > 1``).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import jax

from harness import behaviour
from harness.checkpoint import Checkpointer
from harness.progress import Callbacks


class Preempted(Exception):
    """Training stopped on request (time limit, preemption) after writing a checkpoint."""


@dataclass
class Start:
    """Where a run starts: a fresh state or a restored checkpoint.

    Attributes:
        state: the training state of every seed.
        first_it: the first iteration to run (1 for a fresh run).
        eval_index: evaluations already made (0: the one before training is still to make).
        wall_s: training seconds before this process (the checkpoint's).
        first_iter_s: the first iteration's seconds, compilation included, when known.
        resumed: the ``on_resume`` info of a restored checkpoint; None for a fresh run.
    """

    state: Any
    first_it: int = 1
    eval_index: int = 0
    wall_s: float = 0.0
    first_iter_s: float | None = None
    resumed: dict[str, Any] | None = None


class Program(Protocol):
    """What a trainer gives the loop (:class:`harness.train.OnlineProgram`,
    :class:`harness.offline.OfflineProgram`)."""

    n: int
    num_iters: int
    window_per_eval: bool  # the rate window restarts after each evaluation

    def start(self, ckpts: list[Checkpointer] | None, phase: Callable[[str], None]) -> Start:
        """A fresh state (initialised, prefilled) or the checkpoints' (every seed's); says
        its phases ("init and prefill ...") to ``phase``."""
        ...

    def iteration_phase(self, it: int) -> str: ...

    def iteration(self, state: Any, it: int) -> tuple[Any, Any, int]:
        """Run iteration ``it``: ``(state, train metrics, units)``; units (env or gradient
        steps) count toward the rate."""
        ...

    def progress(self, state: Any, rate: float) -> dict[str, Any]:
        """The ``on_progress`` info after an iteration (``rate``: units per second)."""
        ...

    def eval_due(self, it: int, eval_index: int) -> bool:
        """Evaluation ``eval_index`` (1-based) follows iteration ``it``."""
        ...

    def first_evaluation(self, state: Any) -> list[dict[str, float]]:
        """Per seed: ``eval/*`` and ``random/*`` before training."""
        ...

    def evaluation(self, state: Any, eval_index: int, train: Any) -> list[dict[str, float]]:
        """Per seed: ``eval/*``, ``train/*`` (and ``val/*``) of evaluation ``eval_index``."""
        ...

    def diagnostics(self, state: Any) -> list[dict[str, float]]:
        """Per seed: ``diag/*`` (:mod:`harness.diagnostics`)."""
        ...

    def perf(self, units: int, elapsed: float, first_iter_s: float) -> dict[str, float]:
        """``perf/*`` from the rate window (``units`` in ``elapsed`` seconds)."""
        ...

    def point(self, state: Any, it: int, eval_index: int) -> dict[str, Any]:
        """``iteration`` (the label ``on_resume`` rolls back to), ``env_steps`` and
        ``grad_steps`` of an evaluation point."""
        ...

    def checkpoint(
        self, state: Any, it: int, eval_index: int, wall_s: float, first_iter_s: float | None
    ) -> tuple[int, dict[str, Any]]:
        """The checkpoint's step number and record at iteration ``it``."""
        ...

    def seed_state(self, state: Any, i: int) -> Any:
        """Seed ``i``'s state, as a solo run holds it (what its checkpoint stores)."""
        ...

    def where(self, state: Any) -> str:
        """Where training stands, for messages ("env step 12,800")."""
        ...

    def finish(self, seed_state: Any, i: int, run_dir: Path, hooks: Callbacks) -> None:
        """Write seed ``i``'s final outputs (parameters, ...) in its run folder."""
        ...


@dataclass
class _Window:
    """The steps-per-second window: units since ``start``, compiling calls left out."""

    start: float = 0.0
    units: int = 0

    def restart(self) -> None:
        self.start, self.units = time.perf_counter(), 0

    def rate(self) -> float:
        elapsed = time.perf_counter() - self.start
        return self.units / elapsed if elapsed > 0 and self.units else 0.0


class _Loop:
    """The state of one :func:`drive` call (see its docstring)."""

    def __init__(
        self,
        program: Program,
        hooks: list[Callbacks],
        checkpoint_dirs: list[Path] | None,
        checkpoint_every_s: float,
        diagnostics: bool,
    ) -> None:
        self.p, self.hooks, self.n = program, hooks, program.n
        self.dirs = checkpoint_dirs
        self.ckpts = [Checkpointer(d) for d in checkpoint_dirs] if checkpoint_dirs else None
        self.every_s, self.diagnostics = checkpoint_every_s, diagnostics
        self.clock = time.perf_counter()
        self.failed: dict[int, Exception] = {}
        self.last: list[dict[str, float]] = [{} for _ in range(self.n)]
        self.saved_step: int | None = None
        self.last_ckpt = time.perf_counter()
        self.window = _Window()
        self.evaluated = True  # the evaluations of this process compiled (train() sets it)

    def phase(self, name: str) -> None:
        for hook in self.hooks:
            hook.phase(name)

    def live(self) -> list[int]:
        return [i for i in range(self.n) if i not in self.failed]

    def wall(self) -> float:
        return self.wall_offset + time.perf_counter() - self.clock

    def start(self) -> None:
        if self.ckpts is not None:
            self.phase("restoring the checkpoint")
        s = self.p.start(self.ckpts, self.phase)
        self.state, self.eval_index, self.first_it = s.state, s.eval_index, s.first_it
        self.wall_offset, self.first_iter_s = s.wall_s, s.first_iter_s
        self.resumed = s.resumed is not None
        for hook in self.hooks:
            if s.resumed is not None and hook.on_resume:
                hook.on_resume(s.resumed)

    def emit(self, it: int, metrics: list[dict[str, float]]) -> None:
        point = {**self.p.point(self.state, it, self.eval_index), "wall_s": self.wall()}
        for i in self.live():
            self.last[i] = metrics[i]
            on_eval = self.hooks[i].on_eval
            if on_eval:
                on_eval({**point, "metrics": metrics[i]})

    def save(self, it: int) -> None:
        if self.ckpts is None:
            return
        step, record = self.p.checkpoint(
            self.state, it, self.eval_index, self.wall(), self.first_iter_s
        )
        if step == self.saved_step:
            return
        self.phase("checkpoint")
        self.saved_step = step
        for i in self.live():
            self.ckpts[i].save(step, self.p.seed_state(self.state, i), record)
            on_checkpoint = self.hooks[i].on_checkpoint
            if on_checkpoint:
                point = self.p.point(self.state, it, self.eval_index)
                on_checkpoint({"iteration": point["iteration"], "env_steps": point["env_steps"]})
        self.last_ckpt = time.perf_counter()

    def first_evaluation(self) -> None:
        self.phase("evaluation (compiles the evaluation)")
        metrics = self.p.first_evaluation(self.state)
        if self.diagnostics:
            for m, d in zip(metrics, self.p.diagnostics(self.state), strict=True):
                m.update(d)
        self.emit(0, [behaviour.defined(m) for m in metrics])
        self.eval_index = 1
        self.save(0)

    def evaluate(self, it: int, train: Any) -> None:
        self.phase("evaluation")
        eval_start = time.perf_counter()
        metrics = [
            behaviour.defined(m) for m in self.p.evaluation(self.state, self.eval_index, train)
        ]
        for i in self.live():
            bad = sorted(k for k, v in metrics[i].items() if not math.isfinite(v))
            if bad:
                self.failed[i] = FloatingPointError(
                    f"non-finite metrics at {self.p.where(self.state)}: {', '.join(bad)} "
                    "(training diverged; try a lower learning rate)"
                )
                if self.n == 1:
                    raise self.failed[i]
        if not self.live():
            return
        if self.diagnostics:  # after the check: a diagnostic never fails a run (issue 17)
            for m, d in zip(metrics, self.p.diagnostics(self.state), strict=True):
                m.update(d)
        if not self.evaluated:  # a resumed process's first evaluation compiles: left out
            self.window.start += time.perf_counter() - eval_start
            self.evaluated = True
        elapsed = time.perf_counter() - self.window.start
        perf = self.p.perf(self.window.units, elapsed, float(self.first_iter_s or 0.0))
        self.emit(it, [{**m, **perf} for m in metrics])
        self.eval_index += 1
        if self.p.window_per_eval:
            self.window.restart()
        if it < self.p.num_iters and time.perf_counter() - self.last_ckpt >= self.every_s:
            self.save(it)

    def train(self, stop: threading.Event | None) -> None:
        self.window.restart()
        compiled = False  # this process's first iteration compiles, after a resume too
        self.evaluated = not self.resumed  # a start compiles the evaluation before the window
        for it in range(self.first_it, self.p.num_iters + 1):
            self.phase(self.p.iteration_phase(it) + ("" if compiled else " (compiles the update)"))
            call_start = time.perf_counter()
            self.state, train, units = self.p.iteration(self.state, it)
            if not compiled:  # left out of the rate window
                jax.block_until_ready(self.state)
                if self.first_iter_s is None:
                    self.first_iter_s = time.perf_counter() - call_start
                self.window.restart()
                compiled = True
            else:
                self.window.units += units
            if any(hook.on_progress for hook in self.hooks):
                jax.block_until_ready(self.state)
                info = self.p.progress(self.state, self.window.rate())
                for i in self.live():
                    on_progress = self.hooks[i].on_progress
                    if on_progress:
                        on_progress(info)
            if self.p.eval_due(it, self.eval_index):
                self.evaluate(it, train)
                if not self.live():
                    return
            if stop is not None and stop.is_set() and it < self.p.num_iters:
                self.save(it)
                raise Preempted(f"stopped at iteration {it} ({self.p.where(self.state)})")

    def finish(self) -> None:
        if self.dirs is None or not self.live():
            return
        self.phase("writing the final parameters")
        for i in self.live():
            seed_state = self.p.seed_state(self.state, i)
            self.p.finish(seed_state, i, Path(self.dirs[i]).parent, self.hooks[i])


def drive(
    program: Program,
    callbacks: list[Callbacks | None] | None = None,
    checkpoint_dirs: list[Path] | None = None,
    checkpoint_every_s: float = 0.0,
    stop: threading.Event | None = None,
    diagnostics: bool = True,
) -> list[dict[str, float] | Exception]:
    """Train ``program`` to its end, resuming from the seeds' checkpoints when they exist.

    Args:
        program: the trainer's programs (:class:`Program`), ``n`` seeds.
        callbacks: per seed (None entries: no hooks).
        checkpoint_dirs: per seed, where the newest checkpoint is kept; the run folder is
            its parent (final parameters). None: no checkpoints and no final outputs.
        checkpoint_every_s: checkpoint after an evaluation when at least this many seconds
            passed since the last checkpoint (0: after every evaluation).
        stop: when set (a signal handler), training writes a checkpoint at the next
            iteration boundary and raises :class:`Preempted`.
        diagnostics: add ``diag/*`` to every evaluation.

    Returns:
        Per seed: the final evaluation's metrics, or the ``FloatingPointError`` of a seed that
        diverged (a group of more than one seed goes on without it).

    Raises:
        Preempted: ``stop`` was set; every live seed's checkpoint is written.
        FloatingPointError: the lone seed of a program diverged.
    """
    hooks = [c or Callbacks() for c in (callbacks or [None] * program.n)]
    loop = _Loop(program, hooks, checkpoint_dirs, checkpoint_every_s, diagnostics)
    try:
        loop.start()
        if loop.eval_index == 0:
            loop.first_evaluation()
        loop.train(stop)
    finally:
        for ckpt in loop.ckpts or []:
            ckpt.close()
    loop.finish()
    return [loop.failed.get(i, loop.last[i]) for i in range(program.n)]
