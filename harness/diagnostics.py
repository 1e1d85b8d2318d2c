"""Depth diagnostics: what happens inside the networks, recorded at every evaluation.

One jitted call per evaluation computes, on one minibatch and without updating anything, the
gradients of the agent's own losses (the same functions its update differentiates) and a few
statistics of its networks' outputs. The minibatch is drawn by the run's own sampler (the
replay's online, the training dataset's offline) with one key fixed for the whole run
(:func:`diagnostics_key`: derived from the seed), so evaluations differ only by the parameters
and by what the replay holds by then. Metric names (written with the prefix ``diag/``; units
in brackets):

- ``grad_norm_actor``: global L2 norm of the actor loss's gradient over all actor parameters;
  ``grad_norm_phi`` and ``grad_norm_psi``: of the critic loss's gradient over the state-action
  encoder phi and the goal encoder psi (CRL); ``grad_norm_critic`` over both Q-networks (TD
  baselines). [loss units per parameter unit]
- ``grad_norm_<net>_first``, ``_mid``, ``_last``: the same over the first, middle
  (index ``n // 2``) and last of the ``n`` residual blocks of that network (the two Q-networks'
  blocks together for ``critic``). A ratio last / first far from 1 is where gradients vanish or
  explode with depth.
- ``phi_norm``, ``psi_norm``: mean over the batch of ``||phi(s, a)||_2``, ``||psi(g)||_2``;
  ``phi_mean_norm``, ``psi_mean_norm``: ``||mean_batch phi||_2``, the norm of the component
  shared by the whole batch (the L2 energy ignores it). [representation units]
- ``phi_rank``: effective rank (:func:`effective_rank`, Roy & Vetterli 2007) of the centred
  ``[B, repr_dim]`` batch of phi (the shared component removed): 1 = collapsed to one
  direction, ``min(B, repr_dim)`` = all directions used equally. [dimensions]
- ``logits_pos``, ``logits_neg``: mean InfoNCE logit (energy) of positive (diagonal) and
  negative pairs (CRL). [energy]
- ``q_mean``, ``q_std``: mean and standard deviation of both Q-networks' values at the batch's
  ``(s, a, g)`` (TD baselines, instead of the contrastive terms). [return units]
- ``actor_tanh_mean_abs``: mean ``|tanh(mean)|`` of the policy over batch and action dimensions
  (1 = saturated actions); ``actor_log_std``: mean log standard deviation of the policy (the
  head TD3 and GCBC leave untrained). [action units, nats]

GCSL and GCBC have no critic: their diagnostics are the actor's only.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from typing import Any, cast

import jax
import jax.numpy as jnp

from harness.agents.base import GradientProbe

#: Folded into the seed's key to draw the diagnostics minibatch (a stream of its own).
DIAGNOSTICS_STREAM = 0x64696167  # "diag"

#: Block positions reported per network.
BLOCK_POSITIONS = ("first", "mid", "last")


def effective_rank(x: jax.Array) -> jax.Array:
    """Effective rank of a matrix (Roy & Vetterli 2007, "The effective rank: a measure of
    effective dimensionality", EUSIPCO): ``exp(-sum_k p_k log p_k)`` with ``p_k = s_k / sum_j
    s_j`` over the singular values ``s`` of ``x``.

    Args:
        x: ``[N, D]`` matrix (rows: samples; centre it first to leave out a shared offset).

    Returns:
        float32 scalar in ``[1, min(N, D)]``; 0 for the zero matrix.
    """
    s = jnp.linalg.svd(x.astype(jnp.float32), compute_uv=False)
    total = jnp.sum(s)
    p = s / jnp.where(total > 0, total, 1.0)
    safe = jnp.where(p > 0, p, 1.0)
    entropy = -jnp.sum(jnp.where(p > 0, p * jnp.log(safe), 0.0))
    return jnp.where(total > 0, jnp.exp(entropy), 0.0)


def global_norm(tree: Any) -> jax.Array:
    """``sqrt(sum of squares)`` over every leaf of a pytree (float32 scalar)."""
    leaves = jax.tree_util.tree_leaves(tree)
    return jnp.sqrt(sum(jnp.sum(jnp.square(x.astype(jnp.float32))) for x in leaves))


def residual_blocks(encoder: Mapping[str, Any]) -> list[Any]:
    """The residual blocks of one :class:`~harness.networks.ResidualMLP` parameter (or
    gradient) tree, in order: slices of the stacked ``blocks`` leaves (``network.scan``) or the
    ``block_<i>`` subtrees (unrolled). Empty for a network without blocks."""
    if "blocks" in encoder:
        stacked = encoder["blocks"]
        count = int(jax.tree_util.tree_leaves(stacked)[0].shape[0])
        return [jax.tree_util.tree_map(lambda x, i=i: x[i], stacked) for i in range(count)]
    names = sorted(
        (k for k in encoder if k.startswith("block_")), key=lambda k: int(k.split("_")[1])
    )
    return [encoder[k] for k in names]


def block_grad_norms(prefix: str, *encoders: Mapping[str, Any]) -> dict[str, jax.Array]:
    """``{prefix}_first``, ``_mid`` and ``_last``: global gradient norms of the first, middle
    (``n // 2``) and last residual block, taken over the same block of every encoder given
    (the two Q-networks of a twin critic)."""
    per_encoder = [residual_blocks(e) for e in encoders]
    count = len(per_encoder[0])
    if count == 0:
        return {}
    picks = {"first": 0, "mid": count // 2, "last": count - 1}
    return {
        f"{prefix}_{name}": global_norm([blocks[i] for blocks in per_encoder])
        for name, i in picks.items()
    }


def _representation(prefix: str, x: jax.Array) -> dict[str, jax.Array]:
    return {
        f"{prefix}_norm": jnp.mean(jnp.linalg.norm(x, axis=-1)),
        f"{prefix}_mean_norm": jnp.linalg.norm(jnp.mean(x, axis=0)),
    }


def _actor_stats(agent: Any, actor_params: Any, batch: Any) -> dict[str, jax.Array]:
    obs = jnp.concatenate([batch.state, batch.goal], axis=-1)
    mean, log_std = cast(tuple[jax.Array, jax.Array], agent.actor.apply(actor_params, obs))
    return {
        "actor_tanh_mean_abs": jnp.mean(jnp.abs(jnp.tanh(mean))),
        "actor_log_std": jnp.mean(log_std),
    }


def _actor_grads(prefix: str, grads: Any) -> dict[str, jax.Array]:
    return {
        f"{prefix}": global_norm(grads),
        **block_grad_norms(prefix, grads["params"]["trunk"]),
    }


def agent_diagnostics(
    agent: Any, state: Any, batch: Any, key: jax.Array, actor_batch: Any = None
) -> dict[str, jax.Array]:
    """The diagnostics of one agent state on one minibatch (names in the module docstring,
    without the ``diag/`` prefix). Pure and jittable (and vmappable over seeds).

    Args:
        agent: a :func:`harness.agents.make_agent` agent; its ``gradient_probe``
            (:class:`~harness.agents.base.GradientProbe`) says what to measure.
        state: its state (parameters; nothing is updated).
        batch: the minibatch its update takes (:class:`~harness.batches.Batch` or
            :class:`~harness.batches.Transition`, leading axis ``B``).
        key: for the losses that sample actions (the SAC-style actors, TD3's target noise).
        actor_batch: the actor's minibatch where it has its own (offline CRL and GCBC, whose
            actor goals are drawn apart); None = ``batch``.

    Returns:
        float32 scalars by name.
    """
    actor_batch = batch if actor_batch is None else actor_batch
    probe: GradientProbe = agent.gradient_probe(state, batch, key, actor_batch)
    out: dict[str, jax.Array] = {}
    for name, encoders in probe.critic_grads.items():
        out[f"grad_norm_{name}"] = global_norm(list(encoders))
    for name, encoders in probe.critic_grads.items():
        out.update(block_grad_norms(f"grad_norm_{name}", *encoders))
    for name, x in probe.representations.items():
        out.update(_representation(name, x))
    for name in probe.ranked:
        x = probe.representations[name]
        out[f"{name}_rank"] = effective_rank(x - jnp.mean(x, axis=0))
    out.update(probe.scalars)
    out.update(_actor_grads("grad_norm_actor", probe.actor_grads))
    out.update(_actor_stats(agent, state.actor_params, actor_batch))
    return {k: jnp.asarray(v, jnp.float32) for k, v in out.items()}


def diagnostics_key(seed: int) -> jax.Array:
    """The run's fixed key for the diagnostics minibatch: ``fold_in(PRNGKey(seed),``
    :data:`DIAGNOSTICS_STREAM` ``)``, the same at every evaluation (and after a resume)."""
    return jax.random.fold_in(jax.random.PRNGKey(seed), DIAGNOSTICS_STREAM)


class Diagnostics:
    """The jitted diagnostics of one trainer (online :class:`~harness.train.Trainer` or
    :class:`~harness.offline.OfflineTrainer`); build with :func:`make_diagnostics`.

    ``compute(agent_state, batch, key, actor_batch=None) -> {name: scalar}`` is
    :func:`agent_diagnostics` jitted; ``from_source(agent_state, source, key)`` draws the
    minibatch from ``source`` (the online replay, or an offline dataset) with the trainer's own
    sampler and computes, in one jitted call; :meth:`at_eval` calls it with the run's fixed key
    and returns host floats named ``diag/<name>``.
    """

    def __init__(self, trainer: Any) -> None:
        self.agent = trainer.agent
        self._sample = _sampler(trainer)
        self.compute = jax.jit(self._compute)
        self.from_source = jax.jit(self._from_source)
        self._from_source_group: Any = None

    def _compute(
        self, agent_state: Any, batch: Any, key: jax.Array, actor_batch: Any = None
    ) -> dict[str, jax.Array]:
        return agent_diagnostics(self.agent, agent_state, batch, key, actor_batch)

    def _from_source(self, agent_state: Any, source: Any, key: jax.Array) -> dict[str, jax.Array]:
        k_sample, k_losses = jax.random.split(key)
        batch, actor_batch = self._sample(source, k_sample)
        return agent_diagnostics(self.agent, agent_state, batch, k_losses, actor_batch)

    def at_eval_group(
        self, agent_states: Any, sources: Any, seeds: list[int]
    ) -> list[dict[str, float]]:
        """:meth:`at_eval` of the seeds of a seed group (:mod:`harness.seeds`): states and
        sources with a leading seed axis; one vmapped call; one dict per seed."""
        if self._from_source_group is None:
            self._from_source_group = jax.jit(jax.vmap(self._from_source))
        keys = jnp.stack([diagnostics_key(seed) for seed in seeds])
        out = jax.device_get(self._from_source_group(agent_states, sources, keys))
        return [{f"diag/{k}": float(v[i]) for k, v in out.items()} for i in range(len(seeds))]

    def at_eval(self, agent_state: Any, source: Any, seed: int) -> dict[str, float]:
        """``diag/*`` floats on the run's fixed minibatch key (:func:`diagnostics_key`).

        Args:
            agent_state: the agent's current state.
            source: the online replay (:class:`~harness.replay.Replay`) or the offline
                training data (:class:`~harness.offline.OfflineData`).
            seed: the run's seed.
        """
        out = self.from_source(agent_state, source, diagnostics_key(seed))
        return {f"diag/{k}": float(v) for k, v in jax.device_get(out).items()}


def _sampler(trainer: Any) -> Callable[[Any, jax.Array], tuple[Any, Any]]:
    """``(source, key) -> (batch, actor_batch or None)``: the minibatch the trainer's update
    takes (:meth:`harness.train.Trainer.sample_batch`, the update's, or
    :meth:`harness.offline.OfflineTrainer._sample`)."""
    if trainer.cfg.data.mode == "offline":

        def offline(data: Any, key: jax.Array) -> tuple[Any, Any]:
            critic, actor = trainer._sample(data, key)
            return critic, actor

        return offline

    def online(replay: Any, key: jax.Array) -> tuple[Any, Any]:
        return trainer.sample_batch(replay, key), None

    return online


_BUILT: weakref.WeakKeyDictionary[Any, Diagnostics] = weakref.WeakKeyDictionary()


def make_diagnostics(trainer: Any) -> Diagnostics:
    """The :class:`Diagnostics` of a trainer, built once per trainer (runs that share a
    trainer, the seeds of one config, share its compiled program)."""
    built = _BUILT.get(trainer)
    if built is None:
        built = _BUILT[trainer] = Diagnostics(trainer)
    return built


def group_diagnostics(
    trainer: Any, n: int, seeds: list[int]
) -> Callable[[Any], list[dict[str, float]]]:
    """``state -> per-seed diag/* floats`` of a group of ``n`` seeds
    (:class:`Diagnostics`, vmapped over the seeds when ``n > 1``; :mod:`harness.seeds`)."""
    built = make_diagnostics(trainer)
    if n == 1:
        return lambda ts: [built.at_eval(ts.agent, ts.replay, seeds[0])]
    return lambda ts: built.at_eval_group(ts.agent, ts.replay, seeds)
