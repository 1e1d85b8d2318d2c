"""The critic's value map over a maze for one goal (Wang et al. 2025, Fig. 3), from a run's
final parameters, and the choice of runs and goals to draw it for."""

from __future__ import annotations

import dataclasses
from typing import Any, cast

import numpy as np

from harness import algos
from harness.report.groups import Report
from harness.report.runs import ReportError, RunResult


@dataclasses.dataclass(frozen=True)
class ValueMap:
    """The critic's value over a maze for one goal.

    Attributes:
        run: the run whose final parameters were used.
        xs: ``[nx]`` world x of the grid columns (metres).
        ys: ``[ny]`` world y of the grid rows (metres).
        values: ``[ny, nx]`` ``f(s, a, g)`` with ``a = tanh(mean)`` of the actor at ``(s, g)``;
            NaN inside walls.
        goal_xy: the goal's ``(x, y)`` (metres).
        maze: the :class:`envs.maze.Maze` (walls, start and goal cells).
        energy: the run's energy (``l2``: ``f = -||phi(s, a) - psi(g)||_2``).
        success_threshold: the env's success radius (metres).
    """

    run: RunResult
    xs: np.ndarray
    ys: np.ndarray
    values: np.ndarray
    goal_xy: tuple[float, float]
    maze: Any
    energy: str
    success_threshold: float


def far_goal(maze: Any) -> tuple[float, float]:
    """Centre of the goal cell farthest (by maze path, :func:`envs.maze.bfs_distances`) from
    the start cells: a goal that needs the whole maze to reach (metres)."""
    from envs.maze import bfs_distances

    dist = bfs_distances(maze.layout)
    cell = max(maze.goal_cells, key=lambda c: (dist.get(c, -1), c))
    x, y = maze.cell_centre(*cell)
    return float(x), float(y)


def value_map(
    run: RunResult, goal_xy: tuple[float, float] | None = None, points: int = 120
) -> ValueMap:
    """The critic's value map over the run's maze for one goal (Wang et al. 2025, Fig. 3).

    Each grid point ``(x, y)`` is a state with the goal-space entries set to the robot's goal
    vector at ``(x, y)`` (x, y; the humanoid adds its target height) and every other entry zero;
    the action is the actor's deterministic ``tanh(mean)`` at ``(s, g)``; the value is the run's
    energy ``f(s, a, g)`` (``-||phi(s, a) - psi(g)||_2`` for the paper's ``l2``). Points inside
    walls are NaN.

    Args:
        run: a run with ``params/`` (written by :func:`harness.checkpoint.save_params`).
        goal_xy: the goal's ``(x, y)`` in metres; default :func:`far_goal` of the maze with
            all its goal cells (also for a run trained with ``env.goal_max_cells``).
        points: grid points along the maze's longer side.

    Returns:
        the :class:`ValueMap`.

    Raises:
        ReportError: no ``params/`` or unreadable ones, not a maze env, a config that no
            longer validates, or a goal outside the maze or inside a wall.
    """
    import jax
    import jax.numpy as jnp
    from pydantic import ValidationError

    import envs
    from envs.maze_env import MazeEnv
    from harness.agents.crl import CRL, paired_energy
    from harness.spec import RunConfig

    if not run.has_params:
        raise ReportError(
            f"run {run.run_id} has no params/ folder ({run.path / 'params'}); only runs that "
            "completed with this version of the harness write one"
        )
    if not _contrastive(run):
        raise ReportError(
            f"run {run.run_id} is {run.fields.get('algo')}; value maps need a contrastive "
            "critic (phi, psi)"
        )
    try:
        cfg = RunConfig.model_validate((run.config or {}).get("config"))
    except ValidationError as exc:
        raise ReportError(f"run {run.run_id}: config.json does not validate: {exc}") from None
    # The walls of the training env, with all its goal cells: the default goal is the maze's
    # far goal even when training goals were capped (env.goal_max_cells, the stitching spec).
    env = envs.make(cfg.env.id, **{**cfg.env.make_options(), "goal_max_cells": None})
    if not isinstance(env, MazeEnv):
        raise ReportError(f"run {run.run_id}: {cfg.env.id} is not a maze; value maps need walls")
    maze = env.maze
    info = envs.info(cfg.env.id)
    rows, cols = maze.shape
    cs = maze.cell_size
    x_lo, x_hi = -cs / 2, (rows - 0.5) * cs
    y_lo, y_hi = -cs / 2, (cols - 0.5) * cs
    if goal_xy is None:
        goal_xy = far_goal(maze)
    gx, gy = goal_xy
    if not (x_lo < gx < x_hi and y_lo < gy < y_hi):
        raise ReportError(
            f"goal ({gx:g}, {gy:g}) lies outside {cfg.env.id} "
            f"(x in [{x_lo:g}, {x_hi:g}], y in [{y_lo:g}, {y_hi:g}] m)"
        )
    if bool(maze.in_wall(np.array([gx, gy]))):
        raise ReportError(f"goal ({gx:g}, {gy:g}) lies inside a wall of {cfg.env.id}")
    xs, ys, xy = _grid((x_lo, x_hi), (y_lo, y_hi), points)
    actor_params, critic_params = _restore_params(run)
    agent = CRL(cfg, info.state_dim, info.goal_dim, info.action_dim)
    goal = env.robot.goal_from_xy(jnp.asarray([gx, gy], jnp.float32))  # [goal_dim]
    idx = jnp.asarray(info.goal_indices)

    @jax.jit
    def energy(actor_params: Any, critic_params: Any, xy: jax.Array) -> jax.Array:
        position = jax.vmap(env.robot.goal_from_xy)(xy)  # [N, goal_dim]
        state = jnp.zeros((xy.shape[0], info.state_dim), jnp.float32).at[:, idx].set(position)
        goals = jnp.broadcast_to(goal, (xy.shape[0], info.goal_dim))
        obs = jnp.concatenate([state, goals], axis=-1)
        action = agent.act(actor_params, obs, jax.random.key(0), deterministic=True)
        phi, psi = cast(
            tuple[jax.Array, jax.Array], agent.critic.apply(critic_params, state, action, goals)
        )
        return paired_energy(phi, psi, cfg.algo.energy)  # [N]

    values = np.asarray(energy(actor_params, critic_params, jnp.asarray(xy)))
    values = values.astype(np.float64)
    values[maze.in_wall(xy)] = np.nan
    return ValueMap(
        run=run,
        xs=xs,
        ys=ys,
        values=values.reshape(len(ys), len(xs)),
        goal_xy=(float(gx), float(gy)),
        maze=maze,
        energy=cfg.algo.energy,
        success_threshold=info.success_threshold,
    )


def best_maze_runs(report: Report) -> list[RunResult]:
    """Per point or ant maze env, the completed CRL run with ``params/`` and the highest
    score."""
    best: dict[str, RunResult] = {}
    for run in report.completed:
        env_id = run.env_id
        if not _value_map_candidate(run):
            continue
        current = best.get(env_id)
        if current is None or (run.score or 0.0) > (current.score or 0.0):
            best[env_id] = run
    return [best[k] for k in sorted(best)]


def _value_map_candidate(run: RunResult) -> bool:
    """A completed CRL run of a point or ant maze with ``params/``: one a value map can be
    drawn for."""
    env_id = run.env_id
    return (
        run.has_params
        and env_id.startswith(("point_", "ant_"))
        and "maze" in env_id
        and _contrastive(run)
    )


def _grid(
    x_range: tuple[float, float], y_range: tuple[float, float], points: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cell centres of a square grid over the ranges, ``points`` along the longer side:
    ``xs [nx]``, ``ys [ny]`` and the points ``[ny * nx, 2]`` (float32, rows of constant y)."""
    (x_lo, x_hi), (y_lo, y_hi) = x_range, y_range
    step = max(x_hi - x_lo, y_hi - y_lo) / points
    xs = np.arange(x_lo + step / 2, x_hi, step)
    ys = np.arange(y_lo + step / 2, y_hi, step)
    grid_x, grid_y = np.meshgrid(xs, ys)  # [ny, nx]
    return xs, ys, np.stack([grid_x.ravel(), grid_y.ravel()], axis=-1).astype(np.float32)


def _restore_params(run: RunResult) -> tuple[Any, Any]:
    """The run's final actor and critic parameters (``params/``).

    Raises:
        ReportError: unreadable parameters, named with the first line of the reason.
    """
    import orbax.checkpoint as ocp

    folder = run.path.joinpath("params").resolve()
    try:
        with ocp.StandardCheckpointer() as checkpointer:
            params = checkpointer.restore(folder)
        return params["actor_params"], params["critic_params"]
    except Exception as exc:  # orbax, tensorstore, OS: any unreadable params/ is named
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ReportError(f"{folder}: unreadable parameters ({reason[:200]})") from exc


def _contrastive(run: RunResult) -> bool:
    """The run's agent has a contrastive critic phi(s, a), psi(g) (:mod:`harness.algos`)."""
    algo = algos.REGISTRY.get(str(run.fields.get("algo", algos.DEFAULT)))
    return algo is not None and algo.critic == "contrastive"


def depth_end_runs(report: Report) -> list[tuple[RunResult, RunResult]]:
    """Per point or ant maze env whose CRL runs with ``params/`` span two or more critic
    depths: ``(shallow, deep)``, the median-scoring run at the shallowest and at the deepest
    critic depth (the lower median for an even count; ties broken by seed).

    The median seed, not the best, so the pair shows what a typical run at each depth learned
    (the paper's Fig. 3 compares the value maps of a shallow and a deep critic). Runs of other
    settings at the same depth (other widths, batch sizes) are pooled: give the report one
    setting per env for a clean comparison.
    """
    by_env: dict[str, dict[int, list[RunResult]]] = {}
    for run in report.completed:
        depth = run.fields.get("critic_depth")
        if not _value_map_candidate(run) or depth is None or run.score is None:
            continue
        by_env.setdefault(run.env_id, {}).setdefault(int(depth), []).append(run)
    pairs = []
    for env_id in sorted(by_env):
        depths = by_env[env_id]
        if len(depths) < 2:
            continue
        ends = []
        for depth in (min(depths), max(depths)):
            members = sorted(
                depths[depth], key=lambda r: (r.score or 0.0, str(r.fields.get("seed")))
            )
            ends.append(members[(len(members) - 1) // 2])
        pairs.append((ends[0], ends[1]))
    return pairs


def parse_goal(text: str) -> tuple[float, float]:
    """``"X,Y"`` -> ``(x, y)`` in metres.

    Raises:
        ReportError: for anything but two numbers.
    """
    parts = text.replace(" ", "").split(",")
    try:
        x, y = (float(p) for p in parts)
    except ValueError:
        raise ReportError(f"--goal {text!r}: expected X,Y in metres, e.g. --goal 4,4") from None
    return x, y
