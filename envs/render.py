"""Top-down pictures of an env's layout: walls, start and goal cells, a sampled start and goal.

Needs matplotlib (imported when :func:`render` is called, so ``import envs`` does not need it).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import jax
import numpy as np

from envs.arena import RadialGoalEnv
from envs.maze_env import MazeEnv
from envs.registry import make

WALL_COLOUR = "#8c6d4f"
START_COLOUR = "#b7dfb9"
GOAL_COLOUR = "#f6d6a8"
ROBOT_COLOUR = "#1f5fbf"
GOAL_MARK_COLOUR = "#d62728"


def render(env_id: str, path: str | Path, *, key: jax.Array | None = None) -> Path:
    """Draw ``env_id`` seen from above and save it as a PNG.

    Axes are world x (horizontal) and y (vertical) in metres, equal scale. Mazes: wall cells as
    filled squares, start cells and goal cells shaded in two colours, the cell size in the
    title. Open-floor envs (``ant``, ``humanoid``): the start region (a square) and the
    goal-sampling annulus. Both: one start and goal drawn by the env's own sampler (the robot as
    a disc of its clearance radius, the goal as a star inside a circle of the success radius).

    Args:
        env_id: a registered env id.
        path: output file; its parent folder must exist.
        key: PRNG key of the sampled start and goal; default ``jax.random.key(0)``.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        KeyError: for an unknown env id. ImportError: if matplotlib is not installed.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle, Rectangle

    env = make(env_id)
    start, goal = (
        np.asarray(x) for x in env.sample_start_goal(jax.random.key(0) if key is None else key)
    )
    if isinstance(env, MazeEnv):
        rows, cols = env.maze.shape
        aspect = cols / rows  # height / width of the drawn area
    else:
        aspect = 1.0
    width = 7.0
    fig, ax = plt.subplots(figsize=(width, min(max(width * aspect, 3.0), 10.0) + 1.2))
    handles: list[Any] = []
    if isinstance(env, MazeEnv):
        maze = env.maze
        cs = maze.cell_size
        kinds = (
            (maze.wall_cells, WALL_COLOUR, "wall"),
            (maze.start_cells, START_COLOUR, "start cells"),
            (maze.goal_cells, GOAL_COLOUR, "goal cells"),
        )
        for cells, colour, label in kinds:
            for i, (r, c) in enumerate(cells):
                x, y = maze.cell_centre(r, c)
                patch = Rectangle(
                    (x - cs / 2, y - cs / 2), cs, cs, facecolor=colour, edgecolor="white", lw=0.5
                )
                patch.set_label(label if i == 0 else "_")
                ax.add_patch(patch)
                if i == 0:
                    handles.append(patch)
        ax.set_xlim(-cs / 2, (rows - 0.5) * cs)
        ax.set_ylim(-cs / 2, (cols - 0.5) * cs)
        where = f"cell size {cs:g} m, start / goal jitter +-{env.cell_jitter:g} m"
    elif isinstance(env, RadialGoalEnv):
        j = env.start_jitter
        lo, hi = env.goal_radius
        region: Any
        ring: Any
        if j > 0:
            region = Rectangle(
                (-j, -j), 2 * j, 2 * j, facecolor=START_COLOUR, edgecolor="green", lw=1.0
            )
            region.set_label(f"start region (x, y in +-{j:g} m)")
            ax.add_patch(region)
        else:
            (region,) = ax.plot([0.0], [0.0], "+", color="green", ms=16, mew=2)
            region.set_label("start: the origin (no jitter)")
        handles.append(region)
        theta = np.linspace(0.0, 2.0 * math.pi, 361)
        if hi > lo:
            ring_x = np.concatenate([hi * np.cos(theta), lo * np.cos(theta[::-1])])
            ring_y = np.concatenate([hi * np.sin(theta), lo * np.sin(theta[::-1])])
            label = f"goals: {lo:g} to {hi:g} m from the origin"
            (ring,) = ax.fill(ring_x, ring_y, color=GOAL_COLOUR, label=label)
        else:
            label = f"goals: {hi:g} m from the origin"
            (ring,) = ax.plot(hi * np.cos(theta), hi * np.sin(theta), color="#e8a33c", lw=4)
            ring.set_label(label)
        handles.append(ring)
        pad = 1.2 * max(hi, env.robot.clearance)
        ax.set_xlim(-pad, pad)
        ax.set_ylim(-pad, pad)
        where = "open floor, goal at a uniform bearing"
    else:  # pragma: no cover - every registered env is one of the two
        raise TypeError(f"cannot draw {type(env).__name__}")
    robot = Circle(
        (float(start[0]), float(start[1])),
        env.robot.clearance,
        fill=False,
        edgecolor=ROBOT_COLOUR,
        lw=2.0,
        ls="--",
        label=f"sampled start (disc: reach {env.robot.clearance:g} m)",
    )
    ax.add_patch(robot)
    ax.plot([start[0]], [start[1]], "o", color=ROBOT_COLOUR, ms=4)
    success = Circle(
        (float(goal[0]), float(goal[1])),
        env.success_threshold,
        fill=False,
        edgecolor=GOAL_MARK_COLOUR,
        lw=1.5,
    )
    ax.add_patch(success)
    goal_text = ", ".join(f"{v:.2f}" for v in goal)
    (star,) = ax.plot(
        [goal[0]],
        [goal[1]],
        "*",
        color=GOAL_MARK_COLOUR,
        ms=14,
        label=f"sampled goal ({goal_text}), success < {env.success_threshold:g} m",
    )
    handles += [robot, star]
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.grid(True, lw=0.3, alpha=0.5)
    ax.set_title(f"{env_id}: {where}", fontsize=10)
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.08),
        ncol=2,
        fontsize=8,
        frameon=False,
    )
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
