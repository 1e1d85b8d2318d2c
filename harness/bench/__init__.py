"""``harness bench``: cost of the full CRL update against depth, and end-to-end throughput.

**Update cost.** For each critic depth (actor depth ``min(depth, 512)``, the paper's 1024-layer
setting), width 256, batch 512 and humanoid-sized inputs (state 268, goal 3, action 17; Wang et
al. 2025, arXiv 2503.14858), one jitted update (actor, alpha, critic) is built in up to three
forms:

- ``scan``: the harness's form (blocks applied with ``lax.scan`` over stacked parameters, each
  block keeping only its matmul outputs for the backward pass), in the ``dtype`` asked for;
- ``scan+remat``: the same with ``network.remat`` (each block recomputed on the backward pass);
- ``unrolled``: the reference implementation's form: layers unrolled in Python into the graph,
  float32, no rematerialisation (``network.scan: false``).

For each it measures compile seconds (trace + lower + XLA compile, persistent cache off);
memory: XLA's own accounting of the compiled update (arguments + outputs + temporaries,
``compiled.memory_analysis()``: exact per program, the figure to compare), and the process's
peak (device peak bytes on GPU, peak RSS on CPU; cumulative over the process, so only the
largest program's figure is its own); the parameter count; the median milliseconds per update;
and the achieved FLOP/s from the model's matmul FLOPs (:func:`update_flops`). The forms of one
depth are timed in turns (one call of each, ``repeats`` times), so load from other processes
falls on all of them alike.

**End to end** (:func:`measure_training`): env steps/s and gradient steps/s of the real training
loop (:class:`harness.train.Trainer`) on an env (default ``ant_u_maze``) after compilation, and
the number of recompilations after the first iteration (expected 0).
"""

from __future__ import annotations

import gc
import resource
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

import jax
import jax.numpy as jnp

from harness.agents.crl import CRL
from harness.batches import Batch
from harness.networks import param_count
from harness.spec import RunConfig

#: Humanoid-sized inputs (paper.md, environment table).
STATE_DIM, GOAL_DIM, ACTION_DIM = 268, 3, 17
#: Update forms :func:`run_bench` can build, in table order (see module docstring).
FORMS = ("scan", "scan+remat", "unrolled")


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
    gflops: float
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


def peak_memory_mb() -> float:
    """Process peak memory in MB: the device's peak bytes in use on GPU, else peak RSS."""
    device = jax.devices()[0]
    stats = device.memory_stats() if device.platform == "gpu" else None
    if stats and "peak_bytes_in_use" in stats:
        return float(stats["peak_bytes_in_use"]) / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return rss / (2**20 if sys.platform == "darwin" else 2**10)


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
    + 6 B^2 repr_dim``. Recomputation (remat) is not counted: this is the useful work.
    """
    critic = abstract_state.critic_params["params"]
    w_actor = _kernel_weights(abstract_state.actor_params)
    w_phi = _kernel_weights(critic["sa_encoder"])
    w_psi = _kernel_weights(critic["g_encoder"])
    return 2.0 * batch * (3 * w_actor + 5 * w_phi + 4 * w_psi) + 6.0 * batch**2 * repr_dim


@dataclass
class _Built:
    cost: UpdateCost
    compiled: Any
    agent: CRL
    data: Batch
    flops: float
    times: list[float]
    state: Any = None


def _build(form: str, depth: int, width: int, batch: int, dtype: str) -> _Built:
    """Compile the update of one form (see module docstring) without running it."""
    if form not in FORMS:
        raise ValueError(f"unknown form {form!r}; forms: {', '.join(FORMS)}")
    actor_depth = min(depth, 512)
    scan, remat = form != "unrolled", form == "scan+remat"
    dtype = "float32" if form == "unrolled" else dtype
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
    k_s, k_a, k_g = jax.random.split(key, 3)
    data = Batch(
        jax.random.normal(k_s, (batch, STATE_DIM)),
        jnp.tanh(jax.random.normal(k_a, (batch, ACTION_DIM))),
        jax.random.normal(k_g, (batch, GOAL_DIM)),
    )
    start = time.perf_counter()
    compiled = jax.jit(agent.update, donate_argnums=0).lower(abstract, data, key).compile()
    compile_s = time.perf_counter() - start
    params = param_count(abstract.actor_params) + param_count(abstract.critic_params)
    flops = update_flops(abstract, batch, cfg.network.repr_dim)
    cost = UpdateCost(
        form=form,
        critic_depth=depth,
        actor_depth=actor_depth,
        width=width,
        batch=batch,
        remat=remat,
        dtype=dtype,
        params_m=params / 1e6,
        compile_s=compile_s,
        update_ms=None,
        xla_mem_mb=_memory_mb(compiled),
        peak_mem_mb=None,
        gflops=flops / 1e9,
        tflops_per_s=None,
    )
    return _Built(cost, compiled, agent, data, flops, [])


def _call(built: _Built, key: jax.Array) -> float:
    start = time.perf_counter()
    built.state, metrics = built.compiled(built.state, built.data, key)
    jax.block_until_ready(metrics)
    return time.perf_counter() - start


def measure_depth(
    depth: int,
    forms: tuple[str, ...] = FORMS,
    *,
    width: int = 256,
    batch: int = 512,
    dtype: str = "float32",
    repeats: int = 5,
) -> list[UpdateCost]:
    """Compile the update of every form at one depth, then time them in turns.

    Args:
        depth: critic depth (actor depth ``min(depth, 512)``); a multiple of 4.
        forms: a subset of :data:`FORMS`.
        dtype: compute dtype of the ``scan`` forms (the unrolled form is float32).
        repeats: timed calls per form after one warm-up call; 0 only compiles.

    Returns:
        One :class:`UpdateCost` per form, in the order of ``forms``.

    Raises:
        ValueError: for an unknown form.
    """
    built = [_build(form, depth, width, batch, dtype) for form in forms]
    if repeats > 0:
        for item in built:
            item.state = jax.jit(item.agent.init)(jax.random.PRNGKey(0))
            _call(item, jax.random.PRNGKey(0))  # warm-up: first-call allocation
            item.cost.peak_mem_mb = peak_memory_mb()
        for i in range(repeats):
            for item in built:
                item.times.append(_call(item, jax.random.PRNGKey(i + 1)))
        for item in built:
            item.cost.update_ms = 1e3 * statistics.median(item.times)
            item.cost.tflops_per_s = item.flops / (item.cost.update_ms / 1e3) / 1e12
            item.state = None
    return [item.cost for item in built]


def run_bench(
    depths: list[int],
    *,
    forms: tuple[str, ...] = FORMS,
    width: int = 256,
    batch: int = 512,
    dtype: str = "float32",
    repeats: int = 5,
    reference_max_depth: int = 1024,
    time_max_depth: int = 1024,
) -> list[dict[str, Any]]:
    """:func:`measure_depth` for each depth, as dicts (one row per depth and form).

    The ``unrolled`` form is skipped beyond ``reference_max_depth`` (its compile time grows
    with depth); updates deeper than ``time_max_depth`` are only compiled.
    """
    jax.config.update("jax_enable_compilation_cache", False)
    rows: list[dict[str, Any]] = []
    for depth in depths:
        chosen = tuple(f for f in forms if f != "unrolled" or depth <= reference_max_depth)
        reps = repeats if depth <= time_max_depth else 0
        costs = measure_depth(depth, chosen, width=width, batch=batch, dtype=dtype, repeats=reps)
        rows.extend(asdict(c) for c in costs)
        gc.collect()
    return rows


def measure_training(
    env_id: str = "ant_u_maze",
    depth: int = 4,
    *,
    num_envs: int = 512,
    unroll_length: int = 62,
    batch: int = 512,
    utd: float = 1 / 40,
    width: int = 256,
    iterations: int = 3,
    scan: bool = True,
) -> dict[str, Any]:
    """End-to-end throughput of the training loop (collect + update iterations).

    Builds the real :class:`~harness.train.Trainer` for ``env_id`` (actor = critic depth
    ``depth``), prefills the replay, runs one iteration (compile), then times ``iterations``
    more. Defaults are the paper's recipe (512 envs x unroll 62, batch 512, UTD 1:40).

    Returns:
        ``env_steps_per_s`` and ``grad_steps_per_s`` over the timed iterations, ``iteration_s``
        (seconds per iteration), ``first_iteration_s`` (compile + run), ``recompiles``
        (:meth:`~harness.train.Trainer.recompiles`: 0 expected), and the settings.
    """
    from harness.train import Trainer

    cfg = _training_config(env_id, depth, num_envs, unroll_length, batch, utd, width, iterations)
    cfg = cfg.model_copy(update={"network": cfg.network.model_copy(update={"scan": scan})})
    trainer = Trainer(cfg)
    ts = trainer.prefill(trainer.init(jax.random.PRNGKey(0)))
    start = time.perf_counter()
    ts, metrics = trainer.iteration(ts)
    jax.block_until_ready(metrics)
    first_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(iterations):
        ts, metrics = trainer.iteration(ts)
    jax.block_until_ready(metrics)
    elapsed = time.perf_counter() - start
    sched = trainer.sched
    return {
        "env_id": env_id,
        "critic_depth": depth,
        "actor_depth": depth,
        "width": width,
        "num_envs": num_envs,
        "unroll_length": unroll_length,
        "batch_size": batch,
        "grad_steps_per_iter": sched.grad_steps_per_iter,
        "iterations": iterations,
        "first_iteration_s": first_s,
        "iteration_s": elapsed / iterations,
        "env_steps_per_s": iterations * sched.steps_per_iter / elapsed,
        "grad_steps_per_s": iterations * sched.grad_steps_per_iter / elapsed,
        "recompiles": trainer.recompiles(),
    }


def _training_config(
    env_id: str,
    depth: int,
    num_envs: int,
    unroll_length: int,
    batch: int,
    utd: float,
    width: int,
    iterations: int,
) -> RunConfig:
    """The run config the end-to-end measurements train (actor depth = critic depth)."""
    return RunConfig.model_validate(
        {
            "env": {"id": env_id},
            "network": {"critic_depth": depth, "actor_depth": depth, "width": width},
            "algo": {"batch_size": batch, "utd": utd},
            "data": {
                "num_envs": num_envs,
                "unroll_length": unroll_length,
                "replay_size_per_env": max(1000, 4 * unroll_length),
                "min_replay_per_env": unroll_length,
                "total_env_steps": num_envs * unroll_length * (iterations + 2),
            },
        }
    )


def measure_seed_groups(
    env_id: str,
    depth: int,
    sizes: list[int],
    *,
    num_envs: int = 512,
    unroll_length: int = 62,
    batch: int = 512,
    utd: float = 1 / 40,
    width: int = 256,
    iterations: int = 3,
) -> list[dict[str, Any]]:
    """Training throughput of seed groups (:class:`harness.seeds.SeedGroup`) against the same
    number of solo runs, measured in turns in one process.

    For each group size ``n``: after one compiling iteration of each, ``iterations`` times one
    group iteration (``n`` seeds at once) then ``n`` solo iterations one after another (what
    ``n`` solo runs do), so load from other processes falls on both alike. Settings as
    :func:`measure_training`.

    Returns:
        One row per size: ``seeds``, medians ``group_iteration_s`` and ``solo_iterations_s``
        (the ``n`` solo iterations together), env and gradient steps per second summed over
        the seeds for both (``group_env_steps_per_s``, ``solo_env_steps_per_s``,
        ``group_grad_steps_per_s``, ``solo_grad_steps_per_s``), ``speedup`` (solo time over
        group time), ``group_first_iteration_s`` (compile + run) and the settings.
    """
    from harness.train import Trainer

    cfg = _training_config(env_id, depth, num_envs, unroll_length, batch, utd, width, iterations)
    trainer = Trainer(cfg)
    sched = trainer.sched
    solo = trainer.prefill(trainer.init(jax.random.PRNGKey(0)))
    solo, metrics = trainer.iteration(solo)  # compile
    jax.block_until_ready(metrics)
    rows = []
    for n in sizes:
        group = trainer.group(n)
        keys = jnp.stack([jax.random.PRNGKey(seed) for seed in range(n)])
        state = group.prefill(group.init(keys))
        start = time.perf_counter()
        state, metrics = group.iteration(state)
        jax.block_until_ready(metrics)
        first_s = time.perf_counter() - start
        group_times, solo_times = [], []
        for _ in range(iterations):
            start = time.perf_counter()
            state, metrics = group.iteration(state)
            jax.block_until_ready(metrics)
            group_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            for _ in range(n):
                solo, metrics = trainer.iteration(solo)
            jax.block_until_ready(metrics)
            solo_times.append(time.perf_counter() - start)
        group_s, solo_s = statistics.median(group_times), statistics.median(solo_times)
        steps, grads = n * sched.steps_per_iter, n * sched.grad_steps_per_iter
        rows.append(
            {
                "env_id": env_id,
                "critic_depth": depth,
                "width": width,
                "num_envs": num_envs,
                "unroll_length": unroll_length,
                "batch_size": batch,
                "grad_steps_per_iter": sched.grad_steps_per_iter,
                "seeds": n,
                "group_first_iteration_s": first_s,
                "group_iteration_s": group_s,
                "solo_iterations_s": solo_s,
                "group_env_steps_per_s": steps / group_s,
                "solo_env_steps_per_s": steps / solo_s,
                "group_grad_steps_per_s": grads / group_s,
                "solo_grad_steps_per_s": grads / solo_s,
                "speedup": solo_s / group_s,
            }
        )
        del state
        gc.collect()
    return rows
