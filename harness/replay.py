"""On-device trajectory replay with geometric hindsight goal relabelling.

The buffer is time-major, one ring per parallel env: ``state [capacity, num_envs, state_dim]``,
``action [capacity, num_envs, action_dim]``, ``traj_id [capacity, num_envs]`` (a per-env episode
counter, non-decreasing in time). Only (s_i, a_i) and future states are needed by CRL: no next
state, reward or TD target (Wang et al. 2025, Sec. 4). The TD baselines (SAC, TD3) also keep
the commanded goal and a terminal flag per step (``goal``, ``terminal``; None otherwise): the
next state s_{i+1} is the next row of the same env, so it is never stored twice.

Relabelling (Eysenbach et al. 2022; JaxGCRL, Bortkiewicz et al. 2024): for a sampled step i, the
goal is the goal-space slice of a later state j > i of the same trajectory, drawn with
``P(j) proportional to gamma^(j - i)`` over the steps the buffer holds of that trajectory. The
trajectory's last stored step is found by a binary search on ``traj_id`` (O(log capacity) gathers
per sample), and j by inverting the truncated geometric CDF: no L x L matrix is ever built.

Two laws of (state, action, goal) are offered (``data.sampler``). :func:`sample_window` is the
reference code's (scaling-crl ``buffer.py`` ``sample_internal`` + ``flatten_crl_fn``): the goal
is cut off at the end of a window of ``episode_length`` steps as well as at the trajectory's
end, so its goals are nearer. :func:`sample` draws (env, step) uniformly from the whole replay
and cuts goals at the trajectory's end only. :func:`goal_offset_pmf` gives either law's exact
distribution of the goal offset ``j - i`` for a known replay (the tests' and the reference
tool's oracle).
:func:`sample_future` draws j uniformly instead (GCSL), and :func:`sample_transitions` returns
TD transitions with the commanded goal or a hindsight one (HER).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from envs.base import goal_metrics
from harness.batches import Batch, Transition


@struct.dataclass
class Replay:
    """Ring buffers of trajectories, one per env (time-major). See the module docstring.

    Attributes:
        state: ``[capacity, num_envs, state_dim]`` float32.
        action: ``[capacity, num_envs, action_dim]`` float32.
        traj_id: ``[capacity, num_envs]`` int32 episode counter of each stored step.
        insert: scalar int32, next physical row to write.
        size: scalar int32, rows filled (at most capacity).
        goal: ``[capacity, num_envs, goal_dim]`` float32 commanded goal of each step, or None
            (kept only for TD learning).
        terminal: ``[capacity, num_envs]`` bool, True where the step ended its episode because
            the robot became unhealthy (not at the time limit), or None (as ``goal``).
    """

    state: jax.Array
    action: jax.Array
    traj_id: jax.Array
    insert: jax.Array
    size: jax.Array
    goal: jax.Array | None = None
    terminal: jax.Array | None = None

    @property
    def capacity(self) -> int:
        return int(self.state.shape[0])


def replay_init(
    capacity: int, num_envs: int, state_dim: int, action_dim: int, goal_dim: int | None = None
) -> Replay:
    """Empty buffer. Memory: ``4 * capacity * num_envs * (state_dim + action_dim + 1)`` bytes,
    plus ``capacity * num_envs * (4 * goal_dim + 1)`` with ``goal_dim`` (TD learning: commanded
    goals and terminal flags are kept); None keeps neither."""
    goal = terminal = None
    if goal_dim is not None:
        goal = jnp.zeros((capacity, num_envs, goal_dim), jnp.float32)
        terminal = jnp.zeros((capacity, num_envs), jnp.bool_)
    return Replay(
        state=jnp.zeros((capacity, num_envs, state_dim), jnp.float32),
        action=jnp.zeros((capacity, num_envs, action_dim), jnp.float32),
        traj_id=jnp.zeros((capacity, num_envs), jnp.int32),
        insert=jnp.zeros((), jnp.int32),
        size=jnp.zeros((), jnp.int32),
        goal=goal,
        terminal=terminal,
    )


def replay_add(
    replay: Replay,
    state: jax.Array,
    action: jax.Array,
    traj_id: jax.Array,
    goal: jax.Array | None = None,
    terminal: jax.Array | None = None,
) -> Replay:
    """Append an unroll ``[T, num_envs, ...]`` (T <= capacity), overwriting the oldest rows.

    ``goal [T, num_envs, goal_dim]`` and ``terminal [T, num_envs]`` are required exactly when
    the buffer keeps them (``replay_init(..., goal_dim)``).

    Raises:
        ValueError: ``goal``/``terminal`` given to a buffer without them, or missing.
    """
    steps = state.shape[0]
    rows = (replay.insert + jnp.arange(steps)) % replay.capacity
    extra = {}
    if (replay.goal is None) != (goal is None) or (replay.terminal is None) != (terminal is None):
        raise ValueError("goal and terminal must be given exactly when the replay keeps them")
    if replay.goal is not None and replay.terminal is not None:
        assert goal is not None and terminal is not None
        extra = {
            "goal": replay.goal.at[rows].set(goal.astype(jnp.float32)),
            "terminal": replay.terminal.at[rows].set(terminal.astype(jnp.bool_)),
        }
    return dataclasses.replace(
        replay,
        state=replay.state.at[rows].set(state.astype(jnp.float32)),
        action=replay.action.at[rows].set(action.astype(jnp.float32)),
        traj_id=replay.traj_id.at[rows].set(traj_id.astype(jnp.int32)),
        insert=(replay.insert + steps) % replay.capacity,
        size=jnp.minimum(replay.size + steps, replay.capacity),
        **extra,
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


def last_of_trajectory(replay: Replay, env: jax.Array, i: jax.Array) -> jax.Array:
    """Logical index of the last stored step of the trajectory holding step ``i`` of ``env``.

    A binary search for the last logical index whose ``traj_id`` equals that of ``i`` (ids are
    non-decreasing in time): ``ceil(log2(capacity + 1))`` gathers per sample.

    Args:
        env, i: ``[B]`` int32 env indices and logical time indices (``0 <= i < size``).

    Returns:
        ``[B]`` int32, ``>= i``.
    """
    tid = replay.traj_id[_physical(replay, i), env]
    lo, hi = i, jnp.broadcast_to(replay.size - 1, i.shape)
    num_iters = max(1, int(replay.capacity).bit_length())

    def body(_: int, bounds: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        lo, hi = bounds
        mid = (lo + hi + 1) // 2
        same = replay.traj_id[_physical(replay, mid), env] <= tid
        return jnp.where(same, mid, lo), jnp.where(same, hi, mid - 1)

    last, _ = jax.lax.fori_loop(0, num_iters, body, (lo, hi))
    return last


def uniform_offset(key: jax.Array, n: jax.Array, horizon: int | None = None) -> jax.Array:
    """Offsets ``k`` uniform in ``[1, min(n, horizon)]`` (0 where ``n == 0``): ``[B]`` int32.

    Args:
        n: ``[B]`` int, number of future steps available.
        horizon: largest offset; None = no limit.
    """
    top = n if horizon is None else jnp.minimum(n, horizon)
    u = jax.random.uniform(key, n.shape)
    k = 1 + jnp.floor(u * top.astype(jnp.float32)).astype(jnp.int32)
    return jnp.clip(k, 1, jnp.maximum(top, 1)) * (n > 0)


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
    last = last_of_trajectory(replay, env, i)
    offset = truncated_geometric(k_goal, last - i, discount)
    j = i + offset
    state = replay.state[_physical(replay, i), env]
    action = replay.action[_physical(replay, i), env]
    future = replay.state[_physical(replay, j), env]
    goal = future[:, jnp.asarray(goal_indices)]
    return Batch(state, action, goal), {"env": env, "i": i, "j": j, "offset": offset}


SELF_GOAL_WEIGHT = 1e-5
"""The reference's ``+ 1e-5 * eye`` (scaling-crl ``buffer.py``, ``flatten_crl_fn``): the weight
of a row's own state among its goal candidates, next to ``discount^k`` for later states."""


def window_offset(key: jax.Array, n: jax.Array, discount: float) -> jax.Array:
    """Offsets ``k in [0, n]`` with ``P(k) proportional to discount^k`` for ``k >= 1`` and to
    :data:`SELF_GOAL_WEIGHT` for ``k = 0``: ``[B]`` int32.

    The law of one row of the reference's relabelling matrix (scaling-crl ``buffer.py``
    ``flatten_crl_fn``: ``probs = is_future_mask * discount * same_trajectory + 1e-5 * eye``,
    then ``jax.random.categorical``): a row with no later state in its window and trajectory
    (``n == 0``) gets its own state as goal; any other row does with probability
    ``1e-5 / (1e-5 + sum_{k=1}^{n} discount^k)`` (about 1e-5 to 1e-7).

    Args:
        n: ``[B]`` int, later steps available (``>= 0``).
    """
    k_self, k_geom = jax.random.split(key)
    n_f = n.astype(jnp.float32)
    mass = discount * (1.0 - discount**n_f) / (1.0 - discount)  # sum_{k=1}^{n} discount^k
    p_self = SELF_GOAL_WEIGHT / (SELF_GOAL_WEIGHT + mass)
    own = jax.random.uniform(k_self, n.shape) < p_self
    return jnp.where(own, 0, truncated_geometric(k_geom, n, discount))


def sample_window(
    replay: Replay,
    key: jax.Array,
    batch_size: int,
    discount: float,
    goal_indices: tuple[int, ...],
    window: int,
) -> tuple[Batch, dict[str, jax.Array]]:
    """Sample ``batch_size`` relabelled transitions with the reference code's law.

    The reference (scaling-crl ``buffer.py`` ``sample_internal`` and ``flatten_crl_fn``,
    ``train.py:865-912``) takes, every training iteration, one window of ``window`` =
    ``episode_length`` consecutive stored steps per env, starting at ``s ~ U[0, size - window -
    1]`` (``jax.random.randint(min=0, max=insert_position - episode_length)``: the newest stored
    step is in no window), not aligned with episodes. Each of the window's first ``window - 1``
    rows ``i`` is relabelled with a row ``j`` of the same window and trajectory, ``P(j)
    proportional to discount^(j - i)`` for ``j > i`` plus ``1e-5`` for ``j = i``
    (:func:`window_offset`); the rows of all windows are shuffled and cut into minibatches.

    Here each row is drawn independently from that law: env ``e ~ U[0, num_envs)``, start
    ``s`` as above, row ``r ~ U[0, window - 2]``, ``i = s + r``, then ``j`` within
    ``[i, min(s + window - 1, last step of i's trajectory)]``. The marginal law of one row
    (state, action, goal) is therefore exactly the reference's; the per-iteration structure is
    not reproduced (in the reference all rows of one iteration come from the same
    ``num_envs`` windows, each row used at most once, and two rows of a minibatch drawn from one
    env share its window): that ties the update to the env count and window length (JaxGCRL
    issue #54), and only pairs of rows from the same env, a ``1 / num_envs`` fraction of a
    minibatch's pairs, are affected; the per-row law, which sets how far goals lie and so what
    the critic learns, is the reference's. Memory is ``O(batch_size)``: no ``window x window``
    matrix (the reference builds one per env per iteration).

    While the replay holds fewer than ``window + 1`` steps per env (only with
    ``min_replay_per_env < episode_length``), the window shrinks to ``size - 1`` steps.

    Args:
        replay: the buffer.
        key: PRNG key.
        batch_size: rows ``B``.
        discount: gamma of the relabelling (0.99 in the paper).
        goal_indices: state entries that form the goal.
        window: steps per window, the episode length (1000 for the paper's envs).

    Returns:
        ``(Batch(state [B, state_dim], action [B, action_dim], goal [B, goal_dim]), info)``
        with ``env``, ``i``, ``j``, ``offset = j - i`` and ``start`` (``s``) ``[B]`` int32
        logical indices (0 = oldest stored step).
    """
    k_env, k_start, k_row, k_goal = jax.random.split(key, 4)
    num_envs = replay.state.shape[1]
    length = jnp.clip(jnp.minimum(window, replay.size - 1), 2, None)
    env = jax.random.randint(k_env, (batch_size,), 0, num_envs)
    start = jax.random.randint(k_start, (batch_size,), 0, jnp.maximum(replay.size - length, 1))
    i = start + jax.random.randint(k_row, (batch_size,), 0, length - 1)
    end = jnp.minimum(start + length - 1, replay.size - 1)
    last = jnp.minimum(last_of_trajectory(replay, env, i), end)
    offset = window_offset(k_goal, last - i, discount)
    j = i + offset
    state = replay.state[_physical(replay, i), env]
    action = replay.action[_physical(replay, i), env]
    goal = replay.state[_physical(replay, j), env][:, jnp.asarray(goal_indices)]
    info = {"env": env, "i": i, "j": j, "offset": offset, "start": start}
    return Batch(state, action, goal), info


def goal_offset_pmf(
    traj_id: np.ndarray, sampler: str, discount: float, window: int | None = None
) -> np.ndarray:
    """Exact distribution of the goal offset ``j - i`` of one sampled row, for a known replay.

    Computed by enumeration in float64, independently of the samplers' JAX code: for every
    env and step (and, for ``window``, every window start) the number ``n`` of later steps
    available is counted, and the conditional law given ``n`` (truncated geometric, plus the
    self-goal weight for ``window``) is summed with the weight of that draw.

    Args:
        traj_id: ``[size, num_envs]`` int trajectory ids in logical order (oldest step first),
            non-decreasing down each column.
        sampler: ``iid`` (:func:`sample`) or ``window`` (:func:`sample_window`).
        discount: gamma.
        window: steps per window (``window`` only).

    Returns:
        ``[max_offset + 1]`` float64 probabilities of offsets ``0, 1, ...`` (sums to 1).

    Raises:
        ValueError: an unknown sampler, or ``window`` without a window length.
    """
    ids = np.asarray(traj_id)
    size, num_envs = ids.shape
    # last[t, e]: index of the last step of the trajectory holding step t of env e
    last = np.empty_like(ids, dtype=np.int64)
    for e in range(num_envs):
        col = ids[:, e]
        ends = np.flatnonzero(np.append(col[1:] != col[:-1], True))
        last[:, e] = ends[np.searchsorted(ends, np.arange(size))]
    counts = np.zeros(size, np.float64)  # weight of each n (later steps available)
    if sampler == "iid":
        n = last - np.arange(size)[:, None]
        np.add.at(counts, n.ravel(), 1.0 / n.size)
        self_weight = 0.0
    elif sampler == "window":
        if window is None:
            raise ValueError("goal_offset_pmf: sampler 'window' needs a window length")
        length = max(min(window, size - 1), 2)
        starts = np.arange(max(size - length, 1))
        rows = np.arange(length - 1)
        i = starts[:, None] + rows[None, :]  # [S, W - 1]
        end = np.minimum(starts[:, None] + length - 1, size - 1)
        weight = 1.0 / (num_envs * i.size)
        for e in range(num_envs):
            n = np.minimum(last[i, e], end) - i
            np.add.at(counts, n.ravel(), weight)
        self_weight = SELF_GOAL_WEIGHT
    else:
        raise ValueError(f"goal_offset_pmf: unknown sampler {sampler!r} (iid or window)")
    ns = np.arange(size)
    # Z(n) = self_weight + sum_{k=1}^{n} discount^k; P(k | n) = discount^k / Z(n), k = 1..n
    mass = discount * (1.0 - discount**ns) / (1.0 - discount)
    z = np.where(ns == 0, 1.0, self_weight + mass)
    p_self = np.where(ns == 0, 1.0, self_weight / z)
    pmf = np.zeros(size, np.float64)
    pmf[0] = float(np.sum(counts * p_self))
    # pmf[k] = discount^k sum_{n >= k} counts[n] / Z(n), for k >= 1
    tail = np.cumsum((counts / z)[::-1])[::-1]
    pmf[1:] = discount ** ns[1:] * tail[1:]
    top = int(np.flatnonzero(counts)[-1]) if counts.any() else 0
    return pmf[: top + 1]


def sample_future(
    replay: Replay,
    key: jax.Array,
    batch_size: int,
    goal_indices: tuple[int, ...],
    horizon: int | None = None,
) -> tuple[Batch, dict[str, jax.Array]]:
    """As :func:`sample`, with the goal state ``j`` uniform over the next ``horizon`` stored
    steps of the trajectory (all of them for None): GCSL's relabelling (Ghosh et al. 2019,
    arXiv 1912.06088, Alg. 1). A trajectory's last stored step gets its own state (offset 0).

    Returns:
        ``(Batch(state [B, state_dim], action [B, action_dim], goal [B, goal_dim]), info)``
        with ``env``, ``i``, ``j`` and ``offset`` ``[B]`` as in :func:`sample`.
    """
    k_env, k_time, k_goal = jax.random.split(key, 3)
    num_envs = replay.state.shape[1]
    env = jax.random.randint(k_env, (batch_size,), 0, num_envs)
    i = jax.random.randint(k_time, (batch_size,), 0, replay.size)
    last = last_of_trajectory(replay, env, i)
    offset = uniform_offset(k_goal, last - i, horizon)
    j = i + offset
    state = replay.state[_physical(replay, i), env]
    action = replay.action[_physical(replay, i), env]
    goal = replay.state[_physical(replay, j), env][:, jnp.asarray(goal_indices)]
    return Batch(state, action, goal), {"env": env, "i": i, "j": j, "offset": offset}


def sample_transitions(
    replay: Replay,
    key: jax.Array,
    batch_size: int,
    goal_indices: tuple[int, ...],
    success_threshold: float,
    relabel_prob: float = 0.0,
) -> tuple[Transition, dict[str, jax.Array]]:
    """Sample ``batch_size`` goal-conditioned transitions for TD learning.

    A step ``i`` (env uniform, ``i`` uniform over ``[0, size - 2]``, so that row ``i + 1`` is
    stored) is a transition ``(s_i, a_i, s_{i+1})`` when ``i + 1`` belongs to the same
    trajectory (``mask = 1``); when ``i`` is the last step of a trajectory that ended because
    the robot became unhealthy, it is a terminal transition (``mask = 0``, reward 0: the
    unhealthy next state is not stored, and a fallen robot is not at its goal). A trajectory
    cut by the time limit has no stored successor for its last step: that draw is moved to the
    step before it (``i - 1``, same trajectory), which makes that step twice as likely; a
    trajectory of one stored step (possible only at the oldest row) gives a terminal-like
    transition (``mask = 0``, reward 0, ``info["valid"] = 0``), rare enough to ignore.

    With probability ``relabel_prob`` the goal is replaced by the achieved goal of a state
    ``j`` drawn uniformly from ``[i + 1, last]`` of the same trajectory (HER's "future"
    strategy, Andrychowicz et al. 2017, Sec. 4.5); otherwise it is the goal commanded at step
    ``i``. The reward is ``1`` iff ``||s_{i+1}[goal_indices] - goal|| < success_threshold``
    (:func:`envs.base.goal_metrics`, the env's own reward; JaxGCRL's HER recomputes it the same
    way). Episodes never end at the goal.

    Args:
        replay: a buffer made with ``goal_dim`` (commanded goals and terminal flags kept).
        goal_indices: state entries that form the achieved goal.
        success_threshold: success radius of the env (metres).
        relabel_prob: HER relabelling probability (0: no relabelling, plain SAC).

    Returns:
        ``(Transition, info)``; ``info`` holds ``env``, ``i``, ``j`` (goal state, or -1 when
        not relabelled), ``relabelled`` and ``valid`` ``[B]`` (for tests).

    Raises:
        ValueError: the replay keeps no goals (``replay_init`` without ``goal_dim``).
    """
    if replay.goal is None or replay.terminal is None:
        raise ValueError("sample_transitions needs a replay made with goal_dim (goals kept)")
    k_env, k_time, k_relabel, k_goal = jax.random.split(key, 4)
    num_envs = replay.state.shape[1]
    env = jax.random.randint(k_env, (batch_size,), 0, num_envs)
    i = jax.random.randint(k_time, (batch_size,), 0, jnp.maximum(replay.size - 1, 1))

    def row(index: jax.Array) -> jax.Array:
        return _physical(replay, index)

    tid = replay.traj_id[row(i), env]
    continues = replay.traj_id[row(i + 1), env] == tid
    terminal = replay.terminal[row(i), env] & ~continues
    prev_same = (i > 0) & (replay.traj_id[row(jnp.maximum(i - 1, 0)), env] == tid)
    shift = ~continues & ~terminal & prev_same
    i = jnp.where(shift, i - 1, i)
    continues = continues | shift
    valid = continues | terminal
    mask = continues.astype(jnp.float32)

    state = replay.state[row(i), env]
    action = replay.action[row(i), env]
    next_state = jnp.where(continues[:, None], replay.state[row(i + 1), env], state)
    goal = replay.goal[row(i), env]

    last = last_of_trajectory(replay, env, i)
    relabelled = continues & (jax.random.uniform(k_relabel, i.shape) < relabel_prob)
    j = i + uniform_offset(k_goal, last - i)
    idx = jnp.asarray(goal_indices)
    future = replay.state[row(j), env][:, idx]
    goal = jnp.where(relabelled[:, None], future, goal)
    reward = goal_metrics(next_state, goal, goal_indices, success_threshold)["success"] * mask
    info = {
        "env": env,
        "i": i,
        "j": jnp.where(relabelled, j, -1),
        "relabelled": relabelled,
        "valid": valid,
    }
    return Transition(state, action, next_state, goal, reward, mask), info
