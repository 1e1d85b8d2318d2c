"""The envs against the reference code, github.com/wang-kevin3290/scaling-crl (Wang et al. 2025).

The reference's facts are held here as data, copied from its files (named with their lines):
maze grids, contact attributes, placement. Everything but the wall rollout is CPU-cheap: no
physics step is compiled except in :func:`test_ant_torso_is_stopped_by_a_wall_corner` (two
compiles of a 20-step scan at batch 1, XLA optimisations off).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

import envs
from envs.maze import LAYOUTS, build_maze
from envs.maze_env import MazeEnv
from envs.registry import ANT_CELL_JITTER, HUMANOID_CELL_JITTER, POINT_CELL_JITTER

r, g = "r", "g"  # the reference's start / goal tokens (scaling-crl envs/ant_maze.py:17-18)

# scaling-crl envs/ant_maze.py (lines given per grid), copied verbatim.
REF_ANT = {
    # ant_maze.py:21-25
    "u_maze": [[1, 1, 1, 1, 1],
               [1, r, g, g, 1],
               [1, 1, 1, g, 1],
               [1, g, g, g, 1],
               [1, 1, 1, 1, 1]],
    # ant_maze.py:27-31
    "u_maze_eval": [[1, 1, 1, 1, 1],
                    [1, r, 0, 0, 1],
                    [1, 1, 1, 0, 1],
                    [1, g, g, g, 1],
                    [1, 1, 1, 1, 1]],
    # ant_maze.py:94-100
    "u4_maze": [[1, 1, 1, 1, 1],
                [1, g, g, g, 1],
                [1, r, 1, g, 1],
                [1, 1, 1, g, 1],
                [1, g, 1, g, 1],
                [1, g, g, g, 1],
                [1, 1, 1, 1, 1]],
    # ant_maze.py:102-108
    "u4_maze_eval": [[1, 1, 1, 1, 1],
                     [1, 0, 0, 0, 1],
                     [1, r, 1, 0, 1],
                     [1, 1, 1, 0, 1],
                     [1, g, 1, 0, 1],
                     [1, g, g, g, 1],
                     [1, 1, 1, 1, 1]],
    # ant_maze.py:111-117
    "u5_maze": [[1, 1, 1, 1, 1, 1, 1, 1],
                [1, g, g, g, g, g, g, 1],
                [1, r, 1, 1, 1, 1, g, 1],
                [1, 1, 1, 1, 1, 1, g, 1],
                [1, g, 1, 1, 1, 1, g, 1],
                [1, g, g, g, g, g, g, 1],
                [1, 1, 1, 1, 1, 1, 1, 1]],
    # ant_maze.py:119-125 (the active U5_MAZE_EVAL; lines 167-173 are commented out)
    "u5_maze_eval": [[1, 1, 1, 1, 1, 1, 1, 1],
                     [1, 0, 0, 0, 0, 0, 0, 1],
                     [1, r, 1, 1, 1, 1, 0, 1],
                     [1, 1, 1, 1, 1, 1, 0, 1],
                     [1, g, 1, 1, 1, 1, g, 1],
                     [1, g, g, g, g, g, g, 1],
                     [1, 1, 1, 1, 1, 1, 1, 1]],
    # ant_maze.py:176-183
    "big_maze": [[1, 1, 1, 1, 1, 1, 1, 1],
                 [1, r, g, 1, 1, g, g, 1],
                 [1, g, g, 1, g, g, g, 1],
                 [1, 1, g, g, g, 1, 1, 1],
                 [1, g, g, 1, g, g, g, 1],
                 [1, g, 1, g, g, 1, g, 1],
                 [1, g, g, g, 1, g, g, 1],
                 [1, 1, 1, 1, 1, 1, 1, 1]],
    # ant_maze.py:185-192
    "big_maze_eval": [[1, 1, 1, 1, 1, 1, 1, 1],
                      [1, r, 0, 1, 1, g, g, 1],
                      [1, 0, 0, 1, 0, 0, g, 1],
                      [1, 1, 0, 0, 0, 1, 1, 1],
                      [1, 0, 0, 1, 0, 0, 0, 1],
                      [1, 0, 1, g, 0, 1, g, 1],
                      [1, 0, g, g, 1, g, g, 1],
                      [1, 1, 1, 1, 1, 1, 1, 1]],
    # ant_maze.py:194-202
    "hardest_maze": [[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
                     [1, r, g, g, g, 1, g, g, g, g, g, 1],
                     [1, g, 1, 1, g, 1, g, 1, g, 1, g, 1],
                     [1, g, g, g, g, g, g, 1, g, g, g, 1],
                     [1, g, 1, 1, 1, 1, g, 1, 1, 1, g, 1],
                     [1, g, g, 1, g, 1, g, g, g, g, g, 1],
                     [1, 1, g, 1, g, 1, g, 1, g, 1, 1, 1],
                     [1, g, g, 1, g, g, g, 1, g, g, g, 1],
                     [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]],
}  # fmt: skip

# scaling-crl envs/humanoid_maze.py: u_maze (21-25), u_maze_eval (27-31), big_maze (33-40) and
# hardest_maze (51-59) equal the ant file's grids (compared cell by cell when this was written);
# big_maze_eval (42-49) has goal cell (2, 5) too. scaling-crl envs/simple_maze.py (the reference's
# point maze) has the same five grids as humanoid_maze.py (lines 21-31, 35-61).
REF_HUMANOID = {
    **{k: REF_ANT[k] for k in ("u_maze", "u_maze_eval", "big_maze", "hardest_maze")},
    # humanoid_maze.py:42-49 (= simple_maze.py:44-51)
    "big_maze_eval": [[1, 1, 1, 1, 1, 1, 1, 1],
                      [1, r, 0, 1, 1, g, g, 1],
                      [1, 0, 0, 1, 0, g, g, 1],
                      [1, 1, 0, 0, 0, 1, 1, 1],
                      [1, 0, 0, 1, 0, 0, 0, 1],
                      [1, 0, 1, g, 0, 1, g, 1],
                      [1, 0, g, g, 1, g, g, 1],
                      [1, 1, 1, 1, 1, 1, 1, 1]],
}  # fmt: skip
REF_FILES = {"ant": REF_ANT, "humanoid": REF_HUMANOID, "point": REF_HUMANOID}
REF_CELL_SIZE = {"ant": 4.0, "humanoid": 2.0}
"""scaling-crl ``maze_size_scaling``: envs/ant_maze.py:330, envs/humanoid_maze.py:142."""

# Contacts: (contype, conaffinity) per geom name of the reference models.
# scaling-crl envs/assets/ant_maze.xml:21 (default 0 / 0), 35, 38, 45, 50, 57, 62, 69, 74, 81;
# legs and ankles keep the default; walls: envs/ant_maze.py:301-302.
REF_ANT_MAZE_CONTACTS = {
    "torso_geom": (0, 1),
    **{f"aux_{i}_geom": (0, 1) for i in range(1, 5)},
    **{f"{leg}_foot_geom": (1, 1) for leg in ("left", "right", "third", "fourth")},
    **{
        f"{leg}_geom": (0, 0)
        for leg in (
            "left_leg",
            "left_ankle",
            "right_leg",
            "right_ankle",
            "back_leg",
            "third_ankle",
            "rightback_leg",
            "fourth_ankle",
        )
    },
}
# brax's ant.xml (the "feet" set; = scaling-crl envs/assets/ant.xml:34-80, the open-floor ant).
FEET_ANT_CONTACTS = {
    name: ((1, 0) if name.endswith("_foot_geom") else (0, 0)) for name in REF_ANT_MAZE_CONTACTS
}
# scaling-crl envs/assets/humanoid_maze.xml:5 (default contype 1, conaffinity 0), 42-98;
# walls envs/humanoid_maze.py:120-121.
HUMANOID_BODY_GEOMS = (
    "torso1", "head", "uwaist", "lwaist", "butt", "right_thigh1", "right_shin1", "right_foot",
    "left_thigh1", "left_shin1", "left_foot", "right_uarm1", "right_larm", "right_hand",
    "left_uarm1", "left_larm", "left_hand",
)  # fmt: skip
REF_HUMANOID_CONTACTS = {name: (1, 0) for name in HUMANOID_BODY_GEOMS}
FEET_HUMANOID_CONTACTS = {
    name: ((1, 0) if name.endswith("_foot") else (0, 0)) for name in HUMANOID_BODY_GEOMS
}
START_NOISE = {"ant": 0.1, "humanoid": 0.0, "point": 0.0}
"""Half-width of the start x, y noise (metres): ant envs/ant_maze.py:326, 386-389 (noise on all
of q, torso x, y = the start cell centre); humanoid envs/humanoid_maze.py:138, 196; point
envs/simple_maze.py:210-218 (its x, y noise is overwritten by the start)."""
EARLIER_JITTER = {
    "ant": ANT_CELL_JITTER,
    "humanoid": HUMANOID_CELL_JITTER,
    "point": POINT_CELL_JITTER,
}
MAZE_IDS = [i for i in envs.list_envs() if "maze" in i]


def _robot(env_id: str) -> str:
    return env_id.split("_")[0]


def _ours(grid: list[list[int | str]]) -> tuple[tuple[int | str, ...], ...]:
    """A reference grid in :mod:`envs.maze`'s tokens (``r`` -> ``R``, ``g`` -> ``G``)."""
    return tuple(tuple(c.upper() if isinstance(c, str) else c for c in row) for row in grid)


@pytest.fixture(scope="module", autouse=True)
def _fast_compile() -> Iterator[None]:
    """XLA without its optimisation passes for this module (as in tests/test_envs.py)."""
    previous = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", previous)


# ---- (1) layouts --------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", MAZE_IDS)
def test_every_maze_layout_is_the_references(env_id: str) -> None:
    robot = _robot(env_id)
    name = env_id.removeprefix(f"{robot}_")
    layout = envs.maze_layout(env_id)
    assert layout is not None
    if name == "hardest_maze_eval":  # the reference has none: this project's own (far cells)
        assert LAYOUTS[layout] == LAYOUTS["hardest_maze_eval"]
        ref = _ours(REF_FILES[robot]["hardest_maze"])
        ours = LAYOUTS[layout]
        assert [[c == 1 for c in row] for row in ours] == [[c == 1 for c in row] for row in ref]
        return
    assert LAYOUTS[layout] == _ours(REF_FILES[robot][name]), (env_id, layout)


def test_u5_and_big_eval_goal_cells() -> None:
    """The two layouts that once differed, spelled out cell by cell."""
    u5 = build_maze(LAYOUTS[envs.maze_layout("ant_u5_maze_eval") or ""], 4.0)
    assert set(u5.goal_cells) == {(4, 1), (4, 6)} | {(5, c) for c in range(1, 7)}
    ant_big = build_maze(LAYOUTS[envs.maze_layout("ant_big_maze_eval") or ""], 4.0)
    hum_big = build_maze(LAYOUTS[envs.maze_layout("humanoid_big_maze_eval") or ""], 2.0)
    assert set(hum_big.goal_cells) - set(ant_big.goal_cells) == {(2, 5)}
    assert len(ant_big.goal_cells) == 9 and len(hum_big.goal_cells) == 10
    assert envs.maze_layout("ant") is None


@pytest.mark.parametrize("env_id", ["ant_u_maze", "humanoid_u_maze"])
def test_maze_cell_size_is_the_references(env_id: str) -> None:
    env = envs.make(env_id)
    assert isinstance(env, MazeEnv)
    assert env.maze.cell_size == REF_CELL_SIZE[_robot(env_id)]


# ---- (2) contact sets ---------------------------------------------------------------------------


def _contacts(env: envs.GoalEnv) -> dict[str, tuple[int, int]]:
    """``{geom name: (contype, conaffinity)}`` of the env's compiled model."""
    model = env.sys.mj_model
    return {
        mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, i): (
            int(env.sys.geom_contype[i]),
            int(env.sys.geom_conaffinity[i]),
        )
        for i in range(model.ngeom)
    }


@pytest.mark.parametrize(
    ("env_id", "contacts", "body", "walls"),
    [
        ("ant_u4_maze", "reference", REF_ANT_MAZE_CONTACTS, (1, 1)),
        ("ant_u4_maze", "feet", FEET_ANT_CONTACTS, (0, 1)),
        ("humanoid_u_maze", "reference", REF_HUMANOID_CONTACTS, (1, 1)),
        ("humanoid_u_maze", "feet", FEET_HUMANOID_CONTACTS, (0, 1)),
    ],
)
def test_contact_sets(
    env_id: str, contacts: str, body: dict[str, tuple[int, int]], walls: tuple[int, int]
) -> None:
    env = envs.make(env_id, contacts=contacts)
    got = _contacts(env)
    assert {k: got[k] for k in body} == body
    wall_names = [k for k in got if k.startswith("wall_")]
    assert wall_names and all(got[k] == walls for k in wall_names)
    # The same set compiled by MuJoCo from the env's own MJCF text.
    assert isinstance(env, MazeEnv)
    text = env.robot.mjcf(env.maze.walls_mjcf(contype=env.robot.wall_contype))
    model = mujoco.MjModel.from_xml_string(text)
    for name, attrs in body.items():
        geom = model.geom(name)
        assert (int(geom.contype[0]), int(geom.conaffinity[0])) == attrs, name
    if contacts == "reference":
        assert envs.make(env_id).robot == env.robot  # the default


def test_open_floor_contacts() -> None:
    """The reference's open-floor ant has brax's feet set (scaling-crl envs/assets/ant.xml), its
    humanoid every body geom (envs/assets/humanoid.xml:5)."""
    assert {k: v for k, v in _contacts(envs.make("ant")).items() if k in FEET_ANT_CONTACTS} == (
        FEET_ANT_CONTACTS
    )
    got = _contacts(envs.make("humanoid"))
    assert {k: got[k] for k in HUMANOID_BODY_GEOMS} == REF_HUMANOID_CONTACTS
    got = _contacts(envs.make("humanoid", contacts="feet"))
    assert {k: got[k] for k in HUMANOID_BODY_GEOMS} == FEET_HUMANOID_CONTACTS


# ---- (3) placement ------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", ["ant_u4_maze", "humanoid_u_maze", "point_u_maze"])
def test_reference_placement(env_id: str) -> None:
    env = envs.make(env_id)
    assert isinstance(env, MazeEnv)
    maze, noise = env.maze, START_NOISE[_robot(env_id)]
    keys = jax.random.split(jax.random.key(0), 256)
    starts, goals = (np.asarray(x) for x in jax.vmap(env.sample_start_goal)(keys))
    # Goals: exactly the goal cell centres, every one drawn.
    centres = {tuple(map(float, xy)) for xy in maze.goal_xy}
    assert {tuple(map(float, xy)) for xy in goals[:, :2]} == centres
    # Starts: the start cell centre +- the reference's reset noise.
    offset = starts - maze.start_xy[0]
    assert np.abs(offset).max() <= noise + 1e-6
    if noise:
        assert np.abs(offset).max() > 0.8 * noise
    if env_id != "ant_u4_maze":
        return
    # A batch of resets puts the ant at its drawn start (reset draws the task with the first
    # half of its key, see envs.base.GoalEnv.reset; the ant's own reset noise does not move its
    # x, y again) and the goal at a cell centre.
    states = jax.vmap(env.reset)(keys[:8])
    task_keys = jax.vmap(lambda k: jax.random.split(k)[0])(keys[:8])
    start, goal = jax.vmap(env.sample_start_goal)(task_keys)
    q = np.asarray(states.pipeline_state.q)
    np.testing.assert_allclose(q[:, :2], start, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(states.info["goal"]), goal)
    assert {tuple(map(float, xy)) for xy in np.asarray(goal)[:, :2]} <= centres


@pytest.mark.parametrize("env_id", ["ant_u4_maze", "humanoid_u_maze"])
def test_cell_jitter_spreads_starts_and_goals(env_id: str) -> None:
    j = EARLIER_JITTER[_robot(env_id)]
    env = envs.make(env_id, cell_jitter=j)
    assert isinstance(env, MazeEnv)
    maze = env.maze
    keys = jax.random.split(jax.random.key(1), 256)
    starts, goals = (np.asarray(x) for x in jax.vmap(env.sample_start_goal)(keys))
    for xy in (starts, goals[:, :2]):
        off = xy - maze.cell_of(xy) * maze.cell_size
        assert np.abs(off).max() <= j + 1e-5
        assert np.abs(off).max() > 0.8 * j
    assert len({tuple(xy) for xy in goals[:, :2]}) == 256


# ---- (4) the torso meets the walls --------------------------------------------------------------


def _torso_track(env: envs.GoalEnv, q: jax.Array, qd: jax.Array, n: int) -> np.ndarray:
    """Torso positions ``[n, 3]`` (metres) after each of ``n`` env steps (``n_frames`` physics
    steps each) with zero controls, from ``pipeline_init(q, qd)``; one jitted scan."""
    ctrl = jnp.zeros(env.action_size)

    def body(ps: Any, _: None) -> tuple[Any, jax.Array]:
        ps = env.pipeline_step(ps, ctrl)
        return ps, ps.x.pos[0]

    roll = jax.jit(lambda q, qd: jax.lax.scan(body, env.pipeline_init(q, qd), None, length=n)[1])
    return np.asarray(roll(q, qd))


@pytest.mark.slow  # .ci/run runs it after the default suite
def test_ant_torso_is_stopped_by_a_wall_corner() -> None:
    """The ant, yawed 45 degrees so its legs point along x and y, slides diagonally at 4 m/s
    into the convex corner (6, 6) of the U4-maze's inner wall (cell (2, 2) spans x, y in
    [6, 10]): its legs pass on both sides of the corner, only the torso sphere (radius 0.25 m)
    meets it. With the reference contacts the torso stops at the corner; with the feet set it
    runs into the wall."""
    corner, radius = np.array([6.0, 6.0]), 0.25
    closest = {}
    for contacts in ("reference", "feet"):
        env = envs.make("ant_u4_maze", contacts=contacts)
        assert isinstance(env, MazeEnv)
        xy = corner - 0.5 / math.sqrt(2)  # torso centre 0.5 m from the corner
        yaw = (math.cos(math.pi / 8), 0.0, 0.0, math.sin(math.pi / 8))
        q = jnp.asarray(env.sys.init_q).at[:2].set(xy).at[3:7].set(jnp.asarray(yaw))
        qd = jnp.zeros(env.sys.qd_size()).at[:2].set(4.0 / math.sqrt(2))
        torso = _torso_track(env, q, qd, 20)  # 200 physics steps (1 s)
        assert np.all(np.isfinite(torso))
        closest[contacts] = float(env.maze.wall_distance(torso[:, :2]).min())
    assert closest["reference"] > radius - 0.03, closest
    assert closest["feet"] < radius - 0.15, closest


# ---- (5) options ----------------------------------------------------------------------------------


def test_options_per_env_family() -> None:
    for env_id in envs.list_envs():
        robot = _robot(env_id)
        if "maze" in env_id:
            expected: tuple[str, ...] = (
                ("cell_jitter", "goal_max_cells")
                if robot == "point"
                else ("cell_jitter", "contacts", "goal_max_cells")
            )
        else:
            expected = ("contacts",) if env_id == "humanoid" else ()
        assert envs.info(env_id).options == expected, env_id


@pytest.mark.parametrize(
    ("env_id", "option"),
    [
        ("ant", {"contacts": "feet"}),
        ("reacher", {"cell_jitter": 0.5}),
        ("point_u_maze", {"contacts": "feet"}),
        ("humanoid", {"cell_jitter": 0.25}),
        ("arm_push_easy", {"contacts": "feet"}),
    ],
)
def test_make_rejects_options_the_env_does_not_list(env_id: str, option: dict) -> None:
    (name,) = option
    with pytest.raises(ValueError, match=rf"{env_id}.*{name}"):
        envs.make(env_id, **option)


def test_make_accepts_default_options_everywhere_and_rejects_bad_ones() -> None:
    for env_id in ("ant", "reacher", "point_u_maze"):  # cheap models
        env = envs.make(env_id, contacts="reference", cell_jitter=0.0)
        assert env.info == envs.info(env_id)
    with pytest.raises(ValueError, match="contacts must be one of"):
        envs.make("ant_u_maze", contacts="all")
    with pytest.raises(TypeError):
        envs.make("ant", no_such_option=1)
    with pytest.raises(ValueError, match="half a cell"):
        envs.make("ant_u_maze", cell_jitter=0.9)  # 0.9 + the ant's 1.2 m reach > 2 m


def test_env_vmap_in_chunks_equals_one_vmap() -> None:
    """``GoalEnv.vmap`` with a CPU limit (the arm tasks' deadlock avoidance, docs/envs.md) steps
    a batch in chunks and gives the results of one ``vmap``: here a point maze given a limit of
    3, so 8 envs go in 4 chunks of 2."""
    import copy

    import jax
    import jax.numpy as jnp
    import numpy as np

    import envs

    plain = envs.make("point_u_maze")
    limited = envs.make("point_u_maze")
    robot = copy.copy(limited.robot)
    object.__setattr__(robot, "cpu_vmap_limit", 3)  # a frozen dataclass; the limit is a default
    limited.robot = robot
    keys = jax.random.split(jax.random.PRNGKey(0), 8)
    action = jnp.linspace(-1.0, 1.0, 8 * plain.action_size).reshape(8, -1)
    state = jax.jit(plain.vmap(plain.reset))(keys)
    outs = [jax.jit(env.vmap(env.step))(state, action) for env in (plain, limited)]
    for a, b in zip(
        jax.tree_util.tree_leaves(outs[0]), jax.tree_util.tree_leaves(outs[1]), strict=True
    ):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6)
    assert limited.vmap(limited.step) is not None and plain.robot.cpu_vmap_limit is None
    from envs.arm import CPU_VMAP_LIMIT, PandaCube

    assert PandaCube.cpu_vmap_limit == CPU_VMAP_LIMIT == 128


def test_humanoid_physics_steps_are_the_reference_codes() -> None:
    """The reference's open-floor humanoid runs 3 ms x 10 = 0.03 s per env step: its
    ``envs/humanoid.py:38`` sets ``opt.timestep = 0.0015``, which brax 0.10.1's spring pipeline
    never reads (it integrates with ``sys.dt``, left at the XML's 0.003); its mazes set
    ``sys.dt = 0.0015`` (``humanoid_maze.py:153``). Measured side by side with the reference's
    own env by ``benchmarks/reference/physics.py`` (docs/fidelity.md, "Physics side by side")."""
    assert envs.make("humanoid").dt == pytest.approx(0.03)
    assert envs.make("humanoid_u_maze").dt == pytest.approx(0.015)
    assert envs.make("ant").dt == pytest.approx(0.05)
    assert envs.info("humanoid").physics_revision == 1
    assert envs.info("humanoid_u_maze").physics_revision == 0
