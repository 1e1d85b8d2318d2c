"""Checkpoints of the full training state with orbax, for resume after preemption or a crash.

A checkpoint holds the whole :class:`~harness.train.TrainState` pytree (actor, critic and alpha
parameters, Adam states, the replay buffer, the envs' states, episode counters, the RNG key,
env and gradient step counters) plus a small JSON record of the host loop (iteration, how many
evaluations were done, wall seconds so far). Orbax writes to a temporary folder and renames it,
so a crash mid-save leaves the previous checkpoint intact; only the newest one is kept. A save
that fails for want of space or permission removes orbax's temporary folder and raises
:class:`~harness.store.WriteError` (one line: the folder and the cause).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

from harness.store import WriteError, remove_temporaries, write_cause


def _is_empty(leaf: Any) -> bool:
    return hasattr(leaf, "shape") and 0 in tuple(leaf.shape)


def _storable(tree: Any) -> Any:
    """Orbax cannot save arrays of size 0 (e.g. an MJX state's ``act`` for a model with no
    activation states): stand a one-element array in for each; :meth:`Checkpointer.restore`
    turns it back into the empty array of the target shape."""
    return jax.tree_util.tree_map(lambda x: jnp.zeros((1,), x.dtype) if _is_empty(x) else x, tree)


class Checkpointer:
    """Save and restore ``(TrainState, loop record)`` under ``directory``.

    Args:
        directory: the run's ``checkpoint/`` folder (created on first save).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory).resolve()
        self._manager: ocp.CheckpointManager | None = None
        self._failed = False

    def _mngr(self) -> ocp.CheckpointManager:
        if self._manager is None:
            options = ocp.CheckpointManagerOptions(
                max_to_keep=1, create=True, enable_async_checkpointing=False
            )
            self._manager = ocp.CheckpointManager(self.directory, options=options)
        return self._manager

    def latest_step(self) -> int | None:
        """Iteration of the newest complete checkpoint, or None."""
        if not self.directory.exists():
            return None
        return self._mngr().latest_step()

    def save(self, iteration: int, state: Any, record: dict[str, Any]) -> None:
        """Write a checkpoint for ``iteration`` and wait until it is on disk.

        Raises:
            WriteError: the disk is full or the folder cannot be written; the half-written
                checkpoint is removed and the previous one kept.
        """
        _mute_leftover_writes(failed=False)
        try:
            with _quiet_orbax():
                try:
                    mngr = self._mngr()
                    mngr.save(
                        iteration,
                        args=ocp.args.Composite(
                            state=ocp.args.StandardSave(_storable(state)),
                            record=ocp.args.JsonSave(record),
                        ),
                        force=True,
                    )
                    mngr.wait_until_finished()
                except Exception:
                    _settle_orbax_threads()  # their last words are held back here too
                    raise
        except Exception as exc:
            self._failed = True
            _mute_leftover_writes(failed=True)
            remove_temporaries(self.directory)
            found = write_cause(exc)
            if found is None:
                raise
            raise WriteError(self.directory, *found) from exc

    def restore(self, abstract_state: Any) -> tuple[Any, dict[str, Any]] | None:
        """Newest checkpoint as ``(state, record)``, or None when there is none.

        Args:
            abstract_state: a pytree of ``jax.ShapeDtypeStruct`` (``jax.eval_shape`` of init)
                giving the structure, shapes and dtypes to restore into.
        """
        step = self.latest_step()
        if step is None:
            return None
        restored = self._mngr().restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(_storable_abstract(abstract_state)),
                record=ocp.args.JsonRestore(),
            ),
        )
        state = jax.tree_util.tree_map(
            lambda target, value: (
                jnp.zeros(target.shape, target.dtype) if _is_empty(target) else value
            ),
            abstract_state,
            restored["state"],
        )
        return state, dict(restored["record"])

    def close(self) -> None:
        """Close the manager. After a failed save, a second error on closing is dropped: the
        first one is on its way up."""
        if self._manager is not None:
            manager, self._manager = self._manager, None
            try:
                with _quiet_orbax():
                    manager.close()
            except Exception:
                if not self._failed:
                    raise


def save_tree(directory: Path, tree: Any) -> None:
    """Write a pytree of arrays to ``directory`` (orbax ``StandardCheckpointer``), replacing
    what is there; restore with ``StandardCheckpointer().restore(directory)``.

    Raises:
        WriteError: the disk is full or the folder cannot be written; orbax's temporary
            folder is removed.
    """
    import shutil

    directory = Path(directory).resolve()
    if directory.exists():
        shutil.rmtree(directory)
    _mute_leftover_writes(failed=False)
    try:
        with _quiet_orbax():
            try:
                with ocp.StandardCheckpointer() as checkpointer:
                    checkpointer.save(directory, tree)
            except Exception:
                _settle_orbax_threads()
                raise
    except Exception as exc:
        _mute_leftover_writes(failed=True)
        for partial in directory.parent.glob(f"{directory.name}.orbax-checkpoint-tmp*"):
            shutil.rmtree(partial, ignore_errors=True)
        found = write_cause(exc)
        if found is None:
            raise
        raise WriteError(directory, *found) from exc


@contextlib.contextmanager
def _quiet_orbax() -> Iterator[None]:
    """Hold back what orbax logs while it saves (through absl, to stderr) and let it out only
    when the save succeeds: on a full disk orbax logs each failing array write with its
    traceback (about 100 lines), and the :class:`~harness.store.WriteError` raised instead
    says it in one."""
    held: list[logging.LogRecord] = []

    class _Hold(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            if not any(record is seen for seen in held):  # several handlers see one record
                held.append(record)
            return False

    hold = _Hold()
    loggers = [logging.getLogger(), logging.getLogger("absl")]
    # Records made on those loggers, and those that reach their handlers or Python's last
    # resort (stderr, used when no handler is set up, as without absl.app).
    held_by: list[logging.Filterer] = [*loggers, *(h for lg in loggers for h in lg.handlers)]
    if logging.lastResort is not None:
        held_by.append(logging.lastResort)
    for filterer in held_by:
        filterer.addFilter(hold)
    try:
        yield
    except BaseException:
        held.clear()
        raise
    finally:
        for filterer in held_by:
            filterer.removeFilter(hold)
    for record in held:
        logging.getLogger(record.name).handle(record)


def _settle_orbax_threads(timeout_s: float = 30.0) -> None:
    """Wait (at most ``timeout_s`` in all) for orbax's background threads of a failed save:
    each logs its own error (``_SignalingThread.run() raised an exception: RESOURCE_EXHAUSTED
    ...`` with a traceback) when it ends, which under load can be after the save has raised;
    waiting here keeps those records inside :func:`_quiet_orbax`, whatever the timing."""
    deadline = time.monotonic() + timeout_s
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and "orbax" in type(thread).__module__:
            thread.join(max(0.0, deadline - time.monotonic()))


class _DiskNoise(logging.Filter):
    """Drops what orbax (and absl on its behalf) logs about a write that failed for want of
    space or permission, at any time: the :class:`~harness.store.WriteError` says it once."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "orbax" not in record.pathname and "orbax" not in record.name:
            return True
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and write_cause(error) is not None:
            return False
        text = record.getMessage() if record.args else str(record.msg)
        # tensorstore's status for a full disk: RESOURCE_EXHAUSTED: Error writing "zarr" ...
        return "RESOURCE_EXHAUSTED" not in text and write_cause(RuntimeError(text)) is None


_muted: set[str] = set()


def _mute_leftover_writes(failed: bool) -> None:
    """Silence the noise of the writes orbax has in flight when a save fails: each one that
    ends after orbax closed its event loop prints ``RuntimeError: Event loop is closed`` with
    a traceback (through ``sys.unraisablehook``; this starts while the save is still failing,
    so it is muted from the first save on); after a failed save, asyncio logs the futures whose
    disk error nobody read ("exception was never retrieved"), Python warns of coroutines
    that never ran, at garbage collection, and orbax's writer threads may log their disk error
    after the save returned (:class:`_DiskNoise`, on absl's and the root logger, their handlers
    and ``logging.lastResort``). Only those are dropped; each filter is installed once per
    process."""
    if "loop" not in _muted:
        _muted.add("loop")
        previous = sys.unraisablehook

        def unraisable(info: Any) -> None:
            closed = isinstance(info.exc_value, RuntimeError) and (
                str(info.exc_value) == "Event loop is closed"
            )
            if not closed:
                previous(info)

        sys.unraisablehook = unraisable
    if failed and "failed" not in _muted:
        _muted.add("failed")

        class _Unread(logging.Filter):
            def filter(self, record: logging.LogRecord) -> bool:
                error = record.exc_info[1] if record.exc_info else None
                unread = "exception was never retrieved" in str(record.msg)
                return not (unread and error is not None and write_cause(error) is not None)

        logging.getLogger("asyncio").addFilter(_Unread())
        noise = _DiskNoise()  # records made on absl's logger, and any reaching a handler
        absl, root = logging.getLogger("absl"), logging.getLogger()
        for filterer in (absl, root, *absl.handlers, *root.handlers, logging.lastResort):
            if filterer is not None:
                filterer.addFilter(noise)
        warnings.filterwarnings(
            "ignore", message="coroutine .* was never awaited", category=RuntimeWarning
        )


def _storable_abstract(abstract_state: Any) -> Any:
    return jax.tree_util.tree_map(
        lambda x: jax.ShapeDtypeStruct((1,), x.dtype) if _is_empty(x) else x, abstract_state
    )


def abstract(tree: Any) -> Any:
    """Shape-dtype skeleton of a pytree of arrays."""
    return jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), tree)


def save_params(directory: Path, agent: Any) -> None:
    """Write the final parameters of an agent state: every field but the optimiser states
    (``*_opt``). For CRL: ``actor_params``, ``critic_params`` and ``log_alpha`` (value maps,
    evaluation); SAC adds ``target_critic_params``, TD3 its targets and step counter.

    Restore with ``orbax.checkpoint.StandardCheckpointer().restore(directory)``.
    """
    payload = {
        f.name: getattr(agent, f.name)
        for f in dataclasses.fields(agent)
        if not f.name.endswith("_opt")
    }
    save_tree(directory, payload)
