"""Formatting a :class:`~harness.report.groups.Report`: number formats, the rows of the
terminal tables, ``report.md`` and the ``--json`` payload (NaN -> null)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.report.depth_jumps import depth_steps
from harness.report.groups import PAPER_WIDTH, Comparison, Report, _text
from harness.report.runs import LAST_K_BY_MODE, RunResult, spec_last_k
from harness.report.stats import N_RESAMPLES
from harness.store import STATUS_COMPLETED


def fmt(value: float | None, digits: int = 3) -> str:
    """A number with ``digits`` significant digits (at least one decimal below 10); ``-`` for
    None or NaN."""
    if value is None or not math.isfinite(value):
        return "-"
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    return f"{value:.{decimals}f}"


def fmt_mean_se(mean: float, se: float) -> str:
    """``mean +- se`` (``mean`` alone when se is NaN)."""
    if not math.isfinite(se):
        return fmt(mean)
    return f"{fmt(mean)} ± {fmt(se, 2)}"


def fmt_ci(low: float, high: float, decimals: int | None = None) -> str:
    """``[low, high]`` (3 significant digits, or a fixed number of ``decimals``) or ``-``."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "-"
    if decimals is not None:
        return f"[{low:.{decimals}f}, {high:.{decimals}f}]"
    return f"[{fmt(low)}, {fmt(high)}]"


def final_score_text(report: Report, runs: Sequence[RunResult] | None = None) -> str:
    """How final scores were computed, in words, e.g. ``mean of the last 3 evaluations of
    eval/time_at_goal (the spec's eval.last_k)``, or with ``--last 5`` ``mean of the last 5
    evaluations of eval/time_at_goal (--last 5; the runs' eval.last_k: 3)``.

    Args:
        runs: the runs to describe (default: all the report's runs).
    """
    chosen = [r for r in (report.runs if runs is None else runs) if r.status != "pending"]
    if report.last_k is not None:
        own = sorted({spec_last_k(r.config, str(r.fields.get("data_mode"))) for r in chosen})
        spec_k = f"; the runs' eval.last_k: {', '.join(map(str, own))}" if own else ""
        return (
            f"mean of the last {report.last_k} evaluations of {report.metric} "
            f"(--last {report.last_k}{spec_k})"
        )
    counts: dict[int, int] = {}
    for r in chosen:
        counts[r.last_k] = counts.get(r.last_k, 0) + 1
    if len(counts) <= 1:
        k = next(iter(counts), LAST_K_BY_MODE["online"])
        return f"mean of the last {k} evaluations of {report.metric} (the spec's eval.last_k)"
    parts = " or ".join(f"{k} ({n} run{'' if n == 1 else 's'})" for k, n in sorted(counts.items()))
    return f"mean of the last {parts} evaluations of {report.metric} (each run's eval.last_k)"


def table_rows(report: Report, env_id: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the table of one environment (text cells)."""
    setting_fields = [f for f in report.by if f != "env_id"]
    header = [*setting_fields, "seeds", "mean ± s.e.", "IQM", "IQM 95% CI"]
    if report.depth_field:
        header.append("× shallowest")
    if report.reference:
        header.append("paper mean ± s.e.")
    rows = []
    for g in report.groups:
        if g.env_id != env_id:
            continue
        row = [_text(g.key[f]) for f in setting_fields]
        row += [str(g.n), fmt_mean_se(g.mean, g.se), fmt(g.iqm), fmt_ci(*g.iqm_ci)]
        if report.depth_field:
            if g.ratio_base is not None and g.key.get(report.depth_field) == g.ratio_base:
                row.append("1 (base)")
            elif g.ratio is None:
                row.append("- (base mean 0)" if g.ratio_base is not None else "-")
            else:
                row.append(f"{fmt(g.ratio)}×")
        if report.reference:
            row.append(fmt_mean_se(*g.reference) if g.reference else "-")
        rows.append(row)
    return header, rows


def not_finished_fields(report: Report) -> list[str]:
    """The setting columns of the not-finished list: the ``--by`` fields after ``env_id``, then
    ``critic_depth`` if they hold no critic-depth field."""
    fields = [f for f in report.by if f != "env_id"]
    return fields if report.depth_field else [*fields, "critic_depth"]


def not_finished_rows(report: Report) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the list of runs left out of the table: the ``--by`` fields are
    columns (and ``critic_depth`` when they hold no depth field), so the runs of a sweep over
    another field can be told apart."""
    setting = not_finished_fields(report)
    header = ["run_id", "spec", "env_id", *setting, "seed", "status", "env steps", "detail"]
    rows = []
    for r in sorted(report.not_finished, key=lambda r: (r.status, r.run_id)):
        progress = "-"
        if r.env_steps is not None:
            total = f"/{r.total_env_steps:,}" if r.total_env_steps else ""
            progress = f"{r.env_steps:,}{total}"
        detail = r.error or ""
        if r.status == STATUS_COMPLETED and r.score is None:
            detail = f"no {report.metric} rows"
        rows.append(
            [
                r.run_id,
                _text(r.fields.get("spec")),
                _text(r.fields.get("env_id")),
                *(_text(r.fields.get(f)) for f in setting),
                _text(r.fields.get("seed")),
                r.status,
                progress,
                detail.splitlines()[0][:120] if detail else "",
            ]
        )
    return header, rows


def comparison_lines(c: Comparison) -> list[str]:
    """The comparison in sentences."""

    def show(s: dict[str, str]) -> str:
        return ",".join(f"{k}={v}" for k, v in s.items())

    lines = []
    for env_id, p, ci, n_a, n_b in c.per_env:
        lines.append(
            f"{env_id}: P({show(c.a)} > {show(c.b)}) = {p:.2f}, 95% CI {fmt_ci(*ci, decimals=2)} "
            f"({n_a} x {n_b} seed pairs)"
        )
    if c.overall is not None and c.overall_ci is not None:
        lines.append(
            f"mean over {len(c.per_env)} environments: {c.overall:.2f}, "
            f"95% stratified bootstrap CI {fmt_ci(*c.overall_ci, decimals=2)}"
        )
    return lines


def critical_depth_lines(report: Report) -> list[str]:
    """Sentences on critical depths (:mod:`harness.report.depth_jumps`): one per jump
    between consecutive depths of a setting, or one saying that none was found; ``[]`` when the
    report groups by no depth or no setting has two depths.

    A jump: the deeper IQM is higher and the two 95 % bootstrap intervals do not overlap (Wang
    et al. 2025, arXiv 2503.14858, report jumps at a task-dependent critical depth).
    """
    field = report.depth_field
    if field is None:
        return []
    steps = depth_steps(report.groups, field)
    if not steps:
        return []
    name = report.metric.split("/")[-1].replace("_", " ")
    lines = []
    for s in steps:
        if not s.jump:
            continue
        setting = ", ".join(f"{k}={_text(v)}" for k, v in s.setting.items())
        where = f"{s.env_id} ({setting})" if setting else s.env_id
        lines.append(
            f"{where}: critical depth: {name} jumps from {fmt(s.shallow.iqm)} "
            f"{fmt_ci(*s.shallow.iqm_ci)} at depth {s.shallow_depth} to {fmt(s.deep.iqm)} "
            f"{fmt_ci(*s.deep.iqm_ci)} at depth {s.deep_depth} (IQM [95 % bootstrap CI], "
            f"{s.shallow.n} and {s.deep.n} seeds; the intervals do not overlap)."
        )
    if lines:
        return lines
    untestable = sum(not s.testable for s in steps)
    if len(steps) == 1:
        text = (
            "No jump between consecutive depths: in the one pair compared the deeper depth's "
            "IQM 95 % bootstrap CI does not lie wholly above the shallower one's"
        )
        if untestable:
            text += " (a single seed on one side cannot show one)"
        return [text + "."]
    text = (
        f"No jump between consecutive depths: in none of the {len(steps)} pairs compared does "
        f"the deeper depth's IQM 95 % bootstrap CI lie wholly above the shallower one's"
    )
    if untestable == 1:
        text += " (1 of them has a single seed on one side and cannot show one)"
    elif untestable:
        text += f" ({untestable} of them have a single seed on one side and cannot show one)"
    return [text + "."]


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and inf become None, numpy scalars and arrays become Python values."""
    if isinstance(value, np.ndarray):
        return [_clean(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def to_json(
    report: Report, plots: Sequence[Path] = (), report_dir: Path | None = None
) -> dict[str, Any]:
    """The report as JSON-ready data (NaN -> null)."""
    comparison = None
    if report.comparison is not None:
        c = report.comparison
        comparison = {
            "a": c.a,
            "b": c.b,
            "per_env": [
                {"env_id": e, "p_improvement": p, "ci": list(ci), "n_a": na, "n_b": nb}
                for e, p, ci, na, nb in c.per_env
            ],
            "overall": c.overall,
            "overall_ci": list(c.overall_ci) if c.overall_ci else None,
        }
    return _clean(
        {
            "source": str(report.source),
            "metric": report.metric,
            "last_k": report.last_k,
            "by": list(report.by),
            "groups": [
                {
                    **g.key,
                    "n": g.n,
                    "seeds": list(g.seeds),
                    "run_ids": list(g.run_ids),
                    "scores": g.scores,
                    "mean": g.mean,
                    "se": g.se,
                    "iqm": g.iqm,
                    "iqm_ci": list(g.iqm_ci),
                    "ratio_to_shallowest": g.ratio,
                    "ratio_base": g.ratio_base,
                    "reference": (
                        {"mean": g.reference[0], "se": g.reference[1]} if g.reference else None
                    ),
                    "random_policy": g.random_score,
                }
                for g in report.groups
            ],
            "not_finished": [
                {
                    "run_id": r.run_id,
                    "path": str(r.path),
                    "status": r.status,
                    **{
                        k: r.fields.get(k)
                        for k in ("spec", "env_id", "critic_depth", *report.by, "seed")
                    },
                    "env_steps": r.env_steps,
                    "total_env_steps": r.total_env_steps,
                    "error": r.error,
                }
                for r in report.not_finished
            ],
            "comparison": comparison,
            "critical_depth": critical_depth_lines(report),
            "warnings": list(report.warnings),
            "report_dir": str(report_dir) if report_dir else None,
            "plots": [str(p) for p in plots],
        }
    )


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_markdown(
    report: Report,
    out_dir: Path,
    plots: Sequence[tuple[Path, str]] = (),
    sections: Sequence[str] = (),
) -> Path:
    """Write ``report.md`` in ``out_dir``: tables, comparison, not-finished runs, plots.

    Args:
        plots: ``(png path, caption)``; embedded by their path relative to ``out_dir``.
        sections: markdown lines appended at the end (the "Diagnostics" section,
            :func:`harness.report.diagnostics.diagnostics_markdown`).

    Returns:
        the path of ``report.md``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    parts = [
        f"# Report: {report.source}",
        "",
        f"Final score: {final_score_text(report)} per run; groups by "
        f"{', '.join(report.by)}. Mean ± one standard error over seeds (the paper's error "
        f"bars); IQM = mean of the middle 50 % of seeds (`scipy.stats.trim_mean(x, 0.25)`: with "
        f"fewer than 4 seeds nothing is trimmed and it equals the mean) with a 95 % percentile "
        f"bootstrap CI ({N_RESAMPLES} resamples, seed {report.seed}); × shallowest = mean / "
        "mean of the shallowest critic depth with the same other fields.",
        "",
    ]
    if report.reference:
        parts += [
            "Paper: Wang et al. 2025 (arXiv 2503.14858), time at goal out of 1000 steps, width "
            f"{PAPER_WIDTH}, mean ± s.e. (s.e. given at D4 and D64 only; "
            "`harness/data/paper_reference.csv`); shown beside rows of width "
            f"{PAPER_WIDTH}.",
            "",
        ]
    for env_id in report.envs():
        header, rows = table_rows(report, env_id)
        parts += [f"## {env_id}", "", _md_table(header, rows), ""]
    if not report.groups:
        parts += ["No completed run has evaluations of this metric yet.", ""]
    if report.comparison is not None:
        parts += ["## Probability of improvement", ""]
        parts += [f"- {line}" for line in comparison_lines(report.comparison)] + [""]
    critical = critical_depth_lines(report)
    if critical:
        parts += ["## Critical depth", ""] + [f"- {line}" for line in critical] + [""]
    if report.not_finished:
        header, rows = not_finished_rows(report)
        parts += [
            "## Not finished (not in the tables)",
            "",
            _md_table(header, rows),
            "",
        ]
    if report.warnings:
        parts += ["## Notes", ""] + [f"- {w}" for w in report.warnings] + [""]
    if plots:
        parts += ["## Plots", ""]
        for path, caption in plots:
            rel = os.path.relpath(path, out_dir)
            parts += [f"### {caption}", "", f"![{caption}]({rel})", ""]
    parts += list(sections)
    path = out_dir / "report.md"
    tmp = out_dir / ".report.md.tmp"
    tmp.write_text("\n".join(parts))
    os.replace(tmp, path)
    return path
