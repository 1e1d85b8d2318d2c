"""Seed groups (``hardware.seed_group``): seeds vmapped in one program, each written as if alone.

A seed's key stream in a group is its solo key stream (parameters after the first iteration
equal a solo run's to float tolerance); a seed that diverges fails alone; a group stopped and
started again resumes every seed with each evaluation once and the numbers of an uninterrupted
group; the planner groups only seeds of one config; run ids do not depend on the grouping.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pyarrow.parquet as pq
import pytest

from harness.plan import expand, seed_groups, state_bytes
from harness.runner import execute_group
from harness.seeds import SeedGroup
from harness.spec import RunConfig, Spec, SpecError, load_spec
from harness.train import Callbacks, Preempted, Trainer, train_group

SPEC = """
name: groups
env: {id: point_u_maze, episode_length: 40}
network: {critic_depth: 4, actor_depth: 4, width: 16, repr_dim: 8}
algo: {batch_size: 32, utd: 0.05}
data: {num_envs: 4, unroll_length: 20, total_env_steps: 1600, replay_size_per_env: 200,
       min_replay_per_env: 40}
eval: {num_envs: 4, num_evals: 3, last_k: 1}
seeds: [0, 1, 2]
hardware: {seed_group: 3, checkpoint_every_min: 0}
"""


_FOLDER: list[Path] = []


def load_spec_text(text: str, name: str) -> Spec:
    """The spec of ``text``, read from a file ``name`` (named in its errors)."""
    path = _FOLDER[0] / name
    path.write_text(text)
    return load_spec(path)


@pytest.fixture(scope="module", autouse=True)
def _folder(tmp_path_factory: pytest.TempPathFactory) -> None:
    _FOLDER[:] = [tmp_path_factory.mktemp("specs")]


@pytest.fixture(scope="module")
def spec(_folder: None) -> Spec:
    return load_spec_text(SPEC, "groups.yaml")


@pytest.fixture(scope="module")
def trainer(spec: Spec) -> Trainer:
    return Trainer(expand(spec)[0].config)


def _configs(spec: Spec, n: int) -> list[RunConfig]:
    return [run.config for run in expand(spec)[:n]]


def _leaves_close(a: Any, b: Any, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


@pytest.mark.slow  # .ci/run runs it after the default suite
def test_each_seed_keeps_its_solo_key_stream(trainer: Trainer) -> None:
    """After prefill and one iteration, every seed of a group of 2 holds the parameters and
    replay its solo run holds (to float tolerance: batched matmuls may sum in another order)."""
    keys = jnp.stack([jax.random.split(jax.random.PRNGKey(s), 3)[1] for s in (0, 1)])
    group = trainer.group(2)
    grouped, _ = group.iteration(group.prefill(group.init(keys)))
    for i in (0, 1):
        solo, _ = trainer.iteration(trainer.prefill(trainer.init(keys[i])))
        mine = group.take(grouped, i)
        _leaves_close(mine.agent.actor_params, solo.agent.actor_params)
        _leaves_close(mine.agent.critic_params, solo.agent.critic_params)
        np.testing.assert_array_equal(np.asarray(mine.replay.traj_id), solo.replay.traj_id)
        np.testing.assert_allclose(np.asarray(mine.replay.state), solo.replay.state, atol=1e-5)
    a, b = group.take(grouped, 0), group.take(grouped, 1)
    assert not np.allclose(np.asarray(a.replay.state), np.asarray(b.replay.state))


class _Poisoned(SeedGroup):
    """A group whose seed 1 starts with a NaN critic (its updates then diverge); it shares the
    compiled programs of ``base``."""

    def __init__(self, base: SeedGroup) -> None:
        self.__dict__.update(base.__dict__)

    def init(self, keys: jax.Array) -> Any:
        ts = super().init(keys)
        poison = jax.tree_util.tree_map(lambda x: x.at[1].set(jnp.nan), ts.agent.critic_params)
        return ts.replace(agent=ts.agent.replace(critic_params=poison))


@pytest.mark.slow  # .ci/run runs it after the default suite
def test_a_diverging_seed_fails_alone(spec: Spec, trainer: Trainer, tmp_path: Path) -> None:
    runs = expand(spec)[:2]
    base = trainer.group(2)
    trainer._groups[2] = _Poisoned(base)
    try:
        key = json.dumps(runs[0].config.model_dump(mode="json", exclude={"seed"}), sort_keys=True)
        outcomes = execute_group(spec, runs, tmp_path, {}, trainers={key: trainer})
    finally:
        trainer._groups[2] = base
    assert [o.status for o in outcomes] == ["completed", "failed"]
    assert "FloatingPointError" in (outcomes[1].error or "")
    good, bad = (tmp_path / "groups" / r.run_id for r in runs)
    record = json.loads((bad / "run.json").read_text())
    assert record["status"] == "failed" and record["error"]["type"] == "FloatingPointError"
    assert not (bad / "params").exists()
    evals = pq.read_table(good / "metrics.parquet").to_pylist()
    assert len({r["env_steps"] for r in evals if r["metric"] == "eval/time_at_goal"}) == 4
    assert json.loads((good / "run.json").read_text())["status"] == "completed"


@pytest.mark.slow  # .ci/run runs it after the default suite
def test_a_stopped_group_resumes_every_seed_exactly(
    spec: Spec, trainer: Trainer, tmp_path: Path
) -> None:
    """Preempted after its second evaluation and started again, a group ends with each
    evaluation once per seed and the final metrics of an uninterrupted group."""
    cfgs = _configs(spec, 2)
    whole = train_group(cfgs, None, trainer)
    stop = threading.Event()
    seen: list[list[int]] = [[], []]

    def hooks(i: int) -> Callbacks:
        def on_eval(point: dict[str, Any]) -> None:
            seen[i].append(point["env_steps"])
            if len(seen[i]) == 2:
                stop.set()

        return Callbacks(on_eval=on_eval)

    dirs = [tmp_path / f"seed{i}" / "checkpoint" for i in (0, 1)]
    with pytest.raises(Preempted):
        train_group(cfgs, [hooks(0), hooks(1)], trainer, dirs, 0.0, stop)
    stop.clear()
    resumed = train_group(cfgs, [hooks(0), hooks(1)], trainer, dirs, 0.0, stop)
    for i in (0, 1):
        assert len(seen[i]) == len(set(seen[i])) + 0 == 4  # before training + 3, each once
        final = resumed[i]
        assert isinstance(final, dict) and isinstance(whole[i], dict)
        assert "diag/phi_rank" in final  # diagnostics per seed, vmapped over the group
        for name in ("eval/time_at_goal", "eval/dist_mean", "train/critic_loss", "diag/phi_rank"):
            assert final[name] == pytest.approx(whole[i][name], rel=1e-4, abs=1e-5)
        assert (tmp_path / f"seed{i}" / "params").is_dir()


def test_seeds_at_other_iterations_do_not_resume_together(
    trainer: Trainer, spec: Spec, tmp_path: Path
) -> None:
    from harness.checkpoint import Checkpointer
    from harness.seeds import restore_group

    state = trainer.init(jax.random.PRNGKey(0))
    ckpts = [Checkpointer(tmp_path / str(i)) for i in (0, 1)]
    ckpts[0].save(3, state, {"iteration": 3})
    ckpts[1].save(5, state, {"iteration": 5})
    with pytest.raises(ValueError, match="different iterations"):
        restore_group(ckpts, jax.eval_shape(trainer.init, jax.random.PRNGKey(0)))
    for ckpt in ckpts:
        ckpt.close()


def test_groups_are_formed_from_one_config_and_keep_run_ids() -> None:
    text = SPEC.replace("seeds: [0, 1, 2]", "seeds: [0, 1, 2]\nsweep: {network.width: [16, 32]}")
    grouped = load_spec_text(text.replace("seed_group: 3", "seed_group: 2"), "g.yaml")
    alone = load_spec_text(text.replace("seed_group: 3", "seed_group: 1"), "a.yaml")
    runs = expand(grouped)
    assert [r.run_id for r in runs] == [r.run_id for r in expand(alone)]
    groups = seed_groups(runs, 2)
    assert [[r.config.seed for r in g] for g in groups] == [[0, 1], [2], [0, 1], [2]]
    assert {r.config.network.width for r in groups[1] + groups[0]} == {16}
    assert seed_groups(runs, 1) == [[r] for r in runs]
    assert seed_groups(runs[1:], 8)[0][0].config.seed == 1  # pending seeds only


def test_plan_states_the_group_memory_and_refuses_what_cannot_fit() -> None:
    from harness.plan import check_memory

    spec = load_spec_text(SPEC, "groups.yaml")
    one = state_bytes(expand(spec)[0].config, 1)
    assert one is not None and state_bytes(expand(spec)[0].config, 3) == 3 * one
    replay = 4 * 200 * 4 * (4 + 2 + 1)  # 200 steps x 4 envs x (state 4, action 2, traj id)
    assert one > replay
    fits = SPEC.replace(
        "checkpoint_every_min: 0", f"checkpoint_every_min: 0, device_memory_gb: {3 * one / 1e9}"
    )
    check_memory(load_spec_text(fits, "fits.yaml"), "fits.yaml")
    tight = SPEC.replace(
        "checkpoint_every_min: 0", f"checkpoint_every_min: 0, device_memory_gb: {2.5 * one / 1e9}"
    )
    with pytest.raises(SpecError, match=r"tight.yaml: hardware.seed_group: .* at most 2 seeds fit"):
        check_memory(load_spec_text(tight, "tight.yaml"), "tight.yaml")
