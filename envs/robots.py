"""Robots: the MJCF of a body, how to place it at a start position, and when it is healthy.

A :class:`Robot` is static configuration (a frozen dataclass, no arrays); the goal-conditioned
env classes in :mod:`envs.base`, :mod:`envs.arena` and :mod:`envs.maze_env` combine one robot
with a task (where starts and goals are drawn). The state vector of the point mass and the ant is
``concat(q, qd)``; the humanoid's starts with ``concat(q, qd)`` and appends centre-of-mass terms
(:class:`Humanoid`); the reacher's holds its angles and fingertip (:class:`Reacher`). For all but
the reacher the horizontal position of the body is ``state[0:2]`` (metres).
"""

from __future__ import annotations

import abc
import dataclasses
import importlib.resources
import math
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
from brax import actuator as brax_actuator
from brax import base as brax_base
from brax.io import mjcf


def load_system(xml: str) -> brax_base.System:
    """Parse an MJCF string into a brax ``System``, without brax's not-maintained warning.

    Raises:
        ValueError: from MuJoCo or brax if the XML is not a valid model for brax.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not actively being maintained.*")
        return mjcf.loads(xml)


CONTACT_SETS = ("reference", "feet")
"""Contact sets of the ant and the humanoid (their ``contacts`` field):

- ``"reference"``: the models of the reference code (github.com/wang-kevin3290/scaling-crl,
  Wang et al. 2025): for the ant in a maze :data:`ANT_MAZE_CONTACTS` (torso, hip capsules and
  feet hit the walls), for the humanoid every body geom ``contype=1 conaffinity=0`` (it touches
  floor and walls, not itself);
- ``"feet"``: brax's bundled ``ant.xml`` / ``humanoid.xml`` unchanged: only the feet touch the
  floor and the walls.
"""

ANT_MAZE_CONTACTS: dict[str, tuple[int, int]] = {
    "torso_geom": (0, 1),
    "aux_1_geom": (0, 1),
    "aux_2_geom": (0, 1),
    "aux_3_geom": (0, 1),
    "aux_4_geom": (0, 1),
    "left_foot_geom": (1, 1),
    "right_foot_geom": (1, 1),
    "third_foot_geom": (1, 1),
    "fourth_foot_geom": (1, 1),
}
"""``(contype, conaffinity)`` of the ant maze model of the reference code, for the geoms where
it differs from brax's ``ant.xml`` (where the torso and the four hip capsules are 0 / 0 and the
feet 1 / 0): scaling-crl ``envs/assets/ant_maze.xml`` lines 35 (torso), 38, 50, 62, 74 (hip
capsules ``aux_1..4_geom``) and 45, 57, 69, 81 (feet). The leg and ankle capsules stay 0 / 0.
With the maze walls at 1 / 1 (scaling-crl ``envs/ant_maze.py:289-304``) MuJoCo's rule (two
geoms collide iff ``contype1 & conaffinity2 or contype2 & conaffinity1``, geoms of one body and
of a parent and child body excepted), which brax 0.14 applies through ``mjx.collision``, makes
torso, hip capsules and feet hit the walls, the feet touch the floor, and the feet also touch
each other, the torso and the hip capsules of the other legs (and of their own leg, two bodies
up the tree)."""


def edit_geoms(
    xml: str,
    geoms: Mapping[str, Mapping[str, str]] | None = None,
    default_geom: Mapping[str, str] | None = None,
) -> str:
    """Set attributes of named ``<geom>`` elements, and of the top-level ``<default><geom>``, in
    an MJCF string (comments are dropped).

    Args:
        xml: the MJCF text.
        geoms: ``{geom name: {attribute: value}}``.
        default_geom: ``{attribute: value}`` for the ``<geom>`` of the top-level ``<default>``.

    Returns:
        the edited MJCF text.

    Raises:
        ValueError: if a named geom, or the default geom, is not in ``xml`` exactly once.
    """
    root = ET.fromstring(xml)
    for name, attributes in (geoms or {}).items():
        found = root.findall(f".//geom[@name='{name}']")
        if len(found) != 1:
            raise ValueError(f"MJCF has {len(found)} geoms named {name!r}, expected 1")
        for key, value in attributes.items():
            found[0].set(key, value)
    if default_geom:
        found = root.findall("./default/geom")
        if len(found) != 1:
            raise ValueError(f"MJCF has {len(found)} top-level default geoms, expected 1")
        for key, value in default_geom.items():
            found[0].set(key, value)
    return ET.tostring(root, encoding="unicode")


def _check_contacts(contacts: str) -> None:
    if contacts not in CONTACT_SETS:
        raise ValueError(f"contacts must be one of {CONTACT_SETS}, got {contacts!r}")


class Robot(abc.ABC):
    """A body that moves in the horizontal plane, as seen by the goal-conditioned envs."""

    state_dim: int
    """Length of the state vector (:meth:`state_vector`)."""
    action_dim: int
    """Number of actuators; actions lie in ``[-1, 1]``."""
    goal_dim: int = 2
    """Length of the goal vector (:meth:`goal_from_xy`): x, y, and for the humanoid also z."""
    timestep: float
    """Physics time step (seconds)."""
    n_frames: int
    """Physics steps per env step; the env step lasts ``timestep * n_frames`` seconds."""
    clearance: float
    """Horizontal reach of the body from its centre (metres), to keep starts clear of walls."""
    wall_friction: float | None
    """Friction coefficient for maze walls; None keeps the model's default."""
    compiler_options: tuple[tuple[str, Any], ...] = ()
    """XLA options that jitted programs stepping this robot should be compiled with (``jax.jit``'s
    ``compiler_options``); none but for the Franka arm (:data:`envs.arm.XLA_CPU_OPTIONS`)."""
    cpu_vmap_limit: int | None = None
    """Most envs one ``vmap``-ed call may step on the CPU (:meth:`envs.base.GoalEnv.vmap`
    chunks larger batches); None: no limit. Only the Franka arm has one
    (:data:`envs.arm.CPU_VMAP_LIMIT`)."""

    @property
    def start_noise(self) -> float:
        """Half-width (metres) of the uniform x, y noise the reference code adds to the start
        position of a maze episode (its reset noise on the torso x, y); 0 here, see the
        subclasses."""
        return 0.0

    @property
    def wall_contype(self) -> int:
        """``contype`` of the maze wall boxes for this robot's model (their ``conaffinity`` is
        always 1); 0 here: the walls touch only geoms with ``contype`` bit 1."""
        return 0

    @abc.abstractmethod
    def mjcf(self, walls: str = "") -> str:
        """The model as an MJCF string, with ``walls`` (``<geom>`` text) added to the world."""

    def system(self, walls: str = "") -> brax_base.System:
        """The brax ``System`` of :meth:`mjcf` with the physics step set to :attr:`timestep`.

        Raises:
            ValueError: if the MJCF is not a valid model for brax.
        """
        return load_system(self.mjcf(walls)).tree_replace({"opt.timestep": self.timestep})

    @abc.abstractmethod
    def initial_q_qd(
        self, sys: brax_base.System, rng: jax.Array, xy: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        """Joint positions ``[q_size]`` and velocities ``[qd_size]`` (float32) of a fresh
        episode with the body centred at ``xy`` ``[2]`` (metres)."""

    def place_goal(self, q: jax.Array, goal: jax.Array) -> jax.Array:
        """Joint positions ``[q_size]`` with any goal marker moved to ``goal`` ``[goal_dim]``;
        the identity for robots without a marker body."""
        del goal
        return q

    def goal_from_xy(self, xy: jax.Array) -> jax.Array:
        """The goal ``[goal_dim]`` (float32, metres) for a target at horizontal position ``xy``
        ``[2]``; the robot's goal space is its centre x, y (and a fixed height, if 3-D)."""
        return jnp.asarray(xy, jnp.float32)

    def ctrl_from_action(self, sys: brax_base.System, action: jax.Array) -> jax.Array:
        """Actuator controls ``[action_dim]`` for a policy action in ``[-1, 1]``; the identity
        for robots whose control range is ``[-1, 1]``."""
        del sys
        return action

    def is_healthy(self, pipeline_state: brax_base.State) -> jax.Array:
        """1.0 while the robot is in a usable state, else 0.0 (float32 scalar)."""
        del pipeline_state
        return jnp.ones((), jnp.float32)

    def policy_action_size(self, sys: brax_base.System) -> int:
        """Length of the policy's action for the model ``sys``: its number of actuators, unless
        :meth:`ctrl_from_action` maps a shorter action onto them (the Franka arm)."""
        return sys.act_size()

    def state_size(self, sys: brax_base.System) -> int:
        """Length of :meth:`state_vector` for the model ``sys``: ``q_size + qd_size``."""
        return sys.q_size() + sys.qd_size()

    def state_vector(
        self, sys: brax_base.System, pipeline_state: brax_base.State, ctrl: jax.Array
    ) -> jax.Array:
        """``concat(q, qd)``, float32 ``[state_dim]``; ``ctrl`` (the controls just applied,
        ``[action_dim]``) is unused here."""
        del sys, ctrl
        return jnp.concatenate([pipeline_state.q, pipeline_state.qd]).astype(jnp.float32)


@dataclasses.dataclass(frozen=True)
class PointMass(Robot):
    """A sphere on two slide joints (x, y) driven by two motors, in zero gravity and no floor.

    State ``[x, y, vx, vy]`` (metres, m/s); action ``[fx, fy]`` in ``[-1, 1]``, force
    ``gear * action`` (newtons) on a 1 kg body with linear drag ``drag`` (1/s). The spring
    pipeline ignores joint damping, so the drag is brax's ``vel_damping`` (velocity multiplied by
    ``exp(-drag * timestep)`` per physics step); the joints carry the same damping
    (``drag * mass``) so MuJoCo-based pipelines see the same body.

    The body's rotational inertia is set to 1 kg m^2 (the sphere's own is 0.025): the spring
    pipeline holds the unused rotations with stiff springs, integrated explicitly, which
    diverge (NaN within tens of steps of wall contact) when the inertia is that small.

    Contacts push a penetrating sphere out at ``baumgarte_erp = 0.5`` (brax's default 0.1
    leaves it 4.6 cm deep when pressed into a corner; 0.5 leaves 0.9 cm).

    Terminal speed per axis: ``gear * timestep * e / (1 - e)`` with ``e = exp(-drag * timestep)``;
    with the defaults 1.63 m/s, i.e. 0.163 m per env step, so a 2 m cell takes about 12 env
    steps at full speed (tuned here for the point U-maze, not taken from a paper; JaxGCRL's
    ``simple_maze.xml`` uses the same sphere radius, 0.25 m).

    Attributes:
        radius: sphere radius (metres).
        gear: motor force at ``|action| = 1`` (newtons).
        drag: linear drag rate (1/s); time constant ``1 / drag`` seconds.
        timestep: physics step (seconds).
        n_frames: physics steps per env step.
    """

    radius: float = 0.25
    gear: float = 18.0
    drag: float = 10.0
    timestep: float = 0.02
    n_frames: int = 5
    state_dim: int = 4
    action_dim: int = 2
    wall_friction: float | None = 0.0
    """Frictionless contacts: pushed diagonally into a wall, the point slides along it (with
    friction 1 the wall's grip equals the motor force and the point sticks)."""

    @property
    def clearance(self) -> float:  # type: ignore[override]
        """The sphere radius (metres)."""
        return self.radius

    @property
    def max_speed(self) -> float:
        """Terminal speed along one axis at ``|action| = 1`` (m/s), see the class docstring."""
        e = math.exp(-self.drag * self.timestep)
        return self.gear * self.timestep * e / (1.0 - e)

    def mjcf(self, walls: str = "") -> str:
        """The point-mass model; the sphere's centre is at height ``radius``."""
        return f"""<mujoco model="point_mass">
  <compiler angle="radian" inertiafromgeom="auto"/>
  <option timestep="{self.timestep:g}" gravity="0 0 0"/>
  <custom>
    <numeric name="vel_damping" data="{-self.drag:g}"/>
    <numeric name="baumgarte_erp" data="0.5"/>
    <numeric name="constraint_vel_damping" data="10"/>
    <numeric name="constraint_ang_damping" data="10"/>
  </custom>
  <worldbody>
{walls}
    <body name="point" pos="0 0 {self.radius:g}">
      <inertial pos="0 0 0" mass="1" diaginertia="1 1 1"/>
      <joint name="slide_x" type="slide" axis="1 0 0" limited="false" damping="{self.drag:g}"/>
      <joint name="slide_y" type="slide" axis="0 1 0" limited="false" damping="{self.drag:g}"/>
      <geom name="point_geom" type="sphere" size="{self.radius:g}" friction="0 0 0"
            contype="1" conaffinity="0" rgba="0.2 0.4 0.9 1"/>
    </body>
  </worldbody>
  <actuator>
    <motor name="force_x" joint="slide_x" gear="{self.gear:g}" ctrllimited="true" ctrlrange="-1 1"/>
    <motor name="force_y" joint="slide_y" gear="{self.gear:g}" ctrllimited="true" ctrlrange="-1 1"/>
  </actuator>
</mujoco>
"""

    def initial_q_qd(
        self, sys: brax_base.System, rng: jax.Array, xy: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        """``q = xy``, ``qd = 0``: the point starts at rest, exactly at ``xy``. Its
        :attr:`start_noise` is 0: the reference's point maze draws ``U(-0.1, 0.1)`` noise on
        every ``q`` entry but then overwrites x, y with the start cell centre (scaling-crl
        ``envs/simple_maze.py:210-218``)."""
        del sys, rng
        return jnp.asarray(xy, jnp.float32), jnp.zeros((2,), jnp.float32)


@dataclasses.dataclass(frozen=True)
class Ant(Robot):
    """Brax's bundled quadruped (``brax/envs/assets/ant.xml``) on the spring pipeline.

    State ``concat(q, qd)``: ``q`` (15) = torso position x, y, z (metres), torso quaternion (4),
    8 hinge angles (rad); ``qd`` (14) = torso linear (m/s) and angular (rad/s) velocity, 8 hinge
    velocities (rad/s); 29 dims, as in Wang et al. 2025 (arXiv 2503.14858) and JaxGCRL
    (Bortkiewicz et al. 2024, arXiv 2408.11052). Actions: 8 hinge torques in ``[-1, 1]``
    (gear 150).

    Contacts (:attr:`contacts`): ``"reference"`` (default) is the reference code's ant maze
    model, scaling-crl ``envs/assets/ant_maze.xml``: brax's ``ant.xml`` with the torso and the
    four hip capsules ``conaffinity=1`` and the feet ``contype=1 conaffinity=1``
    (:data:`ANT_MAZE_CONTACTS`), and maze walls ``contype=1 conaffinity=1``
    (:attr:`wall_contype`; scaling-crl ``envs/ant_maze.py:289-304``), so torso, hip capsules and
    feet hit the walls. ``"feet"`` is brax's ``ant.xml`` unchanged, walls ``contype=0
    conaffinity=1``: only the four feet touch floor and walls. The reference's open-floor ant
    (scaling-crl ``envs/assets/ant.xml``) has brax's contacts, i.e. the ``"feet"`` set; the
    registry builds the ``ant`` env with it.

    Attributes:
        healthy_z_range: torso heights (metres) outside which the ant is unhealthy and the episode
            ends; (0.2, 1.0) as in brax's and JaxGCRL's ant.
        reset_noise_scale: joint positions get ``U(-s, s)`` noise and velocities ``s * N(0, 1)``
            at reset (brax's ant, s = 0.1; scaling-crl ``envs/ant_maze.py:326, 386-390``); the
            torso x, y are set by the task instead, which adds the same ``U(-s, s)``
            (:attr:`start_noise`).
        timestep: physics step (seconds); brax / JaxGCRL use 0.005 with the spring pipeline.
        n_frames: physics steps per env step; brax / JaxGCRL use 10 (env step 0.05 s).
        contacts: ``"reference"`` or ``"feet"`` (:data:`CONTACT_SETS`).

    Raises:
        ValueError: for another ``contacts``.
    """

    healthy_z_range: tuple[float, float] = (0.2, 1.0)
    reset_noise_scale: float = 0.1
    timestep: float = 0.005
    n_frames: int = 10
    state_dim: int = 29
    action_dim: int = 8
    clearance: float = 1.2
    """Torso centre to the far side of a foot (about 1.13 m with the legs stretched flat)."""
    wall_friction: float | None = None
    """Walls keep ant.xml's default geom friction (1.0), as in JaxGCRL."""
    contacts: str = "reference"

    def __post_init__(self) -> None:
        _check_contacts(self.contacts)

    @property
    def start_noise(self) -> float:  # type: ignore[override]
        """``reset_noise_scale`` (0.1 m): the reference's ant maze reset adds ``U(-0.1, 0.1)`` to
        every ``q`` entry, torso x, y (the start cell centre) included (scaling-crl
        ``envs/ant_maze.py:307-309, 386-389``)."""
        return self.reset_noise_scale

    @property
    def wall_contype(self) -> int:  # type: ignore[override]
        """1 for the reference contacts (walls ``contype=1 conaffinity=1``, scaling-crl
        ``envs/ant_maze.py:301-302``), else 0."""
        return 1 if self.contacts == "reference" else 0

    def mjcf(self, walls: str = "") -> str:
        """Brax's ant.xml, with :data:`ANT_MAZE_CONTACTS` for the reference contacts, and
        ``walls`` appended to its worldbody.

        Raises:
            ValueError: if brax's ant.xml lacks a geom this edits or its single worldbody.
        """
        xml = (importlib.resources.files("brax") / "envs" / "assets" / "ant.xml").read_text()
        if self.contacts == "reference":
            geoms = {
                name: {"contype": str(ct), "conaffinity": str(ca)}
                for name, (ct, ca) in ANT_MAZE_CONTACTS.items()
            }
            xml = edit_geoms(xml, geoms)
        if xml.count("</worldbody>") != 1:
            raise ValueError("brax's ant.xml does not have exactly one </worldbody>")
        return xml.replace("</worldbody>", f"{walls}\n</worldbody>")

    def initial_q_qd(
        self, sys: brax_base.System, rng: jax.Array, xy: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        """Brax's ant reset (``init_q`` plus noise, noisy velocities) with torso x, y = ``xy``."""
        rng_q, rng_qd = jax.random.split(rng)
        s = self.reset_noise_scale
        q = jnp.asarray(sys.init_q, jnp.float32) + jax.random.uniform(
            rng_q, (sys.q_size(),), jnp.float32, -s, s
        )
        q = q.at[:2].set(jnp.asarray(xy, jnp.float32))
        qd = s * jax.random.normal(rng_qd, (sys.qd_size(),), jnp.float32)
        return q, qd

    def is_healthy(self, pipeline_state: brax_base.State) -> jax.Array:
        """1.0 iff the torso height lies in ``healthy_z_range`` (inclusive), else 0.0."""
        z = pipeline_state.x.pos[0, 2]
        lo, hi = self.healthy_z_range
        return jnp.where((z >= lo) & (z <= hi), 1.0, 0.0).astype(jnp.float32)


HUMANOID_SPRING_GEAR: tuple[float, ...] = (350.0,) * 11 + (100.0,) * 6
"""Motor gears of the humanoid on the spring pipeline (newton metres per unit control): brax's
``envs/humanoid.py`` and JaxGCRL's ``envs/humanoid.py`` replace the MJCF gears (25 to 300) by
these for the spring and positional backends. Order: 3 abdomen, 4 + 4 hip / knee, 6 arm motors."""

_HUMANOID_TARGET_BODY = """<body name="target" pos="0 0 {z:g}">
  <joint name="target_x" type="slide" axis="1 0 0" limited="true" range="-{r:g} {r:g}"
         armature="0" damping="0" stiffness="0"/>
  <joint name="target_y" type="slide" axis="0 1 0" limited="true" range="-{r:g} {r:g}"
         armature="0" damping="0" stiffness="0"/>
  <geom name="target" type="sphere" size="0.5" mass="1" contype="0" conaffinity="0"
        rgba="0.9 0.2 0.2 0.3"/>
</body>"""


@dataclasses.dataclass(frozen=True)
class Humanoid(Robot):
    """Brax's bundled humanoid (``brax/envs/assets/humanoid.xml``) with JaxGCRL's target body.

    JaxGCRL (Bortkiewicz et al. 2024, arXiv 2408.11052, ``envs/humanoid.py``,
    ``envs/humanoid_maze.py``; used by Wang et al. 2025, arXiv 2503.14858) adds to the humanoid a
    ``target`` body: a 1 kg sphere on two slide joints (x, y) at height 1.25 m that collides with
    nothing, placed on the goal at reset. It is part of the model, so it adds 2 entries to ``q``,
    2 to ``qd`` and a 12th link, and its state is observed. The 268-dim state is brax's humanoid
    observation of that 12-link model with the torso x, y kept
    (``exclude_current_positions_from_observation=False``):

    ====================  =======  ==========================================================
    slice                 length   content
    ====================  =======  ==========================================================
    ``[0:26]``            26       ``q``: torso x, y, z (0:3), torso quaternion w, x, y, z
                                   (3:7), 17 hinge angles (7:24, rad), target x, y (24:26)
    ``[26:51]``           25       ``qd``: torso linear (26:29) and angular (29:32) velocity,
                                   17 hinge velocities (32:49), target x, y velocity (49:51)
    ``[51:171]``          120      ``cinert``: per link (12 x 10), the 3 x 3 inertia about the
                                   whole-body centre of mass, row-major, then the link mass
    ``[171:243]``         72       ``cvel``: per link (12 x 6), mass-weighted linear velocity of
                                   the link's centre of mass (``m_i v_i / sum m``), then its
                                   angular velocity
    ``[243:268]``         25       ``qfrc_actuator``: joint forces of the controls just applied
                                   (``actuator.to_tau``; zero at reset and on the target joints)
    ====================  =======  ==========================================================

    Links: torso, lwaist, pelvis, right thigh / shin, left thigh / shin, right upper / lower arm,
    left upper / lower arm, target. ``cinert`` and ``cvel`` follow brax's and JaxGCRL's
    ``_com`` for the spring pipeline: masses are ``m ** (1 - spring_mass_scale)`` (unchanged, the
    scale is 0) and the link inertias ``diag(I) ** (1 - spring_inertia_scale)``, i.e. identity
    matrices since the scale is 1, then moved to the centre of mass. The goal space is the torso
    position ``state[0:3]``; a goal is ``(x, y, 1.25)``.

    Physics as JaxGCRL's spring humanoid: time step 1.5 ms, 10 frames per env step (0.015 s),
    gears :data:`HUMANOID_SPRING_GEAR`, actions in ``[-1, 1]`` mapped affinely onto the MJCF
    control range ``[-0.4, 0.4]``. The open-floor ``humanoid`` id runs 3 ms steps instead, as the
    reference code does in effect (``envs.registry.HUMANOID_OPEN_FLOOR_TIMESTEP``).

    Contacts (:attr:`contacts`): ``"reference"`` (default) is the reference code's model,
    scaling-crl ``envs/assets/humanoid.xml`` and ``envs/assets/humanoid_maze.xml`` (line 5): the
    default geom is ``contype=1 conaffinity=0``, so every body geom touches the floor and the
    maze walls (``contype=1 conaffinity=1``, scaling-crl ``envs/humanoid_maze.py:108-123``) but
    no other body geom. ``"feet"`` is brax's bundled model (default geom ``contype=0``): only
    the two feet (``contype=1``) touch the floor and the walls.

    Attributes:
        healthy_z_range: torso heights (metres) outside which the humanoid is unhealthy and the
            episode ends; (1.0, 2.0) as in brax, JaxGCRL and Wang et al. 2025.
        reset_noise_scale: ``U(-s, s)`` noise on joint positions and velocities at reset;
            JaxGCRL uses 0 (brax's humanoid 0.01).
        target_z: height of the target body and the goal's z (metres), JaxGCRL's
            ``TARGET_Z_COORD = 1.25``, "very close to the z coordinate of the humanoid torso when
            it is standing straight".
        target_range: travel of the target's slide joints (metres), JaxGCRL uses 20 (open floor)
            and 100 (mazes); it only has to hold every goal.
        gear: motor gears on the spring pipeline.
        contacts: ``"reference"`` or ``"feet"`` (:data:`CONTACT_SETS`).

    Raises:
        ValueError: for another ``contacts``.
    """

    healthy_z_range: tuple[float, float] = (1.0, 2.0)
    reset_noise_scale: float = 0.0
    target_z: float = 1.25
    target_range: float = 100.0
    gear: tuple[float, ...] = HUMANOID_SPRING_GEAR
    timestep: float = 0.0015
    n_frames: int = 10
    state_dim: int = 268
    action_dim: int = 17
    goal_dim: int = 3
    clearance: float = 0.6
    """Torso centre to the hands with the arms stretched sideways (about 0.55 m)."""
    wall_friction: float | None = None
    contacts: str = "reference"

    def __post_init__(self) -> None:
        _check_contacts(self.contacts)

    @property
    def start_noise(self) -> float:  # type: ignore[override]
        """``reset_noise_scale`` (0): the reference's humanoid maze starts exactly at the start
        cell centre (scaling-crl ``envs/humanoid_maze.py:138, 190-196``)."""
        return self.reset_noise_scale

    @property
    def wall_contype(self) -> int:  # type: ignore[override]
        """1 for the reference contacts (walls ``contype=1 conaffinity=1``, scaling-crl
        ``envs/humanoid_maze.py:120-121``), else 0 (the body geoms' ``conaffinity`` is 0, so
        either value gives the same contacts)."""
        return 1 if self.contacts == "reference" else 0

    def mjcf(self, walls: str = "") -> str:
        """Brax's humanoid.xml (default geom ``contype=1`` for the reference contacts) with the
        target body and ``walls`` appended to its worldbody.

        Raises:
            ValueError: if brax's humanoid.xml lacks its default geom or its single worldbody.
        """
        xml = (importlib.resources.files("brax") / "envs" / "assets" / "humanoid.xml").read_text()
        if self.contacts == "reference":
            xml = edit_geoms(xml, default_geom={"contype": "1", "conaffinity": "0"})
        if xml.count("</worldbody>") != 1:
            raise ValueError("brax's humanoid.xml does not have exactly one </worldbody>")
        target = _HUMANOID_TARGET_BODY.format(z=self.target_z, r=self.target_range)
        return xml.replace("</worldbody>", f"{target}\n{walls}\n</worldbody>")

    def system(self, walls: str = "") -> brax_base.System:
        """The model with the spring time step and :attr:`gear`.

        Raises:
            ValueError: if the model does not have ``len(gear)`` actuators.
        """
        sys = super().system(walls)
        if sys.act_size() != len(self.gear):
            raise ValueError(f"humanoid has {sys.act_size()} actuators, {len(self.gear)} gears")
        gear = jnp.asarray(self.gear, jnp.float32)
        return sys.replace(actuator=sys.actuator.replace(gear=gear))

    def initial_q_qd(
        self, sys: brax_base.System, rng: jax.Array, xy: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        """``init_q`` (standing, torso at 1.4 m) and zero velocities, each with ``U(-s, s)``
        noise, torso x, y = ``xy``, target at rest (JaxGCRL's humanoid reset)."""
        rng_q, rng_qd = jax.random.split(rng)
        s = self.reset_noise_scale
        q = jnp.asarray(sys.init_q, jnp.float32) + jax.random.uniform(
            rng_q, (sys.q_size(),), jnp.float32, -s, s
        )
        q = q.at[:2].set(jnp.asarray(xy, jnp.float32))
        qd = jax.random.uniform(rng_qd, (sys.qd_size(),), jnp.float32, -s, s)
        return q, qd.at[-2:].set(0.0)

    def place_goal(self, q: jax.Array, goal: jax.Array) -> jax.Array:
        """Move the target body (the last two entries of ``q``) to the goal's x, y."""
        return q.at[-2:].set(goal[:2])

    def goal_from_xy(self, xy: jax.Array) -> jax.Array:
        """``(x, y, target_z)``, float32 ``[3]``."""
        xy = jnp.asarray(xy, jnp.float32)
        return jnp.concatenate([xy, jnp.full((1,), self.target_z, jnp.float32)])

    def ctrl_from_action(self, sys: brax_base.System, action: jax.Array) -> jax.Array:
        """``lo + (action + 1) (hi - lo) / 2`` per actuator, with ``[lo, hi]`` the MJCF control
        range (``[-0.4, 0.4]``), as JaxGCRL's humanoid step."""
        lo, hi = sys.actuator.ctrl_range[:, 0], sys.actuator.ctrl_range[:, 1]
        return lo + (action + 1.0) * (hi - lo) * 0.5

    def is_healthy(self, pipeline_state: brax_base.State) -> jax.Array:
        """1.0 iff the torso height lies in ``healthy_z_range`` (inclusive), else 0.0."""
        z = pipeline_state.x.pos[0, 2]
        lo, hi = self.healthy_z_range
        return jnp.where((z >= lo) & (z <= hi), 1.0, 0.0).astype(jnp.float32)

    def state_size(self, sys: brax_base.System) -> int:
        """``q_size + qd_size + 16 * num_links + qd_size``: 26 + 25 + 192 + 25 = 268."""
        return sys.q_size() + 2 * sys.qd_size() + 16 * sys.num_links()

    def state_vector(
        self, sys: brax_base.System, pipeline_state: brax_base.State, ctrl: jax.Array
    ) -> jax.Array:
        """The 268-dim state of the class docstring, float32; ``ctrl`` ``[17]`` are the
        controls just applied (zeros at reset)."""
        ps = pipeline_state
        inertia = sys.link.inertia
        inertia = inertia.replace(
            i=jax.vmap(jnp.diag)(
                jax.vmap(jnp.diagonal)(inertia.i) ** (1 - sys.spring_inertia_scale)
            ),
            mass=inertia.mass ** (1 - sys.spring_mass_scale),
        )
        mass_sum = jnp.sum(inertia.mass)
        x_i = ps.x.vmap().do(inertia.transform)  # link centres of mass, world frame
        com = jnp.sum(inertia.mass[:, None] * x_i.pos, axis=0) / mass_sum
        cinr = x_i.replace(pos=x_i.pos - com).vmap().do(inertia)
        cinert = jnp.hstack([cinr.i.reshape((cinr.i.shape[0], -1)), inertia.mass[:, None]])
        xd_i = brax_base.Transform.create(pos=x_i.pos - ps.x.pos).vmap().do(ps.xd)
        cvel = jnp.hstack([inertia.mass[:, None] * xd_i.vel / mass_sum, xd_i.ang])
        qfrc_actuator = brax_actuator.to_tau(sys, ctrl, ps.q, ps.qd)
        state = jnp.concatenate([ps.q, ps.qd, cinert.ravel(), cvel.ravel(), qfrc_actuator])
        return state.astype(jnp.float32)


@dataclasses.dataclass(frozen=True)
class Reacher(Robot):
    """Brax's bundled two-link planar arm (``brax/envs/assets/reacher.xml``), goal = fingertip.

    State (10), as JaxGCRL's ``envs/reacher.py`` (Bortkiewicz et al. 2024, arXiv 2408.11052;
    Wang et al. 2025, arXiv 2503.14858 list it with state dim 10 and the generalized pipeline):
    ``[cos q0, cos q1, sin q0, sin q1]`` of the two hinge angles (0:4), fingertip position x, y, z
    (4:7, metres; the goal space) and fingertip velocity (7:10, m/s). The fingertip is the point
    0.11 m along the second link. The target body of the model (two slide joints, q[2:4]) is
    placed on the goal; it is not part of the state (JaxGCRL puts it only in the goal part).

    Reset as JaxGCRL: joint angles ``init_q + U(-0.1, 0.1)``, velocities ``U(-0.005, 0.005)``
    (target at rest). Physics: the model's 10 ms step, 2 frames per env step (0.02 s), gears
    200; generalized pipeline. The reacher is never unhealthy.

    Attributes:
        target_z: height of the target and the goal's z (metres): the arm's plane, 0.01 m.
        tip_offset: fingertip position along the second link (metres).
    """

    target_z: float = 0.01
    tip_offset: float = 0.11
    timestep: float = 0.01
    n_frames: int = 2
    state_dim: int = 10
    action_dim: int = 2
    goal_dim: int = 3
    clearance: float = 0.21
    """Reach of the arm from its base (metres): two 0.1 m links plus the tip."""
    wall_friction: float | None = None

    def mjcf(self, walls: str = "") -> str:
        """Brax's reacher.xml.

        Raises:
            ValueError: if ``walls`` is not empty (the reacher has no maze).
        """
        if walls:
            raise ValueError("the reacher takes no walls")
        return (importlib.resources.files("brax") / "envs" / "assets" / "reacher.xml").read_text()

    def initial_q_qd(
        self, sys: brax_base.System, rng: jax.Array, xy: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        """JaxGCRL's reacher reset; ``xy`` is unused (the arm's base is fixed)."""
        del xy
        rng_q, rng_qd = jax.random.split(rng)
        q = jnp.asarray(sys.init_q, jnp.float32) + jax.random.uniform(
            rng_q, (sys.q_size(),), jnp.float32, -0.1, 0.1
        )
        qd = jax.random.uniform(rng_qd, (sys.qd_size(),), jnp.float32, -0.005, 0.005)
        return q, qd.at[2:].set(0.0)

    def place_goal(self, q: jax.Array, goal: jax.Array) -> jax.Array:
        """Move the target body (``q[2:4]``) to the goal's x, y."""
        return q.at[2:].set(goal[:2])

    def goal_from_xy(self, xy: jax.Array) -> jax.Array:
        """``(x, y, target_z)``, float32 ``[3]``."""
        xy = jnp.asarray(xy, jnp.float32)
        return jnp.concatenate([xy, jnp.full((1,), self.target_z, jnp.float32)])

    def state_size(self, sys: brax_base.System) -> int:
        """4 angle features + fingertip position (3) + velocity (3) = 10."""
        del sys
        return 10

    def state_vector(
        self, sys: brax_base.System, pipeline_state: brax_base.State, ctrl: jax.Array
    ) -> jax.Array:
        """``[cos q[:2], sin q[:2], tip xyz, tip velocity]``, float32 ``[10]``."""
        del sys, ctrl
        ps = pipeline_state
        theta = ps.q[:2]
        tip = brax_base.Transform.create(pos=jnp.array([self.tip_offset, 0.0, 0.0]))
        tip_pos = ps.x.take(1).do(tip).pos
        tip_vel = tip.do(ps.xd.take(1)).vel
        state = jnp.concatenate([jnp.cos(theta), jnp.sin(theta), tip_pos, tip_vel])
        return state.astype(jnp.float32)
