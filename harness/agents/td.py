"""Pieces shared by the TD baselines (SAC, SAC+HER, TD3+HER): twin Q-networks, TD targets and
Polyak averaging, on :class:`~harness.batches.Transition` minibatches.

The Q-networks are the paper's residual MLPs (:class:`~harness.networks.ResidualMLP`: depth,
width, LayerNorm, activation, scan, remat and dtype from the ``network`` section) on
``concat(s, a, g)`` with a scalar head, two of them (clipped double Q; Fujimoto et al. 2018,
arXiv 1802.09477, Sec. 4.2; also SAC's, Haarnoja et al. 2018b, arXiv 1812.05905).

Reward and termination follow the environments (``envs/base.py``) and JaxGCRL (Bortkiewicz et
al. 2024, arXiv 2408.11052): the reward is sparse, ``r = 1`` iff the next state's goal-space
slice is within the env's success threshold of the goal; reaching the goal does not end an
episode; an episode ends early only when the robot is unhealthy (a true terminal: no bootstrap),
and the time limit is a truncation (bootstrapped).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from harness.agents.base import GradientProbe
from harness.batches import Transition as Transition  # re-exported (its former home)
from harness.networks import ResidualMLP
from harness.spec import RunConfig


class TwinQ(nn.Module):
    """Two residual Q-networks on ``concat(s, a, g)``.

    Call: ``(state [B, state_dim], action [B, action_dim], goal [B, goal_dim]) -> q [B, 2]``.
    """

    depth: int
    width: int
    activation: str = "swish"
    layer_norm: bool = True
    residual: bool = True
    remat: bool = False
    dtype: str = "float32"
    scan: bool = True
    block: str = "residual"

    @nn.compact
    def __call__(self, state: jax.Array, action: jax.Array, goal: jax.Array) -> jax.Array:
        x = jnp.concatenate([state, action, goal], axis=-1)
        args = (
            self.depth,
            self.width,
            1,
            self.activation,
            self.layer_norm,
            self.residual,
            self.remat,
            self.dtype,
            self.scan,
            self.block,
        )
        q1 = ResidualMLP(*args, name="q1")(x)
        q2 = ResidualMLP(*args, name="q2")(x)
        return jnp.concatenate([q1, q2], axis=-1)


def make_twin_q(cfg: RunConfig) -> TwinQ:
    """The run's twin Q-network: ``network.critic_depth``, ``width`` and layer options."""
    net = cfg.network
    return TwinQ(
        net.critic_depth,
        net.width,
        activation=net.activation,
        layer_norm=net.layer_norm,
        residual=net.residual,
        remat=net.remat,
        dtype=net.dtype,
        scan=net.scan,
        block=net.block,
    )


def td_target(
    reward: jax.Array, mask: jax.Array, discount: float, next_value: jax.Array
) -> jax.Array:
    """One-step TD target ``y = r + discount * mask * V(s')``.

    Args:
        reward, mask: ``[B]``; ``mask`` is 0 at terminal transitions (no bootstrap).
        next_value: ``[B]``, e.g. ``min_k Q_targ,k(s', a', g)`` (minus ``alpha log pi`` for SAC).

    Returns:
        ``[B]`` targets, with the gradient stopped.
    """
    return jax.lax.stop_gradient(reward + discount * mask * next_value)


def twin_q_loss(q: jax.Array, target: jax.Array) -> jax.Array:
    """``0.5 * mean_{b,k} (Q_k(s_b, a_b, g_b) - y_b)^2`` over both critics: ``q [B, 2]``,
    ``target [B]`` (Fujimoto et al. 2018, Eq. 10; Brax and JaxGCRL's scale)."""
    return 0.5 * jnp.mean((q - target[:, None]) ** 2)


def polyak(target: Any, online: Any, tau: float) -> Any:
    """``(1 - tau) * target + tau * online``, leaf by leaf (Lillicrap et al. 2016)."""
    return jax.tree_util.tree_map(lambda t, o: (1.0 - tau) * t + tau * o, target, online)


def twin_q_probe(actor_grads: Any, critic_grads: Any, q: jax.Array) -> GradientProbe:
    """The :class:`~harness.agents.base.GradientProbe` of a twin-critic agent: the gradient
    norms over both Q-networks together (``critic``), and the mean and standard deviation of
    both Q-networks' values ``q [B, 2]`` at the batch's ``(s, a, g)``."""
    heads = critic_grads["params"]
    return GradientProbe(
        actor_grads=actor_grads,
        critic_grads={"critic": (heads["q1"], heads["q2"])},
        representations={},
        ranked=(),
        scalars={"q_mean": jnp.mean(q), "q_std": jnp.std(q)},
    )
