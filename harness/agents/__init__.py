"""Agents: contrastive RL and the goal-conditioned baselines of Wang et al. 2025, Fig. 13.

Which agents exist, and what each declares, is the registry :mod:`harness.algos`; the classes
live in this package's modules and follow :class:`~harness.agents.base.Agent`:
``init(key) -> state`` (a pytree whose ``actor_params`` the policy reads),
``act(actor_params, obs [B, state_dim + goal_dim], key, deterministic) -> action [B, action_dim]``
(deterministic: ``tanh(mean)`` of the shared :class:`~harness.networks.Actor`),
``update(state, batch, key) -> (state, metrics)`` and ``gradient_probe`` for the depth
diagnostics. The batch is a :class:`~harness.batches.Batch` (hindsight goals: crl, gcbc, gcsl)
or a :class:`~harness.batches.Transition` (TD learning on the goal reward: sac, sac_her,
td3_her); :func:`batch_kind` tells which.
"""

from __future__ import annotations

import importlib
from typing import cast

from harness import algos
from harness.agents.base import Agent, GradientProbe, OfflineAgent
from harness.spec import RunConfig

__all__ = ["Agent", "GradientProbe", "OfflineAgent", "batch_kind", "make_agent"]


def batch_kind(name: str) -> str:
    """The minibatch the agent ``name`` updates on (:attr:`harness.algos.AlgoDef.batch`):
    ``transition`` for the TD algorithms, ``future`` for gcsl (uniform future goals),
    ``geometric`` for crl and gcbc.

    Raises:
        ValueError: an unknown ``name``.
    """
    return algos.get(name).batch


def make_agent(cfg: RunConfig, state_dim: int, goal_dim: int, action_dim: int) -> Agent:
    """The agent of ``cfg.algo.name`` (its class from :data:`harness.algos.REGISTRY`), built on
    the run's network settings.

    Args:
        cfg: validated run config.
        state_dim, goal_dim, action_dim: sizes from the environment or dataset.

    Raises:
        ValueError: an unknown ``algo.name`` (the spec refuses it first).
    """
    module, _, cls = algos.get(cfg.algo.name).agent.partition(":")
    agent_class = getattr(importlib.import_module(module), cls)
    return cast(Agent, agent_class(cfg, state_dim, goal_dim, action_dim))
