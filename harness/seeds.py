"""Many seeds in one program: a trainer's pure functions ``jax.vmap``-ed over a seed axis.

The runs of one config that differ only in their seed (``hardware.seed_group``) train together:
the whole :class:`~harness.train.TrainState` (agent, replay, env states, keys, counters) gets a
leading axis of size ``n`` and one jitted ``collect`` / ``update`` / ``evaluate`` steps every
seed at once, as PureJaxRL vmaps its training over seeds (Lu et al. 2022, "Discovered Policy
Optimisation"). Shallow networks then fill the vector units (and a GPU) that one seed leaves
idle, and the group compiles and dispatches once instead of ``n`` times.

Each seed's randomness is its own: its state is built from its own ``PRNGKey(seed)`` by the
same ``init`` and carries its own key, so its key stream is the one it has when it runs alone.
Its numbers match a solo run's to float tolerance (batched matmuls may sum in another order, so
they drift apart slowly over a run; ``tests/test_seed_groups.py``).

A group of one uses the trainer's own unbatched programs and states, so ``seed_group: 1`` is
exactly the solo run (same programs, same checkpoints).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from harness.checkpoint import Checkpointer
from harness.spec import RunConfig


class SeedGroup:
    """The jitted programs of a :class:`harness.train.Trainer` over ``n`` seeds.

    Args:
        trainer: the trainer of the group's config (any seed: the seed is a run-time input).
        n: seeds in the group (>= 1).

    States of a group of ``n > 1`` have a leading axis ``[n, ...]`` on every leaf; a group of 1
    holds a plain state. Metrics come back as NumPy arrays ``[n]`` either way.
    """

    def __init__(self, trainer: Any, n: int) -> None:
        if n < 1:
            raise ValueError(f"a seed group needs at least one seed, got {n}")
        self.trainer = trainer
        self.n = n
        if n > 1:
            options = trainer.compiler_options
            self._init = jax.jit(jax.vmap(trainer._init), compiler_options=options)
            self._collect = jax.jit(
                jax.vmap(trainer._collect, in_axes=(0, None)),
                donate_argnums=0,
                compiler_options=options,
            )
            self._update = jax.jit(jax.vmap(trainer._update), donate_argnums=0)
            self._evaluate = jax.jit(
                jax.vmap(trainer._evaluate, in_axes=(0, 0, None)), compiler_options=options
            )

    # ------------------------------------------------------------------------------------
    def init(self, keys: jax.Array) -> Any:
        """Initial states from per-seed keys ``[n, 2]`` (uint32 PRNG keys)."""
        if self.n == 1:
            return self.trainer.init(keys[0])
        return self._init(keys)

    def abstract_seed_state(self, key: jax.Array) -> Any:
        """Shapes and dtypes of one seed's state (what its checkpoint holds)."""
        return jax.eval_shape(self.trainer.init, key)

    def prefill(self, ts: Any) -> Any:
        """Every seed's replay prefill (:meth:`harness.train.Trainer.prefill`)."""
        if self.n == 1:
            return self.trainer.prefill(ts)
        uniform = jnp.asarray(self.trainer.cfg.data.prefill == "uniform")
        for _ in range(self.trainer.sched.prefill_iters):
            ts = self._collect(ts, uniform)
        return ts

    def iteration(self, ts: Any) -> tuple[Any, dict[str, jax.Array]]:
        """One training iteration of every seed (:meth:`harness.train.Trainer.iteration`);
        metrics ``[n]`` (left on the device)."""
        if self.n == 1:
            ts, metrics = self.trainer.iteration(ts)
            return ts, jax.tree_util.tree_map(lambda x: x[None], metrics)
        return self._update(self._collect(ts, jnp.asarray(False)))

    def evaluate(self, ts: Any, keys: jax.Array, random_policy: bool) -> dict[str, np.ndarray]:
        """Evaluation of every seed's actor with its own key (``keys`` ``[n, 2]``); metrics as
        NumPy ``[n]`` (:meth:`harness.train.Trainer.evaluate`)."""
        flag = jnp.asarray(random_policy)
        if self.n == 1:
            out = self.trainer.evaluate(ts.agent.actor_params, keys[0], flag)
        else:
            out = self._evaluate(ts.agent.actor_params, keys, flag)
        return {k: np.atleast_1d(np.asarray(v)) for k, v in jax.device_get(out).items()}

    # ------------------------------------------------------------------------------------
    def take(self, ts: Any, i: int) -> Any:
        """Seed ``i``'s state, as a solo run of it would hold it."""
        if self.n == 1:
            return ts
        return jax.tree_util.tree_map(lambda x: x[i], ts)

    def stack(self, states: list[Any]) -> Any:
        """The group state of per-seed states (restored checkpoints)."""
        if self.n == 1:
            return states[0]
        return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *states)

    def counter(self, value: jax.Array) -> int:
        """A step counter shared by the seeds (``env_steps``, ``grad_steps``) as an int."""
        return int(np.asarray(value).reshape(-1)[0])

    def recompiles(self) -> int:
        """Programs compiled beyond one per jitted function (:meth:`Trainer.recompiles`)."""
        if self.n == 1:
            return int(self.trainer.recompiles())
        return sum(
            max(0, f._cache_size() - 1)  # type: ignore[attr-defined]
            for f in (self._init, self._collect, self._update, self._evaluate)
        )


def group_memory_bytes(
    n: int, replay_bytes: int, param_count: int, optimiser_copies: int = 3
) -> int:
    """Expected device memory of a seed group's state: ``n`` replays plus ``n`` copies of the
    parameters with their Adam moments (``optimiser_copies`` float32 arrays per parameter:
    the parameters, Adam's first and second moments; TD targets add one more).

    Args:
        n: seeds in the group.
        replay_bytes: one seed's replay buffer, bytes.
        param_count: one seed's trainable parameters (actor + critic).
        optimiser_copies: float32 arrays kept per parameter.

    Returns:
        Bytes; activations, env states and XLA's scratch space are not counted.
    """
    return n * (replay_bytes + 4 * optimiser_copies * param_count)


def seed_metrics(metrics: dict[str, Any], i: int, prefix: str) -> dict[str, float]:
    """Seed ``i``'s metrics of per-seed arrays ``[n]``, as ``prefix/name -> float``."""
    return {f"{prefix}/{k}": float(v[i]) for k, v in metrics.items()}


def check_one_config(cfgs: list[RunConfig], built_for: RunConfig) -> None:
    """The configs of a group equal the trainer's up to the seed."""
    base = built_for.seedless_key
    for cfg in cfgs:
        if cfg.seedless_key != base:
            raise ValueError("the runs of a seed group must differ only in their seed")


def restore_group(
    ckpts: list[Checkpointer], abstract_state: Any
) -> tuple[list[Any], dict[str, Any]] | None:
    """Every seed's newest checkpoint, or None when no seed has one.

    Raises:
        ValueError: some seeds have a checkpoint and others none, or of other iterations
            (a group is formed from seeds at one iteration: harness.runner).
    """
    steps = [c.latest_step() for c in ckpts]
    if all(s is None for s in steps):
        return None
    if len(set(steps)) > 1:
        raise ValueError(f"the seeds of a group resume from different iterations: {steps}")
    restored = [c.restore(abstract_state) for c in ckpts]
    states = [r[0] for r in restored if r is not None]
    return states, restored[0][1] if restored[0] is not None else {}
