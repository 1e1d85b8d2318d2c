"""Env ids: their static facts (:class:`~envs.base.EnvInfo`) and how to build each one."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from envs.arena import RadialGoalEnv
from envs.base import EPISODE_LENGTH, EnvInfo, GoalEnv
from envs.maze import build_maze, get_layout
from envs.maze_env import MazeEnv
from envs.robots import Ant, PointMass

POINT_CELL_SIZE = 2.0
"""Cell edge of the point-mass mazes (metres): eight sphere radii, so a cell is a corridor the
point crosses in about 12 env steps at full speed; chosen here (JaxGCRL's point maze uses 4.0)."""
POINT_CELL_JITTER = 0.5
"""Start / goal offset half-width in the point mazes (metres): a quarter of a cell."""
ANT_CELL_SIZE = 4.0
"""Cell edge of the ant mazes (metres), Wang et al. 2025 (arXiv 2503.14858) and JaxGCRL."""
ANT_CELL_JITTER = 0.5
"""Start / goal offset half-width in the ant mazes (metres); 0.5 + the ant's 1.2 m reach stays
inside half a 4 m cell."""
SUCCESS_THRESHOLD = 0.5
"""Goal radius (metres) for ant, the ant mazes and the point maze (Wang et al. 2025, table of
environments; JaxGCRL ``goal_dist = 0.5``)."""


@dataclasses.dataclass(frozen=True)
class _Entry:
    info: EnvInfo
    factory: Callable[..., GoalEnv]


def _info(env_id: str, state_dim: int, action_dim: int, description: str) -> EnvInfo:
    return EnvInfo(
        env_id=env_id,
        state_dim=state_dim,
        goal_indices=(0, 1),
        goal_dim=2,
        action_dim=action_dim,
        success_threshold=SUCCESS_THRESHOLD,
        episode_length=EPISODE_LENGTH,
        backend="spring",
        description=description,
    )


_POINT_U_MAZE = _info(
    "point_u_maze",
    4,
    2,
    "point mass in the U-maze (cell 2 m); cheap CPU default (paper's simple_u_maze)",
)
_ANT = _info("ant", 29, 8, "brax ant, goal 10 m away at a uniform bearing (JaxGCRL)")
_ANT_U_MAZE = _info("ant_u_maze", 29, 8, "brax ant in the U-maze (cell 4 m), JaxGCRL layout")


def _make_point_u_maze(
    cell_jitter: float = POINT_CELL_JITTER, merge_walls: bool = True, **kwargs: Any
) -> GoalEnv:
    maze = build_maze(get_layout("u_maze"), POINT_CELL_SIZE)
    return MazeEnv(PointMass(), maze, _POINT_U_MAZE, cell_jitter, merge_walls, **kwargs)


def _make_ant(**kwargs: Any) -> GoalEnv:
    return RadialGoalEnv(Ant(), _ANT, **kwargs)


def _make_ant_u_maze(
    cell_jitter: float = ANT_CELL_JITTER, merge_walls: bool = True, **kwargs: Any
) -> GoalEnv:
    maze = build_maze(get_layout("u_maze"), ANT_CELL_SIZE)
    return MazeEnv(Ant(), maze, _ANT_U_MAZE, cell_jitter, merge_walls, **kwargs)


_REGISTRY: dict[str, _Entry] = {
    e.info.env_id: e
    for e in (
        _Entry(_POINT_U_MAZE, _make_point_u_maze),
        _Entry(_ANT, _make_ant),
        _Entry(_ANT_U_MAZE, _make_ant_u_maze),
    )
}


def list_envs() -> list[str]:
    """All registered env ids, sorted."""
    return sorted(_REGISTRY)


def _entry(env_id: str) -> _Entry:
    try:
        return _REGISTRY[env_id]
    except KeyError:
        raise KeyError(f"unknown env id {env_id!r}; known ids: {', '.join(list_envs())}") from None


def info(env_id: str) -> EnvInfo:
    """Static facts of ``env_id``; builds no physics and compiles nothing.

    Raises:
        KeyError: for an unknown id; the message names it and lists the known ids.
    """
    return _entry(env_id).info


def make(env_id: str, **kwargs: Any) -> GoalEnv:
    """Build the env ``env_id``.

    Args:
        env_id: one of :func:`list_envs`.
        **kwargs: passed to the env's constructor: ``n_frames`` for all; ``cell_jitter`` and
            ``merge_walls`` for mazes (:class:`~envs.maze_env.MazeEnv`); ``goal_radius`` and
            ``start_jitter`` for ``ant`` (:class:`~envs.arena.RadialGoalEnv`).

    Returns:
        the env; ``env.info == info(env_id)``.

    Raises:
        KeyError: for an unknown id; the message names it and lists the known ids.
        TypeError: for an unknown keyword; ValueError: for a bad value.
    """
    return _entry(env_id).factory(**kwargs)
