"""Training details that follow the reference code (docs/fidelity.md): the prefill collects
with the initialised actor, ``env.reset: first`` keeps each env's start and goal, evaluation
masks ended episodes by selection, and the new switches enter the run id."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from harness.plan import run_id
from harness.spec import RunConfig
from harness.train import Trainer, episode_metrics, schedule


def _config(**env: Any) -> RunConfig:
    return RunConfig.model_validate(
        {
            "env": {"id": "point_u_maze", "episode_length": 6, **env},
            "network": {"critic_depth": 4, "actor_depth": 4, "width": 16, "repr_dim": 8},
            "algo": {"batch_size": 16, "utd": 0.05},
            "data": {
                "num_envs": 8,
                "unroll_length": 20,
                "total_env_steps": 320,
                "replay_size_per_env": 40,
                "min_replay_per_env": 20,
            },
            "eval": {"num_envs": 4, "num_evals": 1},
        }
    )


@pytest.fixture(scope="module")
def trainer() -> Trainer:
    return Trainer(_config())


def _actions(ts: Any) -> np.ndarray:
    return np.asarray(ts.replay.action)


def test_prefill_collects_with_the_actor_by_default(trainer: Trainer) -> None:
    assert trainer.cfg.data.prefill == "actor" and trainer.sched.prefill_iters == 1
    key = jax.random.PRNGKey(0)
    prefilled = _actions(trainer.prefill(trainer.init(key)))
    by_actor = _actions(trainer.collect(trainer.init(key), jnp.asarray(False)))
    uniform = _actions(trainer.collect(trainer.init(key), jnp.asarray(True)))
    np.testing.assert_array_equal(prefilled, by_actor)
    assert not np.allclose(prefilled, uniform)
    # The stored actions are the actor's: tanh of a Gaussian around its mean on the stored
    # observations (z-scores of an N(0, 1) draw, not of uniform actions).
    ts = trainer.init(key)
    obs = ts.env_state.obs
    mean, log_std = trainer.agent.actor.apply(ts.agent.actor_params, obs)
    first = np.clip(prefilled[0], -1 + 1e-6, 1 - 1e-6)  # replay rows: [time, env]
    z = (np.arctanh(first) - np.asarray(mean)) / np.exp(np.asarray(log_std))
    assert np.abs(z).max() < 6.0


def test_uniform_prefill_is_a_switch(trainer: Trainer) -> None:
    # Same shapes, so the compiled collect is shared: swap the config instead of compiling a
    # second Trainer.
    default = trainer.cfg
    trainer.cfg = default.model_copy(
        update={"data": default.data.model_copy(update={"prefill": "uniform"})}
    )
    try:
        key = jax.random.PRNGKey(0)
        prefilled = _actions(trainer.prefill(trainer.init(key)))
        uniform = _actions(trainer.collect(trainer.init(key), jnp.asarray(True)))
    finally:
        trainer.cfg = default
    np.testing.assert_array_equal(prefilled, uniform)


def _goals_after_collect(trainer: Trainer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ts = trainer.init(jax.random.PRNGKey(1))
    first = np.asarray(ts.env_state.info["goal"])
    ts = trainer.collect(ts, jnp.asarray(False))
    return first, np.asarray(ts.env_state.info["goal"]), np.asarray(ts.traj_id)


def test_reset_first_keeps_each_envs_goal_across_episodes() -> None:
    first, later, traj_id = _goals_after_collect(Trainer(_config(reset="first")))
    assert (traj_id >= 3).all()  # 20 steps of 6-step episodes: three resets per env
    np.testing.assert_array_equal(later, first)


def test_reset_fresh_draws_new_goals(trainer: Trainer) -> None:
    assert trainer.cfg.env.reset == "fresh"
    first, later, traj_id = _goals_after_collect(trainer)
    assert (traj_id >= 3).all()
    assert not np.array_equal(later, first)


def test_new_switches_enter_the_run_id() -> None:
    base = _config()
    ids = {
        run_id(base),
        run_id(_config(reset="first")),
        run_id(_config(cell_jitter=0.5)),
        run_id(
            base.model_copy(update={"data": base.data.model_copy(update={"prefill": "uniform"})})
        ),
        run_id(
            base.model_copy(update={"algo": base.algo.model_copy(update={"tanh_log_det": "exact"})})
        ),
        run_id(base.model_copy(update={"data": base.data.model_copy(update={"sampler": "iid"})})),
    }
    assert len(ids) == 6


def test_option_an_env_does_not_have_is_refused() -> None:
    with pytest.raises(ValueError, match="contacts='feet' does not apply to env 'point_u_maze'"):
        _config(contacts="feet")
    with pytest.raises(ValueError, match=r"cell_jitter=0\.5 does not apply to env 'ant'"):
        RunConfig.model_validate({"env": {"id": "ant", "cell_jitter": 0.5}})
    with pytest.raises(ValueError, match=r"into a wall: at most 0\.8 m"):
        RunConfig.model_validate({"env": {"id": "ant_u4_maze", "cell_jitter": 1.0}})
    assert RunConfig.model_validate({"env": {"id": "ant_u4_maze", "cell_jitter": 0.5}})


def test_evaluation_ignores_nan_after_an_episode_ends() -> None:
    """An env that fell (done) may hold NaN in its later states; evaluation must not see it."""
    steps, n = 10, 3
    success = jnp.zeros((steps, n)).at[:4, 1].set(1.0)
    dist = jnp.ones((steps, n)).at[:4, 1].set(0.2)
    alive = jnp.ones((steps, n)).at[3:, 0].set(0.0)  # env 0 fell after 3 steps
    success = success.at[3:, 0].set(jnp.nan)
    dist = dist.at[3:, 0].set(jnp.nan)
    got = {k: float(v) for k, v in episode_metrics(success, dist, alive).items()}
    assert got == pytest.approx(
        {
            "time_at_goal": 4 / 3,
            "success_any": 1 / 3,
            "dist_mean": (1.0 + (4 * 0.2 + 6) / 10 + 1.0) / 3,
            "alive_steps": (3 + 10 + 10) / 3,
        }
    )


def test_sampler_enters_only_the_ids_of_runs_that_read_it() -> None:
    """data.sampler changes online geometric relabelling (crl, gcbc) only: the ids of TD, GCSL
    and offline runs do not depend on it."""

    def ids(update: dict) -> set[str]:
        return {
            run_id(RunConfig.model_validate({**update, "data": {**update.get("data", {}), **s}}))
            for s in ({"sampler": "window"}, {"sampler": "iid"})
        }

    assert len(ids({})) == 2
    assert len(ids({"algo": {"name": "gcbc"}})) == 2
    assert len(ids({"algo": {"name": "sac_her"}})) == 1
    assert len(ids({"algo": {"name": "gcsl"}})) == 1
    offline = {"data": {"mode": "offline", "dataset": "pointmaze-medium-navigate-v0"}}
    assert len(ids(offline)) == 1


def test_paper_schedule_is_the_references() -> None:
    """The paper's defaults give the reference's iteration (scaling-crl ``train.py:274-283``,
    ``job.slurm``): 512 envs x 62 steps, ceil(1000 / 62) = 17 prefill unrolls, 794 gradient
    steps of batch 512 per iteration (the reference: 800), the window relabelling over
    1000-step episodes, 100 evaluations of 128 envs, the last 5 averaged."""
    cfg = RunConfig.model_validate({"env": {"id": "ant_big_maze"}})
    sched = schedule(cfg)
    assert (sched.steps_per_iter, sched.prefill_iters) == (512 * 62, 17)
    assert sched.grad_steps_per_iter == 794 and cfg.algo.batch_size == 512
    assert cfg.data.sampler == "window" and sched.episode_length == 1000
    assert cfg.algo.discount == 0.99 and cfg.data.replay_size_per_env == 10_000
    assert (cfg.eval.num_envs, len(sched.eval_iters), cfg.eval.last_k) == (128, 100, 5)
    # 3134 training iterations for 100M env steps; the reference floors per epoch: 31 x 100.
    assert sched.num_iters == 3134
