"""``harness report``: tables and plots of a spec's (or a folder's) results.

Wired into :mod:`harness.cli` with ``add_report_parser(sub)``. This module is the printing
layer of the report: the rest of :mod:`harness.report` computes, :mod:`harness.report.plots`
draws, and the handler prints tables (rich) or JSON and writes ``report.md`` and the PNGs under
``results/<spec>/report/`` (for a folder argument, ``<folder>/report/``; ``--out DIR`` anywhere).
A run whose files cannot be read is listed as ``broken`` with the file named, as
``harness status`` does, and the report goes on.

Exit codes (``shared/DESIGN.md``): 0 ok, 2 bad input (no results, unknown field or run, a
report folder that cannot be written: one line).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.progress import output_width

EXIT_OK, EXIT_BAD_INPUT = 0, 2

_out = Console(highlight=False, soft_wrap=True, width=output_width(sys.stdout))
_err = Console(stderr=True, highlight=False, soft_wrap=True, width=output_width(sys.stderr))

USAGE_EXAMPLES = """examples:
  harness report specs/ant_u_maze_depth.yaml
  harness report results/ --by critic_depth width
  harness report specs/quickstart.yaml --metric eval/success_any --last 3 --json
  harness report specs/ant_u_maze_depth.yaml --reference paper --compare 64 4
  harness report specs/quickstart.yaml --value-map 1a2b3c --goal 4,4
  harness report specs/depth_study_cpu.yaml --set eval.record_episodes=4
"""


def add_report_parser(sub: argparse._SubParsersAction) -> None:
    """Add the ``report`` subcommand (and its handler) to ``harness``'s subparsers."""
    p = sub.add_parser(
        "report",
        help="tables and plots of results: mean, s.e., IQM with bootstrap CI, depth scaling",
        description=(
            "Read every run's Parquet under a spec's results folder (results/<spec name>/) or "
            "under a folder, take each run's final score (mean of its last K evaluations, K = "
            "its spec's eval.last_k unless --last K), "
            "print a table per environment and setting, and write PNG plots and report.md "
            "to <results folder>/report/."
        ),
        epilog=USAGE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("target", metavar="SPEC|DIR", help="a spec file, or a folder of run folders")
    p.add_argument(
        "--by",
        nargs="+",
        action="extend",
        default=None,
        metavar="FIELD",
        help="grouping fields after env_id: Parquet columns (critic_depth, actor_depth, width, "
        "batch_size, algo, data_mode, spec, seed) or dotted config paths (network.width); "
        "default: critic_depth",
    )
    p.add_argument(
        "--metric",
        default="eval/time_at_goal",
        help="metric to score (default: eval/time_at_goal)",
    )
    p.add_argument(
        "--last",
        type=int,
        default=None,
        metavar="K",
        help="final score = mean of the last K evaluations (default: each run's eval.last_k, "
        "as harness run and status use; the tables' caption says which K)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.add_argument(
        "--reference",
        choices=["paper"],
        default=None,
        help="add the paper's time at goal (Wang et al. 2025 table) to the table and the "
        "depth plots",
    )
    p.add_argument(
        "--compare",
        nargs=2,
        metavar=("A", "B"),
        default=None,
        help="probability that setting A beats setting B, per env with a bootstrap CI; a "
        "setting is field=value[,field=value] or a bare value of the first --by field "
        "(--compare 64 4)",
    )
    p.add_argument(
        "--results",
        default="results",
        help="results folder for a SPEC argument (default: results)",
    )
    p.add_argument(
        "--value-map",
        default=None,
        metavar="RUN_ID",
        help="draw the critic's value map over the maze for this run (id or unique prefix); "
        "default: the best run of each point/ant maze that has params/, and, for a depth "
        "sweep, the median seed at the shallowest and the deepest critic depth, drawn beside "
        "the depth-scaling plot (depth_figure_<env>.png)",
    )
    p.add_argument(
        "--goal",
        default=None,
        metavar="X,Y",
        help="goal of the value map in metres (default: the centre of the farthest goal cell)",
    )
    p.add_argument(
        "--no-plots", action="store_true", help="print the tables only; write no PNG or report.md"
    )
    p.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="folder for report.md and the plots (default: <results folder>/report/); for "
        "results on read-only storage",
    )
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD.PATH=VALUE",
        help="override a field of the SPEC as `harness run SPEC --set` did, so that its runs "
        "are the spec's own and none is listed pending; repeatable",
    )
    p.set_defaults(func=cmd_report)


def _resolve(args: argparse.Namespace) -> tuple[Path, Any]:
    """The folder to read and, for a spec argument, the loaded spec."""
    from harness.report import ReportError

    target = Path(args.target)
    if target.is_dir():
        if args.set:
            raise ReportError(f"--set overrides a spec file's fields; {target} is a folder")
        return target, None
    if not target.exists():
        raise ReportError(f"{target}: no such spec file or results folder")
    from harness.spec import load_spec
    from harness.spec.load import parse_overrides

    spec = load_spec(target, parse_overrides(args.set))
    return Path(args.results) / spec.name, spec


def cmd_report(args: argparse.Namespace) -> int:
    """Handler of ``harness report``; returns the exit code."""
    from harness.report import ReportError
    from harness.spec import SpecError

    try:
        return _report(args)
    except SpecError as exc:
        for line in exc.problems:
            _err.print(line, markup=False)
        return EXIT_BAD_INPUT
    except ReportError as exc:
        _err.print(f"harness report: {exc}", markup=False)
        return EXIT_BAD_INPUT
    except OSError as exc:  # the report folder filled up or turned read-only while writing
        from harness.store import write_cause

        found = write_cause(exc)
        if found is None:
            raise
        where = getattr(exc, "path", None) or getattr(exc, "filename", None) or "the report"
        _err.print(f"harness report: cannot write {where}: {found[0]}", markup=False)
        return EXIT_BAD_INPUT


def _report(args: argparse.Namespace) -> int:
    from harness import report as rp

    if args.last is not None and args.last < 1:
        raise rp.ReportError(f"--last must be >= 1, got {args.last}")
    folder, spec = _resolve(args)
    by = rp.normalise_by(args.by)
    extra = list(by)
    if args.compare:
        for text in args.compare:
            extra += list(rp.parse_setting(text, by))
    goal = rp.parse_goal(args.goal) if args.goal else None
    if spec is not None and not folder.exists():
        raise rp.ReportError(
            f"no results found: {folder} does not exist (run `harness run {args.target}` "
            f"first, or pass --results)"
        )
    runs = rp.load_runs(folder, args.metric, args.last, extra)
    plan_notes = _add_pending(args, spec, folder, runs, extra) if spec is not None else []
    report = rp.build_report(
        folder,
        runs,
        metric=args.metric,
        last_k=args.last,
        by=by,
        compare_settings=tuple(args.compare) if args.compare else None,
        reference=args.reference == "paper",
        seed=args.seed,
    )
    warnings = list(report.warnings) + plan_notes
    value_maps, depth_ends = _value_maps(args, report, runs, goal, warnings)
    report = dataclasses.replace(report, warnings=tuple(warnings))
    out_dir = Path(args.out) if args.out else folder / "report"
    if not args.no_plots or value_maps:
        _check_out(out_dir, given=bool(args.out))
    plots: list[tuple[Path, str]] = []
    diagnostic_pngs: list[Path] = []
    md_path = None
    if not args.no_plots:
        from harness.report.behaviour import behaviour_plots
        from harness.report.diagnostics import diagnostics_markdown
        from harness.report.plots import write_plots

        plots = write_plots(report, out_dir, value_maps, depth_ends)
        plots += behaviour_plots(report, out_dir)  # recorded paths, behaviour vs depth
        diagnostics, diagnostic_pngs = diagnostics_markdown(report.runs, out_dir)
        md_path = rp.write_markdown(report, out_dir, plots, diagnostics)
    elif value_maps:
        from harness.report.plots import plot_value_map, value_map_name

        made = plot_value_map(value_maps[0], out_dir / value_map_name(value_maps[0]))
        plots = [(made, "value map")]
    if args.json:
        written = [p for p, _ in plots] + diagnostic_pngs
        payload = rp.to_json(report, written, out_dir if md_path else None)
        print(json.dumps(payload, indent=2))
        return EXIT_OK
    _print(report)
    for warning in report.warnings:
        _err.print(f"note: {warning}", markup=False)
    if md_path is not None:
        pngs = len(plots) + len(diagnostic_pngs)
        _out.print(f"wrote {md_path} and {_count(pngs, 'plot')} in {out_dir}", markup=False)
    elif plots:
        _out.print(f"wrote {plots[0][0]}", markup=False)
    return EXIT_OK


def _add_pending(
    args: argparse.Namespace, spec: Any, folder: Path, runs: list[Any], fields: list[str]
) -> list[str]:
    """Add the spec's runs that have no folder yet to ``runs`` (as pending); the notes on
    runs of another spec file or of an older config format in ``folder``."""
    from harness import report as rp

    notes = []
    mine = str(Path(args.target).resolve())
    others = sorted({str((r.config or {}).get("spec_file")) for r in runs} - {mine, "None"})
    if others:
        notes.append(
            f"{folder} also holds runs of another spec file with the name {spec.name!r} "
            f"({', '.join(others)}): they are pooled in this report"
        )
    pending = rp.pending_runs(spec, Path(args.results), runs, fields)
    off_plan = len(runs) - (len(rp.planned_ids(spec)) - len(pending))
    runs += pending
    if pending and off_plan:
        notes.append(
            f"{off_plan} run folders in {folder} are not runs that {args.target} expands "
            f"into now, and {len(pending)} of its runs have no folder yet: they ran with "
            "other --set overrides (pass the same --set to report), or the spec or the run "
            "config format changed since they ran (run ids hash the resolved config); the "
            "old runs are reported from their own config.json"
        )
    return notes


def _value_maps(
    args: argparse.Namespace, report: Any, runs: list[Any], goal: Any, warnings: list[str]
) -> tuple[list[Any], list[tuple[Any, Any]]]:
    """The value maps to draw (``--value-map``, else the best run of each maze) and the
    shallowest / deepest pairs of the depth figure; what cannot be drawn goes to
    ``warnings``.

    Raises:
        ReportError: the value map asked for with ``--value-map`` cannot be drawn.
    """
    from harness import report as rp

    value_runs = []
    if args.value_map:
        value_runs = [rp.find_run(runs, args.value_map)]
    elif not args.no_plots:
        value_runs = rp.best_maze_runs(report)
    if goal is not None and not args.value_map and not value_runs:
        _err.print("--goal given but no run to draw a value map for", markup=False)
    value_maps = []
    for run in value_runs:
        try:
            value_maps.append(rp.value_map(run, goal))
        except rp.ReportError as exc:
            if args.value_map:
                raise
            warnings.append(f"no value map for {run.run_id}: {exc}")
    depth_ends = []
    if not args.no_plots and not args.value_map:
        by_run = {vm.run.run_id: vm for vm in value_maps}
        for pair in rp.depth_end_runs(report):
            try:
                ends = []
                for run in pair:
                    if run.run_id not in by_run:
                        by_run[run.run_id] = rp.value_map(run, goal)
                    ends.append(by_run[run.run_id])
            except rp.ReportError as exc:
                warnings.append(f"no depth figure for {pair[0].env_id}: {exc}")
                continue
            depth_ends.append((ends[0], ends[1]))
    return value_maps, depth_ends


def _count(n: int, noun: str) -> str:
    """``1 plot``, ``3 plots``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _check_out(out_dir: Path, given: bool) -> None:
    """Make sure the report can be written to ``out_dir`` before drawing anything.

    Raises:
        ReportError: it cannot (a read-only results folder, a full disk), in one line that
            suggests ``--out`` when the folder was the default one.
    """
    from harness.report import ReportError
    from harness.store import WriteError, check_writable

    try:
        check_writable(out_dir)
    except WriteError as exc:
        hint = "" if given else "; write the report elsewhere with --out DIR (or --no-plots)"
        raise ReportError(f"{exc}{hint}") from exc


def _print(report: Any) -> None:
    from harness import report as rp
    from harness.progress import fitted_table

    done, left = len(report.completed), len(report.not_finished)
    _out.print(
        f"{report.source}: {_count(done, 'completed run')} in the table, {left} not finished. "
        f"Final score: {rp.final_score_text(report)}.",
        markup=False,
    )
    caption = f"final score: {rp.final_score_text(report)}"
    for env_id in report.envs():
        header, rows = rp.table_rows(report, env_id)
        left_columns = set(header[: len(report.by) - 1])
        _out.print(
            fitted_table(
                f"{env_id}: {report.metric}",
                header,
                rows,
                _out.width,
                left=left_columns,
                drop=["paper mean ± s.e.", "× shallowest", "IQM 95% CI", "IQM"],
                caption=caption,
            )
        )
    if not report.groups:
        _out.print("no completed run has evaluations of this metric yet", markup=False)
    critical = rp.critical_depth_lines(report) if report.groups else []
    if critical:  # harness.report.depth_jumps; none with a single depth
        _out.print("critical depth:", markup=False)
        for line in critical:
            _out.print(f"  {line}", markup=False)
    if report.comparison is not None:
        _out.print("probability of improvement:", markup=False)
        for line in rp.comparison_lines(report.comparison):
            _out.print(f"  {line}", markup=False)
    if report.not_finished:
        header, rows = rp.not_finished_rows(report)
        _out.print(
            fitted_table(
                "not finished (not in the tables)",
                header,
                rows,
                _out.width,
                left=set(header),
                drop=["spec", "critic_depth", "seed", "env steps", "env_id"],
                wrap={"detail"},
            )
        )
