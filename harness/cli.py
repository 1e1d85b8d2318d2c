"""``harness`` command line: validate, schema, plan, run, status, envs, data (report, bench
and doctor live in their own modules).

Exit codes (``shared/DESIGN.md``): 0 ok, 1 some runs failed, 2 bad input. Bad input prints
every problem as ``FILE: field.path: message`` on stderr, with no traceback, and writes nothing.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from harness import algos
from harness.progress import output_width
from harness.spec import Spec, SpecError, json_schema, load_spec, parse_overrides
from harness.store import WriteError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
DEFAULT_RESULTS = Path("results")
#: `harness plan` prints plain text instead of a rich table beyond this many runs.

# The terminal's width on a terminal; every column in a file or a pipe (rich would use 80).
_out = Console(highlight=False, soft_wrap=True, width=output_width(sys.stdout))
_err = Console(stderr=True, highlight=False, soft_wrap=True, width=output_width(sys.stderr))


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
        if args.executor == "slurm":
            try:
                _check_slurm(spec, path)
            except SpecError as exc:
                _print_problems(exc)
                status = EXIT_BAD_INPUT
                continue
        count = len(expand(spec))
        _out.print(f"{path}: ok ({count} run{'' if count == 1 else 's'})", markup=False)
    return status


def _check_slurm(spec: Spec, source: str) -> None:
    """``--executor slurm`` of plan and validate: the spec's per-job request against the
    partition in ``sinfo`` (:func:`harness.slurm.check_resources`), when Slurm answers.

    Raises:
        SpecError: what the partition cannot give, one line per field.
    """
    from harness.slurm import check_resources

    if not check_resources(spec, source):
        _err.print(
            f"{source}: no Slurm answers (sinfo): partition limits not checked", markup=False
        )


def cmd_schema(args: argparse.Namespace) -> int:
    print(json.dumps(json_schema(), indent=2))
    return EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    from harness.plan import describe
    from harness.progress import print_table

    spec = _load(args.spec, args.set)
    if args.executor == "slurm":
        _check_slurm(spec, args.spec)
    rows = describe(spec, Path(args.results))
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    title = f"{spec.name}: {len(rows)} runs -> {Path(args.results) / spec.name}"
    # Offline or non-CRL runs in the spec: show algorithm and data mode as well.
    show_algo = any(r["data_mode"] != "online" or r["algo"] != algos.DEFAULT for r in rows)
    headers = ["run_id", "env", *(("algo", "data") if show_algo else ()), "critic", "actor"]
    headers += ["width", "batch", "seed", "env steps", "grad steps", "critic params"]
    grouped = spec.hardware.seed_group > 1
    headers += ["actor params", *(("group",) if grouped else ()), "status"]
    cells = [
        [r["run_id"], r["env_id"], *((r["algo"], r["data_mode"]) if show_algo else ())]
        + [str(r[k]) for k in ("critic_depth", "actor_depth", "width", "batch_size", "seed")]
        + [f"{r['env_steps']:,}", f"{r['grad_steps']:,}", f"{r['critic_params'] / 1e6:.2f}M"]
        + [f"{r['actor_params'] / 1e6:.2f}M", *((str(r["group"]),) if grouped else ())]
        + [r["status"]]
        for r in rows
    ]
    left = {"run_id", "env", "algo", "data", "status"}
    drop = ["actor params", "critic params", "batch", "width", "grad steps", "actor", "env"]
    print_table(_out, title, headers, cells, left, drop)
    memory = [r["state_gb"] for r in rows if r["state_gb"] is not None]
    if memory:
        groups = len({r["group"] for r in rows})
        where = f"{groups} seed groups of up to {spec.hardware.seed_group}; " if grouped else ""
        _out.print(
            f"{where}largest training state {max(memory):.2f} GB on the device (replays, "
            "parameters, Adam moments; activations not counted)",
            markup=False,
        )
    if spec.description:
        _out.print(spec.description, markup=False)
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from harness.plan import check_datasets, check_memory, check_results, check_shared_name
    from harness.status import summarize

    spec = _load(args.spec, args.set)
    check_datasets(spec, args.spec, Path(args.results))
    check_memory(spec, args.spec)  # exit 2 on a seed group that cannot fit the device
    check_results(spec, Path(args.results))  # exit 2 on a folder that cannot be written
    if not args.allow_version_change and _version_conflicts(spec, Path(args.results)):
        return EXIT_BAD_INPUT
    if not args.allow_shared_name:  # exit 2 on a folder holding another spec's runs
        check_shared_name(spec, args.spec, Path(args.results))
    executor = args.executor or spec.hardware.executor
    if executor == "slurm":
        return _run_slurm(args, spec)
    results = Path(args.results)
    outcomes, stop = _run_local_stoppable(args, spec, results)
    if stop.is_set():  # one line; no table: the process was asked to end
        _err.print(_stopped_line(args, stop, outcomes), markup=False)
        return stop.exit_code
    _out.print(_summary(spec, summarize(spec, results), results))
    failed = [o for o in outcomes if o.status == "failed"]
    for outcome in failed:
        _err.print(f"failed: {outcome.run_id}: {outcome.error}", markup=False)
    return EXIT_FAILED if failed else EXIT_OK


def _summary(spec: Spec, rows: list[dict[str, Any]], results: Path) -> Any:
    """The status table of a spec's runs, fitted to the terminal, its final-score K named."""
    from harness.plan import expand
    from harness.progress import summary_table

    last_k = {run.config.eval.last_k for run in expand(spec)}
    title = f"{spec.name} ({results / spec.name})"
    return summary_table(rows, title=title, width=_out.width, last_k=last_k)


def _version_conflicts(spec: Spec, results: Path) -> bool:
    """Print why runs of the spec must not resume here (:func:`harness.records.
    resume_conflict`); whether there were any."""
    from harness.plan import expand
    from harness.records import resume_conflict
    from harness.store import RunDir

    found = False
    for run in expand(spec):
        rundir = RunDir(results, spec.name, run.run_id)
        conflict = None if rundir.is_complete() else resume_conflict(rundir)
        if conflict:
            _err.print(f"{spec.name}: {conflict}", markup=False)
            found = True
    return found


def _run_local_stoppable(args: argparse.Namespace, spec: Spec, results: Path) -> tuple[Any, Any]:
    """:func:`harness.launch.run_local` under :func:`harness.interrupt.run_stoppable`: a
    signal stops the runs at their next step with a checkpoint; a second one, or no checkpoint
    within ``hardware.stop_timeout_s``, records them and exits at once."""
    from harness.interrupt import StopRequest, run_stoppable
    from harness.launch import run_local
    from harness.progress import ConsoleReporter
    from harness.records import abandon_runs
    from harness.watchdog import reexec_skipping

    def work(stop: StopRequest) -> Any:
        reporter = ConsoleReporter(_err)
        return run_local(
            spec, results, _provenance(args), reporter, on_stall=reexec_skipping, stop=stop
        )

    def on_request(stop: StopRequest) -> None:
        if _err.is_terminal:  # a person pressed Ctrl-C: say what happens (logs get one line)
            _err.print(
                f"harness run: {stop.name}: finishing the step and writing a checkpoint (at "
                f"most {spec.hardware.stop_timeout_s:g} s); {stop.name} again exits at once",
                markup=False,
            )

    def on_abandon(stop: StopRequest, reason: str) -> None:
        runs = abandon_runs(results, spec.name, stop.name, reason)
        what = ", ".join(runs) if runs else "no run in training"
        _err.print(
            f"harness run: stopped by {stop.name} without a new checkpoint ({reason}): "
            f"{what}; `{_again(args)}` resumes from the last checkpoint",
            markup=False,
        )

    return run_stoppable(work, spec.hardware.stop_timeout_s, on_abandon, on_request=on_request)


def _again(args: argparse.Namespace) -> str:
    """The ``harness run`` command line that resumes this one."""
    return shlex.join(["harness", *args.argv])


def _stopped_line(args: argparse.Namespace, stop: Any, outcomes: list[Any]) -> str:
    """The line ``harness run`` prints when a signal stopped it with checkpoints."""
    stopped = [o for o in outcomes if o.status == "interrupted"]
    failed = [o for o in outcomes if o.status == "failed"]
    if stopped:
        where = "; ".join(f"{o.run_id} {o.error}" for o in stopped)
        what = f"{where}. `{_again(args)}` resumes"
    else:
        what = f"no run was left mid-training. `{_again(args)}` goes on with the rest"
    if failed:
        what += f" ({len(failed)} failed before: see `harness status`)"
    return f"harness run: stopped by {stop.name}: {what}"


def _provenance(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {
        "spec_file": str(Path(args.spec).resolve()),
        "overrides": list(args.set or []),
        "command": shlex.join(["harness", *args.argv]),
    }
    if getattr(args, "allow_version_change", False):
        out["allow_version_change"] = True
    return out


def _run_slurm(args: argparse.Namespace, spec: Spec) -> int:
    from harness.slurm import SlurmUnavailable, SubmitError, check_resources, submit

    results = Path(args.results)
    try:
        check_resources(spec, args.spec)  # exit 2 on what the partition cannot give
        submitted = submit(spec, results, _provenance(args))
    except SubmitError as exc:
        _err.print(f"{args.spec}: {exc}; nothing was submitted", markup=False)
        return EXIT_BAD_INPUT
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
            again = [a for s in args.set or [] for a in ("--set", s)] + ["--results", args.results]
            follow = shlex.join(["harness", "status", args.spec, *again])
            _out.print(f"follow with: {follow}", markup=False)
        return EXIT_OK
    return _wait(args, spec, results)


def _wait(args: argparse.Namespace, spec: Spec, results: Path) -> int:
    """Follow a spec's Slurm jobs until none is queued or running; print status changes."""
    from harness.slurm import follow

    def show(row: dict[str, Any]) -> None:
        score = row["last_time_at_goal"]
        latest = f", time_at_goal {score:.1f}" if score is not None else ""
        steps = f" at {row['env_steps']:,} env steps" if row["env_steps"] else ""
        _err.print(f"  {row['run_id']} {row['status']}{steps}{latest}", markup=False)

    rows = follow(spec, results, args.poll_s, show)
    _out.print(_summary(spec, rows, results))
    return (
        EXIT_FAILED if any(r["status"] in ("failed", "lost", "broken") for r in rows) else EXIT_OK
    )


def cmd_cancel(args: argparse.Namespace) -> int:
    from harness.slurm import cancel
    from harness.status import slurm_available

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


def cmd_status(args: argparse.Namespace) -> int:
    from harness.status import summarize, watch

    spec = _load(args.spec, args.set)
    if args.watch is not None:  # redraw the table until ctrl-C (or --count tables)
        return watch(spec, Path(args.results), _out, args.watch, args.count)
    rows = summarize(spec, Path(args.results))
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        _out.print(_summary(spec, rows, Path(args.results)))
    return EXIT_OK


def cmd_data(args: argparse.Namespace) -> int:
    """``harness data generate`` and ``harness data export`` (:mod:`harness.datasets`)."""
    from harness.datasets import DatasetError, export_run, find_run, generate_pointmaze

    try:
        if args.data_command == "generate":

            def progress(done: int, total: int) -> None:
                if done == total or done % max(1, total // 10) == 0:
                    _err.print(f"  {done}/{total} episodes", markup=False)

            made = generate_pointmaze(
                args.name,
                Path(args.out),
                args.episodes,
                seed=args.seed,
                noise=args.noise,
                episode_steps=args.episode_steps,
                progress=progress,
            )
            _out.print(
                f"wrote {made.train} ({made.episodes} episodes, {made.train_steps:,} steps) and "
                f"{made.val} ({made.val_episodes} episodes, {made.val_steps:,} steps) in "
                f"{made.wall_s:.0f} s",
                markup=False,
            )
            return EXIT_OK
        run_dir = find_run(args.run, Path(args.results))
        done = export_run(run_dir, Path(args.out), args.name, args.val_fraction)
    except DatasetError as exc:
        _err.print(f"harness data {args.data_command}: {exc}", markup=False)
        return EXIT_BAD_INPUT
    _out.print(
        f"wrote {done.train} ({done.trajectories} trajectories, {done.train_steps:,} steps) and "
        f"{done.val} ({done.val_trajectories} trajectories, {done.val_steps:,} steps) from "
        f"{run_dir} ({done.env_id}); use it with data: {{mode: offline, source: brax, "
        f"dataset: {done.train.stem}, dataset_dir: {done.train.parent}}} and env: "
        f"{{id: {done.env_id}}}",
        markup=False,
    )
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


def cmd_render(args: argparse.Namespace) -> int:
    """``harness render RUN --episode K --out FILE``: exit 2 when it cannot start (no GL
    backend, a format it cannot write, a run without episodes), 1 when rendering fails."""
    from harness.render import RenderError, render_run

    try:
        done = render_run(Path(args.run), args.episode, Path(args.out), args.width, args.height)
    except RenderError as exc:
        _err.print(f"harness render: {exc}", markup=False)
        return EXIT_BAD_INPUT
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        _err.print(
            f"harness render: failed: {lines[-1] if lines else done.returncode}", markup=False
        )
        return EXIT_FAILED
    _out.print(done.stdout.strip(), markup=False)
    return EXIT_OK


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
    from harness.progress import print_table

    headers = ["id", "state", "goal", "goal indices", "action", "success <", "backend"]
    headers += ["episode", "options"]
    cells = [
        [
            i.env_id,
            str(i.state_dim),
            str(i.goal_dim),
            str(list(i.goal_indices)),
            str(i.action_dim),
            f"{i.success_threshold:g}",
            i.backend,
            str(i.episode_length),
            ", ".join(i.options) or "-",
        ]
        for i in infos
    ]
    left = {"id", "goal indices", "backend", "options"}
    drop = ["options", "goal indices", "backend", "success <", "episode"]
    print_table(_out, "Goal-conditioned environments", headers, cells, left, drop)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The ``harness`` command line: one sub-command per verb (README, "Commands")."""
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Benchmark harness for deep Contrastive RL (Wang et al. 2025).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_spec_parsers(sub)
    from harness.report.cli import add_report_parser

    add_report_parser(sub)
    _add_render_parser(sub)
    from harness.bench.cli import add_bench_parser

    add_bench_parser(sub)
    from harness.doctor import add_doctor_parser

    add_doctor_parser(sub)
    _add_data_parser(sub)
    _add_envs_parser(sub)
    return parser


def _add_set(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD.PATH=VALUE",
        help="override a spec field (validated like the file); repeatable",
    )


def _add_results(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--results", default=str(DEFAULT_RESULTS), help="results folder (default: results)"
    )


def _add_executor_check(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--executor",
        choices=["local", "slurm"],
        default=None,
        help="slurm: also check each job's GPUs, CPUs, memory, time and constraint "
        "against the partition's nodes (sinfo), when Slurm answers",
    )


def _add_spec_parsers(sub: Any) -> None:
    """validate, schema, plan, run, status and cancel: the verbs that read a spec."""
    p = sub.add_parser("validate", help="check spec files without running anything")
    p.add_argument("specs", nargs="+", metavar="SPEC")
    _add_executor_check(p)
    _add_set(p)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("schema", help="print the JSON Schema of the spec format")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("plan", help="list the runs a spec expands into")
    p.add_argument("spec", metavar="SPEC")
    _add_executor_check(p)
    p.add_argument("--json", action="store_true")
    _add_set(p)
    _add_results(p)
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
    p.add_argument(
        "--allow-version-change",
        action="store_true",
        help="resume runs whose checkpoint was made with another jax, brax or mujoco version "
        "(refused by default: one curve would mix two physics); run.json records the change",
    )
    p.add_argument(
        "--allow-shared-name",
        action="store_true",
        help="write into results/<name>/ even when it holds runs of another spec file with "
        "the same name (refused otherwise: their reports would pool both)",
    )
    _add_set(p)
    _add_results(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("status", help="per-run status and latest scores of a spec")
    p.add_argument("spec", metavar="SPEC")
    p.add_argument("--json", action="store_true")
    from harness.status import add_watch_arguments

    add_watch_arguments(p)
    _add_set(p)
    _add_results(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("cancel", help="cancel a spec's queued and running Slurm jobs")
    p.add_argument("spec", metavar="SPEC")
    _add_set(p)
    _add_results(p)
    p.set_defaults(func=cmd_cancel)


def _add_render_parser(sub: Any) -> None:
    p = sub.add_parser(
        "render",
        help="a video of a run's recorded episode (MuJoCo offscreen: EGL or OSMesa)",
        description="Roll the run's final policy out again on its recorded episode's start "
        "and goal (eval.record_episodes) and draw every step with MuJoCo's offscreen "
        "renderer (headless: MUJOCO_GL=egl or osmesa; both are tried). .gif needs nothing "
        "more; .mp4 needs imageio-ffmpeg (not in the lock).",
    )
    p.add_argument("run", metavar="RUN", help="a run folder (results/<spec>/<run_id>)")
    p.add_argument("--episode", type=int, default=0, metavar="K", help="episode (default 0)")
    p.add_argument("--out", required=True, metavar="FILE", help="FILE.gif or FILE.mp4")
    p.add_argument("--width", type=int, default=480, help="pixels (default 480)")
    p.add_argument("--height", type=int, default=360, help="pixels (default 360)")
    p.set_defaults(func=cmd_render)


def _add_data_parser(sub: Any) -> None:
    p = sub.add_parser("data", help="offline datasets: generate point-maze data, export a run")
    data_sub = p.add_subparsers(dest="data_command", required=True)
    g = data_sub.add_parser(
        "generate",
        help="write an OGBench-format point-maze dataset (NAME.npz, NAME-val.npz) made with "
        "the env's oracle subgoal plus Gaussian noise, as OGBench made its own",
    )
    g.add_argument("name", metavar="NAME", help="e.g. pointmaze-medium-navigate-v0")
    g.add_argument("--out", required=True, metavar="DIR", help="output folder")
    g.add_argument(
        "--episodes",
        type=int,
        default=100,
        help="training episodes (default 100; OGBench: 1000); validation gets a tenth",
    )
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--noise", type=float, default=0.5, help="action noise std (OGBench: 0.5)")
    g.add_argument(
        "--episode-steps",
        type=int,
        default=None,
        help="steps per episode (default: 1001 navigate, 201 stitch, as OGBench)",
    )
    g.set_defaults(func=cmd_data)
    e = data_sub.add_parser(
        "export",
        help="write the trajectories an online run kept (data.save_replay: true) as an "
        "OGBench-format dataset",
    )
    e.add_argument("run", metavar="RUN", help="run folder, or run id under --results")
    e.add_argument("--out", required=True, metavar="DIR", help="output folder")
    e.add_argument(
        "--name", default=None, help="dataset name (default <env>-<algo>-d<depth>-<run id>)"
    )
    e.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="share of trajectories in NAME-val.npz (default 0.1)",
    )
    _add_results(e)
    e.set_defaults(func=cmd_data)


def _add_envs_parser(sub: Any) -> None:
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
    _import_quietly()  # first: subcommand modules imported by build_parser import the physics
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
    try:
        code: Any = args.func(args)
    except KeyboardInterrupt:  # Ctrl-C outside training (training handles its own)
        _err.print(f"harness {args.command}: interrupted (SIGINT)", markup=False)
        return 130
    except SpecError as exc:
        _print_problems(exc)
        return EXIT_BAD_INPUT
    except WriteError as exc:  # the disk filled up or the folder turned read-only mid-run
        _err.print(f"harness {args.command}: {exc}", markup=False)
        return EXIT_FAILED
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
