"""Offline goal-conditioned training on a fixed dataset, with the same deep residual networks.

Counterpart of :mod:`harness.train` for ``data.mode: offline`` (the paper's open question:
does depth help offline? Wang et al. 2025, arXiv 2503.14858). The dataset (OGBench format, see
:mod:`harness.datasets`) lives on the device as :class:`OfflineData`; :class:`OfflineTrainer`
holds jitted pure functions: ``init(key) -> OfflineState`` and
``train_steps(state, data, n) -> (state, mean metrics)`` (``n`` minibatch updates in one
``lax.fori_loop``, so one compiled program serves every chunk length). :func:`train_offline`
drives them from the host like :func:`harness.train.train`: evaluations evenly spaced in
gradient steps, callbacks, checkpoint and resume with :class:`harness.checkpoint.Checkpointer`.

Goal sampling follows OGBench's ``GCDataset`` (Park et al. 2024, arXiv 2410.20092,
``impls/utils/datasets.py``, CRL and GCBC configs): critic goals are future states of the same
trajectory at a geometric offset (``P(k) = (1 - gamma) gamma^(k - 1)``, capped at the
trajectory's last state); actor goals are uniform over the rest of the trajectory, or with
probability ``algo.actor_p_randomgoal`` a random dataset state.

Evaluation: OGBench data on the dataset's OGBench env, its 5 evaluation tasks
(``reset(options={"task_id": t})``), ``eval.episodes_per_task`` episodes each, the deterministic
policy jitted once for all episodes stepped in lockstep; success is OGBench's (the goal was
reached: the episode ends there). Metrics ``eval/success_task1..5`` and ``eval/success`` (their
mean). Data exported from an online run is evaluated with that env's online evaluation
(:meth:`harness.train.Trainer.evaluate`: ``eval/time_at_goal``, ``eval/success_any``, ...).
"""

from __future__ import annotations

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

from harness import behaviour, datasets
from harness.agents.crl import CRL
from harness.agents.gcbc import GCBC
from harness.batches import Batch
from harness.spec import RunConfig

#: Gradient steps of an offline run when ``data.grad_steps`` is null (OGBench: 1M).
DEFAULT_GRAD_STEPS = 1_000_000
#: Evaluation episodes per task when ``eval.episodes_per_task`` is null (OGBench: 50).
DEFAULT_EPISODES_PER_TASK = 50
#: Most gradient steps per jitted call (progress, preemption checks happen between calls).
CHUNK_STEPS = 500


@struct.dataclass
class OfflineData:
    """A dataset of transitions on the device.

    Attributes:
        observations: ``[N, obs_dim]`` float32 states (OGBench: the full observation).
        actions: ``[N, action_dim]`` float32 dataset actions.
        final: ``[N]`` int32, index of the last transition of each row's trajectory.
    """

    observations: jax.Array
    actions: jax.Array
    final: jax.Array

    @property
    def size(self) -> int:
        return int(self.observations.shape[0])


def to_device(dataset: dict[str, np.ndarray]) -> OfflineData:
    """Move a loaded dataset (``ogbench.utils.load_dataset``'s transitions) to the device.

    Raises:
        ValueError: empty, or the last row does not end a trajectory (not a loader output).
    """
    terminals = np.asarray(dataset["terminals"]) > 0
    ends = np.flatnonzero(terminals)
    if not len(terminals) or not len(ends) or ends[-1] != len(terminals) - 1:
        raise ValueError("dataset must be non-empty and end with a terminal row")
    final = ends[np.searchsorted(ends, np.arange(len(terminals)))]
    return OfflineData(
        observations=jnp.asarray(dataset["observations"], jnp.float32),
        actions=jnp.asarray(dataset["actions"], jnp.float32),
        final=jnp.asarray(final, jnp.int32),
    )


def sample_goal_indices(
    key: jax.Array,
    data: OfflineData,
    idx: jax.Array,
    p_curgoal: float,
    p_trajgoal: float,
    p_randomgoal: float,
    geometric: bool,
    discount: float,
) -> jax.Array:
    """Goal rows for transitions ``idx [B]``, as OGBench's ``GCDataset.sample_goals``.

    With probability ``p_curgoal`` the transition itself; otherwise a future row of the same
    trajectory with probability ``p_trajgoal / (1 - p_curgoal)``, else a uniformly random row.
    Future rows: ``min(idx + k, final)`` with ``k ~ Geometric(1 - discount)`` in ``[1, inf)``
    when ``geometric``, else uniform between ``min(idx + 1, final)`` and ``final``.

    Returns:
        ``[B]`` int32 row indices.
    """
    k_rand, k_geom, k_unif, k_traj, k_cur = jax.random.split(key, 5)
    batch = idx.shape[0]
    random_rows = jax.random.randint(k_rand, (batch,), 0, data.size)
    final = data.final[idx]
    if geometric:
        offset = jax.random.geometric(k_geom, 1.0 - discount, (batch,))
        future = jnp.minimum(idx + offset, final)
    else:
        d = jax.random.uniform(k_unif, (batch,))
        nearest = jnp.minimum(idx + 1, final).astype(jnp.float32)
        future = jnp.round(nearest * d + final.astype(jnp.float32) * (1.0 - d)).astype(jnp.int32)
        future = jnp.clip(future, jnp.minimum(idx + 1, final), final)
    use_traj = jax.random.uniform(k_traj, (batch,)) < p_trajgoal / (1.0 - p_curgoal + 1e-6)
    goal = jnp.where(use_traj, future, random_rows)
    return jnp.where(jax.random.uniform(k_cur, (batch,)) < p_curgoal, idx, goal)


def sample(
    data: OfflineData,
    key: jax.Array,
    batch_size: int,
    discount: float,
    goal_indices: tuple[int, ...] | None,
    actor_p_randomgoal: float = 0.0,
) -> tuple[Batch, Batch, dict[str, jax.Array]]:
    """A minibatch with critic goals and actor goals (OGBench CRL and GCBC defaults).

    Args:
        goal_indices: the goal-space slice of a state; None = the whole observation (OGBench).

    Returns:
        ``(critic_batch, actor_batch, info)``: the same states ``[B, obs_dim]`` and actions
        ``[B, action_dim]`` with critic goals (geometric future) and actor goals (uniform
        future, or random with ``actor_p_randomgoal``); ``info`` holds the rows ``idx``,
        ``critic_goal`` and ``actor_goal`` ``[B]``.
    """
    k_idx, k_critic, k_actor = jax.random.split(key, 3)
    idx = jax.random.randint(k_idx, (batch_size,), 0, data.size)
    critic_rows = sample_goal_indices(k_critic, data, idx, 0.0, 1.0, 0.0, True, discount)
    actor_rows = sample_goal_indices(
        k_actor, data, idx, 0.0, 1.0 - actor_p_randomgoal, actor_p_randomgoal, False, discount
    )

    def goal(rows: jax.Array) -> jax.Array:
        obs = data.observations[rows]
        return obs if goal_indices is None else obs[:, jnp.asarray(goal_indices)]

    state, action = data.observations[idx], data.actions[idx]
    info = {"idx": idx, "critic_goal": critic_rows, "actor_goal": actor_rows}
    return Batch(state, action, goal(critic_rows)), Batch(state, action, goal(actor_rows)), info


@struct.dataclass
class OfflineState:
    """Agent state (CRL or GCBC), the PRNG key and the gradient step counter."""

    agent: Any
    key: jax.Array
    grad_steps: jax.Array  # scalar int32


@dataclass(frozen=True)
class OfflineSchedule:
    """Gradient steps of an offline run and where it evaluates (after these many steps)."""

    total_grad_steps: int
    eval_steps: tuple[int, ...]


def offline_schedule(cfg: RunConfig) -> OfflineSchedule:
    """``data.grad_steps`` (default 1M) and ``eval.num_evals`` evaluation points at
    ``round(k * total / num_evals)``, k = 1..num_evals (plus one before training)."""
    total = cfg.data.grad_steps or DEFAULT_GRAD_STEPS
    num_evals = min(cfg.eval.num_evals, total)
    points = sorted({round(k * total / num_evals) for k in range(1, num_evals + 1)})
    return OfflineSchedule(total, tuple(points))


class OGBenchEvaluator:
    """OGBench's evaluation: the env's 5 tasks, ``episodes_per_task`` episodes each.

    All ``5 * episodes_per_task`` episodes run in lockstep, one env object each, with one
    batched call of the jitted deterministic policy per step (compiled once: the batch is
    fixed). Episodes end at the goal (success) or after the env's time limit (OGBench: 1000
    steps, humanoidmaze 2000; ``env.episode_length`` overrides it).

    Args:
        dataset: OGBench dataset name (its env is built with
            ``ogbench.make_env_and_datasets(dataset, env_only=True)``).
        policy: ``(actor_params, obs [E, obs_dim + goal_dim]) -> actions [E, action_dim]``.
    """

    def __init__(
        self,
        dataset: str,
        episodes_per_task: int,
        episode_length: int | None,
        policy: Callable[[Any, jax.Array], jax.Array],
    ) -> None:
        with datasets._quiet():
            import ogbench

            kwargs: dict[str, Any] = {}
            if episode_length is not None:
                kwargs["max_episode_steps"] = episode_length
            first = ogbench.make_env_and_datasets(dataset, env_only=True, **kwargs)
            self.num_tasks = int(first.unwrapped.num_tasks)
            count = self.num_tasks * episodes_per_task
            self.envs = [first] + [
                ogbench.make_env_and_datasets(dataset, env_only=True, **kwargs)
                for _ in range(count - 1)
            ]
        self.episodes_per_task = episodes_per_task
        self.action_dim = int(first.action_space.shape[0])
        self.policy = jax.jit(policy)

    def evaluate(
        self, actor_params: Any, seed: int, random_policy: bool = False
    ) -> dict[str, float]:
        """Run every episode once.

        Args:
            seed: seeds the envs (and numpy's global RNG, which OGBench's maze env draws its
                start and goal noise from; its previous state is restored).
            random_policy: uniform random actions instead of the policy (the baseline).

        Returns:
            ``success_task{t}`` (fraction of task t's episodes that reached the goal),
            ``success`` (mean over tasks) and ``episode_steps`` (mean episode length).
        """
        rng = np.random.default_rng(seed)
        count = len(self.envs)
        tasks = np.repeat(np.arange(1, self.num_tasks + 1), self.episodes_per_task)
        obs, goals = [], []
        with datasets._numpy_seed(seed):
            for env, task in zip(self.envs, tasks, strict=True):
                env.action_space.seed(int(rng.integers(2**31)))
                ob, info = env.reset(seed=int(rng.integers(2**31)), options={"task_id": int(task)})
                obs.append(ob)
                goals.append(info["goal"])
            observations = np.asarray(obs, np.float32)
            goal_obs = np.asarray(goals, np.float32)
            alive = np.ones(count, bool)
            success = np.zeros(count)
            steps = np.zeros(count)
            while alive.any():
                if random_policy:
                    actions = rng.uniform(-1.0, 1.0, (count, self.action_dim))
                else:
                    inputs = np.concatenate([observations, goal_obs], axis=-1)
                    actions = np.asarray(self.policy(actor_params, jnp.asarray(inputs)))
                for e in np.flatnonzero(alive):
                    ob, _, terminated, truncated, info = self.envs[e].step(
                        np.clip(actions[e], -1.0, 1.0)
                    )
                    observations[e] = ob
                    steps[e] += 1
                    if terminated or truncated:
                        alive[e] = False
                        success[e] = float(info["success"])
        per_task = {
            f"success_task{t}": float(np.mean(success[tasks == t]))
            for t in range(1, self.num_tasks + 1)
        }
        return {
            **per_task,
            "success": float(np.mean(list(per_task.values()))),
            "episode_steps": float(np.mean(steps)),
        }

    def close(self) -> None:
        for env in self.envs:
            env.close()


class OfflineTrainer:
    """Loads the dataset and builds the jitted functions of one offline run config.

    Args:
        cfg: validated run config with ``data.mode: offline``.

    Attributes:
        train_data, val_data: the datasets on the device (:class:`OfflineData`).
        agent: :class:`~harness.agents.crl.CRL` or :class:`~harness.agents.gcbc.GCBC`.
        obs_dim, goal_dim, action_dim: sizes; ``goal_indices``: the goal slice of a state (None
            = the whole observation, OGBench).
        sched: the run's :class:`OfflineSchedule`.

    Raises:
        harness.datasets.DatasetError: the files are missing, or an exported dataset does not
            match ``env.id``'s dimensions.
    """

    def __init__(self, cfg: RunConfig) -> None:
        if cfg.data.mode != "offline":
            raise ValueError("OfflineTrainer needs data.mode: offline")
        self.cfg = cfg
        self.source = cfg.data.resolved_source
        train, val = datasets.load(cfg.data)
        self.train_size = int(train["observations"].shape[0])
        self.obs_dim = int(train["observations"].shape[1])
        self.action_dim = int(train["actions"].shape[1])
        self.goal_indices: tuple[int, ...] | None = None
        self.goal_dim = self.obs_dim
        if self.source == "brax":
            import envs

            info = envs.info(cfg.env.id)
            if (info.state_dim, info.action_dim) != (self.obs_dim, self.action_dim):
                raise datasets.DatasetError(
                    f"dataset {cfg.data.dataset} has states of {self.obs_dim} and actions of "
                    f"{self.action_dim} values; env {cfg.env.id} has {info.state_dim} and "
                    f"{info.action_dim}: set env.id to the env the data was collected in"
                )
            self.goal_indices, self.goal_dim = tuple(info.goal_indices), info.goal_dim
        self.train_data = to_device(train)
        self.val_data = to_device(val)
        self.sched = offline_schedule(cfg)
        self.is_gcbc = cfg.algo.name == "gcbc"
        dims = (self.obs_dim, self.goal_dim, self.action_dim)
        self.agent: CRL | GCBC = GCBC(cfg, *dims) if self.is_gcbc else CRL(cfg, *dims)
        self.actor_p_randomgoal = cfg.algo.actor_p_randomgoal or 0.0
        self.init = jax.jit(self._init)
        self.train_steps = jax.jit(self._train_steps, donate_argnums=0)
        self.validate = jax.jit(self._validate)
        self._evaluator: Any = None

    def _init(self, key: jax.Array) -> OfflineState:
        k_agent, key = jax.random.split(key)
        return OfflineState(self.agent.init(k_agent), key, jnp.zeros((), jnp.int32))

    def _sample(self, data: OfflineData, key: jax.Array) -> tuple[Batch, Batch]:
        algo = self.cfg.algo
        critic, actor, _ = sample(
            data, key, algo.batch_size, algo.discount, self.goal_indices, self.actor_p_randomgoal
        )
        return critic, actor

    def _step(
        self, state: OfflineState, data: OfflineData
    ) -> tuple[OfflineState, dict[str, jax.Array]]:
        key, k_sample, k_update = jax.random.split(state.key, 3)
        critic, actor = self._sample(data, k_sample)
        agent: Any
        if isinstance(self.agent, GCBC):
            agent, metrics = self.agent.update(state.agent, actor, k_update)
        else:
            agent, metrics = self.agent.update(state.agent, critic, k_update, actor)
        return OfflineState(agent, key, state.grad_steps + 1), metrics

    def _train_steps(
        self, state: OfflineState, data: OfflineData, n: jax.Array
    ) -> tuple[OfflineState, dict[str, jax.Array]]:
        """``n`` (traced int, >= 1) updates; returns the new state and mean metrics."""
        shapes = jax.eval_shape(self._step, state, data)[1]
        zeros = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, jnp.float32), shapes)

        def body(
            _: jax.Array, carry: tuple[OfflineState, dict[str, jax.Array]]
        ) -> tuple[OfflineState, dict[str, jax.Array]]:
            st, sums = carry
            st, metrics = self._step(st, data)
            return st, jax.tree_util.tree_map(lambda a, b: a + b.astype(jnp.float32), sums, metrics)

        state, sums = jax.lax.fori_loop(0, n, body, (state, zeros))
        return state, jax.tree_util.tree_map(lambda s: s / n.astype(jnp.float32), sums)

    def _validate(
        self, agent_state: Any, data: OfflineData, key: jax.Array
    ) -> dict[str, jax.Array]:
        """Losses on one minibatch of the validation dataset (no update)."""
        critic, actor = self._sample(data, key)
        if isinstance(self.agent, GCBC):
            _, metrics = self.agent.loss(agent_state.actor_params, actor)
            return metrics
        loss, metrics = self.agent.critic_loss(agent_state.critic_params, critic)
        metrics = {"critic_loss": loss, **metrics}
        if self.agent.actor_loss_kind == "ddpg_bc":
            _, actor_metrics = self.agent.ddpg_bc_actor_loss(
                agent_state.actor_params, agent_state.critic_params, actor
            )
            metrics["bc_mse"] = actor_metrics["bc_mse"]
        return metrics

    def policy(self, actor_params: Any, obs: jax.Array) -> jax.Array:
        """The deterministic policy ``tanh(mean)`` (``obs [B, obs_dim + goal_dim]``)."""
        return self.agent.act(actor_params, obs, jax.random.PRNGKey(0), deterministic=True)

    @property
    def evaluator(self) -> Any:
        """OGBench: an :class:`OGBenchEvaluator`; Brax: a :class:`harness.train.Trainer` whose
        ``evaluate`` runs the online evaluation (built on first use)."""
        if self._evaluator is None:
            cfg = self.cfg
            if self.source == "ogbench":
                self._evaluator = OGBenchEvaluator(
                    str(cfg.data.dataset),
                    cfg.eval.episodes_per_task or DEFAULT_EPISODES_PER_TASK,
                    cfg.env.episode_length,
                    self.policy,
                )
            else:
                from harness.train import Trainer

                # Same Actor network and deterministic policy (tanh(mean)) as CRL's and GCBC's,
                # so the online evaluation runs these parameters unchanged.
                self._evaluator = Trainer(cfg)
        return self._evaluator

    def evaluate(self, actor_params: Any, seed: int, random_policy: bool) -> dict[str, float]:
        """One evaluation (names without namespace; see the module docstring)."""
        if self.source == "ogbench":
            return dict(self.evaluator.evaluate(actor_params, seed, random_policy))
        metrics = self.evaluator.evaluate(
            actor_params, jax.random.PRNGKey(seed), jnp.asarray(random_policy)
        )
        return behaviour.defined({k: float(v) for k, v in jax.device_get(metrics).items()})


def train_offline(
    cfg: RunConfig,
    callbacks: Any = None,
    trainer: OfflineTrainer | None = None,
    checkpoint_dir: Path | None = None,
    checkpoint_every_s: float = 0.0,
    stop: threading.Event | None = None,
    diagnostics: bool = True,
) -> dict[str, float]:
    """Run one offline training run to completion, resuming from a checkpoint if one exists.

    Same contract as :func:`harness.train.train`. Evaluation points carry ``env_steps`` = the
    training dataset's transitions (the data behind the learner; constant over the run) and
    ``grad_steps``; metrics ``eval/*`` and, before training, ``random/*`` (uniform random
    policy), ``train/*`` (means over the updates since the last call), ``val/*`` (losses on a
    validation minibatch), ``perf/grad_steps_per_s`` (since the last evaluation, the compiling
    first chunk left out), ``perf/first_iter_s`` (the first chunk of updates, compile included)
    and ``perf/eval_s``. ``on_progress`` gets ``grad_steps``,
    ``total_grad_steps``, ``sps`` (gradient steps per second) and ``env_steps``;
    ``on_resume`` gets ``iteration``, ``env_steps``, ``grad_steps`` and ``wall_s``.

    Raises:
        harness.train.Preempted: ``stop`` was set; the checkpoint is written.
        FloatingPointError: a metric became non-finite (the run diverged).
        harness.datasets.DatasetError: the dataset is missing or does not fit the env.
    """
    from harness.checkpoint import Checkpointer
    from harness.train import Callbacks, Preempted

    callbacks = callbacks or Callbacks()
    trainer = trainer or OfflineTrainer(cfg)
    sched = trainer.sched
    from harness.diagnostics import make_diagnostics  # issue 17: diag/* at every evaluation

    diag = make_diagnostics(trainer) if diagnostics else None
    ckpt = Checkpointer(checkpoint_dir) if checkpoint_dir is not None else None
    start = time.perf_counter()
    key = jax.random.PRNGKey(cfg.seed)
    k_init, k_val = jax.random.split(key)
    env_steps = trainer.train_size

    restored = None
    if ckpt is not None:
        callbacks.phase("restoring the checkpoint")
        restored = ckpt.restore(jax.eval_shape(trainer.init, k_init))
    if restored is not None:
        state, record = restored
        eval_index = int(record["eval_index"])
        wall_offset, first_iter_s = float(record["wall_s"]), record.get("first_iter_s")
        if callbacks.on_resume:
            callbacks.on_resume(
                {
                    "iteration": eval_index - 1,
                    "env_steps": env_steps,
                    "grad_steps": int(state.grad_steps),
                    "wall_s": wall_offset,
                }
            )
    else:
        # Committed to the device, as a restored checkpoint is (see harness.train.train).
        state = jax.device_put(trainer.init(k_init), jax.devices()[0])
        eval_index, wall_offset, first_iter_s = 0, 0.0, None

    def wall() -> float:
        return wall_offset + time.perf_counter() - start

    def emit(metrics: dict[str, float]) -> dict[str, float]:
        point = {
            "iteration": eval_index,
            "env_steps": env_steps,
            "grad_steps": int(state.grad_steps),
            "wall_s": wall(),
            "metrics": metrics,
        }
        if callbacks.on_eval:
            callbacks.on_eval(point)
        return metrics

    def evaluation(random_policy: bool) -> dict[str, float]:
        seed = cfg.seed * 100_003 + eval_index
        return trainer.evaluate(state.agent.actor_params, seed, random_policy)

    last_ckpt = time.perf_counter()

    def save() -> None:
        nonlocal last_ckpt
        if ckpt is None:
            return
        callbacks.phase("checkpoint")
        steps = int(state.grad_steps)
        ckpt.save(
            steps,
            state,
            {
                "eval_index": eval_index,
                "wall_s": wall(),
                "first_iter_s": first_iter_s,
                "grad_steps": steps,
            },
        )
        last_ckpt = time.perf_counter()
        if callbacks.on_checkpoint:
            callbacks.on_checkpoint({"iteration": eval_index, "env_steps": env_steps})

    last: dict[str, float] = {}
    if eval_index == 0:
        callbacks.phase("evaluation (compiles the evaluation)")
        t0 = time.perf_counter()
        metrics = {f"eval/{k}": v for k, v in evaluation(False).items()}
        metrics.update({f"random/{k}": v for k, v in evaluation(True).items()})
        if diag is not None:
            metrics.update(diag.at_eval(state.agent, trainer.train_data, cfg.seed))
        metrics["perf/eval_s"] = time.perf_counter() - t0
        last = emit(metrics)
        eval_index = 1
        save()
    window_start, window_steps = time.perf_counter(), 0
    compiled = False  # this process's first chunk compiles, after a resume too
    evaluated = restored is None  # a start compiles the evaluation before the window
    try:
        while eval_index <= len(sched.eval_steps):
            target = sched.eval_steps[eval_index - 1]
            train_metrics: dict[str, Any] = {}
            while int(state.grad_steps) < target:
                n = min(CHUNK_STEPS, target - int(state.grad_steps))
                callbacks.phase(
                    f"gradient steps {int(state.grad_steps)}-{int(state.grad_steps) + n}"
                    + ("" if compiled else " (compiles the update)")
                )
                call_start = time.perf_counter()
                state, train_metrics = trainer.train_steps(
                    state, trainer.train_data, jnp.asarray(n, jnp.int32)
                )
                jax.block_until_ready(state.grad_steps)
                if not compiled:  # left out of the rate window
                    if first_iter_s is None:
                        first_iter_s = time.perf_counter() - call_start
                    window_start, window_steps, compiled = time.perf_counter(), 0, True
                else:
                    window_steps += n
                elapsed = time.perf_counter() - window_start
                rate = window_steps / elapsed if elapsed > 0 and window_steps else 0.0
                if callbacks.on_progress:
                    callbacks.on_progress(
                        {
                            "grad_steps": int(state.grad_steps),
                            "total_grad_steps": sched.total_grad_steps,
                            "sps": rate,
                            "env_steps": env_steps,
                            "total_env_steps": env_steps,
                        }
                    )
                if stop is not None and stop.is_set():
                    save()
                    raise Preempted(f"stopped at gradient step {int(state.grad_steps)}")
            callbacks.phase("evaluation")
            t0 = time.perf_counter()
            metrics = {f"eval/{k}": v for k, v in evaluation(False).items()}
            eval_s = time.perf_counter() - t0
            metrics.update(
                {f"train/{k}": float(v) for k, v in jax.device_get(train_metrics).items()}
            )
            val = trainer.validate(
                state.agent, trainer.val_data, jax.random.fold_in(k_val, eval_index)
            )
            metrics.update({f"val/{k}": float(v) for k, v in jax.device_get(val).items()})
            bad = sorted(k for k, v in metrics.items() if not math.isfinite(v))
            if bad:
                raise FloatingPointError(
                    f"non-finite metrics at gradient step {int(state.grad_steps)}: "
                    f"{', '.join(bad)} (training diverged; try a lower learning rate)"
                )
            if diag is not None:
                metrics.update(diag.at_eval(state.agent, trainer.train_data, cfg.seed))
            if not evaluated:  # a resumed process's first evaluation compiles: left out
                window_start += time.perf_counter() - t0
                evaluated = True
            elapsed = time.perf_counter() - window_start
            if elapsed > 0 and window_steps:  # none yet when only the compiling chunk ran
                metrics["perf/grad_steps_per_s"] = window_steps / elapsed
            metrics["perf/first_iter_s"] = float(first_iter_s or 0.0)
            metrics["perf/eval_s"] = eval_s
            last = emit(metrics)
            eval_index += 1
            window_start, window_steps = time.perf_counter(), 0
            done = eval_index > len(sched.eval_steps)
            if not done and time.perf_counter() - last_ckpt >= checkpoint_every_s:
                save()
    finally:
        if ckpt is not None:
            ckpt.close()
    if checkpoint_dir is not None:
        from harness.checkpoint import save_params

        callbacks.phase("writing the final parameters")
        save_params(Path(checkpoint_dir).parent / "params", state.agent)
    return last
