"""Replay and geometric hindsight relabelling: future-only, same trajectory, geometric weights."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from harness.replay import (
    goal_offset_pmf,
    replay_add,
    replay_init,
    sample,
    sample_window,
    truncated_geometric,
    window_offset,
)


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


# --- The reference's window relabelling (data.sampler: window) against the exact laws ---------

WINDOW, DISCOUNT, CAPACITY, NUM_ENVS, WRITTEN = 30, 0.95, 120, 4, 310


def _random_episodes() -> np.ndarray:
    """Trajectory ids ``[WRITTEN, NUM_ENVS]`` of episodes of irregular lengths (2 to 80 steps,
    some envs with long ones), as terminations and time limits would cut them."""
    rng = np.random.default_rng(7)
    tids = np.zeros((WRITTEN, NUM_ENVS), np.int32)
    for e, longest in enumerate([6, 25, 45, 80]):
        t, tid = 0, 0
        while t < WRITTEN:
            length = int(rng.integers(2, longest + 1))
            tids[t : t + length, e] = tid
            t, tid = t + length, tid + 1
    return tids


@pytest.fixture(scope="module")
def window_replay():
    """A wrapped ring (310 steps into 120 rows): its first and last episodes are cut, windows
    of 30 steps straddle episodes. state[t, e] = (time, env, traj id)."""
    tids = _random_episodes()
    replay = replay_init(CAPACITY, NUM_ENVS, 3, 1)
    times = np.arange(WRITTEN, dtype=np.float32)
    states = np.stack(
        [
            np.broadcast_to(times[:, None], tids.shape),
            np.broadcast_to(np.arange(NUM_ENVS, dtype=np.float32)[None], tids.shape),
            tids.astype(np.float32),
        ],
        axis=-1,
    )
    for start in range(0, WRITTEN, 62):
        sl = slice(start, start + 62)
        replay = replay_add(
            replay,
            jnp.asarray(states[sl]),
            jnp.zeros((*states[sl].shape[:2], 1), jnp.float32),
            jnp.asarray(tids[sl]),
        )
    return replay, tids[-CAPACITY:]


def _chi_square_p(samples: np.ndarray, pmf: np.ndarray) -> float:
    """p-value of a chi-square goodness-of-fit test, neighbouring offsets merged until each
    bin expects at least 5 draws."""
    from scipy import stats

    n = len(samples)
    observed = np.bincount(samples, minlength=len(pmf)).astype(float)
    assert len(observed) == len(pmf), "a sampled offset has probability 0"
    bins_obs, bins_exp, acc_o, acc_e = [], [], 0.0, 0.0
    for o, p in zip(observed, pmf * n, strict=True):
        acc_o, acc_e = acc_o + o, acc_e + p
        if acc_e >= 5:
            bins_obs.append(acc_o)
            bins_exp.append(acc_e)
            acc_o = acc_e = 0.0
    bins_obs[-1] += acc_o
    bins_exp[-1] += acc_e
    return float(stats.chisquare(bins_obs, bins_exp).pvalue)


@pytest.mark.parametrize("sampler", ["window", "iid"])
def test_goal_offsets_follow_the_exact_law(window_replay, sampler: str) -> None:
    replay, tids = window_replay
    pmf = goal_offset_pmf(tids, sampler, DISCOUNT, WINDOW)
    assert abs(pmf.sum() - 1.0) < 1e-9
    if sampler == "window":
        draw = jax.jit(sample_window, static_argnums=(2, 3, 4, 5))
        _, info = draw(replay, jax.random.PRNGKey(3), 60_000, DISCOUNT, (0, 1, 2), WINDOW)
    else:
        draw = jax.jit(sample, static_argnums=(2, 3, 4))
        _, info = draw(replay, jax.random.PRNGKey(3), 60_000, DISCOUNT, (0, 1, 2))
    offsets = np.asarray(info["offset"])
    assert _chi_square_p(offsets, pmf) > 1e-3
    # The test can tell the two laws apart: the other sampler's law is rejected.
    other = goal_offset_pmf(tids, "iid" if sampler == "window" else "window", DISCOUNT, WINDOW)
    impossible = offsets.max() >= len(other)  # an offset the other law cannot give
    assert impossible or _chi_square_p(offsets, other) < 1e-6


def test_window_and_iid_laws_differ_where_the_window_cuts(window_replay) -> None:
    """The window cuts goals nearer than the trajectory alone: a smaller mean offset."""
    _, tids = window_replay
    window = goal_offset_pmf(tids, "window", DISCOUNT, WINDOW)
    iid = goal_offset_pmf(tids, "iid", DISCOUNT)
    mean = lambda pmf: float(np.arange(len(pmf)) @ pmf)  # noqa: E731
    assert mean(window) < mean(iid) - 0.5
    assert window.argmax() == iid.argmax() == 1
    # The window never reaches WINDOW - 1 steps ahead or more; trajectories of 80 steps do.
    assert len(window) <= WINDOW and len(iid) > WINDOW


def test_window_goals_stay_in_the_window_and_the_trajectory(window_replay) -> None:
    replay, _ = window_replay
    batch, info = jax.jit(sample_window, static_argnums=(2, 3, 4, 5))(
        replay, jax.random.PRNGKey(5), 20_000, DISCOUNT, (0, 1, 2), WINDOW
    )
    state, goal = np.asarray(batch.state), np.asarray(batch.goal)
    info = jax.device_get(info)
    oldest = WRITTEN - CAPACITY
    start = info["start"] + oldest  # global time of each window's first step
    assert np.all(goal[:, 1] == state[:, 1]) and np.all(goal[:, 2] == state[:, 2])
    assert np.all(state[:, 0] >= start) and np.all(state[:, 0] <= start + WINDOW - 2)
    assert np.all(goal[:, 0] >= state[:, 0]) and np.all(goal[:, 0] <= start + WINDOW - 1)
    # Window starts cover [0, size - WINDOW - 1]: the newest stored step is never drawn.
    assert info["start"].min() == 0 and info["start"].max() == CAPACITY - WINDOW - 1
    assert state[:, 0].max() <= WRITTEN - 2


def test_window_offset_takes_the_own_state_only_without_a_later_one() -> None:
    n = jnp.asarray(np.repeat([0, 1, 50], 100_000))
    k = np.asarray(window_offset(jax.random.PRNGKey(2), n, 0.99)).reshape(3, -1)
    assert np.all(k[0] == 0) and np.all(k[1] == 1)  # P(self) = 1e-5 / 1.00001 at n = 1
    assert k[2].min() >= 1 and k[2].max() <= 50
