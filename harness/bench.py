"""``harness bench``: cost of the full CRL update against depth, scan vs the reference's form.

For each critic depth (actor depth ``min(depth, 512)``, the paper's 1024-layer setting), width
256, batch 512 and humanoid-sized inputs (state 268, goal 3, action 17; Wang et al. 2025,
arXiv 2503.14858), it measures one jitted update (actor, alpha, critic):

- compile seconds (trace + lower + XLA compile, persistent cache off);
- median wall milliseconds per update over ``repeats`` calls (after one warm-up call);
- memory: XLA's own accounting of the compiled update (arguments + outputs + temporaries,
  ``compiled.memory_analysis()``), and on GPU the device's peak bytes in use;
- parameters and matmul FLOPs per update (:func:`update_flops`), hence achieved FLOP/s.

The same update is also built the way the reference implementation does it: layers unrolled
in Python into the graph, float32, no rematerialisation (``network.scan: false``).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

import jax
import jax.numpy as jnp

from harness.agents.crl import CRL, Batch
from harness.networks import param_count
from harness.spec import RunConfig

#: Humanoid-sized inputs (paper.md, environment table).
STATE_DIM, GOAL_DIM, ACTION_DIM = 268, 3, 17


@dataclass
class UpdateCost:
    """Measured cost of one CRL update; times in seconds / milliseconds, memory in MB."""

    form: str
    critic_depth: int
    actor_depth: int
    width: int
    batch: int
    remat: bool
    dtype: str
    params_m: float
    compile_s: float
    update_ms: float | None
    xla_mem_mb: float | None
    peak_mem_mb: float | None
    gflops: float | None
    tflops_per_s: float | None


def _memory_mb(compiled: Any) -> float | None:
    try:
        stats = compiled.memory_analysis()
    except Exception:  # not every backend implements it
        return None
    if stats is None:
        return None
    total = (
        stats.argument_size_in_bytes
        + stats.output_size_in_bytes
        + stats.temp_size_in_bytes
        - stats.alias_size_in_bytes
    )
    return total / 2**20


def _kernel_weights(params: Any) -> int:
    """Scalars in Dense kernels (stacked block kernels count every layer)."""
    leaves = jax.tree_util.tree_leaves_with_path(params)
    return int(sum(leaf.size for path, leaf in leaves if "kernel" in jax.tree_util.keystr(path)))


def update_flops(abstract_state: Any, batch: int, repr_dim: int) -> float:
    """Matmul FLOPs of one update (model FLOPs; XLA's cost analysis counts a scan body once).

    With W the kernel weights of a network, a forward pass costs ``2 B W`` and a backward pass
    ``4 B W``. The actor loss runs the actor forward and backward, phi(s, a) forward and backward
    to the action (no weight gradient: ``2 B W``) and psi(g) forward; the critic loss runs phi and
    psi forward and backward, plus the ``B x B`` logits: ``2 B (3 W_actor + 5 W_phi + 4 W_psi)
    + 6 B^2 repr_dim``.
    """
    critic = abstract_state.critic_params["params"]
    w_actor = _kernel_weights(abstract_state.actor_params)
    w_phi = _kernel_weights(critic["sa_encoder"])
    w_psi = _kernel_weights(critic["g_encoder"])
    return 2.0 * batch * (3 * w_actor + 5 * w_phi + 4 * w_psi) + 6.0 * batch**2 * repr_dim


def measure_update(
    depth: int,
    *,
    width: int = 256,
    batch: int = 512,
    scan: bool = True,
    remat: bool = False,
    dtype: str = "float32",
    repeats: int = 5,
) -> UpdateCost:
    """Compile and time one CRL update (see module docstring). ``repeats=0`` only compiles."""
    actor_depth = min(depth, 512)
    cfg = RunConfig.model_validate(
        {
            "network": {
                "critic_depth": depth,
                "actor_depth": actor_depth,
                "width": width,
                "scan": scan,
                "remat": remat,
                "dtype": dtype,
            },
            "algo": {"batch_size": batch},
        }
    )
    agent = CRL(cfg, STATE_DIM, GOAL_DIM, ACTION_DIM)
    abstract = jax.eval_shape(agent.init, jax.random.PRNGKey(0))
    key = jax.random.PRNGKey(1)
    data = Batch(
        jax.random.normal(key, (batch, STATE_DIM)),
        jnp.tanh(jax.random.normal(key, (batch, ACTION_DIM))),
        jax.random.normal(key, (batch, GOAL_DIM)),
    )
    start = time.perf_counter()
    compiled = jax.jit(agent.update, donate_argnums=0).lower(abstract, data, key).compile()
    compile_s = time.perf_counter() - start
    params = param_count(abstract.actor_params) + param_count(abstract.critic_params)
    flops = update_flops(abstract, batch, cfg.network.repr_dim)
    update_ms = peak = None
    if repeats > 0:
        state = jax.jit(agent.init)(jax.random.PRNGKey(0))
        state, metrics = compiled(state, data, key)
        jax.block_until_ready(metrics)
        times = []
        for i in range(repeats):
            start = time.perf_counter()
            state, metrics = compiled(state, data, jax.random.PRNGKey(i))
            jax.block_until_ready(metrics)
            times.append(time.perf_counter() - start)
        update_ms = 1e3 * statistics.median(times)
        device = jax.devices()[0]
        stats = device.memory_stats() if device.platform == "gpu" else None
        if stats and "peak_bytes_in_use" in stats:
            peak = stats["peak_bytes_in_use"] / 2**20
    form = "scan" if scan else "unrolled (reference)"
    return UpdateCost(
        form=form,
        critic_depth=depth,
        actor_depth=actor_depth,
        width=width,
        batch=batch,
        remat=remat,
        dtype=dtype,
        params_m=params / 1e6,
        compile_s=compile_s,
        update_ms=update_ms,
        xla_mem_mb=_memory_mb(compiled),
        peak_mem_mb=peak,
        gflops=None if flops is None else flops / 1e9,
        tflops_per_s=(None if flops is None or not update_ms else flops / (update_ms / 1e3) / 1e12),
    )


def run_bench(
    depths: list[int],
    *,
    width: int = 256,
    batch: int = 512,
    remat: bool = False,
    dtype: str = "float32",
    repeats: int = 5,
    reference_max_depth: int = 1024,
    time_max_depth: int = 1024,
) -> list[dict[str, Any]]:
    """Measure the harness's update (scan, with ``remat``/``dtype``) and the reference form
    (unrolled, float32, no remat) for each depth. Updates deeper than ``time_max_depth`` are
    only compiled; the reference form is skipped beyond ``reference_max_depth``."""
    jax.config.update("jax_enable_compilation_cache", False)
    rows = []
    for depth in depths:
        reps = repeats if depth <= time_max_depth else 0
        rows.append(
            asdict(
                measure_update(
                    depth,
                    width=width,
                    batch=batch,
                    scan=True,
                    remat=remat,
                    dtype=dtype,
                    repeats=reps,
                )
            )
        )
        if depth <= reference_max_depth:
            rows.append(
                asdict(
                    measure_update(
                        depth,
                        width=width,
                        batch=batch,
                        scan=False,
                        remat=False,
                        dtype="float32",
                        repeats=reps,
                    )
                )
            )
    return rows
