"""Goal-conditioned behaviour cloning (GCBC) with hindsight goals and the deep residual actor.

The policy is the same :class:`~harness.networks.Actor` as CRL's (depth and width from the
``network`` section), so depth compares across methods. Following OGBench's GCBC (Park et al.
2024, arXiv 2410.20092, ``impls/agents/gcbc.py``: a Gaussian actor with a constant unit standard
deviation), the loss is the negative log-likelihood of the dataset action ``a`` under
``N(mu, I)`` with ``mu = tanh(mean(s, g))``, i.e. ``mean(0.5 * ||mu - a||^2)`` up to a constant.
Goals are hindsight goals: future states of the same trajectory (OGBench: uniform over the rest
of the trajectory; see :mod:`harness.offline`).

Interface as :class:`~harness.agents.crl.CRL`: ``init(key) -> state``,
``update(state, batch, key) -> (state, metrics)``, ``act(params, obs, key, deterministic)``.
"""

from __future__ import annotations

from typing import Any, cast

import jax
import jax.numpy as jnp
import optax
from flax import struct

from harness.agents.base import GradientProbe
from harness.agents.crl import make_actor
from harness.batches import Batch
from harness.networks import apply_updates, weight_projection
from harness.spec import RunConfig


@struct.dataclass
class GCBCState:
    """Actor parameters and their Adam state."""

    actor_params: Any
    actor_opt: Any


class GCBC:
    """GCBC agent for one run: the actor, its optimiser, the loss and the jittable update.

    Args:
        cfg: the run's validated config (network section; ``algo.actor_lr``).
        state_dim, goal_dim, action_dim: sizes from the dataset or environment.
    """

    def __init__(self, cfg: RunConfig, state_dim: int, goal_dim: int, action_dim: int) -> None:
        self.cfg = cfg
        self.state_dim, self.goal_dim, self.action_dim = state_dim, goal_dim, action_dim
        self.actor = make_actor(cfg, action_dim)
        self.actor_tx = optax.adam(cfg.algo.actor_lr)
        self.projection = weight_projection(cfg.network.block)

    def init(self, key: jax.Array) -> GCBCState:
        """Initialise the actor and its Adam state."""
        params = self.actor.init(key, jnp.zeros((1, self.state_dim + self.goal_dim)))
        return GCBCState(actor_params=params, actor_opt=self.actor_tx.init(params))

    def act(
        self, actor_params: Any, obs: jax.Array, key: jax.Array, deterministic: bool = False
    ) -> jax.Array:
        """Actions ``[B, action_dim]`` for ``obs [B, state_dim + goal_dim]``.

        Deterministic: ``tanh(mean)``, the same function as CRL's deterministic policy.
        Otherwise a sample of the policy, ``clip(mu + N(0, I), -1, 1)`` (OGBench's unit-std
        Gaussian at temperature 1).
        """
        mean, _ = cast(tuple[jax.Array, jax.Array], self.actor.apply(actor_params, obs))
        mu = jnp.tanh(mean)
        if deterministic:
            return mu
        return jnp.clip(mu + jax.random.normal(key, mu.shape, mu.dtype), -1.0, 1.0)

    def loss(self, actor_params: Any, batch: Batch) -> tuple[jax.Array, dict[str, jax.Array]]:
        """``mean_b(0.5 * ||tanh(mean(s_b, g_b)) - a_b||^2)`` (see the module docstring).

        Args:
            batch: states ``[B, state_dim]``, dataset actions ``[B, action_dim]``, hindsight
                goals ``[B, goal_dim]``.

        Returns:
            ``(loss, metrics)`` with ``actor_loss`` and ``bc_mse`` (per action dimension).
        """
        obs = jnp.concatenate([batch.state, batch.goal], axis=-1)
        mean, _ = cast(tuple[jax.Array, jax.Array], self.actor.apply(actor_params, obs))
        squared = (jnp.tanh(mean) - batch.action) ** 2
        loss = jnp.mean(0.5 * jnp.sum(squared, axis=-1))
        return loss, {"actor_loss": loss, "bc_mse": jnp.mean(squared)}

    def update(
        self, state: GCBCState, batch: Batch, key: jax.Array
    ) -> tuple[GCBCState, dict[str, jax.Array]]:
        """One Adam step on the BC loss (``key`` is unused: the loss is deterministic)."""
        del key
        (_, metrics), grads = jax.value_and_grad(self.loss, has_aux=True)(state.actor_params, batch)
        updates, actor_opt = self.actor_tx.update(grads, state.actor_opt)
        params = apply_updates(state.actor_params, updates, self.projection)
        return GCBCState(params, actor_opt), metrics

    def offline_update(
        self, state: GCBCState, critic_batch: Batch, actor_batch: Batch, key: jax.Array
    ) -> tuple[GCBCState, dict[str, jax.Array]]:
        """:meth:`update` on the actor's minibatch (GCBC has no critic)."""
        del critic_batch
        return self.update(state, actor_batch, key)

    def validation_metrics(
        self, state: GCBCState, critic_batch: Batch, actor_batch: Batch
    ) -> dict[str, jax.Array]:
        """The BC loss's metrics on a validation minibatch."""
        del critic_batch
        _, metrics = self.loss(state.actor_params, actor_batch)
        return metrics

    def gradient_probe(
        self, state: GCBCState, batch: Batch, key: jax.Array, actor_batch: Batch
    ) -> GradientProbe:
        """The BC loss's gradient on ``actor_batch``; no critic."""
        del batch, key
        grads, _ = jax.grad(self.loss, has_aux=True)(state.actor_params, actor_batch)
        return GradientProbe(grads, {}, {}, (), {})
