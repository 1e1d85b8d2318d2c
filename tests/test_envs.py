"""Tests of the goal-conditioned envs: real brax envs at batch 4, each jitted once per module."""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from brax.envs.base import State

import envs
from envs.maze import U_MAZE, WALL, build_maze
from envs.maze_env import MazeEnv
from envs.robots import PointMass

BATCH = 4
N_STEPS = 20


@dataclasses.dataclass
class Built:
    """One env, its jitted batched reset / step, and a short random rollout."""

    env: envs.GoalEnv
    reset: Any
    step: Any
    keys: jax.Array
    states: list[State]
    actions: jax.Array


@pytest.fixture(scope="module")
def cache() -> dict[str, Built]:
    """Built envs of this module, so each env is jitted once."""
    return {}


def _build(cache: dict[str, Built], env_id: str) -> Built:
    """Make ``env_id``, jit its batched reset / step, roll out 20 random steps (cached)."""
    if env_id not in cache:
        env = envs.make(env_id)
        reset = jax.jit(jax.vmap(env.reset))
        step = jax.jit(jax.vmap(env.step))
        key_reset, key_act = jax.random.split(jax.random.key(0))
        shape = (N_STEPS, BATCH, env.action_size)
        actions = jax.random.uniform(key_act, shape, minval=-1, maxval=1)
        keys = jax.random.split(key_reset, BATCH)
        states = [reset(keys)]
        for a in actions:
            states.append(step(states[-1], a))
        cache[env_id] = Built(env, reset, step, keys, states, actions)
    return cache[env_id]


@pytest.fixture(scope="module", params=envs.list_envs())
def built(request: pytest.FixtureRequest, cache: dict[str, Built]) -> Built:
    return _build(cache, request.param)


@pytest.fixture(scope="module")
def point(cache: dict[str, Built]) -> Built:
    return _build(cache, "point_u_maze")


@pytest.fixture(scope="module")
def ant(cache: dict[str, Built]) -> Built:
    return _build(cache, "ant")


def _drive(b: Built, action: np.ndarray, n: int) -> np.ndarray:
    """Constant actions ``[BATCH, action_dim]`` for ``n`` steps; returns obs ``[n + 1, B, obs]``."""
    state = b.states[0]
    obs = [state.obs]
    for _ in range(n):
        state = b.step(state, jnp.asarray(action, jnp.float32))
        obs.append(state.obs)
    return np.asarray(jnp.stack(obs))


def test_list_envs_sorted_and_complete() -> None:
    ids = envs.list_envs()
    assert ids == sorted(ids)
    assert {"point_u_maze", "ant", "ant_u_maze"} <= set(ids)


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
    assert env.sys.q_size() + env.sys.qd_size() == info.state_dim
    assert env.success_threshold == info.success_threshold == 0.5
    assert env.episode_length == info.episode_length == 1000
    assert info.backend == env.backend == "spring"


def test_reset_and_step_shapes_and_values(built: Built) -> None:
    info = built.env.info
    for t, s in enumerate(built.states):
        assert s.obs.shape == (BATCH, info.state_dim + info.goal_dim)
        assert s.reward.shape == s.done.shape == (BATCH,)
        assert s.metrics["dist"].shape == s.metrics["success"].shape == (BATCH,)
        assert s.info["goal"].shape == (BATCH, info.goal_dim)
        assert np.all(np.isfinite(np.asarray(s.obs))), f"NaN/inf at step {t}"
        # obs = concat(q, qd, goal), and the goal never moves.
        ps = s.pipeline_state
        np.testing.assert_allclose(
            s.obs[:, : info.state_dim], jnp.concatenate([ps.q, ps.qd], axis=-1), atol=1e-6
        )
        np.testing.assert_array_equal(s.obs[:, info.state_dim :], built.states[0].info["goal"])
        np.testing.assert_array_equal(s.info["goal"], built.states[0].info["goal"])
        # reward = success = dist < threshold, with dist the goal-space distance.
        achieved = s.obs[:, np.asarray(info.goal_indices)]
        dist = np.linalg.norm(np.asarray(achieved - s.info["goal"]), axis=-1)
        np.testing.assert_allclose(s.metrics["dist"], dist, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(s.reward, s.metrics["success"])
        np.testing.assert_array_equal(s.reward, (s.metrics["dist"] < 0.5).astype(np.float32))
    assert np.all(np.asarray(built.states[0].done) == 0.0)
    # Random actions for 1 s do not topple the ant (nor a point mass).
    assert np.all(np.asarray(built.states[-1].done) == 0.0)
    # The robot moves.
    assert not np.allclose(built.states[0].obs[:, :2], built.states[-1].obs[:, :2])


def test_reset_and_step_leaves_typed_alike(built: Built) -> None:
    """Identical dtypes and weak types, so a jitted step compiles once."""
    first, later = built.states[0], built.states[-1]
    assert str(jax.tree.structure(first)) == str(jax.tree.structure(later))
    for a, b in zip(jax.tree.leaves(first), jax.tree.leaves(later), strict=True):
        assert (a.shape, a.dtype, a.weak_type) == (b.shape, b.dtype, b.weak_type)
    assert first.obs.dtype == first.reward.dtype == first.done.dtype == jnp.float32
    assert built.step._cache_size() == 1


def test_deterministic_for_a_fixed_key(built: Built) -> None:
    again = built.step(built.reset(built.keys), built.actions[0])
    for a, b in zip(jax.tree.leaves(again), jax.tree.leaves(built.states[1]), strict=True):
        np.testing.assert_array_equal(a, b)
    other = built.reset(jax.random.split(jax.random.key(1), BATCH))
    assert not np.allclose(other.info["goal"], built.states[0].info["goal"])


def test_success_fires_strictly_under_threshold(built: Built) -> None:
    env = built.env
    state = jnp.zeros((3, env.state_dim)).at[:, 0].set(1.0).at[:, 1].set(-2.0)
    achieved = state[:, np.asarray(env.goal_indices)]
    offsets = jnp.array([0.5 - 1e-3, 0.5, 0.5 + 1e-3])
    goal = achieved + jnp.stack([offsets, jnp.zeros(3)], axis=-1)
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


def test_starts_and_goals_lie_in_their_cells() -> None:
    for env_id in ("point_u_maze", "ant_u_maze"):
        env = envs.make(env_id)
        assert isinstance(env, MazeEnv)
        maze, j = env.maze, env.cell_jitter
        keys = jax.random.split(jax.random.key(3), 512)
        starts, goals = (np.asarray(x) for x in jax.vmap(env.sample_start_goal)(keys))
        start_cells = {tuple(c) for c in maze.cell_of(starts)}
        goal_cells = {tuple(c) for c in maze.cell_of(goals)}
        assert start_cells == set(maze.start_cells) == {(1, 1)}
        assert goal_cells == set(maze.goal_cells)  # every goal cell is drawn, nothing else
        centres = maze.cell_of(goals) * maze.cell_size
        assert np.all(np.abs(goals - centres) <= j + 1e-6)
        assert np.all(np.abs(starts - maze.start_xy[0]) <= j + 1e-6)
        assert np.abs(starts - maze.start_xy[0]).max() > 0.5 * j  # the jitter is used
        assert np.all(maze.wall_distance(starts) >= env.robot.clearance - 1e-6)
        assert not maze.in_wall(goals).any()


def test_ant_goal_is_ten_metres_away() -> None:
    env = envs.make("ant")
    starts, goals = jax.vmap(env.sample_start_goal)(jax.random.split(jax.random.key(4), 256))
    np.testing.assert_allclose(np.linalg.norm(goals, axis=-1), 10.0, rtol=1e-5)
    angles = np.arctan2(goals[:, 1], goals[:, 0])
    assert angles.min() < -2.5 and angles.max() > 2.5  # bearings cover the circle
    assert np.abs(np.asarray(starts)).max() <= 0.1


def test_maze_layout_geometry() -> None:
    maze = build_maze(U_MAZE, 4.0)
    assert maze.start_cells == ((1, 1),)
    assert maze.start_xy.tolist() == [[4.0, 4.0]]
    assert len(maze.goal_cells) == 6 and len(maze.wall_cells) == 18
    for r, c in maze.start_cells + maze.goal_cells:
        assert maze.layout[r][c] != WALL
        assert not maze.in_wall(np.array(maze.cell_centre(r, c)))
    # Merged boxes cover exactly the wall cells: same area, all wall centres, no free centre.
    boxes = maze.wall_boxes(merge=True)
    assert len(boxes) == 5
    area = sum(4 * hx * hy for _, (hx, hy) in (dataclasses.astuple(b) for b in boxes))
    assert area == pytest.approx(len(maze.wall_cells) * maze.cell_size**2)
    rows, cols = maze.shape
    for r in range(rows):
        for c in range(cols):
            xy = np.array(maze.cell_centre(r, c))
            n_in = sum(bool(b.contains(xy)) for b in boxes)
            assert n_in == (1 if maze.layout[r][c] == WALL else 0), (r, c)
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


def test_ant_is_done_only_when_unhealthy(ant: Built) -> None:
    env, s = ant.env, ant.states[0]
    q = s.pipeline_state.q.at[:2, 2].set(1.6)  # two ants lifted above the 1.0 m healthy range
    ps = jax.jit(jax.vmap(env.pipeline_init))(q, s.pipeline_state.qd)
    nxt = ant.step(s.replace(pipeline_state=ps), jnp.zeros((BATCH, env.action_size)))
    np.testing.assert_array_equal(nxt.done, [1.0, 1.0, 0.0, 0.0])
