"""On-device trajectory replay with geometric hindsight goal relabelling.

The buffer is time-major, one ring per parallel env: ``state [capacity, num_envs, state_dim]``,
``action [capacity, num_envs, action_dim]``, ``traj_id [capacity, num_envs]`` (a per-env episode
counter, non-decreasing in time). Only (s_i, a_i) and future states are needed by CRL: no next
state, reward or TD target (Wang et al. 2025, Sec. 4).

Relabelling (Eysenbach et al. 2022; JaxGCRL, Bortkiewicz et al. 2024): for a sampled step i, the
goal is the goal-space slice of a later state j > i of the same trajectory, drawn with
``P(j) proportional to gamma^(j - i)`` over the steps the buffer holds of that trajectory. The
trajectory's last stored step is found by a binary search on ``traj_id`` (O(log capacity) gathers
per sample), and j by inverting the truncated geometric CDF: no L x L matrix is ever built.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct

from harness.agents.crl import Batch


@struct.dataclass
class Replay:
    """Ring buffers of trajectories, one per env (time-major). See the module docstring.

    Attributes:
        state: ``[capacity, num_envs, state_dim]`` float32.
        action: ``[capacity, num_envs, action_dim]`` float32.
        traj_id: ``[capacity, num_envs]`` int32 episode counter of each stored step.
        insert: scalar int32, next physical row to write.
        size: scalar int32, rows filled (at most capacity).
    """

    state: jax.Array
    action: jax.Array
    traj_id: jax.Array
    insert: jax.Array
    size: jax.Array

    @property
    def capacity(self) -> int:
        return int(self.state.shape[0])


def replay_init(capacity: int, num_envs: int, state_dim: int, action_dim: int) -> Replay:
    """Empty buffer. Memory: ``4 * capacity * num_envs * (state_dim + action_dim + 1)`` bytes."""
    return Replay(
        state=jnp.zeros((capacity, num_envs, state_dim), jnp.float32),
        action=jnp.zeros((capacity, num_envs, action_dim), jnp.float32),
        traj_id=jnp.zeros((capacity, num_envs), jnp.int32),
        insert=jnp.zeros((), jnp.int32),
        size=jnp.zeros((), jnp.int32),
    )


def replay_add(replay: Replay, state: jax.Array, action: jax.Array, traj_id: jax.Array) -> Replay:
    """Append an unroll ``[T, num_envs, ...]`` (T <= capacity), overwriting the oldest rows."""
    steps = state.shape[0]
    rows = (replay.insert + jnp.arange(steps)) % replay.capacity
    return dataclasses.replace(
        replay,
        state=replay.state.at[rows].set(state.astype(jnp.float32)),
        action=replay.action.at[rows].set(action.astype(jnp.float32)),
        traj_id=replay.traj_id.at[rows].set(traj_id.astype(jnp.int32)),
        insert=(replay.insert + steps) % replay.capacity,
        size=jnp.minimum(replay.size + steps, replay.capacity),
    )


def _physical(replay: Replay, logical: jax.Array) -> jax.Array:
    """Row of logical index ``logical`` (0 = oldest stored step)."""
    return (replay.insert - replay.size + logical) % replay.capacity


def truncated_geometric(key: jax.Array, n: jax.Array, discount: float) -> jax.Array:
    """Offsets ``k in [1, n]`` with ``P(k) proportional to discount^k`` (0 where ``n == 0``).

    Inverse CDF: ``k = ceil(log(1 - u (1 - discount^n)) / log(discount))``, ``u ~ U(0, 1)``.

    Args:
        n: ``[B]`` int, number of future steps available.
    """
    u = jax.random.uniform(key, n.shape, minval=1e-7, maxval=1.0)
    n_f = n.astype(jnp.float32)
    k = jnp.ceil(jnp.log1p(-u * (1.0 - discount**n_f)) / jnp.log(discount))
    return jnp.clip(k, 1, jnp.maximum(n_f, 1)).astype(jnp.int32) * (n > 0)


def sample(
    replay: Replay,
    key: jax.Array,
    batch_size: int,
    discount: float,
    goal_indices: tuple[int, ...],
) -> tuple[Batch, dict[str, jax.Array]]:
    """Sample ``batch_size`` relabelled transitions.

    Returns:
        ``(Batch(state [B, state_dim], action [B, action_dim], goal [B, goal_dim]), info)`` where
        ``info`` holds ``env [B]``, ``i [B]`` and ``j [B]`` logical time indices (for tests) and
        ``offset [B] = j - i``. A step that is the last stored step of its trajectory gets its
        own state as goal (offset 0); this is rare (1 / trajectory length).
    """
    k_env, k_time, k_goal = jax.random.split(key, 3)
    num_envs = replay.state.shape[1]
    env = jax.random.randint(k_env, (batch_size,), 0, num_envs)
    i = jax.random.randint(k_time, (batch_size,), 0, replay.size)
    tid = replay.traj_id[_physical(replay, i), env]

    # Binary search for the last logical index whose traj_id equals tid (ids are non-decreasing).
    lo, hi = i, jnp.broadcast_to(replay.size - 1, i.shape)
    num_iters = max(1, int(replay.capacity).bit_length())

    def body(_: int, bounds: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        lo, hi = bounds
        mid = (lo + hi + 1) // 2
        same = replay.traj_id[_physical(replay, mid), env] <= tid
        return jnp.where(same, mid, lo), jnp.where(same, hi, mid - 1)

    last, _ = jax.lax.fori_loop(0, num_iters, body, (lo, hi))
    offset = truncated_geometric(k_goal, last - i, discount)
    j = i + offset
    state = replay.state[_physical(replay, i), env]
    action = replay.action[_physical(replay, i), env]
    future = replay.state[_physical(replay, j), env]
    goal = future[:, jnp.asarray(goal_indices)]
    return Batch(state, action, goal), {"env": env, "i": i, "j": j, "offset": offset}
