"""End to end: a tiny spec trains on a real Brax maze, writes Parquet, and re-runs skip it.

Also: a diverging run is recorded as failed while the rest of the sweep goes on, and a
depth-1024 critic update compiles and runs once.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pyarrow.parquet as pq
import pytest

from harness.agents.crl import CRL, Batch
from harness.cli import main
from harness.spec import RunConfig
from harness.store import METRICS_SCHEMA

TINY = """
name: tiny
env: {id: point_u_maze, eval_id: point_u_maze_eval, episode_length: 40}
network: {critic_depth: 4, actor_depth: 4, width: 16, repr_dim: 8}
algo: {batch_size: 32, utd: 0.05}
data: {num_envs: 4, unroll_length: 20, total_env_steps: 400, replay_size_per_env: 200,
       min_replay_per_env: 40}
eval: {num_envs: 4, num_evals: 2, last_k: 2}
seeds: [0]
sweep:
  algo.critic_lr: [3e-4, 1e30]
"""


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int, int]:
    root = tmp_path_factory.mktemp("e2e")
    spec = root / "tiny.yaml"
    spec.write_text(TINY)
    results = root / "results"
    err = io.StringIO()
    with contextlib.redirect_stderr(err):  # the progress lines, read by a test below
        code = main(["run", str(spec), "--results", str(results), "--set", "seeds=[3]"])
    (root / "run.err").write_text(err.getvalue())
    code_again = main(["run", str(spec), "--results", str(results), "--set", "seeds=[3]"])
    return spec, results, code, code_again


def _runs(results: Path) -> dict[str, dict]:
    out = {}
    for run_dir in sorted((results / "tiny").iterdir()):
        out[run_dir.name] = json.loads((run_dir / "run.json").read_text())
    return out


def test_sweep_finishes_with_one_failure_recorded(tiny_run) -> None:
    _, results, code, _ = tiny_run
    assert code == 1  # some runs failed
    records = _runs(results)
    statuses = sorted(r["status"] for r in records.values())
    assert statuses == ["completed", "failed"]
    failed = next(r for r in records.values() if r["status"] == "failed")
    assert failed["error"]["type"] == "FloatingPointError"
    assert "non-finite" in failed["error"]["message"]
    done = next(r for r in records.values() if r["status"] == "completed")
    assert done["versions"]["jax"] and done["wall_s"] > 0
    rid = next(k for k, r in records.items() if r["status"] == "completed")
    config = json.loads((results / "tiny" / rid / "config.json").read_text())
    assert config["config"]["env"]["eval_id"] == "point_u_maze_eval"


def test_parquet_is_long_format_with_grouping_columns(tiny_run) -> None:
    _, results, _, _ = tiny_run
    records = _runs(results)
    rid = next(k for k, r in records.items() if r["status"] == "completed")
    table = pq.read_table(results / "tiny" / rid / "metrics.parquet")
    assert table.schema.equals(METRICS_SCHEMA)
    df = table.to_pandas()
    assert set(df["run_id"]) == {rid}
    assert (df["env_id"] == "point_u_maze").all() and (df["seed"] == 3).all()
    assert (df["critic_depth"] == 4).all() and (df["data_mode"] == "online").all()
    tag = df[df["metric"] == "eval/time_at_goal"].sort_values("env_steps")
    assert len(tag) == 3  # before training + 2 evaluations
    assert ((tag["value"] >= 0) & (tag["value"] <= 40)).all()
    assert tag["env_steps"].is_monotonic_increasing and tag["env_steps"].iloc[-1] >= 400
    for name in (
        "eval/success_any",
        "train/critic_loss",
        "train/actor_loss",
        "perf/sps",
        "random/time_at_goal",
    ):
        assert name in set(df["metric"]), name
    recompiles = df[df["metric"] == "perf/recompiles"]["value"]
    assert len(recompiles) == 2 and (recompiles == 0).all()  # nothing compiled twice
    config = json.loads((results / "tiny" / rid / "config.json").read_text())
    assert config["config"]["seed"] == 3 and config["overrides"] == ["seeds=[3]"]
    assert "harness run" in config["command"]


def test_one_final_score_in_the_line_run_json_parquet_and_status(tiny_run) -> None:
    """The spec's eval.last_k (2) makes the final score everywhere: the completion line,
    run.json's final_score, the final/* Parquet rows, and `harness status`."""
    spec, results, _, _ = tiny_run
    records = _runs(results)
    rid = next(k for k, r in records.items() if r["status"] == "completed")
    rows = pq.read_table(results / "tiny" / rid / "metrics.parquet").to_pylist()
    evals = sorted((r["env_steps"], r["value"]) for r in rows if r["metric"] == "eval/time_at_goal")
    expected = (evals[-1][1] + evals[-2][1]) / 2
    final = {r["metric"]: r for r in rows if r["metric"].startswith("final/")}
    assert set(final) == {"final/time_at_goal", "final/success_any", "final/last_k"}
    assert final["final/time_at_goal"]["value"] == pytest.approx(expected)
    assert final["final/last_k"]["value"] == 2.0
    assert final["final/time_at_goal"]["env_steps"] == evals[-1][0]  # at the last evaluation
    record = records[rid]
    assert record["final_score"]["last_k"] == 2
    assert record["final_score"]["eval/time_at_goal"] == pytest.approx(expected)
    assert record["lock"]["file"] == "requirements/lock.txt" and len(record["lock"]["sha256"]) == 64
    assert record["versions"]["brax"] and record["versions"]["mujoco-mjx"]
    err = (spec.parent / "run.err").read_text()
    line = next(x for x in err.splitlines() if f"{rid} completed" in x)
    assert f"time_at_goal {expected:.1f}" in line and "(the mean of the last 2 evals" in line
    # Start-up progress: the phases before the first evaluation, and the start-up's length.
    start = err.index(f"run 1/2 {rid}") if f"run 1/2 {rid}" in err else err.index(rid)
    startup = err[start:]
    assert f"{rid} building the envs and the trainer ..." in startup
    assert "prefilling the replay with 160 env steps" in startup
    assert f"{rid} start-up (compilation included) took" in startup


def test_rerun_skips_completed_and_retries_failed(tiny_run) -> None:
    spec, results, _, code_again = tiny_run
    assert code_again == 1  # the diverging run was tried again and failed again
    records = _runs(results)
    done = next(r for r in records.values() if r["status"] == "completed")
    # The completed run was not run again: its record is the original one.
    assert done["started_at"] <= done["finished_at"]
    assert (
        main(
            [
                "run",
                str(spec),
                "--results",
                str(results),
                "--set",
                "seeds=[3]",
                "--set",
                "algo.critic_lr=3e-4",
            ]
        )
        == 0
    )
    rows = json.loads(_status_json(spec, results))
    assert [r["status"] for r in rows] == ["completed"]


def _status_json(spec: Path, results: Path) -> str:
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert (
            main(
                [
                    "status",
                    str(spec),
                    "--results",
                    str(results),
                    "--set",
                    "seeds=[3]",
                    "--set",
                    "algo.critic_lr=3e-4",
                    "--json",
                ]
            )
            == 0
        )
    return buffer.getvalue()


@pytest.mark.slow  # .ci/run runs it after the default suite
def test_depth_1024_critic_update_compiles_and_runs_once() -> None:
    cfg = RunConfig.model_validate(
        {
            "env": {"id": "point_u_maze"},
            "network": {"critic_depth": 1024, "actor_depth": 4, "width": 16, "repr_dim": 8},
            "algo": {"batch_size": 8},
        }
    )
    agent = CRL(cfg, state_dim=4, goal_dim=2, action_dim=2)
    state = agent.init(jax.random.PRNGKey(0))
    stacked = state.critic_params["params"]["sa_encoder"]["blocks"]["_Layer_0"]["Dense_0"]
    assert stacked["kernel"].shape == (256, 16, 16)  # 1024 layers = 256 blocks, one scan
    batch = Batch(jnp.ones((8, 4)), jnp.zeros((8, 2)), jnp.ones((8, 2)))
    new_state, metrics = jax.jit(agent.update)(state, batch, jax.random.PRNGKey(1))
    assert np.isfinite(float(metrics["critic_loss"]))
    before = jax.tree_util.tree_leaves(state.critic_params)
    after = jax.tree_util.tree_leaves(new_state.critic_params)
    assert any(not np.allclose(a, b) for a, b in zip(before, after, strict=True))
