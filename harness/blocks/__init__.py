"""The registry of residual blocks: ``network.block`` names one, :func:`get` returns it.

A block is what :class:`harness.networks.ResidualMLP` repeats ``depth / layers_per_block``
times between its input layer and its head, applied with ``flax.linen.scan`` (or unrolled,
``network.scan: false``), rematerialised (``network.remat``) and in bfloat16 matmuls
(``network.dtype``) whatever the block. A :class:`BlockDef` says everything the rest of the
harness asks of a block: its modules, how many Dense layers one block holds, the closed-form
parameter count of a trunk (``harness plan`` compiles nothing) and, for blocks that keep their
weights on a constraint set, the projection applied after every optimiser step.

Adding a block is one module of this package defining ``BLOCK = BlockDef(...)`` and one line
in :data:`MODULES` (docs/extending.md). This module imports no JAX: the spec checks
``network.block`` against :data:`NAMES` without loading Flax; :func:`get` imports the block's
module on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: Block name -> the module that defines its ``BLOCK``. The first is the default.
MODULES: dict[str, str] = {
    "residual": "harness.blocks.residual",  # Wang et al. 2025, Fig. 2 (the paper's)
    "rezero": "harness.blocks.rezero",  # Bachlechner et al. 2020, learnable residual gains
    "simbav2": "harness.blocks.simbav2",  # Lee et al. 2025, hyperspherical normalisation
}

#: The names ``network.block`` accepts.
NAMES: tuple[str, ...] = tuple(MODULES)

#: The paper's block, the default of ``network.block``.
DEFAULT = "residual"


@dataclass(frozen=True)
class BlockDef:
    """What the harness needs of one kind of residual block.

    Attributes:
        name: the ``network.block`` value.
        layers_per_block: Dense layers in one block; a trunk of depth ``D`` has
            ``D / layers_per_block`` blocks (``network.*_depth`` counts Dense layers).
        embed: Flax module class of the input layer, built as
            ``embed(width, activation, layer_norm, dtype, name="input")``; call
            ``[batch, in_dim] -> [batch, width]`` (float32).
        block: Flax module class of one block, built as
            ``block(width, activation, layer_norm, residual, dtype, num_blocks)``; a scan body
            ``(x [batch, width], None) -> (x [batch, width], None)`` (float32 carry).
        trunk_param_count: ``(in_dim, depth, width, layer_norm) -> int``: parameters of the
            input layer and the blocks (no head), in closed form.
        project: ``params -> params`` applied to an agent's parameter tree after every
            optimiser step (SimbaV2's weights back onto the unit sphere); it must leave every
            parameter that is not the block's unchanged. None: no projection (no op at all).
        source: the paper (and code) the block follows.
    """

    name: str
    layers_per_block: int
    embed: Any
    block: Any
    trunk_param_count: Callable[[int, int, int, bool], int]
    project: Callable[[Any], Any] | None = None
    source: str = ""


def get(name: str) -> BlockDef:
    """The block registered as ``name``.

    Raises:
        ValueError: ``name`` is not in :data:`NAMES` (the spec refuses it first).
    """
    if name not in MODULES:
        raise ValueError(f"unknown network.block {name!r}; one of {', '.join(NAMES)}")
    block = importlib.import_module(MODULES[name]).BLOCK
    if not isinstance(block, BlockDef) or block.name != name:
        raise ValueError(f"{MODULES[name]}.BLOCK is not the BlockDef of {name!r}")
    return block
