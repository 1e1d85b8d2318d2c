"""``harness`` command line: validate, schema, plan, run, status, envs.

Exit codes (``shared/DESIGN.md``): 0 ok, 1 some runs failed, 2 bad input. Bad input prints
every problem as ``FILE: field.path: message`` on stderr, with no traceback, and writes nothing.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.spec import Spec, SpecError, json_schema, load_spec, parse_overrides

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
DEFAULT_RESULTS = Path("results")

# Wide enough for the run tables when output goes to a file or a pipe (rich would use 80).
_WIDTH = max(shutil.get_terminal_size((160, 24)).columns, 120)
_out = Console(highlight=False, soft_wrap=True, width=_WIDTH)
_err = Console(stderr=True, highlight=False, soft_wrap=True, width=_WIDTH)


def _load(path: str, overrides: list[str] | None = None) -> Spec:
    return load_spec(path, parse_overrides(overrides or []))


def _print_problems(error: SpecError) -> None:
    for line in error.problems:
        _err.print(line, markup=False)


def cmd_validate(args: argparse.Namespace) -> int:
    from harness.plan import expand

    status = EXIT_OK
    for path in args.specs:
        try:
            spec = _load(path, args.set)
        except SpecError as exc:
            _print_problems(exc)
            status = EXIT_BAD_INPUT
            continue
        _out.print(f"{path}: ok ({len(expand(spec))} runs)", markup=False)
    return status


def cmd_schema(args: argparse.Namespace) -> int:
    print(json.dumps(json_schema(), indent=2))
    return EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    from harness.plan import describe

    spec = _load(args.spec, args.set)
    rows = describe(spec, Path(args.results))
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    table = Table(title=f"{spec.name}: {len(rows)} runs -> {Path(args.results) / spec.name}")
    for header in (
        "run_id",
        "env",
        "critic",
        "actor",
        "width",
        "batch",
        "seed",
        "env steps",
        "grad steps",
        "critic params",
        "actor params",
        "status",
    ):
        table.add_column(
            header, justify="left" if header in ("run_id", "env", "status") else "right"
        )
    for r in rows:
        table.add_row(
            r["run_id"],
            r["env_id"],
            str(r["critic_depth"]),
            str(r["actor_depth"]),
            str(r["width"]),
            str(r["batch_size"]),
            str(r["seed"]),
            f"{r['env_steps']:,}",
            f"{r['grad_steps']:,}",
            f"{r['critic_params'] / 1e6:.2f}M",
            f"{r['actor_params'] / 1e6:.2f}M",
            r["status"],
        )
    _out.print(table)
    if spec.description:
        _out.print(spec.description, markup=False)
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from harness.launch import run_local, summarize
    from harness.progress import ConsoleReporter, summary_table

    spec = _load(args.spec, args.set)
    executor = args.executor or spec.hardware.executor
    if executor == "slurm":
        if shutil.which("sbatch") is None:
            _err.print(
                f"{args.spec}: hardware.executor: slurm was asked for but no Slurm is reachable "
                "(no `sbatch` on PATH). Run here instead with `harness run "
                f"{args.spec} --executor local`, or start a local Slurm with "
                "`scripts/slurm-local.sh start`.",
                markup=False,
            )
            return EXIT_BAD_INPUT
        _err.print(
            f"{args.spec}: the slurm executor is not available in this version; use "
            "--executor local",
            markup=False,
        )
        return EXIT_BAD_INPUT
    results = Path(args.results)
    provenance = {
        "spec_file": str(Path(args.spec).resolve()),
        "overrides": list(args.set or []),
        "command": shlex.join(["harness", *args.argv]),
    }
    outcomes = run_local(spec, results, provenance, ConsoleReporter(_err))
    _out.print(
        summary_table(summarize(spec, results), title=f"{spec.name} ({results / spec.name})")
    )
    failed = [o for o in outcomes if o.status == "failed"]
    for outcome in failed:
        _err.print(f"failed: {outcome.run_id}: {outcome.error}", markup=False)
    return EXIT_FAILED if failed else EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from harness.launch import summarize
    from harness.progress import summary_table

    spec = _load(args.spec, args.set)
    rows = summarize(spec, Path(args.results))
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        _out.print(summary_table(rows, title=f"{spec.name} ({Path(args.results) / spec.name})"))
    return EXIT_OK


def cmd_envs(args: argparse.Namespace) -> int:
    import dataclasses

    import envs

    infos = [envs.info(env_id) for env_id in envs.list_envs()]
    if args.json:
        print(json.dumps([dataclasses.asdict(i) for i in infos], indent=2))
        return EXIT_OK
    table = Table(title="Goal-conditioned environments")
    for header in (
        "id",
        "state",
        "goal",
        "goal indices",
        "action",
        "success <",
        "backend",
        "episode",
    ):
        table.add_column(header)
    for i in infos:
        table.add_row(
            i.env_id,
            str(i.state_dim),
            str(i.goal_dim),
            str(list(i.goal_indices)),
            str(i.action_dim),
            f"{i.success_threshold:g}",
            i.backend,
            str(i.episode_length),
        )
    _out.print(table)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Benchmark harness for deep Contrastive RL (Wang et al. 2025).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def add_set(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="FIELD.PATH=VALUE",
            help="override a spec field (validated like the file); repeatable",
        )

    def add_results(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--results", default=str(DEFAULT_RESULTS), help="results folder (default: results)"
        )

    p = sub.add_parser("validate", help="check spec files without running anything")
    p.add_argument("specs", nargs="+", metavar="SPEC")
    add_set(p)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("schema", help="print the JSON Schema of the spec format")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("plan", help="list the runs a spec expands into")
    p.add_argument("spec", metavar="SPEC")
    p.add_argument("--json", action="store_true")
    add_set(p)
    add_results(p)
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("run", help="run every pending run of a spec")
    p.add_argument("spec", metavar="SPEC")
    p.add_argument(
        "--executor", choices=["local", "slurm"], default=None, help="override hardware.executor"
    )
    add_set(p)
    add_results(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("status", help="per-run status and latest scores of a spec")
    p.add_argument("spec", metavar="SPEC")
    p.add_argument("--json", action="store_true")
    add_set(p)
    add_results(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("envs", help="list the goal-conditioned environments")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_envs)
    return parser


def _import_quietly() -> None:
    """Import the physics stack once with stdout captured.

    ``mujoco.mjx`` prints "Failed to import warp" to stdout when the optional warp backend is
    absent, which would corrupt ``--json`` output. Later imports come from the module cache.
    """
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        import brax.envs  # noqa: F401

        import envs  # noqa: F401


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``harness`` console script; returns the exit code."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
    _import_quietly()
    try:
        code: Any = args.func(args)
    except SpecError as exc:
        _print_problems(exc)
        return EXIT_BAD_INPUT
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
