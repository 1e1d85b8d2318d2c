"""Pieces shared by the blocks: activations, the reference initialiser, the compute dtype and
the paper's ``Dense -> LayerNorm -> act`` layer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "swish": nn.swish,
    "relu": nn.relu,
    "gelu": nn.gelu,
    "tanh": jnp.tanh,
}


def kernel_init() -> nn.initializers.Initializer:
    """Variance scaling (1/3, fan_in, uniform), the reference initialiser (JaxGCRL, Bortkiewicz
    et al. 2024, arXiv 2408.11052)."""
    return nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform")


def compute_dtype(name: str) -> Any:
    """``network.dtype`` -> the dtype of the Dense matmuls (``bfloat16`` or ``float32``)."""
    return jnp.bfloat16 if name == "bfloat16" else jnp.float32


class _Layer(nn.Module):
    """Dense -> (LayerNorm) -> activation, float32 output ``[batch, width]``.

    With ``dtype: bfloat16`` only the Dense matmul runs in bfloat16 (flax casts its input and
    kernel); LayerNorm, the activation and the output are float32, so the residual stream (the
    carry between blocks, summed over up to 256 blocks at depth 1024) keeps float32 precision.

    The class keeps its leading underscore: Flax names parameters after the class
    (``_Layer_0``), and checkpoints and run results carry those names.
    """

    width: int
    activation: str
    layer_norm: bool
    dtype: str

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nn.Dense(
            self.width,
            kernel_init=kernel_init(),
            bias_init=nn.initializers.zeros,
            dtype=compute_dtype(self.dtype),
            param_dtype=jnp.float32,
        )(x)
        if self.layer_norm:
            x = nn.LayerNorm(dtype=jnp.float32, param_dtype=jnp.float32)(x)
        x = ACTIVATIONS[self.activation](x.astype(jnp.float32))
        return x


def dense_layer_params(in_dim: int, width: int, layer_norm: bool) -> int:
    """Parameters of one :class:`_Layer`: kernel, bias and LayerNorm's scale and bias."""
    return in_dim * width + width + (2 * width if layer_norm else 0)
