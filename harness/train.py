"""Online training on goal-conditioned Brax environments, written as pure JAX functions.

Any agent of :func:`harness.agents.make_agent` (CRL and the baselines of Wang et al. 2025,
Fig. 13) trains with the same collection, replay, evaluation, metrics and checkpoints; only the
minibatch sampler follows the algorithm (:func:`harness.agents.batch_kind`).

:class:`Trainer` holds jitted pure functions in the PureJaxRL style: ``init(key) -> TrainState``,
``collect(TrainState, random) -> TrainState`` (an env unroll of ``unroll_length`` steps in
``num_envs`` envs appended to the replay; the prefill collects with the freshly initialised
actor, as the reference code, or with uniform random actions, ``data.prefill``),
``update(TrainState) -> (TrainState, metrics)`` (``grad_steps_per_iter`` minibatch updates),
each a ``lax.scan``, and ``evaluate(actor_params, key, random) -> metrics`` (deterministic
policy, one episode per eval env). The state is donated, so the replay is updated in place. :func:`train` drives them from the host,
evaluating ``eval.num_evals`` times, evenly spaced, and reporting through callbacks.

Recipe: Wang et al. 2025 (arXiv 2503.14858) and JaxGCRL (Bortkiewicz et al. 2024,
arXiv 2408.11052): 512 envs x unroll 62, UTD about 1:40, batch 512, replay 10k steps per env,
1k steps per env before training, 100 evaluations on 128 envs.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

import envs
from harness.agents import Agent, batch_kind, make_agent
from harness.checkpoint import Checkpointer
from harness.replay import (
    Replay,
    replay_add,
    replay_init,
    sample,
    sample_future,
    sample_transitions,
)
from harness.spec import RunConfig

#: Metric names written for every evaluation (Wang et al. 2025, Sec. 5; JaxGCRL).
EVAL_METRICS = ("time_at_goal", "success_any", "dist_mean", "alive_steps")


def enable_compilation_cache(path: str | None = None) -> str | None:
    """Turn on JAX's persistent compilation cache so identical programs compile once.

    Re-running a spec, resuming, or running many seeds of one config reuses compiled XLA
    executables from disk. The folder is ``path``, else ``$HARNESS_COMPILE_CACHE``, else
    ``~/.cache/deep-crl-harness/xla``; ``HARNESS_COMPILE_CACHE=off`` disables it.

    Returns:
        The cache folder in use, or None when disabled.
    """
    import os

    folder = (
        path
        or os.environ.get("HARNESS_COMPILE_CACHE")
        or os.path.join(os.path.expanduser("~"), ".cache", "deep-crl-harness", "xla")
    )
    if folder.lower() in ("off", "0", "none", "false"):
        return None
    from jax.experimental.compilation_cache import compilation_cache

    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    # JAX decides at its first compilation whether the cache is on, and keeps to it: in a
    # process that compiled before this call (a test session, a notebook) the cache would stay
    # off. Resetting makes the next compilation look again.
    compilation_cache.reset_cache()
    return folder


@struct.dataclass
class TrainState:
    """Everything a training iteration reads and writes (one pytree, donated to ``iteration``)."""

    agent: Any  # the agent's state (CRLState, SACState, ...)
    replay: Replay
    env_state: Any  # brax State batched over num_envs
    first_env_state: Any  # env.reset == "first": each env's first reset state; else None
    ep_step: jax.Array  # [num_envs] int32 steps taken in the current episode
    traj_id: jax.Array  # [num_envs] int32 episode counter per env
    key: jax.Array
    env_steps: jax.Array  # scalar int32 (runs stay below 2^31 env steps)
    grad_steps: jax.Array  # scalar int32


@dataclass(frozen=True)
class Schedule:
    """Step accounting of a run, derived from the config (no compile needed)."""

    steps_per_iter: int
    grad_steps_per_iter: int
    prefill_iters: int
    num_iters: int
    eval_iters: tuple[int, ...]
    episode_length: int

    @property
    def total_env_steps(self) -> int:
        return (self.prefill_iters + self.num_iters) * self.steps_per_iter

    @property
    def total_grad_steps(self) -> int:
        return self.num_iters * self.grad_steps_per_iter


def schedule(cfg: RunConfig) -> Schedule:
    """Iterations, gradient steps and evaluation points of a run.

    Env steps include the prefill. Evaluations happen after the training iterations at
    ``round(k * num_iters / num_evals)`` for k = 1..num_evals (deduplicated), plus one before
    training (iteration 0).
    """
    data = cfg.data
    steps_per_iter = data.num_envs * data.unroll_length
    prefill_iters = math.ceil(data.min_replay_per_env / data.unroll_length)
    remaining = max(data.total_env_steps - prefill_iters * steps_per_iter, steps_per_iter)
    num_iters = math.ceil(remaining / steps_per_iter)
    grad_steps = max(1, round(steps_per_iter * cfg.algo.utd))
    num_evals = min(cfg.eval.num_evals, num_iters)
    eval_iters = tuple(sorted({round(k * num_iters / num_evals) for k in range(1, num_evals + 1)}))
    episode_length = cfg.env.episode_length or envs.info(cfg.env.id).episode_length
    return Schedule(
        steps_per_iter, grad_steps, prefill_iters, num_iters, eval_iters, episode_length
    )


def _where_done(done: jax.Array, fresh: Any, current: Any) -> Any:
    def select(a: jax.Array, b: jax.Array) -> jax.Array:
        mask = done.reshape(done.shape + (1,) * (a.ndim - done.ndim))
        return jnp.where(mask, a, b)

    return jax.tree_util.tree_map(select, fresh, current)


class Trainer:
    """Builds and holds the jitted functions of one run config (see module docstring).

    Args:
        cfg: validated run config.

    Attributes:
        env: the goal-conditioned Brax env; ``eval_env``: the env evaluated on
        (``env.eval_id``, else ``env``); ``agent``: the run's agent
        (:func:`harness.agents.make_agent`); ``batch_kind``: its minibatch sampler
        (:func:`harness.agents.batch_kind`); sched: the run's :class:`Schedule`.
    """

    def __init__(self, cfg: RunConfig) -> None:
        self.cfg = cfg
        options = cfg.env.make_options()
        self.env = envs.make(cfg.env.id, **options)
        eval_id = cfg.env.resolved_eval_id
        self.eval_env = self.env if eval_id == cfg.env.id else envs.make(eval_id, **options)
        self.sched = schedule(cfg)
        self.state_dim = int(self.env.state_dim)
        self.goal_dim = int(self.env.goal_dim)
        self.action_dim = int(self.env.action_size)
        self.goal_indices = tuple(int(i) for i in np.asarray(self.env.goal_indices))
        self.agent: Agent = make_agent(cfg, self.state_dim, self.goal_dim, self.action_dim)
        self.batch_kind = batch_kind(cfg.algo.name)
        # TD learning reads the commanded goal and the terminal flag of every step.
        self.keeps_goals = self.batch_kind == "transition"
        self.success_threshold = float(envs.info(cfg.env.id).success_threshold)
        self._reset = jax.vmap(self.env.reset)
        self._step = jax.vmap(self.env.step)
        self._eval_reset = jax.vmap(self.eval_env.reset)
        self._eval_step = jax.vmap(self.eval_env.step)
        # Programs that step an env take its XLA options (the MJX arm tasks need one on the
        # CPU: envs/arm.py); the update never touches the env.
        env_options = {**self.env.compiler_options, **self.eval_env.compiler_options} or None
        self.init = jax.jit(self._init, compiler_options=env_options)
        self.collect = jax.jit(self._collect, donate_argnums=0, compiler_options=env_options)
        self.update = jax.jit(self._update, donate_argnums=0)
        self.evaluate = jax.jit(self._evaluate, compiler_options=env_options)

    def recompiles(self) -> int:
        """Programs compiled beyond one per jitted function (``init``, ``collect`` (prefill and
        training share it), ``update``, ``evaluate`` (policy and random baseline share it)).

        Each is built for one input signature, so anything above 0 means a function was
        traced and compiled again (a changed shape, dtype or weak type): :func:`train`
        records it as ``perf/recompiles`` at every evaluation.
        """
        return sum(
            max(0, f._cache_size() - 1)  # type: ignore[attr-defined]
            for f in (self.init, self.collect, self.update, self.evaluate)
        )

    # ----------------------------------------------------------------------------------------
    def _init(self, key: jax.Array) -> TrainState:
        data = self.cfg.data
        k_agent, k_env, key = jax.random.split(key, 3)
        env_state = self._reset(jax.random.split(k_env, data.num_envs))
        return TrainState(
            agent=self.agent.init(k_agent),
            replay=replay_init(
                data.replay_size_per_env,
                data.num_envs,
                self.state_dim,
                self.action_dim,
                self.goal_dim if self.keeps_goals else None,
            ),
            env_state=env_state,
            first_env_state=env_state if self.cfg.env.reset == "first" else None,
            ep_step=jnp.zeros((data.num_envs,), jnp.int32),
            traj_id=jnp.zeros((data.num_envs,), jnp.int32),
            key=key,
            env_steps=jnp.zeros((), jnp.int32),
            grad_steps=jnp.zeros((), jnp.int32),
        )

    def _collect(self, ts: TrainState, random_actions: jax.Array) -> TrainState:
        """Step all envs ``unroll_length`` times, auto-resetting, and append to the replay.

        ``random_actions`` (traced bool) picks uniform random actions (``data.prefill:
        uniform``) instead of the stochastic policy, so prefill and training share one compiled
        unroll. Fresh reset states are drawn once per unroll (one per env) and used by envs
        whose episode ends inside it, which keeps resets out of the per-step cost. With
        ``env.reset: first`` an ended episode restarts from its env's first reset state
        instead, as brax's ``AutoResetWrapper`` does in the reference code (scaling-crl
        ``train.py:506-510`` wraps the env with ``envs.training.wrap``; JaxGCRL issue #53).
        """
        data = self.cfg.data
        key, k_reset, k_steps = jax.random.split(ts.key, 3)
        if ts.first_env_state is not None:
            fresh = ts.first_env_state
        else:
            fresh = self._reset(jax.random.split(k_reset, data.num_envs))
        episode_length = self.sched.episode_length

        def step(carry: tuple[Any, jax.Array, jax.Array], k: jax.Array) -> tuple[Any, Any]:
            env_state, ep_step, traj_id = carry
            obs = env_state.obs
            k_random, k_policy = jax.random.split(k)
            uniform = jax.random.uniform(
                k_random, (data.num_envs, self.action_dim), minval=-1.0, maxval=1.0
            )
            policy = self.agent.act(ts.agent.actor_params, obs, k_policy)
            action = jnp.where(random_actions, uniform, policy)
            nxt = self._step(env_state, action)
            ep_step_next = ep_step + 1
            terminal = nxt.done > 0  # unhealthy; the time limit is a truncation
            done = terminal | (ep_step_next >= episode_length)
            nxt = _where_done(done, fresh, nxt)
            out: tuple[jax.Array, ...] = (obs[:, : self.state_dim], action, traj_id)
            if self.keeps_goals:
                out = (*out, obs[:, self.state_dim :], terminal)
            carry = (nxt, jnp.where(done, 0, ep_step_next), traj_id + done.astype(jnp.int32))
            return carry, out

        keys = jax.random.split(k_steps, data.unroll_length)
        (env_state, ep_step, traj_id), stored = jax.lax.scan(
            step, (ts.env_state, ts.ep_step, ts.traj_id), keys
        )
        return dataclasses.replace(
            ts,
            replay=replay_add(ts.replay, *stored),
            env_state=env_state,
            ep_step=ep_step,
            traj_id=traj_id,
            key=key,
            env_steps=ts.env_steps + data.num_envs * data.unroll_length,
        )

    def prefill(self, ts: TrainState) -> TrainState:
        """Fill the replay with ``min_replay_per_env`` steps per env (rounded up to whole
        unrolls) before training: actions of the freshly initialised stochastic actor
        (``data.prefill: actor``, the reference's ``prefill_replay_buffer``, scaling-crl
        ``train.py:712-730``, which calls the same ``actor_step`` as training) or uniform random
        actions in ``[-1, 1]`` (``data.prefill: uniform``)."""
        uniform = jnp.asarray(self.cfg.data.prefill == "uniform")
        for _ in range(self.sched.prefill_iters):
            ts = self.collect(ts, uniform)
        return ts

    def iteration(self, ts: TrainState) -> tuple[TrainState, dict[str, jax.Array]]:
        """One training iteration: a policy unroll, then ``grad_steps_per_iter`` updates.

        Two jitted calls dispatched back to back; nothing is read back to the host.
        """
        return self.update(self.collect(ts, jnp.asarray(False)))

    def _update(self, ts: TrainState) -> tuple[TrainState, dict[str, jax.Array]]:
        algo = self.cfg.algo

        def update(
            carry: tuple[Any, jax.Array], _: None
        ) -> tuple[tuple[Any, jax.Array], dict[str, jax.Array]]:
            agent, key = carry
            key, k_sample, k_update = jax.random.split(key, 3)
            batch: Any
            if self.batch_kind == "transition":
                relabel = algo.resolved_her.relabel_prob if algo.name.endswith("_her") else 0.0
                batch, _info = sample_transitions(
                    ts.replay,
                    k_sample,
                    algo.batch_size,
                    self.goal_indices,
                    self.success_threshold,
                    relabel,
                )
            elif self.batch_kind == "future":
                horizon = algo.resolved_gcsl.horizon
                batch, _info = sample_future(
                    ts.replay, k_sample, algo.batch_size, self.goal_indices, horizon
                )
            else:
                batch, _info = sample(
                    ts.replay, k_sample, algo.batch_size, algo.discount, self.goal_indices
                )
            agent, metrics = self.agent.update(agent, batch, k_update)
            return (agent, key), metrics

        key, k_updates = jax.random.split(ts.key)
        (agent, _), metrics = jax.lax.scan(
            update, (ts.agent, k_updates), None, length=self.sched.grad_steps_per_iter
        )
        metrics = jax.tree_util.tree_map(jnp.mean, metrics)
        ts = dataclasses.replace(
            ts, agent=agent, key=key, grad_steps=ts.grad_steps + self.sched.grad_steps_per_iter
        )
        return ts, metrics

    def _evaluate(
        self, actor_params: Any, key: jax.Array, random_policy: jax.Array
    ) -> dict[str, jax.Array]:
        """One episode per eval env with the deterministic policy ``tanh(mean)``.

        Episodes run in ``env.eval_id`` (default: the training env).

        Returns means over episodes of: ``time_at_goal`` (steps, out of episode_length, whose
        resulting state is within the success threshold while the robot is alive),
        ``success_any`` (fraction of episodes that reached the goal at least once),
        ``dist_mean`` (mean distance to goal over alive steps) and ``alive_steps``.
        ``random_policy`` (traced bool) evaluates uniform random actions instead (the
        baseline), with the same compiled function.
        """
        n = self.cfg.eval.num_envs
        k_reset, k_act = jax.random.split(key)
        state = self._eval_reset(jax.random.split(k_reset, n))

        def step(
            carry: tuple[Any, jax.Array], k: jax.Array
        ) -> tuple[tuple[Any, jax.Array], tuple[jax.Array, jax.Array, jax.Array]]:
            state, alive = carry
            uniform = jax.random.uniform(k, (n, self.action_dim), minval=-1.0, maxval=1.0)
            policy = self.agent.act(actor_params, state.obs, k, deterministic=True)
            action = jnp.where(random_policy, uniform, policy)
            nxt = self._eval_step(state, action)
            alive_next = alive * (1.0 - (nxt.done > 0))
            return (nxt, alive_next), (nxt.metrics["success"], nxt.metrics["dist"], alive)

        keys = jax.random.split(k_act, self.sched.episode_length)
        _, (success, dist, alive) = jax.lax.scan(step, (state, jnp.ones((n,))), keys)
        return episode_metrics(success, dist, alive)


def episode_metrics(success: jax.Array, dist: jax.Array, alive: jax.Array) -> dict[str, jax.Array]:
    """Evaluation metrics of one episode per env, counting only the steps before it ended.

    Args:
        success: ``[T, n]`` 1.0 where the step's resulting state is within the success
            threshold of the goal.
        dist: ``[T, n]`` distance to the goal after each step (metres).
        alive: ``[T, n]`` 1.0 while the episode has not ended (no fall before the step).

    Steps after the end are masked by selection (``jnp.where``), not multiplication, so a NaN in
    the state of an episode that ended (a fall can blow the physics up) cannot reach a metric.

    Returns:
        means over the ``n`` episodes of ``time_at_goal`` (steps at the goal, out of ``T``),
        ``success_any`` (share of episodes that reached the goal at least once), ``dist_mean``
        (mean distance over alive steps, metres) and ``alive_steps``; float32 scalars
        (Wang et al. 2025, Sec. 5; the reference's ``evaluator.py``).
    """
    live = alive > 0
    success = jnp.where(live, success, 0.0)
    dist = jnp.where(live, dist, 0.0)
    alive_steps = jnp.sum(live, axis=0).astype(jnp.float32)
    return {
        "time_at_goal": jnp.mean(jnp.sum(success, axis=0)),
        "success_any": jnp.mean(jnp.any(success > 0, axis=0).astype(jnp.float32)),
        "dist_mean": jnp.mean(jnp.sum(dist, axis=0) / jnp.maximum(alive_steps, 1.0)),
        "alive_steps": jnp.mean(alive_steps),
    }


@dataclass
class Callbacks:
    """Hooks called by :func:`train` from the host loop (all optional).

    ``on_eval(point)`` receives a dict with ``iteration``, ``env_steps``, ``grad_steps``,
    ``wall_s`` and ``metrics`` (a flat ``name -> float`` dict, names namespaced ``eval/``,
    ``train/``, ``perf/``, ``random/``, ``diag/``: :mod:`harness.diagnostics`).
    ``on_progress(info)`` receives ``env_steps``, ``total_env_steps``, ``sps`` after every
    iteration. ``on_resume(info)`` is called once when
    training continues from a checkpoint, with its ``iteration``, ``env_steps`` and ``wall_s``
    (training seconds before it): evaluations after that point will be made again, so rows
    recorded past it must be dropped.
    ``on_checkpoint(info)`` is called after each checkpoint is written.
    """

    on_eval: Callable[[dict[str, Any]], None] | None = None
    on_progress: Callable[[dict[str, Any]], None] | None = None
    on_resume: Callable[[dict[str, Any]], None] | None = None
    on_checkpoint: Callable[[dict[str, Any]], None] | None = None


class Preempted(Exception):
    """Training stopped on request (time limit, preemption) after writing a checkpoint."""


def _floats(metrics: dict[str, Any], prefix: str) -> dict[str, float]:
    return {f"{prefix}/{k}": float(v) for k, v in jax.device_get(metrics).items()}


def train(
    cfg: RunConfig,
    callbacks: Callbacks | None = None,
    trainer: Trainer | None = None,
    checkpoint_dir: Path | None = None,
    checkpoint_every_s: float = 0.0,
    stop: threading.Event | None = None,
) -> dict[str, float]:
    """Run one online training run to completion, resuming from a checkpoint if one exists.

    Args:
        cfg: validated run config.
        callbacks: progress, evaluation and resume hooks.
        trainer: a :class:`Trainer` built for ``cfg`` to reuse its compiled functions.
        checkpoint_dir: where to keep the newest checkpoint; None disables checkpoints.
        checkpoint_every_s: checkpoint after an evaluation when at least this many seconds
            passed since the last checkpoint (0: after every evaluation).
        stop: when set (by a signal handler), training writes a checkpoint at the next
            iteration boundary and raises :class:`Preempted`.

    Returns:
        The metrics of the final evaluation (flat dict, namespaced names).

    Raises:
        Preempted: ``stop`` was set; the checkpoint is written.
        FloatingPointError: a metric became non-finite (the run diverged).
    """
    callbacks = callbacks or Callbacks()
    trainer = trainer or Trainer(cfg)
    sched = trainer.sched
    from harness.diagnostics import make_diagnostics  # issue 17: diag/* at every evaluation

    diagnostics = make_diagnostics(trainer)
    ckpt = Checkpointer(checkpoint_dir) if checkpoint_dir is not None else None
    start = time.perf_counter()
    key = jax.random.PRNGKey(cfg.seed)
    key, k_init, k_eval = jax.random.split(key, 3)
    eval_keys = jax.random.split(k_eval, len(sched.eval_iters) + 1)
    policy, uniform = jnp.asarray(False), jnp.asarray(True)

    restored = None
    if ckpt is not None:
        restored = ckpt.restore(jax.eval_shape(trainer.init, k_init))
    if restored is not None:
        ts, record = restored
        first_it, eval_index = int(record["iteration"]) + 1, int(record["eval_index"])
        wall_offset, first_iter_s = float(record["wall_s"]), record.get("first_iter_s")
        if callbacks.on_resume:
            callbacks.on_resume(
                {"iteration": first_it - 1, "env_steps": int(ts.env_steps), "wall_s": wall_offset}
            )
    else:
        # Committed to the device, as a restored checkpoint is: jit keys its programs on it,
        # so a resumed run then compiles nothing new (or finds it in the persistent cache).
        ts = trainer.prefill(jax.device_put(trainer.init(k_init), jax.devices()[0]))
        first_it, eval_index, wall_offset, first_iter_s = 1, 0, 0.0, None
    compile_start = time.perf_counter()
    last_ckpt = time.perf_counter()

    def wall() -> float:
        return wall_offset + time.perf_counter() - start

    def emit(iteration: int, metrics: dict[str, float]) -> dict[str, float]:
        point = {
            "iteration": iteration,
            "env_steps": int(ts.env_steps),
            "grad_steps": int(ts.grad_steps),
            "wall_s": wall(),
            "metrics": metrics,
        }
        if callbacks.on_eval:
            callbacks.on_eval(point)
        return metrics

    saved_at: list[int] = []

    def save(iteration: int) -> None:
        nonlocal last_ckpt
        if ckpt is None or iteration in saved_at:
            return
        saved_at[:] = [iteration]
        ckpt.save(
            iteration,
            ts,
            {
                "iteration": iteration,
                "eval_index": eval_index,
                "wall_s": wall(),
                "first_iter_s": first_iter_s,
                "env_steps": int(ts.env_steps),
            },
        )
        last_ckpt = time.perf_counter()
        if callbacks.on_checkpoint:
            callbacks.on_checkpoint({"iteration": iteration, "env_steps": int(ts.env_steps)})

    last: dict[str, float] = {}
    if eval_index == 0:
        metrics = _floats(trainer.evaluate(ts.agent.actor_params, eval_keys[0], policy), "eval")
        metrics.update(
            _floats(trainer.evaluate(ts.agent.actor_params, eval_keys[0], uniform), "random")
        )
        metrics.update(diagnostics.at_eval(ts.agent, ts.replay, cfg.seed))  # issue 17
        last = emit(0, metrics)
        eval_index = 1
        save(0)
    window_start, window_steps = time.perf_counter(), 0
    compiled = False  # this process's first iteration compiles, after a resume too
    evaluated = restored is None  # a start compiles the evaluation before the window
    try:
        for it in range(first_it, sched.num_iters + 1):
            ts, train_metrics = trainer.iteration(ts)
            if not compiled:  # left out of the steps/s window
                jax.block_until_ready(ts.env_steps)
                if first_iter_s is None:
                    first_iter_s = time.perf_counter() - compile_start
                window_start, window_steps, compiled = time.perf_counter(), 0, True
            else:
                window_steps += sched.steps_per_iter
            if callbacks.on_progress:
                jax.block_until_ready(ts.env_steps)
                elapsed = time.perf_counter() - window_start
                callbacks.on_progress(
                    {
                        "env_steps": int(ts.env_steps),
                        "total_env_steps": sched.total_env_steps,
                        "sps": window_steps / elapsed if elapsed > 0 and window_steps else 0.0,
                    }
                )
            if eval_index <= len(sched.eval_iters) and it == sched.eval_iters[eval_index - 1]:
                eval_start = time.perf_counter()
                metrics = _floats(
                    trainer.evaluate(ts.agent.actor_params, eval_keys[eval_index], policy), "eval"
                )
                metrics.update(_floats(train_metrics, "train"))
                bad = sorted(k for k, v in metrics.items() if not math.isfinite(v))
                if bad:
                    raise FloatingPointError(
                        f"non-finite metrics at env step {int(ts.env_steps)}: {', '.join(bad)} "
                        "(training diverged; try a lower learning rate)"
                    )
                metrics.update(diagnostics.at_eval(ts.agent, ts.replay, cfg.seed))  # issue 17
                if not evaluated:  # a resumed process's first evaluation compiles: left out
                    window_start += time.perf_counter() - eval_start
                    evaluated = True
                elapsed = time.perf_counter() - window_start
                sps = window_steps / elapsed if elapsed > 0 and window_steps else 0.0
                metrics["perf/sps"] = sps
                metrics["perf/grad_steps_per_s"] = (
                    sps * sched.grad_steps_per_iter / sched.steps_per_iter
                )
                metrics["perf/first_iter_s"] = float(first_iter_s or 0.0)
                metrics["perf/recompiles"] = float(trainer.recompiles())
                last = emit(it, metrics)
                eval_index += 1
                if it < sched.num_iters and time.perf_counter() - last_ckpt >= checkpoint_every_s:
                    save(it)
            if stop is not None and stop.is_set() and it < sched.num_iters:
                save(it)
                raise Preempted(f"stopped at iteration {it} (env step {int(ts.env_steps)})")
    finally:
        if ckpt is not None:
            ckpt.close()
    if checkpoint_dir is not None:
        save_params(Path(checkpoint_dir).parent / "params", ts.agent)
        if cfg.data.save_replay:  # for `harness data export` (harness.datasets)
            from harness.datasets import save_replay

            save_replay(Path(checkpoint_dir).parent / "replay.npz", ts.replay)
    return last


def save_params(directory: Path, agent: Any) -> None:
    """Write the final parameters of an agent state: every field but the optimiser states
    (``*_opt``). For CRL: ``actor_params``, ``critic_params`` and ``log_alpha`` (value maps,
    evaluation); SAC adds ``target_critic_params``, TD3 its targets and step counter.

    Restore with ``orbax.checkpoint.StandardCheckpointer().restore(directory)``.
    """
    from harness.checkpoint import save_tree

    payload = {
        f.name: getattr(agent, f.name)
        for f in dataclasses.fields(agent)
        if not f.name.endswith("_opt")
    }
    save_tree(directory, payload)
