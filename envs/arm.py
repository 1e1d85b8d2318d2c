"""Franka Panda arm tasks: push a cube, or pick it from one bin into another (MJX pipeline).

Wang et al. 2025 (arXiv 2503.14858, table of environments) list ``arm_push_easy``,
``arm_push_hard`` and ``arm_binpick_hard``: a Franka arm and a cube, state dim 17, goal = cube
x, y, z, 5 actions, success iff the cube is within 0.1 m (3-D) of the goal, MJX pipeline. The
tasks come from JaxGCRL (Bortkiewicz et al. 2024, arXiv 2408.11052,
``envs/manipulation/arm_*.py``), whose numbers are used here: where the cube starts, where
goals are drawn, the bins, the arm's start pose and its 5-dim action (target angles of joints 1,
2, 4, 6 and a binary gripper). ``arm_binpick_easy`` is JaxGCRL's fourth task (the paper does not
report it).

The arm is MuJoCo Menagerie's MJX Panda (``envs/assets/franka_panda_mjx.xml``: menagerie's
``franka_emika_panda/mjx_panda.xml`` without its meshes, see :func:`strip_meshes`), not JaxGCRL's
own copy of the Panda; ``docs/envs.md`` ("Arm tasks: how they differ from the paper's") lists
what that changes.

World frame: the arm's base at the origin, the table the plane z = 0, the work area in front of
the arm around y = 0.6 m; the cube starts on the left (x < 0) and goes to the right (x > 0).
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import warnings
import xml.etree.ElementTree as ET
from typing import Any

import jax
import jax.numpy as jnp
import mujoco
from brax import base as brax_base
from brax.io import mjcf

from envs.base import EnvInfo, GoalEnv
from envs.robots import Robot

CUBE_HALF_SIZE = 0.03
"""Half the cube's edge (metres): a 6 cm cube, as JaxGCRL's. Resting on the table its centre is
at z = 0.03, the z of every goal."""
ARM_START_Q = (1.571, 0.742, 0.0, -1.571, 0.0, 3.054, 1.449, 0.04, 0.04)
"""Joint positions at reset: joints 1-7 (rad) and the two finger slides (m, fully open);
JaxGCRL's ``arm_q_default`` ("start closer to the relevant area"), without noise
(``arm_noise_scale = 0``)."""
ARM_TARGET_LOW = (0.3491, 0.0, -3.0718, 2.3562)
"""Target angle (rad) of joints 1, 2, 4, 6 at action -1 (JaxGCRL's ``min_value``)."""
ARM_TARGET_HIGH = (2.7925, 1.48353, -0.0698, 3.7525)
"""Target angle (rad) of joints 1, 2, 4, 6 at action +1 (JaxGCRL's ``max_value``)."""
ARM_FIXED_TARGETS = (0.0, 0.0, 1.4487)
"""Target angles (rad) of joints 3, 5 and 7, which the policy does not move (JaxGCRL)."""
GRIPPER_OPEN = 0.04
"""Gripper control for an open hand: menagerie's actuator8 targets this finger opening (m)."""
GRIPPER_CLOSED = 0.0
"""Gripper control for a closed hand (the fingers squeeze whatever is between them)."""
ARM_TIMESTEP = 0.005
"""Physics step (s): menagerie's ``mjx_scene.xml`` (JaxGCRL: 0.002 s with its own model)."""
ARM_N_FRAMES = 10
"""Physics steps per env step: 10 x 5 ms = 0.05 s, JaxGCRL's env step (25 x 2 ms)."""
ARM_SOLVER_ITERATIONS = 5
"""Constraint solver iterations (menagerie's ``mjx_scene.xml``; JaxGCRL 6)."""
ARM_LS_ITERATIONS = 8
"""Line-search iterations of the solver (menagerie's ``mjx_scene.xml``; JaxGCRL 12)."""
XLA_CPU_OPTIONS: dict[str, Any] = {"xla_cpu_use_fusion_emitters": False}
"""XLA options for jitted programs that step an arm task (``jax.jit(f,
compiler_options=XLA_CPU_OPTIONS)``, or ``XLA_FLAGS=--xla_cpu_use_fusion_emitters=false``).

XLA's CPU fusion emitters (jaxlib 0.10.2) compile MJX's forward kinematics of a deep serial chain
(the Panda's 9 bodies from base to fingertips) into code whose cost grows steeply with the
chain depth and worse under ``vmap``: measured on the project's 2-core CPU, ``vmap`` over 8
envs of ``mjx`` kinematics of a plain 9-link hinge chain ran 2.5 s per call with them and
1.9 ms without (the ant's 3-level legs: 1.9 ms either way), and compiled in half the time
without. The option names a CPU compiler setting and does not touch GPU compilation."""
CPU_VMAP_LIMIT = 128
"""Most arm envs stepped by one ``vmap``-ed call on the CPU; bigger batches are stepped in chunks
(:meth:`envs.base.GoalEnv.vmap`). jaxlib's CPU LAPACK kernel behind MJX's batched Cholesky
(``lapack_spotrf_ffi``, 15 x 15 matrices here) splits a batch of 178 or more across the XLA
thread pool it runs on and blocks until the pieces are done; when XLA runs two independent
factorisations of one step at once, both pool threads block and nothing runs the pieces: a
deadlock. Measured on the project's 2-core CPU (`benchmarks/hang_repro.py`, docs/envs.md):
`arm_push_hard` at batch 256 hung in 5 of 6 loaded attempts, in chunks of 128 in none of 6."""
PANDA_ASSET = "franka_panda_mjx.xml"
"""The vendored Panda in ``envs/assets`` (menagerie's MJX Panda without meshes)."""
MENAGERIE_ROBOT = "franka_emika_panda"
MENAGERIE_ENTRY = "mjx_panda"

_TCP_SITE = "gripper"
"""Menagerie's site between the fingertips, 0.1 m from the hand's base along its axis."""
_HAND_GEOMS = ("hand_capsule", "left_finger_pad", "right_finger_pad")
"""The Panda geoms that touch the cube and the table (through explicit contact pairs)."""


@dataclasses.dataclass(frozen=True)
class Region:
    """An axis-aligned square on the table: x, y uniform in ``centre +- half_width`` (metres)."""

    centre: tuple[float, float]
    half_width: float

    def sample(self, rng: jax.Array) -> jax.Array:
        """A point drawn uniformly from the square, float32 ``[2]``."""
        h = self.half_width
        offset = jax.random.uniform(rng, (2,), jnp.float32, -h, h)
        return jnp.asarray(self.centre, jnp.float32) + offset


@dataclasses.dataclass(frozen=True)
class Bin:
    """A bin without a floor: four wall boxes around ``centre`` standing on the table.

    Attributes:
        centre: x, y (metres).
        wall_offset: distance from the centre to the middle of each wall (metres); the inside
            of the bin is ``centre +- (wall_offset - wall_half_thickness)``.
        wall_half_thickness: half the wall thickness (metres).
        wall_height: metres (JaxGCRL: 0.066, a little over the cube's 0.06).
    """

    centre: tuple[float, float]
    wall_offset: float
    wall_half_thickness: float = 0.005
    wall_height: float = 0.066

    @property
    def inner_half_width(self) -> float:
        """Half the inside width (metres)."""
        return self.wall_offset - self.wall_half_thickness

    def walls(self) -> list[tuple[tuple[float, float], tuple[float, float]]]:
        """``[(centre x, y), (half size x, y)]`` of the four wall boxes (metres): the two along
        x span the whole bin, the two along y fit between them (as JaxGCRL's)."""
        cx, cy = self.centre
        o, t = self.wall_offset, self.wall_half_thickness
        return [
            ((cx, cy - o), (o + t, t)),
            ((cx, cy + o), (o + t, t)),
            ((cx + o, cy), (t, o - t)),
            ((cx - o, cy), (t, o - t)),
        ]


@dataclasses.dataclass(frozen=True)
class ArmTask:
    """Where the cube starts and where its goal is drawn.

    Attributes:
        cube_start: the cube's centre x, y at reset (resting on the table).
        goal: the goal's x, y; its z is :data:`CUBE_HALF_SIZE` (the cube resting on the table).
        bins: the bins of the bin-picking tasks (the cube collides with their walls).
        pads: coloured patches of the push tasks, start pad then goal pad (drawing only: they
            are not part of the physics model, as in JaxGCRL where they collide with nothing).
    """

    cube_start: Region
    goal: Region
    bins: tuple[Bin, ...] = ()
    pads: tuple[Region, ...] = ()


ARM_TASKS: dict[str, ArmTask] = {
    # JaxGCRL arm_push_easy: cube at (-0.1, 0.6) + U(-0.1, 0.1)^2, goal at (0.1, 0.6) +
    # U(-0.1, 0.1)^2; 0.2 m pads side by side.
    "arm_push_easy": ArmTask(
        cube_start=Region((-0.1, 0.6), 0.1),
        goal=Region((0.1, 0.6), 0.1),
        pads=(Region((-0.1, 0.6), 0.1), Region((0.1, 0.6), 0.1)),
    ),
    # JaxGCRL arm_push_hard: cube at (-0.25, 0.65) + U(-0.25, 0.25)^2, goal at (0.25, 0.65) +
    # U(-0.25, 0.25)^2; 0.5 m pads side by side.
    "arm_push_hard": ArmTask(
        cube_start=Region((-0.25, 0.65), 0.25),
        goal=Region((0.25, 0.65), 0.25),
        pads=(Region((-0.25, 0.65), 0.25), Region((0.25, 0.65), 0.25)),
    ),
    # JaxGCRL arm_binpick_easy: bins of inner half width 0.135 m at x = -+0.17; cube at
    # (-0.15, 0.6) + U(-0.07, 0.07)^2, goal the centre of the right bin + U(-0.005, 0.005)^2.
    "arm_binpick_easy": ArmTask(
        cube_start=Region((-0.15, 0.6), 0.07),
        goal=Region((0.17, 0.6), 0.005),
        bins=(Bin((-0.17, 0.6), 0.14), Bin((0.17, 0.6), 0.14)),
    ),
    # JaxGCRL arm_binpick_hard: bins of inner half width 0.185 m at x = -+0.3; cube at
    # (-0.3, 0.6) + U(-0.15, 0.15)^2, goal at (0.3, 0.6) + U(-0.15, 0.15)^2.
    "arm_binpick_hard": ArmTask(
        cube_start=Region((-0.3, 0.6), 0.15),
        goal=Region((0.3, 0.6), 0.15),
        bins=(Bin((-0.3, 0.6), 0.19), Bin((0.3, 0.6), 0.19)),
    ),
}
"""The four arm tasks by env id (numbers from JaxGCRL's ``envs/manipulation`` and
``envs/assets/panda_*.xml``)."""


def strip_meshes(xml: str) -> str:
    """Remove every ``<mesh>`` asset and every ``<geom>`` that uses a mesh from an MJCF string.

    Applied to menagerie's ``mjx_panda.xml`` it gives ``envs/assets/franka_panda_mjx.xml``: the
    meshes there are visual (``contype = conaffinity = 0``) or collision meshes that collide
    with nothing either, and every body has an explicit ``<inertial>``, so the dynamics do not
    change.
    """
    root = ET.fromstring(xml)
    for asset in root.iter("asset"):
        for mesh in asset.findall("mesh"):
            asset.remove(mesh)
    for parent in root.iter():
        for geom in parent.findall("geom"):
            if "mesh" in geom.attrib:
                parent.remove(geom)
    return ET.tostring(root, encoding="unicode")


def vendored_panda_xml() -> str:
    """The Panda shipped in ``envs/assets`` (menagerie's MJX Panda without meshes)."""
    return (importlib.resources.files("envs") / "assets" / PANDA_ASSET).read_text()


def menagerie_panda_available() -> bool:
    """Whether the ``mujoco-menagerie`` package can give the Panda without downloading it (a
    checkout in ``MENAGERIE_ROOT``, or the model already in its cache)."""
    try:
        import mujoco_menagerie as mm
    except ImportError:
        return False
    cache = mm.Cache()
    robot = mm.get(MENAGERIE_ROBOT)
    if cache.root is not None:
        return (cache.root / robot.name).is_dir()
    return cache.is_cached(robot)


def menagerie_panda_xml() -> str:
    """Menagerie's ``mjx_panda.xml`` from the ``mujoco-menagerie`` package, meshes stripped.

    The package downloads the model on first use (from the menagerie release assets) unless it
    is cached or ``MENAGERIE_ROOT`` points at a checkout.

    Raises:
        ImportError: without the package; ``mujoco_menagerie.MenagerieError``: when the model
            is neither available locally nor downloadable.
    """
    import mujoco_menagerie as mm

    path = mm.get(MENAGERIE_ROBOT).xml(MENAGERIE_ENTRY)
    return strip_meshes(path.read_text())


def _scene_xml(panda_xml: str, bins: tuple[Bin, ...]) -> str:
    """The Panda plus options, table, cube, bin walls and contact pairs, as one MJCF string.

    Every geom added here has ``contype = conaffinity = 0``, as have the Panda's (its hand
    capsule and finger pads only have a ``conaffinity``), so the only contacts are the explicit
    pairs: cube-table, cube-hand, cube-finger pads, table-hand, table-finger pads, and cube-bin
    walls (JaxGCRL's pairs, with menagerie's finger pads for its finger boxes; the fingers do
    not touch the bins, as in JaxGCRL). Pairs take MuJoCo's default contact parameters
    (friction 1), as JaxGCRL's.
    """
    root = ET.fromstring(panda_xml)
    worldbody = root.find("worldbody")
    if worldbody is None or root.find("option") is not None:
        raise ValueError("the Panda MJCF must have a <worldbody> and no <option>")
    option = ET.Element(
        "option",
        timestep=f"{ARM_TIMESTEP:g}",
        iterations=str(ARM_SOLVER_ITERATIONS),
        ls_iterations=str(ARM_LS_ITERATIONS),
        integrator="implicitfast",
    )
    ET.SubElement(option, "flag", eulerdamp="disable")
    root.insert(1, option)
    no_contact = {"contype": "0", "conaffinity": "0"}
    table = {"name": "table", "type": "plane", "size": "1.5 1.5 0.05", "rgba": "0.8 0.8 0.75 1"}
    ET.SubElement(worldbody, "geom", attrib={**table, **no_contact})
    cube = ET.SubElement(worldbody, "body", name="cube", pos=f"-0.1 0.6 {CUBE_HALF_SIZE:g}")
    ET.SubElement(cube, "freejoint", name="cube")
    h = f"{CUBE_HALF_SIZE:g}"
    box = {"name": "cube", "type": "box", "size": f"{h} {h} {h}", "rgba": "0 0.6 0 1"}
    ET.SubElement(cube, "geom", attrib={**box, **no_contact})
    contact = ET.SubElement(root, "contact")
    pairs = [("cube", "table"), *(("cube", g) for g in _HAND_GEOMS)]
    pairs += [("table", g) for g in _HAND_GEOMS]
    for i, b in enumerate(bins):
        half_z = b.wall_height / 2
        for j, ((x, y), (sx, sy)) in enumerate(b.walls()):
            name = f"bin{i}_wall{j}"
            wall = {
                "name": name,
                "type": "box",
                "pos": f"{x:g} {y:g} {half_z:g}",
                "size": f"{sx:g} {sy:g} {half_z:g}",
                "rgba": "0 0.2 0.8 1" if i == 0 else "0.8 0 0 1",
            }
            ET.SubElement(worldbody, "geom", attrib={**wall, **no_contact})
            pairs.append(("cube", name))
    for g1, g2 in pairs:
        ET.SubElement(contact, "pair", geom1=g1, geom2=g2)
    return ET.tostring(root, encoding="unicode")


@dataclasses.dataclass(frozen=True)
class PandaCube(Robot):
    """Menagerie's MJX Franka Panda and a 6 cm cube on a table (plus bins), on the MJX pipeline.

    Model: ``q`` (16) = joints 1-7 (rad), finger slides 1, 2 (m), cube position (m) and
    quaternion; ``qd`` (15). Eight actuators: position servos on joints 1-7 and one on the
    fingers (coupled by an equality constraint), menagerie's gains.

    State (17), JaxGCRL's layout without its gripper-force entry:

    ==========  ======  =========================================================
    slice       length  content
    ==========  ======  =========================================================
    ``[0:3]``   3       cube centre x, y, z (m): the goal space
    ``[3:10]``  7       joint angles 1-7 (rad)
    ``[10:13]`` 3       gripper point (menagerie's ``gripper`` site, between the
                        fingertips) x, y, z (m)
    ``[13:16]`` 3       its linear velocity (m/s)
    ``[16]``    1       distance between the two finger bodies (m): 0.08 open
    ==========  ======  =========================================================

    The gripper point and the finger bodies are read from the pipeline's body / site positions,
    which MuJoCo computes at the start of a physics step: they lag ``q`` by one physics step
    (5 ms), as brax's ``x`` does (JaxGCRL reads ``x.pos`` too).

    Action (5) in ``[-1, 1]``: target angles of joints 1, 2, 4, 6, mapped affinely onto
    ``[ARM_TARGET_LOW, ARM_TARGET_HIGH]``, and the gripper: closed if ``action[4] > 0``, else
    open. Joints 3, 5, 7 hold :data:`ARM_FIXED_TARGETS` (JaxGCRL's absolute joint-angle
    control). Never unhealthy: ``done`` is always 0.

    Attributes:
        bins: bin walls added to the scene.
        panda_source: ``"vendored"`` (default: ``envs/assets``) or ``"menagerie"`` (the
            ``mujoco-menagerie`` package, which may download the model; same model when both
            come from the same menagerie version).
    """

    bins: tuple[Bin, ...] = ()
    panda_source: str = "vendored"
    timestep: float = ARM_TIMESTEP
    n_frames: int = ARM_N_FRAMES
    state_dim: int = 17
    action_dim: int = 5
    goal_dim: int = 3
    clearance: float = 0.855
    """Horizontal reach of the gripper point from the arm's base (metres)."""
    wall_friction: float | None = None
    compiler_options: tuple[tuple[str, Any], ...] = tuple(XLA_CPU_OPTIONS.items())
    """:data:`XLA_CPU_OPTIONS`: without them a batched step runs about 1000 times slower on CPU."""
    cpu_vmap_limit: int | None = CPU_VMAP_LIMIT
    """:data:`CPU_VMAP_LIMIT`: bigger CPU batches deadlock in jaxlib's batched Cholesky."""

    def __post_init__(self) -> None:
        if self.panda_source not in ("vendored", "menagerie"):
            raise ValueError(
                f"panda_source must be 'vendored' or 'menagerie', got {self.panda_source!r}"
            )

    def mjcf(self, walls: str = "") -> str:
        """The scene: the Panda, table, cube, bins and contact pairs (see :func:`_scene_xml`).

        Raises:
            ValueError: if ``walls`` is not empty (the arm has no maze).
        """
        if walls:
            raise ValueError("the arm takes no walls")
        panda = vendored_panda_xml() if self.panda_source == "vendored" else menagerie_panda_xml()
        return _scene_xml(panda, self.bins)

    def system(self, walls: str = "") -> brax_base.System:
        """The brax ``System`` of :meth:`mjcf`, compiled by MuJoCo as it is.

        Not through ``brax.io.mjcf.loads``: that fuses bodies without joints into their parents,
        which would drop the ``childclass`` of the Panda's ``link0`` (joint ranges, armature)
        and give ``link7`` a second ``<inertial>`` (the hand's). The MJX pipeline needs no
        fusing.

        Raises:
            ValueError: if the MJCF is not a valid model.
        """
        xml = self.mjcf(walls)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*not actively being maintained.*")
            return mjcf.load_model(mujoco.MjModel.from_xml_string(xml))

    def policy_action_size(self, sys: brax_base.System) -> int:
        """5, for a model with 8 actuators and 16 joint positions.

        Raises:
            ValueError: if the model is not the Panda + cube of :meth:`mjcf`.
        """
        if sys.act_size() != 8 or sys.q_size() != 16:
            raise ValueError(f"not the Panda + cube: {sys.act_size()} actuators, q {sys.q_size()}")
        return self.action_dim

    def state_size(self, sys: brax_base.System) -> int:
        """17 (see the class docstring)."""
        del sys
        return 17

    def initial_q_qd(
        self, sys: brax_base.System, rng: jax.Array, xy: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        """The arm at :data:`ARM_START_Q`, the cube at rest on the table at ``xy``, upright."""
        del rng
        cube = jnp.concatenate(
            [
                jnp.asarray(xy, jnp.float32),
                jnp.array([CUBE_HALF_SIZE, 1.0, 0.0, 0.0, 0.0], jnp.float32),
            ]
        )
        q = jnp.concatenate([jnp.asarray(ARM_START_Q, jnp.float32), cube])
        return q, jnp.zeros((sys.qd_size(),), jnp.float32)

    def ctrl_from_action(self, sys: brax_base.System, action: jax.Array) -> jax.Array:
        """The 8 controls for a 5-dim action (see the class docstring)."""
        del sys
        a = jnp.clip(action, -1.0, 1.0)
        lo = jnp.asarray(ARM_TARGET_LOW, jnp.float32)
        hi = jnp.asarray(ARM_TARGET_HIGH, jnp.float32)
        t = lo + (a[:4] + 1.0) * (hi - lo) * 0.5
        j3, j5, j7 = ARM_FIXED_TARGETS
        grip = jnp.where(a[4] > 0, GRIPPER_CLOSED, GRIPPER_OPEN)
        arm = [t[0], t[1], j3, t[2], j5, t[3], j7, grip]
        return jnp.stack([jnp.asarray(v, jnp.float32) for v in arm])

    def state_vector(
        self, sys: brax_base.System, pipeline_state: brax_base.State, ctrl: jax.Array
    ) -> jax.Array:
        """The 17-dim state of the class docstring, float32; ``ctrl`` is unused."""
        del ctrl
        mj = sys.mj_model
        ps = pipeline_state
        cube_q = int(mj.jnt_qposadr[mj.joint("cube").id])
        site = mj.site(_TCP_SITE).id
        body = int(mj.site_bodyid[site])
        root = int(mj.body_rootid[body])
        tcp = ps.site_xpos[site]
        # cvel is the body's spatial velocity [angular, linear] at its tree's centre of mass.
        ang, lin = ps.cvel[body, :3], ps.cvel[body, 3:]
        tcp_vel = lin + jnp.cross(ang, tcp - ps.subtree_com[root])
        left = ps.xpos[mj.body("left_finger").id]
        right = ps.xpos[mj.body("right_finger").id]
        fingers = jnp.linalg.norm(left - right)[None]
        state = jnp.concatenate([ps.q[cube_q : cube_q + 3], ps.q[:7], tcp, tcp_vel, fingers])
        return state.astype(jnp.float32)


class ArmEnv(GoalEnv):
    """A Panda arm task: move the cube to the goal (see :class:`ArmTask`, :class:`PandaCube`).

    Reset puts the arm at :data:`ARM_START_Q`, the cube at rest on the table at a point drawn
    from ``task.cube_start`` and draws the goal ``(x, y, CUBE_HALF_SIZE)`` with x, y from
    ``task.goal``. Success: the cube's centre within 0.1 m (3-D) of the goal. The goal is not a
    body in the model (JaxGCRL adds a ghost marker body for rendering).

    Args:
        task: the task.
        info: static facts of the env id.
        panda_source: see :class:`PandaCube`.
        backend: see :class:`~envs.base.GoalEnv` (only ``"mjx"``).
        n_frames: see :class:`~envs.base.GoalEnv`.
    """

    def __init__(
        self,
        task: ArmTask,
        info: EnvInfo,
        panda_source: str = "vendored",
        backend: str | None = None,
        n_frames: int | None = None,
    ) -> None:
        robot = PandaCube(bins=task.bins, panda_source=panda_source)
        super().__init__(robot, info, backend=backend, n_frames=n_frames)
        self.task = task

    def sample_start_goal(self, rng: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(cube start x, y [2], goal x, y, z [3])`` float32, metres."""
        rng_start, rng_goal = jax.random.split(rng)
        start = self.task.cube_start.sample(rng_start)
        goal_xy = self.task.goal.sample(rng_goal)
        goal = jnp.concatenate([goal_xy, jnp.full((1,), CUBE_HALF_SIZE, jnp.float32)])
        return start, goal
