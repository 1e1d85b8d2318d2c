"""Reproducer of the CPU hang of batched MJX arm steps (issue 14, item 1).

Usage::

    python benchmarks/hang_repro.py [--attempts 10] [--timeout 150] [--env arm_push_hard]
                                    [--batch 256] [--steps 60] [--chunk N] [--load K]
                                    [--cpus 0,1] [--xla-option KEY=VALUE ...] [--xla-flags F]
                                    [--cache DIR] [--dump-dir DIR]

Runs the minimal program ``attempts`` times, each in a fresh subprocess with a wall-clock
limit, and prints one JSON object: ``attempts``, ``hangs``, ``ok``, ``slow`` (ran past the
limit while still using CPU), ``errors``, ``seconds`` (per attempt), ``outcomes`` and the
configuration.

The program: ``jit(vmap(env.reset))``, then ``steps`` calls of ``jit(vmap(env.step))`` (with
the env's ``compiler_options``) on ``batch`` envs with random actions, dispatched
asynchronously as ``envs.check`` does. ``--chunk N`` steps the batch as ``jax.lax.map(step,
batch_size=N)`` instead (vmap over chunks of ``N`` envs): the avoidance measured here.

The mechanism (found with ``gdb`` on hung ``harness envs check arm_push_hard`` processes,
jaxlib 0.10.2): every MJX physics step factors the 15 x 15 mass matrix (and the Newton
solver's Hessian) with ``jax.scipy.linalg.cho_factor``, which XLA's CPU runtime runs as the
``lapack_spotrf_ffi`` custom call. jaxlib's LAPACK kernels split a batch of matrices over the
XLA intra-op thread pool (``ParallelBatchMap``) once ``batch * n**3 / 3 >= 200000`` FLOP,
i.e. from 178 envs for n = 15, and the calling pool thread then blocks in
``absl::BlockingCounter::Wait`` until the chunks are done. The step's program has two
independent ``spotrf`` calls that the thunk executor may run at the same time; when both
pool threads (2 on a 2-core machine) are inside such a wait, the chunks they queued have no
thread left to run them: a deadlock with every thread idle (not a lost wakeup). Whether the
two calls overlap depends on thread timing, hence "sometimes, more often under load".
Batches below the threshold run the factorisations inline on the calling thread and cannot
deadlock; so does a pool of one thread (``--cpus 0``: ``num_threads <= 1`` disables the split).

A hang is an attempt that passed ``--timeout`` and used less than 5 % of a core over a 5 s
probe (a slow attempt still computes); ``--dump-dir`` saves ``gdb``'s (else ``py-spy``'s)
thread stacks of every hung process there before it is killed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROBE_S = 5.0
IDLE_CPU_SHARE = 0.05
"""Below this share of one core over the probe, a timed-out attempt counts as hung."""


def child(args: argparse.Namespace) -> None:
    """Run the program once (in the subprocess) and print a JSON line with its timings."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    sys.path.insert(0, str(REPO))
    import jax
    import jax.numpy as jnp

    if args.cache:
        jax.config.update("jax_compilation_cache_dir", args.cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    from envs.registry import make

    env = make(args.env)
    options = {**env.compiler_options, **_parse_options(args.xla_option)}
    reset = jax.jit(jax.vmap(env.reset), compiler_options=options)
    if args.chunk:
        if args.batch % args.chunk:
            raise SystemExit(f"--batch {args.batch} is not a multiple of --chunk {args.chunk}")
        n_chunks, chunk = args.batch // args.chunk, args.chunk
        vstep = jax.vmap(env.step)

        def split(x: jax.Array) -> jax.Array:  # explicit shapes: some MJX leaves have size 0
            return jnp.reshape(x, (n_chunks, chunk, *x.shape[1:]))

        def merge(x: jax.Array) -> jax.Array:
            return jnp.reshape(x, (n_chunks * chunk, *x.shape[2:]))

        def step_batch(state, action):  # type: ignore[no-untyped-def]
            chunks = jax.tree.map(split, (state, action))
            return jax.tree.map(merge, jax.lax.map(lambda sa: vstep(*sa), chunks))

        step = jax.jit(step_batch, compiler_options=options)
    else:
        step = jax.jit(jax.vmap(env.step), compiler_options=options)
    key_reset, key_act = jax.random.split(jax.random.key(args.seed))
    t0 = time.perf_counter()
    state = reset(jax.random.split(key_reset, args.batch))
    state = jax.block_until_ready(step(state, jnp.zeros((args.batch, env.action_size))))
    compile_s = time.perf_counter() - t0
    print(json.dumps({"phase": "compiled", "compile_s": compile_s}), flush=True)
    actions = jax.random.uniform(
        key_act, (args.steps, args.batch, env.action_size), jnp.float32, -1.0, 1.0
    )
    t0 = time.perf_counter()
    for i in range(args.steps):
        state = step(state, actions[i])
    jax.block_until_ready(state)
    run_s = time.perf_counter() - t0
    finite = bool(jnp.all(jnp.isfinite(state.obs)))
    print(json.dumps({"phase": "done", "compile_s": compile_s, "run_s": run_s, "finite": finite}))


def _parse_options(pairs: list[str]) -> dict[str, object]:
    """``["k=v", ...]`` as compiler options (``true`` / ``false`` as bools, digits as ints)."""
    options: dict[str, object] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        options[key] = {"true": True, "false": False}.get(
            value.lower(), int(value) if value.isdigit() else value
        )
    return options


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _dump_stacks(pid: int, path: Path) -> None:
    """Write the native thread stacks of ``pid`` to ``path`` (gdb, else py-spy), best effort."""
    if shutil.which("gdb"):
        cmd = [
            "gdb",
            "-p",
            str(pid),
            "-batch",
            "-ex",
            "set pagination off",
            "-ex",
            "thread apply all bt 30",
        ]
    elif shutil.which("py-spy"):
        cmd = ["py-spy", "dump", "--pid", str(pid), "--native"]
    else:
        return
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        path.write_text(out.stdout + out.stderr)
    except (OSError, subprocess.TimeoutExpired) as exc:
        path.write_text(f"stack dump failed: {exc}\n")


def attempt(args: argparse.Namespace, index: int) -> dict[str, object]:
    """Run one child with the time limit; classify it as ok / hang / slow / error."""
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        "--env",
        args.env,
        "--batch",
        str(args.batch),
        "--steps",
        str(args.steps),
        "--seed",
        str(index),
    ]
    if args.chunk:
        cmd += ["--chunk", str(args.chunk)]
    if args.cache:
        cmd += ["--cache", args.cache]
    for pair in args.xla_option:
        cmd += ["--xla-option", pair]
    if args.cpus:
        cmd = ["taskset", "-c", args.cpus, *cmd]
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    if args.xla_flags:
        env["XLA_FLAGS"] = args.xla_flags
    t0 = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        try:
            before = _cpu_seconds(proc.pid)
            time.sleep(PROBE_S)
            share = (_cpu_seconds(proc.pid) - before) / PROBE_S
        except OSError:
            share = float("nan")
        outcome = "hang" if share < IDLE_CPU_SHARE else "slow"
        if outcome == "hang" and args.dump_dir:
            Path(args.dump_dir).mkdir(parents=True, exist_ok=True)
            _dump_stacks(proc.pid, Path(args.dump_dir) / f"attempt{index}-pid{proc.pid}.txt")
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        seconds = time.monotonic() - t0
        compiled = '"phase": "compiled"' in out
        return {
            "outcome": outcome,
            "seconds": round(seconds, 1),
            "cpu_share": round(share, 3),
            "compiled": compiled,
        }
    seconds = time.monotonic() - t0
    lines = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    done = [x for x in lines if x.get("phase") == "done"]
    if proc.returncode != 0 or not done:
        return {
            "outcome": "error",
            "seconds": round(seconds, 1),
            "rc": proc.returncode,
            "stderr_tail": err[-2000:],
        }
    return {
        "outcome": "ok",
        "seconds": round(seconds, 1),
        "compile_s": round(done[0]["compile_s"], 1),
        "run_s": round(done[0]["run_s"], 1),
    }


def run(args: argparse.Namespace) -> dict[str, object]:
    """All attempts, with ``--load`` busy processes running alongside; the summary dict."""
    load = [
        subprocess.Popen(["nice", "-n", "19", sys.executable, "-c", "while True: pass"])
        for _ in range(args.load)
    ]
    results = []
    try:
        for i in range(args.attempts):
            r = attempt(args, i)
            results.append(r)
            if args.verbose:
                print(json.dumps({"attempt": i, **r}), file=sys.stderr, flush=True)
    finally:
        for p in load:
            p.kill()
            p.wait()
    count = {k: sum(r["outcome"] == k for r in results) for k in ("ok", "hang", "slow", "error")}
    return {
        "attempts": len(results),
        "hangs": count["hang"],
        "ok": count["ok"],
        "slow": count["slow"],
        "errors": count["error"],
        "seconds": [r["seconds"] for r in results],
        "outcomes": results,
        "config": {
            k: getattr(args, k)
            for k in (
                "env",
                "batch",
                "steps",
                "chunk",
                "timeout",
                "load",
                "cpus",
                "xla_option",
                "xla_flags",
            )
        },
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--attempts", type=int, default=10)
    p.add_argument(
        "--timeout",
        type=float,
        default=150.0,
        help="seconds per attempt (compile included) before it is probed and killed",
    )
    p.add_argument("--env", default="arm_push_hard")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument(
        "--chunk",
        type=int,
        default=0,
        help="step the batch in chunks of this many envs (lax.map); 0: one vmap",
    )
    p.add_argument("--load", type=int, default=0, help="busy-loop processes run alongside")
    p.add_argument("--cpus", default="", help="taskset CPU list for the attempts, e.g. 0")
    p.add_argument(
        "--xla-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra compiler option of the jitted programs (repeatable)",
    )
    p.add_argument("--xla-flags", default="", help="XLA_FLAGS of the attempts")
    p.add_argument("--cache", default="", help="JAX persistent compilation cache folder")
    p.add_argument("--dump-dir", default="", help="save the thread stacks of hung attempts here")
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("-v", "--verbose", action="store_true", help="one line per attempt on stderr")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.child:
        child(args)
        return 0
    print(json.dumps(run(args), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
