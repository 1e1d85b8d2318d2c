"""What a policy does, not only how much it scores (issue 29): behaviour metrics and episodes.

Every evaluation reads a few numbers off each step's state (:class:`Probe`: the robot's root
position and orientation; for the arm the cube and the gripper point) and reduces them, in the
same jitted program, to behaviour metrics per episode (:func:`behaviour_metrics`), written to the
Parquet as ``eval/<name>`` (and ``random/<name>`` for the uniform policy) beside the scores.
Definitions and units: docs/results.md, "Behaviour metrics".

- every env: ``time_to_goal`` (steps until the goal is first reached; the episode length
  for an episode that never reaches it);
- mazes (:class:`MazeGeometry`): ``path_ratio`` (path length until the goal is first reached
  over the shortest feasible path, from the layout's BFS distances), ``wall_contacts`` (wall
  contacts per episode), ``detour_frac`` (share of episodes whose path enters a cell that the
  straight line from the start to the goal does not);
- humanoid: ``upright_frac`` (share of steps with the torso upright), ``height_moving_m``
  (mean torso height while moving);
- arm: ``time_to_touch`` (steps until the gripper first touches the cube), ``cube_path_m``
  (distance the cube travels before the goal is first reached).

A metric that is undefined for an evaluation (``path_ratio`` when no episode reached its goal,
``height_moving_m`` when the humanoid never moved) comes out NaN from the jitted program and is
left out of the Parquet (:func:`defined`), never written as a number.

``eval.record_episodes: N`` also keeps N deterministic episodes of the final policy in the run
folder (:data:`EPISODES_FILE`, :func:`write_episodes`): the probe of every step, on goals drawn
from :data:`RECORD_KEY`, the same key for every run, so the runs of a sweep (every depth and
seed) are recorded on the same starts and goals.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from envs.arm import PandaCube
from envs.maze import WALL, Maze, bfs_distances
from envs.robots import Humanoid

EPISODES_FILE = "episodes.parquet"
"""The recorded episodes in a run folder (one row per episode and step)."""
RECORD_SEED = 29
"""Seed of :data:`RECORD_KEY` (the issue's number): the same for every run, so every run of an
env records the same starts and goals."""
WALL_CONTACT_TOL_M = 0.02
"""A maze step touches a wall when the root's horizontal distance to the nearest wall cell is
below the robot's clearance (:attr:`envs.robots.Robot.clearance`) plus this (metres)."""
SEGMENT_SAMPLES = 512
"""Points along the straight start-goal line that mark the cells it crosses
(:meth:`MazeGeometry.line_cells`): 0.03 cells apart on the longest line of the largest layout
(the 9 x 12 hardest maze, 15 cells corner to corner)."""
UPRIGHT_TILT_DEG = 45.0
"""The humanoid is upright when its torso height lies in the robot's ``healthy_z_range`` and its
torso's up axis is tilted less than this from vertical (degrees)."""
MOVING_SPEED_MPS = 0.2
"""The humanoid is moving when its torso's horizontal speed exceeds this (m/s)."""
ARM_TOUCH_M = 0.05
"""The arm touches the cube when its gripper point (between the fingertips) is within this of the
cube's centre (metres): the cube's half edge, 0.03 m, plus the finger pads' 2 cm."""
ARM_GRIPPER = slice(10, 13)
"""The gripper point x, y, z in the arm's state vector (:class:`envs.arm.PandaCube`)."""
MAY_BE_UNDEFINED = ("path_ratio", "height_moving_m")
"""Metrics that are NaN when no episode qualifies (:func:`defined` leaves them out)."""


def record_key() -> jax.Array:
    """The key every run records its episodes with (:data:`RECORD_SEED`)."""
    return jax.random.PRNGKey(RECORD_SEED)


@dataclasses.dataclass(frozen=True)
class MazeGeometry:
    """A maze as the jitted metrics read it.

    Attributes:
        wall: bool ``[rows, cols]``, True on wall cells.
        bfs_cells: float32 ``[rows, cols]``: shortest path from the start cell, in cells
            (:func:`envs.maze.bfs_distances`); NaN on walls and unreachable cells.
        cell_size: cell edge (metres).
        clearance: the robot's horizontal reach from its root (metres).
    """

    wall: np.ndarray
    bfs_cells: np.ndarray
    cell_size: float
    clearance: float

    @classmethod
    def of(cls, maze: Maze, clearance: float) -> MazeGeometry:
        """The geometry of an :class:`envs.maze.Maze` for a robot of ``clearance`` metres."""
        rows, cols = maze.shape
        wall = np.array([[cell == WALL for cell in row] for row in maze.layout], bool)
        bfs = np.full((rows, cols), np.nan, np.float32)
        for (r, c), d in bfs_distances(maze.layout).items():
            bfs[r, c] = d
        return cls(wall, bfs, float(maze.cell_size), float(clearance))

    def cell_of(self, xy: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Row and column (int32 ``[...]``, clipped to the grid) of points ``[..., 2]``."""
        rc = jnp.floor(xy / self.cell_size + 0.5).astype(jnp.int32)
        rows, cols = self.wall.shape
        return jnp.clip(rc[..., 0], 0, rows - 1), jnp.clip(rc[..., 1], 0, cols - 1)

    def wall_distance(self, xy: jax.Array) -> jax.Array:
        """Horizontal distance (metres) from points ``[..., 2]`` to the nearest wall cell among
        the 3 x 3 cells around each point (exact when the robot's reach is below a cell); 0
        inside a wall, inf with no wall around."""
        r, c = self.cell_of(xy)
        rows, cols = self.wall.shape
        wall = jnp.asarray(self.wall)
        best = jnp.full(xy.shape[:-1], jnp.inf)
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                rr, cc = jnp.clip(r + dr, 0, rows - 1), jnp.clip(c + dc, 0, cols - 1)
                centre = jnp.stack([rr, cc], axis=-1).astype(xy.dtype) * self.cell_size
                gap = jnp.abs(xy - centre) - 0.5 * self.cell_size
                d = jnp.linalg.norm(jnp.maximum(gap, 0.0), axis=-1)
                best = jnp.where(wall[rr, cc], jnp.minimum(best, d), best)
        return best

    def line_cells(self, start: jax.Array, goal: jax.Array) -> jax.Array:
        """Cells crossed by the straight line from ``start`` to ``goal`` (``[n, 2]`` each,
        metres): bool ``[n, rows, cols]``, sampled at :data:`SEGMENT_SAMPLES` points."""
        t = jnp.linspace(0.0, 1.0, SEGMENT_SAMPLES)[None, :, None]
        points = start[:, None, :] + t * (goal - start)[:, None, :]  # [n, S, 2]
        r, c = self.cell_of(points)
        n = start.shape[0]
        mask = jnp.zeros((n, *self.wall.shape), bool)
        episode = jnp.broadcast_to(jnp.arange(n)[:, None], r.shape)
        return mask.at[episode, r, c].set(True)


class Probe:
    """What an evaluation reads from each step's state, and the metrics it makes of it.

    Args:
        env: the evaluated env (:class:`envs.base.GoalEnv`).

    Attributes:
        maze: the :class:`MazeGeometry` of a maze env, else None.
        humanoid: whether the robot is the humanoid (upright and height metrics).
        arm: whether the env is an arm task (touch and cube metrics).
    """

    def __init__(self, env: Any) -> None:
        self.env = env
        self.state_dim = int(env.state_dim)
        self.goal_indices = tuple(int(i) for i in env.goal_indices)
        self.episode_length = int(env.episode_length)
        self.dt = float(env.dt)
        self.threshold = float(env.success_threshold)
        maze = getattr(env, "maze", None)
        self.maze = None if maze is None else MazeGeometry.of(maze, env.robot.clearance)
        self.humanoid = isinstance(env.robot, Humanoid)
        self.arm = isinstance(env.robot, PandaCube)
        self.healthy_z = tuple(getattr(env.robot, "healthy_z_range", (-math.inf, math.inf)))

    def __call__(self, state: Any) -> dict[str, jax.Array]:
        """The probe of a batch of env states: ``pos`` ``[n, 3]`` (the root body's position,
        metres), ``quat`` ``[n, 4]`` (its orientation, w x y z), ``achieved`` ``[n, goal_dim]``
        (the goal-space position: the root x, y in mazes, the cube for the arm), ``goal``
        ``[n, goal_dim]``, and for the arm ``gripper`` ``[n, 3]``."""
        x = state.pipeline_state.x
        s = state.obs[..., : self.state_dim]
        out = {
            "pos": x.pos[..., 0, :],
            "quat": x.rot[..., 0, :],
            "achieved": s[..., jnp.asarray(self.goal_indices)],
            "goal": state.obs[..., self.state_dim :],
        }
        if self.arm:
            out["gripper"] = s[..., ARM_GRIPPER]
        return out

    def metrics(
        self,
        first: dict[str, jax.Array],
        steps: dict[str, jax.Array],
        success: jax.Array,
        alive: jax.Array,
    ) -> dict[str, jax.Array]:
        """:func:`behaviour_metrics` with this env's geometry (see there)."""
        return behaviour_metrics(
            first,
            steps,
            success,
            alive,
            maze=self.maze,
            success_threshold=self.threshold,
            humanoid_z=self.healthy_z if self.humanoid else None,
            dt=self.dt,
            arm=self.arm,
        )


def first_true(flags: jax.Array) -> jax.Array:
    """Index of the first True along axis 0 of ``[T, n]``; ``T`` where there is none (int32
    ``[n]``)."""
    T = flags.shape[0]
    idx = jnp.arange(T, dtype=jnp.int32)[:, None]
    return jnp.min(jnp.where(flags, idx, T), axis=0)


def _masked_mean(values: jax.Array, mask: jax.Array) -> jax.Array:
    """Mean of ``values`` where ``mask``; NaN when the mask is empty."""
    count = jnp.sum(mask)
    total = jnp.sum(jnp.where(mask, values, 0.0))
    return jnp.where(count > 0, total / jnp.maximum(count, 1), jnp.nan)


def behaviour_metrics(
    first: dict[str, jax.Array],
    steps: dict[str, jax.Array],
    success: jax.Array,
    alive: jax.Array,
    *,
    maze: MazeGeometry | None = None,
    success_threshold: float = 0.5,
    humanoid_z: tuple[float, float] | None = None,
    dt: float = 0.05,
    arm: bool = False,
) -> dict[str, jax.Array]:
    """Behaviour metrics of ``n`` episodes of ``T`` steps, means over the episodes.

    Args:
        first: the probe of the reset states (:meth:`Probe.__call__`), entries ``[n, ...]``.
        steps: the probe after each step, entries ``[T, n, ...]``.
        success: ``[T, n]`` 1.0 where the step's resulting state is at the goal.
        alive: ``[T, n]`` 1.0 while the episode has not ended (no fall before the step).
        maze: the maze's geometry (maze metrics), or None.
        success_threshold: the success radius (metres): the shortest feasible path ends there.
        humanoid_z: the humanoid's healthy torso heights (humanoid metrics), or None.
        dt: seconds per env step (the humanoid's speed).
        arm: arm metrics (``steps`` and ``first`` hold ``gripper``).

    Returns:
        float32 scalars: ``time_to_goal`` (steps; T for an episode that never reaches the
        goal), and with ``maze`` ``path_ratio``, ``wall_contacts``, ``detour_frac``, with
        ``humanoid_z`` ``upright_frac``, ``height_moving_m``, with ``arm`` ``time_to_touch``
        (steps; T if never), ``cube_path_m``. ``path_ratio`` and ``height_moving_m`` are NaN
        when no episode qualifies. Definitions: docs/results.md, "Behaviour metrics".
    """
    T = success.shape[0]
    live = alive > 0
    reached = (success > 0) & live
    first_reach = first_true(reached)  # [n], T if never
    step_index = jnp.arange(T)[:, None]
    # Steps up to and including the first reach (all alive steps if never reached).
    before = live & (step_index <= first_reach[None, :])
    out = {"time_to_goal": jnp.mean(jnp.minimum(first_reach + 1, T).astype(jnp.float32))}
    if maze is not None:
        xy0 = first["pos"][..., :2]
        xy = steps["pos"][..., :2]  # [T, n, 2]
        prev = jnp.concatenate([xy0[None], xy[:-1]], axis=0)
        step_len = jnp.linalg.norm(xy - prev, axis=-1)
        path = jnp.sum(jnp.where(before, step_len, 0.0), axis=0)
        goal_xy = first["goal"][..., :2]
        gr, gc = maze.cell_of(goal_xy)
        cells = jnp.asarray(maze.bfs_cells)[gr, gc]
        shortest = cells * maze.cell_size - success_threshold
        ok = (first_reach < T) & (cells > 0) & (shortest > 0)
        ratio = path / jnp.where(ok, shortest, 1.0)
        out["path_ratio"] = _masked_mean(ratio, ok)
        touching = (maze.wall_distance(xy) < maze.clearance + WALL_CONTACT_TOL_M) & live
        touching0 = maze.wall_distance(xy0) < maze.clearance + WALL_CONTACT_TOL_M
        earlier = jnp.concatenate([touching0[None], touching[:-1]], axis=0)
        out["wall_contacts"] = jnp.mean(jnp.sum(touching & ~earlier, axis=0).astype(jnp.float32))
        on_line = maze.line_cells(xy0, goal_xy)  # [n, rows, cols]
        r, c = maze.cell_of(xy)
        episode = jnp.broadcast_to(jnp.arange(xy.shape[1])[None, :], r.shape)
        off_line = ~on_line[episode, r, c] & before
        out["detour_frac"] = jnp.mean(jnp.any(off_line, axis=0).astype(jnp.float32))
    if humanoid_z is not None:
        z = steps["pos"][..., 2]
        q = steps["quat"]
        up_z = 1.0 - 2.0 * (q[..., 1] ** 2 + q[..., 2] ** 2)  # the torso's up axis, z part
        upright = (
            (z >= humanoid_z[0])
            & (z <= humanoid_z[1])
            & (up_z > math.cos(math.radians(UPRIGHT_TILT_DEG)))
        )
        per_episode = jnp.sum(upright & live, axis=0) / jnp.maximum(jnp.sum(live, axis=0), 1)
        out["upright_frac"] = jnp.mean(per_episode.astype(jnp.float32))
        xy = steps["pos"][..., :2]
        prev = jnp.concatenate([first["pos"][None, :, :2], xy[:-1]], axis=0)
        speed = jnp.linalg.norm(xy - prev, axis=-1) / dt
        out["height_moving_m"] = _masked_mean(z, live & (speed > MOVING_SPEED_MPS))
    if arm:
        cube = steps["achieved"]
        touch = (jnp.linalg.norm(steps["gripper"] - cube, axis=-1) < ARM_TOUCH_M) & live
        out["time_to_touch"] = jnp.mean(jnp.minimum(first_true(touch) + 1, T).astype(jnp.float32))
        prev = jnp.concatenate([first["achieved"][None], cube[:-1]], axis=0)
        moved = jnp.linalg.norm(cube - prev, axis=-1)
        out["cube_path_m"] = jnp.mean(jnp.sum(jnp.where(before, moved, 0.0), axis=0))
    return {k: jnp.asarray(v, jnp.float32) for k, v in out.items()}


def defined(metrics: Mapping[str, float]) -> dict[str, float]:
    """``metrics`` (``name`` or ``prefix/name`` -> float) without the NaN values of
    :data:`MAY_BE_UNDEFINED` metrics: undefined for this evaluation, not diverged."""
    return {
        k: v
        for k, v in metrics.items()
        if not (k.rsplit("/", 1)[-1] in MAY_BE_UNDEFINED and math.isnan(v))
    }


# ---- recorded episodes ----------------------------------------------------------------------


def episode_table(
    first: Mapping[str, Any],
    steps: Mapping[str, Any],
    success: Any,
    dist: Any,
    alive: Any,
) -> pa.Table:
    """The recorded episodes as one table, one row per episode and step (step 0: the reset).

    Args:
        first: the probe of the reset states, entries ``[n, k]`` (:meth:`Probe.__call__`).
        steps: the probe after each step, entries ``[T, n, k]``.
        success, dist, alive: ``[T, n]`` as in :func:`episode_metrics`.

    Returns:
        columns ``episode`` (int32), ``step`` (int32, 0..T), ``x``, ``y``, ``z`` (root body,
        metres), ``qw``, ``qx``, ``qy``, ``qz`` (its orientation), ``achieved_<i>`` and
        ``goal_<i>`` (goal space, ``i < goal_dim``: the root x, y (z) in mazes and open
        arenas, the cube x, y, z for the arm), for the arm ``gripper_x``, ``gripper_y``,
        ``gripper_z``, and ``dist`` (metres), ``success``, ``alive`` (0 / 1; step 0: the
        reset state's own dist and success, alive 1); float32 but the ids. ``n (T + 1)`` rows.
    """

    def join(name: str) -> np.ndarray:  # [T + 1, n, k]
        return np.concatenate([np.asarray(first[name])[None], np.asarray(steps[name])], axis=0)

    pos, quat = join("pos"), join("quat")
    T1, n = pos.shape[:2]
    columns: dict[str, np.ndarray] = {
        "episode": np.repeat(np.arange(n, dtype=np.int32), T1),
        "step": np.tile(np.arange(T1, dtype=np.int32), n),
    }

    def flat(values: np.ndarray) -> np.ndarray:  # [T + 1, n] -> episode-major rows
        return np.ascontiguousarray(values.T).reshape(-1).astype(np.float32)

    for i, axis in enumerate("xyz"):
        columns[axis] = flat(pos[..., i])
    for i, part in enumerate("wxyz"):
        columns[f"q{part}"] = flat(quat[..., i])
    achieved, goal = join("achieved"), join("goal")
    for i in range(achieved.shape[-1]):
        columns[f"achieved_{i}"] = flat(achieved[..., i])
        columns[f"goal_{i}"] = flat(goal[..., i])
    if "gripper" in steps:
        gripper = join("gripper")
        for i, axis in enumerate("xyz"):
            columns[f"gripper_{axis}"] = flat(gripper[..., i])
    dist0 = np.linalg.norm(np.asarray(first["achieved"]) - np.asarray(first["goal"]), axis=-1)
    columns["dist"] = flat(np.concatenate([dist0[None], np.asarray(dist)], axis=0))
    columns["success"] = flat(np.concatenate([np.zeros((1, n)), np.asarray(success)], axis=0))
    columns["alive"] = flat(np.concatenate([np.ones((1, n)), np.asarray(alive)], axis=0))
    return pa.table(columns)


def episode_meta(env: Any, episode_length: int) -> dict[str, Any]:
    """What a reader of recorded episodes needs besides the table: ``env_id``,
    ``record_seed`` (:data:`RECORD_SEED`), ``episode_length`` (the run's, env steps), ``dt``
    (seconds per env step), ``success_threshold`` (metres)
    and for a maze its ``layout`` (rows of 1 / 0 / "R" / "G") and ``cell_size`` (metres)."""
    meta: dict[str, Any] = {
        "env_id": env.info.env_id,
        "record_seed": RECORD_SEED,
        "episode_length": int(episode_length),
        "dt": float(env.dt),
        "success_threshold": float(env.success_threshold),
    }
    maze = getattr(env, "maze", None)
    if maze is not None:
        meta["layout"] = [list(row) for row in maze.layout]
        meta["cell_size"] = float(maze.cell_size)
    return meta


def write_episodes(path: Path, table: pa.Table, meta: Mapping[str, Any]) -> None:
    """Write recorded episodes to Parquet atomically, with ``meta`` (JSON-able: env id,
    :data:`RECORD_SEED`, run id) in the file's key-value metadata under ``harness``.

    Raises:
        harness.store.WriteError: the file cannot be written (disk full, read-only).
    """
    import json

    from harness.store import _atomic_write_bytes

    schema = table.schema.with_metadata({"harness": json.dumps(dict(meta), sort_keys=True)})
    sink = pa.BufferOutputStream()
    pq.write_table(table.replace_schema_metadata(schema.metadata), sink, compression="zstd")
    _atomic_write_bytes(path, sink.getvalue().to_pybytes())


def read_episodes(path: Path) -> tuple[pa.Table, dict[str, Any]]:
    """Recorded episodes and their metadata (:func:`write_episodes`).

    Raises:
        FileNotFoundError: no such file; ``pyarrow.ArrowInvalid``: not Parquet.
    """
    import json

    table = pq.read_table(path)
    raw = (table.schema.metadata or {}).get(b"harness", b"{}")
    return table, json.loads(raw)


def episode_metrics(success: jax.Array, dist: jax.Array, alive: jax.Array) -> dict[str, jax.Array]:
    """Evaluation metrics of one episode per env, counting only the steps before it ended.

    Args:
        success: ``[T, n]`` 1.0 where the step's resulting state is within the success
            threshold of the goal.
        dist: ``[T, n]`` distance to the goal after each step (metres).
        alive: ``[T, n]`` 1.0 while the episode has not ended (no fall before the step).

    Steps after the end are masked by selection (``jnp.where``), not multiplication, so a NaN in
    the state of an episode that ended (a fall can blow the physics up) cannot reach a metric.

    Returns:
        means over the ``n`` episodes of ``time_at_goal`` (steps at the goal, out of ``T``),
        ``success_any`` (share of episodes that reached the goal at least once), ``dist_mean``
        (mean distance over alive steps, metres) and ``alive_steps``; float32 scalars
        (Wang et al. 2025, Sec. 5; the reference's ``evaluator.py``).
    """
    live = alive > 0
    success = jnp.where(live, success, 0.0)
    dist = jnp.where(live, dist, 0.0)
    alive_steps = jnp.sum(live, axis=0).astype(jnp.float32)
    return {
        "time_at_goal": jnp.mean(jnp.sum(success, axis=0)),
        "success_any": jnp.mean(jnp.any(success > 0, axis=0).astype(jnp.float32)),
        "dist_mean": jnp.mean(jnp.sum(dist, axis=0) / jnp.maximum(alive_steps, 1.0)),
        "alive_steps": jnp.mean(alive_steps),
    }


def record(trainer: Any, actor_params: Any) -> pa.Table:
    """``eval.record_episodes`` deterministic episodes of the policy ``actor_params`` on the goals
    of :func:`record_key` (the same for every run), as :func:`episode_table`; bit-identical for
    the same parameters.

    Args:
        trainer: a :class:`harness.train.Trainer` (its ``_rollout`` runs the episodes; the
            compiled program is kept in its ``record_jit``).
    """
    n = trainer.cfg.eval.record_episodes

    def rollout(params: Any) -> tuple[Any, ...]:
        return trainer._rollout(params, record_key(), jnp.asarray(False), n)

    if trainer.record_jit is None:
        trainer.record_jit = jax.jit(rollout, compiler_options=trainer.compiler_options)
    return episode_table(*jax.device_get(trainer.record_jit(actor_params)))
