"""SimbaV2: hyperspherical normalisation of weights and features (Lee et al. 2025,
"Hyperspherical Normalization for Scalable Deep Reinforcement Learning", arXiv 2502.15280, Sec. 4, the SimbaV2 architecture; the authors' code,
dojeon-ai/SimbaV2, ``scale_rl/networks/layers.py``).

- Input ("shift + l2 norm", then the embedding): append a constant ``c_shift = 3``
  to the input, project it onto the unit sphere, ``h0 = l2norm(s_h * (W_h x))``.
- Each block: an MLP on the sphere,
  ``h~ = l2norm(W_2 act(s * (W_1 h)) + eps)`` with ``W_1 [width, 4 width]``,
  ``W_2 [4 width, width]``, then a learnable interpolation back onto the sphere,
  ``h' = l2norm(h + alpha * (h~ - h))`` (LERP with a per-dimension ``alpha``).
- Scalers: ``s`` and ``alpha`` are vectors stored at ``s_scale`` and applied as
  ``param * (s_init / s_scale)`` (the stored scale sets how far an Adam step moves them):
  ``s_init = s_scale = sqrt(2 / width)`` for the embedding (the MLP's: divided by
  ``sqrt(4)``), ``alpha_init = 1 / (num_blocks + 1)``, ``alpha_scale = 1 / sqrt(width)``.
- Weights ("weight projection"): every ``HyperDense`` kernel has unit-norm columns
  (one unit vector of input weights per output unit), no bias; they start orthogonal and
  normalised, and :func:`project` puts them back onto the unit sphere after every optimiser
  step (the agents call it: ``harness.networks.apply_updates``).

The activation is ``network.activation`` (SimbaV2 uses ReLU: ``activation: relu``);
``network.layer_norm`` is not used (the l2 norms replace LayerNorm). One block holds 2 Dense
layers, so a depth-``D`` trunk has ``D / 2`` blocks of ``8 width^2`` weights: at the same depth
and width about 4 times the parameters of the paper's block (:func:`trunk_param_count`). What
this harness keeps of its own: the heads (phi and psi's linear output layer, the actor's mean
and log-std heads; SimbaV2 uses hyperspherical heads and a distributional critic) and Adam
without weight decay, as for every block.
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from harness.blocks import BlockDef
from harness.blocks.layers import ACTIVATIONS, compute_dtype

#: Dense layers per block (the MLP's two ``HyperDense``).
LAYERS = 2
#: Width of the block's MLP over the trunk's width (SimbaV2's ``expansion``).
EXPANSION = 4
#: The constant appended to the input before its projection (SimbaV2's ``c_shift``).
C_SHIFT = 3.0
#: Floor of a norm (SimbaV2's ``EPS``): ``x / max(||x||, EPS)``.
EPS = 1e-8


def l2normalize(x: jax.Array, axis: int = -1) -> jax.Array:
    """``x / max(||x||_2, EPS)`` along ``axis``, in float32, with a gradient defined at 0."""
    x = x.astype(jnp.float32)
    squared = jnp.sum(x * x, axis=axis, keepdims=True)
    return x * jax.lax.rsqrt(jnp.maximum(squared, EPS * EPS))


def _sphere_init(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
    """Orthogonal (gain 1) with each column (one output unit's input weights) of unit norm."""
    return l2normalize(nn.initializers.orthogonal(1.0)(key, shape, dtype), axis=-2)


class HyperDense(nn.Module):
    """Linear map without bias whose kernel ``[in, features]`` has unit-norm columns (kept
    there by :func:`project`). Call: ``[batch, in] -> [batch, features]`` float32; with
    ``dtype: bfloat16`` the matmul runs in bfloat16."""

    features: int
    dtype: str = "float32"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", _sphere_init, (x.shape[-1], self.features), jnp.float32)
        dtype = compute_dtype(self.dtype)
        return jnp.dot(x.astype(dtype), kernel.astype(dtype)).astype(jnp.float32)


class Scaler(nn.Module):
    """Elementwise learnable scale ``param * (start / scale) * x``, ``param`` ``[dim]`` stored
    at ``scale``, so the effective scale starts at ``start`` (SimbaV2's ``Scaler``, whose
    ``init`` is ``start`` here: ``init`` is a Flax method)."""

    dim: int
    start: float
    scale: float

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        param = self.param("scaler", nn.initializers.constant(self.scale), (self.dim,))
        return param * (self.start / self.scale) * x


class HyperEmbedder(nn.Module):
    """The input layer: shift, project, ``HyperDense``, scale, project.
    Call: ``[batch, in_dim] -> [batch, width]``, unit rows. ``layer_norm`` is not used."""

    width: int
    activation: str
    layer_norm: bool
    dtype: str

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        shift = jnp.full((*x.shape[:-1], 1), C_SHIFT, jnp.float32)
        x = l2normalize(jnp.concatenate([x.astype(jnp.float32), shift], axis=-1))
        x = HyperDense(self.width, self.dtype)(x)
        s = math.sqrt(2.0 / self.width)
        return l2normalize(Scaler(self.width, s, s)(x))


class HyperLERPBlock(nn.Module):
    """One SimbaV2 block (``HyperMLP`` then the LERP back onto the sphere).

    Scan body: ``(h [batch, width], None) -> (h [batch, width], None)``, unit rows in and out.
    ``num_blocks`` (the trunk's) sets the interpolation's initial ``alpha = 1 / (n + 1)``;
    ``layer_norm`` and ``residual`` are not used.
    """

    width: int
    activation: str
    layer_norm: bool
    residual: bool
    dtype: str
    num_blocks: int = 1

    @nn.compact
    def __call__(self, h: jax.Array, _: Any = None) -> tuple[jax.Array, None]:
        hidden = EXPANSION * self.width
        s = math.sqrt(2.0 / self.width) / math.sqrt(EXPANSION)
        x = HyperDense(hidden, self.dtype)(h)
        x = ACTIVATIONS[self.activation](Scaler(hidden, s, s)(x)) + EPS
        x = l2normalize(HyperDense(self.width, self.dtype)(x))
        alpha = Scaler(self.width, 1.0 / (self.num_blocks + 1), 1.0 / math.sqrt(self.width))
        return l2normalize(h + alpha(x - h)), None


def project(params: Any) -> Any:
    """Every ``HyperDense`` kernel of a parameter tree back onto the unit sphere (unit-norm
    columns, along the input axis ``-2``: ``[in, out]`` or scanned ``[num_blocks, in, out]``);
    every other leaf unchanged (SimbaV2's weight projection; ``l2normalize_network`` in its
    code)."""

    def leaf(path: tuple[Any, ...], x: jax.Array) -> jax.Array:
        names = [str(getattr(key, "key", "")) for key in path]
        if names and names[-1] == "kernel" and any(n.startswith("HyperDense") for n in names):
            return l2normalize(x, axis=-2).astype(x.dtype)
        return x

    return jax.tree_util.tree_map_with_path(leaf, params)


def trunk_param_count(in_dim: int, depth: int, width: int, layer_norm: bool) -> int:
    """Embedding ``(in_dim + 1) width + width``; per block (``depth / 2`` of them)
    ``8 width^2`` weights, the MLP's scaler (``4 width``) and ``alpha`` (``width``)."""
    hidden = EXPANSION * width
    per_block = width * hidden + hidden + hidden * width + width
    return (in_dim + 1) * width + width + (depth // LAYERS) * per_block


BLOCK = BlockDef(
    name="simbav2",
    layers_per_block=LAYERS,
    embed=HyperEmbedder,
    block=HyperLERPBlock,
    trunk_param_count=trunk_param_count,
    project=project,
    source="Lee et al. 2025, arXiv 2502.15280, Sec. 4 (code: dojeon-ai/SimbaV2)",
)
