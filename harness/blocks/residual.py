"""The paper's residual block (Wang et al. 2025, arXiv 2503.14858, Fig. 2), the default.

``4 x [Dense(width) -> LayerNorm -> act]`` with the block input added to the output of the 4th
activation (nothing after the addition); the input layer is one ``Dense -> LayerNorm -> act``.
Kernels use variance scaling (1/3, fan_in, uniform) and zero biases, as in JaxGCRL.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax

from harness.blocks import BlockDef
from harness.blocks.layers import _Layer, dense_layer_params

#: Dense layers per block (Wang et al. 2025, Fig. 2).
LAYERS = 4


class ResidualBlock(nn.Module):
    """``4 x [Dense -> LayerNorm -> act]`` plus the block input (when ``residual``; false is
    the paper's ablation).

    Written as a scan body: ``(carry, None) -> (carry, None)`` with carry ``[batch, width]``.
    ``num_blocks`` (the trunk's) is not used.
    """

    width: int
    activation: str
    layer_norm: bool
    residual: bool
    dtype: str
    num_blocks: int = 0

    @nn.compact
    def __call__(self, x: jax.Array, _: Any = None) -> tuple[jax.Array, None]:
        h = x
        for _i in range(LAYERS):
            h = _Layer(self.width, self.activation, self.layer_norm, self.dtype)(h)
        return (x + h if self.residual else h), None


def trunk_param_count(in_dim: int, depth: int, width: int, layer_norm: bool) -> int:
    """Input layer plus ``depth`` Dense layers of ``width`` (with LayerNorm when set)."""
    return dense_layer_params(in_dim, width, layer_norm) + depth * dense_layer_params(
        width, width, layer_norm
    )


BLOCK = BlockDef(
    name="residual",
    layers_per_block=LAYERS,
    embed=_Layer,
    block=ResidualBlock,
    trunk_param_count=trunk_param_count,
    source="Wang et al. 2025, arXiv 2503.14858, Fig. 2",
)
