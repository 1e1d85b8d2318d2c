"""``harness report``: statistics on known arrays, and reports over results of real tiny runs.

The module fixture trains a tiny depth sweep (depths 4 and 8, two seeds) on the point-mass
U-maze with ``harness run``, then adds a failed and an in-progress run folder next to them.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness import report as rp
from harness.cli import main
from harness.launch import final_score
from harness.report.cli import add_report_parser
from harness.spec import RunConfig
from harness.store import RunDir, write_json, write_metrics

TINY = """
name: tiny_report
env: {id: point_u_maze, episode_length: 40}
network: {width: 16, repr_dim: 8}
algo: {batch_size: 32, utd: 0.05}
data: {num_envs: 4, unroll_length: 20, total_env_steps: 400, replay_size_per_env: 200,
       min_replay_per_env: 40}
eval: {num_envs: 4, num_evals: 2}
seeds: [0, 1]
sweep:
  network.critic_depth+network.actor_depth: [4, 8]
"""


def report(*argv: str) -> int:
    """``harness report ARGV`` through the subcommand's own parser (as cli.py wires it)."""
    parser = argparse.ArgumentParser(prog="harness")
    add_report_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["report", *argv])
    return int(args.func(args))


# --------------------------------------------------------------------------------------------
# Statistics on fixed arrays


def test_iqm_is_the_mean_of_the_middle_half() -> None:
    # 8 values: trim 2 from each end -> mean(3, 4, 5, 6); the outlier does not move it.
    assert rp.iqm([7, 1, 1000, 3, 2, 5, 6, 4]) == pytest.approx(4.5)
    assert rp.iqm([2.0, 2.0, 2.0, 2.0]) == pytest.approx(2.0)


def test_mean_and_standard_error() -> None:
    mean, se = rp.mean_se([1.0, 2.0, 3.0, 4.0])
    assert mean == pytest.approx(2.5)
    assert se == pytest.approx(math.sqrt(5 / 3) / 2)  # std(ddof=1) = sqrt(5/3), n = 4
    assert math.isnan(rp.mean_se([7.0])[1])


def test_probability_of_improvement_known_cases() -> None:
    assert rp.probability_of_improvement([5, 6, 7], [1, 2]) == pytest.approx(1.0)
    assert rp.probability_of_improvement([1, 2], [5, 6, 7]) == pytest.approx(0.0)
    assert rp.probability_of_improvement([3, 3, 3], [3, 3]) == pytest.approx(0.5)
    assert rp.probability_of_improvement([1, 2], [2]) == pytest.approx(0.25)  # loss + tie
    same = np.array([1.0, 4.0, 9.0])
    assert rp.probability_of_improvement(same, same) == pytest.approx(0.5)


def test_bootstrap_ci_contains_estimate_and_is_deterministic() -> None:
    x = np.array([12.0, 3.0, 40.0, 7.0, 25.0, 18.0])
    low, high = rp.iqm_ci([x], seed=3)
    assert low <= rp.iqm(x) <= high and low < high
    assert rp.iqm_ci([x], seed=3) == (low, high)
    assert rp.iqm_ci([np.full(4, 9.0)]) == (9.0, 9.0)
    assert all(math.isnan(v) for v in rp.iqm_ci([np.array([1.0])]))
    p, (p_lo, p_hi) = rp.poi_ci([(np.array([5.0, 6.0]), np.array([1.0, 2.0]))], seed=0)
    assert (p, p_lo, p_hi) == (1.0, 1.0, 1.0)
    # Two strata (envs): one fully better, one identical -> mean 0.75, CI around it.
    pairs = [(np.array([5.0, 6.0, 7.0]), np.array([1.0, 2.0])), (x, x.copy())]
    p, (p_lo, p_hi) = rp.poi_ci(pairs, seed=0)
    assert p == pytest.approx(0.75) and p_lo <= p <= p_hi
    assert rp.poi_ci(pairs, seed=0) == (p, (p_lo, p_hi))


def test_paper_reference_table() -> None:
    ref = rp.read_reference()
    assert len(ref) == 50  # 10 tasks x D4..D64
    assert ref[("ant_u4_maze", 64)] == (286.0, 36.0)
    assert ref[("humanoid_big_maze", 4)] == (0.06, 0.04)
    mean, se = ref[("arm_push_easy", 16)]
    assert mean == 805.0 and math.isnan(se)


# --------------------------------------------------------------------------------------------
# Reports over real runs


@pytest.fixture(scope="module")
def tiny_results(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Spec file and results root holding 4 completed runs, one failed and one running."""
    root = tmp_path_factory.mktemp("report")
    spec = root / "tiny_report.yaml"
    spec.write_text(TINY)
    results = root / "results"
    assert main(["run", str(spec), "--results", str(results)]) == 0
    folder = results / "tiny_report"
    done = sorted(p for p in folder.iterdir() if p.is_dir())
    assert len(done) == 4
    # A failed run and one in progress, each with evaluations that must not be averaged in.
    for name, status, keep in (("failed000001", "failed", None), ("running00001", "running", 1)):
        target = folder / name
        target.mkdir()
        shutil.copy(done[0] / "config.json", target / "config.json")
        rows = pq.read_table(done[0] / "metrics.parquet").to_pylist()
        steps = sorted({r["env_steps"] for r in rows})
        cut = steps[keep - 1] if keep else steps[-1]
        rows = [
            {
                **r,
                "run_id": name,
                "value": 1e6 if r["metric"] == "eval/time_at_goal" else r["value"],
            }
            for r in rows
            if r["env_steps"] <= cut
        ]
        write_metrics(target / "metrics.parquet", rows)
        record: dict = {"run_id": name, "spec": "tiny_report", "status": status}
        if status == "failed":
            record["error"] = {"type": "FloatingPointError", "message": "non-finite critic loss"}
        write_json(target / "run.json", record)
    (folder / "_slurm").mkdir()
    (folder / "_slurm" / "log.out").write_text("not a run folder\n")
    return spec, results


def test_report_table_counts_seeds_and_lists_unfinished(tiny_results, capsys) -> None:
    spec, results = tiny_results
    args = ["--results", str(results), "--json", "--compare", "8", "4", "--no-plots"]
    assert report(str(spec), *args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["by"] == ["env_id", "critic_depth"]
    groups = {g["critic_depth"]: g for g in out["groups"]}
    assert sorted(groups) == [4, 8]
    folder = results / "tiny_report"
    for depth, g in groups.items():
        assert g["env_id"] == "point_u_maze"
        assert g["n"] == 2 and sorted(g["seeds"]) == [0, 1]
        # The same final score as `harness status` computes (last 5 evaluations, online).
        expected = [
            final_score(RunDir(folder.parent, folder.name, rid), rp.DEFAULT_METRIC, 5)
            for rid in g["run_ids"]
        ]
        assert g["scores"] == pytest.approx(expected)
        assert g["mean"] == pytest.approx(np.mean(expected))
        assert g["ratio_base"] == 4
        assert 0.0 <= g["mean"] <= 40.0, depth  # episodes of 40 steps; 1e6 never averaged in
    unfinished = {r["run_id"]: r for r in out["not_finished"]}
    assert unfinished["failed000001"]["status"] == "failed"
    assert "non-finite" in unfinished["failed000001"]["error"]
    assert unfinished["running00001"]["status"] == "running"
    assert "_slurm" not in unfinished
    per_env = out["comparison"]["per_env"]
    assert per_env[0]["env_id"] == "point_u_maze" and 0.0 <= per_env[0]["p_improvement"] <= 1.0
    assert per_env[0]["n_a"] == 2 and per_env[0]["n_b"] == 2


def test_by_dotted_config_path_and_unknown_field(tiny_results, capsys) -> None:
    spec, results = tiny_results
    args = ["--results", str(results), "--json", "--no-plots"]
    assert report(str(spec), *args, "--by", "network.critic_depth", "network.repr_dim") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["by"] == ["env_id", "network.critic_depth", "network.repr_dim"]
    assert sorted(
        (g["network.critic_depth"], g["network.repr_dim"], g["n"]) for g in out["groups"]
    ) == [
        (4, 8, 2),
        (8, 8, 2),
    ]
    # The unfinished runs carry the --by fields too (and critic_depth), to tell them apart.
    unfinished = {r["run_id"]: r for r in out["not_finished"]}
    assert unfinished["failed000001"]["network.repr_dim"] == 8
    assert unfinished["failed000001"]["network.critic_depth"] in (4, 8)
    assert report(str(spec), *args[:-2], "--by", "network.repr_dim") == 0
    printed = capsys.readouterr().out
    assert "network.repr_dim" in printed.split("not finished")[-1]
    assert report(str(spec), *args, "--by", "network.no_such_field") == 2
    assert "network.no_such_field" in capsys.readouterr().err


def test_set_reports_the_runs_of_a_run_with_the_same_set(tiny_results, capsys) -> None:
    spec, results = tiny_results
    args = ["--results", str(results), "--json", "--no-plots"]

    def pending(*argv: str) -> tuple[int, list[str]]:
        assert report(*argv, *args) == 0
        out = json.loads(capsys.readouterr().out)
        return sum(r["status"] == "pending" for r in out["not_finished"]), out["warnings"]

    assert pending(str(spec))[0] == 0
    # Another value than the runs ran with: the spec's runs are pending, and the note says why.
    count, notes = pending(str(spec), "--set", "eval.num_evals=3")
    assert count == 4 and any("pass the same --set to report" in n for n in notes)
    # Pending runs carry the --by fields too (dotted config paths read from their plan).
    assert report(str(spec), *args, "--set", "eval.num_evals=3", "--by", "network.repr_dim") == 0
    listed = json.loads(capsys.readouterr().out)["not_finished"]
    assert {r["network.repr_dim"] for r in listed if r["status"] == "pending"} == {8}
    # A file that differs, given back the value its runs ran with: they are its own runs.
    other = spec.parent / "tiny_report_other.yaml"
    other.write_text(TINY.replace("num_evals: 2", "num_evals: 3"))
    assert pending(str(other))[0] == 4
    assert pending(str(other), "--set", "eval.num_evals=2")[0] == 0
    other.unlink()
    # --set on a folder is refused (no spec to override), one line, exit 2.
    assert report(str(results / "tiny_report"), "--set", "eval.num_evals=2", "--no-plots") == 2
    assert "--set overrides a spec file's fields" in capsys.readouterr().err


def test_report_writes_plots_and_markdown(tiny_results, capsys) -> None:
    spec, results = tiny_results
    assert report(str(spec), "--results", str(results), "--reference", "paper") == 0
    printed = capsys.readouterr().out
    assert "point_u_maze" in printed and "not finished" in printed and "failed000001" in printed
    out_dir = results / "tiny_report" / "report"
    pngs = sorted(out_dir.glob("*.png"))
    names = {p.name for p in pngs}
    assert {"depth_scaling_point_u_maze.png", "learning_curves_point_u_maze.png"} <= names
    assert any(n.startswith("value_map_") for n in names)  # best run of a point maze
    assert "depth_figure_point_u_maze.png" in names  # depth plot beside depth 4 and 8 maps
    assert all(p.stat().st_size > 10_000 for p in pngs)
    md = (out_dir / "report.md").read_text()
    assert "| critic_depth | seeds |" in md and "## Not finished" in md
    for name in names:
        assert f"]({name})" in md


def test_value_map_from_params_matches_the_networks(tiny_results) -> None:
    import jax.numpy as jnp
    import orbax.checkpoint as ocp

    from harness.agents.crl import CRL

    _, results = tiny_results
    runs = rp.load_runs(results / "tiny_report")
    run = next(r for r in runs if r.status == "completed" and r.fields["critic_depth"] == 8)
    vm = rp.value_map(run, goal_xy=(6.0, 2.0), points=40)
    assert vm.values.shape == (vm.ys.size, vm.xs.size)
    gx, gy = np.meshgrid(vm.xs, vm.ys)
    walls = vm.maze.in_wall(np.stack([gx, gy], axis=-1))
    assert walls.any() and np.isnan(vm.values[walls]).all()
    assert np.isfinite(vm.values[~walls]).all()
    # Recompute one free point by hand: state (x, y, 0, 0), a = tanh(mean), f = -||phi - psi||.
    j, i = np.argwhere(~walls & (np.abs(gx - gy) > 1.0))[0]
    cfg = RunConfig.model_validate(run.config["config"])
    agent = CRL(cfg, state_dim=4, goal_dim=2, action_dim=2)
    with ocp.StandardCheckpointer() as checkpointer:
        params = checkpointer.restore((run.path / "params").resolve())
    state = jnp.array([[vm.xs[i], vm.ys[j], 0.0, 0.0]], jnp.float32)
    goal = jnp.array([[6.0, 2.0]], jnp.float32)
    mean, _ = agent.actor.apply(params["actor_params"], jnp.concatenate([state, goal], -1))
    phi, psi = agent.critic.apply(params["critic_params"], state, jnp.tanh(mean), goal)
    assert vm.values[j, i] == pytest.approx(-float(jnp.linalg.norm(phi - psi)), rel=1e-4)


def test_depth_end_runs_are_the_median_seeds_at_both_ends(tiny_results) -> None:
    _, results = tiny_results
    report_ = rp.build_report(results / "tiny_report", rp.load_runs(results / "tiny_report"))
    ((shallow, deep),) = rp.depth_end_runs(report_)
    for run, depth in ((shallow, 4), (deep, 8)):
        assert run.fields["critic_depth"] == depth and run.has_params
        same = sorted(
            (r.score, str(r.fields["seed"]))
            for r in report_.completed
            if r.fields["critic_depth"] == depth
        )
        assert (run.score, str(run.fields["seed"])) == same[0]  # lower median of two seeds
    assert rp.depth_end_runs(dataclasses.replace(report_, runs=(shallow, deep))) != []
    assert rp.depth_end_runs(dataclasses.replace(report_, runs=(shallow,))) == []


def test_value_map_option_and_bad_goal(tiny_results, capsys) -> None:
    _, results = tiny_results
    folder = results / "tiny_report"
    run_id = next(p.name for p in sorted(folder.iterdir()) if (p / "params").is_dir())
    args = [str(folder), "--value-map", run_id[:8], "--goal", "2,6", "--no-plots"]
    assert report(*args) == 0
    png = folder / "report" / f"value_map_{run_id}_goal_2_6.png"
    assert png.exists() and png.stat().st_size > 10_000
    capsys.readouterr()
    assert report(str(folder), "--value-map", run_id, "--goal", "4,4", "--no-plots") == 2
    assert "inside a wall" in capsys.readouterr().err
    assert report(str(folder), "--value-map", "failed000001", "--no-plots") == 2
    assert "no params/" in capsys.readouterr().err


def test_bad_input_exits_2_naming_the_path(tmp_path, capsys) -> None:
    missing = tmp_path / "nowhere"
    assert report(str(missing)) == 2
    assert str(missing) in capsys.readouterr().err
    empty = tmp_path / "empty"
    (empty / "_slurm").mkdir(parents=True)
    assert report(str(empty)) == 2
    assert "no results found" in capsys.readouterr().err
    spec = tmp_path / "never_run.yaml"
    spec.write_text(TINY.replace("tiny_report", "never_run"))
    assert report(str(spec), "--results", str(tmp_path / "results")) == 2
    assert str(tmp_path / "results" / "never_run") in capsys.readouterr().err


def test_a_report_never_dies_of_one_file(tiny_results, tmp_path, capsys) -> None:
    """A run.json of random bytes, a metrics.parquet that is a folder, a Parquet file of the
    wrong column types and unreadable params/: each run is listed broken with its file named,
    as `harness status` does, and the report of the others (plots included) goes on."""
    spec, results = tiny_results
    copy = tmp_path / "results"
    shutil.copytree(results, copy)
    folder = copy / "tiny_report"
    done = sorted(p for p in folder.iterdir() if (p / "params").is_dir())
    garbage, folder_metrics, typed, bad_params = done
    (garbage / "run.json").write_bytes(bytes(range(128, 256)) * 4)  # not UTF-8
    (folder_metrics / "metrics.parquet").unlink()
    (folder_metrics / "metrics.parquet").mkdir()
    rows = pq.read_table(typed / "metrics.parquet").to_pylist()
    pq.write_table(
        pa.Table.from_pylist([{**r, "env_steps": str(r["env_steps"])} for r in rows]),
        typed / "metrics.parquet",
    )
    for leaf in (bad_params / "params").rglob("*"):
        if leaf.is_file():
            leaf.write_bytes(b"\x00garbage")
    assert report(str(folder), "--json", "--by", "critic_depth", "seed") == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    broken = {r["run_id"]: r for r in out["not_finished"] if r["status"] == "broken"}
    assert broken[garbage.name]["error"].startswith("run.json: unreadable")
    assert broken[folder_metrics.name]["error"].startswith("metrics.parquet: unreadable")
    assert "metrics.parquet: column env_steps of the wrong type" in broken[typed.name]["error"]
    assert [g["run_ids"] for g in out["groups"]] == [[bad_params.name]]
    assert "Traceback" not in captured.err
    # The value map of the run with unreadable parameters is a note, not a crash.
    assert report(str(folder), "--by", "critic_depth", "seed") == 0
    captured = capsys.readouterr()
    assert f"no value map for {bad_params.name}: " in captured.err
    assert "unreadable parameters" in captured.err
    assert (folder / "report" / "report.md").is_file()
    # `harness status` names the same files.
    assert main(["status", str(spec), "--results", str(copy), "--json"]) == 0
    rows = {r["run_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows[garbage.name]["status"] == "broken"
    assert rows[folder_metrics.name]["status"] == "broken"


@contextlib.contextmanager
def _read_only_copy(source: Path, mount: Path) -> Iterator[Path]:
    """``source`` copied onto a tmpfs at ``mount`` that is then made read-only (skips where no
    tmpfs can be mounted: not root)."""
    mount.mkdir(parents=True)
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({made.stderr.strip()}); needs root")
    try:
        shutil.copytree(source, mount / source.name)
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True, timeout=30)
        yield mount / source.name
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, timeout=30, check=False)


def test_a_read_only_results_folder_asks_for_out(tiny_results, tmp_path, capsys) -> None:
    spec, results = tiny_results
    with _read_only_copy(results, tmp_path / "ro") as copy:
        folder = copy / "tiny_report"
        assert report(str(spec), "--results", str(copy)) == 2
        err = capsys.readouterr().err
        assert err.strip().splitlines() == [
            f"harness report: cannot write {folder / 'report'}: Read-only file system; write "
            "the report elsewhere with --out DIR (or --no-plots)"
        ]
        out = tmp_path / "elsewhere"
        assert report(str(spec), "--results", str(copy), "--out", str(out)) == 0
        assert f"wrote {out / 'report.md'}" in capsys.readouterr().out
        assert (out / "report.md").is_file() and list(out.glob("*.png"))
        assert report(str(folder), "--no-plots") == 0  # the tables need no folder


# --------------------------------------------------------------------------------------------
# Reference column, offline K, width and data-mode plots: results written as Parquet directly
# (ant and offline training do not fit in a CPU test).


def _write_run(root: Path, run_id: str, fields: dict, curve: list[float]) -> None:
    rows = [
        {
            "run_id": run_id,
            "spec": "synthetic",
            "algo": "crl",
            "actor_depth": fields["critic_depth"],
            "batch_size": 512,
            "env_steps": 1000 * (i + 1),
            "grad_steps": 25 * (i + 1),
            "wall_s": float(i),
            "metric": "eval/time_at_goal",
            "value": v,
            **fields,
        }
        for i, v in enumerate(curve)
    ]
    write_metrics(root / run_id / "metrics.parquet", rows)
    config = {
        "config": {
            "env": {"id": fields["env_id"], "episode_length": 1000},
            "network": {"critic_depth": fields["critic_depth"], "width": fields["width"]},
            "data": {"mode": fields["data_mode"], "total_env_steps": 1000 * len(curve)},
            "seed": fields["seed"],
        }
    }
    if fields["data_mode"] == "online":  # a full RunConfig: parameter counts come from it
        depth = fields["critic_depth"]
        config["config"] = RunConfig.model_validate(
            {
                **config["config"],
                "network": {"critic_depth": depth, "actor_depth": depth, "width": fields["width"]},
            }
        ).model_dump(mode="json")
    write_json(root / run_id / "config.json", config)
    write_json(root / run_id / "run.json", {"run_id": run_id, "status": "completed"})


def test_reference_offline_k_and_extra_plots(tmp_path, capsys) -> None:
    root = tmp_path / "synthetic"
    curve = [0.0, 0.0, 10.0, 20.0, 30.0, 40.0, 50.0]  # last 5: 30, last 3: 40
    for depth in (4, 64):
        for width in (256, 512):
            for seed in (0, 1, 2):
                base = {"env_id": "ant_u4_maze", "critic_depth": depth, "width": width}
                scale = depth / 4
                online = {**base, "data_mode": "online", "seed": seed}
                _write_run(root, f"on{depth}w{width}s{seed}", online, [v * scale for v in curve])
                offline = {**base, "env_id": "antmaze-medium", "data_mode": "offline", "seed": seed}
                _write_run(root, f"off{depth}w{width}s{seed}", offline, curve)
    args = [str(root), "--by", "critic_depth", "width", "data_mode", "--reference", "paper"]
    assert report(*args, "--json") == 0
    out = json.loads(capsys.readouterr().out)
    rows = {(g["env_id"], g["critic_depth"], g["width"]): g for g in out["groups"]}
    assert len(rows) == 8 and all(g["n"] == 3 for g in rows.values())
    assert rows[("ant_u4_maze", 4, 256)]["mean"] == pytest.approx(30.0)  # online: last 5
    assert rows[("antmaze-medium", 4, 256)]["mean"] == pytest.approx(40.0)  # offline: last 3
    assert rows[("ant_u4_maze", 64, 512)]["ratio_to_shallowest"] == pytest.approx(16.0)
    assert rows[("ant_u4_maze", 64, 256)]["reference"] == {"mean": 286.0, "se": 36.0}
    assert rows[("antmaze-medium", 64, 256)]["reference"] is None
    assert rows[("ant_u4_maze", 64, 512)]["reference"] is None  # the paper's runs: width 256
    names = {Path(p).name for p in out["plots"]}
    assert {
        "depth_scaling_ant_u4_maze.png",
        "width_vs_depth_ant_u4_maze.png",
        "online_vs_offline.png",
    } <= names
    assert report(*args, "--no-plots") == 0
    assert "286 ± 36" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# Critical depth (issue 16): jumps between consecutive depths with non-overlapping IQM CIs


def _group(depth: int, scores: list[float], **setting: object) -> rp.GroupStats:
    x = np.asarray(scores, dtype=np.float64)
    mean, se = rp.mean_se(x)
    return rp.GroupStats(
        key={"env_id": "point_big_maze", "critic_depth": depth, **setting},
        scores=x,
        run_ids=tuple(f"r{depth}_{i}" for i in range(x.size)),
        seeds=tuple(range(x.size)),
        mean=mean,
        se=se,
        iqm=float(rp.iqm(x)),
        iqm_ci=rp.iqm_ci([x]),
        ratio=None,
        ratio_base=None,
        reference=None,
        random_score=None,
    )


def _synthetic_report(groups: list[rp.GroupStats], by: tuple[str, ...]) -> rp.Report:
    return rp.Report(
        source=Path("synthetic"),
        metric="eval/time_at_goal",
        last_k=None,
        by=by,
        runs=(),
        groups=tuple(groups),
        comparison=None,
        warnings=(),
        reference=False,
        seed=0,
    )


def test_depth_jumps_on_synthetic_scores() -> None:
    groups = [
        # width 64: 4 -> 16 jumps (every seed higher, CIs apart); 16 -> 32 overlaps.
        _group(32, [51.0, 49.0, 56.0], width=64),
        _group(4, [10.0, 11.0, 12.0], width=64),
        _group(16, [50.0, 52.0, 55.0], width=64),
        # width 128: higher at 16 on average, but the CIs overlap; 16 -> 32 falls apart.
        _group(4, [10.0, 30.0, 50.0], width=128),
        _group(16, [20.0, 40.0, 60.0], width=128),
        _group(32, [1.0, 2.0, 3.0], width=128),
        # width 256: one seed at depth 4, no interval, so no claim.
        _group(4, [1.0], width=256),
        _group(16, [90.0, 95.0], width=256),
    ]
    steps = rp.depth_steps(groups, "critic_depth")
    pairs = {(s.setting["width"], s.shallow_depth, s.deep_depth): s for s in steps}
    assert set(pairs) == {(64, 4, 16), (64, 16, 32), (128, 4, 16), (128, 16, 32), (256, 4, 16)}
    jumps = rp.depth_jumps(groups, "critic_depth")
    assert [(s.setting, s.shallow_depth, s.deep_depth) for s in jumps] == [({"width": 64}, 4, 16)]
    assert pairs[(64, 4, 16)].deep.iqm_ci[0] > pairs[(64, 4, 16)].shallow.iqm_ci[1]
    assert not pairs[(128, 16, 32)].jump  # a drop with separate CIs is no jump
    assert not pairs[(256, 4, 16)].testable and not pairs[(256, 4, 16)].jump

    lines = rp.critical_depth_lines(_synthetic_report(groups, ("env_id", "critic_depth", "width")))
    assert len(lines) == 1
    low, high = (rp.fmt(v) for v in pairs[(64, 4, 16)].shallow.iqm_ci)
    assert lines[0].startswith(
        f"point_big_maze (width=64): critical depth: time at goal jumps from 11.0 [{low}, {high}]"
        " at depth 4 to 52.3 ["
    )
    assert "at depth 16 (IQM [95 % bootstrap CI], 3 and 3 seeds" in lines[0]


def test_critical_depth_says_when_there_is_no_jump() -> None:
    by = ("env_id", "critic_depth")
    flat = [_group(4, [10.0, 30.0, 50.0]), _group(16, [20.0, 40.0, 60.0]), _group(32, [7.0])]
    (line,) = rp.critical_depth_lines(_synthetic_report(flat, by))
    assert line.startswith("No jump between consecutive depths: in none of the 2 pairs")
    assert "(1 of them has a single seed on one side" in line
    (pair,) = rp.critical_depth_lines(_synthetic_report(flat[1:], by))  # one pair: said so
    assert "in the one pair compared the deeper depth's IQM" in pair
    assert "(a single seed on one side cannot show one)" in pair
    assert rp.critical_depth_lines(_synthetic_report(flat[:1], by)) == []  # one depth
    assert rp.critical_depth_lines(_synthetic_report(flat, ("env_id",))) == []  # no depth field


def test_report_md_has_the_critical_depth_and_curves_per_depth(tmp_path, capsys) -> None:
    root = tmp_path / "jumps"
    curve = [0.0, 10.0, 20.0, 30.0, 40.0, 50.0]
    for depth, scale in ((4, 0.2), (16, 1.0), (32, 1.05)):
        for seed in (0, 1, 2):
            fields = {
                "env_id": "point_big_maze",
                "critic_depth": depth,
                "width": 64,
                "data_mode": "online",
                "seed": seed,
            }
            values = [v * scale + seed for v in curve]
            _write_run(root, f"d{depth}s{seed}", fields, values)
    assert report(str(root), "--json") == 0
    out = json.loads(capsys.readouterr().out)
    (jump,) = out["critical_depth"]
    assert "jumps from" in jump and "at depth 4 to" in jump and "at depth 16 (" in jump
    md = (root / "report" / "report.md").read_text()
    assert "## Critical depth" in md and jump in md
    names = {Path(p).name for p in out["plots"]}
    assert {"depth_scaling_point_big_maze.png", "learning_curves_point_big_maze.png"} <= names
    assert "![point_big_maze: learning curves](learning_curves_point_big_maze.png)" in md
