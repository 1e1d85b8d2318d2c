"""Tests of the Franka arm tasks (``envs.arm``): registry facts, the scene, sampling, physics.

MJX compiles are the cost here (2-core CPU, XLA optimisations off as in ``test_envs.py``: about
20 s for a batched reset and 40 s for a batched step). So only ``arm_push_easy`` is reset and
stepped with MJX (batch 2, one compiled reset and step shared by the tests through a
module-scoped fixture); ``arm_binpick_hard`` (the other model: bins) is traced, not compiled;
the physics of every task is checked with MuJoCo's C engine on the very model MJX runs (fast),
and one test compares the two engines step by step. Compiling every id is ``slow``.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
from brax.envs.base import State

import envs
from envs.arm import (
    ARM_FIXED_TARGETS,
    ARM_START_Q,
    ARM_TARGET_HIGH,
    ARM_TARGET_LOW,
    ARM_TASKS,
    CUBE_HALF_SIZE,
    GRIPPER_CLOSED,
    GRIPPER_OPEN,
    XLA_CPU_OPTIONS,
    ArmEnv,
    menagerie_panda_available,
    menagerie_panda_xml,
    strip_meshes,
    vendored_panda_xml,
)

ARM_IDS = ["arm_binpick_easy", "arm_binpick_hard", "arm_push_easy", "arm_push_hard"]
BATCH = 2
N_STEPS = 10

# JaxGCRL's numbers (envs/manipulation/arm_*.py, envs/assets/panda_*.xml): cube start centre and
# half range, goal centre and half range, bin centres and inner half width (None: no bins).
JAXGCRL = {
    "arm_push_easy": ((-0.1, 0.6), 0.1, (0.1, 0.6), 0.1, None),
    "arm_push_hard": ((-0.25, 0.65), 0.25, (0.25, 0.65), 0.25, None),
    "arm_binpick_easy": ((-0.15, 0.6), 0.07, (0.17, 0.6), 0.005, ((-0.17, 0.17), 0.135)),
    "arm_binpick_hard": ((-0.3, 0.6), 0.15, (0.3, 0.6), 0.15, ((-0.3, 0.3), 0.185)),
}


@pytest.fixture(scope="module", autouse=True)
def _fast_compile() -> Iterator[None]:
    """XLA without its optimisation passes for this module's compiles (as in test_envs.py)."""
    previous = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", previous)


@pytest.fixture(scope="module")
def made() -> dict[str, ArmEnv]:
    """Each arm env built once (MJCF parse + MJX model, 1-3 s each)."""
    return {}


def _make(made: dict[str, ArmEnv], env_id: str) -> ArmEnv:
    if env_id not in made:
        env = envs.make(env_id)
        assert isinstance(env, ArmEnv)
        made[env_id] = env
    return made[env_id]


@dataclasses.dataclass
class Rollout:
    env: ArmEnv
    reset: Any
    step: Any
    keys: jax.Array
    actions: jax.Array
    states: list[State]


@pytest.fixture(scope="module")
def push(made: dict[str, ArmEnv]) -> Rollout:
    """``arm_push_easy``: batched reset and 10 steps, compiled once for the module."""
    env = _make(made, "arm_push_easy")
    opts = env.compiler_options
    reset = jax.jit(jax.vmap(env.reset), compiler_options=opts)
    step = jax.jit(jax.vmap(env.step), compiler_options=opts)
    key_reset, key_act = jax.random.split(jax.random.key(0))
    keys = jax.random.split(key_reset, BATCH)
    # One random action per env, held for the whole rollout: the arm moves smoothly towards
    # those targets (finite differences of its positions are then meaningful).
    action = jax.random.uniform(key_act, (BATCH, 5), jnp.float32, -1.0, 1.0)
    actions = jnp.broadcast_to(action, (N_STEPS, BATCH, 5))
    states = [reset(keys)]
    for a in actions:
        states.append(step(states[-1], a))
    return Rollout(env, reset, step, keys, actions, states)


def _mj_data(env: ArmEnv, q: np.ndarray) -> mujoco.MjData:
    data = mujoco.MjData(env.sys.mj_model)
    data.qpos[:] = q
    mujoco.mj_forward(env.sys.mj_model, data)
    return data


def _mj_step(env: ArmEnv, data: mujoco.MjData, action: np.ndarray) -> None:
    """One env step (``n_frames`` physics steps) in MuJoCo's C engine."""
    data.ctrl[:] = np.asarray(env.robot.ctrl_from_action(env.sys, jnp.asarray(action)))
    for _ in range(env._n_frames):
        mujoco.mj_step(env.sys.mj_model, data)


def _start_q(xy: tuple[float, float]) -> np.ndarray:
    return np.array([*ARM_START_Q, xy[0], xy[1], CUBE_HALF_SIZE, 1.0, 0.0, 0.0, 0.0])


# ---- registry and model ----------------------------------------------------------------------


def test_registry_facts_match_the_paper() -> None:
    """Wang et al. 2025: state 17, goal = cube x, y, z, 5 actions, 3-D success < 0.1, MJX."""
    assert set(ARM_IDS) <= set(envs.list_envs())
    for env_id in ARM_IDS:
        info = envs.info(env_id)
        facts = (info.state_dim, info.goal_indices, info.goal_dim, info.action_dim)
        assert facts == (17, (0, 1, 2), 3, 5), env_id
        assert (info.success_threshold, info.backend, info.episode_length) == (0.1, "mjx", 1000)
        assert info.obs_dim == 20


def test_scene_model_contacts_and_timing(made: dict[str, ArmEnv]) -> None:
    for env_id in ARM_IDS:
        env = _make(made, env_id)
        mj = env.sys.mj_model
        assert env.info == envs.info(env_id) and env.backend == "mjx"
        assert (mj.nq, mj.nv, mj.nu) == (16, 15, 8)
        assert (env.action_size, env.observation_size) == (5, 20)
        assert env.dt == pytest.approx(0.05)  # 10 x 5 ms, JaxGCRL's control period
        assert env.compiler_options == XLA_CPU_OPTIONS
        # No contact but the explicit pairs: no geom's contype meets another's conaffinity.
        ct, ca = mj.geom_contype, mj.geom_conaffinity
        assert not np.any((ct[:, None] & ca[None, :]) | (ca[:, None] & ct[None, :]))
        names = {
            frozenset((mj.geom(int(a)).name, mj.geom(int(b)).name))
            for a, b in zip(mj.pair_geom1, mj.pair_geom2, strict=True)
        }
        assert len(names) == mj.npair
        bins = JAXGCRL[env_id][4]
        walls = [f"bin{i}_wall{j}" for i in range(2) for j in range(4)] if bins else []
        hand = ["hand_capsule", "left_finger_pad", "right_finger_pad"]
        expected = [("cube", g) for g in ["table", *hand, *walls]] + [("table", g) for g in hand]
        assert names == {frozenset(p) for p in expected}, env_id
        if bins:
            xs, inner = bins
            for i, b in enumerate(ARM_TASKS[env_id].bins):
                assert b.centre == (xs[i], 0.6) and b.inner_half_width == pytest.approx(inner)
                walls = [mj.geom(f"bin{i}_wall{j}") for j in range(4)]
                # 0.066 m high; the inner faces 'inner' metres from the centre.
                assert all(float(w.size[2]) * 2 == pytest.approx(0.066) for w in walls)
                faces = [abs(float(w.pos[1]) - 0.6) - float(w.size[1]) for w in walls[:2]]
                faces += [abs(float(w.pos[0]) - xs[i]) - float(w.size[0]) for w in walls[2:]]
                np.testing.assert_allclose(faces, inner, atol=1e-9)


def test_vendored_panda_has_no_meshes_and_strip_meshes_keeps_the_rest() -> None:
    xml = vendored_panda_xml()
    assert "<mesh" not in xml and 'mesh="' not in xml
    mj = mujoco.MjModel.from_xml_string(xml)
    assert (mj.nq, mj.nu, mj.nbody) == (9, 8, 12)
    assert mj.body("hand").mass[0] == pytest.approx(0.73)
    toy = """<mujoco><asset><mesh name="m" vertex="0 0 0 1 0 0 0 1 0 0 0 1"/></asset>
      <worldbody><body><geom name="keep" type="box" size="1 1 1"/><geom mesh="m"/>
      <body><inertial mass="1" pos="0 0 0" diaginertia="1 1 1"/>
      <geom type="mesh" mesh="m"/><joint/></body></body></worldbody></mujoco>"""
    stripped = strip_meshes(toy)
    assert "mesh" not in stripped.replace("<mujoco>", "")
    assert mujoco.MjModel.from_xml_string(stripped).ngeom == 1


@pytest.mark.skipif(
    not menagerie_panda_available(),
    reason="mujoco-menagerie has no local copy of the Panda (no cache, no MENAGERIE_ROOT)",
)
def test_vendored_panda_is_menagerie_without_meshes() -> None:
    """The vendored file equals the package's mjx_panda.xml with its meshes stripped."""
    ours = mujoco.MjModel.from_xml_string(vendored_panda_xml())
    theirs = mujoco.MjModel.from_xml_string(menagerie_panda_xml())
    for field in (
        "body_pos", "body_quat", "body_mass", "body_inertia", "body_ipos", "body_iquat",
        "jnt_range", "dof_damping", "dof_armature", "actuator_gainprm", "actuator_biasprm",
        "actuator_ctrlrange", "actuator_forcerange", "geom_size", "geom_pos", "site_pos",
        "eq_data",
    ):  # fmt: skip
        np.testing.assert_allclose(getattr(ours, field), getattr(theirs, field), err_msg=field)


def test_compiler_options_are_cpu_only_names() -> None:
    assert all(re.fullmatch(r"xla_cpu_\w+", k) for k in XLA_CPU_OPTIONS)


# ---- sampling, success, actions --------------------------------------------------------------


@pytest.mark.parametrize("env_id", ARM_IDS)
def test_start_and_goal_sampling_ranges(made: dict[str, ArmEnv], env_id: str) -> None:
    env = _make(made, env_id)
    keys = jax.random.split(jax.random.key(7), 1024)
    starts, goals = (np.asarray(x) for x in jax.jit(jax.vmap(env.sample_start_goal))(keys))
    assert starts.shape == (1024, 2) and goals.shape == (1024, 3)
    assert starts.dtype == goals.dtype == np.float32
    cube_c, cube_h, goal_c, goal_h, bins = JAXGCRL[env_id]
    for pts, centre, h in ((starts, cube_c, cube_h), (goals[:, :2], goal_c, goal_h)):
        off = np.abs(pts - np.asarray(centre))
        assert np.all(off <= h + 1e-6)
        assert np.all(off.max(axis=0) > 0.95 * h)  # the whole range is used
    np.testing.assert_array_equal(goals[:, 2], np.float32(CUBE_HALF_SIZE))
    if bins:  # the cube starts inside the left bin, the goal lies inside the right one
        (left, right), inner = bins
        assert np.all(np.abs(starts[:, 0] - left) + CUBE_HALF_SIZE <= inner)
        assert np.all(np.abs(starts[:, 1] - 0.6) + CUBE_HALF_SIZE <= inner)
        assert np.all(np.abs(goals[:, 0] - right) + CUBE_HALF_SIZE <= inner)


def test_success_fires_strictly_under_0_1(made: dict[str, ArmEnv]) -> None:
    env = _make(made, "arm_push_hard")
    state = jnp.zeros((3, 17)).at[:, :2].set(jnp.array([0.1, 0.6]))  # z = 0: exact offsets
    offsets = jnp.array([0.1 * (1 - 1e-3), 0.1, 0.1 * (1 + 1e-3)])
    goal = state[:, :3] + offsets[:, None] * jnp.array([0.0, 0.0, 1.0])  # 3-D: z counts
    m = env.goal_metrics(state, goal)
    np.testing.assert_allclose(m["dist"], offsets, rtol=1e-6)
    np.testing.assert_array_equal(m["success"], [1.0, 0.0, 0.0])


def test_action_to_controls(made: dict[str, ArmEnv]) -> None:
    env = _make(made, "arm_push_easy")
    ctrl = jax.vmap(lambda a: env.robot.ctrl_from_action(env.sys, a))
    actions = jnp.array([[-1.0] * 5, [0.0] * 4 + [1e-3], [1.0] * 5, [-7.0] * 4 + [7.0]])
    c = np.asarray(ctrl(actions))
    assert c.shape == (4, 8) and c.dtype == np.float32
    lo, hi = np.array(ARM_TARGET_LOW), np.array(ARM_TARGET_HIGH)
    driven, fixed = [0, 1, 3, 5], [2, 4, 6]
    np.testing.assert_allclose(c[0, driven], lo, atol=1e-6)
    np.testing.assert_allclose(c[1, driven], (lo + hi) / 2, atol=1e-6)
    np.testing.assert_allclose(c[2, driven], hi, atol=1e-6)
    np.testing.assert_allclose(c[3, driven], lo, atol=1e-6)  # clipped to [-1, 1]
    np.testing.assert_allclose(c[:, fixed], np.tile(ARM_FIXED_TARGETS, (4, 1)), atol=1e-6)
    expected_grip = [GRIPPER_OPEN, GRIPPER_CLOSED, GRIPPER_CLOSED, GRIPPER_CLOSED]
    np.testing.assert_allclose(c[:, 7], expected_grip, atol=1e-9)
    # Every control lies in its actuator's range (JaxGCRL's targets are inside the joint limits).
    rng = env.sys.mj_model.actuator_ctrlrange
    assert np.all((c >= rng[:, 0] - 1e-6) & (c <= rng[:, 1] + 1e-6))


# ---- physics, in MuJoCo's C engine on the same model ------------------------------------------


@pytest.mark.parametrize("env_id", ["arm_push_hard", "arm_binpick_hard"])
def test_cube_rests_arm_holds_and_random_actions_stay_finite(
    made: dict[str, ArmEnv], env_id: str
) -> None:
    env = _make(made, env_id)
    xy = ARM_TASKS[env_id].cube_start.centre
    data = _mj_data(env, _start_q(xy))
    for _ in range(40):  # 2 s of the neutral action: targets = the start pose, hand open
        _mj_step(env, data, np.array([0.0, 0.0, 0.0, 0.0, -1.0]))
    np.testing.assert_allclose(data.qpos[9:12], [*xy, CUBE_HALF_SIZE], atol=1e-3)
    np.testing.assert_allclose(data.qpos[:7], ARM_START_Q[:7], atol=0.1)  # servo sag < 0.1 rad
    rng = np.random.default_rng(0)
    for _ in range(100):
        _mj_step(env, data, rng.uniform(-1, 1, 5))
        assert np.all(np.isfinite(data.qpos)) and np.all(np.isfinite(data.qvel))
    assert -0.01 < data.qpos[11] < 0.3  # the cube stays on (or above) the table


def test_gripper_can_grasp_and_lift_the_cube(made: dict[str, ArmEnv]) -> None:
    """A scripted grasp in arm_binpick_easy (joint targets found offline by inverse kinematics
    for the gripper point above / at / lifted over the cube at (-0.15, 0.6))."""
    env = _make(made, "arm_binpick_easy")
    data = _mj_data(env, _start_q((-0.15, 0.6)))
    above, at, lift = (
        [0.201, -0.356, -0.258, -0.886],
        [0.201, -0.091, -0.236, -0.651],
        [0.201, -0.474, -0.25, -1.0],
    )
    for target, grip, n in ((above, -1, 40), (at, -1, 40), (at, 1, 20), (lift, 1, 40)):
        for _ in range(n):
            _mj_step(env, data, np.array([*target, grip], np.float32))
    assert data.qpos[11] > 0.1  # lifted by 7 cm or more, over the 6.6 cm bin walls
    assert np.linalg.norm(data.qpos[9:11] - np.array([-0.15, 0.6])) < 0.05


def test_state_vector_layout_against_mujoco(made: dict[str, ArmEnv]) -> None:
    """state_vector on MuJoCo's own forward pass of a moving state: cube position, joint
    angles, gripper point and its velocity (``mj_objectVelocity``), finger opening."""
    env = _make(made, "arm_push_hard")
    mj = env.sys.mj_model
    rng = np.random.default_rng(3)
    data = _mj_data(env, _start_q((-0.2, 0.7)))
    data.qpos[:7] += rng.uniform(-0.3, 0.3, 7)
    data.qpos[7:9] = [0.03, 0.03]
    data.qvel[:] = rng.uniform(-1.0, 1.0, mj.nv)
    mujoco.mj_forward(mj, data)
    fields = ("q", "site_xpos", "cvel", "subtree_com", "xpos")
    ps = type("PS", (), {f: np.asarray(getattr(data, "qpos" if f == "q" else f)) for f in fields})
    s = np.asarray(env.robot.state_vector(env.sys, ps, jnp.zeros(5)))
    assert s.shape == (17,) and s.dtype == np.float32
    site = mj.site("gripper").id
    vel = np.zeros(6)
    mujoco.mj_objectVelocity(mj, data, mujoco.mjtObj.mjOBJ_SITE, site, vel, 0)
    np.testing.assert_allclose(s[0:3], data.qpos[9:12], atol=1e-6)
    np.testing.assert_allclose(s[3:10], data.qpos[:7], atol=1e-6)
    np.testing.assert_allclose(s[10:13], data.site_xpos[site], atol=1e-6)
    np.testing.assert_allclose(s[13:16], vel[3:], atol=1e-5)
    assert np.linalg.norm(vel[3:]) > 0.1
    np.testing.assert_allclose(s[16], 0.06, atol=1e-6)  # two fingers 0.03 m out each


# ---- MJX: arm_push_easy reset and stepped ------------------------------------------------------


def test_mjx_reset_and_step_shapes_values_and_state_layout(push: Rollout) -> None:
    env = push.env
    mj = env.sys.mj_model
    tcp_site, left, right = (
        mj.site("gripper").id,
        mj.body("left_finger").id,
        mj.body("right_finger").id,
    )
    for t, s in enumerate(push.states):
        assert s.obs.shape == (BATCH, 20) and s.obs.dtype == jnp.float32
        assert s.reward.shape == s.done.shape == (BATCH,)
        assert set(s.metrics) == {"dist", "success"}
        assert np.all(np.isfinite(np.asarray(s.obs))), f"NaN/inf at step {t}"
        ps = s.pipeline_state
        obs = np.asarray(s.obs)
        np.testing.assert_allclose(obs[:, 0:3], ps.q[:, 9:12], atol=1e-6)  # cube
        np.testing.assert_allclose(obs[:, 3:10], ps.q[:, :7], atol=1e-6)  # joints 1-7
        np.testing.assert_allclose(obs[:, 10:13], ps.site_xpos[:, tcp_site], atol=1e-6)
        fingers = np.linalg.norm(ps.xpos[:, left] - ps.xpos[:, right], axis=-1)
        np.testing.assert_allclose(obs[:, 16], fingers, atol=1e-6)
        # Body and site positions come from the last physics step's forward pass, so they lag
        # q by one physics step (5 ms): the finger opening is close to, not exactly, q7 + q8.
        np.testing.assert_allclose(obs[:, 16], ps.q[:, 7] + ps.q[:, 8], atol=5e-3)
        goal = np.asarray(push.states[0].info["goal"])
        np.testing.assert_array_equal(obs[:, 17:], goal)
        dist = np.linalg.norm(obs[:, :3] - goal, axis=-1)
        np.testing.assert_allclose(s.metrics["dist"], dist, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(s.reward, (dist < 0.1).astype(np.float32))
        np.testing.assert_array_equal(s.reward, s.metrics["success"])
        np.testing.assert_array_equal(s.done, np.zeros(BATCH))  # never done
    # At reset: the arm at its start pose, at rest; the cube on the table; the hand open.
    s0 = push.states[0]
    np.testing.assert_allclose(s0.obs[:, 3:10], np.tile(ARM_START_Q[:7], (BATCH, 1)), atol=1e-6)
    np.testing.assert_allclose(s0.obs[:, 2], CUBE_HALF_SIZE, atol=1e-6)
    np.testing.assert_allclose(s0.obs[:, 13:16], 0.0, atol=1e-6)
    np.testing.assert_allclose(s0.obs[:, 16], 0.08, atol=1e-6)
    pos = np.stack([np.asarray(s.obs[:, 10:13]) for s in push.states])
    assert not np.allclose(pos[0], pos[-1], atol=1e-3)  # the arm moved


def test_mjx_leaves_typed_alike_and_step_compiles_once(push: Rollout) -> None:
    first, later = push.states[0], push.states[-1]
    assert jax.tree.structure(first) == jax.tree.structure(later)
    for a, b in zip(jax.tree.leaves(first), jax.tree.leaves(later), strict=True):
        assert (a.shape, a.dtype, a.weak_type) == (b.shape, b.dtype, b.weak_type)
    assert push.step._cache_size() == 1


def test_mjx_deterministic_for_a_fixed_key(push: Rollout) -> None:
    again = push.step(push.reset(push.keys), push.actions[0])
    for a, b in zip(jax.tree.leaves(again), jax.tree.leaves(push.states[1]), strict=True):
        np.testing.assert_array_equal(a, b)
    other = push.reset(jax.random.split(jax.random.key(1), BATCH))
    assert not np.allclose(other.info["goal"], push.states[0].info["goal"])
    assert not np.allclose(other.obs[:, :2], push.states[0].obs[:, :2])


def test_mjx_goal_reached_gives_reward_exactly_under_0_1(push: Rollout) -> None:
    """Goals 0.09 and 0.11 m above the (resting) cube: reward 1 and 0 after a neutral step."""
    s = push.states[0]
    neutral = jnp.zeros((BATCH, 5)).at[:, 4].set(-1.0)
    for dz, reward in ((0.0, 1.0), (0.09, 1.0), (0.11, 0.0)):
        goal = s.obs[:, :3].at[:, 2].add(dz)
        moved = s.replace(obs=s.obs.at[:, 17:].set(goal), info={**s.info, "goal": goal})
        nxt = push.step(moved, neutral)
        np.testing.assert_array_equal(nxt.reward, np.full(BATCH, reward))
        np.testing.assert_array_equal(nxt.done, np.zeros(BATCH))


def test_mjx_agrees_with_mujoco(push: Rollout) -> None:
    """The same actions from the same state in MuJoCo's C engine give nearly the same
    trajectory (MJX runs float32, C float64)."""
    env = push.env
    arm, cube = [], []
    for b in range(BATCH):
        data = _mj_data(env, np.asarray(push.states[0].pipeline_state.q[b], np.float64))
        for t in range(N_STEPS):
            _mj_step(env, data, np.asarray(push.actions[t, b]))
            q = np.asarray(push.states[t + 1].pipeline_state.q[b])
            arm.append(np.abs(q[:9] - data.qpos[:9]).max())
            cube.append(np.abs(q[9:12] - data.qpos[9:12]).max())
    assert max(arm) < 0.03, arm  # rad; measured up to 0.011 (a saturated wrist servo)
    assert max(cube) < 0.005, cube  # m


@pytest.mark.slow
def test_binpick_traces_to_the_same_shapes(made: dict[str, ArmEnv]) -> None:
    """The other model (bins): reset and step traced (not compiled) give the same shapes as
    arm_push_easy's (tracing alone takes about 30 s)."""
    env = _make(made, "arm_binpick_hard")
    state = jax.eval_shape(jax.vmap(env.reset), jax.random.split(jax.random.key(0), BATCH))
    nxt = jax.eval_shape(jax.vmap(env.step), state, jax.ShapeDtypeStruct((BATCH, 5), jnp.float32))
    for s in (state, nxt):
        assert (s.obs.shape, s.obs.dtype) == ((BATCH, 20), jnp.float32)
        assert s.reward.shape == s.done.shape == (BATCH,)
        assert set(s.metrics) == {"dist", "success"}
    assert jax.tree.structure(state) == jax.tree.structure(nxt)
    assert state.pipeline_state.q.shape == (BATCH, 16)


def test_render_arm_scene(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("matplotlib")
    out = envs.render("arm_binpick_hard", tmp_path / "arm.png")
    assert out.stat().st_size > 10_000


# ---- slow: every id compiled -------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("env_id", ARM_IDS)
def test_every_arm_id_resets_and_steps(env_id: str) -> None:
    """envs.check: batched reset and 20 random steps, all finite, never done (about 1 min each)."""
    r = envs.check(env_id, batch=2, steps=20)
    assert r["finite"] and r["done_frac"] == 0.0
