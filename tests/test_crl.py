"""CRL losses against direct NumPy computations, and the actor's sampling density."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from harness.agents.crl import (
    _round_mantissa,
    infonce_loss,
    paired_energy,
    pairwise_energy,
    tanh_gaussian_sample,
)


def _np_logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    m = x.max(axis=axis, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))).squeeze(axis)


@pytest.fixture(scope="module")
def reps() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(7, 5)).astype(np.float64), rng.normal(size=(7, 5)).astype(np.float64)


def test_l2_energy_matches_numpy(reps: tuple[np.ndarray, np.ndarray]) -> None:
    phi, psi = reps
    expected = -np.sqrt(((phi[:, None, :] - psi[None, :, :]) ** 2).sum(-1))
    got = np.asarray(pairwise_energy(jnp.asarray(phi), jnp.asarray(psi), "l2"))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    diag = np.asarray(paired_energy(jnp.asarray(phi), jnp.asarray(psi), "l2"))
    np.testing.assert_allclose(diag, np.diag(expected), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["l2_squared", "dot", "cosine"])
def test_other_energies_match_numpy(reps: tuple[np.ndarray, np.ndarray], kind: str) -> None:
    phi, psi = reps
    if kind == "l2_squared":
        expected = -((phi[:, None, :] - psi[None, :, :]) ** 2).sum(-1)
    elif kind == "dot":
        expected = phi @ psi.T
    else:
        a = phi / np.linalg.norm(phi, axis=1, keepdims=True)
        b = psi / np.linalg.norm(psi, axis=1, keepdims=True)
        expected = a @ b.T
    got = np.asarray(pairwise_energy(jnp.asarray(phi), jnp.asarray(psi), kind))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    diag = np.asarray(paired_energy(jnp.asarray(phi), jnp.asarray(psi), kind))
    np.testing.assert_allclose(diag, np.diag(expected), rtol=1e-4, atol=1e-4)


def test_forward_infonce_with_logsumexp_penalty_matches_numpy(
    reps: tuple[np.ndarray, np.ndarray],
) -> None:
    phi, psi = reps
    logits = -np.sqrt(((phi[:, None, :] - psi[None, :, :]) ** 2).sum(-1))
    lse_rows = _np_logsumexp(logits, axis=1)
    log_softmax = logits - lse_rows[:, None]
    expected = -np.mean(np.diag(log_softmax)) + 0.1 * np.mean(lse_rows**2)
    loss, metrics = infonce_loss(jnp.asarray(logits), "fwd_infonce", 0.1)
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    assert float(metrics["logsumexp"]) == pytest.approx(lse_rows.mean(), rel=1e-5)
    accuracy = np.mean(np.argmax(logits, axis=1) == np.arange(len(logits)))
    assert float(metrics["categorical_accuracy"]) == pytest.approx(accuracy)


def test_backward_and_symmetric_infonce_match_numpy(reps: tuple[np.ndarray, np.ndarray]) -> None:
    phi, psi = reps
    logits = phi @ psi.T
    fwd = -np.mean(np.diag(logits - _np_logsumexp(logits, 1)[:, None]))
    bwd = -np.mean(np.diag(logits - _np_logsumexp(logits, 0)[None, :]))
    loss_b, _ = infonce_loss(jnp.asarray(logits), "bwd_infonce", 0.0)
    loss_s, _ = infonce_loss(jnp.asarray(logits), "sym_infonce", 0.0)
    assert float(loss_b) == pytest.approx(bwd, rel=1e-5)
    assert float(loss_s) == pytest.approx(fwd + bwd, rel=1e-5)


def test_perfect_critic_has_low_loss() -> None:
    logits = -10.0 * (1.0 - jnp.eye(6))
    loss, metrics = infonce_loss(logits, "fwd_infonce", 0.0)
    assert float(loss) < 1e-3
    assert float(metrics["categorical_accuracy"]) == 1.0


def test_tanh_gaussian_log_prob_matches_change_of_variables() -> None:
    mean = jnp.array([[0.3, -1.2], [0.0, 0.5]])
    log_std = jnp.array([[-0.5, 0.1], [0.2, -1.0]])
    action, log_prob = tanh_gaussian_sample(mean, log_std, jax.random.PRNGKey(3))
    u = np.arctanh(np.clip(np.asarray(action, np.float64), -1 + 1e-7, 1 - 1e-7))
    std = np.exp(np.asarray(log_std, np.float64))
    log_normal = (
        -0.5 * ((u - np.asarray(mean)) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)
    ).sum(-1)
    expected = log_normal - np.log(1 - np.tanh(u) ** 2).sum(-1)
    np.testing.assert_allclose(np.asarray(log_prob), expected, rtol=1e-3, atol=1e-3)
    assert np.all(np.abs(np.asarray(action)) < 1)


def test_reference_tanh_log_det_caps_the_correction_of_saturated_actions() -> None:
    # A saturated actor (|mean| = 12, as deep actors at init): the exact correction keeps
    # growing, the reference's log(1 - tanh(u)^2 + 1e-6) stops at log(1e-6) per dimension.
    mean = jnp.array([[12.0, -12.0], [0.3, 0.0]])
    log_std = jnp.full((2, 2), -3.0)
    key = jax.random.PRNGKey(5)
    action, exact = tanh_gaussian_sample(mean, log_std, key, "exact")
    same_action, reference = tanh_gaussian_sample(mean, log_std, key, "reference")
    np.testing.assert_array_equal(np.asarray(action), np.asarray(same_action))
    eps = jax.random.normal(key, mean.shape)
    u = np.asarray(mean + jnp.exp(log_std) * eps, np.float64)
    log_normal = (-0.5 * np.asarray(eps) ** 2 + 3.0 - 0.5 * np.log(2 * np.pi)).sum(-1)
    a32 = np.tanh(u).astype(np.float32).astype(np.float64)
    expected = log_normal - np.log(1 - a32**2 + 1e-6).sum(-1)
    np.testing.assert_allclose(np.asarray(reference), expected, rtol=1e-4, atol=1e-3)
    assert float(reference[0]) == pytest.approx(float(log_normal[0]) + 2 * np.log(1e6), abs=0.1)
    assert float(exact[0]) > float(reference[0]) + 15  # 2 x (about 22.6 - 13.8) nats
    np.testing.assert_allclose(float(exact[1]), float(reference[1]), atol=1e-4)
    with pytest.raises(ValueError, match="unknown tanh log-determinant"):
        tanh_gaussian_sample(mean, log_std, key, "other")


@pytest.mark.parametrize("mantissa_bits", [None, 10, 7])
def test_l2_energy_accurate_at_norm_300_with_reduced_precision_matmul(
    mantissa_bits: int | None,
) -> None:
    # Deep encoders give representations of norm ~300 at init, mostly a component shared by the
    # batch; positive pairs lie 0.5 apart. TF32 (10 mantissa bits, the default float32 matmul of
    # A100 / H100) and bfloat16 (7) matmuls are emulated by rounding the operands.
    rng = np.random.default_rng(1)
    batch, dim = 64, 64
    offset = rng.normal(size=dim)
    offset *= 300.0 / np.linalg.norm(offset)
    phi = offset + 0.5 * rng.normal(size=(batch, dim))
    step = rng.normal(size=(batch, dim))
    psi = phi + 0.5 * step / np.linalg.norm(step, axis=1, keepdims=True)
    exact = -np.sqrt(((phi[:, None, :] - psi[None, :, :]) ** 2).sum(-1))
    got = np.asarray(
        pairwise_energy(
            jnp.asarray(phi, jnp.float32), jnp.asarray(psi, jnp.float32), "l2", mantissa_bits
        )
    )
    # Positive pairs to float32 rounding of the inputs; all pairs to the matmul's precision
    # relative to the batch's spread (not to the norm 300).
    np.testing.assert_allclose(np.diag(got), np.diag(exact), atol=1e-4)
    tol = 1e-4 if mantissa_bits is None else 2.0**-mantissa_bits * 8
    np.testing.assert_allclose(got, exact, atol=tol)
    # The expanded form without centring loses the positives' distances at this norm.
    p32, q32 = jnp.asarray(phi, jnp.float32), jnp.asarray(psi, jnp.float32)
    rounded = [_round_mantissa(x, mantissa_bits) for x in (p32, q32)]
    sq = (p32**2).sum(-1)[:, None] + (q32**2).sum(-1)[None, :] - 2 * rounded[0] @ rounded[1].T
    naive = -np.sqrt(np.maximum(np.asarray(sq), 0.0))
    assert np.abs(np.diag(naive - exact)).max() > 1e-2


def test_l2_energy_gradient_matches_difference_form(reps: tuple[np.ndarray, np.ndarray]) -> None:
    phi, psi = (jnp.asarray(x, jnp.float32) + 50.0 for x in reps)

    def direct(p: jax.Array, q: jax.Array) -> jax.Array:
        return jnp.sum(jnp.sin(-jnp.sqrt(jnp.sum((p[:, None] - q[None]) ** 2, -1) + 1e-12)))

    def ours(p: jax.Array, q: jax.Array) -> jax.Array:
        return jnp.sum(jnp.sin(pairwise_energy(p, q, "l2")))

    for got, want in zip(
        jax.grad(ours, argnums=(0, 1))(phi, psi),
        jax.grad(direct, argnums=(0, 1))(phi, psi),
        strict=True,
    ):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=2e-4)
