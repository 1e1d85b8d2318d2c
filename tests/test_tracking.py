"""Live tracking and depth diagnostics (issue 17).

A tiny run with TensorBoard and W&B (offline) on: the event files, read back with TensorBoard's
own reader, and the offline W&B run hold the Parquet's values at its steps; every ``diag/*``
metric is finite at every evaluation; a run whose logger fails still completes; the spec
refuses a logger that is not installed; the effective rank matches a NumPy reference.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pyarrow.parquet as pq
import pytest

from harness.agents import make_agent
from harness.batches import Batch, Transition
from harness.cli import main
from harness.diagnostics import agent_diagnostics, effective_rank
from harness.plan import expand
from harness.spec import RunConfig, SpecError, load_spec
from harness.tracking import Guarded

# The run config of tests/test_e2e.py (its programs come from the session's compile cache).
TINY = """
name: {name}
env: {{id: point_u_maze, eval_id: point_u_maze_eval, episode_length: 40}}
network: {{critic_depth: 4, actor_depth: 4, width: 16, repr_dim: 8}}
algo: {{batch_size: 32, utd: 0.05}}
data: {{num_envs: 4, unroll_length: 20, total_env_steps: 400, replay_size_per_env: 200,
       min_replay_per_env: 40}}
eval: {{num_envs: 4, num_evals: 2, last_k: 2}}
seeds: [0]
logging:
  tensorboard: true
  wandb: {{project: harness-tests, mode: offline, tags: [tiny]}}
"""

#: diag/* metrics of a CRL run (harness.diagnostics).
CRL_DIAGNOSTICS = {
    f"diag/{name}"
    for name in (
        "grad_norm_actor",
        "grad_norm_phi",
        "grad_norm_psi",
        *(
            f"grad_norm_{net}_{pos}"
            for net in ("actor", "phi", "psi")
            for pos in ("first", "mid", "last")
        ),
        "phi_norm",
        "phi_mean_norm",
        "psi_norm",
        "psi_mean_norm",
        "phi_rank",
        "logits_pos",
        "logits_neg",
        "actor_tanh_mean_abs",
        "actor_log_std",
    )
}


@pytest.fixture(scope="module")
def wandb_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """W&B's own folders (settings, cache) in the test's temporary folder, no network."""
    home = tmp_path_factory.mktemp("wandb-home")
    with pytest.MonkeyPatch.context() as mp:
        for name in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
            mp.setenv(name, str(home / name.lower()))
        mp.setenv("WANDB_SILENT", "true")
        mp.delenv("WANDB_API_KEY", raising=False)
        mp.setenv("HARNESS_DIAGNOSTICS", "on")  # conftest turns them off for other tests
        yield


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory, wandb_home: None) -> tuple[Path, int]:
    root = tmp_path_factory.mktemp("tracking")
    spec = root / "tiny.yaml"
    spec.write_text(TINY.format(name="tiny"))
    results = root / "results"
    code = main(["run", str(spec), "--results", str(results)])
    (run_dir,) = (results / "tiny").iterdir()
    return run_dir, code


def _parquet(run_dir: Path) -> Any:
    return pq.read_table(run_dir / "metrics.parquet").to_pandas()


def _series(run_dir: Path, metric: str) -> dict[int, float]:
    df = _parquet(run_dir)
    rows = df[df["metric"] == metric]
    return dict(zip(rows["env_steps"].astype(int), rows["value"].astype(float), strict=True))


def test_run_completes_with_both_loggers(tracked: tuple[Path, int]) -> None:
    run_dir, code = tracked
    assert code == 0
    assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"


def test_tensorboard_event_files_hold_the_evaluations(tracked: tuple[Path, int]) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir, _ = tracked
    acc = EventAccumulator(str(run_dir / "tensorboard"))
    acc.Reload()
    expected = _series(run_dir, "eval/time_at_goal")
    assert len(expected) == 3  # before training and 2 evaluations
    events = acc.Scalars("eval/time_at_goal")
    assert [e.step for e in events] == sorted(expected)
    for event in events:
        assert event.value == pytest.approx(expected[event.step], rel=1e-6, abs=1e-6)
    tags = set(acc.Tags()["scalars"])
    assert tags >= CRL_DIAGNOSTICS and any(t.startswith("train/") for t in tags)
    # the final score (mean of the last eval.last_k = 2), at the last evaluation's step
    [final] = acc.Scalars("final/time_at_goal")
    assert final.step == max(expected)
    assert final.value == pytest.approx(_series(run_dir, "final/time_at_goal")[final.step])


def _wandb_records(path: Path) -> list[Any]:
    """The records of a ``.wandb`` file: a 7-byte W&B header, then LevelDB-log framed chunks
    (7-byte header: CRC, little-endian length, type 1 full / 2 first / 3 middle / 4 last) in
    32 KiB blocks, each record a ``wandb_internal_pb2.Record``."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    block, pos, payload, records = 32768, 7, b"", []
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        length, kind = int.from_bytes(data[pos + 4 : pos + 6], "little"), data[pos + 6]
        payload += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(payload)
            records.append(record)
            payload = b""
    return records


def test_wandb_offline_run_holds_the_evaluations(tracked: tuple[Path, int]) -> None:
    run_dir, _ = tracked
    (offline,) = (run_dir / "wandb").glob(f"offline-run-*-{run_dir.name}")
    records = _wandb_records(offline / f"run-{run_dir.name}.wandb")
    history: dict[int, dict[str, float]] = {}
    runs = []
    for record in records:
        kind = record.WhichOneof("record_type")
        if kind == "history":
            items = {
                i.key or "/".join(i.nested_key): json.loads(i.value_json)
                for i in record.history.item
            }
            history[int(items["_step"])] = items
        elif kind == "run":
            runs.append(record.run)
    expected = _series(run_dir, "eval/time_at_goal")
    assert sorted(history) == sorted(expected)
    for step, value in expected.items():
        assert history[step]["eval/time_at_goal"] == pytest.approx(value, rel=1e-6)
        assert set(history[step]) >= CRL_DIAGNOSTICS
    # the final score lands at the last step, so W&B's summary holds it
    last = max(expected)
    final = _series(run_dir, "final/time_at_goal")[last]
    assert history[last]["final/time_at_goal"] == pytest.approx(final, rel=1e-6)
    assert history[last]["final/last_k"] == 2
    run = runs[0]
    assert run.run_group == "tiny" and run.run_id == run_dir.name
    assert {"point_u_maze", "crl", "critic_depth=4", "actor_depth=4", "tiny"} <= set(run.tags)
    config = {u.key: json.loads(u.value_json) for u in run.config.update}
    assert config["run_id"] == run_dir.name and config["network"]["critic_depth"] == 4


def test_diagnostics_finite_at_every_evaluation(tracked: tuple[Path, int]) -> None:
    run_dir, _ = tracked
    df = _parquet(run_dir)
    steps = sorted(set(df.loc[df["metric"] == "eval/time_at_goal", "env_steps"]))
    for step in steps:
        at = df[df["env_steps"] == step]
        values = dict(zip(at["metric"], at["value"], strict=True))
        assert set(values) >= CRL_DIAGNOSTICS, step
        assert all(math.isfinite(values[name]) for name in CRL_DIAGNOSTICS), values
    rank = df.loc[df["metric"] == "diag/phi_rank", "value"]
    assert ((rank >= 1.0) & (rank <= 8.0)).all()  # repr_dim 8


def test_report_has_a_diagnostics_section(tracked: tuple[Path, int]) -> None:
    run_dir, _ = tracked
    assert main(["report", str(run_dir.parent), "--last", "1"]) == 0
    report = (run_dir.parent / "report" / "report.md").read_text()
    section = report[report.index("## Diagnostics") :]
    assert "At the last evaluation, " in section and "effective rank" in section
    for family in ("gradients", "representations", "logits", "actor"):  # one figure each
        png = run_dir.parent / "report" / f"diagnostics_point_u_maze_{family}.png"
        assert png.stat().st_size > 10_000
        assert f"({png.name})" in section


def test_watch_redraws_the_status_table(
    tracked: tuple[Path, int], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run_dir, _ = tracked
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY.format(name="tiny"))
    results = str(run_dir.parent.parent)
    capsys.readouterr()
    start = time.perf_counter()
    assert main(["status", str(spec), "--results", results, "--watch", "0.2", "--count", "2"]) == 0
    assert main(["status", str(spec), "--results", results, "--watch", "0.1", "--count", "1"]) == 0
    out = capsys.readouterr().out
    assert out.count("ctrl-C") == 3 and out.count("completed") == 3
    assert "latest" in out and time.perf_counter() - start < 30


def test_logging_is_not_part_of_the_run_id(tmp_path: Path) -> None:
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY.format(name="tiny"))
    on = expand(load_spec(spec))[0].run_id
    off = expand(load_spec(spec, {"logging": {}}))[0].run_id
    assert on == off


@pytest.mark.parametrize(
    ("module", "field"), [("wandb", "logging.wandb"), ("tensorboardX", "logging.tensorboard")]
)
def test_spec_refuses_a_logger_that_is_not_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str, field: str
) -> None:
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY.format(name="tiny"))
    # Leave only the logger under test on.
    other = {"logging.wandb": None} if module == "tensorboardX" else {"logging.tensorboard": False}
    monkeypatch.setitem(sys.modules, module, None)  # what `import` sees for a missing package
    with pytest.raises(SpecError) as err:
        load_spec(spec, other)
    (line,) = err.value.problems
    assert line.startswith(f"{spec}: {field}: ") and 'pip install -e ".[tracking]"' in line


@pytest.mark.slow  # a training run of its own (33 s); .ci/run runs it after the default suite
def test_run_with_a_failing_logger_completes(
    tmp_path: Path, wandb_home: None, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "fails.yaml"
    spec.write_text(TINY.format(name="fails"))
    results = tmp_path / "results"
    run_id = expand(load_spec(spec))[0].run_id
    blocked = results / "fails" / run_id / "tensorboard"
    blocked.parent.mkdir(parents=True)
    blocked.write_text("a file where the event folder would go: the writer fails")
    code = main(["run", str(spec), "--results", str(results), "--set", "logging.wandb=null"])
    assert code == 0
    record = json.loads((blocked.parent / "run.json").read_text())
    assert record["status"] == "completed"
    err = capsys.readouterr().err
    assert err.count("TensorBoard logging failed") == 1


class _Raises:
    def __init__(self) -> None:
        self.calls = 0

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        self.calls += 1
        raise ConnectionError("no network")

    def close(self) -> None:
        raise ConnectionError("no network")


class _Slow:
    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        time.sleep(0.5)

    def close(self) -> None:
        time.sleep(0.5)


def test_guarded_logger_warns_once_and_never_blocks() -> None:
    warned: list[str] = []
    failing = _Raises()
    guarded = Guarded("Example", failing, warned.append)
    for step in range(5):
        guarded.log(step, {"eval/x": 1.0})
    guarded.close()
    assert failing.calls == 1 and len(warned) == 1
    assert warned[0].startswith("Example logging failed: ConnectionError: no network")

    slow = Guarded("Slow", _Slow(), warned.append, close_timeout_s=0.1)
    start = time.perf_counter()
    for step in range(3):
        slow.log(step, {"eval/x": 1.0})
    assert time.perf_counter() - start < 0.2  # queued, not waited for
    slow.close()
    assert "did not finish within" in warned[-1]


def _numpy_effective_rank(x: np.ndarray) -> float:
    s = np.linalg.svd(x.astype(np.float64), compute_uv=False)
    p = s / s.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def test_diagnostics_switch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``logging.diagnostics`` (default on) and HARNESS_DIAGNOSTICS=off turn diag/* off."""
    from harness.spec import load_spec
    from harness.tracking import diagnostics_enabled

    spec = tmp_path / "s.yaml"
    spec.write_text("name: s\n")
    monkeypatch.setenv("HARNESS_DIAGNOSTICS", "on")
    assert diagnostics_enabled(load_spec(spec))
    spec.write_text("name: s\nlogging: {diagnostics: false}\n")
    assert not diagnostics_enabled(load_spec(spec))
    spec.write_text("name: s\n")
    monkeypatch.setenv("HARNESS_DIAGNOSTICS", "off")
    assert not diagnostics_enabled(load_spec(spec))


def test_effective_rank_against_numpy() -> None:
    rng = np.random.default_rng(0)
    matrices = [
        np.eye(6, dtype=np.float32),  # rank 6, equal singular values
        np.outer(np.arange(1, 9), np.arange(1, 5)).astype(np.float32),  # rank 1
        rng.normal(size=(32, 8)).astype(np.float32),
        np.diag([4.0, 2.0, 1.0, 1.0]).astype(np.float32),
    ]
    for x in matrices:
        assert float(effective_rank(jnp.asarray(x))) == pytest.approx(
            _numpy_effective_rank(x), rel=1e-5
        )
    assert float(effective_rank(jnp.eye(6))) == pytest.approx(6.0, rel=1e-5)
    assert float(effective_rank(jnp.ones((8, 4)))) == pytest.approx(1.0, rel=1e-5)
    assert float(effective_rank(jnp.zeros((8, 4)))) == 0.0


@pytest.mark.parametrize("algo", ["sac", pytest.param("td3_her", marks=pytest.mark.slow), "gcsl"])
def test_baseline_diagnostics(algo: str) -> None:
    """TD baselines report Q statistics and critic gradients instead of the contrastive terms;
    GCSL (no critic) its actor only. Scanned (stacked) and unrolled blocks are both found."""
    unrolled = algo == "gcsl"  # the actor only: cheap to compile unrolled
    depths = {"critic_depth": 12, "actor_depth": 12 if unrolled else 4}
    cfg = RunConfig.model_validate(
        {
            "network": {**depths, "width": 8, "scan": not unrolled},
            "algo": {"name": algo, "batch_size": 16},
        }
    )
    agent = make_agent(cfg, 4, 2, 2)
    state = jax.jit(agent.init)(jax.random.PRNGKey(0))
    keys = jax.random.split(jax.random.PRNGKey(1), 4)
    s, a, g = (jax.random.normal(k, (16, n)) for k, n in zip(keys, (4, 2, 2), strict=False))
    batch: Any = Batch(s, jnp.tanh(a), g)
    if algo != "gcsl":
        batch = Transition(s, jnp.tanh(a), s + 0.1, g, jnp.zeros(16), jnp.ones(16))
    out = jax.jit(lambda st, b: agent_diagnostics(agent, st, b, keys[3]))(state, batch)
    actor = {"grad_norm_actor", "grad_norm_actor_first", "actor_tanh_mean_abs", "actor_log_std"}
    critic = {"grad_norm_critic", "grad_norm_critic_first", "grad_norm_critic_last", "q_mean"}
    assert actor <= set(out)
    assert (critic <= set(out)) == (algo != "gcsl")
    assert not any(k.startswith(("phi", "psi", "logits")) for k in out)
    assert all(np.isfinite(float(v)) for v in out.values())
    # 3 blocks: first, middle and last are distinct
    name = "grad_norm_actor" if unrolled else "grad_norm_critic"
    assert len({float(out[f"{name}_{pos}"]) for pos in ("first", "mid", "last")}) == 3
