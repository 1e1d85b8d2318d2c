"""Tests of the goal-conditioned envs: real brax envs at batch 4, each physics compiled once.

Compile time dominates this module (2-core CPU: a jitted step costs 5-9 s for the point mass and
the ant, 10-17 s for the humanoid). So:

- XLA's optimisations are off while this module runs (:func:`_fast_compile`): about 40% less
  compile time for a step, 15-20% for a reset, and slower steps, which at batch 4 and 20 steps
  do not matter;
- each distinct physics (14: 3 point, 6 ant, 4 humanoid, 1 reacher) compiles its batched step
  once;
- resets run eagerly (vmapped, op by op: those few hundred small programs are compiled once per
  shape and shared by every id of a robot: 8-20 s for a robot's first id, 0.5-2 s for the next,
  where a jitted reset costs 3-6 s per id), except the reacher's (one id; its first eager reset
  costs 30 s);
- an ``_eval`` id, whose model is its base id's (asserted in
  ``test_eval_variant_has_the_base_walls_starts_and_model``), steps with its base id's compiled
  step.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from brax.envs.base import State

import envs
from envs.arena import RadialGoalEnv
from envs.maze import (
    GOAL,
    HARDEST_MAZE,
    HARDEST_MAZE_EVAL,
    LAYOUTS,
    U4_MAZE,
    U5_MAZE,
    U_MAZE,
    WALL,
    bfs_distances,
    build_maze,
    far_goal_layout,
)
from envs.maze_env import MazeEnv
from envs.robots import HUMANOID_SPRING_GEAR, PointMass

BATCH = 4
N_STEPS = 20
EAGER_RESET_ROBOTS = ("point", "ant", "humanoid")
"""Robots whose resets run eagerly in this module (see the module docstring)."""
ARM_IDS = ["arm_binpick_easy", "arm_binpick_hard", "arm_push_easy", "arm_push_hard"]
"""The Franka arm tasks (MJX): built and stepped in tests/test_arm.py, whose compiles are shared."""
ALL_IDS = [i for i in envs.list_envs() if i not in ARM_IDS]
"""Ids built and stepped in this module."""
MAZE_IDS = [i for i in ALL_IDS if "maze" in i]
EVAL_IDS = [i for i in MAZE_IDS if i.endswith("_eval")]

ROBOT_FACTS = {
    "point": (4, (0, 1), 2, 0.5, "spring"),
    "ant": (29, (0, 1), 8, 0.5, "spring"),
    "humanoid": (268, (0, 1, 2), 17, 0.5, "spring"),
    "reacher": (10, (4, 5, 6), 2, 0.05, "generalized"),
    "arm": (17, (0, 1, 2), 5, 0.1, "mjx"),
}
"""(state dim, goal indices, action dim, success threshold, pipeline) per robot: the table of
environments of Wang et al. 2025 (arXiv 2503.14858)."""
HEALTHY_Z = {"ant": (0.2, 1.0), "humanoid": (1.0, 2.0)}
"""Torso heights (metres) outside which an episode ends (brax / JaxGCRL / Wang et al. 2025)."""


def _robot(env_id: str) -> str:
    return env_id.split("_")[0]


def _base_id(env_id: str) -> str:
    return env_id.removesuffix("_eval")


@dataclasses.dataclass
class Built:
    """One env, its batched reset / step, and a short random rollout."""

    env: envs.GoalEnv
    reset: Any
    step: Any
    keys: jax.Array
    states: list[State]
    actions: jax.Array


@pytest.fixture(scope="module", autouse=True)
def _fast_compile() -> Iterator[None]:
    """XLA without its optimisation passes (``jax_disable_most_optimizations``: backend
    optimisation level 0, no expensive LLVM passes) for this module's compiles, eager ops
    included; the previous setting is restored afterwards."""
    previous = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", previous)


@pytest.fixture(scope="module")
def made() -> dict[str, envs.GoalEnv]:
    """Envs of this module by id, so each MJCF is parsed once (about 1 s each)."""
    return {}


@pytest.fixture(scope="module")
def cache() -> dict[str, Built]:
    """Built envs of this module, so each physics is jitted once."""
    return {}


def _make(made: dict[str, envs.GoalEnv], env_id: str) -> envs.GoalEnv:
    if env_id not in made:
        made[env_id] = envs.make(env_id)
    return made[env_id]


def _build(cache: dict[str, Built], made: dict[str, envs.GoalEnv], env_id: str) -> Built:
    """Make ``env_id``, batch its reset / step, roll out 20 random steps (cached)."""
    if env_id not in cache:
        env = _make(made, env_id)
        if _robot(env_id) in EAGER_RESET_ROBOTS:
            reset = jax.vmap(env.reset)
        else:
            reset = jax.jit(jax.vmap(env.reset))
        key_reset, key_act = jax.random.split(jax.random.key(0))
        shape = (N_STEPS, BATCH, env.action_size)
        actions = jax.random.uniform(key_act, shape, minval=-1, maxval=1)
        keys = jax.random.split(key_reset, BATCH)
        if _base_id(env_id) != env_id:
            step = _build(cache, made, _base_id(env_id)).step
        else:
            step = jax.jit(jax.vmap(env.step))
        states = [reset(keys)]
        for a in actions:
            states.append(step(states[-1], a))
        cache[env_id] = Built(env, reset, step, keys, states, actions)
    return cache[env_id]


@pytest.fixture(scope="module", params=ALL_IDS)
def built(
    request: pytest.FixtureRequest, cache: dict[str, Built], made: dict[str, envs.GoalEnv]
) -> Built:
    return _build(cache, made, request.param)


@pytest.fixture(scope="module", params=[i for i in ALL_IDS if i not in EVAL_IDS])
def built_base(
    request: pytest.FixtureRequest, cache: dict[str, Built], made: dict[str, envs.GoalEnv]
) -> Built:
    """A non-eval id (an eval id runs its base id's code with other goal cells)."""
    return _build(cache, made, request.param)


@pytest.fixture(scope="module")
def point(cache: dict[str, Built], made: dict[str, envs.GoalEnv]) -> Built:
    return _build(cache, made, "point_u_maze")


@pytest.fixture(scope="module")
def humanoid(cache: dict[str, Built], made: dict[str, envs.GoalEnv]) -> Built:
    return _build(cache, made, "humanoid")


def _drive(b: Built, action: np.ndarray, n: int) -> np.ndarray:
    """Constant actions ``[BATCH, action_dim]`` for ``n`` steps; returns obs ``[n + 1, B, obs]``."""
    state = b.states[0]
    obs = [state.obs]
    for _ in range(n):
        state = b.step(state, jnp.asarray(action, jnp.float32))
        obs.append(state.obs)
    return np.asarray(jnp.stack(obs))


# ---- registry -------------------------------------------------------------------------------


def test_list_envs_sorted_and_complete() -> None:
    listed = envs.list_envs()
    assert sorted(listed) == listed
    mazes = {
        "point": ["u", "big", "hardest"],
        "ant": ["u", "u4", "u5", "big", "hardest"],
        "humanoid": ["u", "big", "hardest"],
    }
    expected = {"ant", "humanoid", "reacher"} | {
        f"{robot}_{m}_maze{suffix}"
        for robot, ms in mazes.items()
        for m in ms
        for suffix in ("", "_eval")
    }
    assert set(listed) == expected | set(ARM_IDS)


def test_unknown_id_raises_key_error_naming_it() -> None:
    with pytest.raises(KeyError, match=r"no_such_env.*point_u_maze"):
        envs.make("no_such_env")
    with pytest.raises(KeyError, match="no_such_env"):
        envs.info("no_such_env")


def test_envs_does_not_import_harness() -> None:
    sources = pathlib.Path(envs.__file__).parent.glob("*.py")
    offenders = [
        p.name for p in sources if "import harness" in (t := p.read_text()) or "from harness" in t
    ]
    assert offenders == []


def test_info_matches_the_reference_table_for_every_id() -> None:
    for env_id in envs.list_envs():
        info = envs.info(env_id)
        facts = (
            info.state_dim,
            info.goal_indices,
            info.action_dim,
            info.success_threshold,
            info.backend,
        )
        assert facts == ROBOT_FACTS[_robot(env_id)], env_id
        assert info.goal_dim == len(info.goal_indices)
        assert info.episode_length == 1000


# ---- every id: reset, step, conventions -------------------------------------------------------


def test_info_matches_made_env(built: Built) -> None:
    env, info = built.env, envs.info(built.env.info.env_id)
    assert env.info == info
    assert (env.state_dim, env.goal_dim, env.action_size) == (
        info.state_dim,
        info.goal_dim,
        info.action_dim,
    )
    assert tuple(env.goal_indices) == info.goal_indices
    assert env.observation_size == info.state_dim + info.goal_dim
    assert env.sys.act_size() == info.action_dim
    assert env.robot.state_size(env.sys) == info.state_dim
    assert env.success_threshold == info.success_threshold
    assert env.episode_length == info.episode_length == 1000
    assert info.backend == env.backend


def test_reset_and_step_shapes_and_values(built: Built) -> None:
    info, env = built.env.info, built.env
    n_qqd = env.sys.q_size() + env.sys.qd_size()
    reacher = _robot(info.env_id) == "reacher"
    for t, s in enumerate(built.states):
        assert s.obs.shape == (BATCH, info.state_dim + info.goal_dim)
        assert s.reward.shape == s.done.shape == (BATCH,)
        assert set(s.metrics) == {"dist", "success"}
        assert s.metrics["dist"].shape == s.metrics["success"].shape == (BATCH,)
        assert s.info["goal"].shape == (BATCH, info.goal_dim)
        assert np.all(np.isfinite(np.asarray(s.obs))), f"NaN/inf at step {t}"
        # obs = concat(q, qd, ..., goal) (reacher: cos, sin of its angles, ...), and the goal
        # never moves.
        ps = s.pipeline_state
        if reacher:
            angles = jnp.concatenate([jnp.cos(ps.q[:, :2]), jnp.sin(ps.q[:, :2])], axis=-1)
            np.testing.assert_allclose(s.obs[:, :4], angles, atol=1e-6)
        else:
            np.testing.assert_allclose(
                s.obs[:, :n_qqd], jnp.concatenate([ps.q, ps.qd], axis=-1), atol=1e-6
            )
        np.testing.assert_array_equal(s.obs[:, info.state_dim :], built.states[0].info["goal"])
        np.testing.assert_array_equal(s.info["goal"], built.states[0].info["goal"])
        # reward = success = dist < threshold, with dist the goal-space distance.
        achieved = s.obs[:, np.asarray(info.goal_indices)]
        dist = np.linalg.norm(np.asarray(achieved - s.info["goal"]), axis=-1)
        np.testing.assert_allclose(s.metrics["dist"], dist, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(s.reward, s.metrics["success"])
        success = s.metrics["dist"] < info.success_threshold
        np.testing.assert_array_equal(s.reward, success.astype(np.float32))
        # done = 1 exactly when the torso left its healthy height range (never for the point).
        lo, hi = HEALTHY_Z.get(_robot(info.env_id), (-np.inf, np.inf))
        z = np.asarray(s.pipeline_state.x.pos[:, 0, 2])
        np.testing.assert_array_equal(s.done, ((z < lo) | (z > hi)).astype(np.float32))
    assert np.all(np.asarray(built.states[0].done) == 0.0)
    if _robot(info.env_id) != "humanoid":
        # Random actions for 1 s do not topple the ant (nor a point mass).
        assert np.all(np.asarray(built.states[-1].done) == 0.0)
    # The robot moves.
    assert not np.allclose(built.states[0].obs[:, :2], built.states[-1].obs[:, :2])


def test_reset_and_step_leaves_typed_alike(built: Built) -> None:
    """Identical dtypes and weak types, so a jitted step compiles once (per physics)."""
    first, later = built.states[0], built.states[-1]
    assert str(jax.tree.structure(first)) == str(jax.tree.structure(later))
    for a, b in zip(jax.tree.leaves(first), jax.tree.leaves(later), strict=True):
        assert (a.shape, a.dtype, a.weak_type) == (b.shape, b.dtype, b.weak_type)
    assert first.obs.dtype == first.reward.dtype == first.done.dtype == jnp.float32
    assert built.step._cache_size() == 1


def test_deterministic_for_a_fixed_key(built_base: Built) -> None:
    built = built_base
    again = built.step(built.reset(built.keys), built.actions[0])
    for a, b in zip(jax.tree.leaves(again), jax.tree.leaves(built.states[1]), strict=True):
        np.testing.assert_array_equal(a, b)
    # Another key, another task (the sampler is what reset draws with, see base.GoalEnv.reset).
    rng_task = jax.vmap(lambda k: jax.random.split(k)[0])
    _, goal = jax.vmap(built.env.sample_start_goal)(rng_task(built.keys))
    np.testing.assert_array_equal(goal, built.states[0].info["goal"])
    _, other = jax.vmap(built.env.sample_start_goal)(rng_task(jax.random.split(built.keys[0], 4)))
    assert not np.allclose(other, goal)


def test_success_fires_strictly_under_threshold(built: Built) -> None:
    env = built.env
    state = jnp.zeros((3, env.state_dim)).at[:, 0].set(1.0).at[:, 1].set(-2.0)
    achieved = state[:, np.asarray(env.goal_indices)]
    eps = env.success_threshold
    offsets = jnp.array([eps * (1 - 1e-3), eps, eps * (1 + 1e-3)])
    direction = jnp.zeros(env.goal_dim).at[-1].set(1.0)  # along y, or z for the humanoid
    goal = achieved + offsets[:, None] * direction
    m = env.goal_metrics(state, goal)
    np.testing.assert_allclose(m["dist"], offsets, rtol=1e-6)
    np.testing.assert_array_equal(m["success"], [1.0, 0.0, 0.0])
    assert m["success"].dtype == m["dist"].dtype == jnp.float32


def test_goal_reached_gives_reward_and_never_done(built: Built) -> None:
    s = built.states[0]
    info = built.env.info
    goal = s.obs[:, np.asarray(info.goal_indices)]
    obs = s.obs.at[:, info.state_dim :].set(goal)
    at_goal = s.replace(obs=obs, info={**s.info, "goal": goal})
    nxt = built.step(at_goal, jnp.zeros((BATCH, built.env.action_size)))
    np.testing.assert_array_equal(nxt.reward, np.ones(BATCH))
    np.testing.assert_array_equal(nxt.metrics["success"], np.ones(BATCH))
    np.testing.assert_array_equal(nxt.done, np.zeros(BATCH))


# ---- mazes ------------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", MAZE_IDS)
def test_starts_and_goals_lie_in_their_cells(made: dict[str, envs.GoalEnv], env_id: str) -> None:
    """Reference placement (the default): goals exactly at goal cell centres, starts within the
    robot's reset noise of the start cell centre (ant 0.1 m, humanoid and point 0); see
    tests/test_fidelity_envs.py for the reference's values."""
    env = _make(made, env_id)
    assert isinstance(env, MazeEnv)
    maze, j, js = env.maze, env.cell_jitter, env.start_jitter
    assert j == 0.0 and js == env.robot.start_noise
    for r, c in maze.start_cells + maze.goal_cells:
        assert maze.layout[r][c] != WALL
        assert not maze.in_wall(np.array(maze.cell_centre(r, c)))
    keys = jax.random.split(jax.random.key(3), 512)
    starts, goals = (np.asarray(x) for x in jax.vmap(env.sample_start_goal)(keys))
    assert goals.shape == (512, env.goal_dim)
    goals_xy = goals[:, :2]
    assert {tuple(c) for c in maze.cell_of(starts)} == set(maze.start_cells)
    # Every goal cell is drawn, and nothing else (512 draws, at most 42 cells).
    assert {tuple(c) for c in maze.cell_of(goals_xy)} == set(maze.goal_cells)
    centres = maze.cell_of(goals_xy) * maze.cell_size
    np.testing.assert_array_equal(goals_xy, centres)
    starts_c = maze.cell_of(starts) * maze.cell_size
    assert np.all(np.abs(starts - starts_c) <= js + 1e-5)
    if js > 0:
        assert np.abs(starts - starts_c).max() > 0.5 * js  # the noise is used
    else:
        np.testing.assert_array_equal(starts, starts_c)
    assert np.all(maze.wall_distance(starts) >= env.robot.clearance - 1e-5)
    assert not maze.in_wall(goals_xy).any()
    if env.goal_dim == 3:
        np.testing.assert_array_equal(goals[:, 2], 1.25)


@pytest.mark.parametrize("env_id", EVAL_IDS)
def test_eval_variant_has_the_base_walls_starts_and_model(
    made: dict[str, envs.GoalEnv], env_id: str
) -> None:
    ev, base = _make(made, env_id), _make(made, _base_id(env_id))
    assert isinstance(ev, MazeEnv) and isinstance(base, MazeEnv)
    assert ev.maze.wall_cells == base.maze.wall_cells
    assert ev.maze.start_cells == base.maze.start_cells
    assert ev.maze.cell_size == base.maze.cell_size
    assert (ev.robot, ev.cell_jitter) == (base.robot, base.cell_jitter)
    # Same physics model, leaf by leaf: so the eval id may step with the base id's step.
    for a, b in zip(jax.tree.leaves(ev.sys), jax.tree.leaves(base.sys), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # Goals: a strict subset of the base id's goal cells, farther from the start on average.
    assert set(ev.maze.goal_cells) < set(base.maze.goal_cells)
    dist = bfs_distances(base.maze.layout)
    mean_eval = np.mean([dist[c] for c in ev.maze.goal_cells])
    mean_base = np.mean([dist[c] for c in base.maze.goal_cells])
    assert mean_eval > mean_base + 1.0, (mean_eval, mean_base)
    # ... and they are what the eval id's reset draws.
    keys = jax.random.split(jax.random.key(5), 256)
    goals = np.asarray(jax.vmap(ev.sample_start_goal)(keys)[1])
    assert {tuple(c) for c in ev.maze.cell_of(goals[:, :2])} == set(ev.maze.goal_cells)


def test_u4_and_u5_mazes_are_single_corridors_from_the_start() -> None:
    """JaxGCRL's U4 / U5 mazes: U-shaped corridors with the start at one end, goals elsewhere."""
    for layout, n_goals in ((U_MAZE, 6), (U4_MAZE, 10), (U5_MAZE, 16)):
        maze = build_maze(layout, 4.0)
        dist = bfs_distances(layout)
        assert len(maze.goal_cells) == n_goals
        assert sorted(dist[c] for c in maze.goal_cells) == list(range(1, n_goals + 1))
    assert build_maze(U4_MAZE, 4.0).start_cells == build_maze(U5_MAZE, 4.0).start_cells == ((2, 1),)


def test_far_goal_layout_keeps_the_farthest_third_with_ties() -> None:
    corridor = [[1] * 8, [1, "R", GOAL, GOAL, GOAL, GOAL, GOAL, 1], [1] * 8]
    far = far_goal_layout(corridor)
    assert [c for c in far[1] if c == GOAL] == [GOAL, GOAL]  # ceil(5 / 3) = 2 farthest
    assert far[1][-3:-1] == (GOAL, GOAL)
    # A fork: two cells tie at the cutoff distance and both stay.
    fork = [[1, 1, 1, 1], [1, "R", GOAL, 1], [1, GOAL, GOAL, 1], [1, 1, 1, 1]]
    assert build_maze(far_goal_layout(fork), 1.0).goal_cells == ((2, 2),)
    assert build_maze(far_goal_layout(fork, 0.5), 1.0).goal_cells == ((1, 2), (2, 1), (2, 2))
    with pytest.raises(ValueError, match="fraction"):
        far_goal_layout(corridor, 0.0)
    # The hardest maze's eval layout: the top third of its goal cells by path length.
    dist = bfs_distances(HARDEST_MAZE)
    base, ev = build_maze(HARDEST_MAZE, 4.0), build_maze(HARDEST_MAZE_EVAL, 4.0)
    kept = [dist[c] for c in ev.goal_cells]
    dropped = [dist[c] for c in set(base.goal_cells) - set(ev.goal_cells)]
    assert len(kept) >= np.ceil(len(base.goal_cells) / 3)
    assert min(kept) > max(dropped)
    assert LAYOUTS["hardest_maze_eval"] == HARDEST_MAZE_EVAL


def test_maze_layout_geometry() -> None:
    maze = build_maze(U_MAZE, 4.0)
    assert maze.start_cells == ((1, 1),)
    assert maze.start_xy.tolist() == [[4.0, 4.0]]
    assert len(maze.goal_cells) == 6 and len(maze.wall_cells) == 18
    # Merged boxes cover exactly the wall cells: same area, all wall centres, no free centre.
    for layout, n_boxes in ((U_MAZE, 5), (HARDEST_MAZE, None)):
        maze = build_maze(layout, 4.0)
        boxes = maze.wall_boxes(merge=True)
        if n_boxes is not None:
            assert len(boxes) == n_boxes
        assert len(boxes) < len(maze.wall_cells)
        area = sum(4 * hx * hy for _, (hx, hy) in (dataclasses.astuple(b) for b in boxes))
        assert area == pytest.approx(len(maze.wall_cells) * maze.cell_size**2)
        rows, cols = maze.shape
        for r in range(rows):
            for c in range(cols):
                xy = np.array(maze.cell_centre(r, c))
                n_in = sum(bool(b.contains(xy)) for b in boxes)
                assert n_in == (1 if maze.layout[r][c] == WALL else 0), (r, c)
    maze = build_maze(U_MAZE, 4.0)
    assert maze.walls_mjcf().count("<geom") == 5
    assert maze.walls_mjcf(merge=False).count("<geom") == 18


def test_bad_layouts_and_jitter_are_rejected() -> None:
    with pytest.raises(ValueError, match="no goal"):
        build_maze([[1, 1, 1], [1, "R", 1], [1, 1, 1]], 1.0)
    with pytest.raises(ValueError, match="border"):
        build_maze([[1, 1, 1], ["R", "G", 1], [1, 1, 1]], 1.0)
    with pytest.raises(ValueError, match="expected"):
        build_maze([[1, 1, 1, 1], [1, "R", "X", 1], [1, 1, 1, 1]], 1.0)
    with pytest.raises(ValueError, match="half a cell"):
        envs.make("point_u_maze", cell_jitter=0.9)
    with pytest.raises(ValueError, match="half a cell"):
        envs.make("humanoid_u_maze", cell_jitter=0.5)
    with pytest.raises(ValueError, match="cell_jitter must be >= 0"):
        envs.make("point_u_maze", cell_jitter=-0.1)


# ---- point mass -------------------------------------------------------------------------------


def test_point_cannot_pass_through_walls(point: Built) -> None:
    assert isinstance(point.env, MazeEnv)
    maze = point.env.maze
    radius = PointMass().radius
    pushes = np.array([[1, 0], [-1, 0], [0, 1], [0, -1], [1, 1], [-1, 1], [1, -1], [-1, -1]])
    for group in (pushes[:4], pushes[4:]):
        obs = _drive(point, group, 150)
        xy = obs[..., :2]
        assert not maze.in_wall(xy).any()
        # The disc may sink into a wall (soft contacts), by far less than its radius.
        assert maze.wall_distance(xy).min() > 0.6 * radius
        # ... and it did reach a wall: every push ends pressed against one.
        assert np.all(maze.wall_distance(xy[-1]) < radius + 0.02)


def test_point_crosses_a_cell_in_10_to_15_steps(point: Built) -> None:
    assert isinstance(point.env, MazeEnv)
    cell = point.env.maze.cell_size
    obs = _drive(point, np.tile([0.0, 1.0], (BATCH, 1)), 20)  # full speed along the corridor
    travelled = obs[:, :, 1] - obs[0, :, 1]
    assert np.all(travelled[-1] >= cell)
    steps = np.argmax(travelled >= cell, axis=0)  # obs index = env steps taken
    assert np.all((steps >= 10) & (steps <= 15)), steps


# ---- ant and humanoid -------------------------------------------------------------------------


def test_ant_goal_is_ten_metres_away(made: dict[str, envs.GoalEnv]) -> None:
    env = _make(made, "ant")
    starts, goals = jax.vmap(env.sample_start_goal)(jax.random.split(jax.random.key(4), 256))
    np.testing.assert_allclose(np.linalg.norm(goals, axis=-1), 10.0, rtol=1e-5)
    angles = np.arctan2(goals[:, 1], goals[:, 0])
    assert angles.min() < -2.5 and angles.max() > 2.5  # bearings cover the circle
    assert np.abs(np.asarray(starts)).max() <= 0.1


def test_humanoid_goal_is_at_torso_height_one_to_five_metres_away(
    made: dict[str, envs.GoalEnv],
) -> None:
    env = _make(made, "humanoid")
    assert isinstance(env, RadialGoalEnv)
    starts, goals = (
        np.asarray(x)
        for x in jax.vmap(env.sample_start_goal)(jax.random.split(jax.random.key(4), 1024))
    )
    assert goals.shape == (1024, 3)
    np.testing.assert_array_equal(goals[:, 2], 1.25)
    np.testing.assert_array_equal(starts, 0.0)  # JaxGCRL: no reset noise
    dist = np.linalg.norm(goals[:, :2] - starts, axis=-1)
    assert dist.min() >= 1.0 - 1e-6 and dist.max() <= 5.0 + 1e-6
    assert dist.min() < 1.1 and dist.max() > 4.9  # the whole range U(1, 5) is drawn
    assert abs(np.median(dist) - 3.0) < 0.2  # uniform in distance
    angles = np.arctan2(goals[:, 1], goals[:, 0])
    assert np.histogram(angles, bins=8, range=(-np.pi, np.pi))[0].min() > 80  # uniform bearing


def test_reacher_goal_is_the_target_body_within_reach(
    cache: dict[str, Built], made: dict[str, envs.GoalEnv]
) -> None:
    b = _build(cache, made, "reacher")
    keys = jax.random.split(jax.random.key(6), 256)
    goals = np.asarray(jax.vmap(b.env.sample_start_goal)(keys)[1])
    np.testing.assert_array_equal(goals[:, 2], np.float32(0.01))  # the arm's plane
    radius = np.linalg.norm(goals[:, :2], axis=-1)
    assert radius.max() <= 0.2 + 1e-6 and radius.max() > 0.18
    s = b.states[0]
    # The model's target body sits on the goal; the fingertip starts 0.21 m out at z = 0.01.
    np.testing.assert_allclose(s.pipeline_state.x.pos[:, 2], s.info["goal"], atol=1e-6)
    tip = np.asarray(s.obs[:, 4:7])
    np.testing.assert_allclose(np.linalg.norm(tip[:, :2], axis=-1), 0.21, atol=2e-3)
    np.testing.assert_allclose(tip[:, 2], 0.01, atol=1e-6)


def test_humanoid_state_layout(humanoid: Built) -> None:
    """The 268-dim state: q 26, qd 25, cinert 12 x 10, cvel 12 x 6, qfrc_actuator 25."""
    env = humanoid.env
    sys = env.sys
    assert (sys.q_size(), sys.qd_size(), sys.num_links()) == (26, 25, 12)
    assert sys.link_names[-1] == "target"
    masses = np.asarray(sys.link.inertia.mass)
    assert masses[-1] == pytest.approx(1.0)
    for t, s in enumerate(humanoid.states):
        obs = np.asarray(s.obs)
        goal = np.asarray(s.info["goal"])
        # The target body sits on the goal and does not move.
        np.testing.assert_allclose(obs[:, 24:26], goal[:, :2], atol=1e-4)
        np.testing.assert_allclose(obs[:, 49:51], 0.0, atol=1e-3)
        cinert = obs[:, 51:171].reshape(BATCH, 12, 10)
        np.testing.assert_allclose(cinert[..., 9], np.broadcast_to(masses, (BATCH, 12)), rtol=1e-6)
        # Inertia about the centre of mass is symmetric.
        inertia = cinert[..., :9].reshape(BATCH, 12, 3, 3)
        np.testing.assert_allclose(inertia, np.swapaxes(inertia, -1, -2), atol=1e-4)
        cvel = obs[:, 171:243].reshape(BATCH, 12, 6)
        np.testing.assert_allclose(cvel[:, -1, :], 0.0, atol=1e-3)  # the target is at rest
        qfrc = obs[:, 243:268]
        if t == 0:
            np.testing.assert_array_equal(qfrc, 0.0)
        else:
            # Actions in [-1, 1] map onto controls in [-0.4, 0.4], times the spring gears.
            act = np.asarray(humanoid.actions[t - 1])
            qd_id = np.asarray(sys.actuator.qd_id)
            expected = 0.4 * act * np.asarray(HUMANOID_SPRING_GEAR)
            np.testing.assert_allclose(qfrc[:, qd_id], expected, rtol=1e-5, atol=1e-3)
            others = np.setdiff1d(np.arange(25), qd_id)
            np.testing.assert_array_equal(qfrc[:, others], 0.0)


@pytest.mark.parametrize(("env_id", "bad_z"), [("ant", 1.6), ("humanoid", 0.8)])
def test_done_only_when_torso_height_is_unhealthy(
    cache: dict[str, Built], made: dict[str, envs.GoalEnv], env_id: str, bad_z: float
) -> None:
    b = _build(cache, made, env_id)
    env, s = b.env, b.states[0]
    q = s.pipeline_state.q.at[:2, 2].set(bad_z)  # two robots moved out of the healthy range
    ps = jax.vmap(env.pipeline_init)(q, s.pipeline_state.qd)
    nxt = b.step(s.replace(pipeline_state=ps), jnp.zeros((BATCH, env.action_size)))
    np.testing.assert_array_equal(nxt.done, [1.0, 1.0, 0.0, 0.0])


# ---- check and render -------------------------------------------------------------------------


def test_check_reports_speed_and_finiteness() -> None:
    r = envs.check("point_u_maze", batch=8, steps=5)
    assert r["env_id"] == "point_u_maze" and (r["batch"], r["steps"]) == (8, 5)
    assert r["finite"] is True
    assert r["compile_s"] > 0 and r["steps_per_s"] > 0
    assert r["done_frac"] == 0.0
    with pytest.raises(ValueError, match="batch"):
        envs.check("point_u_maze", batch=0)


@pytest.mark.parametrize("env_id", ["ant_big_maze", "humanoid"])
def test_render_writes_a_png(tmp_path: pathlib.Path, env_id: str) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.image

    path = envs.render(env_id, tmp_path / f"{env_id}.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 300 and image.shape[1] > 300
    # A drawing, not a blank page: many distinct colours.
    assert len(np.unique(image.reshape(-1, image.shape[-1]), axis=0)) > 20
    other = envs.render(env_id, tmp_path / "other.png", key=jax.random.key(7))
    assert other.read_bytes() != path.read_bytes()  # another sampled start / goal
