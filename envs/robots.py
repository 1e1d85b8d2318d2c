"""Robots: the MJCF of a body, how to place it at a start position, and when it is healthy.

A :class:`Robot` is static configuration (a frozen dataclass, no arrays); the goal-conditioned
env classes in :mod:`envs.base`, :mod:`envs.arena` and :mod:`envs.maze_env` combine one robot
with a task (where starts and goals are drawn). Every robot's state vector is
``concat(q, qd)`` and its horizontal position is ``state[0:2]`` (metres).
"""

from __future__ import annotations

import abc
import dataclasses
import importlib.resources
import math
import warnings

import jax
import jax.numpy as jnp
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


class Robot(abc.ABC):
    """A body that moves in the horizontal plane, as seen by the goal-conditioned envs."""

    state_dim: int
    """Length of the state vector ``concat(q, qd)``."""
    action_dim: int
    """Number of actuators; actions lie in ``[-1, 1]``."""
    timestep: float
    """Physics time step of the spring pipeline (seconds)."""
    n_frames: int
    """Physics steps per env step; the env step lasts ``timestep * n_frames`` seconds."""
    clearance: float
    """Horizontal reach of the body from its centre (metres), to keep starts clear of walls."""
    wall_friction: float | None
    """Friction coefficient for maze walls; None keeps the model's default."""

    @abc.abstractmethod
    def mjcf(self, walls: str = "") -> str:
        """The model as an MJCF string, with ``walls`` (``<geom>`` text) added to the world."""

    @abc.abstractmethod
    def initial_q_qd(
        self, sys: brax_base.System, rng: jax.Array, xy: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        """Joint positions ``[q_size]`` and velocities ``[qd_size]`` (float32) of a fresh
        episode with the body centred at ``xy`` ``[2]`` (metres)."""

    def is_healthy(self, pipeline_state: brax_base.State) -> jax.Array:
        """1.0 while the robot is in a usable state, else 0.0 (float32 scalar)."""
        del pipeline_state
        return jnp.ones((), jnp.float32)

    def state_vector(self, pipeline_state: brax_base.State) -> jax.Array:
        """``concat(q, qd)``, float32 ``[state_dim]``."""
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
        """``q = xy``, ``qd = 0``: the point starts at rest."""
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

    Attributes:
        healthy_z_range: torso heights (metres) outside which the ant is unhealthy and the episode
            ends; (0.2, 1.0) as in brax's and JaxGCRL's ant.
        reset_noise_scale: joint positions get ``U(-s, s)`` noise and velocities ``s * N(0, 1)``
            at reset (brax's ant, s = 0.1); the torso x, y are set by the task instead.
        timestep: physics step (seconds); brax / JaxGCRL use 0.005 with the spring pipeline.
        n_frames: physics steps per env step; brax / JaxGCRL use 10 (env step 0.05 s).
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

    def mjcf(self, walls: str = "") -> str:
        """Brax's ant.xml with ``walls`` appended to its worldbody."""
        xml = (importlib.resources.files("brax") / "envs" / "assets" / "ant.xml").read_text()
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
