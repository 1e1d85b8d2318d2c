"""Learning side by side: the reference's own ``train.py`` and the harness on one task.

Two steps, both from the repository root in the harness venv::

    # 1. the harness's seeds (the spec says everything) and the reference's, on the same sizes
    harness run specs/reference_reacher.yaml
    python benchmarks/reference/learning.py reference --reference PATH/TO/scaling-crl \\
        --spec specs/reference_reacher.yaml [--seeds 0 1 2]
    # 2. the figure and the statistics
    python benchmarks/reference/learning.py report --spec specs/reference_reacher.yaml \\
        [--out docs/figures/learning_side_by_side.png] [--json OUT.json]

``reference`` turns the spec into ``train.py``'s own flags (:func:`reference_args`) and runs
``ref_train.py`` (``train.py`` unchanged, its evaluations logged as JSON lines) once per seed,
one after the other, into ``results/<spec name>/reference/seed<N>.jsonl`` (and ``.log``).
``report`` reads those and the harness's ``metrics.parquet`` files and prints, per side, the
final score of each seed (mean of the last ``eval.last_k`` evaluations of time at goal), the
mean and its standard error, ``P(harness > reference)`` with a 95 % stratified bootstrap
interval (Agarwal et al. 2021, arXiv 2108.13264; ``harness.report.stats.poi_ci``), the
wall-clock of each run (start-up and compilation included) and the env steps per second; it
draws both learning curves (mean over seeds and a 95 % percentile bootstrap interval of that
mean, ``scipy.stats.bootstrap``, against env steps) in one figure.

Raises:
    SystemExit: on a spec the reference cannot run (:func:`reference_args`) or missing results.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
TIME_AT_GOAL_REF = "eval/episode_success"
"""The reference's time at goal: per-step success summed over the episode, mean over the eval
envs (scaling-crl ``evaluator.py:64-72``); the harness's ``eval/time_at_goal``."""


def reference_args(spec: Any, seed: int) -> list[str]:
    """``train.py`` flags (scaling-crl ``train.py:27-104``) for the harness's ``spec``.

    The reference's budget: ``num_prefill_env_steps = min_replay_size * num_envs`` and
    ``num_training_steps_per_epoch = (total_env_steps - num_prefill_env_steps) // (num_epochs *
    num_envs * unroll_length)`` (``train.py:274-283``), with ``ceil(min_replay_size /
    unroll_length)`` prefill unrolls. The harness's ``total_env_steps`` counts the same prefill
    unrolls plus its training iterations, so the reference gets ``min_replay_size * num_envs +
    iterations * num_envs * unroll_length`` with ``num_epochs = eval.num_evals`` (one
    evaluation per epoch, ``train.py:991-1012``). A depth-``d`` harness network is ``d / 4``
    residual blocks of 4 layers: ``--critic_skip_connections 4`` (and the actor's), as in the
    reference README's commands.

    Raises:
        SystemExit: when the spec's iterations do not split into ``num_evals`` equal epochs, or
            the spec uses something ``train.py`` has no flag for.
    """
    env, data, algo, net, ev = spec.env, spec.data, spec.algo, spec.network, spec.eval
    per_iter = data.num_envs * data.unroll_length
    prefill = math.ceil(data.min_replay_per_env / data.unroll_length)
    iterations = data.total_env_steps // per_iter - prefill
    if data.total_env_steps % per_iter or iterations % ev.num_evals:
        raise SystemExit(
            f"{spec.name}: data.total_env_steps = {data.total_env_steps} is not {prefill} prefill "
            f"unrolls plus a multiple of eval.num_evals = {ev.num_evals} iterations of "
            f"{per_iter} env steps: the reference cannot run the same budget"
        )
    if algo.name != "crl" or net.repr_dim != 64 or net.activation != "swish" or not net.residual:
        raise SystemExit(f"{spec.name}: the reference runs CRL, swish, residual, repr_dim 64 only")
    sgd = algo.utd * per_iter
    if abs(sgd - round(sgd)) > 1e-6:
        raise SystemExit(
            f"{spec.name}: algo.utd * {per_iter} = {sgd} is not a whole SGD step count"
        )
    total = data.min_replay_per_env * data.num_envs + iterations * per_iter
    return [
        "--env_id", env.id, "--eval_env_id", env.eval_id or env.id,
        "--episode_length", str(env.episode_length),
        "--no-track", "--no-checkpoint", "--no-capture-vis",
        "--num_envs", str(data.num_envs), "--unroll_length", str(data.unroll_length),
        "--num_eval_envs", str(ev.num_envs), "--batch_size", str(algo.batch_size),
        "--num_sgd_batches_per_training_step", str(round(sgd)),
        "--max_replay_size", str(data.replay_size_per_env),
        "--min_replay_size", str(data.min_replay_per_env),
        "--critic_depth", str(net.critic_depth), "--actor_depth", str(net.actor_depth),
        "--critic_network_width", str(net.width),
        "--actor_network_width", str(net.actor_width or net.width),
        "--critic_skip_connections", "4", "--actor_skip_connections", "4",
        "--actor_lr", str(algo.actor_lr), "--critic_lr", str(algo.critic_lr),
        "--alpha_lr", str(algo.alpha_lr), "--gamma", str(algo.discount),
        "--logsumexp_penalty_coeff", str(algo.logsumexp_penalty),
        "--total_env_steps", str(total), "--num_epochs", str(ev.num_evals),
        "--seed", str(seed),
    ]  # fmt: skip


def run_reference(ns: argparse.Namespace) -> int:
    """Run ``ref_train.py`` once per seed (sequentially); returns the number of failed seeds."""
    from harness.spec.load import load_spec

    spec = load_spec(ns.spec)
    out = ns.results / spec.name / "reference"
    out.mkdir(parents=True, exist_ok=True)
    py = ns.venv / "bin" / "python"
    if not py.exists():
        sys.path.insert(0, str(HERE))
        from reference_env import ensure_venv

        ensure_venv(ns.venv.resolve(), ns.reference.resolve())
    failed = 0
    for seed in ns.seeds or spec.seeds:
        log = out / f"seed{seed}.jsonl"
        if log.exists() and not ns.force:
            print(f"seed {seed}: {log} exists (--force to run it again)")
            continue
        cmd = [
            str(py),
            str(HERE / "ref_train.py"),
            "--reference",
            str(ns.reference.resolve()),
            "--log",
            str(log.resolve()),
        ]
        if spec.env.id == "reacher":
            cmd += ["--reacher-pipeline", "generalized"]
        cmd += ["--", *reference_args(spec, seed)]
        tmp = log.with_suffix(".partial.jsonl")
        tmp.unlink(missing_ok=True)
        cmd[cmd.index(str(log.resolve()))] = str(tmp.resolve())
        print(f"seed {seed}: {' '.join(cmd)}", flush=True)
        t0 = time.time()
        with open(out / f"seed{seed}.log", "w") as f:
            done = subprocess.run(
                cmd,
                stdout=f,
                stderr=subprocess.STDOUT,
                timeout=ns.timeout,
                env={**os.environ, "JAX_PLATFORMS": "cpu"},
            )
        if done.returncode == 0 and tmp.exists():
            tmp.rename(log)  # only a finished run leaves seed<N>.jsonl
            print(f"seed {seed}: done in {time.time() - t0:.0f} s", flush=True)
        else:
            failed += 1
            print(f"seed {seed}: FAILED (exit {done.returncode}; see {out}/seed{seed}.log)")
    return failed


# ---- report ----------------------------------------------------------------------------------


def harness_curves(results: Path, spec_name: str) -> dict[int, dict[str, Any]]:
    """Per seed: ``steps [k]``, ``time_at_goal [k]`` (evaluations) and ``wall_s`` of the run."""
    import pyarrow.parquet as pq

    out: dict[int, dict[str, Any]] = {}
    for path in sorted((results / spec_name).glob("*/metrics.parquet")):
        t = pq.read_table(path, columns=["seed", "env_steps", "wall_s", "metric", "value"])
        d = t.to_pydict()
        rows = [i for i, m in enumerate(d["metric"]) if m == "eval/time_at_goal"]
        run = json.loads((path.parent / "run.json").read_text())
        if run.get("status") != "completed" or not rows:
            continue
        seed = int(d["seed"][rows[0]])
        order = sorted(rows, key=lambda i: d["env_steps"][i])
        random = [d["value"][i] for i, m in enumerate(d["metric"]) if m == "random/time_at_goal"]
        out[seed] = {
            "steps": np.array([d["env_steps"][i] for i in order], float),
            "time_at_goal": np.array([d["value"][i] for i in order], float),
            "random_time_at_goal": random[0] if random else None,
            "wall_s": float(run["wall_s"]),  # the whole run: start-up and compilation included
        }
    return out


def reference_curves(results: Path, spec_name: str) -> dict[int, dict[str, Any]]:
    """The same from ``reference/seed<N>.jsonl`` (finished runs only)."""
    out: dict[int, dict[str, Any]] = {}
    for path in sorted((results / spec_name / "reference").glob("seed*.jsonl")):
        if path.name.endswith(".partial.jsonl"):
            continue
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        out[int(path.stem[4:])] = {
            "steps": np.array([r["training/envsteps"] for r in rows], float),
            "time_at_goal": np.array([r[TIME_AT_GOAL_REF] for r in rows], float),
            "wall_s": float(rows[-1]["wall_s"]),
        }
    return out


def _mean_ci(curves: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over seeds and a 95 % percentile bootstrap interval of it, per evaluation."""
    from scipy import stats

    y = np.stack(curves)  # [seeds, evals]
    lo, hi = np.full(y.shape[1], np.nan), np.full(y.shape[1], np.nan)
    if y.shape[0] >= 2:
        for j in range(y.shape[1]):
            if np.ptp(y[:, j]) == 0:
                lo[j] = hi[j] = y[0, j]
                continue
            r = stats.bootstrap(
                (y[:, j],),
                np.mean,
                n_resamples=9999,
                method="percentile",
                rng=np.random.default_rng(j),
            )
            lo[j], hi[j] = r.confidence_interval
    return y.mean(0), lo, hi


def report(ns: argparse.Namespace) -> int:
    """Print the comparison, write the figure (and ``--json``); returns the exit status."""
    from harness.report.stats import mean_se, poi_ci
    from harness.spec.load import load_spec

    spec = load_spec(ns.spec)
    last_k = spec.eval.last_k
    sides = {
        "harness": harness_curves(ns.results, spec.name),
        "reference": reference_curves(ns.results, spec.name),
    }
    for side, runs in sides.items():
        if not runs:
            raise SystemExit(f"no finished {side} runs of {spec.name} under {ns.results}")
    finals: dict[str, np.ndarray] = {}
    summary: dict[str, Any] = {"spec": spec.name, "last_k": last_k, "sides": {}}
    for side, runs in sides.items():
        seeds = sorted(runs)
        # The harness evaluates at step 0 too; both sides' last ``last_k`` evaluations count.
        final = np.array([runs[s]["time_at_goal"][-last_k:].mean() for s in seeds])
        finals[side] = final
        mean, se = mean_se(final)
        steps = [runs[s]["steps"][-1] for s in seeds]
        walls = [runs[s]["wall_s"] for s in seeds]
        summary["sides"][side] = {
            "seeds": seeds, "final_time_at_goal": final.tolist(), "mean": mean, "se": se,
            "final_env_steps": steps, "wall_s": walls,
            "env_steps_per_wall_s": [a / b for a, b in zip(steps, walls, strict=True)],
        }  # fmt: skip
        print(
            f"{side:9s} seeds {seeds}: final time at goal (mean of last {last_k} evals) "
            f"{np.round(final, 1).tolist()}  mean {mean:.1f} +- {se:.1f} (s.e.)  "
            f"wall-clock {np.mean(walls) / 60:.1f} min per seed "
            f"({np.mean(steps) / np.mean(walls):.0f} env steps/s, compile included)"
        )
    harness = sides["harness"]
    untrained = [r["time_at_goal"][0] for r in harness.values()]
    randoms = [r["random_time_at_goal"] for r in harness.values() if r["random_time_at_goal"]]
    summary["harness_untrained_actor"] = untrained  # the evaluation after the prefill
    summary["random_policy"] = randoms
    print(
        f"harness, untrained actor (evaluation after the prefill): {np.mean(untrained):.1f}; "
        f"uniform random policy: {np.mean(randoms):.1f} (same eval env and episodes)"
    )
    poi, (lo, hi) = poi_ci([(finals["harness"], finals["reference"])])
    summary["p_harness_gt_reference"] = {"point": poi, "ci95": [lo, hi]}
    print(
        f"P(harness > reference) = {poi:.2f}  95 % CI [{lo:.2f}, {hi:.2f}]  "
        f"(stratified bootstrap over seeds; 0.5 = no difference)"
    )
    _plot(sides, spec, ns.out)
    print(f"figure: {ns.out}")
    if ns.json:
        ns.json.write_text(json.dumps(summary, indent=1, default=float))
    return 0


def _plot(sides: dict[str, dict[int, dict[str, Any]]], spec: Any, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for (side, runs), color in zip(sides.items(), ("tab:blue", "tab:orange"), strict=True):
        seeds = sorted(runs)
        n = min(len(runs[s]["steps"]) for s in seeds)
        steps = runs[seeds[0]]["steps"][-n:]
        mean, lo, hi = _mean_ci([runs[s]["time_at_goal"][-n:] for s in seeds])
        label = f"{side} ({len(seeds)} seeds)"
        ax.plot(steps, mean, color=color, marker="o", ms=3, label=label)
        ax.fill_between(steps, lo, hi, color=color, alpha=0.25, lw=0)
    randoms = [r["random_time_at_goal"] for r in sides["harness"].values()]
    randoms = [x for x in randoms if x is not None]
    if randoms:
        ax.axhline(float(np.mean(randoms)), color="grey", ls="--", lw=1, label="random policy")
    ax.set_xlabel("env steps")
    ax.set_ylabel(f"time at goal (steps of {spec.env.episode_length})")
    net = spec.network
    ax.set_title(
        f"{spec.env.id}: depth {net.critic_depth}, width {net.width}, "
        f"{spec.data.num_envs} envs, batch {spec.algo.batch_size}",
        fontsize=10,
    )
    ax.legend(title="mean, 95 % bootstrap CI", fontsize=8, title_fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=130)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ref = sub.add_parser("reference", help="run the reference's train.py, one seed at a time")
    ref.add_argument("--reference", required=True, type=Path, help="scaling-crl checkout")
    ref.add_argument("--venv", type=Path, default=ROOT / ".reference-venv")
    ref.add_argument("--seeds", type=int, nargs="+", help="default: the spec's seeds")
    ref.add_argument("--timeout", type=float, default=4 * 3600.0, help="seconds per seed")
    ref.add_argument("--force", action="store_true", help="rerun seeds that have a log")
    rep = sub.add_parser("report", help="figure and statistics of both sides")
    rep.add_argument(
        "--out", type=Path, default=ROOT / "docs" / "figures" / "learning_side_by_side.png"
    )
    rep.add_argument("--json", type=Path)
    for p in (ref, rep):
        p.add_argument("--spec", required=True, type=Path)
        p.add_argument("--results", type=Path, default=Path("results"))
    ns = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if ns.command == "reference":
        return 1 if run_reference(ns) else 0
    return report(ns)


if __name__ == "__main__":
    raise SystemExit(main())
