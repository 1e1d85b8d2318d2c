"""A watchdog that turns a run making no progress into a failed run, instead of a silent hang.

Training reports each phase it enters (``harness.train.Callbacks.on_phase``: "init and prefill",
"training iteration 12", "evaluation", "checkpoint", ...). When no phase starts for
``timeout_s`` seconds, a daemon thread calls ``on_stall(phase, idle_s)`` once. The thread that
hangs is usually stuck inside XLA (a wait that never returns, e.g. the CPU runtime hang in
docs/envs.md), where no Python exception can reach it, so the stall handler of the executors
records the run as failed and then leaves the process: the local executor starts the same
``harness run`` again, which skips the stalled run and goes on with the sweep
(:func:`reexec_skipping`); a Slurm task exits non-zero so the allocation is not burned
(:func:`exit_stalled`).

The timeout is ``hardware.stall_timeout_min`` (0 disables it); it must exceed the longest single
phase of a healthy run, the first iteration's compilation included.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType

#: Environment variable naming, comma-separated, the run ids that stalled earlier in this
#: ``harness run`` (set by :func:`reexec_skipping`; the local executor skips them).
STALLED_ENV = "HARNESS_STALLED_RUNS"

#: Exit code of a process that left because a run stalled (and could not go on in-process).
EXIT_STALLED = 3


class StalledError(RuntimeError):
    """A run made no progress for longer than its stall timeout (``run.json``'s error type)."""


def stall_message(phase: str, idle_s: float) -> str:
    """The error recorded for a stalled run: ``no progress for N s in <phase>``."""
    return (
        f"no progress for {idle_s:.0f} s in {phase} (hardware.stall_timeout_min; the process "
        "was stopped so the sweep can go on)"
    )


class Watchdog:
    """Calls ``on_stall(phase, idle_s)`` from a daemon thread when :meth:`beat` is not called
    for ``timeout_s`` seconds; at most once. Use as a context manager around training.

    Args:
        timeout_s: seconds without a beat that count as a stall (> 0).
        on_stall: what to do then; runs on the watchdog thread while the training thread is
            still stuck, so it must not wait for that thread.
        poll_s: how often the thread looks (default: a tenth of the timeout, at most 5 s).
    """

    def __init__(
        self,
        timeout_s: float,
        on_stall: Callable[[str, float], None],
        poll_s: float | None = None,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.timeout_s = float(timeout_s)
        self.on_stall = on_stall
        self.poll_s = poll_s if poll_s is not None else min(5.0, self.timeout_s / 10)
        self._phase = "start"
        self._last = time.monotonic()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self.fired = False

    def beat(self, phase: str | None = None) -> None:
        """Progress was made; ``phase`` names what the run does next (kept when None)."""
        if phase is not None:
            self._phase = phase
        self._last = time.monotonic()

    def _watch(self) -> None:
        while not self._done.wait(self.poll_s):
            idle = time.monotonic() - self._last
            if idle >= self.timeout_s:
                self.fired = True
                self.on_stall(self._phase, idle)
                return

    def __enter__(self) -> Watchdog:
        self.beat()
        self._thread = threading.Thread(target=self._watch, name="harness-watchdog", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._done.set()


def stalled_runs() -> set[str]:
    """Run ids that stalled earlier in this ``harness run`` (from :data:`STALLED_ENV`)."""
    return {r for r in os.environ.get(STALLED_ENV, "").split(",") if r}


def reexec_skipping(run_ids: list[str]) -> None:
    """Start this process's command again in its place, with ``run_ids`` added to the stalled
    runs it skips; never returns. The new process has a fresh XLA runtime, the run locks of
    this one are released (their files close on exec), and the sweep goes on."""
    skip = sorted(stalled_runs() | set(run_ids))
    os.environ[STALLED_ENV] = ",".join(skip)
    sys.stdout.flush()
    sys.stderr.flush()
    argv = list(getattr(sys, "orig_argv", [sys.executable, *sys.argv]))
    os.execv(sys.executable, [sys.executable, *argv[1:]])


def exit_stalled(run_ids: list[str]) -> None:
    """Leave the process at once with :data:`EXIT_STALLED` (a Slurm task: the job is marked
    failed and not requeued; the stuck thread cannot be joined)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_STALLED)
