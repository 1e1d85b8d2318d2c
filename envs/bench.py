"""Throughput of ``jit(vmap(env.step))`` on the current JAX device, and a smoke check.

Usage::

    python -m envs.bench [ENV_ID ...] [--batch 64 256] [--steps 200]

Prints one line per (env id, batch size): the compile time of the step, env steps per second
(``batch * steps / wall seconds``, after compilation) and whether every observation stayed
finite. Random actions in ``[-1, 1]``; :func:`check` does the same for one batch size.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from typing import Any

import jax
import jax.numpy as jnp

from envs.registry import list_envs, make


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


def measure_step_throughput(env_id: str, batch_size: int, n_steps: int = 200) -> StepThroughput:
    """Time ``jit(vmap(step))`` of ``env_id`` at ``batch_size`` parallel envs.

    Args:
        env_id: registered env id.
        batch_size: number of envs stepped together.
        n_steps: timed calls after the compiling one.

    Returns:
        the :class:`StepThroughput`.

    Raises:
        KeyError: for an unknown env id.
    """
    env = make(env_id)
    reset = jax.jit(jax.vmap(env.reset))
    step = jax.jit(jax.vmap(env.step))
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


def check(env_id: str, batch: int = 64, steps: int = 100, seed: int = 0) -> dict[str, Any]:
    """Reset ``batch`` envs, step them ``steps`` times with random actions, and report.

    The envs are not reset when done (unhealthy): a fallen robot keeps being simulated, which is
    also a test of the physics' stability. The finiteness of every step's observation is
    accumulated on the device, so the timing includes no host round trip per step.

    Args:
        env_id: registered env id.
        batch: parallel envs (vmapped), >= 1.
        steps: timed env steps after the compiling one, >= 1.
        seed: PRNG seed of the resets and the actions.

    Returns:
        ``{"env_id", "batch", "steps", "compile_s"`` (wall seconds of the jitted reset and the
        first jitted step, trace + compile + run)``, "steps_per_s"`` (``batch * steps`` / wall
        seconds after compilation)``, "finite"`` (bool: every obs, reward and ``dist`` of every
        step finite)``, "done_frac"`` (share of envs that were done at least once)``}``.

    Raises:
        KeyError: for an unknown env id; ValueError: if ``batch`` or ``steps`` is below 1.
    """
    if batch < 1 or steps < 1:
        raise ValueError(f"batch and steps must be >= 1, got batch={batch}, steps={steps}")
    env = make(env_id)
    reset = jax.jit(jax.vmap(env.reset))
    vstep = jax.vmap(env.step)

    @jax.jit
    def advance(state: Any, action: jax.Array, ok: jax.Array, ever_done: jax.Array) -> Any:
        state = vstep(state, action)
        leaves = (state.obs, state.reward, state.metrics["dist"])
        ok = ok & jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))
        return state, ok, ever_done | (state.done > 0)

    key_reset, key_act = jax.random.split(jax.random.key(seed))
    t0 = time.perf_counter()
    state = reset(jax.random.split(key_reset, batch))
    carry = (jnp.all(jnp.isfinite(state.obs)), jnp.zeros((batch,), bool))
    state, *carry = advance(state, jnp.zeros((batch, env.action_size)), *carry)
    jax.block_until_ready((state, carry))
    compile_s = time.perf_counter() - t0
    actions = jax.random.uniform(key_act, (steps, batch, env.action_size), jnp.float32, -1, 1)
    t0 = time.perf_counter()
    for i in range(steps):
        state, *carry = advance(state, actions[i], *carry)
    ok, ever_done = jax.block_until_ready(carry)
    wall_s = time.perf_counter() - t0
    return {
        "env_id": env_id,
        "batch": batch,
        "steps": steps,
        "compile_s": compile_s,
        "steps_per_s": batch * steps / wall_s,
        "finite": bool(ok),
        "done_frac": float(jnp.mean(ever_done)),
    }


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("env_ids", nargs="*", default=list_envs())
    parser.add_argument("--batch", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args(argv)
    print(f"device: {jax.devices()[0].device_kind}")
    for env_id in args.env_ids:
        for batch in args.batch:
            r = check(env_id, batch, args.steps)
            print(
                f"{env_id:<26} batch {batch:>5}  compile {r['compile_s']:6.1f} s  "
                f"{r['steps_per_s']:>10,.0f} env steps/s  finite {r['finite']}  "
                f"done {r['done_frac']:.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
