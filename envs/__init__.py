"""Goal-conditioned Brax environments for contrastive RL, and maze layouts.

A library of its own (it imports nothing from ``harness``)::

    import envs
    envs.list_envs()               # ['ant', 'ant_big_maze', 'ant_big_maze_eval', ...]
    envs.info("ant_u_maze")        # EnvInfo(state_dim=29, goal_indices=(0, 1), ...)
    env = envs.make("point_u_maze")  # reference behaviour; options: envs.info(id).options
    env = envs.make("ant_u4_maze", contacts="feet", cell_jitter=0.5)
    env = envs.make("point_big_maze", goal_max_cells=4)  # training goals within 4 cells
    state = jax.jit(env.reset)(jax.random.key(0))   # obs = concat(state[4], goal[2])
    envs.check("point_u_maze", batch=64, steps=100)  # {"steps_per_s": ..., "finite": True, ...}
    envs.render("ant_big_maze", "ant_big_maze.png")  # top-down layout (needs matplotlib)

The ids, their dimensions and their measured speed are listed in ``docs/envs.md``.

Environments follow Wang et al. 2025 (arXiv 2503.14858) and JaxGCRL (Bortkiewicz et al. 2024,
arXiv 2408.11052); see :mod:`envs.base` for the reward, done and observation conventions.
"""

from __future__ import annotations

from envs.base import EPISODE_LENGTH, EnvInfo, GoalEnv, goal_metrics
from envs.check import check
from envs.registry import goal_layout, info, list_envs, make, maze_layout
from envs.render import render

__all__ = [
    "EPISODE_LENGTH",
    "EnvInfo",
    "GoalEnv",
    "check",
    "goal_layout",
    "goal_metrics",
    "info",
    "list_envs",
    "make",
    "maze_layout",
    "render",
]
