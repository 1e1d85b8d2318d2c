"""Offline datasets and training: generated point-maze data loads with ogbench's own loader,
goal sampling stays inside trajectories, a missing dataset is bad input (exit 2, nothing
written), an online replay exports to a loadable dataset, and a tiny offline run writes Parquet
with OGBench's per-task evaluation.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import ogbench
import pyarrow.parquet as pq
import pytest

from harness.cli import main
from harness.datasets import (
    DatasetError,
    export_run,
    generate_pointmaze,
    ogbench_env_name,
    replay_trajectories,
    save_replay,
)
from harness.offline import OfflineData, sample, to_device
from harness.replay import replay_add, replay_init
from harness.spec import RunConfig, SpecError, load_spec
from harness.store import METRICS_SCHEMA

NAME = "pointmaze-medium-navigate-v0"
EPISODES, STEPS = 3, 60


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 + 1 generated point-maze episodes of 60 steps."""
    out = tmp_path_factory.mktemp("data")
    made = generate_pointmaze(NAME, out, EPISODES, seed=1, episode_steps=STEPS)
    assert made.train_steps == EPISODES * STEPS and made.val_steps == STEPS
    return out


def test_generated_files_load_with_ogbench_loader(tiny_data: Path) -> None:
    raw = np.load(tiny_data / f"{NAME}.npz")
    assert sorted(raw.files) == ["actions", "observations", "qpos", "qvel", "terminals"]
    assert raw["observations"].dtype == np.float32 and raw["terminals"].dtype == bool
    # One terminal at the end of every episode, nowhere else.
    assert np.flatnonzero(raw["terminals"]).tolist() == [
        (k + 1) * STEPS - 1 for k in range(EPISODES)
    ]
    assert np.abs(raw["actions"]).max() <= 1.0
    # Point mazes: the observation is the position (qpos), recorded before each step.
    np.testing.assert_allclose(raw["observations"], raw["qpos"])
    # ogbench's own loader reads the files unchanged; the env builds without a download.
    env, train, val = ogbench.make_env_and_datasets(NAME, dataset_dir=str(tiny_data))
    assert train["observations"].shape == (EPISODES * (STEPS - 1), 2)
    assert train["actions"].shape == (EPISODES * (STEPS - 1), 2)
    assert val["observations"].shape == (STEPS - 1, 2)
    assert train["terminals"].sum() == EPISODES
    steps = np.linalg.norm(train["next_observations"] - train["observations"], axis=1)
    assert steps.max() < 0.3  # consecutive states of one trajectory (0.2 * |action| per step)
    assert env.observation_space.shape == (2,)


def test_generate_refuses_non_point_mazes(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="expert"):
        generate_pointmaze("antmaze-large-navigate-v0", tmp_path, 1)
    with pytest.raises(DatasetError, match="not an OGBench dataset name"):
        ogbench_env_name("pointmaze")
    assert not any(tmp_path.iterdir())


def _trajectories(lengths: list[int], obs_dim: int = 3) -> dict[str, np.ndarray]:
    """Transitions of trajectories of the given lengths; obs[:, 0] = trajectory, obs[:, 1] =
    time, as ogbench's loader returns them."""
    obs, terminals = [], []
    for t, length in enumerate(lengths):
        for i in range(length):
            obs.append([t, i] + [0.0] * (obs_dim - 2))
            terminals.append(i == length - 1)
    n = len(obs)
    return {
        "observations": np.asarray(obs, np.float32),
        "actions": np.zeros((n, 2), np.float32),
        "terminals": np.asarray(terminals, np.float32),
    }


def test_goal_sampling_stays_inside_trajectories() -> None:
    data: OfflineData = to_device(_trajectories([1, 5, 40, 200]))
    critic, actor, info = jax.jit(sample, static_argnums=(2, 3, 4, 5))(
        data, jax.random.PRNGKey(0), 4096, 0.9, None, 0.0
    )
    idx, c_goal, a_goal = (np.asarray(info[k]) for k in ("idx", "critic_goal", "actor_goal"))
    final = np.asarray(data.final)[idx]
    for goal in (c_goal, a_goal):
        assert (goal >= np.minimum(idx + 1, final)).all() and (goal <= final).all()
    obs = np.asarray(data.observations)
    # Goals are observations of the same trajectory, later in time.
    np.testing.assert_array_equal(np.asarray(critic.goal)[:, 0], obs[idx, 0])
    np.testing.assert_array_equal(np.asarray(actor.goal)[:, 0], obs[idx, 0])
    assert (np.asarray(critic.goal)[:, 1] > obs[idx, 1]).sum() > 0.9 * len(idx)
    np.testing.assert_array_equal(np.asarray(critic.state), obs[idx])
    # Critic offsets are geometric (mean 1 / (1 - 0.9) = 10, capped by the trajectory end);
    # actor offsets uniform over the rest of the trajectory (larger in long trajectories).
    long = final - idx > 100
    assert 7 < (c_goal - idx)[long].mean() < 13
    assert (a_goal - idx)[long].mean() > 40

    _, actor_mixed, info = sample(data, jax.random.PRNGKey(1), 4096, 0.9, (1,), 0.5)
    assert np.asarray(actor_mixed.goal).shape == (4096, 1)
    idx, goal = np.asarray(info["idx"]), np.asarray(info["actor_goal"])
    outside = (goal < idx) | (goal > np.asarray(data.final)[idx])
    assert 0.2 < outside.mean() < 0.5  # random goals, half of them (minus lucky hits)


def test_replay_exports_to_an_ogbench_dataset(tmp_path: Path) -> None:
    # Two envs, 12 steps each, episodes ending at different times; a 10-row ring drops the
    # two oldest steps.
    replay = replay_init(10, 2, 4, 2)
    ids = np.array([[0, 0], [0, 0], [0, 1], [1, 1], [1, 1], [1, 1], [1, 2], [2, 2], [2, 2],
                    [2, 2], [2, 2], [3, 2]])  # fmt: skip
    states = np.arange(12 * 2 * 4, dtype=np.float32).reshape(12, 2, 4)
    actions = np.full((12, 2, 2), 0.5, np.float32)
    replay = replay_add(replay, jnp.asarray(states[:6]), jnp.asarray(actions[:6]), ids[:6])
    replay = replay_add(replay, jnp.asarray(states[6:]), jnp.asarray(actions[6:]), ids[6:])
    traj = replay_trajectories(replay)
    # env 0 keeps steps 2..11: ids 0 (1 step, dropped), 1 (4), 2 (4), 3 (1, dropped);
    # env 1 keeps steps 2..11: ids 1 (4), 2 (6).
    assert np.flatnonzero(traj["terminals"]).tolist() == [3, 7, 11, 17]
    np.testing.assert_array_equal(traj["observations"][0], states[3, 0])
    np.testing.assert_array_equal(traj["observations"][8], states[2, 1])

    run = tmp_path / "results" / "spec" / "abc123"
    run.mkdir(parents=True)
    cfg = RunConfig.model_validate({"env": {"id": "point_u_maze"}})
    (run / "config.json").write_text(
        json.dumps({"run_id": "abc123", "spec": "spec", "config": cfg.model_dump(mode="json")})
    )
    with pytest.raises(DatasetError, match="save_replay"):
        export_run(run, tmp_path / "out")
    save_replay(run / "replay.npz", replay)
    done = export_run(run, tmp_path / "out", "u4", val_fraction=0.25)
    assert (done.trajectories, done.val_trajectories) == (3, 1)
    from ogbench.utils import load_dataset

    train = load_dataset(str(done.train))
    val = load_dataset(str(done.val))
    assert train["observations"].shape == (3 + 3 + 3, 4) and val["observations"].shape == (5, 4)
    meta = json.loads((tmp_path / "out" / "u4.json").read_text())
    assert meta["env_id"] == "point_u_maze" and meta["goal_indices"] == [0, 1]


OFFLINE = """
name: tiny_offline
env: {{episode_length: 25}}
network: {{critic_depth: 4, actor_depth: 4, width: 16, repr_dim: 8}}
algo: {{batch_size: 32}}
data: {{mode: offline, dataset: {name}, dataset_dir: {dir}, grad_steps: 200}}
eval: {{num_evals: 2, last_k: 2, episodes_per_task: 1}}
"""


def test_missing_dataset_is_bad_input_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Point ogbench's downloader at a closed local port: the download fails as it does on a
    # machine without internet, and no test ever fetches a real dataset.
    import ogbench.utils

    monkeypatch.setattr(ogbench.utils, "DATASET_URL", "http://127.0.0.1:9")
    missing = tmp_path / "nowhere"
    spec = tmp_path / "spec.yaml"
    spec.write_text(OFFLINE.format(name="antmaze-large-navigate-v0", dir=missing))
    results = tmp_path / "results"
    assert main(["run", str(spec), "--results", str(results)]) == 2
    err = capsys.readouterr().err
    assert f"{spec}: data.dataset:" in err
    assert str(missing / "antmaze-large-navigate-v0.npz") in err
    assert "could not download" in err and "put them in" in err
    assert not results.exists() and not missing.exists()
    # A point maze names the generator as a way out.
    spec.write_text(OFFLINE.format(name=NAME, dir=missing))
    assert main(["run", str(spec), "--results", str(results)]) == 2
    assert f"harness data generate {NAME}" in capsys.readouterr().err
    assert not results.exists() and not missing.exists()


def test_offline_spec_errors(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("data: {mode: offline}\nalgo: {name: gcbc}\n")
    with pytest.raises(SpecError, match="needs a dataset name"):
        load_spec(spec)
    spec.write_text(f"data: {{mode: offline, dataset: {NAME}, dataset_path: data.h5}}\n")
    with pytest.raises(SpecError, match=r"must name a \.npz file"):
        load_spec(spec)
    spec.write_text("data: {mode: offline, dataset: visual-antmaze-large-navigate-v0}\n")
    with pytest.raises(SpecError, match="not supported"):
        load_spec(spec)


@pytest.mark.slow  # .ci/run runs it after the default suite
def test_tiny_offline_run_end_to_end(
    tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARNESS_DIAGNOSTICS", "on")  # conftest turns them off elsewhere
    spec = tmp_path / "tiny_offline.yaml"
    spec.write_text(OFFLINE.format(name=NAME, dir=tiny_data) + "sweep: {algo.name: [crl, gcbc]}\n")
    results = tmp_path / "results"
    assert main(["run", str(spec), "--results", str(results)]) == 0
    runs = sorted((results / "tiny_offline").iterdir())
    assert len(runs) == 2
    for run in runs:
        table = pq.read_table(run / "metrics.parquet")
        assert table.schema.equals(METRICS_SCHEMA)
        df = table.to_pandas()
        algo = df["algo"].iloc[0]
        assert (df["data_mode"] == "offline").all() and (df["env_id"] == NAME).all()
        assert (df["env_steps"] == EPISODES * (STEPS - 1)).all()  # the dataset's transitions
        success = df[df["metric"] == "eval/success"].sort_values("grad_steps")
        assert success["grad_steps"].tolist() == [0, 100, 200]
        assert success["value"].between(0, 1).all()
        names = set(df["metric"])
        for task in range(1, 6):
            assert f"eval/success_task{task}" in names
        assert {"random/success", "val/bc_mse", "perf/grad_steps_per_s"} <= names
        assert ("train/critic_loss" in names) == (algo == "crl")
        # depth diagnostics at every evaluation (issue 17): the critic's for crl only
        diag = df[df["metric"].str.startswith("diag/")]
        assert sorted(set(diag["grad_steps"])) == [0, 100, 200] and diag["value"].notna().all()
        assert ("diag/phi_rank" in names) == (algo == "crl") and "diag/grad_norm_actor" in names
        record = json.loads((run / "run.json").read_text())
        assert record["status"] == "completed" and (run / "params").is_dir()
        assert not (run / "checkpoint").exists()
    # Completed runs are skipped, even where their dataset is gone (its folder is not part of
    # the run id).
    spec.write_text(
        OFFLINE.format(name=NAME, dir=tmp_path / "gone") + "sweep: {algo.name: [crl, gcbc]}\n"
    )
    assert main(["run", str(spec), "--results", str(results)]) == 0
    assert sorted((results / "tiny_offline").iterdir()) == runs


@pytest.mark.slow
def test_preempted_offline_run_resumes_from_its_checkpoint(tiny_data: Path, tmp_path: Path) -> None:
    import threading

    from harness.launch import execute_run
    from harness.plan import expand
    from harness.train import enable_compilation_cache

    enable_compilation_cache()
    spec_file = tmp_path / "tiny_offline.yaml"
    spec_file.write_text(OFFLINE.format(name=NAME, dir=tiny_data))
    spec = load_spec(spec_file)
    (run,) = expand(spec)
    results = tmp_path / "results"
    stop = threading.Event()
    stop.set()  # as a signal handler would: checkpoint after the first chunk of updates
    trainers: dict = {}  # the resumed run reuses the compiled trainer, as a requeued job would not
    assert execute_run(spec, run, results, {}, stop=stop, trainers=trainers).status == "preempted"
    rundir = results / "tiny_offline" / run.run_id
    assert (rundir / "checkpoint").is_dir()
    assert execute_run(spec, run, results, {}, trainers=trainers).status == "completed"
    df = pq.read_table(rundir / "metrics.parquet").to_pandas()
    success = df[df["metric"] == "eval/success"]
    assert success["grad_steps"].tolist() == [0, 100, 200]  # each evaluation exactly once
    record = json.loads((rundir / "run.json").read_text())
    assert record["resumes"] == 1 and not (rundir / "checkpoint").exists()


def test_gcbc_and_crl_share_the_deterministic_policy() -> None:
    from harness.agents.crl import CRL
    from harness.agents.gcbc import GCBC

    cfg = RunConfig.model_validate(
        {
            "network": {"critic_depth": 4, "actor_depth": 4, "width": 16, "repr_dim": 8},
            "algo": {"name": "gcbc"},
            "data": {"mode": "offline", "dataset": NAME},
        }
    )
    gcbc, crl = GCBC(cfg, 2, 2, 2), CRL(cfg, 2, 2, 2)
    params = gcbc.init(jax.random.PRNGKey(0)).actor_params
    obs = jax.random.normal(jax.random.PRNGKey(1), (5, 4))

    @jax.jit
    def policies(params: dict, key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        return (
            gcbc.act(params, obs, key, deterministic=True),
            crl.act(params, obs, key, deterministic=True),
            gcbc.act(params, obs, key),
        )

    ours, theirs, sampled = policies(params, jax.random.PRNGKey(2))
    np.testing.assert_allclose(ours, theirs)  # what the Brax evaluation of GCBC relies on
    assert float(jnp.abs(sampled).max()) <= 1.0 and not np.allclose(sampled, ours)


@pytest.mark.slow
def test_online_run_exports_data_for_an_offline_brax_run(tmp_path: Path) -> None:
    """The collector/learner flow: an online run keeps its replay, `harness data export`
    writes it as a dataset, and an offline run learns from it, evaluated online."""
    online = tmp_path / "collect.yaml"
    online.write_text(
        """
name: collect
env: {id: point_u_maze, episode_length: 40}
network: {critic_depth: 4, actor_depth: 4, width: 16, repr_dim: 8}
algo: {batch_size: 32, utd: 0.05}
data: {num_envs: 4, unroll_length: 20, total_env_steps: 400, replay_size_per_env: 200,
       min_replay_per_env: 40, save_replay: true, source: brax, dataset: u-d4,
       dataset_dir: %s, grad_steps: 100}
eval: {num_envs: 4, num_evals: 1, last_k: 1}
sweep: {data.mode: [online, offline]}
"""
        % (tmp_path / "data")
    )
    results = tmp_path / "results"
    assert main(["run", str(online), "--results", str(results), "--set", "data.mode=online"]) == 0
    (run_dir,) = (results / "collect").iterdir()
    assert (run_dir / "replay.npz").is_file()
    assert main(["run", str(online), "--results", str(results)]) == 2  # no dataset yet
    code = main(
        ["data", "export", run_dir.name, "--out", str(tmp_path / "data"), "--name", "u-d4",
         "--results", str(results)]
    )  # fmt: skip
    assert code == 0
    assert main(["run", str(online), "--results", str(results)]) == 0
    frames = [pq.read_table(p).to_pandas() for p in (results / "collect").glob("*/metrics.parquet")]
    modes = {df["data_mode"].iloc[0]: df for df in frames}
    assert set(modes) == {"online", "offline"}
    offline = modes["offline"]
    assert (offline["env_id"] == "point_u_maze").all()
    assert "eval/time_at_goal" in set(offline["metric"])  # the online evaluation
