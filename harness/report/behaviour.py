"""Behaviour in the report (issue 29): recorded paths per critic depth, behaviour vs depth.

- :func:`plot_paths`: for a maze env, the recorded episodes (``episodes.parquet``,
  :mod:`harness.behaviour`) of the median-scoring seed at each critic depth, one figure per
  goal, one panel per depth: walls, start, goal and success radius, each episode's path.
- :func:`plot_behaviour_vs_depth`: every behaviour metric the env's runs wrote
  (:data:`harness.behaviour` metrics, ``eval/<name>``) against critic depth, with the same
  statistics as the scores (each run's mean of its last K evaluations; per depth mean +- s.e.
  and IQM with its 95 % bootstrap CI: :func:`harness.report.plots.plot_depth_scaling`).

Every function writes PNGs and returns ``(path, caption)`` pairs; nothing prints.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from harness.behaviour import EPISODES_FILE, read_episodes
from harness.report.groups import Report, group_stats
from harness.report.runs import RunResult, read_run
from harness.status import STATUS_COMPLETED
from harness.store import read_metrics

BEHAVIOUR_METRICS = (
    "time_to_goal",
    "path_ratio",
    "wall_contacts",
    "detour_frac",
    "upright_frac",
    "height_moving_m",
    "time_to_touch",
    "cube_path_m",
)
"""The behaviour metrics of :func:`harness.behaviour.behaviour_metrics`, in panel order."""
LABELS = {
    "time_to_goal": "time to first reach the goal (steps)",
    "path_ratio": "path length / shortest feasible path",
    "wall_contacts": "wall contacts per episode",
    "detour_frac": "episodes leaving the straight line's cells (fraction)",
    "upright_frac": "steps upright (fraction)",
    "height_moving_m": "torso height while moving (m)",
    "time_to_touch": "time to first touch the cube (steps)",
    "cube_path_m": "cube travel before the goal (m)",
}
"""Axis labels with units (definitions: docs/results.md, "Behaviour metrics")."""


def _metrics_of(run: RunResult) -> set[str]:
    """Behaviour metric names (bare) that a run's ``metrics.parquet`` holds under ``eval/``."""
    try:
        names = set(read_metrics(run.path / "metrics.parquet").column("metric").to_pylist())
    except (OSError, ValueError):  # an unreadable file is reported elsewhere
        return set()
    return {m for m in BEHAVIOUR_METRICS if f"eval/{m}" in names}


def _completed(report: Report, env_id: str) -> list[RunResult]:
    return [
        r
        for r in report.runs
        if r.status == STATUS_COMPLETED and r.env_id == env_id and r.score is not None
    ]


def plot_behaviour_vs_depth(report: Report, env_id: str, path: Path) -> Path | None:
    """Behaviour metrics vs critic depth for one env, one panel per metric present; None
    with fewer than two depths or no behaviour metric.

    Per run, a metric's value is the mean of its last K evaluations (the K of the scores);
    panels draw what the depth-scaling plot draws for the score: mean +- s.e. band, IQM with
    its 95 % bootstrap CI, the random policy's value (dotted).
    """
    from harness.report.plots import _draw_depth_scaling, _pyplot, _save

    runs = _completed(report, env_id)
    depths = {r.fields.get("critic_depth") for r in runs} - {None}
    present = set().union(*(_metrics_of(r) for r in runs)) if runs else set()
    metrics = [m for m in BEHAVIOUR_METRICS if m in present]
    if len(depths) < 2 or not metrics:
        return None
    extra = [f for f in report.by if f != "env_id"]
    plt = _pyplot()
    cols = min(len(metrics), 3)
    rows = -(-len(metrics) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.2 * rows), squeeze=False)
    drawn = 0
    for ax, name in zip(axes.ravel(), metrics, strict=False):
        metric = f"eval/{name}"
        sub_runs = [read_run(r.path, metric, report.last_k, extra) for r in runs]
        sub_runs = [r for r in sub_runs if r.score is not None]
        groups = group_stats(sub_runs, report.by, report.seed)
        sub = dataclasses.replace(
            report, metric=metric, runs=tuple(sub_runs), groups=tuple(groups), reference=False
        )
        if _draw_depth_scaling(ax, sub, env_id):
            ax.set_ylabel(LABELS[name], fontsize=9)
            ax.set_title(f"{env_id}: {LABELS[name]}", fontsize=9)
            drawn += 1
        else:
            ax.set_visible(False)
    for ax in axes.ravel()[len(metrics) :]:
        ax.set_visible(False)
    if not drawn:
        plt.close(fig)
        return None
    fig.tight_layout()
    return _save(fig, path)


def median_runs(report: Report, env_id: str) -> list[tuple[int, RunResult]]:
    """``(critic_depth, run)`` per depth of ``env_id``: the completed run with
    ``episodes.parquet`` whose score is the median of its group's (the lower of the two
    middle ones for an even count); one per depth (the first group of a depth when other
    ``--by`` fields split it), shallowest first."""
    out: dict[int, RunResult] = {}
    by_id = {r.run_id: r for r in report.runs}
    for g in report.groups:
        depth = g.key.get("critic_depth")
        if g.env_id != env_id or depth is None or int(depth) in out:
            continue
        members = [by_id[i] for i in g.run_ids if (by_id[i].path / EPISODES_FILE).exists()]
        members = [r for r in members if r.score is not None]
        if members:
            ranked = sorted(members, key=lambda r: (float(r.score or 0.0), r.run_id))
            out[int(depth)] = ranked[(len(ranked) - 1) // 2]
    return sorted(out.items())


def _goal_keys(df: Any) -> list[tuple[float, float]]:
    """Each row's goal x, y (metres, to the millimetre) of an episodes table."""
    pairs = zip(df.goal_0, df.goal_1, strict=True)
    return [(round(float(a), 3), round(float(b), 3)) for a, b in pairs]


def plot_paths(report: Report, env_id: str, out_dir: Path) -> list[tuple[Path, str]]:
    """For a maze env whose runs recorded episodes: ``paths_<env>_goal_<x>_<y>.png``, one per
    goal of the recorded episodes, one panel per critic depth (the median seed's episodes
    with that goal); nothing for other envs or without recorded episodes."""
    from matplotlib.patches import Circle, Rectangle

    from harness.report.plots import _pyplot, _save

    picked = median_runs(report, env_id)
    loaded = []
    for depth, run in picked:
        try:
            table, meta = read_episodes(run.path / EPISODES_FILE)
        except (OSError, ValueError):  # unreadable: no picture of that depth
            continue
        if "layout" in meta:
            loaded.append((depth, run, table.to_pandas(), meta))
    if not loaded:
        return []
    goals = sorted({g for _, _, df, _ in loaded for g in _goal_keys(df)})
    plt = _pyplot()
    written = []
    for goal in goals:
        fig, axes = plt.subplots(1, len(loaded), figsize=(4.2 * len(loaded), 4.4), squeeze=False)
        for ax, (depth, run, df, meta) in zip(axes[0], loaded, strict=True):
            layout, cs = meta["layout"], float(meta["cell_size"])
            for r, row in enumerate(layout):
                for c, cell in enumerate(row):
                    if cell == 1:
                        ax.add_patch(
                            Rectangle(
                                (r * cs - cs / 2, c * cs - cs / 2),
                                cs,
                                cs,
                                facecolor="#8c6d4f",
                                edgecolor="#8c6d4f",
                            )
                        )
            mine = df[[g == goal for g in _goal_keys(df)]]
            for k, (episode, ep) in enumerate(mine.groupby("episode")):
                ep = ep.sort_values("step")
                ep = ep[ep.alive > 0]
                ax.plot(ep.x, ep.y, lw=1.2, alpha=0.85, label=f"episode {episode}")
                ax.plot(
                    ep.x.iloc[:1],
                    ep.y.iloc[:1],
                    "o",
                    color="#2ca02c",
                    ms=7,
                    label="start" if k == 0 else "_",
                )
            radius = float(meta.get("success_threshold", 0.5))
            ax.add_patch(Circle(goal, radius, fill=False, edgecolor="#d62728", lw=1.5))
            ax.plot([goal[0]], [goal[1]], "*", color="#d62728", mec="white", ms=15, label="goal")
            ax.set_xlim(-cs / 2, (len(layout) - 0.5) * cs)
            ax.set_ylim(-cs / 2, (len(layout[0]) - 0.5) * cs)
            ax.set_aspect("equal")
            ax.set_xlabel("x (m)")
            ax.set_ylabel("y (m)")
            reached = int((mine.groupby("episode").success.max() > 0).sum())
            total = mine.episode.nunique()
            ax.set_title(
                f"critic depth {depth}: seed {run.fields.get('seed')} (median score "
                f"{float(run.score or 0.0):.3g})\n{reached} of {total} episodes reach the goal",
                fontsize=8,
            )
            ax.legend(fontsize=6, loc="best")
        name = f"paths_{env_id}_goal_{goal[0]:g}_{goal[1]:g}.png"
        made = _save(fig, Path(out_dir) / name)
        written.append(
            (
                made,
                f"{env_id}: recorded paths of the median seed per critic depth, goal "
                f"({goal[0]:g}, {goal[1]:g}) m",
            )
        )
    return written


def behaviour_plots(report: Report, out_dir: Path) -> list[tuple[Path, str]]:
    """:func:`plot_behaviour_vs_depth` and :func:`plot_paths` for every env of the report."""
    written = []
    for env_id in report.envs():
        made = plot_behaviour_vs_depth(
            report, env_id, Path(out_dir) / f"behaviour_vs_depth_{env_id}.png"
        )
        if made:
            written.append((made, f"{env_id}: behaviour metrics vs critic depth"))
        written += plot_paths(report, env_id, out_dir)
    return written
