"""Env ids: their static facts (:class:`~envs.base.EnvInfo`) and how to build each one.

Ids (Wang et al. 2025, arXiv 2503.14858, table of environments; layouts in :mod:`envs.maze`):

- ``point_u_maze``, ``point_big_maze``, ``point_hardest_maze``: point mass, cell 2 m (cheap CPU
  path; ``point_u_maze`` is the paper's ``simple_u_maze`` role).
- ``ant``; ``ant_u_maze``, ``ant_u4_maze``, ``ant_u5_maze``, ``ant_big_maze``,
  ``ant_hardest_maze``: brax's ant, cell 4 m.
- ``humanoid``; ``humanoid_u_maze``, ``humanoid_big_maze``, ``humanoid_hardest_maze``: brax's
  humanoid with JaxGCRL's 268-dim state, cell 2 m.
- ``<maze id>_eval`` for every maze id: same walls and starts, goals only in far cells.

Options (:data:`envs.base.ENV_OPTIONS`, listed per id in :attr:`EnvInfo.options`): every id
defaults to the reference code's behaviour (github.com/wang-kevin3290/scaling-crl): goals at
goal cell centres, starts at the start cell centre plus the robot's reset noise, and its contact
set. ``make(id, contacts="feet")`` (ant and humanoid mazes, humanoid) takes brax's bundled
models' feet-only contacts; ``make(id, cell_jitter=j)`` (mazes) spreads starts and goals over
their cells; ``make(id, goal_max_cells=k)`` (mazes) draws goals only in the goal cells at most
``k`` cells (shortest path) from the start: the stitching experiment's training env
(:func:`envs.maze.near_goal_layout`).
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
from envs.base import ENV_OPTIONS, EPISODE_LENGTH, EnvInfo, GoalEnv
from envs.maze import Layout, build_maze, get_layout, near_goal_layout
from envs.maze_env import MazeEnv, max_cell_jitter
from envs.robots import CONTACT_SETS, Ant, Humanoid, PointMass, Reacher, Robot

POINT_CELL_SIZE = 2.0
"""Cell edge of the point-mass mazes (metres): eight sphere radii, so a cell is a corridor the
point crosses in about 12 env steps at full speed; chosen here (JaxGCRL's point maze uses 4.0)."""
POINT_CELL_JITTER = 0.5
"""This project's earlier start / goal offset half-width in the point mazes (metres, a quarter of
a cell), for ``make(id, cell_jitter=POINT_CELL_JITTER)``; the default is 0 (reference
placement, see :class:`~envs.maze_env.MazeEnv`)."""
ANT_CELL_SIZE = 4.0
"""Cell edge of the ant mazes (metres): scaling-crl ``envs/ant_maze.py:330``
(``maze_size_scaling=4.0``), Wang et al. 2025 (arXiv 2503.14858)."""
ANT_CELL_JITTER = 0.5
"""This project's earlier start / goal offset half-width in the ant mazes (metres), for
``make(id, cell_jitter=ANT_CELL_JITTER)``; 0.5 + the ant's 1.2 m reach stays inside half a 4 m
cell. The default is 0 (reference placement)."""
HUMANOID_OPEN_FLOOR_TIMESTEP = 0.003
"""Physics step of the open-floor ``humanoid`` (seconds; 10 per env step, so 0.03 s): the step the
reference code runs. scaling-crl ``envs/humanoid.py:37-39`` asks for 1.5 ms with
``sys.tree_replace({'opt.timestep': 0.0015})``, but brax 0.10.1's spring pipeline integrates with
``sys.dt`` (``brax/spring/integrator.py``, ``spring/pipeline.py``), which ``mjcf.load`` set from
the XML's ``timestep="0.003"`` and which that call leaves as it was: the reference's
``env.dt`` is 0.03 s. Its humanoid mazes set ``sys.replace(dt=0.0015)``
(``envs/humanoid_maze.py:153``) and do run 1.5 ms x 10, as the harness's
(:class:`envs.robots.Humanoid`'s default). Measured: ``benchmarks/reference/physics.py``,
docs/fidelity.md "Physics side by side"."""

HUMANOID_CELL_SIZE = 2.0
"""Cell edge of the humanoid mazes (metres): scaling-crl ``envs/humanoid_maze.py:142``
(``maze_size_scaling=2.0``, "was 4.0 for antmaze -- just trying to make it tractable")."""
HUMANOID_CELL_JITTER = 0.25
"""This project's earlier start / goal offset half-width in the humanoid mazes (metres), for
``make(id, cell_jitter=HUMANOID_CELL_JITTER)``; 0.25 + the humanoid's 0.6 m reach stays inside
half a 2 m cell. The default is 0 (reference placement: the exact cell centres)."""
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
    layout: str | None = None


def _info(
    env_id: str,
    robot: Robot,
    description: str,
    goal_indices: tuple[int, ...] = (0, 1),
    success_threshold: float = SUCCESS_THRESHOLD,
    backend: str = "spring",
    options: tuple[str, ...] = (),
    physics_revision: int = 0,
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
        options=options,
        physics_revision=physics_revision,
    )


def _with_contacts(robot: Robot, contacts: str | None) -> Robot:
    """``robot`` with its ``contacts`` field set (a robot without one is returned as is)."""
    if contacts is None or not hasattr(robot, "contacts"):
        return robot
    return dataclasses.replace(robot, contacts=contacts)  # type: ignore[type-var]


def _make_maze(
    robot: Robot,
    layout: str,
    cell_size: float,
    info: EnvInfo,
    cell_jitter: float = 0.0,
    merge_walls: bool = True,
    contacts: str | None = None,
    goal_max_cells: int | None = None,
    **kwargs: Any,
) -> GoalEnv:
    maze = build_maze(_capped(info.env_id, get_layout(layout), goal_max_cells), cell_size)
    return MazeEnv(_with_contacts(robot, contacts), maze, info, cell_jitter, merge_walls, **kwargs)


def _capped(env_id: str, layout: Layout, goal_max_cells: int | None) -> Layout:
    """``layout`` with :func:`envs.maze.near_goal_layout` applied (as is for None); a
    ValueError names ``env_id``."""
    if goal_max_cells is None:
        return layout
    try:
        return near_goal_layout(layout, goal_max_cells)
    except ValueError as exc:
        raise ValueError(f"env {env_id!r}: {exc}") from None


def _maze_entries(
    prefix: str,
    robot: Robot,
    mazes: tuple[str, ...],
    goal_indices: tuple[int, ...],
    cell_size: float,
    options: tuple[str, ...],
    layouts: dict[str, str] | None = None,
) -> list[_Entry]:
    """``<prefix>_<maze>`` and ``<prefix>_<maze>_eval`` for every layout name in ``mazes``;
    ``layouts`` maps a layout name to the one to use instead (e.g. the humanoid's own big eval
    layout)."""
    entries = []
    for maze in mazes:
        for name in (maze, f"{maze}_eval"):
            env_id = f"{prefix}_{name}"
            layout = (layouts or {}).get(name, name)
            goals = "goals in far cells only" if name.endswith("_eval") else "goals everywhere"
            description = _DESCRIPTIONS.get(
                env_id, f"{_ROBOT_NAMES[type(robot)]} in {maze} (cell {cell_size:g} m), {goals}"
            )
            info = dataclasses.replace(
                _info(env_id, robot, description, goal_indices, options=options),
                max_cell_jitter=max_cell_jitter(robot, cell_size),
            )
            factory = functools.partial(_make_maze, robot, layout, cell_size, info)
            entries.append(_Entry(info, factory, layout))
    return entries


def _make_ant(info: EnvInfo, **kwargs: Any) -> GoalEnv:
    # The reference's open-floor ant (scaling-crl envs/assets/ant.xml) has brax's feet-only
    # contacts: its reference set is the "feet" one.
    return RadialGoalEnv(Ant(contacts="feet"), info, **kwargs)


def _make_humanoid(info: EnvInfo, contacts: str = "reference", **kwargs: Any) -> GoalEnv:
    kwargs.setdefault("goal_radius", HUMANOID_GOAL_RADIUS)
    kwargs.setdefault("start_jitter", 0.0)
    robot = Humanoid(contacts=contacts, timestep=HUMANOID_OPEN_FLOOR_TIMESTEP)
    return RadialGoalEnv(robot, info, **kwargs)


_POINT_MAZES = ("u_maze", "big_maze", "hardest_maze")
"""Layouts of the point-mass and humanoid mazes (scaling-crl ``envs/humanoid_maze.py:83-95`` has
u, big and hardest, and no U4 / U5 maze)."""
_ANT_MAZES = ("u_maze", "u4_maze", "u5_maze", "big_maze", "hardest_maze")
"""Layouts of the ant mazes (Wang et al. 2025 use u4, u5, big and hardest)."""
_MAZE_OPTIONS = ("cell_jitter", "contacts", "goal_max_cells")
"""Options of the ant and humanoid mazes."""
_POINT_MAZE_OPTIONS = ("cell_jitter", "goal_max_cells")
"""Options of the point mazes (the point mass has one contact set)."""
_HUMANOID_LAYOUTS = {"big_maze_eval": "humanoid_big_maze_eval"}
"""Layouts of the humanoid and point mazes that differ from the ant's: their big eval layout has
goal cell (2, 5) too (scaling-crl ``envs/humanoid_maze.py:42-49`` and, for the reference's point
maze, ``envs/simple_maze.py:44-51``)."""


def _make_reacher(info: EnvInfo, **kwargs: Any) -> GoalEnv:
    kwargs.setdefault("goal_radius", REACHER_GOAL_RADIUS)
    kwargs.setdefault("start_jitter", 0.0)
    return RadialGoalEnv(Reacher(), info, **kwargs)


_ANT = _info("ant", Ant(), "brax ant, goal 10 m away at a uniform bearing (JaxGCRL)")
_HUMANOID = _info(
    "humanoid",
    Humanoid(timestep=HUMANOID_OPEN_FLOOR_TIMESTEP),
    "brax humanoid (3 ms x 10), goal torso (x, y, 1.25) at U(1, 5) m, uniform bearing (JaxGCRL)",
    (0, 1, 2),
    options=("contacts",),
    physics_revision=1,
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
            "point",
            PointMass(),
            _POINT_MAZES,
            (0, 1),
            POINT_CELL_SIZE,
            _POINT_MAZE_OPTIONS,
            _HUMANOID_LAYOUTS,
        ),
        _Entry(_ANT, functools.partial(_make_ant, _ANT)),
        *_maze_entries("ant", Ant(), _ANT_MAZES, (0, 1), ANT_CELL_SIZE, _MAZE_OPTIONS),
        _Entry(_HUMANOID, functools.partial(_make_humanoid, _HUMANOID)),
        *_maze_entries(
            "humanoid",
            Humanoid(),
            _POINT_MAZES,
            (0, 1, 2),
            HUMANOID_CELL_SIZE,
            _MAZE_OPTIONS,
            _HUMANOID_LAYOUTS,
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


def maze_layout(env_id: str) -> str | None:
    """The name in :data:`envs.maze.LAYOUTS` of the layout of a maze id, None for other ids;
    builds nothing.

    Raises:
        KeyError: for an unknown id; the message names it and lists the known ids.
    """
    return _entry(env_id).layout


def goal_layout(env_id: str, goal_max_cells: int | None = None) -> Layout:
    """The layout a maze id draws its starts and goals from, with ``goal_max_cells`` applied
    (:func:`envs.maze.near_goal_layout`); builds no physics. ``envs.make(env_id,
    goal_max_cells=k).maze.layout`` is this layout.

    Args:
        env_id: a maze id (:func:`maze_layout` is not None).
        goal_max_cells: the goals' largest shortest-path distance from a start cell (cells,
            an int >= 1); None keeps every goal cell.

    Raises:
        KeyError: for an unknown id.
        ValueError: for an id that is not a maze, a bad ``goal_max_cells``, or one that leaves
            no goal cell (the message names the id and ``goal_max_cells``).
    """
    name = maze_layout(env_id)
    if name is None:
        raise ValueError(f"env {env_id!r} is not a maze; it has no layout")
    return _capped(env_id, get_layout(name), goal_max_cells)


def make(
    env_id: str,
    *,
    contacts: str = "reference",
    cell_jitter: float = 0.0,
    goal_max_cells: int | None = None,
    **kwargs: Any,
) -> GoalEnv:
    """Build the env ``env_id``; with no keywords, as the reference code has it.

    Args:
        env_id: one of :func:`list_envs`.
        contacts: ``"reference"`` (default: the reference code's contact set) or ``"feet"``
            (brax's bundled models: only the feet touch floor and walls); see
            :class:`~envs.robots.Ant` and :class:`~envs.robots.Humanoid`. Only for ids whose
            :attr:`EnvInfo.options` lists it (ant and humanoid mazes, humanoid).
        cell_jitter: start / goal offset half-width inside their cells (metres); 0 (default)
            is the reference placement, see :class:`~envs.maze_env.MazeEnv`. Only for maze
            ids. The earlier defaults are :data:`POINT_CELL_JITTER`, :data:`ANT_CELL_JITTER`
            and :data:`HUMANOID_CELL_JITTER`.
        goal_max_cells: draw goals only in the goal cells at most this many cells (shortest
            path, :func:`envs.maze.bfs_distances`) from the nearest start cell, an int >= 1;
            None (default) keeps every goal cell. Only for maze ids. The stitching experiment's
            training env: evaluate on the far goals of the ``_eval`` id, built without it (see
            :func:`goal_layout`, :func:`envs.maze.near_goal_layout`).
        **kwargs: passed to the env's constructor: ``n_frames`` for all; ``merge_walls`` for
            mazes (:class:`~envs.maze_env.MazeEnv`); ``goal_radius`` and ``start_jitter`` for
            ``ant``, ``humanoid`` and ``reacher`` (:class:`~envs.arena.RadialGoalEnv`);
            ``panda_source`` for the arm tasks (:class:`~envs.arm.ArmEnv`).

    Returns:
        the env; ``env.info == info(env_id)``.

    Raises:
        KeyError: for an unknown id; the message names it and lists the known ids.
        ValueError: for an option away from its default on an id that does not list it in
            :attr:`EnvInfo.options` (the message names the id and the option), for a
            ``contacts`` other than ``"reference"`` / ``"feet"``, for a ``goal_max_cells`` that
            is not an int >= 1 or leaves no goal cell (the message names the id and the cap),
            and for other bad values (e.g. a jitter that could put the robot into a wall).
        TypeError: for an unknown keyword.
    """
    entry = _entry(env_id)
    if contacts not in CONTACT_SETS:
        raise ValueError(f"{env_id}: contacts must be one of {CONTACT_SETS}, got {contacts!r}")
    given = {"contacts": contacts, "cell_jitter": cell_jitter, "goal_max_cells": goal_max_cells}
    for option, value in given.items():
        if option in entry.info.options:
            kwargs[option] = value
        elif value != ENV_OPTIONS[option]:
            raise ValueError(
                f"env {env_id!r} does not take the option {option}={value!r} (only its "
                f"default {ENV_OPTIONS[option]!r}); its options: "
                f"{', '.join(entry.info.options) or 'none'}"
            )
    return entry.factory(**kwargs)
