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
        return _run_slurm(args, spec)
    results = Path(args.results)
    outcomes = run_local(spec, results, _provenance(args), ConsoleReporter(_err))
    _out.print(
        summary_table(summarize(spec, results), title=f"{spec.name} ({results / spec.name})")
    )
    failed = [o for o in outcomes if o.status == "failed"]
    for outcome in failed:
        _err.print(f"failed: {outcome.run_id}: {outcome.error}", markup=False)
    return EXIT_FAILED if failed else EXIT_OK


def _provenance(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "spec_file": str(Path(args.spec).resolve()),
        "overrides": list(args.set or []),
        "command": shlex.join(["harness", *args.argv]),
    }


def _run_slurm(args: argparse.Namespace, spec: Spec) -> int:
    from harness.slurm import SlurmUnavailable, submit

    results = Path(args.results)
    try:
        submitted = submit(spec, results, _provenance(args))
    except SlurmUnavailable:
        _err.print(
            f"{args.spec}: hardware.executor: slurm was asked for but no Slurm is reachable "
            "(no `sbatch` on PATH). Run here instead with `harness run "
            f"{args.spec} --executor local`, or start a local Slurm with "
            "`scripts/slurm-local.sh start`.",
            markup=False,
        )
        return EXIT_BAD_INPUT
    if not submitted:
        _out.print(f"{spec.name}: nothing to submit (every run is complete or queued)")
    for run_id, job_id in submitted:
        _out.print(f"submitted {run_id} as Slurm job {job_id}", markup=False)
    if not args.wait:
        if submitted:
            _out.print(f"follow with: harness status {args.spec}", markup=False)
        return EXIT_OK
    return _wait(args, spec, results)


def _wait(args: argparse.Namespace, spec: Spec, results: Path) -> int:
    """Follow a spec's Slurm jobs until none is queued or running; print status changes."""
    import time

    from harness.launch import summarize
    from harness.progress import summary_table

    active = {"queued", "running", "requeued", "preempted", "pending"}
    seen: dict[str, tuple[str, Any]] = {}
    while True:
        rows = summarize(spec, results)
        for row in rows:
            state = (row["status"], row["env_steps"])
            if seen.get(row["run_id"]) != state:
                seen[row["run_id"]] = state
                score = row["last_time_at_goal"]
                latest = f", time_at_goal {score:.1f}" if score is not None else ""
                steps = f" at {row['env_steps']:,} env steps" if row["env_steps"] else ""
                _err.print(f"  {row['run_id']} {row['status']}{steps}{latest}", markup=False)
        if not any(r["status"] in active and r["slurm_job_id"] for r in rows):
            break
        time.sleep(args.poll_s)
    _out.print(summary_table(rows, title=f"{spec.name} ({results / spec.name})"))
    return EXIT_FAILED if any(r["status"] in ("failed", "lost") for r in rows) else EXIT_OK


def cmd_cancel(args: argparse.Namespace) -> int:
    from harness.slurm import cancel, slurm_available

    spec = _load(args.spec, args.set)
    if not slurm_available():
        _err.print("no Slurm client (scancel, squeue) on PATH: nothing to cancel", markup=False)
        return EXIT_BAD_INPUT
    cancelled = cancel(spec, Path(args.results))
    for run_id in cancelled:
        _out.print(f"cancelled {run_id}", markup=False)
    if not cancelled:
        _out.print(f"{spec.name}: no queued or running jobs")
    return EXIT_OK


def cmd_bench(args: argparse.Namespace) -> int:
    from harness.bench import run_bench

    try:
        depths = [int(d) for d in args.depths.split(",") if d.strip()]
    except ValueError:
        _err.print(
            f"--depths: expected comma-separated integers, got {args.depths!r}", markup=False
        )
        return EXIT_BAD_INPUT
    bad = [d for d in depths if d < 4 or d % 4]
    if bad or not depths:
        _err.print(
            f"--depths: each depth must be a positive multiple of 4, got {bad or '[]'}",
            markup=False,
        )
        return EXIT_BAD_INPUT
    import jax

    device = jax.devices()[0]
    _err.print(
        f"device: {device.platform} ({device.device_kind}); width {args.width}, batch "
        f"{args.batch}, humanoid-sized inputs",
        markup=False,
    )
    rows = run_bench(
        depths,
        width=args.width,
        batch=args.batch,
        remat=args.remat,
        dtype=args.dtype,
        repeats=args.repeats,
        reference_max_depth=args.reference_max_depth,
        time_max_depth=args.time_max_depth,
    )
    if args.json:
        print(json.dumps({"device": device.device_kind, "rows": rows}, indent=2))
        return EXIT_OK

    def fmt(value: Any, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    table = Table(title=f"CRL update cost ({device.device_kind})")
    for header in (
        "form",
        "critic",
        "actor",
        "remat",
        "dtype",
        "params",
        "compile s",
        "update ms",
        "XLA mem MB",
        "peak MB",
        "GFLOP",
        "TFLOP/s",
    ):
        table.add_column(header, justify="left" if header == "form" else "right")
    for r in rows:
        table.add_row(
            r["form"],
            str(r["critic_depth"]),
            str(r["actor_depth"]),
            str(r["remat"]),
            r["dtype"],
            f"{r['params_m']:.1f}M",
            f"{r['compile_s']:.1f}",
            fmt(r["update_ms"], ".1f"),
            fmt(r["xla_mem_mb"], ",.0f"),
            fmt(r["peak_mem_mb"], ",.0f"),
            fmt(r["gflops"], ".1f"),
            fmt(r["tflops_per_s"], ".3f"),
        )
    _out.print(table)
    return EXIT_OK


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


def _env_id(args: argparse.Namespace) -> str | None:
    import envs

    if args.env_id is None:
        _err.print(
            f"harness envs {args.action}: give an env id; known ids: {', '.join(envs.list_envs())}",
            markup=False,
        )
        return None
    if args.env_id not in envs.list_envs():
        _err.print(
            f"harness envs {args.action}: unknown env id {args.env_id!r}; known ids: "
            f"{', '.join(envs.list_envs())}",
            markup=False,
        )
        return None
    return str(args.env_id)


def cmd_envs(args: argparse.Namespace) -> int:
    import dataclasses

    import envs

    if args.action == "check":
        env_id = _env_id(args)
        if env_id is None:
            return EXIT_BAD_INPUT
        result = envs.check(env_id, batch=args.batch, steps=args.steps)
        if args.json:
            print(json.dumps(result, indent=2, default=str))
        else:
            ok = "ok" if result["finite"] else "NON-FINITE VALUES"
            _out.print(
                f"{env_id}: {ok}; batch {result['batch']}, {result['steps']} steps: "
                f"{result['steps_per_s']:,.0f} env steps/s after {result['compile_s']:.1f} s "
                f"compile; {100 * result['done_frac']:.0f}% of envs ended (unhealthy)",
                markup=False,
            )
        return EXIT_OK if result["finite"] else EXIT_FAILED
    if args.action == "render":
        env_id = _env_id(args)
        if env_id is None:
            return EXIT_BAD_INPUT
        out = Path(args.out or f"{env_id}.png")
        path = envs.render(env_id, out)
        _out.print(f"wrote {path}", markup=False)
        return EXIT_OK
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
    p.add_argument(
        "--wait", action="store_true", help="slurm: follow the submitted jobs until they end"
    )
    p.add_argument("--poll-s", type=float, default=10.0, help=argparse.SUPPRESS)
    add_set(p)
    add_results(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("status", help="per-run status and latest scores of a spec")
    p.add_argument("spec", metavar="SPEC")
    p.add_argument("--json", action="store_true")
    add_set(p)
    add_results(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("cancel", help="cancel a spec's queued and running Slurm jobs")
    p.add_argument("spec", metavar="SPEC")
    add_set(p)
    add_results(p)
    p.set_defaults(func=cmd_cancel)

    from harness.report_cli import add_report_parser

    add_report_parser(sub)

    p = sub.add_parser("bench", help="compile time, speed and memory of the CRL update by depth")
    p.add_argument("--depths", default="4,16,64,256,1024")
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--remat", action="store_true", help="rematerialise blocks (harness form)")
    p.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    p.add_argument("--repeats", type=int, default=5, help="timed updates per setting")
    p.add_argument(
        "--reference-max-depth",
        type=int,
        default=1024,
        help="skip the unrolled reference form beyond this depth",
    )
    p.add_argument(
        "--time-max-depth",
        type=int,
        default=1024,
        help="only compile (no timed updates) beyond this depth",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser(
        "envs",
        help="list the environments; `envs check ID` steps one, `envs render ID` draws it",
    )
    p.add_argument("action", nargs="?", choices=["list", "check", "render"], default="list")
    p.add_argument("env_id", nargs="?", metavar="ID")
    p.add_argument("--json", action="store_true")
    p.add_argument("--batch", type=int, default=256, help="check: parallel envs (default 256)")
    p.add_argument("--steps", type=int, default=200, help="check: timed steps (default 200)")
    p.add_argument("--out", help="render: PNG path (default ID.png)")
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
