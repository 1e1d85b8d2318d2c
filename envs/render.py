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
from envs.arm import ARM_START_Q, CUBE_HALF_SIZE, ArmEnv
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
    Arm tasks: the arm's base and reach, its gripper point at reset, the push pads or bin walls,
    the cube-start and goal squares, a sampled cube (a 6 cm square) and goal (a star inside the
    0.1 m success circle; the success test is 3-D, the goal's z is 0.03 m).

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
    if isinstance(env, ArmEnv):
        return _render_arm(env, env_id, start, goal, Path(path))
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
        goals = f"+-{env.cell_jitter:g} m" if env.cell_jitter else "at cell centres"
        starts = f"+-{env.start_jitter:g} m" if env.start_jitter else "at cell centres"
        where = f"cell {cs:g} m, starts {starts}, goals {goals}"
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


def _render_arm(env: ArmEnv, env_id: str, start: np.ndarray, goal: np.ndarray, path: Path) -> Path:
    """The top-down picture of an arm task (see :func:`render`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mujoco
    from matplotlib.patches import Circle, Rectangle

    task = env.task
    fig, ax = plt.subplots(figsize=(7.0, 6.9))
    handles: list[Any] = []
    reach = env.robot.clearance
    arc = Circle((0.0, 0.0), reach, fill=False, edgecolor="grey", lw=1.0, ls=":")
    arc.set_label(f"reach of the gripper point ({reach:g} m)")
    ax.add_patch(arc)
    handles.append(arc)
    (base,) = ax.plot([0.0], [0.0], "s", color="black", ms=10, label="arm base (origin)")
    handles.append(base)
    # Where the gripper point is at reset (forward kinematics of the start pose).
    mj = env.sys.mj_model
    data = mujoco.MjData(mj)
    data.qpos[: len(ARM_START_Q)] = ARM_START_Q
    mujoco.mj_kinematics(mj, data)
    tcp = data.site("gripper").xpos
    (grip,) = ax.plot(
        [tcp[0]],
        [tcp[1]],
        "^",
        color=ROBOT_COLOUR,
        ms=9,
        label=f"gripper at reset (z {tcp[2]:.2f} m)",
    )
    handles.append(grip)
    for region, colour, label in zip(
        task.pads, ("#9db7e8", "#eaa3a3"), ("start pad", "goal pad"), strict=False
    ):
        (cx, cy), h = region.centre, region.half_width
        pad = Rectangle((cx - h, cy - h), 2 * h, 2 * h, facecolor=colour, alpha=0.6, lw=0)
        pad.set_label(label)
        ax.add_patch(pad)
        handles.append(pad)
    for i, b in enumerate(task.bins):
        for j, ((x, y), (sx, sy)) in enumerate(b.walls()):
            wall = Rectangle(
                (x - sx, y - sy), 2 * sx, 2 * sy, facecolor=("#1f3fbf", "#bf1f1f")[i % 2], lw=0
            )
            if j == 0:
                wall.set_label(f"bin {'AB'[i]} walls ({b.wall_height:g} m high)")
                handles.append(wall)
            ax.add_patch(wall)
    for region, colour, label in (
        (task.cube_start, "green", "cube start region"),
        (task.goal, GOAL_MARK_COLOUR, "goal region"),
    ):
        (cx, cy), h = region.centre, region.half_width
        box = Rectangle(
            (cx - h, cy - h), 2 * h, 2 * h, fill=False, edgecolor=colour, lw=1.5, ls="--"
        )
        box.set_label(f"{label} (+-{h:g} m)")
        ax.add_patch(box)
        handles.append(box)
    c = CUBE_HALF_SIZE
    cube = Rectangle((start[0] - c, start[1] - c), 2 * c, 2 * c, facecolor="#2ca02c", edgecolor="k")
    cube.set_label(f"sampled cube ({start[0]:.2f}, {start[1]:.2f}, {c:g})")
    ax.add_patch(cube)
    handles.append(cube)
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
        label=f"sampled goal ({goal_text}), success < {env.success_threshold:g} m (3-D)",
    )
    handles.append(star)
    ax.set_xlim(-0.7, 0.7)
    ax.set_ylim(-0.15, 1.0)
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.grid(True, lw=0.3, alpha=0.5)
    ax.set_title(f"{env_id}: Franka Panda seen from above, table z = 0", fontsize=10)
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.1),
        ncol=2,
        fontsize=8,
        frameon=False,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
