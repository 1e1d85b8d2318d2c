"""Minibatch types: the contract between sampling (:mod:`harness.replay`, :mod:`harness.offline`)
and learning (:mod:`harness.agents`).

Both sides import them from here, so neither depends on the other. Every array's leading axis
is the batch ``B``; all arrays are float32.

- :class:`Batch`: hindsight-relabelled ``(s_i, a_i, g)`` for contrastive RL, GCBC and GCSL.
- :class:`Transition`: ``(s, a, s', g, r, mask)`` for the TD baselines (SAC, SAC+HER, TD3+HER).
"""

from __future__ import annotations

from typing import NamedTuple

import jax


class Batch(NamedTuple):
    """One minibatch of relabelled transitions.

    Attributes:
        state: ``[B, state_dim]`` states s_i.
        action: ``[B, action_dim]`` actions a_i taken in s_i.
        goal: ``[B, goal_dim]`` hindsight goals: the goal-space slice of a later state s_j, j > i.
    """

    state: jax.Array
    action: jax.Array
    goal: jax.Array


class Transition(NamedTuple):
    """A minibatch of goal-conditioned transitions for TD learning.

    Attributes:
        state: ``[B, state_dim]`` s_i.
        action: ``[B, action_dim]`` a_i.
        next_state: ``[B, state_dim]`` s_{i+1} (any value where ``mask`` is 0).
        goal: ``[B, goal_dim]`` the commanded goal, or a hindsight goal (HER).
        reward: ``[B]`` float32 in {0, 1}: success of s_{i+1} for ``goal``.
        mask: ``[B]`` float32, 0 where s_{i+1} is terminal (the robot became unhealthy), else 1.
    """

    state: jax.Array
    action: jax.Array
    next_state: jax.Array
    goal: jax.Array
    reward: jax.Array
    mask: jax.Array
