"""Goal reaching in a maze, for any :class:`~envs.robots.Robot` whose goal space is its x, y."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from envs.base import EnvInfo, GoalEnv
from envs.maze import Maze
from envs.robots import Robot


def max_cell_jitter(robot: Robot, cell_size: float) -> float:
    """The largest start / goal offset half-width (metres) that keeps ``robot`` clear of the
    walls in cells of ``cell_size`` metres: ``cell_size / 2 - robot.clearance``."""
    return 0.5 * cell_size - robot.clearance


class MazeEnv(GoalEnv):
    """A robot in a maze of wall boxes; start and goal are drawn from the layout's cells.

    The goal is the robot's :meth:`~envs.robots.Robot.goal_from_xy` of the drawn point: x, y
    for the point mass and the ant, ``(x, y, 1.25)`` for the humanoid.

    Reset picks a start cell uniformly among the ``R`` cells and a goal cell uniformly among the
    ``G`` cells (scaling-crl ``envs/ant_maze.py:485-488``, ``envs/humanoid_maze.py:341-348``:
    ``jax.random.randint`` over the cells), then places them:

    - ``cell_jitter = 0`` (default, the reference placement): the goal exactly at its cell's
      centre (scaling-crl ``envs/ant_maze.py:214-222``, ``envs/humanoid_maze.py:73-80``); the
      start at its cell's centre plus ``U(-n, n)`` on x and y with ``n = robot.start_noise``,
      the reference reset's noise on the torso x, y (ant 0.1 m: ``envs/ant_maze.py:307-309,
      386-389``; humanoid 0: ``envs/humanoid_maze.py:138, 190-196``; point mass 0: its noise is
      overwritten, ``envs/simple_maze.py:210-218``).
    - ``cell_jitter = j > 0`` (this project's earlier placement): the goal offset by ``U(-j, j)``
      on x and y from its cell centre, the start by ``U(-s, s)`` with ``s = max(j, n)``.

    ``max(j, n) + robot.clearance <= cell_size / 2`` keeps the robot clear of the walls.

    Walls: :meth:`envs.maze.Maze.walls_mjcf` with ``contype = robot.wall_contype`` (1 for the
    reference contact sets of the ant and the humanoid, as in the reference code).

    Args:
        robot: the body; its goal space starts with its centre x, y (``goal_indices`` start
            with ``(0, 1)``).
        maze: layout geometry from :func:`envs.maze.build_maze` (cell centres at
            ``(row * cell_size, col * cell_size)``).
        info: static facts of the env id.
        cell_jitter: half-width of the uniform goal (and start) offset inside a cell (metres),
            >= 0; 0 is the reference placement.
        merge_walls: build the walls from few merged boxes (same solid, faster), see
            :meth:`envs.maze.Maze.wall_boxes`.
        backend: see :class:`~envs.base.GoalEnv`.
        n_frames: see :class:`~envs.base.GoalEnv`.

    Attributes:
        cell_jitter: the goal offset half-width (metres).
        start_jitter: the start offset half-width, ``max(cell_jitter, robot.start_noise)``
            (metres).

    Raises:
        ValueError: if the offsets could put the robot into a wall, or ``cell_jitter`` is
            negative.
    """

    def __init__(
        self,
        robot: Robot,
        maze: Maze,
        info: EnvInfo,
        cell_jitter: float = 0.0,
        merge_walls: bool = True,
        backend: str | None = None,
        n_frames: int | None = None,
    ) -> None:
        if cell_jitter < 0:
            raise ValueError(f"cell_jitter must be >= 0, got {cell_jitter}")
        start_jitter = max(float(cell_jitter), robot.start_noise)
        if start_jitter > max_cell_jitter(robot, maze.cell_size):
            raise ValueError(
                f"cell_jitter {cell_jitter} (start offset {start_jitter}) + robot clearance "
                f"{robot.clearance} exceeds half a cell ({0.5 * maze.cell_size}): starts could "
                "touch a wall"
            )
        walls = maze.walls_mjcf(merge_walls, robot.wall_friction, contype=robot.wall_contype)
        super().__init__(robot, info, walls, backend, n_frames)
        self.maze = maze
        self.cell_jitter = float(cell_jitter)
        self.start_jitter = start_jitter
        self._start_xy = jnp.asarray(maze.start_xy)
        self._goal_xy = jnp.asarray(maze.goal_xy)

    @staticmethod
    def _in_random_cell(rng: jax.Array, centres: jax.Array, half_width: float) -> jax.Array:
        """A cell of ``centres`` ``[n, 2]`` drawn uniformly, offset by ``U(-half_width,
        half_width)`` on x and y (exactly its centre if ``half_width`` is 0); float32 ``[2]``."""
        rng_cell, rng_offset = jax.random.split(rng)
        i = jax.random.randint(rng_cell, (), 0, centres.shape[0])
        if half_width == 0.0:
            return centres[i]
        offset = jax.random.uniform(rng_offset, (2,), jnp.float32, -half_width, half_width)
        return centres[i] + offset

    def sample_start_goal(self, rng: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(start_xy [2], goal [goal_dim])`` float32, metres; see the class docstring."""
        rng_start, rng_goal = jax.random.split(rng)
        start = self._in_random_cell(rng_start, self._start_xy, self.start_jitter)
        goal_xy = self._in_random_cell(rng_goal, self._goal_xy, self.cell_jitter)
        return start, self.robot.goal_from_xy(goal_xy)
