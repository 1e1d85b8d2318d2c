"""Agents: contrastive RL and the goal-conditioned baselines of Wang et al. 2025, Fig. 13.

Every agent has the same interface, so :class:`harness.train.Trainer` runs any of them:
``init(key) -> state`` (a pytree whose ``actor_params`` the policy reads),
``act(actor_params, obs [B, state_dim + goal_dim], key, deterministic) -> action [B, action_dim]``
(deterministic: ``tanh(mean)`` of the shared :class:`~harness.networks.Actor`), and
``update(state, batch, key) -> (state, metrics)``. The batch is a
:class:`~harness.batches.Batch` (hindsight goals: crl, gcbc, gcsl) or a
:class:`~harness.batches.Transition` (TD learning on the goal reward: sac, sac_her, td3_her);
:func:`batch_kind` tells which.
"""

from __future__ import annotations

from typing import Any, Protocol

import jax

from harness.spec import TD_ALGOS, RunConfig


class Agent(Protocol):
    """What the trainers need of an agent (see the module docstring)."""

    def init(self, key: jax.Array) -> Any: ...

    def act(
        self, actor_params: Any, obs: jax.Array, key: jax.Array, deterministic: bool = False
    ) -> jax.Array: ...

    def update(
        self, state: Any, batch: Any, key: jax.Array
    ) -> tuple[Any, dict[str, jax.Array]]: ...


def batch_kind(name: str) -> str:
    """``transition`` for the TD algorithms (``algo.name`` in :data:`~harness.spec.TD_ALGOS`),
    ``future`` for gcsl (uniform future goals), ``geometric`` for crl and gcbc."""
    if name in TD_ALGOS:
        return "transition"
    return "future" if name == "gcsl" else "geometric"


def make_agent(cfg: RunConfig, state_dim: int, goal_dim: int, action_dim: int) -> Agent:
    """The agent of ``cfg.algo.name``, built on the run's network settings.

    Args:
        cfg: validated run config.
        state_dim, goal_dim, action_dim: sizes from the environment or dataset.

    Raises:
        ValueError: an unknown ``algo.name`` (the spec refuses it first).
    """
    name = cfg.algo.name
    dims = (state_dim, goal_dim, action_dim)
    if name == "crl":
        from harness.agents.crl import CRL

        return CRL(cfg, *dims)
    if name in ("sac", "sac_her"):
        from harness.agents.sac import SAC

        return SAC(cfg, *dims)
    if name == "td3_her":
        from harness.agents.td3 import TD3

        return TD3(cfg, *dims)
    if name == "gcbc":
        from harness.agents.gcbc import GCBC

        return GCBC(cfg, *dims)
    if name == "gcsl":
        from harness.agents.gcsl import GCSL

        return GCSL(cfg, *dims)
    raise ValueError(f"unknown algo.name {name!r}")
