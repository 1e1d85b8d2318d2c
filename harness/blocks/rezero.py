"""ReZero: the paper's residual block with a learnable residual gain initialised at 0.

Bachlechner, Majumder, Mao, Cottrell and McAuley 2020, "ReZero is All You Need: Fast
Convergence at Large Depth", arXiv 2003.04887, Eq. 3: ``x_{i+1} = x_i + alpha_i F(x_i)`` with
one scalar ``alpha_i`` per residual unit, ``alpha_i = 0`` at initialisation, so every block is
the identity at the start and a network of any depth begins as its input layer; the gains are
learned like any other parameter (SkipInit, De and Smith 2020, arXiv 2002.10444, is the same
with the gain on the residual branch of a normalised network).

Here ``F`` is the paper's residual branch, ``4 x [Dense -> LayerNorm -> act]`` (Wang et al. 2025,
Fig. 2), with one gain per block of 4 layers (ReZero puts one per residual unit), parameter
``alpha`` (``[num_blocks]`` when scanned). ReZero drops LayerNorm; ``network.layer_norm``
stays as set (``false`` gives ReZero's unnormalised form), so a comparison with the paper's
block changes only the gains. The input layer is the paper's.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from harness.blocks import BlockDef
from harness.blocks.layers import _Layer
from harness.blocks.residual import LAYERS
from harness.blocks.residual import trunk_param_count as residual_trunk_param_count


class ReZeroBlock(nn.Module):
    """``x + alpha * F(x)``, ``F`` = ``4 x [Dense -> LayerNorm -> act]``, ``alpha`` a learned
    scalar initialised at 0 (Bachlechner et al. 2020, Eq. 3).

    Scan body: ``(x [batch, width], None) -> (x [batch, width], None)``. ``residual`` and
    ``num_blocks`` are not used (the spec refuses ``residual: false`` with this block).
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
        alpha = self.param("alpha", nn.initializers.zeros, (), jnp.float32)
        return x + alpha * h, None


def trunk_param_count(in_dim: int, depth: int, width: int, layer_norm: bool) -> int:
    """The paper's trunk plus one gain per block of 4 layers."""
    return residual_trunk_param_count(in_dim, depth, width, layer_norm) + depth // LAYERS


BLOCK = BlockDef(
    name="rezero",
    layers_per_block=LAYERS,
    embed=_Layer,
    block=ReZeroBlock,
    trunk_param_count=trunk_param_count,
    source="Bachlechner et al. 2020, arXiv 2003.04887, Eq. 3",
)
