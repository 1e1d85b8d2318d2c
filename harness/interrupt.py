"""A graceful stop: SIGTERM, SIGINT (Ctrl-C), SIGUSR1 and SIGUSR2 ask training to stop with a
checkpoint instead of killing it.

:func:`run_stoppable` runs the work (training) in a worker thread and waits for it on the main
thread, where Python runs signal handlers: a first signal sets a :class:`StopRequest`, which
training reads at its next iteration boundary (:func:`harness.driver.drive`: it finishes
the step it is in, writes a checkpoint and raises :class:`harness.driver.Preempted`); the main
thread then waits at most ``timeout_s`` for the work to end. When it does not (a checkpoint
too large for the time left, a thread stuck in XLA), or when a second signal comes (a second
Ctrl-C), ``on_abandon`` is called and the process leaves at once with the conventional code,
128 + the signal's number (:attr:`StopRequest.exit_code`: 143 for SIGTERM, 130 for SIGINT).
The worker keeps the main thread free: a handler could not run while the main thread itself
waits inside XLA.

A leaf module: imports nothing of the harness.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

#: The signals that stop a run gracefully: ``kill``, container stops and ``timeout`` (SIGTERM),
#: Ctrl-C (SIGINT), and the user signals schedulers send before a time limit (SIGUSR1,
#: SIGUSR2; Slurm's ``--signal``).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2)

T = TypeVar("T")


def signal_name(signum: int) -> str:
    """``SIGTERM`` for 15, and so on (``signal N`` for a number Python does not name)."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class StopRequest(threading.Event):
    """A request to stop training at the next iteration boundary, with a checkpoint.

    A :class:`threading.Event` (training only asks :meth:`is_set`) that also keeps which signal
    asked first and when (``signum`` None: asked by code, e.g. Slurm's requeue).
    """

    def __init__(self) -> None:
        super().__init__()
        self.signum: int | None = None
        self.requested_at: float | None = None  # time.monotonic()

    def request(self, signum: int | None = None) -> None:
        """Ask for the stop (the first signal is the one kept)."""
        if not self.is_set():
            self.signum, self.requested_at = signum, time.monotonic()
        self.set()

    @property
    def name(self) -> str | None:
        """The signal's name (``SIGTERM``), or None when no signal asked."""
        return None if self.signum is None else signal_name(self.signum)

    @property
    def exit_code(self) -> int:
        """The conventional exit code of a process stopped by the signal: 128 + its number
        (143 SIGTERM, 130 SIGINT, 138 SIGUSR1, 140 SIGUSR2 on Linux); 1 without a signal."""
        return 128 + self.signum if self.signum is not None else 1


def run_stoppable(
    work: Callable[[StopRequest], T],
    timeout_s: float,
    on_abandon: Callable[[StopRequest, str], None],
    signals: tuple[int, ...] = STOP_SIGNALS,
    on_request: Callable[[StopRequest], None] | None = None,
) -> tuple[T, StopRequest]:
    """Run ``work(stop)`` in a worker thread with the stop signals turned into ``stop``.

    Args:
        work: the training; it must read ``stop`` and return soon after it is set.
        timeout_s: seconds the work may take after the first signal (to finish its step and
            write a checkpoint) before the process leaves without waiting for it.
        on_abandon: called on the main thread just before the process leaves without the
            work's end, with ``stop`` and why (``no checkpoint within 60 s``, ``a second
            SIGINT``); it should record that and print one line, quickly.
        signals: the signals to handle; the previous handlers are restored on return.
        on_request: called on the main thread when the first signal arrives (e.g. to say
            on a terminal that a second Ctrl-C exits at once).

    Returns:
        What ``work`` returned, and the stop request (set when a signal came).

    Raises:
        BaseException: whatever ``work`` raised, re-raised on the calling thread.

    Never returns after ``on_abandon``: the process exits with :attr:`StopRequest.exit_code`
    (``os._exit``, as the worker thread cannot be stopped).
    From a thread other than the main one (signal handlers cannot be installed there),
    ``work`` runs in the calling thread with a stop request no signal sets.
    """
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        return work(stop), stop
    result: list[Any] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(work(stop))
        except BaseException as exc:  # re-raised on the main thread
            error.append(exc)

    def abandon(reason: str) -> None:
        try:
            on_abandon(stop, reason)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(stop.exit_code)

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():  # a second signal: leave now
            abandon(f"a second {signal_name(signum)}")
            return
        stop.request(signum)
        if on_request is not None:
            on_request(stop)

    previous = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        worker = threading.Thread(target=target, name="harness-train", daemon=True)
        worker.start()
        while worker.is_alive():
            worker.join(0.1)  # the handlers run between two waits
            asked = stop.requested_at
            if asked is not None and worker.is_alive() and time.monotonic() - asked > timeout_s:
                abandon(f"no checkpoint within {timeout_s:g} s")
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
    if error:
        raise error[0]
    return result[0], stop
