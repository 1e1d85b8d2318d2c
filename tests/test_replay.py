"""Replay and geometric hindsight relabelling: future-only, same trajectory, geometric weights."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from harness.replay import replay_add, replay_init, sample, truncated_geometric


def _filled(capacity: int, num_envs: int, ep_lengths: list[int], total: int):
    """A buffer whose state[t, e] = (global time t, env e, traj id) for checking samples."""
    replay = replay_init(capacity, num_envs, 3, 1)
    times = np.arange(total)
    # traj id of step t in env e: episodes of the given lengths, cycling.
    tids = np.zeros((total, num_envs), np.int32)
    for e in range(num_envs):
        length = ep_lengths[e % len(ep_lengths)]
        tids[:, e] = times // length
    states = np.stack(
        [
            np.broadcast_to(times[:, None], (total, num_envs)),
            np.broadcast_to(np.arange(num_envs)[None], (total, num_envs)),
            tids,
        ],
        axis=-1,
    ).astype(np.float32)
    actions = np.zeros((total, num_envs, 1), np.float32)
    chunk = 7
    for start in range(0, total, chunk):
        sl = slice(start, min(start + chunk, total))
        replay = replay_add(
            replay, jnp.asarray(states[sl]), jnp.asarray(actions[sl]), jnp.asarray(tids[sl])
        )
    return replay


@pytest.fixture(scope="module")
def wrapped_samples():
    # 50-row ring, 3 envs, 130 steps written: the ring has wrapped twice.
    replay = _filled(capacity=50, num_envs=3, ep_lengths=[9, 20, 1000], total=130)
    batch, info = jax.jit(sample, static_argnums=(2, 3, 4))(
        replay, jax.random.PRNGKey(0), 4000, 0.9, (0, 1, 2)
    )
    return replay, batch, jax.device_get(info)


def test_ring_keeps_the_newest_steps(wrapped_samples) -> None:
    replay, batch, _ = wrapped_samples
    assert int(replay.size) == 50
    times = np.asarray(batch.state[:, 0])
    assert times.min() >= 80 and times.max() <= 129


def test_goals_are_future_states_of_the_same_trajectory(wrapped_samples) -> None:
    _, batch, info = wrapped_samples
    state, goal = np.asarray(batch.state), np.asarray(batch.goal)
    assert np.all(goal[:, 1] == state[:, 1])  # same env
    assert np.all(goal[:, 2] == state[:, 2])  # same trajectory id
    future = goal[:, 0] - state[:, 0]
    np.testing.assert_array_equal(future, info["offset"])
    # Strictly in the future, except at the last stored step of a trajectory (offset 0).
    last_step = np.zeros_like(future, dtype=bool)
    for e, length in enumerate([9, 20, 1000]):
        t = state[:, 0]
        in_env = state[:, 1] == e
        ends = ((t + 1) % length == 0) | (t == 129)
        last_step |= in_env & ends
    assert np.all(future[~last_step] >= 1)
    assert np.all(future[last_step] == 0)


def test_offsets_follow_the_truncated_geometric_law() -> None:
    n = jnp.full((200_000,), 5)
    k = np.asarray(truncated_geometric(jax.random.PRNGKey(1), n, 0.7))
    weights = 0.7 ** np.arange(1, 6)
    expected = weights / weights.sum()
    freq = np.bincount(k, minlength=6)[1:] / len(k)
    np.testing.assert_allclose(freq, expected, atol=5e-3)
    assert k.min() == 1 and k.max() == 5


def test_long_trajectory_offsets_have_geometric_mean(wrapped_samples) -> None:
    _, batch, info = wrapped_samples
    state = np.asarray(batch.state)
    # Env 2 has one 1000-step episode: offsets are geometric(0.9) truncated at the buffer end.
    mask = (state[:, 1] == 2) & (state[:, 0] < 100)
    offsets = info["offset"][mask]
    n = 129 - state[mask, 0]
    expected = np.array(
        [
            (np.arange(1, m + 1) * 0.9 ** np.arange(1, m + 1)).sum()
            / (0.9 ** np.arange(1, m + 1)).sum()
            for m in n.astype(int)
        ]
    )
    assert abs(offsets.mean() - expected.mean()) < 0.1 * expected.mean()
