"""PNG plots of a :class:`~harness.report.groups.Report` (matplotlib, Agg backend; no display needed).

- :func:`plot_depth_scaling`: final score vs critic depth (log2 axis) per environment, mean
  +- s.e. band and IQM with its 95 % bootstrap CI, optionally beside the paper's numbers
  (Wang et al. 2025, arXiv 2503.14858, Fig. 1 and the results table); an arrow labelled
  "jump" marks a critical depth (:mod:`harness.report.depth_jumps`).
- :func:`plot_learning_curves`: the metric vs env steps per setting, mean +- s.e. over seeds.
- :func:`plot_width_vs_depth`: final score vs critic parameters, one line per width over
  depths (the paper's "depth beats width" at matched parameter counts).
- :func:`plot_online_offline`: final score vs depth, one panel per data mode.
- :func:`plot_value_map`: the critic's value over a maze for one goal (the paper's Fig. 3).
- :func:`plot_depth_figure`: the depth-scaling plot beside the value maps of the shallowest
  and the deepest critic (the README's headline figure).

Every function writes one PNG and returns its path; nothing prints.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.report.depth_jumps import depth_jumps
from harness.report.groups import DEPTH_FIELDS, GroupStats, Report, group_stats, read_reference
from harness.report.runs import RunResult
from harness.report.tables import final_score_text
from harness.report.value_maps import ValueMap

#: Episode length of the paper's time-at-goal numbers (Wang et al. 2025, Sec. 5).
PAPER_EPISODE_LENGTH = 1000
#: Horizontal offset (in log2 units) between the mean and IQM markers on depth plots.
_IQM_SHIFT = 0.07
DPI = 110


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def metric_label(metric: str, episode_length: int | None) -> str:
    """Axis label with units for a metric name."""
    name = metric.split("/", 1)[-1]
    of = f" of {episode_length}" if episode_length else ""
    labels = {
        "time_at_goal": f"time at goal (steps{of} within the success radius)",
        "success_any": "success (fraction of episodes that reached the goal)",
        "dist_mean": "mean distance to goal (m)",
        "alive_steps": f"steps alive (of {episode_length})" if episode_length else "steps alive",
    }
    return labels.get(name, metric)


def _episode_length(runs: Sequence[RunResult]) -> int | None:
    lengths = {r.episode_length for r in runs if r.episode_length}
    return lengths.pop() if len(lengths) == 1 else None


def _env_runs(report: Report, env_id: str) -> list[RunResult]:
    return [r for r in report.completed if r.env_id == env_id]


def _series_fields(report: Report, exclude: Sequence[str]) -> list[str]:
    return [f for f in report.by if f not in ("env_id", *DEPTH_FIELDS, *exclude)]


def _series_label(key: dict[str, Any], fields: Sequence[str]) -> str:
    return ", ".join(f"{f}={key[f]}" for f in fields)


def _colours(n: int) -> list[Any]:
    plt = _pyplot()
    if n <= 10:
        return [plt.get_cmap("tab10")(i) for i in range(n)]
    return [plt.get_cmap("viridis")(i / max(n - 1, 1)) for i in range(n)]


_LINESTYLES = ("-", "--", "-.", ":")


def _styles(keys: Sequence[tuple[Any, ...]], fields: Sequence[str]) -> list[tuple[Any, str]]:
    """``(colour, linestyle)`` per series key. With a critic-depth field among ``fields``, the
    colour follows the depth (darker = shallower, one sequential colour map) and the line style
    the other fields, so one depth has one colour in every plot; else ten distinct colours."""
    depth_at = next((i for i, f in enumerate(fields) if f in DEPTH_FIELDS), None)
    if depth_at is None:
        return [(c, "-") for c in _colours(len(keys))]
    plt = _pyplot()
    depths = sorted({k[depth_at] for k in keys}, key=_num)
    others = sorted(
        {k[:depth_at] + k[depth_at + 1 :] for k in keys}, key=lambda o: tuple(map(_num, o))
    )
    cmap = plt.get_cmap("viridis")
    out = []
    for k in keys:
        shade = depths.index(k[depth_at]) / max(len(depths) - 1, 1)
        style = _LINESTYLES[others.index(k[:depth_at] + k[depth_at + 1 :]) % len(_LINESTYLES)]
        out.append((cmap(0.9 * shade), style))
    return out


def _depth_axis(ax: Any, depths: Sequence[int]) -> None:
    from matplotlib.ticker import NullLocator

    ax.set_xscale("log", base=2)
    ticks = sorted({int(d) for d in depths})
    ax.set_xticks(ticks)
    ax.set_xticklabels([str(d) for d in ticks])
    ax.xaxis.set_minor_locator(NullLocator())
    lo, hi = min(ticks), max(ticks)
    ax.set_xlim(lo / 2**0.35, hi * 2**0.35)
    ax.set_xlabel("critic depth (Dense layers in residual blocks; log2 scale)")


_NON_NEGATIVE = ("time_at_goal", "success_any", "alive_steps", "dist_mean")


def _floor(ax: Any, metric: str) -> None:
    """Start non-negative metrics' y axis just below 0, so points at 0 stay visible."""
    if metric.split("/")[-1] in _NON_NEGATIVE:
        top = max(ax.get_ylim()[1], 1e-6)
        ax.set_ylim(-0.03 * top, top)


def _legend_below(
    ax: Any, handles: list[Any] | None = None, labels: list[str] | None = None, ncol: int = 2
) -> None:
    """The legend under the axes (below the x label), where it never hides data."""
    if handles is None or labels is None:
        handles, labels = ax.get_legend_handles_labels()
    ax.legend(
        handles,
        labels,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.14),
        ncol=ncol,
        fontsize=8,
        frameon=False,
    )


def _save(fig: Any, path: Path) -> Path:
    plt = _pyplot()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def _mark_jumps(ax: Any, members: Sequence[GroupStats], colour: Any) -> None:
    """Mark each critical-depth jump of one series (:func:`harness.report.depth_jumps.
    depth_jumps`: the deeper IQM's 95 % CI lies wholly above the shallower one's) with an arrow
    between the two IQMs labelled "jump"."""
    for step in depth_jumps(members, "critic_depth"):
        x0, x1 = (d * 2**_IQM_SHIFT for d in (step.shallow_depth, step.deep_depth))
        y0, y1 = step.shallow.iqm, step.deep.iqm
        ax.annotate(
            "",
            xy=(x1, y1),
            xytext=(x0, y0),
            arrowprops={"arrowstyle": "->", "color": colour, "lw": 2.0, "alpha": 0.8},
        )
        ax.annotate(
            "jump",
            xy=(math.sqrt(x0 * x1), 0.5 * (y0 + y1)),
            xytext=(-6, 6),
            textcoords="offset points",
            ha="right",
            color=colour,
            fontsize=8,
            fontweight="bold",
        )


def plot_depth_scaling(report: Report, env_id: str, path: Path) -> Path | None:
    """Final score vs critic depth for one environment; None with fewer than two depths.

    Each series (the ``--by`` fields other than env and depth) is drawn as its mean with a
    band of +- one standard error (the paper's error bars) and its IQM with the 95 % bootstrap
    CI as error bars (slightly shifted right). With ``report.reference``, the paper's mean +-
    s.e. is drawn too: on the same axis when the runs' episodes are 1000 steps long, else on a
    right-hand axis of its own (time at goal out of 1000 steps). A dotted line marks the
    uniform random policy's score where the runs measured it. An arrow labelled "jump" joins
    the IQMs of consecutive depths whose intervals do not overlap (:func:`_mark_jumps`).
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    if not _draw_depth_scaling(ax, report, env_id):
        plt.close(fig)
        return None
    return _save(fig, path)


def _draw_depth_scaling(ax: Any, report: Report, env_id: str) -> bool:
    """Draw :func:`plot_depth_scaling`'s plot on ``ax``; False (nothing drawn) with fewer than
    two depths."""
    runs = _env_runs(report, env_id)
    fields = _series_fields(report, ())
    by = ("env_id", "critic_depth", *fields)
    groups = group_stats(runs, by, report.seed)
    depths = sorted({int(g.key["critic_depth"]) for g in groups})
    if len(depths) < 2:
        return False
    series: dict[tuple[Any, ...], list[GroupStats]] = {}
    for g in groups:
        series.setdefault(tuple(g.key[f] for f in fields), []).append(g)
    colours = _colours(len(series))
    for colour, (skey, members) in zip(colours, series.items(), strict=True):
        name = _series_label(dict(zip(fields, skey, strict=True)), fields)
        _draw_depth_series(ax, members, colour, f"{name}: " if name else "")
    randoms = [r.random_score for r in runs if r.random_score is not None]
    if randoms:
        ax.axhline(
            float(np.mean(randoms)),
            color="grey",
            ls=":",
            lw=1.2,
            label="uniform random policy (before training)",
        )
    episode_length = _episode_length(runs)
    tick_depths = list(depths)
    handles, labels = ax.get_legend_handles_labels()
    twin: Any = None
    paper_top = 0.0
    if report.reference and report.metric.endswith("time_at_goal"):
        ref = {d: v for (e, d), v in read_reference().items() if e == env_id}
        if ref:
            ref_depths = sorted(ref)
            tick_depths += ref_depths
            same_axis = episode_length == PAPER_EPISODE_LENGTH
            target = ax if same_axis else ax.twinx()
            rm = np.array([ref[d][0] for d in ref_depths])
            rse = np.array([ref[d][1] for d in ref_depths])
            target.errorbar(
                np.array(ref_depths, dtype=float),
                rm,
                yerr=np.where(np.isfinite(rse), rse, 0.0),
                fmt="s--",
                color="black",
                mfc="none",
                capsize=3,
                lw=1,
                label="paper, Wang et al. 2025, width 256: mean ± s.e. (s.e. at D4, D64 only)",
            )
            if not same_axis:
                twin = target
                paper_top = float(np.nanmax(rm + np.where(np.isfinite(rse), rse, 0.0)))
                h2, l2 = target.get_legend_handles_labels()
                handles, labels = handles + h2, labels + l2
            else:
                handles, labels = ax.get_legend_handles_labels()
        else:
            (blank,) = ax.plot([], [], " ")
            handles, labels = [*handles, blank], [*labels, f"paper: no number for {env_id}"]
    _depth_axis(ax, tick_depths)
    ax.set_ylabel(metric_label(report.metric, episode_length))
    _floor(ax, report.metric)
    if twin is not None:
        # The paper's axis is the left one rescaled to 1000-step episodes: equal heights mean
        # equal fractions of the episode at the goal.
        scale = PAPER_EPISODE_LENGTH / episode_length if episode_length else 1.0
        y_low, y_high = (float(v) for v in ax.get_ylim())
        y_high = max(y_high, 1.05 * paper_top / scale)
        ax.set_ylim(y_low, y_high)
        twin.set_ylim(y_low * scale, y_high * scale)
        twin.set_ylabel(
            "paper: time at goal (steps of 1000)\n(scaled: same fraction of the episode as left)"
            if episode_length
            else "paper: time at goal (steps of 1000)",
            fontsize=8,
        )
    ax.grid(True, lw=0.3, alpha=0.6)
    ax.set_title(
        f"{env_id}: final score vs critic depth\n({final_score_text(report, runs)})", fontsize=10
    )
    _legend_below(ax, handles, labels)
    return True


def _draw_depth_series(ax: Any, members: list[GroupStats], colour: Any, prefix: str) -> None:
    """One series of the depth-scaling plot: mean +- 1 s.e. over seeds and the IQM with its
    95 % bootstrap CI at each critic depth, and the jumps marked."""
    members.sort(key=lambda g: int(g.key["critic_depth"]))
    x = np.array([int(g.key["critic_depth"]) for g in members], dtype=float)
    mean = np.array([g.mean for g in members])
    se = np.array([g.se if math.isfinite(g.se) else 0.0 for g in members])
    n = sorted({g.n for g in members})
    n_text = f"{n[0]}" if len(n) == 1 else f"{n[0]}-{n[-1]}"
    what = "one seed" if n == [1] else f"mean ± 1 s.e. ({n_text} seeds)"
    ax.plot(x, mean, "o-", color=colour, label=f"{prefix}{what}")
    ax.fill_between(x, mean - se, mean + se, color=colour, alpha=0.2, lw=0)
    iqm_v = np.array([g.iqm for g in members])
    low = np.array([g.iqm_ci[0] for g in members])
    high = np.array([g.iqm_ci[1] for g in members])
    ok = np.isfinite(low) & np.isfinite(high)
    yerr = np.where(ok, np.stack([iqm_v - low, high - iqm_v]), 0.0)
    ax.errorbar(
        x * 2**_IQM_SHIFT,
        iqm_v,
        yerr=yerr,
        fmt="D",
        ms=4,
        mfc="white",
        color=colour,
        capsize=3,
        lw=1,
        label=f"{prefix}IQM, 95% bootstrap CI",
    )
    _mark_jumps(ax, members, colour)


def _curve_stats(
    runs: Sequence[RunResult],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(steps [T], mean [T], se [T])`` over the runs evaluated at each env step."""
    steps = np.array(sorted({int(s) for r in runs for s in r.steps}), dtype=np.int64)
    mean = np.full(steps.shape, np.nan)
    se = np.full(steps.shape, np.nan)
    for i, step in enumerate(steps):
        vals = np.array([r.values[r.steps == step][-1] for r in runs if np.any(r.steps == step)])
        mean[i] = vals.mean()
        se[i] = vals.std(ddof=1) / math.sqrt(vals.size) if vals.size > 1 else np.nan
    return steps, mean, se


def plot_learning_curves(report: Report, env_id: str, path: Path) -> Path | None:
    """The metric vs env steps, one line per setting (the ``--by`` fields other than the env):
    the mean over seeds with a band of +- one standard error. None without evaluations."""
    from matplotlib.ticker import EngFormatter

    runs = _env_runs(report, env_id)
    if not any(r.steps.size for r in runs):
        return None
    fields = [f for f in report.by if f != "env_id"]
    settings: dict[tuple[Any, ...], list[RunResult]] = {}
    for run in sorted(runs, key=lambda r: tuple(_num(r.fields.get(f)) for f in fields)):
        settings.setdefault(tuple(run.fields.get(f) for f in fields), []).append(run)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    styles = _styles(list(settings), fields)
    for (colour, ls), (skey, members) in zip(styles, settings.items(), strict=True):
        steps, mean, se = _curve_stats(members)
        name = _series_label(dict(zip(fields, skey, strict=True)), fields) or "all runs"
        label = f"{name} ({_seeds(len(members))})"
        ax.plot(steps, mean, marker="o", ls=ls, ms=3, color=colour, label=label)
        band = np.where(np.isfinite(se), se, 0.0)
        ax.fill_between(steps, mean - band, mean + band, color=colour, alpha=0.2, lw=0)
    randoms = [r.random_score for r in runs if r.random_score is not None]
    if randoms:
        ax.axhline(
            float(np.mean(randoms)), color="grey", ls=":", lw=1.2, label="uniform random policy"
        )
    ax.xaxis.set_major_formatter(EngFormatter(sep=" "))
    offline = all(r.fields.get("data_mode") == "offline" for r in runs)
    ax.set_xlabel("gradient steps" if offline else "env steps (including the prefill)")
    ax.set_ylabel(metric_label(report.metric, _episode_length(runs)))
    _floor(ax, report.metric)
    ax.grid(True, lw=0.3, alpha=0.6)
    counts = {len(members) for members in settings.values()}
    what = "one seed each" if counts == {1} else "mean ± 1 s.e. over seeds"
    ax.set_title(
        f"{env_id}: learning curves, {what} (deterministic-policy evaluations)", fontsize=10
    )
    _legend_below(ax)
    return _save(fig, path)


def _seeds(n: int) -> str:
    """``1 seed``, ``3 seeds``."""
    return f"{n} seed{'' if n == 1 else 's'}"


def _num(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def plot_width_vs_depth(report: Report, env_id: str, path: Path) -> Path | None:
    """Final score vs critic parameters (both encoders, log scale): solid lines join the
    depths of one width, dotted grey lines the widths of one depth, so points at matched
    parameter counts can be compared (Wang et al. 2025: depth 8 at width 256 beats depth 4 at
    any width up to 2048). None unless the env has runs at two or more widths."""
    from matplotlib.ticker import EngFormatter, LogLocator

    runs = [r for r in _env_runs(report, env_id) if r.critic_params]
    groups = group_stats(runs, ("env_id", "width", "critic_depth"), report.seed)
    widths = sorted({int(g.key["width"]) for g in groups})
    if len(widths) < 2:
        return None
    params = {
        (int(r.fields["width"]), int(r.fields["critic_depth"])): float(r.critic_params or 0)
        for r in runs
    }
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    by_depth: dict[int, list[tuple[float, float]]] = {}
    for colour, width in zip(_colours(len(widths)), widths, strict=True):
        members = sorted(
            (g for g in groups if int(g.key["width"]) == width),
            key=lambda g: int(g.key["critic_depth"]),
        )
        x = np.array([params[(width, int(g.key["critic_depth"]))] for g in members])
        mean = np.array([g.mean for g in members])
        se = np.array([g.se if math.isfinite(g.se) else 0.0 for g in members])
        ax.errorbar(
            x, mean, yerr=se, fmt="o-", color=colour, capsize=3, label=f"width {width}: depths"
        )
        for g, xi, yi in zip(members, x, mean, strict=True):
            depth = int(g.key["critic_depth"])
            ax.annotate(
                f"D{depth}", (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=7
            )
            by_depth.setdefault(depth, []).append((xi, yi))
    for i, (_depth, points) in enumerate(sorted(by_depth.items())):
        if len(points) > 1:
            px, py = zip(*sorted(points), strict=True)
            label = "same depth, other widths" if i == 0 else "_"
            ax.plot(px, py, ":", color="grey", lw=1, zorder=1, label=label)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(EngFormatter(sep=" "))
    ax.xaxis.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0)))
    ax.xaxis.set_minor_formatter(EngFormatter(sep=" "))
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_xlabel("critic parameters (phi and psi encoders; log scale)")
    ax.set_ylabel(metric_label(report.metric, _episode_length(runs)))
    ax.grid(True, lw=0.3, alpha=0.6)
    ax.set_title(
        f"{env_id}: depth vs width at matched parameter counts\n(mean ± 1 s.e.; "
        f"{final_score_text(report, runs)})",
        fontsize=10,
    )
    _legend_below(ax)
    return _save(fig, path)


def plot_online_offline(report: Report, path: Path) -> Path | None:
    """Final score vs critic depth, one panel per data mode (online first), one line per
    environment and setting (the ``--by`` fields other than env, depth and data mode), mean
    +- s.e. None unless both data modes have completed runs."""
    runs = report.completed
    modes = sorted({str(r.fields.get("data_mode")) for r in runs}, key=lambda m: (m != "online", m))
    if len(modes) < 2:
        return None
    fields = _series_fields(report, ("data_mode",))
    groups = group_stats(runs, ("env_id", "data_mode", "critic_depth", *fields), report.seed)
    titles = {"online": "online (Brax envs, replay)", "offline": "offline (fixed datasets)"}
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(modes), figsize=(6.0 * len(modes), 4.6), squeeze=False)
    for ax, mode in zip(axes[0], modes, strict=True):
        members = [g for g in groups if str(g.key["data_mode"]) == mode]
        lines: dict[tuple[Any, ...], list[GroupStats]] = {}
        for g in members:
            lines.setdefault((g.env_id, *(g.key[f] for f in fields)), []).append(g)
        for colour, (lkey, line) in zip(_colours(len(lines)), sorted(lines.items()), strict=True):
            line.sort(key=lambda g: int(g.key["critic_depth"]))
            x = np.array([int(g.key["critic_depth"]) for g in line], dtype=float)
            mean = np.array([g.mean for g in line])
            se = np.array([g.se if math.isfinite(g.se) else 0.0 for g in line])
            extra = _series_label(dict(zip(fields, lkey[1:], strict=True)), fields)
            label = f"{lkey[0]}, {extra}" if extra else str(lkey[0])
            ax.errorbar(x, mean, yerr=se, fmt="o-", color=colour, capsize=3, label=label)
        _depth_axis(ax, [int(g.key["critic_depth"]) for g in members])
        mode_runs = [r for r in runs if str(r.fields.get("data_mode")) == mode]
        ax.set_ylabel(metric_label(report.metric, _episode_length(mode_runs)))
        _floor(ax, report.metric)
        ax.grid(True, lw=0.3, alpha=0.6)
        ax.set_title(f"{titles.get(mode, mode)}\n{final_score_text(report, mode_runs)}", fontsize=9)
        _legend_below(ax, ncol=1)
    fig.suptitle(
        "Online vs offline: final score vs critic depth (mean ± 1 s.e. over seeds)", y=1.04
    )
    return _save(fig, path)


def plot_value_map(vm: ValueMap, path: Path) -> Path:
    """The critic's value over the maze for one goal (Wang et al. 2025, Fig. 3).

    Colour: ``f(s, a, g)`` at each position (see :func:`harness.report.value_map`); walls in
    brown, start cells outlined in green, the goal as a red star in a circle of the success
    radius. Axes are world x and y in metres, equal scale.
    """
    plt = _pyplot()
    rows, cols = vm.maze.shape
    width = 7.0
    height = min(max(width * cols / rows, 3.5), 10.0) + 1.0
    fig, ax = plt.subplots(figsize=(width + 1.2, height))
    run = vm.run
    title = (
        f"{run.env_id}: critic value map, run {run.run_id} (critic depth "
        f"{run.fields.get('critic_depth')}, seed {run.fields.get('seed')})\n"
        "s = position (x, y), other state entries 0; a = actor's tanh(mean) at (s, g)"
    )
    _draw_value_map(fig, ax, vm, title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=3, fontsize=8, frameon=False)
    return _save(fig, path)


def _draw_value_map(fig: Any, ax: Any, vm: ValueMap, title: str, bar_label: bool = True) -> None:
    """Draw :func:`plot_value_map`'s map, colour bar and title on ``ax`` (no legend)."""
    from matplotlib.patches import Circle, Rectangle

    maze = vm.maze
    cs = maze.cell_size
    rows, cols = maze.shape
    extent = (-cs / 2, (rows - 0.5) * cs, -cs / 2, (cols - 0.5) * cs)
    image = ax.imshow(
        vm.values,
        origin="lower",
        extent=extent,
        cmap="viridis",
        interpolation="nearest",
        aspect="equal",
    )
    for i, (r, c) in enumerate(maze.wall_cells):
        x, y = maze.cell_centre(r, c)
        ax.add_patch(
            Rectangle(
                (x - cs / 2, y - cs / 2),
                cs,
                cs,
                facecolor="#8c6d4f",
                edgecolor="#8c6d4f",
                label="wall" if i == 0 else "_",
            )
        )
    for i, (r, c) in enumerate(maze.start_cells):
        x, y = maze.cell_centre(r, c)
        ax.add_patch(
            Rectangle(
                (x - cs / 2, y - cs / 2),
                cs,
                cs,
                fill=False,
                edgecolor="#2ca02c",
                lw=2,
                ls="--",
                label="start cell" if i == 0 else "_",
            )
        )
    gx, gy = vm.goal_xy
    ax.add_patch(Circle((gx, gy), vm.success_threshold, fill=False, edgecolor="#d62728", lw=1.5))
    ax.plot(
        [gx],
        [gy],
        "*",
        color="#d62728",
        mec="white",
        ms=16,
        label=f"goal ({gx:g}, {gy:g}) m, success radius {vm.success_threshold:g} m",
    )
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    formula = {
        "l2": r"$-\|\phi(s, a) - \psi(g)\|_2$",
        "l2_squared": r"$-\|\phi(s, a) - \psi(g)\|_2^2$",
        "dot": r"$\phi(s, a)^\top \psi(g)$",
        "cosine": r"$\cos(\phi(s, a), \psi(g))$",
    }.get(vm.energy, vm.energy)
    bar = fig.colorbar(image, ax=ax, shrink=0.85)
    bar.set_label(
        f"critic value f(s, a, g) = {formula}\n(higher: the critic expects to reach g sooner)"
        if bar_label
        else f"f(s, a, g) = {formula}",
        fontsize=None if bar_label else 8,
    )
    ax.set_title(title, fontsize=9)


def plot_depth_figure(report: Report, shallow: ValueMap, deep: ValueMap, path: Path) -> Path | None:
    """The depth study in one figure (the README's headline): final score vs critic depth
    (:func:`plot_depth_scaling`: mean +- s.e., IQM with its 95 % bootstrap CI) beside the
    critic value maps of the shallowest and the deepest critic for the same goal (Wang et al.
    2025, arXiv 2503.14858, Fig. 3; :func:`harness.report.depth_end_runs` picks the
    median-scoring seed at each end). None with fewer than two depths for the env.

    Raises:
        ValueError: the two maps are of different envs or goals.
    """
    if (shallow.run.env_id, shallow.goal_xy) != (deep.run.env_id, deep.goal_xy):
        raise ValueError(
            f"value maps of different envs or goals: {shallow.run.env_id} {shallow.goal_xy} "
            f"and {deep.run.env_id} {deep.goal_xy}"
        )
    plt = _pyplot()
    rows, cols = shallow.maze.shape
    map_width = 4.4  # inches per value map, its colour bar not counted
    map_height = max(min(map_width * cols / rows, 7.0), 3.0)
    fig, axes = plt.subplots(
        1,
        3,
        figsize=(5.8 + 2 * (map_width + 1.1), map_height + 1.9),
        gridspec_kw={"width_ratios": [5.8, map_width + 1.1, map_width + 1.1]},
        layout="constrained",
    )
    env_id = shallow.run.env_id
    if not _draw_depth_scaling(axes[0], report, env_id):
        plt.close(fig)
        return None
    axes[0].set_title(f"{env_id}: final score vs critic depth", fontsize=10)
    for ax, vm in zip(axes[1:], (shallow, deep), strict=True):
        run = vm.run
        same = sum(  # the seeds depth_end_runs chose among: those with params/
            1
            for r in report.completed
            if r.env_id == env_id
            and r.has_params
            and r.fields.get("critic_depth") == run.fields.get("critic_depth")
        )
        score = f"{run.score:.3g}" if run.score is not None else "n/a"
        title = (
            f"critic depth {run.fields.get('critic_depth')}: run {run.run_id}\n"
            f"seed {run.fields.get('seed')}, score {score} (median of {same} seeds)"
        )
        _draw_value_map(fig, ax, vm, title, bar_label=False)
    handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower right", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(
        f"Depth study, {report.source}: {final_score_text(report, _env_runs(report, env_id))}\n"
        "value maps: s = position (x, y), other state entries 0; a = actor's tanh(mean) at "
        "(s, g); higher = the critic expects to reach g sooner",
        fontsize=10,
    )
    return _save(fig, path)


def value_map_name(vm: ValueMap) -> str:
    """File name of a value map: ``value_map_<run_id>_goal_<x>_<y>.png`` (metres)."""
    x, y = vm.goal_xy
    return f"value_map_{vm.run.run_id}_goal_{x:g}_{y:g}.png"


def write_plots(
    report: Report,
    out_dir: Path,
    value_maps: Sequence[ValueMap] = (),
    depth_ends: Sequence[tuple[ValueMap, ValueMap]] = (),
) -> list[tuple[Path, str]]:
    """Every plot that the report's data supports, as ``(path, caption)``.

    Files in ``out_dir``: ``depth_figure_<env>.png`` (per ``(shallow, deep)`` pair of
    ``depth_ends``, :func:`plot_depth_figure`), ``depth_scaling_<env>.png`` (two or more
    depths), ``learning_curves_<env>.png``, ``width_vs_depth_<env>.png`` (two or more widths),
    ``online_vs_offline.png`` (both data modes), ``value_map_<run_id>_goal_<x>_<y>.png``,
    and :func:`harness.report.behaviour.behaviour_plots`: ``behaviour_vs_depth_<env>.png``
    and ``paths_<env>_goal_<x>_<y>.png``.
    """
    out_dir = Path(out_dir)
    written: list[tuple[Path, str]] = []
    for shallow, deep in depth_ends:
        env_id = shallow.run.env_id
        made = plot_depth_figure(report, shallow, deep, out_dir / f"depth_figure_{env_id}.png")
        if made:
            written.append(
                (
                    made,
                    f"{env_id}: final score vs critic depth, and the value maps of the "
                    f"median seed at critic depth {shallow.run.fields.get('critic_depth')} and "
                    f"{deep.run.fields.get('critic_depth')}",
                )
            )
    for env_id in report.envs():
        made = plot_depth_scaling(report, env_id, out_dir / f"depth_scaling_{env_id}.png")
        if made:
            written.append((made, f"{env_id}: final score vs critic depth"))
        made = plot_learning_curves(report, env_id, out_dir / f"learning_curves_{env_id}.png")
        if made:
            written.append((made, f"{env_id}: learning curves"))
        made = plot_width_vs_depth(report, env_id, out_dir / f"width_vs_depth_{env_id}.png")
        if made:
            written.append((made, f"{env_id}: depth vs width at matched parameter counts"))
    made = plot_online_offline(report, out_dir / "online_vs_offline.png")
    if made:
        written.append((made, "online vs offline: final score vs critic depth"))
    for vm in value_maps:
        made = plot_value_map(vm, out_dir / value_map_name(vm))
        written.append(
            (made, f"{vm.run.env_id}: critic value map of run {vm.run.run_id}, goal {vm.goal_xy}")
        )
    return written
