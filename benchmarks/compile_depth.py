"""Compile time of one full CRL update (actor, alpha, critic) against depth.

Width 256, batch 512, humanoid-sized inputs (state 268, goal 3, action 17), the paper's
1024-layer setting uses actor depth min(depth, 512) (Wang et al. 2025, arXiv 2503.14858).
Prints compile seconds (lower + XLA compile, persistent cache off) and, with --run, the time
of one executed update.

    python benchmarks/compile_depth.py --depths 4,64,256,1024 [--run]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax
import jax.numpy as jnp

from harness.agents.crl import CRL, Batch
from harness.networks import param_count
from harness.spec import RunConfig

STATE, GOAL, ACTION = 268, 3, 17


def measure(depth: int, width: int, batch: int, run: bool) -> dict[str, float]:
    cfg = RunConfig.model_validate(
        {
            "env": {"id": "point_u_maze"},
            "network": {"critic_depth": depth, "actor_depth": min(depth, 512), "width": width},
            "algo": {"batch_size": batch},
        }
    )
    agent = CRL(cfg, STATE, GOAL, ACTION)
    state = jax.eval_shape(agent.init, jax.random.PRNGKey(0))
    data = Batch(jnp.zeros((batch, STATE)), jnp.zeros((batch, ACTION)), jnp.zeros((batch, GOAL)))
    start = time.perf_counter()
    compiled = jax.jit(agent.update).lower(state, data, jax.random.PRNGKey(1)).compile()
    compile_s = time.perf_counter() - start
    params = param_count(state.actor_params) + param_count(state.critic_params)
    out = {"depth": depth, "params_m": params / 1e6, "compile_s": compile_s}
    if run:
        real = jax.jit(agent.init)(jax.random.PRNGKey(0))
        new, metrics = compiled(real, data, jax.random.PRNGKey(1))
        jax.block_until_ready(metrics)
        start = time.perf_counter()
        new, metrics = compiled(new, data, jax.random.PRNGKey(2))
        jax.block_until_ready(metrics)
        out["update_s"] = time.perf_counter() - start
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", default="4,64,256,1024")
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--run", action="store_true", help="also time one executed update")
    args = parser.parse_args()
    jax.config.update("jax_enable_compilation_cache", False)
    print(f"device: {jax.devices()[0].device_kind}, width {args.width}, batch {args.batch}")
    print("| critic depth | actor depth | params (actor + critic) | compile (s) | one update (s) |")
    print("|---|---|---|---|---|")
    for depth in (int(d) for d in args.depths.split(",")):
        r = measure(depth, args.width, args.batch, args.run)
        update = f"{r['update_s']:.2f}" if "update_s" in r else "-"
        print(
            f"| {depth} | {min(depth, 512)} | {r['params_m']:.1f} M | {r['compile_s']:.1f} | "
            f"{update} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
