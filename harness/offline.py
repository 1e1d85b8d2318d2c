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

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from harness import behaviour, datasets
from harness.agents import OfflineAgent, make_agent
from harness.batches import Batch
from harness.driver import Start, drive
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
        agent: the run's :class:`~harness.agents.base.OfflineAgent` (CRL or GCBC; the offline
            agents of :mod:`harness.algos`).
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
        # the spec admits only agents declared offline (harness.algos.AlgoDef.offline)
        agent = make_agent(cfg, self.obs_dim, self.goal_dim, self.action_dim)
        self.agent = cast(OfflineAgent, agent)
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
        agent, metrics = self.agent.offline_update(state.agent, critic, actor, k_update)
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
        return self.agent.validation_metrics(agent_state, critic, actor)

    def program(self, cfgs: list[RunConfig], diagnostics: bool = True) -> OfflineProgram:
        """The run's programs for :func:`harness.driver.drive` (one seed: offline runs train
        alone).

        Raises:
            ValueError: more than one config, or one that differs from this trainer's other
                than in the seed.
        """
        if len(cfgs) != 1:
            raise ValueError(f"offline runs train one at a time, got {len(cfgs)}")
        if cfgs[0].seedless_key != self.cfg.seedless_key:
            raise ValueError("the run's config differs from the trainer's other than in the seed")
        return OfflineProgram(self, cfgs[0].seed, diagnostics)

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
    program = (trainer or OfflineTrainer(cfg)).program([cfg], diagnostics)
    dirs = None if checkpoint_dir is None else [checkpoint_dir]
    (result,) = drive(program, [callbacks], dirs, checkpoint_every_s, stop, diagnostics)
    if isinstance(result, BaseException):
        raise result
    return result


class OfflineProgram:
    """The offline trainer's programs for :func:`harness.driver.drive`
    (:class:`harness.driver.Program`), one seed: an iteration is a chunk of at most
    :data:`CHUNK_STEPS` gradient steps, the chunks of each interval between two evaluations
    ending at the evaluation (``sched.eval_steps``).

    Args:
        trainer: the run's :class:`OfflineTrainer` (any seed of its config).
        seed: the run's seed (``PRNGKey(seed)`` split in 2: init, validation minibatches).
        diagnostics: build the depth diagnostics (:func:`harness.diagnostics.make_diagnostics`).
    """

    n = 1
    window_per_eval = True

    def __init__(self, trainer: OfflineTrainer, seed: int, diagnostics: bool = True) -> None:
        from harness.diagnostics import make_diagnostics  # issue 17: diag/* at every evaluation

        self.trainer, self.seed, self.sched = trainer, seed, trainer.sched
        self.diag = make_diagnostics(trainer) if diagnostics else None
        self.k_init, self.k_val = jax.random.split(jax.random.PRNGKey(seed))
        self.env_steps = trainer.train_size
        # where each iteration ends (gradient steps): CHUNK_STEPS apart within an interval
        self.ends: list[int] = []
        done = 0
        for target in self.sched.eval_steps:
            self.ends += [*range(done + CHUNK_STEPS, target, CHUNK_STEPS), target]
            done = target
        self.num_iters = len(self.ends)
        self.eval_ends = set(self.sched.eval_steps)
        self.eval_s = 0.0

    def start(self, ckpts: list[Any] | None, phase: Callable[[str], None]) -> Start:
        restored = None
        if ckpts is not None:
            restored = ckpts[0].restore(jax.eval_shape(self.trainer.init, self.k_init))
        if restored is None:
            # Committed to the device, as a restored checkpoint is (see harness.train).
            return Start(jax.device_put(self.trainer.init(self.k_init), jax.devices()[0]))
        state, record = restored
        eval_index, wall_s = int(record["eval_index"]), float(record["wall_s"])
        steps = int(state.grad_steps)
        first_it = 1 + sum(1 for end in self.ends if end <= steps)
        resumed = {
            "iteration": eval_index - 1,
            "env_steps": self.env_steps,
            "grad_steps": steps,
            "wall_s": wall_s,
        }
        return Start(state, first_it, eval_index, wall_s, record.get("first_iter_s"), resumed)

    def iteration_phase(self, it: int) -> str:
        start = self.ends[it - 2] if it > 1 else 0
        return f"gradient steps {start}-{self.ends[it - 1]}"

    def iteration(self, state: OfflineState, it: int) -> tuple[Any, Any, int]:
        n = self.ends[it - 1] - int(state.grad_steps)
        state, metrics = self.trainer.train_steps(
            state, self.trainer.train_data, jnp.asarray(n, jnp.int32)
        )
        return state, metrics, n

    def progress(self, state: OfflineState, rate: float) -> dict[str, Any]:
        return {
            "grad_steps": int(state.grad_steps),
            "total_grad_steps": self.sched.total_grad_steps,
            "sps": rate,
            "env_steps": self.env_steps,
            "total_env_steps": self.env_steps,
        }

    def eval_due(self, it: int, eval_index: int) -> bool:
        return self.ends[it - 1] in self.eval_ends

    def _evaluate(self, state: OfflineState, eval_index: int, random_policy: bool) -> dict:
        seed = self.seed * 100_003 + eval_index
        metrics = self.trainer.evaluate(state.agent.actor_params, seed, random_policy)
        return {f"{'random' if random_policy else 'eval'}/{k}": v for k, v in metrics.items()}

    def first_evaluation(self, state: OfflineState) -> list[dict[str, float]]:
        t0 = time.perf_counter()
        metrics = {**self._evaluate(state, 0, False), **self._evaluate(state, 0, True)}
        return [{**metrics, "perf/eval_s": time.perf_counter() - t0}]

    def evaluation(
        self, state: OfflineState, eval_index: int, train: Any
    ) -> list[dict[str, float]]:
        t0 = time.perf_counter()
        metrics = self._evaluate(state, eval_index, False)
        self.eval_s = time.perf_counter() - t0
        metrics.update({f"train/{k}": float(v) for k, v in jax.device_get(train).items()})
        key = jax.random.fold_in(self.k_val, eval_index)
        val = self.trainer.validate(state.agent, self.trainer.val_data, key)
        metrics.update({f"val/{k}": float(v) for k, v in jax.device_get(val).items()})
        return [metrics]

    def diagnostics(self, state: OfflineState) -> list[dict[str, float]]:
        if self.diag is None:
            return [{}]
        return [self.diag.at_eval(state.agent, self.trainer.train_data, self.seed)]

    def perf(self, units: int, elapsed: float, first_iter_s: float) -> dict[str, float]:
        out = {}
        if elapsed > 0 and units:  # none yet when only the compiling chunk ran
            out["perf/grad_steps_per_s"] = units / elapsed
        return {**out, "perf/first_iter_s": first_iter_s, "perf/eval_s": self.eval_s}

    def point(self, state: OfflineState, it: int, eval_index: int) -> dict[str, Any]:
        return {
            "iteration": eval_index,
            "env_steps": self.env_steps,
            "grad_steps": int(state.grad_steps),
        }

    def checkpoint(
        self,
        state: OfflineState,
        it: int,
        eval_index: int,
        wall_s: float,
        first_iter_s: float | None,
    ) -> tuple[int, dict[str, Any]]:
        steps = int(state.grad_steps)
        record = {
            "eval_index": eval_index,
            "wall_s": wall_s,
            "first_iter_s": first_iter_s,
            "grad_steps": steps,
        }
        return steps, record

    def seed_state(self, state: OfflineState, i: int) -> OfflineState:
        return state

    def where(self, state: OfflineState) -> str:
        return f"gradient step {int(state.grad_steps)}"

    def finish(self, seed_state: OfflineState, i: int, run_dir: Path, hooks: Any) -> None:
        from harness.checkpoint import save_params

        save_params(run_dir / "params", seed_state.agent)
