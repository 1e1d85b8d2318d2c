"""Goal-conditioned soft actor-critic (SAC, SAC+HER) on the sparse goal reward.

Haarnoja et al. 2018 (arXiv 1801.01290) and 2018b (arXiv 1812.05905, automatic temperature):
twin residual Q-networks on ``concat(s, a, g)`` with Polyak-averaged targets, the same
tanh-Gaussian residual actor as CRL (:func:`~harness.agents.crl.make_actor`), and
``alpha = exp(log_alpha)`` tuned toward the target entropy. ``sac`` learns from the commanded
goals; ``sac_her`` from transitions whose goals were relabelled with hindsight (Andrychowicz et
al. 2017; done by :func:`harness.replay.sample_transitions`): the agent itself is the same.

Losses on a :class:`~harness.batches.Transition` batch, all from the parameters before the
step (as Brax's and JaxGCRL's SAC):

- critic: ``0.5 mean_{b,k} (Q_k(s, a, g) - y)^2``, ``y = r + gamma * mask *
  (min_k Q_targ,k(s', a', g) - alpha log pi(a'|s', g))``, ``a' ~ pi(.|s', g)``;
- actor: ``mean(alpha log pi(a|s, g) - min_k Q_k(s, a, g))``, ``a ~ pi(.|s, g)``;
- temperature: ``mean(alpha * stopgrad(-log pi(a|s, g) - target_entropy))``;

then ``Q_targ <- (1 - tau) Q_targ + tau Q``.
"""

from __future__ import annotations

from typing import Any, cast

import jax
import jax.numpy as jnp
import optax
from flax import struct

from harness.agents.base import GradientProbe
from harness.agents.crl import make_actor, tanh_gaussian_sample
from harness.agents.td import make_twin_q, polyak, td_target, twin_q_loss, twin_q_probe
from harness.batches import Transition
from harness.networks import apply_updates, weight_projection
from harness.spec import RunConfig


@struct.dataclass
class SACState:
    """Actor, twin critics, their targets, the temperature and the Adam states."""

    actor_params: Any
    critic_params: Any
    target_critic_params: Any
    log_alpha: jax.Array
    actor_opt: Any
    critic_opt: Any
    alpha_opt: Any


def sac_critic_target(
    reward: jax.Array,
    mask: jax.Array,
    discount: float,
    next_q: jax.Array,
    next_log_prob: jax.Array,
    alpha: jax.Array,
) -> jax.Array:
    """Soft TD target ``r + discount * mask * (min_k next_q[:, k] - alpha * next_log_prob)``.

    Args:
        reward, mask, next_log_prob: ``[B]``; next_q: ``[B, 2]`` target critics at
            ``(s', a' ~ pi(.|s', g), g)``; alpha: scalar temperature.

    Returns:
        ``[B]`` (Haarnoja et al. 2018b, Eqs. 3 and 7 with clipped double Q).
    """
    soft_value = jnp.min(next_q, axis=-1) - alpha * next_log_prob
    return td_target(reward, mask, discount, soft_value)


class SAC:
    """SAC agent for one run (``algo.name`` sac or sac_her).

    Args:
        cfg: validated run config (network section; ``algo`` learning rates, ``discount`` and
            ``algo.sac``).
        state_dim, goal_dim, action_dim: sizes from the environment.
    """

    def __init__(self, cfg: RunConfig, state_dim: int, goal_dim: int, action_dim: int) -> None:
        algo = cfg.algo
        self.cfg = cfg
        self.state_dim, self.goal_dim, self.action_dim = state_dim, goal_dim, action_dim
        self.settings = algo.resolved_sac
        self.discount = algo.discount
        self.actor = make_actor(cfg, action_dim)
        self.critic = make_twin_q(cfg)
        self.actor_tx = optax.adam(algo.actor_lr)
        self.critic_tx = optax.adam(algo.critic_lr)
        self.projection = weight_projection(cfg.network.block)
        self.alpha_tx = optax.adam(algo.alpha_lr)
        self.target_entropy = self.settings.target_entropy_scale * action_dim

    def init(self, key: jax.Array) -> SACState:
        """Initialise parameters (targets = critics, log alpha = 0) and Adam states."""
        k_actor, k_critic = jax.random.split(key)
        actor_params = self.actor.init(k_actor, jnp.zeros((1, self.state_dim + self.goal_dim)))
        critic_params = self.critic.init(
            k_critic,
            jnp.zeros((1, self.state_dim)),
            jnp.zeros((1, self.action_dim)),
            jnp.zeros((1, self.goal_dim)),
        )
        log_alpha = jnp.zeros((), jnp.float32)
        return SACState(
            actor_params=actor_params,
            critic_params=critic_params,
            target_critic_params=critic_params,
            log_alpha=log_alpha,
            actor_opt=self.actor_tx.init(actor_params),
            critic_opt=self.critic_tx.init(critic_params),
            alpha_opt=self.alpha_tx.init(log_alpha),
        )

    def _policy(
        self, actor_params: Any, state: jax.Array, goal: jax.Array, key: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        obs = jnp.concatenate([state, goal], axis=-1)
        mean, log_std = cast(tuple[jax.Array, jax.Array], self.actor.apply(actor_params, obs))
        return tanh_gaussian_sample(mean, log_std, key)

    def act(
        self, actor_params: Any, obs: jax.Array, key: jax.Array, deterministic: bool = False
    ) -> jax.Array:
        """Actions ``[B, action_dim]`` for ``obs [B, state_dim + goal_dim]``: a sample of the
        tanh-Gaussian policy, or ``tanh(mean)`` when deterministic (evaluation)."""
        mean, log_std = cast(tuple[jax.Array, jax.Array], self.actor.apply(actor_params, obs))
        if deterministic:
            return jnp.tanh(mean)
        action, _ = tanh_gaussian_sample(mean, log_std, key)
        return action

    def q(self, critic_params: Any, state: jax.Array, action: jax.Array, goal: jax.Array) -> Any:
        """Both critics: ``[B, 2]``."""
        return self.critic.apply(critic_params, state, action, goal)

    def critic_loss(
        self,
        critic_params: Any,
        target_critic_params: Any,
        actor_params: Any,
        log_alpha: jax.Array,
        batch: Transition,
        key: jax.Array,
    ) -> tuple[jax.Array, dict[str, jax.Array]]:
        """Soft TD loss (module docstring). Returns ``(loss, {q, target_q})``."""
        next_action, next_log_prob = self._policy(actor_params, batch.next_state, batch.goal, key)
        next_q = self.q(target_critic_params, batch.next_state, next_action, batch.goal)
        alpha = jnp.exp(log_alpha)
        target = sac_critic_target(
            batch.reward, batch.mask, self.discount, next_q, next_log_prob, alpha
        )
        q = self.q(critic_params, batch.state, batch.action, batch.goal)
        return twin_q_loss(q, target), {"q": jnp.mean(q), "target_q": jnp.mean(target)}

    def actor_loss(
        self,
        actor_params: Any,
        critic_params: Any,
        log_alpha: jax.Array,
        batch: Transition,
        key: jax.Array,
    ) -> tuple[jax.Array, jax.Array]:
        """``mean(alpha log pi(a|s, g) - min_k Q_k(s, a, g))``; returns ``(loss, log_prob [B])``."""
        action, log_prob = self._policy(actor_params, batch.state, batch.goal, key)
        q = jnp.min(self.q(critic_params, batch.state, action, batch.goal), axis=-1)
        alpha = jnp.exp(jax.lax.stop_gradient(log_alpha))
        return jnp.mean(alpha * log_prob - q), log_prob

    def alpha_loss(self, log_alpha: jax.Array, log_prob: jax.Array) -> jax.Array:
        """``mean(alpha * stopgrad(-log pi - target_entropy))`` (Haarnoja et al. 2018b, Eq. 18)."""
        return jnp.mean(jnp.exp(log_alpha) * jax.lax.stop_gradient(-log_prob - self.target_entropy))

    def update(
        self, state: SACState, batch: Transition, key: jax.Array
    ) -> tuple[SACState, dict[str, jax.Array]]:
        """One SGD step of actor, temperature and critics, then the Polyak target update.

        Returns:
            ``(state, metrics)``: ``critic_loss``, ``actor_loss``, ``alpha_loss``, ``alpha``,
            ``entropy``, ``q``, ``target_q`` and ``reward`` (batch means).
        """
        k_actor, k_critic = jax.random.split(key)
        (actor_loss, log_prob), actor_grads = jax.value_and_grad(self.actor_loss, has_aux=True)(
            state.actor_params, state.critic_params, state.log_alpha, batch, k_actor
        )
        alpha_loss, alpha_grad = jax.value_and_grad(self.alpha_loss)(state.log_alpha, log_prob)
        (critic_loss, critic_metrics), critic_grads = jax.value_and_grad(
            self.critic_loss, has_aux=True
        )(
            state.critic_params,
            state.target_critic_params,
            state.actor_params,
            state.log_alpha,
            batch,
            k_critic,
        )
        updates, actor_opt = self.actor_tx.update(actor_grads, state.actor_opt)
        actor_params = apply_updates(state.actor_params, updates, self.projection)
        updates, alpha_opt = self.alpha_tx.update(alpha_grad, state.alpha_opt)
        log_alpha = optax.apply_updates(state.log_alpha, updates)
        updates, critic_opt = self.critic_tx.update(critic_grads, state.critic_opt)
        critic_params = apply_updates(state.critic_params, updates, self.projection)
        target = polyak(state.target_critic_params, critic_params, self.settings.tau)
        metrics = {
            "critic_loss": critic_loss,
            "actor_loss": actor_loss,
            "alpha_loss": alpha_loss,
            "alpha": jnp.exp(log_alpha),
            "entropy": -jnp.mean(log_prob),
            "reward": jnp.mean(batch.reward),
            **critic_metrics,
        }
        new_state = SACState(
            actor_params, critic_params, target, log_alpha, actor_opt, critic_opt, alpha_opt
        )
        return new_state, metrics

    def gradient_probe(
        self, state: SACState, batch: Transition, key: jax.Array, actor_batch: Transition
    ) -> GradientProbe:
        """Gradients of the actor loss and the soft TD loss, and both Q-values on ``batch``
        (:mod:`harness.diagnostics`; ``actor_batch`` is ``batch`` for a TD agent)."""
        del actor_batch
        k_actor, k_critic = jax.random.split(key)
        actor_grads, _ = jax.grad(self.actor_loss, has_aux=True)(
            state.actor_params, state.critic_params, state.log_alpha, batch, k_actor
        )
        critic_grads, _ = jax.grad(self.critic_loss, has_aux=True)(
            state.critic_params,
            state.target_critic_params,
            state.actor_params,
            state.log_alpha,
            batch,
            k_critic,
        )
        q = cast(jax.Array, self.q(state.critic_params, batch.state, batch.action, batch.goal))
        return twin_q_probe(actor_grads, critic_grads, q)
