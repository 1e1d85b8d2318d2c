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


#: One figure per family of ``diag/*`` metrics: ``family -> [(panel title, caption, y label,
#: [(series, line style, legend label)])]``. A series is a metric name (without ``diag/``) or
#: ``a/b``, the ratio of two. Panels whose series no run has are left out.
FAMILIES: dict[str, list[tuple[str, str, str, list[tuple[str, str, str]]]]] = {
    "gradients": [
        (f"{net}: loss gradient norm", "L2 norm over all its parameters", "gradient norm", s)
        for net, s in (
            ("actor", [("grad_norm_actor", "-", "")]),
            ("phi (state-action encoder)", [("grad_norm_phi", "-", "")]),
            ("psi (goal encoder)", [("grad_norm_psi", "-", "")]),
            ("Q-networks", [("grad_norm_critic", "-", "")]),
        )
    ]
    + [
        (
            f"{net}: first / last block",
            "gradient norm ratio; < 0.1 vanishes; 1 with one block",
            "first / last",
            [(f"grad_norm_{key}_first/grad_norm_{key}_last", "-", "")],
        )
        for net, key in (("actor", "actor"), ("phi", "phi"), ("psi", "psi"), ("Q", "critic"))
    ],
    "representations": [
        (
            "representation norms",
            "batch mean of ||phi|| (solid), ||psi|| (dashed)",
            "L2 norm",
            [("phi_norm", "-", "phi"), ("psi_norm", "--", "psi")],
        ),
        (
            "shared component",
            "||batch mean|| / mean ||.||: phi solid, psi dashed",
            "fraction",
            [("phi_mean_norm/phi_norm", "-", "phi"), ("psi_mean_norm/psi_norm", "--", "psi")],
        ),
        (
            "effective rank of phi",
            "of the centred batch; 1 = collapsed; dotted: repr_dim",
            "dimensions",
            [("phi_rank", "-", "")],
        ),
    ],
    "logits": [
        (
            "InfoNCE logits",
            "mean of positive (solid), negative (dashed) pairs",
            "logit (energy)",
            [("logits_pos", "-", "positive"), ("logits_neg", "--", "negative")],
        ),
        (
            "logit gap",
            "positive minus negative: how well pairs separate",
            "logit difference",
            [("logits_pos-logits_neg", "-", "")],
        ),
        ("Q values: mean", "both Q-networks at the batch (TD)", "return", [("q_mean", "-", "")]),
        ("Q values: std", "both Q-networks at the batch (TD)", "return", [("q_std", "-", "")]),
    ],
    "actor": [
        (
            "actor saturation",
            f"mean |tanh(mean)|; dotted: {SATURATED} (saturated)",
            "|tanh(mean)|",
            [("actor_tanh_mean_abs", "-", "")],
        ),
        (
            "actor log std",
            "mean log standard deviation of the policy",
            "nats",
            [("actor_log_std", "-", "")],
        ),
    ],
}


#: Figure titles of the families.
_FAMILY_TITLES = {
    "gradients": "gradient diagnostics",
    "representations": "representation diagnostics",
    "logits": "logit and value diagnostics",
    "actor": "actor diagnostics",
}


def _series(d: DiagnosticCurves, key: str, depth: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Steps and values of one series at one depth: a metric, the ratio ``a/b`` or the
    difference ``a-b`` of two (at the steps both have)."""
    op = "/" if "/" in key else "-" if "-" in key else None
    if op is None:
        return d.curves.get(key, {}).get(depth)
    top, bottom = (d.curves.get(k, {}).get(depth) for k in key.split(op))
    if top is None or bottom is None:
        return None
    steps = np.intersect1d(top[0], bottom[0])
    a = np.array([top[1][top[0] == s][-1] for s in steps])
    b = np.array([bottom[1][bottom[0] == s][-1] for s in steps])
    if op == "-":
        return steps, a - b
    with np.errstate(divide="ignore", invalid="ignore"):
        return steps, np.where(b != 0, a / np.where(b != 0, b, 1.0), np.nan)


def _informative(
    d: DiagnosticCurves, series: list[tuple[str, str, str]], depths: list[int]
) -> bool:
    """Whether a panel has something to show: a series with data at some depth that is not
    the constant 1 of a first / last ratio (a network of one residual block)."""
    for key, _, _ in series:
        for depth in depths:
            got = _series(d, key, depth)
            if got is None or not got[1].size:
                continue
            if "/" in key and key.endswith("_last") and np.allclose(got[1], 1.0):
                continue
            return True
    return False


def _steps_label(value: float, _: Any = None) -> str:
    """Tick label of a step count: ``0``, ``500``, ``200k``, ``1.5M``."""
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:g}{unit}"
    return f"{value:g}"


def plot_diagnostics(d: DiagnosticCurves, out_dir: Path) -> list[Path]:
    """One figure per family of :data:`FAMILIES` with data, ``diagnostics_<env>_<family>.png``
    in ``out_dir``: a panel per quantity with a title and a one-line caption, labelled axes
    (steps: env steps, gradient steps offline), plain tick labels, one line per critic depth
    (colour: viridis by depth, as the report's other plots; mean over seeds). Axes spanning
    more than two decades are drawn on a log scale; a first / last block panel whose networks
    all have one block (the ratio is 1) is left out.

    Returns:
        The PNGs written (none without any curve).
    """
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    from harness.report.plots import _pyplot, _save

    plt = _pyplot()
    depths = sorted({depth for per in d.curves.values() for depth in per})
    cmap = plt.get_cmap("viridis")
    colour = {dep: cmap(0.9 * i / max(len(depths) - 1, 1)) for i, dep in enumerate(depths)}
    x_label = "gradient steps" if d.offline else "env steps"
    written = []
    for family, panels in FAMILIES.items():
        drawn = [p for p in panels if _informative(d, p[3], depths)]
        if not drawn:
            continue
        cols = min(3, len(drawn))
        rows = math.ceil(len(drawn) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(4.3 * cols, 3.1 * rows), squeeze=False)
        for ax, (title, caption, y_label, series) in zip(axes.flat, drawn, strict=False):
            values = []
            for key, style, _ in series:
                for depth in depths:
                    got = _series(d, key, depth)
                    if got is None:
                        continue
                    ax.plot(*got, style, marker="o", ms=2.5, lw=1.3, color=colour[depth])
                    values.append(got[1][np.isfinite(got[1])])
            pooled = np.concatenate(values) if values else np.zeros(0)
            if pooled.size and np.all(pooled > 0) and pooled.max() / pooled.min() > 100:
                ax.set_yscale("log")
                ax.yaxis.set_major_locator(LogLocator(numticks=5))
                ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
                ax.yaxis.set_minor_formatter(NullFormatter())
            else:
                ax.yaxis.set_major_locator(MaxNLocator(5))
            if "first / last" in title:
                ax.axhline(1.0, color="0.5", lw=0.8, ls=":")
            if family == "actor" and "saturation" in title:
                ax.axhline(SATURATED, color="0.5", lw=0.8, ls=":")
            if title.startswith("effective rank") and d.repr_dim:
                ax.axhline(d.repr_dim, color="0.5", lw=0.8, ls=":")
            ax.set_title(f"{title}\n{caption}", fontsize=8.5)
            ax.set_xlabel(x_label, fontsize=8)
            ax.set_ylabel(y_label, fontsize=8)
            ax.xaxis.set_major_locator(MaxNLocator(5))
            ax.xaxis.set_major_formatter(FuncFormatter(_steps_label))
            ax.tick_params(labelsize=7.5)
            ax.grid(True, lw=0.3, alpha=0.6)
        for ax in list(axes.flat)[len(drawn) :]:
            ax.axis("off")
        handles = [Line2D([], [], color=colour[dep], marker="o", ms=3) for dep in depths]
        labels = [
            f"{dep} ({d.runs.get(dep, 0)} run{'' if d.runs.get(dep) == 1 else 's'})"
            for dep in depths
        ]
        fig.legend(
            handles, labels, title="critic depth", loc="lower center", ncol=len(depths), fontsize=8
        )
        seeds = "mean over runs" if any(n > 1 for n in d.runs.values()) else "one run per depth"
        fig.suptitle(f"{d.env_id}: {_FAMILY_TITLES[family]} ({seeds})", fontsize=11)
        fig.tight_layout(rect=(0, 0.1 if rows == 1 else 0.06, 1, 0.97))
        written.append(_save(fig, Path(out_dir) / f"diagnostics_{d.env_id}_{family}.png"))
    return written


def diagnostics_markdown(
    runs: Sequence[RunResult], out_dir: Path, plots: bool = True
) -> tuple[list[str], list[Path]]:
    """Markdown lines of the "Diagnostics" section (empty when no run has ``diag/*``), with
    one figure per environment and family (:func:`plot_diagnostics`) written to ``out_dir``
    when ``plots``.

    Returns:
        The lines, and the PNGs written.
    """
    import os

    found = diagnostic_curves(runs)
    if not found:
        return [], []
    lines = [
        "## Diagnostics",
        "",
        "Depth diagnostics on one fixed minibatch at every evaluation, one line per critic "
        'depth (definitions and units: docs/results.md, "Depth diagnostics").',
        "",
    ]
    written: list[Path] = []
    for d in found:
        lines += [f"### {d.env_id}", ""]
        sentence = summary_sentence(d)
        if sentence:
            lines += [sentence, ""]
        if plots:
            for made in plot_diagnostics(d, Path(out_dir)):
                written.append(made)
                family = made.stem.rsplit("_", 1)[-1]
                rel = os.path.relpath(made, out_dir)
                lines += [f"![{d.env_id}: {family} diagnostics]({rel})", ""]
    return lines, written
