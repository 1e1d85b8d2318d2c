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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

import envs
from harness import algos, behaviour
from harness import enable_compilation_cache as enable_compilation_cache  # re-exported
from harness.agents import Agent, batch_kind, make_agent
from harness.behaviour import episode_metrics as episode_metrics  # re-exported
from harness.checkpoint import Checkpointer, save_params
from harness.diagnostics import group_diagnostics
from harness.driver import Preempted as Preempted  # re-exported (harness.runner)
from harness.driver import Start, drive
from harness.progress import Callbacks as Callbacks  # re-exported (harness.runner)
from harness.replay import (
    Replay,
    replay_add,
    replay_init,
    sample,
    sample_future,
    sample_transitions,
    sample_window,
)
from harness.seeds import SeedGroup, check_one_config, restore_group, seed_metrics
from harness.spec import RunConfig

#: Metric names written for every evaluation (Wang et al. 2025, Sec. 5; JaxGCRL).
EVAL_METRICS = ("time_at_goal", "success_any", "dist_mean", "alive_steps")


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
        eval_id, eval_options = cfg.env.resolved_eval_id, cfg.env.make_options(evaluation=True)
        same = (eval_id, eval_options) == (cfg.env.id, options)  # eval_id's env has no goal cap
        self.eval_env = self.env if same else envs.make(eval_id, **eval_options)
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
        # env.vmap: jax.vmap, in chunks where a robot needs it on the CPU (the arm tasks).
        self._reset = self.env.vmap(self.env.reset)
        self._step = self.env.vmap(self.env.step)
        self._eval_reset = self.eval_env.vmap(self.eval_env.reset)
        self._eval_step = self.eval_env.vmap(self.eval_env.step)
        self.probe = behaviour.Probe(self.eval_env)
        self.record_jit: Any = None  # harness.behaviour.record's compiled rollout
        # Programs that step an env take its XLA options (the MJX arm tasks need one on the
        # CPU: envs/arm.py); the update never touches the env.
        env_options = {**self.env.compiler_options, **self.eval_env.compiler_options} or None
        self.compiler_options = env_options
        self._groups: dict[int, SeedGroup] = {}
        self.init = jax.jit(self._init, compiler_options=env_options)
        self.collect = jax.jit(self._collect, donate_argnums=0, compiler_options=env_options)
        self.update = jax.jit(self._update, donate_argnums=0)
        self.evaluate = jax.jit(self._evaluate, compiler_options=env_options)

    def program(self, cfgs: list[RunConfig], diagnostics: bool = True) -> OnlineProgram:
        """The programs of the runs ``cfgs`` (this config up to the seed) trained together,
        for :func:`harness.driver.drive`.

        Raises:
            ValueError: the configs differ from this trainer's other than in the seed.
        """
        check_one_config(cfgs, self.cfg)
        return OnlineProgram(self, [cfg.seed for cfg in cfgs], diagnostics)

    def group(self, n: int) -> SeedGroup:
        """The programs of this trainer over ``n`` seeds at once (built once per ``n``)."""
        if n not in self._groups:
            self._groups[n] = SeedGroup(self, n)
        return self._groups[n]

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

    def sample_batch(self, replay: Replay, key: jax.Array) -> Any:
        """One minibatch of the run's sampler from ``replay`` (the update's and the depth
        diagnostics' batch): TD transitions (:func:`harness.replay.sample_transitions`, with HER
        for ``*_her``), uniform future goals (:func:`harness.replay.sample_future`, GCSL), or
        geometric relabelling with ``data.sampler``'s law (:func:`harness.replay.sample_window`
        over windows of ``episode_length`` steps, the reference's, or
        :func:`harness.replay.sample`).

        Returns:
            a :class:`harness.batches.Transition` (TD) or :class:`harness.batches.Batch` of
            ``algo.batch_size`` rows.
        """
        algo = self.cfg.algo
        if self.batch_kind == "transition":
            relabel = algo.resolved_her.relabel_prob if algos.get(algo.name).her else 0.0
            transitions, _ = sample_transitions(
                replay, key, algo.batch_size, self.goal_indices, self.success_threshold, relabel
            )
            return transitions
        if self.batch_kind == "future":
            horizon = algo.resolved_gcsl.horizon
            batch, _ = sample_future(replay, key, algo.batch_size, self.goal_indices, horizon)
        elif self.cfg.data.sampler == "window":
            window = self.sched.episode_length
            batch, _ = sample_window(
                replay, key, algo.batch_size, algo.discount, self.goal_indices, window
            )
        else:
            batch, _ = sample(replay, key, algo.batch_size, algo.discount, self.goal_indices)
        return batch

    def _update(self, ts: TrainState) -> tuple[TrainState, dict[str, jax.Array]]:

        def update(
            carry: tuple[Any, jax.Array], _: None
        ) -> tuple[tuple[Any, jax.Array], dict[str, jax.Array]]:
            agent, key = carry
            key, k_sample, k_update = jax.random.split(key, 3)
            batch = self.sample_batch(ts.replay, k_sample)
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

    def _rollout(
        self,
        actor_params: Any,
        key: jax.Array,
        random_policy: jax.Array,
        n: int,
        keep_q: bool = False,
    ) -> tuple[dict[str, jax.Array], dict[str, jax.Array], jax.Array, jax.Array, jax.Array]:
        """``n`` evaluation episodes of ``episode_length`` steps in the eval env.

        ``keep_q`` (static) adds each step's joint positions to the probe (``q``
        ``[n, q_size]``): what :mod:`harness.render` draws.

        Returns:
            ``(first, steps, success, dist, alive)``: the :class:`harness.behaviour.Probe` of
            the reset states (entries ``[n, ...]``) and after every step (``[T, n, ...]``),
            and ``[T, n]`` success, distance to the goal (metres) and alive flags, as
            :func:`episode_metrics` reads them.
        """
        k_reset, k_act = jax.random.split(key)
        state = self._eval_reset(jax.random.split(k_reset, n))

        def probe(state: Any) -> dict[str, jax.Array]:
            out = self.probe(state)
            return {**out, "q": state.pipeline_state.q} if keep_q else out

        def step(
            carry: tuple[Any, jax.Array], k: jax.Array
        ) -> tuple[tuple[Any, jax.Array], tuple[Any, ...]]:
            state, alive = carry
            uniform = jax.random.uniform(k, (n, self.action_dim), minval=-1.0, maxval=1.0)
            policy = self.agent.act(actor_params, state.obs, k, deterministic=True)
            action = jnp.where(random_policy, uniform, policy)
            nxt = self._eval_step(state, action)
            alive_next = alive * (1.0 - (nxt.done > 0))
            out = (probe(nxt), nxt.metrics["success"], nxt.metrics["dist"], alive)
            return (nxt, alive_next), out

        keys = jax.random.split(k_act, self.sched.episode_length)
        _, (steps, success, dist, alive) = jax.lax.scan(step, (state, jnp.ones((n,))), keys)
        return probe(state), steps, success, dist, alive

    def _evaluate(
        self, actor_params: Any, key: jax.Array, random_policy: jax.Array
    ) -> dict[str, jax.Array]:
        """One episode per eval env with the deterministic policy ``tanh(mean)``.

        Episodes run in ``env.eval_id`` (default: the training env).

        Returns means over episodes of: ``time_at_goal`` (steps, out of episode_length, whose
        resulting state is within the success threshold while the robot is alive),
        ``success_any`` (fraction of episodes that reached the goal at least once),
        ``dist_mean`` (mean distance to goal over alive steps) and ``alive_steps``, and the
        behaviour metrics of :func:`harness.behaviour.behaviour_metrics` (``path_ratio`` and
        ``height_moving_m`` NaN when undefined: :func:`harness.behaviour.defined`).
        ``random_policy`` (traced bool) evaluates uniform random actions instead (the
        baseline), with the same compiled function.
        """
        n = self.cfg.eval.num_envs
        first, steps, success, dist, alive = self._rollout(actor_params, key, random_policy, n)
        return {
            **episode_metrics(success, dist, alive),
            **self.probe.metrics(first, steps, success, alive),
        }

    def record_episodes(self, actor_params: Any) -> Any:
        """The recorded episodes of ``actor_params`` (:func:`harness.behaviour.record`)."""
        return behaviour.record(self, actor_params)


def train(
    cfg: RunConfig,
    callbacks: Callbacks | None = None,
    trainer: Trainer | None = None,
    checkpoint_dir: Path | None = None,
    checkpoint_every_s: float = 0.0,
    stop: threading.Event | None = None,
    diagnostics: bool = True,
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
        diagnostics: record ``diag/*`` at every evaluation (:mod:`harness.diagnostics`; one
            extra jitted call on a fixed minibatch).

    Returns:
        The metrics of the final evaluation (flat dict, namespaced names).

    Raises:
        Preempted: ``stop`` was set; the checkpoint is written.
        FloatingPointError: a metric became non-finite (the run diverged).
    """
    dirs = None if checkpoint_dir is None else [checkpoint_dir]
    (result,) = train_group(
        [cfg], [callbacks], trainer, dirs, checkpoint_every_s, stop, diagnostics
    )
    if isinstance(result, BaseException):
        raise result
    return result


def train_group(
    cfgs: list[RunConfig],
    callbacks: list[Callbacks | None] | None = None,
    trainer: Trainer | None = None,
    checkpoint_dirs: list[Path] | None = None,
    checkpoint_every_s: float = 0.0,
    stop: threading.Event | None = None,
    diagnostics: bool = True,
) -> list[dict[str, float] | Exception]:
    """Train the runs ``cfgs`` (one config, one seed each) together in one vmapped program
    (:class:`harness.seeds.SeedGroup`), each with its own callbacks and checkpoint folder.

    Every seed sees exactly what a solo :func:`train` of it sees: its own key stream,
    evaluations, callbacks, checkpoints (its slice of the group state, in the solo format) and
    final parameters. A seed whose metrics become non-finite is masked out (no more
    evaluations, checkpoints or parameters; its result is the ``FloatingPointError``) while the
    others go on; a group of one raises it, as :func:`train` does.

    Args:
        cfgs: ``n`` run configs equal up to ``seed``.
        callbacks: per seed (None entries: no hooks).
        trainer: a :class:`Trainer` of the configs, to reuse its compiled functions.
        checkpoint_dirs: per seed; None disables checkpoints. All seeds resume from one
            iteration: the seeds' checkpoints must be of the same iteration, or none.
        checkpoint_every_s, stop, diagnostics: as :func:`train`.

    Returns:
        Per seed: the final evaluation's metrics, or the exception that failed it.

    Raises:
        Preempted: ``stop`` was set; every live seed's checkpoint is written.
        ValueError: the configs differ other than in the seed, or the seeds' checkpoints are
            of different iterations.
    """
    program = (trainer or Trainer(cfgs[0])).program(cfgs, diagnostics)
    return drive(program, callbacks, checkpoint_dirs, checkpoint_every_s, stop, diagnostics)


class OnlineProgram:
    """The online trainer's programs over ``n`` seeds for :func:`harness.driver.drive`
    (:class:`harness.driver.Program`): an iteration is one collect and update of
    ``steps_per_iter`` env steps; evaluations follow the iterations of ``sched.eval_iters``.

    Args:
        trainer: the :class:`Trainer` of the seeds' config.
        seeds: the seeds trained together (their keys: ``PRNGKey(seed)`` split in 3, the
            second for ``init``, the third for the evaluations).
        diagnostics: build the depth diagnostics (:func:`harness.diagnostics.group_diagnostics`).
    """

    window_per_eval = False

    def __init__(self, trainer: Trainer, seeds: list[int], diagnostics: bool = True) -> None:
        self.trainer, self.n = trainer, len(seeds)
        self.group = trainer.group(self.n)
        self.sched = trainer.sched
        self.num_iters = self.sched.num_iters
        self.diag = group_diagnostics(trainer, self.n, seeds) if diagnostics else None
        keys = [jax.random.split(jax.random.PRNGKey(seed), 3) for seed in seeds]
        self.k_init = jnp.stack([k[1] for k in keys])  # [n, 2]
        evals = len(self.sched.eval_iters) + 1
        self.eval_keys = jnp.stack([jax.random.split(k[2], evals) for k in keys])

    def start(self, ckpts: list[Checkpointer] | None, phase: Callable[[str], None]) -> Start:
        group = self.group
        restored = None
        if ckpts is not None:
            restored = restore_group(ckpts, group.abstract_seed_state(self.k_init[0]))
        if restored is None:
            # Committed to the device, as a restored checkpoint is: jit keys its programs on
            # it, so a resumed run then compiles nothing new (or finds it in the cache).
            prefill = self.sched.prefill_iters * self.sched.steps_per_iter
            phase(
                f"init and prefill with {prefill:,} env steps (compiles the env step and the actor)"
            )
            ts = group.prefill(jax.device_put(group.init(self.k_init), jax.devices()[0]))
            return Start(ts)
        states, record = restored
        ts = group.stack(states)
        iteration, wall_s = int(record["iteration"]), float(record["wall_s"])
        resumed = {
            "iteration": iteration,
            "env_steps": group.counter(ts.env_steps),
            "wall_s": wall_s,
        }
        return Start(
            ts,
            iteration + 1,
            int(record["eval_index"]),
            wall_s,
            record.get("first_iter_s"),
            resumed,
        )

    def iteration_phase(self, it: int) -> str:
        return f"training iteration {it}"

    def iteration(self, ts: Any, it: int) -> tuple[Any, Any, int]:
        ts, metrics = self.group.iteration(ts)
        return ts, metrics, self.sched.steps_per_iter

    def progress(self, ts: Any, rate: float) -> dict[str, Any]:
        return {
            "env_steps": self.group.counter(ts.env_steps),
            "total_env_steps": self.sched.total_env_steps,
            "sps": rate,
        }

    def eval_due(self, it: int, eval_index: int) -> bool:
        iters = self.sched.eval_iters
        return eval_index <= len(iters) and it == iters[eval_index - 1]

    def first_evaluation(self, ts: Any) -> list[dict[str, float]]:
        policy = self.group.evaluate(ts, self.eval_keys[:, 0], False)
        uniform = self.group.evaluate(ts, self.eval_keys[:, 0], True)
        return [
            {**seed_metrics(policy, i, "eval"), **seed_metrics(uniform, i, "random")}
            for i in range(self.n)
        ]

    def evaluation(self, ts: Any, eval_index: int, train: Any) -> list[dict[str, float]]:
        policy = self.group.evaluate(ts, self.eval_keys[:, eval_index], False)
        trained = {k: np.atleast_1d(v) for k, v in jax.device_get(train).items()}
        return [
            {**seed_metrics(policy, i, "eval"), **seed_metrics(trained, i, "train")}
            for i in range(self.n)
        ]

    def diagnostics(self, ts: Any) -> list[dict[str, float]]:
        return self.diag(ts) if self.diag else [{} for _ in range(self.n)]

    def perf(self, units: int, elapsed: float, first_iter_s: float) -> dict[str, float]:
        sps = units / elapsed if elapsed > 0 and units else 0.0
        sched = self.sched
        return {
            "perf/sps": sps,
            "perf/grad_steps_per_s": sps * sched.grad_steps_per_iter / sched.steps_per_iter,
            "perf/first_iter_s": first_iter_s,
            "perf/recompiles": float(self.group.recompiles()),
        }

    def point(self, ts: Any, it: int, eval_index: int) -> dict[str, Any]:
        return {
            "iteration": it,
            "env_steps": self.group.counter(ts.env_steps),
            "grad_steps": self.group.counter(ts.grad_steps),
        }

    def checkpoint(
        self, ts: Any, it: int, eval_index: int, wall_s: float, first_iter_s: float | None
    ) -> tuple[int, dict[str, Any]]:
        record = {
            "iteration": it,
            "eval_index": eval_index,
            "wall_s": wall_s,
            "first_iter_s": first_iter_s,
            "env_steps": self.group.counter(ts.env_steps),
        }
        return it, record

    def seed_state(self, ts: Any, i: int) -> Any:
        return self.group.take(ts, i)

    def where(self, ts: Any) -> str:
        return f"env step {self.group.counter(ts.env_steps)}"

    def finish(self, seed_state: Any, i: int, run_dir: Path, hooks: Callbacks) -> None:
        cfg = self.trainer.cfg
        save_params(run_dir / "params", seed_state.agent)
        if cfg.data.save_replay:  # for `harness data export` (harness.datasets)
            from harness.datasets import save_replay

            save_replay(run_dir / "replay.npz", seed_state.replay)
        if cfg.eval.record_episodes:  # issue 29: the final policy's behaviour
            hooks.phase(f"recording {cfg.eval.record_episodes} episodes")
            behaviour.write_episodes(
                run_dir / behaviour.EPISODES_FILE,
                self.trainer.record_episodes(seed_state.agent.actor_params),
                behaviour.episode_meta(self.trainer.eval_env, self.sched.episode_length),
            )
