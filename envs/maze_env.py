"""Goal reaching in a maze, for any :class:`~envs.robots.Robot` whose goal space is its x, y."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from envs.base import EnvInfo, GoalEnv
from envs.maze import Maze
from envs.robots import Robot


class MazeEnv(GoalEnv):
    """A robot in a maze of wall boxes; start and goal are drawn from the layout's cells.

    The goal is the robot's :meth:`~envs.robots.Robot.goal_from_xy` of the drawn point: x, y
    for the point mass and the ant, ``(x, y, 1.25)`` for the humanoid.

    Reset picks a start cell uniformly among the ``R`` cells and a goal cell uniformly among the
    ``G`` cells (Wang et al. 2025, arXiv 2503.14858: "start and goal are drawn uniformly from
    their cells"; JaxGCRL's ``sample_choice``), then offsets each uniformly by up to
    ``cell_jitter`` metres along x and y from the cell centre. JaxGCRL uses the exact centres
    (``cell_jitter = 0``); the jitter spreads starts and goals over the cell while
    ``cell_jitter + robot.clearance <= cell_size / 2`` keeps the robot clear of the walls.

    Args:
        robot: the body; its goal space starts with its centre x, y (``goal_indices`` start
            with ``(0, 1)``).
        maze: layout geometry from :func:`envs.maze.build_maze` (cell centres at
            ``(row * cell_size, col * cell_size)``).
        info: static facts of the env id.
        cell_jitter: half-width of the uniform offset inside a cell (metres), >= 0.
        merge_walls: build the walls from few merged boxes (same solid, faster), see
            :meth:`envs.maze.Maze.wall_boxes`.
        backend: see :class:`~envs.base.GoalEnv`.
        n_frames: see :class:`~envs.base.GoalEnv`.

    Raises:
        ValueError: if the jitter would put the robot into a wall, or is negative.
    """

    def __init__(
        self,
        robot: Robot,
        maze: Maze,
        info: EnvInfo,
        cell_jitter: float,
        merge_walls: bool = True,
        backend: str | None = None,
        n_frames: int | None = None,
    ) -> None:
        if cell_jitter < 0:
            raise ValueError(f"cell_jitter must be >= 0, got {cell_jitter}")
        if cell_jitter + robot.clearance > 0.5 * maze.cell_size:
            raise ValueError(
                f"cell_jitter {cell_jitter} + robot clearance {robot.clearance} exceeds half a "
                f"cell ({0.5 * maze.cell_size}): starts could touch a wall"
            )
        super().__init__(
            robot, info, maze.walls_mjcf(merge_walls, robot.wall_friction), backend, n_frames
        )
        self.maze = maze
        self.cell_jitter = float(cell_jitter)
        self._start_xy = jnp.asarray(maze.start_xy)
        self._goal_xy = jnp.asarray(maze.goal_xy)

    def _in_random_cell(self, rng: jax.Array, centres: jax.Array) -> jax.Array:
        """A point drawn uniformly near one of ``centres`` ``[n, 2]``; float32 ``[2]``."""
        rng_cell, rng_offset = jax.random.split(rng)
        i = jax.random.randint(rng_cell, (), 0, centres.shape[0])
        j = self.cell_jitter
        return centres[i] + jax.random.uniform(rng_offset, (2,), jnp.float32, -j, j)

    def sample_start_goal(self, rng: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(start_xy [2], goal [goal_dim])`` float32, metres; see the class docstring."""
        rng_start, rng_goal = jax.random.split(rng)
        return (
            self._in_random_cell(rng_start, self._start_xy),
            self.robot.goal_from_xy(self._in_random_cell(rng_goal, self._goal_xy)),
        )
