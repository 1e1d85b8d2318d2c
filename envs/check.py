"""A smoke check of one env: reset and step a batch with random actions, time it, look for NaN."""

from __future__ import annotations

import functools
import time
from typing import Any

import jax
import jax.numpy as jnp

from envs.registry import make


def check(
    env_id: str, batch: int = 64, steps: int = 100, seed: int = 0, **options: Any
) -> dict[str, Any]:
    """Reset ``batch`` envs, step them ``steps`` times with random actions, and report.

    The envs are not reset when done (unhealthy): a fallen robot keeps being simulated, which is
    also a test of the physics' stability. The jitted programs get the env's
    :attr:`~envs.base.GoalEnv.compiler_options`. The finiteness of every step's observation is
    accumulated on the device, so the timing includes no host round trip per step.

    Args:
        env_id: registered env id.
        batch: parallel envs (vmapped), >= 1.
        steps: timed env steps after the compiling one, >= 1.
        seed: PRNG seed of the resets and the actions.
        **options: keyword options of :func:`envs.make` (e.g. ``contacts="feet"``,
            ``cell_jitter=0.5``).

    Returns:
        ``{"env_id", "batch", "steps", "compile_s"`` (wall seconds of the jitted reset and the
        first jitted step, trace + compile + run)``, "steps_per_s"`` (``batch * steps`` / wall
        seconds after compilation)``, "finite"`` (bool: every obs, reward and ``dist`` of every
        step finite)``, "done_frac"`` (share of envs that were done at least once)``,
        "options"`` (``options``)``}``.

    Raises:
        KeyError: for an unknown env id; ValueError: if ``batch`` or ``steps`` is below 1, or
        from :func:`envs.make` for an option the env does not take; TypeError: for an unknown
        option.
    """
    if batch < 1 or steps < 1:
        raise ValueError(f"batch and steps must be >= 1, got batch={batch}, steps={steps}")
    env = make(env_id, **options)
    options = env.compiler_options
    reset = jax.jit(env.vmap(env.reset), compiler_options=options)
    vstep = env.vmap(env.step)

    @functools.partial(jax.jit, compiler_options=options)
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
        "options": dict(options),
    }
