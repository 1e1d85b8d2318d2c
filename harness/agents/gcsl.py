"""Goal-conditioned supervised learning (GCSL; Ghosh et al. 2019, arXiv 1912.06088).

GCSL iterates: act with the current policy toward commanded goals, relabel each stored step
``(s_i, a_i)`` with a goal reached later in the same trajectory (any future state, uniformly;
:func:`harness.replay.sample_future`), and maximise the likelihood of the action taken,
``max E[log pi(a_i | s_i, g)]`` (Ghosh et al. 2019, Alg. 1 and Eq. 3). The policy is the
residual tanh-Gaussian :func:`~harness.agents.crl.make_actor` network of every agent; its
log-likelihood includes the tanh change of variables (Haarnoja et al. 2018, App. C), with the
stored action clipped to ``[-1 + eps, 1 - eps]`` before ``atanh`` (uniform prefill actions may
reach the bounds).

Where GCBC (:mod:`harness.agents.gcbc`) regresses ``tanh(mean)`` onto the action (a unit-variance
Gaussian, OGBench's), GCSL learns the standard deviation too and explores with its samples.
"""

from __future__ import annotations

from typing import Any, cast

import jax
import jax.numpy as jnp
import optax
from flax import struct

from harness.agents.base import GradientProbe
from harness.agents.crl import make_actor, tanh_gaussian_sample
from harness.batches import Batch
from harness.networks import apply_updates, weight_projection
from harness.spec import RunConfig

#: Stored actions are clipped to [-1 + ACTION_EPS, 1 - ACTION_EPS] before atanh.
ACTION_EPS = 1e-6


def tanh_gaussian_log_prob(mean: jax.Array, log_std: jax.Array, action: jax.Array) -> jax.Array:
    """Log-density of ``action = tanh(u)``, ``u ~ N(mean, exp(log_std)^2)``.

    ``log pi(a) = sum_d [log N(u_d; mean_d, std_d) - log(1 - a_d^2)]`` with ``u = atanh(a)``
    and ``a`` clipped to ``[-1 + ACTION_EPS, 1 - ACTION_EPS]``.

    Args:
        mean, log_std, action: ``[B, action_dim]``.

    Returns:
        ``[B]`` log-densities (nats).
    """
    a = jnp.clip(action, -1.0 + ACTION_EPS, 1.0 - ACTION_EPS)
    u = jnp.arctanh(a)
    z = (u - mean) * jnp.exp(-log_std)
    log_normal = jnp.sum(-0.5 * z**2 - log_std - 0.5 * jnp.log(2.0 * jnp.pi), axis=-1)
    return log_normal - jnp.sum(jnp.log1p(-(a**2)), axis=-1)


@struct.dataclass
class GCSLState:
    """Actor parameters and their Adam state."""

    actor_params: Any
    actor_opt: Any


class GCSL:
    """GCSL agent for one run (``algo.name: gcsl``).

    Args:
        cfg: validated run config (network section; ``algo.actor_lr``).
        state_dim, goal_dim, action_dim: sizes from the environment.
    """

    def __init__(self, cfg: RunConfig, state_dim: int, goal_dim: int, action_dim: int) -> None:
        self.cfg = cfg
        self.state_dim, self.goal_dim, self.action_dim = state_dim, goal_dim, action_dim
        self.actor = make_actor(cfg, action_dim)
        self.actor_tx = optax.adam(cfg.algo.actor_lr)
        self.projection = weight_projection(cfg.network.block)

    def init(self, key: jax.Array) -> GCSLState:
        """Initialise the actor and its Adam state."""
        params = self.actor.init(key, jnp.zeros((1, self.state_dim + self.goal_dim)))
        return GCSLState(actor_params=params, actor_opt=self.actor_tx.init(params))

    def act(
        self, actor_params: Any, obs: jax.Array, key: jax.Array, deterministic: bool = False
    ) -> jax.Array:
        """Actions ``[B, action_dim]`` for ``obs [B, state_dim + goal_dim]``: a tanh-Gaussian
        sample, or ``tanh(mean)`` when deterministic."""
        mean, log_std = cast(tuple[jax.Array, jax.Array], self.actor.apply(actor_params, obs))
        if deterministic:
            return jnp.tanh(mean)
        action, _ = tanh_gaussian_sample(mean, log_std, key)
        return action

    def loss(self, actor_params: Any, batch: Batch) -> tuple[jax.Array, dict[str, jax.Array]]:
        """``-mean_b log pi(a_b | s_b, g_b)`` (:func:`tanh_gaussian_log_prob`).

        Args:
            batch: states ``[B, state_dim]``, the actions taken ``[B, action_dim]``, hindsight
                goals ``[B, goal_dim]``.

        Returns:
            ``(loss, metrics)`` with ``actor_loss``, ``bc_mse`` (of ``tanh(mean)``, per action
            dimension) and ``log_std`` (mean).
        """
        obs = jnp.concatenate([batch.state, batch.goal], axis=-1)
        mean, log_std = cast(tuple[jax.Array, jax.Array], self.actor.apply(actor_params, obs))
        loss = -jnp.mean(tanh_gaussian_log_prob(mean, log_std, batch.action))
        metrics = {
            "actor_loss": loss,
            "bc_mse": jnp.mean((jnp.tanh(mean) - batch.action) ** 2),
            "log_std": jnp.mean(log_std),
        }
        return loss, metrics

    def update(
        self, state: GCSLState, batch: Batch, key: jax.Array
    ) -> tuple[GCSLState, dict[str, jax.Array]]:
        """One Adam step on the negative log-likelihood (``key`` is unused)."""
        del key
        (_, metrics), grads = jax.value_and_grad(self.loss, has_aux=True)(state.actor_params, batch)
        updates, actor_opt = self.actor_tx.update(grads, state.actor_opt)
        params = apply_updates(state.actor_params, updates, self.projection)
        return GCSLState(params, actor_opt), metrics

    def gradient_probe(
        self, state: GCSLState, batch: Batch, key: jax.Array, actor_batch: Batch
    ) -> GradientProbe:
        """The likelihood loss's gradient on ``actor_batch``; no critic."""
        del batch, key
        grads, _ = jax.grad(self.loss, has_aux=True)(state.actor_params, actor_batch)
        return GradientProbe(grads, {}, {}, (), {})
