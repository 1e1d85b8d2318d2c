"""Read many runs' results and turn them into tables: mean +- s.e., IQM with a bootstrap CI.

``harness report`` reads run folders, groups completed runs by environment and setting, computes
per-group statistics and comparisons, and writes tables, ``report.md``, JSON and plots. Every
name of the submodules below but :mod:`~harness.report.plots` and :mod:`~harness.report.cli` is
importable from ``harness.report`` itself.

- :mod:`~harness.report.stats`: statistics of score samples alone: mean and s.e., IQM,
  probability of improvement, stratified bootstrap intervals (Agarwal et al. 2021, arXiv
  2108.13264). Imports nothing of the harness.
- :mod:`~harness.report.runs`: reading run folders into :class:`RunResult` (status, final
  score, curves), runs a spec plans but has not started, :class:`ReportError`.
- :mod:`~harness.report.groups`: grouping runs by ``env_id`` and ``--by`` fields, per-group
  statistics (:class:`GroupStats`), ratio to the shallowest depth, the paper's reference table,
  probability of improvement between settings (:class:`Comparison`), :func:`build_report`.
- :mod:`~harness.report.depth_jumps`: consecutive depths of a setting and the jumps between
  them (non-overlapping IQM intervals): the report's critical depth.
- :mod:`~harness.report.tables`: number formats, rows of the terminal tables, ``report.md``
  and the ``--json`` payload.
- :mod:`~harness.report.value_maps`: the critic's value map over a maze (Wang et al. 2025,
  Fig. 3) from a run's final parameters.
- :mod:`~harness.report.plots`: the PNG plots (matplotlib).
- :mod:`~harness.report.cli`: the ``harness report`` command: parses, prints, writes the files.

Nothing here prints but :mod:`~harness.report.cli`.
"""

from __future__ import annotations

from harness.report.depth_jumps import DepthStep, depth_jumps, depth_steps
from harness.report.groups import (
    DEPTH_FIELDS,
    PAPER_REFERENCE,
    PAPER_WIDTH,
    Comparison,
    GroupStats,
    Report,
    build_report,
    compare,
    group_runs,
    group_stats,
    normalise_by,
    parse_setting,
    pooling_warnings,
    read_reference,
)
from harness.report.runs import (
    COLUMN_PATHS,
    DEFAULT_METRIC,
    LAST_K_BY_MODE,
    ReportError,
    RunResult,
    find_run,
    find_run_dirs,
    is_run_dir,
    load_runs,
    pending_runs,
    planned_ids,
    read_run,
)
from harness.report.stats import (
    CONFIDENCE,
    N_RESAMPLES,
    bootstrap_ci,
    iqm,
    iqm_ci,
    mean_se,
    poi_ci,
    probability_of_improvement,
)
from harness.report.tables import (
    comparison_lines,
    critical_depth_lines,
    final_score_text,
    fmt,
    fmt_ci,
    fmt_mean_se,
    not_finished_rows,
    table_rows,
    to_json,
    write_markdown,
)
from harness.report.value_maps import (
    ValueMap,
    best_maze_runs,
    depth_end_runs,
    far_goal,
    parse_goal,
    value_map,
)

__all__ = [
    "COLUMN_PATHS",
    "CONFIDENCE",
    "DEFAULT_METRIC",
    "DEPTH_FIELDS",
    "LAST_K_BY_MODE",
    "N_RESAMPLES",
    "PAPER_REFERENCE",
    "PAPER_WIDTH",
    "Comparison",
    "DepthStep",
    "GroupStats",
    "Report",
    "ReportError",
    "RunResult",
    "ValueMap",
    "best_maze_runs",
    "bootstrap_ci",
    "build_report",
    "compare",
    "comparison_lines",
    "critical_depth_lines",
    "depth_end_runs",
    "depth_jumps",
    "depth_steps",
    "far_goal",
    "final_score_text",
    "find_run",
    "find_run_dirs",
    "fmt",
    "fmt_ci",
    "fmt_mean_se",
    "group_runs",
    "group_stats",
    "iqm",
    "iqm_ci",
    "is_run_dir",
    "load_runs",
    "mean_se",
    "normalise_by",
    "not_finished_rows",
    "parse_goal",
    "parse_setting",
    "pending_runs",
    "planned_ids",
    "poi_ci",
    "pooling_warnings",
    "probability_of_improvement",
    "read_reference",
    "read_run",
    "table_rows",
    "to_json",
    "value_map",
    "write_markdown",
]
