"""A new user's first hour: the version lock, `harness doctor`, one final score, start-up
progress lines, and tables that fit an 80-column terminal.

The lock files are read as they are committed; the installed packages are this test session's
own (CI installs them from the lock, so they must match it).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import tomllib
from pathlib import Path

import pytest
from rich.console import Console

from harness.cli import main
from harness.doctor import FAIL, OK, check_lock, run_checks
from harness.pins import (
    RESULT_PACKAGES,
    differences,
    installed,
    lock_path,
    normalise,
    read_lock,
    version_changes,
)
from harness.progress import ConsoleReporter, fitted_table, summary_table
from harness.store import final_scores

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def _requirement_names(requirements: list[str]) -> list[str]:
    return [normalise(re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0]) for r in requirements]


# The lock ------------------------------------------------------------------------------------


def test_every_dependency_is_pinned_with_hashes_in_each_lock() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = _requirement_names(project["dependencies"])
    dev = _requirement_names(project["optional-dependencies"]["dev"])
    for name, wanted in (
        ("lock.txt", runtime),
        ("lock-dev.txt", runtime + dev),
        ("lock-cuda.txt", runtime),
    ):
        text = (ROOT / "requirements" / name).read_text()
        pins = read_lock(ROOT / "requirements" / name)
        assert not [n for n in wanted if n not in pins], name
        # every pinned line is followed by at least one sha256 hash
        blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
        assert all("--hash=sha256:" in b for b in blocks if "==" in b), name
        assert "scripts/lock.sh" in text  # says how it was made


def test_dev_and_cuda_locks_keep_the_default_pins() -> None:
    default = read_lock(ROOT / "requirements" / "lock.txt")
    for name in ("lock-dev.txt", "lock-cuda.txt"):
        other = read_lock(ROOT / "requirements" / name)
        assert {k: other.get(k) for k in default} == default, name
    cuda = read_lock(ROOT / "requirements" / "lock-cuda.txt")
    # the GPU extra resolves with the lock's jax: its plugin is of the same release
    assert cuda["jax-cuda12-plugin"] == default["jax"] == default["jaxlib"]


def test_brax_and_mujoco_have_upper_bounds() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = {normalise(re.split(r"[<>=]", d, maxsplit=1)[0]): d for d in project["dependencies"]}
    for name in ("brax", "mujoco", "mujoco-mjx"):
        assert "<" in deps[name], deps[name]


def test_installed_packages_match_the_lock() -> None:
    """The README's set-up command and .ci/run install from the lock: nothing may differ."""
    path = lock_path()
    assert path is not None
    assert [str(d) for d in differences(read_lock(path))] == []


def test_read_lock_skips_pins_for_other_platforms(tmp_path: Path) -> None:
    lock = tmp_path / "lock.txt"
    lock.write_text(
        "numpy==1.0 \\\n    --hash=sha256:00\n"
        "colorama==0.4.6 ; sys_platform == 'win32' \\\n    --hash=sha256:11\n"
        "Foo_Bar==2.0 ; python_full_version >= '3.11' \\\n    --hash=sha256:22\n"
    )
    assert read_lock(lock) == {"numpy": "1.0", "foo-bar": "2.0"}


def test_version_changes_name_the_physics_packages_only() -> None:
    before = {"jax": "0.10.1", "brax": "0.14.2", "numpy": "2.0", "mujoco": "4.0.1"}
    after = {"jax": "0.10.2", "brax": "0.14.2", "numpy": "2.1"}
    assert version_changes(before, after) == [
        "jax 0.10.1 -> 0.10.2",
        "mujoco 4.0.1 -> not installed",
    ]
    assert version_changes({}, after) == []  # an older run.json without versions
    assert {"jax", "brax", "mujoco"} <= set(RESULT_PACKAGES)


# harness doctor ------------------------------------------------------------------------------


def test_doctor_passes_here_and_names_every_check(tmp_path: Path) -> None:
    code, out, _ = _cli("doctor", "--results", str(tmp_path / "results"), "--json")
    report = json.loads(out)
    names = [c["name"] for c in report["checks"]]
    for name in ("python", "lock", "jax", "XLA flags", "compile cache", "results", "submitit"):
        assert name in names
    assert "slurm" in names and "GPU extra" in names
    failed = [c for c in report["checks"] if c["status"] == FAIL]
    assert code == (1 if failed else 0) and report["ok"] == (not failed)
    assert not failed, failed  # installed from the lock, on a writable disk
    jax_line = next(c for c in report["checks"] if c["name"] == "jax")
    assert "backend cpu" in jax_line["detail"]


def test_doctor_fails_with_reasons_on_a_lock_that_differs(tmp_path: Path) -> None:
    lock = tmp_path / "old-lock.txt"
    lock.write_text("numpy==0.0.1 \\\n    --hash=sha256:00\nnot-a-package-here==1.0\n")
    [check] = check_lock(lock)
    assert check.status == FAIL
    assert "numpy" in check.detail and "not-a-package-here not installed" in check.detail
    code, out, _ = _cli("doctor", "--results", str(tmp_path), "--lock", str(lock))
    assert code == 1
    assert "FAIL  lock" in out and "1 problem: lock" in out
    assert check_lock(tmp_path / "missing.txt")[0].status == FAIL


def test_doctor_checks_results_disk_and_compile_cache(tmp_path: Path) -> None:
    checks = {c.name: c for c in run_checks(tmp_path / "deep" / "results")}
    assert checks["results"].status in (OK, "note")
    assert "GB free" in checks["results"].detail
    assert checks["compile cache"].status == OK  # the session's cache (tests/conftest.py)


# One final score -----------------------------------------------------------------------------


def test_final_scores_are_the_mean_of_the_last_k_in_step_order() -> None:
    rows = [
        {"metric": "eval/time_at_goal", "env_steps": s, "value": v}
        for s, v in ((300, 30.0), (100, 10.0), (200, 20.0), (400, 40.0))
    ] + [{"metric": "perf/sps", "env_steps": 400, "value": 1e6}]
    assert final_scores(rows, 3) == {"eval/time_at_goal": 30.0}
    assert final_scores(rows, 1) == {"eval/time_at_goal": 40.0}
    assert final_scores(rows, 10) == {"eval/time_at_goal": 25.0}
    with pytest.raises(ValueError, match="last_k"):
        final_scores(rows, 0)


# Start-up progress ---------------------------------------------------------------------------


def test_start_up_phases_are_announced_then_summed() -> None:
    console = Console(file=io.StringIO(), width=120)
    reporter = ConsoleReporter(console)
    reporter.phase("r1", "building the envs and the trainer")
    reporter.phase("r1", "restoring the checkpoint")
    reporter.phase("r1", "init and prefill with 32,000 env steps (compiles the env step)")
    reporter.phase("r1", "evaluation (compiles the evaluation)")
    reporter.progress("r1", {"env_steps": 1, "total_env_steps": 2, "sps": 0.0})
    reporter.phase("r1", "training iteration 1 (compiles the update)")
    reporter.phase("r1", "training iteration 2")
    reporter.phase("r1", "evaluation")  # after start-up: nothing
    text = console.file.getvalue()  # type: ignore[attr-defined]
    lines = text.splitlines()
    assert lines[0] == "  r1 building the envs and the trainer ..."
    assert "prefilling the replay with 32,000 env steps" in lines[1]
    assert "first evaluation (compiles" in lines[2]
    assert "first training iteration (compiles the update)" in lines[3]
    assert lines[4].startswith("  r1 start-up (compilation included) took 0 s")
    assert len(lines) == 5  # no progress line during start-up, nothing after it


# Tables at 80 columns ------------------------------------------------------------------------


def _row(run_id: str, depth: int) -> dict:
    return {
        "run_id": run_id,
        "env_id": "point_u_maze",
        "critic_depth": depth,
        "actor_depth": 4,
        "width": 64,
        "batch_size": 256,
        "seed": 0,
        "status": "completed",
        "env_steps": 600_000,
        "time_at_goal": 129.8,
        "success_any": 0.8,
        "random_time_at_goal": 0.7,
        "wall_s": 311.0,
        "slurm_job_id": None,
        "resumes": 0,
    }


@pytest.mark.parametrize("width", [80, 200])
def test_status_table_fits_the_terminal_and_keeps_ids_whole(width: int) -> None:
    rows = [_row("f094e6890dd5", 4), _row("a1b2c3d4e5f6", 16)]
    console = Console(file=io.StringIO(), width=width)
    console.print(summary_table(rows, "quickstart (results/quickstart)", width=width, last_k={3}))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert max(len(line) for line in text.splitlines()) <= width
    assert "f094e6890dd5" in text and "a1b2c3d4e5f6" in text and "completed" in text
    assert "…" not in text
    assert "mean of the last 3 evaluations" in text
    if width == 80:
        assert "every row: " in text and "env point_u_maze" in text  # said once, below
        assert " 16 " in text  # the critic depth differs between rows: kept
    else:
        assert "every row" not in text and "point_u_maze" in text and "slurm job" in text


def test_fitted_table_names_columns_it_leaves_out() -> None:
    headers = ["id", "note", "a"]
    cells = [["x" * 30, "y" * 40, "1"], ["z" * 30, "w" * 40, "2"]]
    table = fitted_table("t", headers, cells, 60, left={"id"}, drop=["note", "a"])
    console = Console(file=io.StringIO(), width=60)
    console.print(table)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "y" * 40 not in text and "not shown at 60 columns: note" in text
    assert "x" * 30 in text


def test_plan_table_fits_80_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness import cli

    monkeypatch.setattr(cli, "_out", Console(file=io.StringIO(), width=80, soft_wrap=True))
    assert main(["plan", str(ROOT / "specs" / "quickstart.yaml"), "--results", str(tmp_path)]) == 0
    text = cli._out.file.getvalue()  # type: ignore[attr-defined]
    table = [line for line in text.splitlines() if line.startswith(("┃", "│", "┏", "└"))]
    assert table and max(len(line) for line in table) <= 80
    assert "point_u_maze" in text and "…" not in text


def test_installed_reads_distributions() -> None:
    have = installed(["jax", "not-a-package-here"])
    assert "jax" in have and "not-a-package-here" not in have


SPEC = """
name: agree
env: {id: point_u_maze, episode_length: 40}
network: {width: 16, repr_dim: 8}
algo: {batch_size: 32}
data: {num_envs: 4, unroll_length: 20, total_env_steps: 400, replay_size_per_env: 200,
       min_replay_per_env: 40}
eval: {num_envs: 4, num_evals: 6, last_k: 3}
seeds: [0, 1]
"""


def _completed_runs(tmp_path: Path) -> tuple[Path, Path]:
    """A spec's two runs written as `harness run` writes them (config.json from the spec),
    with known curves: seed s has time at goal 10 * i + s at its i-th evaluation."""
    from harness.plan import expand
    from harness.runner import write_run_config
    from harness.spec import load_spec
    from harness.store import write_json, write_metrics

    spec_path = tmp_path / "agree.yaml"
    spec_path.write_text(SPEC)
    spec, results = load_spec(spec_path), tmp_path / "results"
    for run in expand(spec):
        rundir = write_run_config(spec, run, results, {})
        rows = [
            {
                **run.columns(),
                "spec": spec.name,
                "algo": "crl",
                "data_mode": "online",
                "env_steps": 100 * i,
                "grad_steps": 10 * i,
                "wall_s": float(i),
                "metric": "eval/time_at_goal",
                "value": 10.0 * i + run.config.seed,
            }
            for i in range(7)
        ]
        write_metrics(rundir.metrics, rows)
        write_json(rundir.record, {"run_id": run.run_id, "status": "completed"})
    return spec_path, results


def test_status_and_report_agree_on_the_final_score(tmp_path: Path) -> None:
    spec, results = _completed_runs(tmp_path)
    code, out, _ = _cli("status", str(spec), "--results", str(results), "--json")
    assert code == 0
    status = {row["seed"]: row["time_at_goal"] for row in json.loads(out)}
    assert status == {0: 50.0, 1: 51.0}  # mean of the last 3 (eval.last_k), not of 5 (40)
    code, out, _ = _cli("report", str(spec), "--results", str(results), "--json", "--no-plots")
    assert code == 0
    [group] = json.loads(out)["groups"]
    assert sorted(group["scores"]) == [50.0, 51.0]
    code, out, _ = _cli("report", str(spec), "--results", str(results), "--no-plots")
    assert "2 completed runs in the table" in out
    assert "mean of the last 3 evaluations of eval/time_at_goal (the spec's eval.last_k)" in out
    assert "critical depth:" not in out  # one depth: nothing to say
    # --last overrides the spec's K and says so under the table
    code, out, _ = _cli("report", str(spec), "--results", str(results), "--no-plots", "--last", "5")
    assert code == 0 and "50.5" not in out and "40.5" in out
    assert "(--last 5; the runs' eval.last_k: 3)" in out
    status_out = _cli("status", str(spec), "--results", str(results))[1]
    assert "mean of the last 3 evaluations (eval.last_k)" in status_out


def test_report_counts_one_run_and_every_png(tmp_path: Path) -> None:
    _, results = _completed_runs(tmp_path)
    one = tmp_path / "one"
    folder = results / "agree"
    first = sorted(p for p in folder.iterdir() if p.is_dir())[0]
    (one / first.name).mkdir(parents=True)
    for name in ("config.json", "metrics.parquet", "run.json"):
        (one / first.name / name).write_bytes((first / name).read_bytes())
    code, out, _ = _cli("report", str(one))
    assert code == 0
    assert "1 completed run in the table" in out
    pngs = sorted((one / "report").glob("*.png"))
    assert f"and {len(pngs)} plot" in out and pngs
