"""Baselines (SAC, SAC+HER, TD3+HER, GCBC, GCSL; Wang et al. 2025, Fig. 13): each loss against a
direct NumPy computation on fixed inputs, the TD transition sampler on a hand-made replay, the
spec's per-algorithm sections, and one tiny spec that runs every baseline to Parquet and a
report by algorithm and depth.

Compile time dominates (2-core CPU): the unit checks use unscanned networks (``network.scan:
false``, cheap op by op) and XLA's optimisations are off for this module (:func:`_fast_compile`),
while the end-to-end spec keeps the default scanned networks.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pyarrow.parquet as pq
import pytest

from harness.agents import batch_kind, make_agent
from harness.agents.crl import Batch
from harness.agents.gcsl import tanh_gaussian_log_prob
from harness.agents.td import Transition, td_target, twin_q_loss
from harness.cli import main
from harness.plan import expand, run_id
from harness.replay import replay_add, replay_init, sample_future, sample_transitions
from harness.spec import RunConfig, SpecError, load_spec

B, S, G, A = 6, 4, 2, 2  # batch, state, goal and action sizes of the unit checks


@pytest.fixture(scope="module", autouse=True)
def _fast_compile() -> Iterator[None]:
    """XLA without its optimisation passes for this module (cheaper compiles, same results up
    to float rounding); the previous setting is restored afterwards."""
    previous = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", previous)


def _cfg(name: str, **algo: object) -> RunConfig:
    return RunConfig.model_validate(
        {
            "network": {
                "critic_depth": 4,
                "actor_depth": 4,
                "width": 8,
                "repr_dim": 4,
                "scan": False,
            },
            "algo": {"name": name, **algo},
        }
    )


def _np(x: jax.Array) -> np.ndarray:
    return np.asarray(x, np.float64)


@pytest.fixture(scope="module")
def transitions() -> Transition:
    rng = np.random.default_rng(0)
    f = lambda *shape: jnp.asarray(rng.normal(size=shape), jnp.float32)  # noqa: E731
    return Transition(
        state=f(B, S),
        action=jnp.tanh(f(B, A)),
        next_state=f(B, S),
        goal=f(B, G),
        reward=jnp.asarray([1, 0, 0, 1, 0, 0], jnp.float32),
        mask=jnp.asarray([1, 1, 0, 1, 1, 0], jnp.float32),
    )


def test_td_target_and_twin_loss_match_numpy() -> None:
    reward = np.array([0.0, 1.0, 0.0, 1.0])
    mask = np.array([1.0, 1.0, 0.0, 0.0])  # the last two are terminal: no bootstrap
    next_value = np.array([2.0, -1.0, 5.0, 3.0])
    got = td_target(jnp.asarray(reward), jnp.asarray(mask), 0.99, jnp.asarray(next_value))
    np.testing.assert_allclose(_np(got), [1.98, 0.01, 0.0, 1.0], rtol=1e-6, atol=1e-6)
    q = np.array([[1.0, 2.0], [0.0, 0.5], [3.0, -1.0], [1.0, 1.0]])
    target = np.array([1.5, 0.0, 0.0, 2.0])
    expected = 0.5 * np.mean((q - target[:, None]) ** 2)
    assert float(twin_q_loss(jnp.asarray(q), jnp.asarray(target))) == pytest.approx(expected)


def test_sac_losses_match_numpy(transitions: Transition) -> None:
    agent = make_agent(_cfg("sac", discount=0.9), S, G, A)
    state = agent.init(jax.random.PRNGKey(0))
    # Distinct online and target critics, alpha = e^0.3.
    target_params = jax.tree_util.tree_map(lambda x: x * 0.5 + 0.01, state.critic_params)
    log_alpha = jnp.asarray(0.3)
    key = jax.random.PRNGKey(7)
    loss, metrics = agent.critic_loss(
        state.critic_params, target_params, state.actor_params, log_alpha, transitions, key
    )
    t = transitions
    next_a, next_logp = agent._policy(state.actor_params, t.next_state, t.goal, key)
    next_q = _np(agent.q(target_params, t.next_state, next_a, t.goal))
    q = _np(agent.q(state.critic_params, t.state, t.action, t.goal))
    alpha = np.exp(0.3)
    soft = next_q.min(axis=1) - alpha * _np(next_logp)  # entropy bonus in the soft value
    target = _np(t.reward) + 0.9 * _np(t.mask) * soft
    expected = 0.5 * np.mean((q - target[:, None]) ** 2)
    assert float(loss) == pytest.approx(expected, rel=1e-4)
    assert float(metrics["target_q"]) == pytest.approx(target.mean(), rel=1e-4, abs=1e-5)

    actor_loss, logp = agent.actor_loss(state.actor_params, state.critic_params, log_alpha, t, key)
    a, logp_ref = agent._policy(state.actor_params, t.state, t.goal, key)
    q_pi = _np(agent.q(state.critic_params, t.state, a, t.goal)).min(axis=1)
    np.testing.assert_allclose(_np(logp), _np(logp_ref), rtol=1e-5)
    assert float(actor_loss) == pytest.approx(np.mean(alpha * _np(logp) - q_pi), rel=1e-4)

    # Temperature: target entropy -1 * action_dim (Haarnoja et al. 2018b).
    alpha_loss = agent.alpha_loss(log_alpha, logp)
    assert float(alpha_loss) == pytest.approx(np.mean(alpha * (-_np(logp) + 1.0 * A)), rel=1e-4)


def test_sac_update_moves_targets_by_tau(transitions: Transition) -> None:
    agent = make_agent(_cfg("sac_her", sac={"tau": 0.25}), S, G, A)
    state = agent.init(jax.random.PRNGKey(1))
    new, metrics = agent.update(state, transitions, jax.random.PRNGKey(2))
    for old_t, new_c, new_t in zip(
        jax.tree_util.tree_leaves(state.target_critic_params),
        jax.tree_util.tree_leaves(new.critic_params),
        jax.tree_util.tree_leaves(new.target_critic_params),
        strict=True,
    ):
        np.testing.assert_allclose(
            _np(new_t), 0.75 * _np(old_t) + 0.25 * _np(new_c), rtol=1e-5, atol=1e-7
        )
    assert float(metrics["reward"]) == pytest.approx(2 / 6)
    assert {"critic_loss", "actor_loss", "alpha", "entropy", "q"} <= set(metrics)


def test_td3_losses_match_numpy(transitions: Transition) -> None:
    agent = make_agent(_cfg("td3_her", discount=0.95), S, G, A)
    state = agent.init(jax.random.PRNGKey(3))
    target_actor = jax.tree_util.tree_map(lambda x: x * 1.5, state.actor_params)
    target_critic = jax.tree_util.tree_map(lambda x: x * 0.5 - 0.02, state.critic_params)
    key = jax.random.PRNGKey(11)
    t = transitions
    loss, _ = agent.critic_loss(state.critic_params, target_critic, target_actor, t, key)

    obs_next = np.concatenate([_np(t.next_state), _np(t.goal)], axis=1)
    mean, _ = agent.actor.apply(target_actor, jnp.asarray(obs_next, jnp.float32))
    mu_next = np.tanh(_np(mean))
    noise = 0.2 * _np(jax.random.normal(key, mu_next.shape))  # target policy smoothing
    a_next = np.clip(mu_next + np.clip(noise, -0.5, 0.5), -1.0, 1.0)
    next_q = _np(agent.q(target_critic, t.next_state, jnp.asarray(a_next, jnp.float32), t.goal))
    target = _np(t.reward) + 0.95 * _np(t.mask) * next_q.min(axis=1)  # clipped double Q
    q = _np(agent.q(state.critic_params, t.state, t.action, t.goal))
    assert float(loss) == pytest.approx(0.5 * np.mean((q - target[:, None]) ** 2), rel=1e-4)

    obs = np.concatenate([_np(t.state), _np(t.goal)], axis=1)
    mean, _ = agent.actor.apply(state.actor_params, jnp.asarray(obs, jnp.float32))
    mu = jnp.asarray(np.tanh(_np(mean)), jnp.float32)
    q1 = _np(agent.q(state.critic_params, t.state, mu, t.goal))[:, 0]
    actor_loss = agent.actor_loss(state.actor_params, state.critic_params, t)
    assert float(actor_loss) == pytest.approx(-q1.mean(), rel=1e-4)


def test_td3_updates_the_actor_every_second_step(transitions: Transition) -> None:
    agent = make_agent(_cfg("td3_her"), S, G, A)
    update = jax.jit(agent.update)
    s0 = agent.init(jax.random.PRNGKey(4))
    s1, m1 = update(s0, transitions, jax.random.PRNGKey(5))
    s2, m2 = update(s1, transitions, jax.random.PRNGKey(6))

    def same(a: object, b: object) -> bool:
        return all(
            np.array_equal(x, y)
            for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True)
        )

    assert same(s0.actor_params, s1.actor_params) and same(
        s0.target_critic_params, s1.target_critic_params
    )
    assert float(m1["actor_loss"]) == 0.0 and not same(s0.critic_params, s1.critic_params)
    assert not same(s1.actor_params, s2.actor_params) and float(m2["actor_loss"]) != 0.0
    assert not same(s1.target_actor_params, s2.target_actor_params)


def test_gcbc_and_gcsl_log_likelihoods_match_numpy(transitions: Transition) -> None:
    t = transitions
    batch = Batch(t.state, t.action, t.goal)
    obs = jnp.concatenate([t.state, t.goal], axis=1)

    gcbc = make_agent(_cfg("gcbc"), S, G, A)
    params = gcbc.init(jax.random.PRNGKey(8)).actor_params
    mean, _ = gcbc.actor.apply(params, obs)
    # Unit-variance Gaussian at tanh(mean): the NLL up to its constant (OGBench's GCBC).
    expected = np.mean(0.5 * np.sum((np.tanh(_np(mean)) - _np(t.action)) ** 2, axis=1))
    assert float(gcbc.loss(params, batch)[0]) == pytest.approx(expected, rel=1e-5)

    gcsl = make_agent(_cfg("gcsl"), S, G, A)
    params = gcsl.init(jax.random.PRNGKey(9)).actor_params
    mean, log_std = (_np(x) for x in gcsl.actor.apply(params, obs))
    a = np.clip(_np(t.action), -1 + 1e-6, 1 - 1e-6)
    u = np.arctanh(a)
    std = np.exp(log_std)
    log_normal = -0.5 * ((u - mean) / std) ** 2 - np.log(std * np.sqrt(2 * np.pi))
    log_lik = np.sum(log_normal - np.log(1 - a**2), axis=1)  # tanh change of variables
    loss, metrics = gcsl.loss(params, batch)
    assert float(loss) == pytest.approx(-log_lik.mean(), rel=1e-4)
    assert float(metrics["log_std"]) == pytest.approx(log_std.mean(), rel=1e-5)
    # Densities integrate to 1 over (-1, 1): a 1-D check of the change of variables.
    grid = jnp.linspace(-0.99999, 0.99999, 200001)[:, None]
    density = jnp.exp(
        tanh_gaussian_log_prob(jnp.full_like(grid, 0.3), jnp.full_like(grid, -0.7), grid)
    )
    assert float(jnp.sum(density) * (grid[1, 0] - grid[0, 0])) == pytest.approx(1.0, abs=2e-3)


def _replay():
    """2 envs, 12 steps. Env 0: episodes of 5 steps cut by the time limit (traj 0: t 0-4,
    traj 1: t 5-9, traj 2: t 10-11). Env 1: an unhealthy end at t 3 (terminal), then one
    episode. state[t, e] = (t, e, 10 t, traj); goal = (100 + traj, e)."""
    T, E = 12, 2
    tid = np.zeros((T, E), np.int32)
    tid[:, 0] = np.arange(T) // 5
    tid[:, 1] = (np.arange(T) > 3).astype(np.int32)
    terminal = np.zeros((T, E), bool)
    terminal[3, 1] = True
    t = np.broadcast_to(np.arange(T)[:, None], (T, E))
    e = np.broadcast_to(np.arange(E)[None], (T, E))
    state = np.stack([t, e, 10 * t, tid], -1).astype(np.float32)
    goal = np.stack([100 + tid, e], -1).astype(np.float32)
    action = np.zeros((T, E, 1), np.float32)
    replay = replay_init(16, E, 4, 1, goal_dim=2)
    replay = replay_add(replay, *(jnp.asarray(x) for x in (state, action, tid, goal, terminal)))
    return replay, tid


def test_transition_sampler_next_states_masks_and_her_goals() -> None:
    replay, tid = _replay()
    sampler = jax.jit(sample_transitions, static_argnums=(2, 3, 4, 5))
    batch, info = sampler(replay, jax.random.PRNGKey(0), 4000, (0, 1), 0.5, 0.8)
    batch, info = jax.device_get((batch, info))
    t, e = batch.state[:, 0].astype(int), batch.state[:, 1].astype(int)
    cont = batch.mask == 1
    # Continuing transitions: s' is the next row of the same env and trajectory.
    np.testing.assert_array_equal(batch.next_state[cont, 0], t[cont] + 1)
    np.testing.assert_array_equal(batch.next_state[cont, 1], e[cont])
    np.testing.assert_array_equal(batch.next_state[cont, 3], batch.state[cont, 3])
    # The only terminal step is env 1, t 3: mask 0 and reward 0 there.
    assert set(zip(t[~cont], e[~cont], strict=True)) == {(3, 1)}
    assert np.all(batch.reward[~cont] == 0)
    # Last steps of time-limited trajectories (t 4, 9 in env 0) are never sampled, nor the newest.
    assert not np.any((e == 0) & np.isin(t, [4, 9, 11]))
    assert info["valid"].all()
    # HER: about 80 % of the continuing transitions relabelled, to a later state of the trajectory.
    rel = info["relabelled"]
    assert 0.75 < rel[cont].mean() < 0.85 and not rel[~cont].any()
    j = info["j"][rel]
    assert np.all(j > t[rel]) and np.all(tid[j, e[rel]] == tid[t[rel], e[rel]])
    np.testing.assert_array_equal(batch.goal[rel], np.stack([j, e[rel]], -1))
    # Others keep the goal commanded at step i.
    np.testing.assert_array_equal(batch.goal[~rel, 0], 100 + tid[t[~rel], e[~rel]])
    # Reward: 1 iff ||s'[goal_indices] - g|| < 0.5, i.e. the goal is exactly s' here.
    hit = (batch.goal[:, 0] == batch.next_state[:, 0]) & (
        batch.goal[:, 1] == batch.next_state[:, 1]
    )
    np.testing.assert_array_equal(batch.reward, (hit & cont).astype(np.float32))
    assert batch.reward.sum() > 0
    # Without HER (plain SAC) goals are never relabelled.
    plain, info = sampler(replay, jax.random.PRNGKey(1), 500, (0, 1), 0.5, 0.0)
    assert not np.asarray(info["relabelled"]).any()
    i, e = np.asarray(info["i"]), np.asarray(info["env"])
    np.testing.assert_array_equal(np.asarray(plain.goal[:, 0]), 100 + tid[i, e])


def test_future_sampler_is_uniform_within_the_horizon() -> None:
    replay, tid = _replay()
    batch, info = jax.device_get(
        jax.jit(sample_future, static_argnums=(2, 3, 4))(
            replay, jax.random.PRNGKey(2), 6000, (0, 1), 2
        )
    )
    i, j, env = info["i"], info["j"], info["env"]
    assert np.all((info["offset"] >= 0) & (info["offset"] <= 2))
    assert np.all(tid[j, env] == tid[i, env])
    # Env 0, t = 0 (four future steps; horizon 2): offsets 1 and 2 equally often.
    pick = (env == 0) & (i == 0)
    share = np.mean(info["offset"][pick] == 1)
    assert pick.sum() > 100 and 0.35 < share < 0.65
    np.testing.assert_array_equal(batch.goal[:, 0], j)


def test_spec_sections_fit_the_algorithm(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    cases = {
        "algo: {name: sac, td3: {tau: 0.01}}": "algo.td3 is set but algo.name is sac",
        "algo: {name: crl, her: {}}": "algo.her is set but algo.name is crl",
        "algo: {name: sac, her: {relabel_prob: 0.5}}": "algo.her is set but algo.name is sac",
        "algo: {name: gcsl, bc_alpha: 0.1}": "algo.bc_alpha is set but algo.name is gcsl",
        "algo: {name: td3_her, td3: {policy_delay: 0}}": "greater than 0",
        "algo: {name: sac_her, her: {relabel_prob: 1.5}}": "less than or equal to 1",
        "algo: {name: sac_her, sac: {tua: 0.1}}": "unknown field",
        "algo: {name: sac}\nsweep: {algo.sac.taux: [0.1]}": "algo.sac has no field 'taux'",
        "algo: {name: ddpg}": "unknown algorithm .ddpg.; one of crl, sac, sac_her",
        "algo: {name: sac}\ndata: {mode: offline, dataset: pointmaze-medium-navigate-v0}": (
            "runs online only"
        ),
    }
    for text, message in cases.items():
        spec.write_text(text + "\n")
        with pytest.raises(SpecError, match=message):
            load_spec(spec)
    # Sweeps over the algorithm and over a baseline's setting.
    spec.write_text(
        "algo: {name: sac_her}\nsweep: {algo.sac.tau: [0.005, 0.01], algo.her.relabel_prob: [0.5]}\n"
    )
    runs = expand(load_spec(spec))
    assert [r.config.algo.resolved_sac.tau for r in runs] == [0.005, 0.01]
    assert runs[0].config.algo.resolved_her.relabel_prob == 0.5
    spec.write_text("sweep: {algo.name: [crl, sac, sac_her, td3_her, gcbc, gcsl]}\n")
    runs = expand(load_spec(spec))
    assert len({r.run_id for r in runs}) == 6
    # A crl config hashes as before the baselines existed (None-valued sections left out).
    crl = runs[0].config
    dump = crl.model_dump(mode="json", exclude_none=True)
    assert "sac" not in dump["algo"] and run_id(crl) == runs[0].run_id
    spec.write_text("algo: {name: sac}\nsweep: {algo.sac.tau: [0.005]}\n")
    assert expand(load_spec(spec))[0].config.algo.sac is not None
    assert [batch_kind(n) for n in ("crl", "gcbc", "gcsl", "sac", "td3_her")] == [
        "geometric",
        "geometric",
        "future",
        "transition",
        "transition",
    ]


TINY = """
name: tiny_baselines
env: {id: point_u_maze, episode_length: 40}
network: {critic_depth: 4, actor_depth: 4, width: 16, repr_dim: 8}
algo: {batch_size: 32, utd: 0.05}
data: {num_envs: 4, unroll_length: 20, total_env_steps: 320, replay_size_per_env: 200,
       min_replay_per_env: 40}
eval: {num_envs: 4, num_evals: 1, last_k: 1}
sweep:
  algo.name: [sac, sac_her, td3_her, gcbc, gcsl]
"""


@pytest.mark.slow  # five trainings (72-82 s); .ci/run runs it after the default suite
def test_every_baseline_runs_a_tiny_spec_to_parquet_and_report(tmp_path: Path) -> None:
    spec = tmp_path / "tiny_baselines.yaml"
    spec.write_text(TINY)
    results = tmp_path / "results"
    assert main(["run", str(spec), "--results", str(results)]) == 0
    algos = {}
    for run_dir in (results / "tiny_baselines").iterdir():
        if not (run_dir / "run.json").exists():
            continue
        assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"
        df = pq.read_table(run_dir / "metrics.parquet").to_pandas()
        algo = df["algo"].iloc[0]
        algos[algo] = set(df["metric"])
        assert (run_dir / "params").is_dir()
        tag = df[df["metric"] == "eval/time_at_goal"]
        assert len(tag) == 2 and ((tag["value"] >= 0) & (tag["value"] <= 40)).all()
    assert sorted(algos) == ["gcbc", "gcsl", "sac", "sac_her", "td3_her"]
    for algo in ("sac", "sac_her", "td3_her"):
        assert {"train/critic_loss", "train/actor_loss", "train/q", "train/reward"} <= algos[algo]
    assert "train/alpha" in algos["sac"] and "train/alpha" not in algos["td3_her"]
    assert "train/actor_loss" in algos["gcsl"] and "train/critic_loss" not in algos["gcbc"]

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(
            [
                "report",
                str(results / "tiny_baselines"),
                "--by",
                "algo.name",
                "network.critic_depth",
                "--json",
            ]
        )
    assert code == 0
    groups = json.loads(out.getvalue())["groups"]
    assert sorted(g["algo.name"] for g in groups) == sorted(algos)
    assert {g["network.critic_depth"] for g in groups} == {4}
