"""Contrastive RL (CRL): InfoNCE critic, SAC-style actor with entropy auto-tuning.

Sources: Eysenbach et al. 2022 (Contrastive Learning as Goal-Conditioned RL); JaxGCRL
(Bortkiewicz et al. 2024, arXiv 2408.11052) for the losses, energies and defaults; Wang et al.
2025 (arXiv 2503.14858, Sec. 4 and App.) for the depth-scaled recipe: energy
``f(s, a, g) = -||phi(s, a) - psi(g)||_2``, forward InfoNCE with in-batch negatives, logsumexp
penalty 0.1, Adam 3e-4, target entropy ``-0.5 * action_dim``, no target networks and no TD.

One update (:meth:`CRL.update`) updates the actor and alpha, then the critic, on one minibatch.
Offline (``algo.actor_loss: ddpg_bc``, the default there) the actor is trained with OGBench's
DDPG+BC loss instead (Park et al. 2024, arXiv 2410.20092; :meth:`CRL.ddpg_bc_actor_loss`), on
goals of their own (:meth:`CRL.update`'s ``actor_batch``).
"""

from __future__ import annotations

from typing import Any, cast

import jax
import jax.numpy as jnp
import optax
from flax import struct

from harness.agents.base import GradientProbe
from harness.batches import Batch as Batch  # re-exported (its former home)
from harness.networks import Actor, Critic, apply_updates, weight_projection
from harness.spec import RunConfig

#: Small constant inside the L2 norm so its gradient is finite at zero distance.
L2_EPS = 1e-12


@struct.dataclass
class CRLState:
    """Parameters and optimiser states of actor, critic and entropy temperature."""

    actor_params: Any
    critic_params: Any
    log_alpha: jax.Array
    actor_opt: Any
    critic_opt: Any
    alpha_opt: Any


ENERGY_MATMUL_PRECISION = jax.lax.Precision.HIGHEST
"""Precision of the ``[B, D] x [D, B]`` matmul inside :func:`pairwise_energy`: true float32.
JAX's default float32 matmul precision on A100 / H100 GPUs is TF32 (10-bit mantissa), which
loses the small distances of positive pairs; the matmul is tiny next to the encoders."""


def _round_mantissa(x: jax.Array, mantissa_bits: int | None) -> jax.Array:
    """``x`` rounded to ``mantissa_bits`` of mantissa (float32 exponent), or ``x`` itself."""
    if mantissa_bits is None:
        return x
    return jax.lax.reduce_precision(x, exponent_bits=8, mantissa_bits=mantissa_bits)


def pairwise_energy(
    phi: jax.Array,
    psi: jax.Array,
    kind: str = "l2",
    emulate_mantissa_bits: int | None = None,
) -> jax.Array:
    """Energy between every (s, a) row and every goal column.

    The L2 energies are computed so that they stay accurate however large the representations
    grow (their norms grow with depth: about 4 at depth 4, 19 at 64, 284 at 1024 at init, mostly
    a component shared by the batch) and whatever the precision of the matmul:

    1. ``phi`` and ``psi`` are centred by one shared offset (the stop-gradiented mean of all
       ``2B`` rows), which leaves every distance unchanged;
    2. ``||phi_i - psi_j||^2 = ||phi_i||^2 + ||psi_j||^2 - 2 phi_i . psi_j`` on the centred
       rows, with the matmul pinned to true float32 (:data:`ENERGY_MATMUL_PRECISION`) instead
       of the TF32 that JAX uses by default on recent GPUs; clipped at 0;
    3. the diagonal, the positive pairs of InfoNCE (whose distances are the smallest and lose
       most to cancellation), is recomputed from the differences ``phi_i - psi_i`` directly.

    The reference implementation (scaling-crl ``train.py:806``) forms the ``[B, B, D]``
    difference tensor; this gives the same values to float32 rounding at ``O(B D)`` extra cost.

    Args:
        phi: ``[B, D]`` state-action representations phi(s, a).
        psi: ``[B, D]`` goal representations psi(g) (``[B', D]`` for a non-square table).
        kind: ``l2`` (-||phi - psi||_2, the paper's), ``l2_squared``, ``dot`` or ``cosine``
            (JaxGCRL's energy functions).
        emulate_mantissa_bits: round the matmul's operands to this many mantissa bits first
            (10 = TF32, 7 = bfloat16), emulating a reduced-precision matmul on hardware that
            has none, for numerics tests; None (default) = no rounding.

    Returns:
        ``logits [B, B']`` with ``logits[i, j] = f(s_i, a_i, g_j)``.

    Raises:
        ValueError: for an unknown ``kind``.
    """

    def matmul(a: jax.Array, b: jax.Array) -> jax.Array:
        a = _round_mantissa(a, emulate_mantissa_bits)
        b = _round_mantissa(b, emulate_mantissa_bits)
        return jnp.matmul(a, b.T, precision=ENERGY_MATMUL_PRECISION)

    if kind in ("l2", "l2_squared"):
        offset = jax.lax.stop_gradient(jnp.mean(jnp.concatenate([phi, psi], axis=0), axis=0))
        phi_c, psi_c = phi - offset, psi - offset
        sq = (
            jnp.sum(phi_c**2, axis=-1)[:, None]
            + jnp.sum(psi_c**2, axis=-1)[None, :]
            - 2.0 * matmul(phi_c, psi_c)
        )
        sq = jnp.maximum(sq, 0.0)
        if phi.shape[0] == psi.shape[0]:
            diagonal = jnp.sum((phi - psi) ** 2, axis=-1)
            sq = sq.at[jnp.diag_indices(phi.shape[0])].set(diagonal)
        return -jnp.sqrt(sq + L2_EPS) if kind == "l2" else -sq
    if kind == "dot":
        return matmul(phi, psi)
    if kind == "cosine":
        phi_n = phi / jnp.linalg.norm(phi, axis=-1, keepdims=True).clip(1e-8)
        psi_n = psi / jnp.linalg.norm(psi, axis=-1, keepdims=True).clip(1e-8)
        return matmul(phi_n, psi_n)
    raise ValueError(f"unknown energy {kind!r}")


def paired_energy(phi: jax.Array, psi: jax.Array, kind: str = "l2") -> jax.Array:
    """Energy of matching rows only: ``[B, D], [B, D] -> [B]`` (the diagonal of the above)."""
    if kind == "l2":
        return -jnp.sqrt(jnp.sum((phi - psi) ** 2, axis=-1) + L2_EPS)
    if kind == "l2_squared":
        return -jnp.sum((phi - psi) ** 2, axis=-1)
    if kind == "dot":
        return jnp.sum(phi * psi, axis=-1)
    if kind == "cosine":
        phi_n = phi / jnp.linalg.norm(phi, axis=-1, keepdims=True).clip(1e-8)
        psi_n = psi / jnp.linalg.norm(psi, axis=-1, keepdims=True).clip(1e-8)
        return jnp.sum(phi_n * psi_n, axis=-1)
    raise ValueError(f"unknown energy {kind!r}")


def infonce_loss(
    logits: jax.Array, kind: str = "fwd_infonce", logsumexp_penalty: float = 0.1
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """InfoNCE with positives on the diagonal plus the logsumexp penalty.

    ``fwd_infonce``: ``-mean_i log softmax_j(logits)[i, i]`` (softmax over goals, the paper's);
    ``bwd_infonce``: softmax over (s, a) rows; ``sym_infonce``: their sum (JaxGCRL). The penalty
    is ``logsumexp_penalty * mean_i(logsumexp_j(logits[i, j])^2)`` (Wang et al. 2025).

    Args:
        logits: ``[B, B]`` energies, rows (s, a), columns goals.

    Returns:
        ``(loss, metrics)``; metrics hold ``infonce``, ``logsumexp``, ``categorical_accuracy``,
        ``logits_pos`` and ``logits_neg`` (means).
    """
    batch = logits.shape[0]
    eye = jnp.eye(batch)
    fwd = -jnp.mean(jnp.diag(jax.nn.log_softmax(logits, axis=1)))
    bwd = -jnp.mean(jnp.diag(jax.nn.log_softmax(logits, axis=0)))
    if kind == "fwd_infonce":
        contrastive = fwd
    elif kind == "bwd_infonce":
        contrastive = bwd
    elif kind == "sym_infonce":
        contrastive = fwd + bwd
    else:
        raise ValueError(f"unknown contrastive loss {kind!r}")
    lse = jax.nn.logsumexp(logits, axis=1)
    loss = contrastive + logsumexp_penalty * jnp.mean(lse**2)
    metrics = {
        "infonce": contrastive,
        "logsumexp": jnp.mean(lse),
        "categorical_accuracy": jnp.mean(jnp.argmax(logits, axis=1) == jnp.arange(batch)),
        "logits_pos": jnp.sum(logits * eye) / batch,
        "logits_neg": jnp.sum(logits * (1 - eye)) / (batch * max(batch - 1, 1)),
    }
    return loss, metrics


#: Added to ``1 - tanh(u)^2`` inside the log by the reference's tanh log-determinant
#: (scaling-crl ``train.py:751``).
REFERENCE_LOG_DET_EPS = 1e-6


def tanh_gaussian_sample(
    mean: jax.Array, log_std: jax.Array, key: jax.Array, log_det: str = "exact"
) -> tuple[jax.Array, jax.Array]:
    """Sample ``a = tanh(u)``, ``u ~ N(mean, std^2)``, and its log-density.

    Args:
        mean, log_std: ``[B, action_dim]``.
        log_det: the tanh change of variables ``log pi(a) = log N(u) - sum log(1 - tanh(u)^2)``
            in its exact, stable form ``2 (log 2 - u - softplus(-2u))`` (``"exact"``, Haarnoja
            et al. 2018, App. C; brax) or as the reference CRL code computes it,
            ``log(1 - tanh(u)^2 + 1e-6)`` (``"reference"``, scaling-crl ``train.py:750-752``),
            which caps the correction at ``-log(1e-6)`` = 13.8 nats per dimension once the
            action saturates.

    Returns:
        ``(action [B, action_dim] in (-1, 1), log_prob [B])``.

    Raises:
        ValueError: for another ``log_det``.
    """
    std = jnp.exp(log_std)
    eps = jax.random.normal(key, mean.shape, mean.dtype)
    u = mean + std * eps
    action = jnp.tanh(u)
    log_normal = jnp.sum(-0.5 * eps**2 - log_std - 0.5 * jnp.log(2 * jnp.pi), axis=-1)
    if log_det == "exact":
        correction = 2.0 * (jnp.log(2.0) - u - jax.nn.softplus(-2.0 * u))
    elif log_det == "reference":
        correction = jnp.log(1.0 - action**2 + REFERENCE_LOG_DET_EPS)
    else:
        raise ValueError(f"unknown tanh log-determinant {log_det!r}")
    return action, log_normal - jnp.sum(correction, axis=-1)


def _layer_options(cfg: RunConfig) -> dict[str, Any]:
    net = cfg.network
    return dict(
        activation=net.activation,
        layer_norm=net.layer_norm,
        residual=net.residual,
        remat=net.remat,
        dtype=net.dtype,
        scan=net.scan,
        block=net.block,
    )


def make_actor(cfg: RunConfig, action_dim: int) -> Actor:
    """The run's actor network (``network.actor_depth``, ``actor_width`` and layer options);
    shared by every agent, so their deterministic policies are the same function of params."""
    net = cfg.network
    return Actor(action_dim, net.actor_depth, net.resolved_actor_width, **_layer_options(cfg))


class CRL:
    """CRL agent for one run: networks, optimisers, losses and the jittable update.

    Args:
        cfg: the run's validated config (network and algo sections are used).
        state_dim, goal_dim, action_dim: sizes from the environment.
    """

    def __init__(self, cfg: RunConfig, state_dim: int, goal_dim: int, action_dim: int) -> None:
        net, algo = cfg.network, cfg.algo
        self.cfg = cfg
        self.state_dim, self.goal_dim, self.action_dim = state_dim, goal_dim, action_dim
        self.actor = make_actor(cfg, action_dim)
        self.critic = Critic(net.critic_depth, net.width, net.repr_dim, **_layer_options(cfg))
        self.actor_tx = optax.adam(algo.actor_lr)
        self.critic_tx = optax.adam(algo.critic_lr)
        self.alpha_tx = optax.adam(algo.alpha_lr)
        self.target_entropy = algo.target_entropy_scale * action_dim
        self.actor_loss_kind = cfg.resolved_actor_loss
        self.bc_alpha = cfg.resolved_bc_alpha
        self.projection = weight_projection(net.block)

    def init(self, key: jax.Array) -> CRLState:
        """Initialise parameters (log alpha = 0) and Adam states."""
        k_actor, k_critic = jax.random.split(key)
        obs = jnp.zeros((1, self.state_dim + self.goal_dim))
        actor_params = self.actor.init(k_actor, obs)
        critic_params = self.critic.init(
            k_critic,
            jnp.zeros((1, self.state_dim)),
            jnp.zeros((1, self.action_dim)),
            jnp.zeros((1, self.goal_dim)),
        )
        log_alpha = jnp.zeros((), jnp.float32)
        return CRLState(
            actor_params=actor_params,
            critic_params=critic_params,
            log_alpha=log_alpha,
            actor_opt=self.actor_tx.init(actor_params),
            critic_opt=self.critic_tx.init(critic_params),
            alpha_opt=self.alpha_tx.init(log_alpha),
        )

    def act(
        self, actor_params: Any, obs: jax.Array, key: jax.Array, deterministic: bool = False
    ) -> jax.Array:
        """Policy actions ``[B, action_dim]`` for ``obs [B, state_dim + goal_dim]``.

        Deterministic mode (evaluation) returns ``tanh(mean)``.
        """
        mean, log_std = cast(tuple[jax.Array, jax.Array], self.actor.apply(actor_params, obs))
        if deterministic:
            return jnp.tanh(mean)
        action, _ = tanh_gaussian_sample(mean, log_std, key)
        return action

    def critic_loss(
        self, critic_params: Any, batch: Batch
    ) -> tuple[jax.Array, dict[str, jax.Array]]:
        """InfoNCE critic loss on a batch (see :func:`infonce_loss`)."""
        phi, psi = cast(
            tuple[jax.Array, jax.Array],
            self.critic.apply(critic_params, batch.state, batch.action, batch.goal),
        )
        logits = pairwise_energy(phi, psi, self.cfg.algo.energy)
        return infonce_loss(logits, self.cfg.algo.contrastive_loss, self.cfg.algo.logsumexp_penalty)

    def actor_loss(
        self,
        actor_params: Any,
        critic_params: Any,
        log_alpha: jax.Array,
        batch: Batch,
        key: jax.Array,
    ) -> tuple[jax.Array, tuple[dict[str, jax.Array], jax.Array]]:
        """``mean(alpha * log pi(a|s, g) - f(s, a, g))`` with ``a ~ pi(.|s, g)``."""
        obs = jnp.concatenate([batch.state, batch.goal], axis=-1)
        mean, log_std = cast(tuple[jax.Array, jax.Array], self.actor.apply(actor_params, obs))
        action, log_prob = tanh_gaussian_sample(mean, log_std, key, self.cfg.algo.tanh_log_det)
        phi, psi = cast(
            tuple[jax.Array, jax.Array],
            self.critic.apply(critic_params, batch.state, action, batch.goal),
        )
        q = paired_energy(phi, psi, self.cfg.algo.energy)
        alpha = jnp.exp(jax.lax.stop_gradient(log_alpha))
        loss = jnp.mean(alpha * log_prob - q)
        return loss, ({"entropy": -jnp.mean(log_prob), "q": jnp.mean(q)}, log_prob)

    def ddpg_bc_actor_loss(
        self, actor_params: Any, critic_params: Any, batch: Batch
    ) -> tuple[jax.Array, dict[str, jax.Array]]:
        """OGBench's DDPG+BC actor loss with this critic (Park et al. 2024, ``agents/crl.py``).

        ``q_loss = -mean(f(s, mu, g)) / stopgrad(mean|f(s, mu, g)|)`` (scale-free) plus
        ``bc_alpha * mean(0.5 * ||mu - a||^2)`` with ``mu = tanh(mean(s, g))``, the deterministic
        action, and ``a`` the dataset action. OGBench's BC term is the negative log-likelihood
        of ``a`` under a unit-variance Gaussian at ``mu``, which is this up to a constant; its
        Q is the log of an exponentiated bilinear critic, here the energy ``f`` (already a log
        score). The log-std head is not used.

        Args:
            batch: states ``[B, state_dim]``, dataset actions ``[B, action_dim]``, actor goals
                ``[B, goal_dim]``.

        Returns:
            ``(loss, metrics)`` with ``q_loss``, ``bc_loss``, ``q`` and ``bc_mse`` (mean squared
            error per action dimension).
        """
        obs = jnp.concatenate([batch.state, batch.goal], axis=-1)
        mean, _ = cast(tuple[jax.Array, jax.Array], self.actor.apply(actor_params, obs))
        mu = jnp.tanh(mean)
        phi, psi = cast(
            tuple[jax.Array, jax.Array],
            self.critic.apply(critic_params, batch.state, mu, batch.goal),
        )
        q = paired_energy(phi, psi, self.cfg.algo.energy)
        q_loss = -jnp.mean(q) / jax.lax.stop_gradient(jnp.mean(jnp.abs(q)) + 1e-6)
        squared = (mu - batch.action) ** 2
        bc_loss = self.bc_alpha * jnp.mean(0.5 * jnp.sum(squared, axis=-1))
        metrics = {
            "q_loss": q_loss,
            "bc_loss": bc_loss,
            "q": jnp.mean(q),
            "bc_mse": jnp.mean(squared),
        }
        return q_loss + bc_loss, metrics

    def alpha_loss(self, log_alpha: jax.Array, log_prob: jax.Array) -> jax.Array:
        """SAC temperature loss ``mean(alpha * stopgrad(-log pi - target_entropy))``."""
        return jnp.mean(jnp.exp(log_alpha) * jax.lax.stop_gradient(-log_prob - self.target_entropy))

    def update(
        self, state: CRLState, batch: Batch, key: jax.Array, actor_batch: Batch | None = None
    ) -> tuple[CRLState, dict[str, jax.Array]]:
        """One SGD step: actor (and alpha, for the sac actor loss), then critic.

        Args:
            batch: the critic's minibatch (hindsight goals).
            actor_batch: the actor's minibatch (same states and actions, goals drawn for the
                actor, as OGBench does offline); None = ``batch`` (online).
        """
        actor_batch = batch if actor_batch is None else actor_batch
        alpha_metrics: dict[str, jax.Array] = {}
        if self.actor_loss_kind == "ddpg_bc":
            (actor_loss, actor_metrics), actor_grads = jax.value_and_grad(
                self.ddpg_bc_actor_loss, has_aux=True
            )(state.actor_params, state.critic_params, actor_batch)
            log_alpha, alpha_opt = state.log_alpha, state.alpha_opt
        else:
            (actor_loss, (actor_metrics, log_prob)), actor_grads = jax.value_and_grad(
                self.actor_loss, has_aux=True
            )(state.actor_params, state.critic_params, state.log_alpha, actor_batch, key)
            alpha_loss, alpha_grad = jax.value_and_grad(self.alpha_loss)(state.log_alpha, log_prob)
            updates, alpha_opt = self.alpha_tx.update(alpha_grad, state.alpha_opt)
            log_alpha = optax.apply_updates(state.log_alpha, updates)
            alpha_metrics = {"alpha_loss": alpha_loss, "alpha": jnp.exp(log_alpha)}
        updates, actor_opt = self.actor_tx.update(actor_grads, state.actor_opt)
        actor_params = apply_updates(state.actor_params, updates, self.projection)

        (critic_loss, critic_metrics), critic_grads = jax.value_and_grad(
            self.critic_loss, has_aux=True
        )(state.critic_params, batch)
        updates, critic_opt = self.critic_tx.update(critic_grads, state.critic_opt)
        critic_params = apply_updates(state.critic_params, updates, self.projection)

        metrics = {
            "critic_loss": critic_loss,
            "actor_loss": actor_loss,
            **alpha_metrics,
            **actor_metrics,
            **critic_metrics,
        }
        new_state = CRLState(
            actor_params, critic_params, log_alpha, actor_opt, critic_opt, alpha_opt
        )
        return new_state, metrics

    def offline_update(
        self, state: CRLState, critic_batch: Batch, actor_batch: Batch, key: jax.Array
    ) -> tuple[CRLState, dict[str, jax.Array]]:
        """:meth:`update` with the actor's own goals (OGBench's offline CRL)."""
        return self.update(state, critic_batch, key, actor_batch)

    def validation_metrics(
        self, state: CRLState, critic_batch: Batch, actor_batch: Batch
    ) -> dict[str, jax.Array]:
        """``critic_loss`` and its metrics on a validation minibatch, and the DDPG+BC actor's
        ``bc_mse`` when that is the actor loss."""
        loss, metrics = self.critic_loss(state.critic_params, critic_batch)
        metrics = {"critic_loss": loss, **metrics}
        if self.actor_loss_kind == "ddpg_bc":
            _, actor_metrics = self.ddpg_bc_actor_loss(
                state.actor_params, state.critic_params, actor_batch
            )
            metrics["bc_mse"] = actor_metrics["bc_mse"]
        return metrics

    def gradient_probe(
        self, state: CRLState, batch: Batch, key: jax.Array, actor_batch: Batch
    ) -> GradientProbe:
        """Gradients of the actor loss and of the InfoNCE loss over phi's and psi's encoders,
        phi(s, a) and psi(g) on ``batch`` (:mod:`harness.diagnostics`)."""
        k_actor, _ = jax.random.split(key)
        if self.actor_loss_kind == "ddpg_bc":
            actor_grads, _ = jax.grad(self.ddpg_bc_actor_loss, has_aux=True)(
                state.actor_params, state.critic_params, actor_batch
            )
        else:
            actor_grads, _ = jax.grad(self.actor_loss, has_aux=True)(
                state.actor_params, state.critic_params, state.log_alpha, actor_batch, k_actor
            )
        critic_grads, metrics = jax.grad(self.critic_loss, has_aux=True)(state.critic_params, batch)
        phi, psi = cast(
            tuple[jax.Array, jax.Array],
            self.critic.apply(state.critic_params, batch.state, batch.action, batch.goal),
        )
        grads = critic_grads["params"]
        return GradientProbe(
            actor_grads=actor_grads,
            critic_grads={"phi": (grads["sa_encoder"],), "psi": (grads["g_encoder"],)},
            representations={"phi": phi, "psi": psi},
            ranked=("phi",),
            scalars={"logits_pos": metrics["logits_pos"], "logits_neg": metrics["logits_neg"]},
        )
