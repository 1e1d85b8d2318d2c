"""What every agent class provides (:class:`Agent`), what an offline agent adds
(:class:`OfflineAgent`), and what an agent hands the depth diagnostics (:class:`GradientProbe`).

The registry (:mod:`harness.algos`) declares each agent's facts; the class named there implements
these protocols. :mod:`harness.diagnostics` turns a :class:`GradientProbe` into the ``diag/*``
metrics the same way for every agent, so a new agent gets the depth diagnostics by returning one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

import jax


class GradientProbe(NamedTuple):
    """The gradients and network outputs of an agent's own losses on one minibatch (nothing is
    updated), from :meth:`Agent.gradient_probe`.

    Attributes:
        actor_grads: gradient of the actor loss with respect to the actor's parameters (the
            Flax tree, ``{"params": {"trunk": ..., ...}}``).
        critic_grads: network name -> the encoder subtrees (each holding ``blocks`` or
            ``block_<i>``) of the critic loss's gradient that the norms are taken over
            together: ``{"phi": (sa,), "psi": (g,)}`` for CRL, ``{"critic": (q1, q2)}`` for a
            twin critic, ``{}`` without a critic.
        representations: name -> ``[B, dim]`` outputs whose norms are reported (``phi``,
            ``psi``).
        ranked: names of ``representations`` whose effective rank is reported (``phi``).
        scalars: further scalars by name (``logits_pos``, ``q_mean``, ...).
    """

    actor_grads: Any
    critic_grads: Mapping[str, tuple[Any, ...]]
    representations: Mapping[str, jax.Array]
    ranked: tuple[str, ...]
    scalars: Mapping[str, jax.Array]


class Agent(Protocol):
    """What the trainers and the diagnostics need of an agent.

    Built as ``Class(cfg, state_dim, goal_dim, action_dim)``. ``actor`` is the shared
    :class:`~harness.networks.Actor` (its ``apply(params, obs) -> (mean, log_std)``); the state
    returned by ``init`` is a pytree whose ``actor_params`` the policy reads.
    """

    actor: Any

    def init(self, key: jax.Array) -> Any: ...

    def act(
        self, actor_params: Any, obs: jax.Array, key: jax.Array, deterministic: bool = False
    ) -> jax.Array:
        """Actions ``[B, action_dim]`` for ``obs [B, state_dim + goal_dim]``; deterministic:
        ``tanh(mean)`` of the shared actor."""
        ...

    def update(self, state: Any, batch: Any, key: jax.Array) -> tuple[Any, dict[str, jax.Array]]:
        """One gradient step on the minibatch of the agent's ``batch`` kind."""
        ...

    def gradient_probe(
        self, state: Any, batch: Any, key: jax.Array, actor_batch: Any
    ) -> GradientProbe:
        """The gradients of the agent's losses at ``state`` on ``batch`` (``actor_batch`` for
        the actor's loss), for :func:`harness.diagnostics.agent_diagnostics`."""
        ...


class OfflineAgent(Agent, Protocol):
    """An agent that trains from a dataset (:attr:`harness.algos.AlgoDef.offline`)."""

    def offline_update(
        self, state: Any, critic_batch: Any, actor_batch: Any, key: jax.Array
    ) -> tuple[Any, dict[str, jax.Array]]:
        """One gradient step; the actor's goals are drawn apart from the critic's (OGBench)."""
        ...

    def validation_metrics(
        self, state: Any, critic_batch: Any, actor_batch: Any
    ) -> dict[str, jax.Array]:
        """The losses on a validation minibatch (no update)."""
        ...
