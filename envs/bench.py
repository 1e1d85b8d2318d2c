"""Throughput of ``jit(vmap(env.step))`` on the current JAX device.

Usage::

    python -m envs.bench [ENV_ID ...] [--batch 64 256] [--steps 200]
                         [--contacts {reference,feet}] [--cell-jitter METRES]

Prints one line per (env id, batch size), from :func:`envs.check.check`: the wall seconds of
the jitted reset and first step (trace + compile + run), env steps per second
(``batch * steps / wall seconds``, after compilation), whether every observation stayed finite,
and the share of envs that fell (done). Random actions in ``[-1, 1]``; envs are not reset.
``--contacts`` and ``--cell-jitter`` (:func:`envs.make`'s options, default the reference
behaviour) apply to the ids that list them in ``EnvInfo.options``; the line shows those applied.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from typing import Any

import jax
import jax.numpy as jnp

from envs.base import ENV_OPTIONS
from envs.check import check
from envs.registry import info, list_envs, make
from envs.robots import CONTACT_SETS


@dataclasses.dataclass(frozen=True)
class StepThroughput:
    """One measurement.

    Attributes:
        env_id: the env.
        batch_size: parallel envs (vmapped).
        compile_s: wall seconds of the first call of the jitted step (trace + compile + run).
        steps_per_s: env steps per second over ``n_steps`` calls after compilation.
    """

    env_id: str
    batch_size: int
    compile_s: float
    steps_per_s: float


def measure_step_throughput(
    env_id: str, batch_size: int, n_steps: int = 200, **options: Any
) -> StepThroughput:
    """Time ``jit(vmap(step))`` of ``env_id`` at ``batch_size`` parallel envs.

    Args:
        env_id: registered env id.
        batch_size: number of envs stepped together.
        n_steps: timed calls after the compiling one.
        **options: keyword options of :func:`envs.make`.

    Returns:
        the :class:`StepThroughput`.

    Raises:
        KeyError: for an unknown env id; ValueError: for an option the env does not take.
    """
    env = make(env_id, **options)
    reset = jax.jit(env.vmap(env.reset), compiler_options=env.compiler_options)
    step = jax.jit(env.vmap(env.step), compiler_options=env.compiler_options)
    key_reset, key_act = jax.random.split(jax.random.key(0))
    state = jax.block_until_ready(reset(jax.random.split(key_reset, batch_size)))
    actions = jax.random.uniform(
        key_act, (n_steps, batch_size, env.action_size), jnp.float32, -1.0, 1.0
    )
    t0 = time.perf_counter()
    state = jax.block_until_ready(step(state, actions[0]))
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(n_steps):
        state = step(state, actions[i])
    jax.block_until_ready(state)
    wall_s = time.perf_counter() - t0
    return StepThroughput(env_id, batch_size, compile_s, batch_size * n_steps / wall_s)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("env_ids", nargs="*", default=list_envs())
    parser.add_argument("--batch", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--contacts", choices=CONTACT_SETS, default=ENV_OPTIONS["contacts"])
    parser.add_argument("--cell-jitter", type=float, default=ENV_OPTIONS["cell_jitter"])
    args = parser.parse_args(argv)
    asked = {"contacts": args.contacts, "cell_jitter": args.cell_jitter}
    print(f"device: {jax.devices()[0].device_kind}")
    for env_id in args.env_ids:
        options = {k: v for k, v in asked.items() if k in info(env_id).options}
        shown = " ".join(f"{k}={v}" for k, v in options.items())
        for batch in args.batch:
            r = check(env_id, batch, args.steps, **options)
            print(
                f"{env_id:<26} batch {batch:>5}  compile {r['compile_s']:6.1f} s  "
                f"{r['steps_per_s']:>10,.0f} env steps/s  finite {r['finite']}  "
                f"done {r['done_frac']:.2f}  {shown}",
                flush=True,
            )


if __name__ == "__main__":
    main()
