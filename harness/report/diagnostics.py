"""The "Diagnostics" section of ``harness report``: the ``diag/*`` metrics
(:mod:`harness.diagnostics`) against env steps, one line per critic depth, and a sentence on
what they show.

Lines are means over the runs of one depth (seeds, and any other setting, pooled) at each
evaluation step; offline runs are drawn against gradient steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.report.runs import RunResult
from harness.store import BrokenFile, read_metrics

#: Order of the panels (names without ``diag/``); others follow alphabetically.
PANEL_ORDER = (
    "grad_norm_actor",
    "grad_norm_phi",
    "grad_norm_psi",
    "grad_norm_critic",
    "grad_norm_actor_first",
    "grad_norm_actor_mid",
    "grad_norm_actor_last",
    "grad_norm_phi_first",
    "grad_norm_phi_mid",
    "grad_norm_phi_last",
    "grad_norm_psi_first",
    "grad_norm_psi_mid",
    "grad_norm_psi_last",
    "grad_norm_critic_first",
    "grad_norm_critic_mid",
    "grad_norm_critic_last",
    "phi_norm",
    "phi_mean_norm",
    "psi_norm",
    "psi_mean_norm",
    "phi_rank",
    "logits_pos",
    "logits_neg",
    "q_mean",
    "q_std",
    "actor_tanh_mean_abs",
    "actor_log_std",
)

#: Mean |tanh(mean)| above which the report calls an actor saturated.
SATURATED = 0.9
#: Ratio of the first block's gradient norm to the last's beyond which gradients are said to
#: vanish (below 1 / this) or explode (above this) toward the input.
GRADIENT_RATIO = 10.0


@dataclass(frozen=True)
class DiagnosticCurves:
    """``diag/*`` curves of one environment.

    Attributes:
        env_id: the environment.
        offline: whether the steps are gradient steps (offline runs).
        curves: ``name -> depth -> (steps [T], mean over runs [T])`` (names without ``diag/``).
        runs: runs per depth.
        repr_dim: phi's size when the runs agree on it, else None.
    """

    env_id: str
    offline: bool
    curves: dict[str, dict[int, tuple[np.ndarray, np.ndarray]]]
    runs: dict[int, int]
    repr_dim: int | None


def _run_diagnostics(run: RunResult) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    try:
        table = read_metrics(run.path / "metrics.parquet")
    except (FileNotFoundError, BrokenFile):
        return {}
    offline = run.fields.get("data_mode") == "offline"
    names = np.asarray(table.column("metric").to_pylist(), dtype=object)
    steps = table.column("grad_steps" if offline else "env_steps").to_numpy()
    values = table.column("value").to_numpy()
    out = {}
    for name in sorted({n for n in names if str(n).startswith("diag/")}):
        pick = names == name
        order = np.argsort(steps[pick], kind="stable")
        out[str(name)[len("diag/") :]] = (steps[pick][order], values[pick][order])
    return out


def diagnostic_curves(runs: Sequence[RunResult]) -> list[DiagnosticCurves]:
    """The ``diag/*`` curves of the runs that have them, per environment (sorted)."""
    by_env: dict[str, list[tuple[RunResult, dict[str, Any]]]] = {}
    for run in runs:
        if run.status in ("pending", "broken"):
            continue
        series = _run_diagnostics(run)
        if series:
            by_env.setdefault(run.env_id, []).append((run, series))
    out = []
    for env_id in sorted(by_env):
        members = by_env[env_id]
        curves: dict[str, dict[int, tuple[np.ndarray, np.ndarray]]] = {}
        counts: dict[int, int] = {}
        names = sorted({n for _, s in members for n in s})
        depths = sorted({int(r.fields.get("critic_depth") or 0) for r, _ in members})
        for depth in depths:
            group = [s for r, s in members if int(r.fields.get("critic_depth") or 0) == depth]
            counts[depth] = len(group)
            for name in names:
                have = [s[name] for s in group if name in s]
                if not have:
                    continue
                steps = np.array(sorted({int(x) for st, _ in have for x in st}), dtype=np.int64)
                mean = np.array(
                    [
                        np.mean([v[st == step][-1] for st, v in have if np.any(st == step)])
                        for step in steps
                    ]
                )
                curves.setdefault(name, {})[depth] = (steps, mean)
        dims = {_repr_dim(r) for r, _ in members}
        offline = all(r.fields.get("data_mode") == "offline" for r, _ in members)
        repr_dim = dims.pop() if len(dims) == 1 else None
        out.append(DiagnosticCurves(env_id, offline, curves, counts, repr_dim))
    return out


def _repr_dim(run: RunResult) -> int | None:
    network = ((run.config or {}).get("config") or {}).get("network") or {}  # config.json
    value = network.get("repr_dim")
    return int(value) if value is not None else None


def _final(d: DiagnosticCurves, name: str, depth: int) -> float | None:
    series = d.curves.get(name, {}).get(depth)
    if series is None or not series[1].size:
        return None
    value = float(series[1][-1])
    return value if math.isfinite(value) else None


def summary_sentence(d: DiagnosticCurves) -> str:
    """What the diagnostics of one environment show at the last evaluation, in words:
    gradient flow through the deepest critic (first / last block norm), phi's effective rank
    and shared component by depth, and the actor's saturation."""
    depths = sorted({depth for per in d.curves.values() for depth in per})
    if not depths:
        return ""
    shallow, deep = depths[0], depths[-1]
    parts = []
    net = "phi" if "grad_norm_phi_first" in d.curves else "critic"
    first = _final(d, f"grad_norm_{net}_first", deep)
    last = _final(d, f"grad_norm_{net}_last", deep)
    if first is not None and last is not None and last > 0:
        ratio = first / last
        if ratio < 1 / GRADIENT_RATIO:
            how = "vanish toward the input"
        elif ratio > GRADIENT_RATIO:
            how = "grow toward the input"
        else:
            how = "reach the first residual block"
        name = "phi encoder's" if net == "phi" else "Q-networks'"
        parts.append(
            f"at depth {deep}, the {name} gradients {how} (first / last block gradient norm "
            f"{ratio:.2g})"
        )
    ranks = {depth: _final(d, "phi_rank", depth) for depth in dict.fromkeys((shallow, deep))}
    if all(r is not None for r in ranks.values()):
        of = f" (of {d.repr_dim} dimensions)" if d.repr_dim else ""
        text = " and ".join(f"{r:.1f} at depth {depth}" for depth, r in ranks.items())
        parts.append(f"phi's effective rank is {text}{of}")
    shares = []
    for depth in dict.fromkeys((shallow, deep)):
        mean, norm = _final(d, "phi_mean_norm", depth), _final(d, "phi_norm", depth)
        if mean is not None and norm:
            shares.append(f"{100 * mean / norm:.0f} % at depth {depth}")
    if shares:
        parts.append(
            "the norm of phi's batch-mean component is " + " and ".join(shares) + " of its "
            "mean norm"
        )
    saturation = {depth: _final(d, "actor_tanh_mean_abs", depth) for depth in depths}
    known = {k: v for k, v in saturation.items() if v is not None}
    if known:
        saturated = [str(k) for k, v in known.items() if v > SATURATED]
        if saturated:
            parts.append(
                f"the actor saturates (mean |tanh(mean)| > {SATURATED}) at depth "
                f"{', '.join(saturated)}"
            )
        else:
            parts.append(
                f"no actor saturates (mean |tanh(mean)| at most {max(known.values()):.2f})"
            )
    if not parts:
        return ""
    sentence = "; ".join(parts)
    return f"At the last evaluation, {sentence}."


_LOG_SCALE = ("grad_norm", "phi_norm", "psi_norm", "phi_mean_norm", "psi_mean_norm")


def plot_diagnostics(d: DiagnosticCurves, path: Path) -> Path | None:
    """One panel per ``diag/*`` metric, one line per critic depth (colour: viridis by depth,
    as the report's other plots). None without any curve."""
    from matplotlib.ticker import EngFormatter

    from harness.report.plots import _pyplot, _save

    names = [n for n in PANEL_ORDER if n in d.curves]
    names += sorted(n for n in d.curves if n not in PANEL_ORDER)
    if not names:
        return None
    plt = _pyplot()
    cols = 4
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.0 * cols, 2.6 * rows), squeeze=False)
    depths = sorted({depth for per in d.curves.values() for depth in per})
    cmap = plt.get_cmap("viridis")
    colour = {dep: cmap(0.9 * i / max(len(depths) - 1, 1)) for i, dep in enumerate(depths)}
    for ax, name in zip(axes.flat, names, strict=False):
        for depth, (steps, mean) in sorted(d.curves[name].items()):
            ax.plot(steps, mean, marker="o", ms=2, lw=1.2, color=colour[depth], label=str(depth))
        if name.startswith(_LOG_SCALE) and all(
            np.all(mean > 0) for _, mean in d.curves[name].values()
        ):
            ax.set_yscale("log")
        ax.set_title(f"diag/{name}", fontsize=9)
        ax.xaxis.set_major_formatter(EngFormatter(sep=" "))
        ax.tick_params(labelsize=7)
        ax.grid(True, lw=0.3, alpha=0.6)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(
        handles, labels, title="critic depth", loc="lower center", ncol=len(depths), fontsize=8
    )
    step = "gradient steps" if d.offline else "env steps"
    fig.suptitle(f"{d.env_id}: depth diagnostics vs {step} (mean over seeds)", fontsize=11)
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    return _save(fig, path)


def diagnostics_markdown(runs: Sequence[RunResult], out_dir: Path, plots: bool = True) -> list[str]:
    """Markdown lines of the "Diagnostics" section (empty when no run has ``diag/*``), with
    one plot per environment written to ``out_dir/diagnostics_<env>.png`` when ``plots``."""
    import os

    found = diagnostic_curves(runs)
    if not found:
        return []
    lines = [
        "## Diagnostics",
        "",
        "Depth diagnostics on one fixed minibatch at every evaluation, one line per critic "
        'depth (definitions and units: docs/results.md, "Depth diagnostics").',
        "",
    ]
    for d in found:
        lines += [f"### {d.env_id}", ""]
        sentence = summary_sentence(d)
        if sentence:
            lines += [sentence, ""]
        if plots:
            made = plot_diagnostics(d, Path(out_dir) / f"diagnostics_{d.env_id}.png")
            if made is not None:
                rel = os.path.relpath(made, out_dir)
                lines += [f"![{d.env_id}: depth diagnostics]({rel})", ""]
    return lines
