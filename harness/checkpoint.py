"""Checkpoints of the full training state with orbax, for resume after preemption or a crash.

A checkpoint holds the whole :class:`~harness.train.TrainState` pytree (actor, critic and alpha
parameters, Adam states, the replay buffer, the envs' states, episode counters, the RNG key,
env and gradient step counters) plus a small JSON record of the host loop (iteration, how many
evaluations were done, wall seconds so far). Orbax writes to a temporary folder and renames it,
so a crash mid-save leaves the previous checkpoint intact; only the newest one is kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp


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
        """Write a checkpoint for ``iteration`` and wait until it is on disk."""
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
        if self._manager is not None:
            self._manager.close()
            self._manager = None


def _storable_abstract(abstract_state: Any) -> Any:
    return jax.tree_util.tree_map(
        lambda x: jax.ShapeDtypeStruct((1,), x.dtype) if _is_empty(x) else x, abstract_state
    )


def abstract(tree: Any) -> Any:
    """Shape-dtype skeleton of a pytree of arrays."""
    return jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), tree)
