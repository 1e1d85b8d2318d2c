"""The goal-conditioned env interface: :class:`EnvInfo`, :class:`GoalEnv` and the goal metrics.

Conventions (Wang et al. 2025, arXiv 2503.14858, "Environments" and "Evaluation"; Bortkiewicz et
al. 2024 JaxGCRL, arXiv 2408.11052):

- ``obs = concat(state, goal)``, shape ``[state_dim + goal_dim]``; the goal lives in the goal
  space, ``goal_space(state) = state[goal_indices]``.
- ``reward = success = 1.0`` iff ``||state[goal_indices] - goal||_2 < success_threshold``
  (strictly less), else 0.0.
- ``done = 1.0`` only when the robot is unhealthy. Reaching the goal never ends an episode and
  there is no time limit inside the env: the caller cuts episodes at ``episode_length``
  (1000 steps).
- The goal is drawn at reset and stays fixed; it is kept in ``state.info["goal"]`` and in the
  last ``goal_dim`` entries of ``obs``.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from brax import base as brax_base
from brax.envs.base import PipelineEnv, State

from envs.robots import Robot

EPISODE_LENGTH = 1000
"""Steps per episode in training and evaluation (Wang et al. 2025, arXiv 2503.14858)."""
SUPPORTED_BACKENDS = ("spring", "generalized", "mjx")
"""Brax pipelines the envs run on (``"mjx"``: the Franka arm tasks, :mod:`envs.arm`)."""
ENV_OPTIONS: dict[str, Any] = {"contacts": "reference", "cell_jitter": 0.0, "goal_max_cells": None}
"""The keyword options of :func:`envs.make` that select reference or other behaviour, with their
defaults (the reference behaviour): ``contacts`` (``"reference"`` or ``"feet"``, see
:data:`envs.robots.CONTACT_SETS`), ``cell_jitter`` (metres, see
:class:`envs.maze_env.MazeEnv`) and ``goal_max_cells`` (cells; goals only in goal cells at most
that many cells from the start, :func:`envs.maze.near_goal_layout`; None = every goal cell).
:attr:`EnvInfo.options` lists those an id accepts."""


@dataclasses.dataclass(frozen=True)
class EnvInfo:
    """Static facts about an env id; reading them compiles nothing.

    Attributes:
        env_id: registry id, e.g. ``"ant_u_maze"``.
        state_dim: length of the state part of the observation.
        goal_indices: indices into the state vector that form the goal space.
        goal_dim: ``len(goal_indices)``.
        action_dim: length of the action vector; actions lie in ``[-1, 1]``.
        success_threshold: success iff the goal-space distance is below this (metres).
        episode_length: env steps per episode (the env itself never truncates).
        backend: brax physics pipeline.
        description: one line for listings.
        options: the keyword options of :func:`envs.make` that this id accepts with a
            non-default value (:data:`ENV_OPTIONS`): ``("cell_jitter", "contacts",
            "goal_max_cells")`` for the ant and humanoid mazes, ``("cell_jitter",
            "goal_max_cells")`` for the point mazes, ``("contacts",)`` for the open-floor
            humanoid, ``()`` for the others. Every id accepts all of them at their defaults.
        max_cell_jitter: mazes: the largest ``cell_jitter`` (metres) that keeps a start clear
            of the walls, ``cell_size / 2 - robot clearance`` (ant 0.8, humanoid 0.4, point
            0.75); None for ids without the option.
        physics_revision: 0, raised by one each time a fix changes what the id simulates
            (its model, time step or solver) after results were recorded with it; a run's
            identity includes it when nonzero, so results of the former physics are never
            taken for the new one's. 1 for ``humanoid``: its physics step became the reference
            code's 3 ms (was 1.5 ms; measured by ``benchmarks/reference/physics.py``,
            docs/fidelity.md "Physics side by side").
    """

    env_id: str
    state_dim: int
    goal_indices: tuple[int, ...]
    goal_dim: int
    action_dim: int
    success_threshold: float
    episode_length: int
    backend: str
    description: str
    options: tuple[str, ...] = ()
    max_cell_jitter: float | None = None
    physics_revision: int = 0

    def __post_init__(self) -> None:
        unknown = [o for o in self.options if o not in ENV_OPTIONS]
        if unknown:
            raise ValueError(f"{self.env_id}: unknown options {unknown}; known: {ENV_OPTIONS}")
        if self.goal_dim != len(self.goal_indices):
            raise ValueError(f"goal_dim {self.goal_dim} != len(goal_indices) for {self.env_id}")
        if any(not 0 <= i < self.state_dim for i in self.goal_indices):
            raise ValueError(f"goal_indices {self.goal_indices} outside state of {self.env_id}")

    @property
    def obs_dim(self) -> int:
        """``state_dim + goal_dim``."""
        return self.state_dim + self.goal_dim


def goal_metrics(
    state: jax.Array,
    goal: jax.Array,
    goal_indices: tuple[int, ...],
    success_threshold: float,
) -> dict[str, jax.Array]:
    """Distance to the goal and success, the quantities behind reward and evaluation.

    Args:
        state: state vector ``[..., state_dim]``.
        goal: goal ``[..., goal_dim]`` (metres).
        goal_indices: indices of ``state`` that form the goal space.
        success_threshold: success iff the distance is strictly below it (metres).

    Returns:
        ``{"dist": float32 [...] (metres), "success": float32 [...] in {0, 1}}``
        (Wang et al. 2025, arXiv 2503.14858: time at goal counts steps with ``success = 1``).
    """
    achieved = jnp.take(state, jnp.asarray(goal_indices), axis=-1)
    dist = jnp.linalg.norm(achieved - goal, axis=-1).astype(jnp.float32)
    success = (dist < success_threshold).astype(jnp.float32)
    return {"dist": dist, "success": success}


class GoalEnv(PipelineEnv):
    """A goal-conditioned brax env: a :class:`~envs.robots.Robot` plus a start / goal sampler.

    Subclasses implement :meth:`sample_start_goal`. All methods are pure JAX and can be jitted
    and vmapped; reset is deterministic for a fixed key.

    Args:
        robot: the body and its physics settings.
        info: the static facts of this env id (dims must agree with ``robot``).
        walls: MJCF ``<geom>`` text added to the world (mazes), or ``""``.
        backend: brax pipeline, ``"spring"``, ``"generalized"`` or ``"mjx"``; None (default)
            takes ``info.backend``, and another value must equal it. Wang et al. 2025 (arXiv
            2503.14858) run every env on spring except the arm tasks (MJX) and the reacher
            (generalized).
        n_frames: physics steps per env step; default ``robot.n_frames``.
        debug: brax pipeline debug flag (adds contacts to the pipeline state).

    Raises:
        ValueError: on another backend, one that is not ``info.backend``, or when ``info``
            disagrees with ``robot``.
    """

    def __init__(
        self,
        robot: Robot,
        info: EnvInfo,
        walls: str = "",
        backend: str | None = None,
        n_frames: int | None = None,
        debug: bool = False,
    ) -> None:
        backend = info.backend if backend is None else backend
        if backend not in SUPPORTED_BACKENDS or backend != info.backend:
            raise ValueError(
                f"{info.env_id}: backend {backend!r} is not its {info.backend!r}, or not one "
                f"of {SUPPORTED_BACKENDS}"
            )
        robot_dims = (robot.state_dim, robot.goal_dim, robot.action_dim)
        if (info.state_dim, info.goal_dim, info.action_dim) != robot_dims:
            raise ValueError(f"{info.env_id}: EnvInfo dims disagree with robot {robot}")
        sys = robot.system(walls)
        super().__init__(
            sys=sys,
            backend=backend,
            n_frames=robot.n_frames if n_frames is None else n_frames,
            debug=debug,
        )
        if robot.policy_action_size(sys) != info.action_dim or (
            robot.state_size(sys) != info.state_dim
        ):
            raise ValueError(f"{info.env_id}: the MJCF model disagrees with EnvInfo {info}")
        self.robot = robot
        self._info = info

    # ---- static facts -------------------------------------------------------------------------

    @property
    def info(self) -> EnvInfo:
        """The static facts of this env (see :class:`EnvInfo`)."""
        return self._info

    @property
    def state_dim(self) -> int:
        """Length of the state part of the observation."""
        return self._info.state_dim

    @property
    def goal_indices(self) -> tuple[int, ...]:
        """Indices into the state vector that form the goal space."""
        return self._info.goal_indices

    @property
    def goal_dim(self) -> int:
        """Length of the goal part of the observation."""
        return self._info.goal_dim

    @property
    def success_threshold(self) -> float:
        """Success iff the goal-space distance is strictly below this (metres)."""
        return self._info.success_threshold

    @property
    def episode_length(self) -> int:
        """Env steps per episode; enforced by the caller, not by :meth:`step`."""
        return self._info.episode_length

    @property
    def compiler_options(self) -> dict[str, Any]:
        """XLA options for ``jax.jit(..., compiler_options=...)`` of this env's reset / step (and
        of any program that steps it); empty except for the arm tasks
        (:data:`envs.arm.XLA_CPU_OPTIONS`)."""
        return dict(self.robot.compiler_options)

    def vmap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``jax.vmap(fn)`` over a leading env axis, stepped in chunks on the CPU when the robot
        has a ``cpu_vmap_limit`` (the arm tasks: :data:`envs.arm.CPU_VMAP_LIMIT`).

        A batch of ``n`` envs above the limit is split into ``n / c`` chunks of ``c`` envs, the
        largest divisor of ``n`` within the limit, stepped one after another with
        ``lax.map``; results are the same as one ``vmap``. On other backends, and for robots
        without a limit, this is ``jax.vmap(fn)``.

        Args:
            fn: a per-env function (``reset``, ``step``) whose arguments and results are pytrees
                of arrays with the env axis first once batched.
        """
        batched = jax.vmap(fn)
        limit = self.robot.cpu_vmap_limit
        if limit is None or jax.default_backend() != "cpu":
            return batched

        def chunked(*args: Any) -> Any:
            n = jax.tree_util.tree_leaves(args)[0].shape[0]
            if n <= limit:
                return batched(*args)
            size = max(d for d in range(1, limit + 1) if n % d == 0)
            split = jax.tree_util.tree_map(lambda x: x.reshape(n // size, size, *x.shape[1:]), args)
            out = jax.lax.map(lambda chunk: batched(*chunk), split)
            return jax.tree_util.tree_map(lambda x: x.reshape(n, *x.shape[2:]), out)

        return chunked

    @property
    def observation_size(self) -> int:  # type: ignore[override]
        """``state_dim + goal_dim``, without calling reset (brax's default traces reset)."""
        return self._info.obs_dim

    @property
    def action_size(self) -> int:
        """Length of the action vector (the number of actuators, except for the arm tasks);
        actions lie in ``[-1, 1]``."""
        return self._info.action_dim

    # ---- dynamics -----------------------------------------------------------------------------

    @abc.abstractmethod
    def sample_start_goal(self, rng: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Draw where an episode starts and its goal.

        Args:
            rng: PRNG key.

        Returns:
            ``(start_xy [2] (metres), goal [goal_dim])``, float32; the goal comes from
            :meth:`~envs.robots.Robot.goal_from_xy`.
        """

    def goal_metrics(self, state: jax.Array, goal: jax.Array) -> dict[str, jax.Array]:
        """:func:`goal_metrics` with this env's goal indices and threshold.

        Args:
            state: ``[..., state_dim]``; goal: ``[..., goal_dim]``.

        Returns:
            ``{"dist": float32 [...], "success": float32 [...]}``.
        """
        return goal_metrics(state, goal, self.goal_indices, self.success_threshold)

    def reset(self, rng: jax.Array) -> State:
        """Start an episode: draw start and goal, place the robot (and its goal marker, if any).

        Args:
            rng: PRNG key.

        Returns:
            brax ``State`` with ``obs`` float32 ``[state_dim + goal_dim]``, ``reward`` and
            ``done`` float32 scalars, ``metrics`` ``{"dist", "success"}`` float32 scalars and
            ``info["goal"]`` float32 ``[goal_dim]``.
        """
        rng_task, rng_robot = jax.random.split(rng)
        start_xy, goal = self.sample_start_goal(rng_task)
        goal = jnp.asarray(goal, jnp.float32)
        q, qd = self.robot.initial_q_qd(self.sys, rng_robot, start_xy)
        pipeline_state = self.pipeline_init(self.robot.place_goal(q, goal), qd)
        ctrl = jnp.zeros((self.action_size,), jnp.float32)
        return self._make_state(
            pipeline_state, goal, ctrl, jnp.zeros((), jnp.float32), {}, {"goal": goal}
        )

    def step(self, state: State, action: jax.Array) -> State:
        """Advance one env step (``robot.timestep * n_frames`` seconds).

        Args:
            state: the previous state (from :meth:`reset` or :meth:`step`).
            action: ``[action_dim]`` in ``[-1, 1]``, mapped to controls by
                :meth:`~envs.robots.Robot.ctrl_from_action` (clipped by the actuators).

        Returns:
            the next state, typed exactly like :meth:`reset`'s; ``done = 1.0`` iff the robot is
            unhealthy. Extra ``info`` and ``metrics`` entries (from wrappers) are kept.
        """
        ctrl = self.robot.ctrl_from_action(self.sys, action)
        pipeline_state = self.pipeline_step(state.pipeline_state, ctrl)
        done = 1.0 - self.robot.is_healthy(pipeline_state)
        goal = state.info["goal"]
        return self._make_state(pipeline_state, goal, ctrl, done, state.metrics, state.info)

    def _make_state(
        self,
        pipeline_state: brax_base.State,
        goal: jax.Array,
        ctrl: jax.Array,
        done: jax.Array,
        metrics: dict[str, jax.Array],
        info: dict[str, Any],
    ) -> State:
        """Assemble the brax State; every leaf strongly typed float32, as reset's and step's must
        agree (brax's own envs return weak-typed reward / done from step, so a jitted step would
        compile twice)."""
        state_vec = self.robot.state_vector(self.sys, pipeline_state, ctrl)
        m = self.goal_metrics(state_vec, goal)
        return State(
            pipeline_state=pipeline_state,
            obs=jnp.concatenate([state_vec, goal]).astype(jnp.float32),
            reward=m["success"],
            done=jnp.asarray(done, jnp.float32),
            metrics={**metrics, **m},
            info=dict(info),
        )
