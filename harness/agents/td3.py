"""Goal-conditioned TD3 with hindsight relabelling (TD3+HER) on the sparse goal reward.

Fujimoto et al. 2018 (arXiv 1802.09477): twin residual Q-networks on ``concat(s, a, g)``
(clipped double Q), target policy smoothing, delayed actor and target updates. The actor is the
residual :func:`~harness.agents.crl.make_actor` network used deterministically,
``mu(s, g) = tanh(mean(s, g))`` (its log-std head is unused), so evaluation runs the same
function of the parameters as for every other agent. Goals are relabelled by
:func:`harness.replay.sample_transitions` (HER, Andrychowicz et al. 2017).

On a :class:`~harness.batches.Transition` batch:

- critic: ``0.5 mean_{b,k} (Q_k(s, a, g) - y)^2`` with
  ``y = r + gamma * mask * min_k Q_targ,k(s', a~, g)``,
  ``a~ = clip(mu_targ(s', g) + clip(N(0, target_noise^2), -c, c), -1, 1)`` (Eqs. 10, 15);
- actor, every ``policy_delay`` critic steps: ``-mean Q_1(s, mu(s, g), g)``; the target actor
  and critics then move by Polyak averaging with rate ``tau``.

Exploration adds ``N(0, exploration_noise^2)`` to ``mu`` and clips to [-1, 1].
"""

from __future__ import annotations

from typing import Any, cast

import jax
import jax.numpy as jnp
import optax
from flax import struct

from harness.agents.base import GradientProbe
from harness.agents.crl import make_actor
from harness.agents.td import make_twin_q, polyak, td_target, twin_q_loss, twin_q_probe
from harness.batches import Transition
from harness.networks import apply_updates, weight_projection
from harness.spec import RunConfig


@struct.dataclass
class TD3State:
    """Actor, twin critics, both targets, Adam states and the critic step counter."""

    actor_params: Any
    critic_params: Any
    target_actor_params: Any
    target_critic_params: Any
    actor_opt: Any
    critic_opt: Any
    steps: jax.Array  # scalar int32: critic updates so far (for the policy delay)


def smoothed_target_action(mu_next: jax.Array, noise: jax.Array, noise_clip: float) -> jax.Array:
    """``clip(mu_next + clip(noise, -noise_clip, noise_clip), -1, 1)`` (Fujimoto et al. 2018,
    Eq. 15), ``[B, action_dim]``; ``noise`` is already scaled by ``target_noise``."""
    return jnp.clip(mu_next + jnp.clip(noise, -noise_clip, noise_clip), -1.0, 1.0)


def td3_critic_target(
    reward: jax.Array, mask: jax.Array, discount: float, next_q: jax.Array
) -> jax.Array:
    """Clipped double-Q target ``r + discount * mask * min_k next_q[:, k]``: ``[B]``
    (Fujimoto et al. 2018, Eq. 10); ``next_q [B, 2]`` from the target critics."""
    return td_target(reward, mask, discount, jnp.min(next_q, axis=-1))


class TD3:
    """TD3 agent for one run (``algo.name: td3_her``).

    Args:
        cfg: validated run config (network section; ``algo`` learning rates, ``discount`` and
            ``algo.td3``).
        state_dim, goal_dim, action_dim: sizes from the environment.
    """

    def __init__(self, cfg: RunConfig, state_dim: int, goal_dim: int, action_dim: int) -> None:
        algo = cfg.algo
        self.cfg = cfg
        self.state_dim, self.goal_dim, self.action_dim = state_dim, goal_dim, action_dim
        self.settings = algo.resolved_td3
        self.discount = algo.discount
        self.actor = make_actor(cfg, action_dim)
        self.critic = make_twin_q(cfg)
        self.actor_tx = optax.adam(algo.actor_lr)
        self.critic_tx = optax.adam(algo.critic_lr)
        self.projection = weight_projection(cfg.network.block)

    def init(self, key: jax.Array) -> TD3State:
        """Initialise parameters (targets = online networks) and Adam states."""
        k_actor, k_critic = jax.random.split(key)
        actor_params = self.actor.init(k_actor, jnp.zeros((1, self.state_dim + self.goal_dim)))
        critic_params = self.critic.init(
            k_critic,
            jnp.zeros((1, self.state_dim)),
            jnp.zeros((1, self.action_dim)),
            jnp.zeros((1, self.goal_dim)),
        )
        return TD3State(
            actor_params=actor_params,
            critic_params=critic_params,
            target_actor_params=actor_params,
            target_critic_params=critic_params,
            actor_opt=self.actor_tx.init(actor_params),
            critic_opt=self.critic_tx.init(critic_params),
            steps=jnp.zeros((), jnp.int32),
        )

    def mu(self, actor_params: Any, state: jax.Array, goal: jax.Array) -> jax.Array:
        """Deterministic action ``tanh(mean(s, g))``: ``[B, action_dim]``."""
        obs = jnp.concatenate([state, goal], axis=-1)
        mean, _ = cast(tuple[jax.Array, jax.Array], self.actor.apply(actor_params, obs))
        return jnp.tanh(mean)

    def act(
        self, actor_params: Any, obs: jax.Array, key: jax.Array, deterministic: bool = False
    ) -> jax.Array:
        """``tanh(mean)`` for ``obs [B, state_dim + goal_dim]``, plus clipped Gaussian
        exploration noise unless deterministic: ``[B, action_dim]``."""
        mean, _ = cast(tuple[jax.Array, jax.Array], self.actor.apply(actor_params, obs))
        mu = jnp.tanh(mean)
        if deterministic:
            return mu
        noise = self.settings.exploration_noise * jax.random.normal(key, mu.shape, mu.dtype)
        return jnp.clip(mu + noise, -1.0, 1.0)

    def q(self, critic_params: Any, state: jax.Array, action: jax.Array, goal: jax.Array) -> Any:
        """Both critics: ``[B, 2]``."""
        return self.critic.apply(critic_params, state, action, goal)

    def critic_loss(
        self,
        critic_params: Any,
        target_critic_params: Any,
        target_actor_params: Any,
        batch: Transition,
        key: jax.Array,
    ) -> tuple[jax.Array, dict[str, jax.Array]]:
        """Clipped double-Q TD loss with target policy smoothing (module docstring)."""
        mu_next = self.mu(target_actor_params, batch.next_state, batch.goal)
        noise = self.settings.target_noise * jax.random.normal(key, mu_next.shape)
        next_action = smoothed_target_action(mu_next, noise, self.settings.target_noise_clip)
        next_q = self.q(target_critic_params, batch.next_state, next_action, batch.goal)
        target = td3_critic_target(batch.reward, batch.mask, self.discount, next_q)
        q = self.q(critic_params, batch.state, batch.action, batch.goal)
        return twin_q_loss(q, target), {"q": jnp.mean(q), "target_q": jnp.mean(target)}

    def actor_loss(self, actor_params: Any, critic_params: Any, batch: Transition) -> jax.Array:
        """``-mean Q_1(s, mu(s, g), g)`` (Fujimoto et al. 2018, Alg. 1)."""
        action = self.mu(actor_params, batch.state, batch.goal)
        return -jnp.mean(self.q(critic_params, batch.state, action, batch.goal)[:, 0])

    def update(
        self, state: TD3State, batch: Transition, key: jax.Array
    ) -> tuple[TD3State, dict[str, jax.Array]]:
        """One critic step; every ``policy_delay`` steps also an actor step and the target
        updates (``lax.cond``).

        Returns:
            ``(state, metrics)``: ``critic_loss``, ``actor_loss`` (0 on steps without an
            actor update), ``q``, ``target_q`` and ``reward``.
        """
        (critic_loss, critic_metrics), grads = jax.value_and_grad(self.critic_loss, has_aux=True)(
            state.critic_params,
            state.target_critic_params,
            state.target_actor_params,
            batch,
            key,
        )
        updates, critic_opt = self.critic_tx.update(grads, state.critic_opt)
        critic_params = apply_updates(state.critic_params, updates, self.projection)
        tau = self.settings.tau

        def policy_step(_: None) -> tuple[jax.Array, Any, Any, Any, Any]:
            loss, actor_grads = jax.value_and_grad(self.actor_loss)(
                state.actor_params, critic_params, batch
            )
            updates, actor_opt = self.actor_tx.update(actor_grads, state.actor_opt)
            actor_params = apply_updates(state.actor_params, updates, self.projection)
            return (
                loss,
                actor_params,
                actor_opt,
                polyak(state.target_actor_params, actor_params, tau),
                polyak(state.target_critic_params, critic_params, tau),
            )

        def no_policy_step(_: None) -> tuple[jax.Array, Any, Any, Any, Any]:
            return (
                jnp.zeros((), jnp.float32),
                state.actor_params,
                state.actor_opt,
                state.target_actor_params,
                state.target_critic_params,
            )

        steps = state.steps + 1
        delayed = steps % self.settings.policy_delay == 0
        actor_loss, actor_params, actor_opt, target_actor, target_critic = jax.lax.cond(
            delayed, policy_step, no_policy_step, None
        )
        metrics = {
            "critic_loss": critic_loss,
            "actor_loss": actor_loss,
            "reward": jnp.mean(batch.reward),
            **critic_metrics,
        }
        new_state = TD3State(
            actor_params, critic_params, target_actor, target_critic, actor_opt, critic_opt, steps
        )
        return new_state, metrics

    def gradient_probe(
        self, state: TD3State, batch: Transition, key: jax.Array, actor_batch: Transition
    ) -> GradientProbe:
        """Gradients of the actor loss and the clipped double-Q TD loss, and both Q-values on
        ``batch`` (:mod:`harness.diagnostics`; ``actor_batch`` is ``batch`` for a TD agent)."""
        del actor_batch
        _, k_critic = jax.random.split(key)
        actor_grads = jax.grad(self.actor_loss)(state.actor_params, state.critic_params, batch)
        critic_grads, _ = jax.grad(self.critic_loss, has_aux=True)(
            state.critic_params,
            state.target_critic_params,
            state.target_actor_params,
            batch,
            k_critic,
        )
        q = cast(jax.Array, self.q(state.critic_params, batch.state, batch.action, batch.goal))
        return twin_q_probe(actor_grads, critic_grads, q)
