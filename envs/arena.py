"""Open-floor goal reaching: the goal is a point at a random bearing and distance from the start."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from envs.base import EnvInfo, GoalEnv
from envs.robots import Robot

ANT_GOAL_DISTANCE = 10.0
"""Distance of the ant's goal from the origin (metres): JaxGCRL's ``envs/ant.py`` samples the
target as ``sample_circle(10.0)``, a uniform bearing at a fixed radius of 10 (Bortkiewicz et al.
2024, arXiv 2408.11052), the Ant task of Wang et al. 2025 (arXiv 2503.14858)."""
HUMANOID_GOAL_RADIUS = (1.0, 5.0)
"""Range of the humanoid's goal distance from the start (metres): ``U(1, 5)`` at a uniform
bearing (Wang et al. 2025, arXiv 2503.14858; JaxGCRL ``envs/humanoid.py``, ``min_goal_dist = 1``,
``max_goal_dist = 5``)."""
REACHER_GOAL_RADIUS = (0.0, 0.2)
"""Range of the reacher's goal distance from the arm's base (metres): JaxGCRL's
``envs/reacher.py`` draws ``0.2 * U(0, 1)`` at a uniform bearing."""


class RadialGoalEnv(GoalEnv):
    """The robot starts near the origin; the goal is at a uniform bearing around the origin.

    Start: ``xy ~ U(-start_jitter, start_jitter)^2`` (metres). Goal x, y (metres):
    ``radius * (cos a, sin a)`` with ``a ~ U(0, 2 pi)`` and ``radius ~ U(*goal_radius)``; the
    default ``(10, 10)`` is JaxGCRL's fixed distance for the ant (:data:`ANT_GOAL_DISTANCE`),
    the humanoid uses ``(1, 5)`` (:data:`HUMANOID_GOAL_RADIUS`). The radius, not the point, is
    uniform, so goals crowd towards the inner radius as in JaxGCRL. The goal is the robot's
    :meth:`~envs.robots.Robot.goal_from_xy` of that point (the humanoid appends z = 1.25).

    Args:
        robot: the body (its goal space starts with its torso x, y).
        info: static facts of the env id.
        goal_radius: ``(min, max)`` goal distance from the origin (metres), ``0 <= min <= max``.
        start_jitter: half-width of the uniform start offset (metres); 0.1 matches the x, y
            noise of brax's ant reset (``reset_noise_scale``).
        backend: see :class:`~envs.base.GoalEnv`.
        n_frames: see :class:`~envs.base.GoalEnv`.

    Raises:
        ValueError: on a bad radius range or a negative jitter.
    """

    def __init__(
        self,
        robot: Robot,
        info: EnvInfo,
        goal_radius: tuple[float, float] = (ANT_GOAL_DISTANCE, ANT_GOAL_DISTANCE),
        start_jitter: float = 0.1,
        backend: str | None = None,
        n_frames: int | None = None,
    ) -> None:
        lo, hi = goal_radius
        if not 0.0 <= lo <= hi:
            raise ValueError(f"goal_radius must satisfy 0 <= min <= max, got {goal_radius}")
        if start_jitter < 0:
            raise ValueError(f"start_jitter must be >= 0, got {start_jitter}")
        super().__init__(robot, info, backend=backend, n_frames=n_frames)
        self.goal_radius = (float(lo), float(hi))
        self.start_jitter = float(start_jitter)

    def sample_start_goal(self, rng: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(start_xy [2], goal [goal_dim])`` float32, metres; see the class docstring."""
        rng_start, rng_angle, rng_radius = jax.random.split(rng, 3)
        j = self.start_jitter
        start = jax.random.uniform(rng_start, (2,), jnp.float32, -j, j)
        angle = jax.random.uniform(rng_angle, (), jnp.float32, 0.0, 2.0 * jnp.pi)
        lo, hi = self.goal_radius
        radius = jax.random.uniform(rng_radius, (), jnp.float32, lo, hi)
        goal_xy = radius * jnp.stack([jnp.cos(angle), jnp.sin(angle)])
        return start, self.robot.goal_from_xy(goal_xy.astype(jnp.float32))
