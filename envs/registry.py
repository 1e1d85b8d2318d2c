"""Env ids: their static facts (:class:`~envs.base.EnvInfo`) and how to build each one.

Ids (Wang et al. 2025, arXiv 2503.14858, table of environments; layouts in :mod:`envs.maze`):

- ``point_u_maze``, ``point_big_maze``, ``point_hardest_maze``: point mass, cell 2 m (cheap CPU
  path; ``point_u_maze`` is the paper's ``simple_u_maze`` role).
- ``ant``; ``ant_u_maze``, ``ant_u4_maze``, ``ant_u5_maze``, ``ant_big_maze``,
  ``ant_hardest_maze``: brax's ant, cell 4 m.
- ``humanoid``; ``humanoid_u_maze``, ``humanoid_big_maze``, ``humanoid_hardest_maze``: brax's
  humanoid with JaxGCRL's 268-dim state, cell 2 m.
- ``<maze id>_eval`` for every maze id: same walls and starts, goals only in far cells.
- ``reacher``: brax's two-link reacher on the generalized pipeline, goal = fingertip x, y, z.
- ``arm_push_easy``, ``arm_push_hard``, ``arm_binpick_easy``, ``arm_binpick_hard``: MuJoCo
  Menagerie's Franka Panda and a cube on the MJX pipeline, goal = cube x, y, z
  (:mod:`envs.arm`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

from envs.arena import HUMANOID_GOAL_RADIUS, REACHER_GOAL_RADIUS, RadialGoalEnv
from envs.arm import ARM_TASKS, ArmEnv, PandaCube
from envs.base import EPISODE_LENGTH, EnvInfo, GoalEnv
from envs.maze import build_maze, get_layout
from envs.maze_env import MazeEnv
from envs.robots import Ant, Humanoid, PointMass, Reacher, Robot

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
HUMANOID_CELL_SIZE = 2.0
"""Cell edge of the humanoid mazes (metres), Wang et al. 2025 and JaxGCRL's
``maze_size_scaling=2.0`` ("was 4.0 for antmaze, just trying to make it tractable")."""
HUMANOID_CELL_JITTER = 0.25
"""Start / goal offset half-width in the humanoid mazes (metres); 0.25 + the humanoid's 0.6 m
reach stays inside half a 2 m cell (JaxGCRL uses the exact cell centres)."""
SUCCESS_THRESHOLD = 0.5
"""Goal radius (metres) for ant, humanoid, their mazes and the point mazes (Wang et al. 2025,
table of environments; JaxGCRL ``goal_dist = 0.5``); 3-D for the humanoid."""
REACHER_SUCCESS_THRESHOLD = 0.05
"""Fingertip-to-goal radius of the reacher (metres), Wang et al. 2025 and JaxGCRL."""
ARM_SUCCESS_THRESHOLD = 0.1
"""Cube-to-goal radius (metres, 3-D) of the arm tasks, Wang et al. 2025 and JaxGCRL."""

_DESCRIPTIONS = {
    "point_u_maze": "point mass in the U-maze (cell 2 m); cheap CPU default (paper's simple_u_maze)",
    "ant_u_maze": "brax ant in the U-maze (cell 4 m), JaxGCRL layout",
}
"""Descriptions kept from before the generated ones below (ids whose info must not change)."""
_ROBOT_NAMES: dict[type[Robot], str] = {
    PointMass: "point mass",
    Ant: "brax ant",
    Humanoid: "brax humanoid",
    Reacher: "brax reacher",
}


@dataclasses.dataclass(frozen=True)
class _Entry:
    info: EnvInfo
    factory: Callable[..., GoalEnv]


def _info(
    env_id: str,
    robot: Robot,
    description: str,
    goal_indices: tuple[int, ...] = (0, 1),
    success_threshold: float = SUCCESS_THRESHOLD,
    backend: str = "spring",
) -> EnvInfo:
    return EnvInfo(
        env_id=env_id,
        state_dim=robot.state_dim,
        goal_indices=goal_indices,
        goal_dim=len(goal_indices),
        action_dim=robot.action_dim,
        success_threshold=success_threshold,
        episode_length=EPISODE_LENGTH,
        backend=backend,
        description=description,
    )


def _make_maze(
    robot: Robot,
    layout: str,
    cell_size: float,
    info: EnvInfo,
    cell_jitter: float,
    merge_walls: bool = True,
    **kwargs: Any,
) -> GoalEnv:
    maze = build_maze(get_layout(layout), cell_size)
    return MazeEnv(robot, maze, info, cell_jitter, merge_walls, **kwargs)


def _maze_entries(
    prefix: str,
    robot: Robot,
    mazes: tuple[str, ...],
    goal_indices: tuple[int, ...],
    cell_size: float,
    jitter: float,
) -> list[_Entry]:
    """``<prefix>_<maze>`` and ``<prefix>_<maze>_eval`` for every layout name in ``mazes``."""
    entries = []
    for maze in mazes:
        for layout in (maze, f"{maze}_eval"):
            env_id = f"{prefix}_{layout}"
            goals = "goals in far cells only" if layout.endswith("_eval") else "goals everywhere"
            description = _DESCRIPTIONS.get(
                env_id, f"{_ROBOT_NAMES[type(robot)]} in {maze} (cell {cell_size:g} m), {goals}"
            )
            info = _info(env_id, robot, description, goal_indices)
            factory = functools.partial(
                _make_maze, robot, layout, cell_size, info, cell_jitter=jitter
            )
            entries.append(_Entry(info, factory))
    return entries


def _make_ant(info: EnvInfo, **kwargs: Any) -> GoalEnv:
    return RadialGoalEnv(Ant(), info, **kwargs)


def _make_humanoid(info: EnvInfo, **kwargs: Any) -> GoalEnv:
    kwargs.setdefault("goal_radius", HUMANOID_GOAL_RADIUS)
    kwargs.setdefault("start_jitter", 0.0)
    return RadialGoalEnv(Humanoid(), info, **kwargs)


_POINT_MAZES = ("u_maze", "big_maze", "hardest_maze")
"""Layouts of the point-mass and humanoid mazes (JaxGCRL has no humanoid U4 / U5 maze)."""
_ANT_MAZES = ("u_maze", "u4_maze", "u5_maze", "big_maze", "hardest_maze")
"""Layouts of the ant mazes (Wang et al. 2025 use u4, u5, big and hardest)."""


def _make_reacher(info: EnvInfo, **kwargs: Any) -> GoalEnv:
    kwargs.setdefault("goal_radius", REACHER_GOAL_RADIUS)
    kwargs.setdefault("start_jitter", 0.0)
    return RadialGoalEnv(Reacher(), info, **kwargs)


_ANT = _info("ant", Ant(), "brax ant, goal 10 m away at a uniform bearing (JaxGCRL)")
_HUMANOID = _info(
    "humanoid",
    Humanoid(),
    "brax humanoid, goal torso (x, y, 1.25) at U(1, 5) m, uniform bearing (JaxGCRL)",
    (0, 1, 2),
)

_REACHER = _info(
    "reacher",
    Reacher(),
    "brax reacher (generalized), goal fingertip (x, y, 0.01) within 0.2 m of the base (JaxGCRL)",
    (4, 5, 6),
    REACHER_SUCCESS_THRESHOLD,
    "generalized",
)

_ARM_DESCRIPTIONS = {
    "arm_push_easy": "Franka Panda (MJX): push the cube 0.2 m right, start / goal in 0.2 m squares",
    "arm_push_hard": "Franka Panda (MJX): push the cube right, start / goal in 0.5 m squares",
    "arm_binpick_easy": "Franka Panda (MJX): cube from the left bin to the right bin's centre",
    "arm_binpick_hard": "Franka Panda (MJX): cube from the left bin anywhere into the right bin",
}


def _make_arm(info: EnvInfo, **kwargs: Any) -> GoalEnv:
    return ArmEnv(ARM_TASKS[info.env_id], info, **kwargs)


def _arm_entries() -> list[_Entry]:
    """The four arm tasks (:data:`envs.arm.ARM_TASKS`): goal = cube x, y, z = ``state[0:3]``."""
    entries = []
    for env_id, description in _ARM_DESCRIPTIONS.items():
        info = _info(env_id, PandaCube(), description, (0, 1, 2), ARM_SUCCESS_THRESHOLD, "mjx")
        entries.append(_Entry(info, functools.partial(_make_arm, info)))
    return entries


_REGISTRY: dict[str, _Entry] = {
    e.info.env_id: e
    for e in (
        *_maze_entries(
            "point", PointMass(), _POINT_MAZES, (0, 1), POINT_CELL_SIZE, POINT_CELL_JITTER
        ),
        _Entry(_ANT, functools.partial(_make_ant, _ANT)),
        *_maze_entries("ant", Ant(), _ANT_MAZES, (0, 1), ANT_CELL_SIZE, ANT_CELL_JITTER),
        _Entry(_HUMANOID, functools.partial(_make_humanoid, _HUMANOID)),
        *_maze_entries(
            "humanoid",
            Humanoid(),
            _POINT_MAZES,
            (0, 1, 2),
            HUMANOID_CELL_SIZE,
            HUMANOID_CELL_JITTER,
        ),
        _Entry(_REACHER, functools.partial(_make_reacher, _REACHER)),
        *_arm_entries(),
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
            ``start_jitter`` for ``ant``, ``humanoid`` and ``reacher``
            (:class:`~envs.arena.RadialGoalEnv`); ``panda_source`` for the arm tasks
            (:class:`~envs.arm.ArmEnv`).

    Returns:
        the env; ``env.info == info(env_id)``.

    Raises:
        KeyError: for an unknown id; the message names it and lists the known ids.
        TypeError: for an unknown keyword; ValueError: for a bad value.
    """
    return _entry(env_id).factory(**kwargs)
