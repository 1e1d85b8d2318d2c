"""``harness bench``: the command line of :mod:`harness.bench` (parsing, tables, JSON).

Wired into :mod:`harness.cli` with ``add_bench_parser(sub)``. Exit codes (``shared/DESIGN.md``):
0 ok, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.bench import FORMS, measure_seed_groups, measure_training, run_bench

EXIT_OK, EXIT_BAD_INPUT = 0, 2

_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False, soft_wrap=True)


def add_bench_parser(sub: argparse._SubParsersAction) -> None:
    """Add the ``bench`` subcommand (and its handler) to ``harness``'s subparsers."""
    p = sub.add_parser(
        "bench",
        help="compile time, speed and memory of the CRL update by depth; --train: end-to-end "
        "training throughput",
        description="Update cost: for each critic depth (actor depth min(depth, 512)), build "
        "the full CRL update (actor, alpha, critic) on humanoid-sized inputs in each form "
        "(scan: the harness's; scan+remat; unrolled: the reference implementation's float32 "
        "form), and print compile seconds, median update ms (forms timed in turns), XLA "
        "memory, peak memory, parameters and FLOP/s. With --train ENV: env steps/s and "
        "gradient steps/s of the real training loop at each depth, and recompilations after "
        "the first iteration.",
    )
    p.add_argument("--depths", default="4,16,64,256,1024", help="comma-separated critic depths")
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--batch", type=int, default=512)
    p.add_argument(
        "--forms",
        default="scan,scan+remat,unrolled",
        help="comma-separated update forms: scan, scan+remat, unrolled (default: all)",
    )
    p.add_argument(
        "--dtype",
        choices=["float32", "bfloat16"],
        default="float32",
        help="compute dtype of the scan forms (the unrolled form is float32)",
    )
    p.add_argument("--repeats", type=int, default=5, help="timed updates per form (0: compile)")
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
    p.add_argument(
        "--train",
        default=None,
        metavar="ENV",
        help="measure end-to-end training throughput on ENV (e.g. ant_u_maze) instead",
    )
    p.add_argument("--num-envs", type=int, default=512, help="--train: parallel envs")
    p.add_argument("--unroll-length", type=int, default=62, help="--train: steps per unroll")
    p.add_argument("--iterations", type=int, default=3, help="--train: timed iterations")
    p.add_argument("--utd", type=float, default=1 / 40, help="--train: gradient steps per env step")
    p.add_argument(
        "--seed-group",
        default=None,
        metavar="N,...",
        help="--train: measure seed groups of these sizes (e.g. 1,2,4,8) against as many solo "
        "runs, in turns (env and gradient steps/s summed over seeds)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    """``harness bench``: the update cost per depth and form, or (``--train``) training
    throughput, or (``--train --seed-group``) seed groups; a table or ``--json``."""
    inputs = _bench_inputs(args)
    if isinstance(inputs, int):
        return inputs
    depths, forms = inputs
    import jax

    device = jax.devices()[0]
    if args.train is not None and args.seed_group is not None:
        return _bench_seed_groups(args, depths, device)
    if args.train is not None:
        return _bench_training(args, depths, device)
    return _bench_updates(args, depths, forms, device)


def _bench_inputs(args: argparse.Namespace) -> tuple[list[int], tuple[str, ...]] | int:
    """The depths and forms asked for, or the exit code after a clear message."""
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
    forms = tuple(f.strip() for f in args.forms.split(",") if f.strip())
    unknown = [f for f in forms if f not in FORMS]
    if unknown or not forms:
        _err.print(
            f"--forms: unknown {unknown or '[]'}; choose from {', '.join(FORMS)}", markup=False
        )
        return EXIT_BAD_INPUT
    if args.train is not None:
        import envs

        if args.train not in envs.list_envs():
            _err.print(
                f"--train: unknown env id {args.train!r}; known ids: {', '.join(envs.list_envs())}",
                markup=False,
            )
            return EXIT_BAD_INPUT
    return depths, forms


def _bench_training(args: argparse.Namespace, depths: list[int], device: Any) -> int:
    """Training throughput of ``args.train`` at each depth (``harness bench --train``)."""
    _err.print(
        f"device: {device.platform} ({device.device_kind}); training {args.train}: "
        f"{args.num_envs} envs x unroll {args.unroll_length}, batch {args.batch}, "
        f"width {args.width}, UTD 1:40, {args.iterations} timed iterations",
        markup=False,
    )
    results = []
    for depth in depths:
        results.append(
            measure_training(
                args.train,
                depth,
                num_envs=args.num_envs,
                unroll_length=args.unroll_length,
                batch=args.batch,
                width=args.width,
                iterations=args.iterations,
            )
        )
        r = results[-1]
        _err.print(
            f"depth {depth}: {r['env_steps_per_s']:,.0f} env steps/s, "
            f"{r['grad_steps_per_s']:.1f} grad steps/s, first iteration "
            f"{r['first_iteration_s']:.1f} s, recompiles {r['recompiles']}",
            markup=False,
        )
    if args.json:
        print(json.dumps({"device": device.device_kind, "rows": results}, indent=2))
        return EXIT_OK
    table = Table(title=f"Training throughput, {args.train} ({device.device_kind})")
    for header in (
        "depth",
        "envs x unroll",
        "batch",
        "grad steps / iter",
        "first iter s",
        "iter s",
        "env steps/s",
        "grad steps/s",
        "recompiles",
    ):
        table.add_column(header, justify="right")
    for r in results:
        table.add_row(
            str(r["critic_depth"]),
            f"{r['num_envs']} x {r['unroll_length']}",
            str(r["batch_size"]),
            str(r["grad_steps_per_iter"]),
            f"{r['first_iteration_s']:.1f}",
            f"{r['iteration_s']:.2f}",
            f"{r['env_steps_per_s']:,.0f}",
            f"{r['grad_steps_per_s']:.1f}",
            str(r["recompiles"]),
        )
    _out.print(table)
    return EXIT_OK


def _bench_updates(
    args: argparse.Namespace, depths: list[int], forms: tuple[str, ...], device: Any
) -> int:
    """The CRL update's cost per depth and form (``harness bench``)."""
    _err.print(
        f"device: {device.platform} ({device.device_kind}); width {args.width}, batch "
        f"{args.batch}, humanoid-sized inputs; forms {', '.join(forms)}",
        markup=False,
    )
    rows = run_bench(
        depths,
        forms=forms,
        width=args.width,
        batch=args.batch,
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


def _bench_seed_groups(args: argparse.Namespace, depths: list[int], device: Any) -> int:
    """``--train ENV --seed-group N,...``: :func:`harness.bench.measure_seed_groups` at each
    depth; a table (or ``--json``) of group against solo throughput."""
    try:
        sizes = [int(n) for n in args.seed_group.split(",") if n.strip()]
    except ValueError:
        sizes = []
    if not sizes or any(n < 1 for n in sizes):
        _err.print(
            f"--seed-group: expected comma-separated positive integers, got {args.seed_group!r}",
            markup=False,
        )
        return EXIT_BAD_INPUT
    _err.print(
        f"device: {device.platform} ({device.device_kind}); seed groups on {args.train}: "
        f"{args.num_envs} envs x unroll {args.unroll_length}, batch {args.batch}, width "
        f"{args.width}, UTD {args.utd:g}, {args.iterations} timed iterations in turns with as "
        "many solo runs",
        markup=False,
    )
    rows: list[dict[str, Any]] = []
    for depth in depths:
        rows += measure_seed_groups(
            args.train,
            depth,
            sizes,
            num_envs=args.num_envs,
            unroll_length=args.unroll_length,
            batch=args.batch,
            utd=args.utd,
            width=args.width,
            iterations=args.iterations,
        )
    if args.json:
        print(json.dumps({"device": device.device_kind, "rows": rows}, indent=2))
        return EXIT_OK
    table = Table(title=f"Seed groups against solo runs, {args.train} ({device.device_kind})")
    headers = ["depth", "seeds", "group iter s", "solo iters s", "group env steps/s"]
    headers += ["solo env steps/s", "group grad steps/s", "solo grad steps/s", "speedup"]
    for header in headers:
        table.add_column(header, justify="right")
    for r in rows:
        table.add_row(
            str(r["critic_depth"]),
            str(r["seeds"]),
            f"{r['group_iteration_s']:.3f}",
            f"{r['solo_iterations_s']:.3f}",
            f"{r['group_env_steps_per_s']:,.0f}",
            f"{r['solo_env_steps_per_s']:,.0f}",
            f"{r['group_grad_steps_per_s']:.1f}",
            f"{r['solo_grad_steps_per_s']:.1f}",
            f"{r['speedup']:.2f}x",
        )
    _out.print(table)
    return EXIT_OK
