"""Deep residual MLPs of Wang et al. 2025 (arXiv 2503.14858, Fig. 2), applied with a scan.

Trunk: an input layer, then ``depth / layers_per_block`` residual blocks of the kind
``network.block`` names (:mod:`harness.blocks`). The paper's (``residual``, the default): input
``Dense(width) -> LayerNorm -> act``, blocks of ``4 x [Dense(width) -> LayerNorm -> act]`` with
the block input added to the output of the 4th activation (nothing after the addition). Depth
counts the Dense layers inside residual blocks.

The blocks' parameters are stacked on a leading axis and applied with ``flax.linen.scan``, so
the XLA graph holds one block whatever the depth: compile time does not grow with depth (the
reference implementation unrolls the layers in Python; see ``docs/benchmarks.md``).

Kernels use variance scaling (scale 1/3, fan_in, uniform) and zero biases, as in JaxGCRL
(Bortkiewicz et al. 2024, arXiv 2408.11052). A block that keeps its weights on a constraint set
(SimbaV2's unit sphere) declares a projection, which the agents apply after every optimiser step
(:func:`apply_updates`, :func:`weight_projection`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from harness import blocks
from harness.blocks.layers import ACTIVATIONS, kernel_init
from harness.blocks.residual import ResidualBlock

__all__ = [
    "ACTIVATIONS",
    "LOG_STD_MAX",
    "LOG_STD_MIN",
    "SCAN_SAVE_POLICY",
    "Actor",
    "Critic",
    "ResidualBlock",
    "ResidualMLP",
    "apply_updates",
    "encoder_param_count",
    "kernel_init",
    "param_count",
    "weight_projection",
]

#: Bounds of the actor's log standard deviation (Wang et al. 2025, Sec. 4; JaxGCRL).
LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


SCAN_SAVE_POLICY = jax.checkpoint_policies.dots_with_no_batch_dims_saveable
"""What a scanned block saves for its backward pass when ``remat`` is off: the outputs of its
Dense matmuls (``remat: true`` saves only the block inputs)."""


class ResidualMLP(nn.Module):
    """Input layer, ``depth / layers_per_block`` scanned residual blocks (4 layers per block
    for the paper's), optional linear head.
    Attributes:
        depth: Dense layers inside residual blocks (multiple of 4; of the block's
            ``layers_per_block``).
        width: hidden width.
        out_dim: size of the final linear layer; ``None`` returns the trunk features.
        remat: recompute each block on the backward pass (``jax.checkpoint``), keeping only
            the block inputs. Without it a scanned block keeps its matmul outputs
            (:data:`SCAN_SAVE_POLICY`) and recomputes LayerNorm and the activation.
        scan: apply the blocks with ``flax.linen.scan`` (False: unrolled, the reference form).
        block: the kind of residual block, a name of :data:`harness.blocks.NAMES` (it also
            chooses the input layer).

    Call: ``x [batch, in_dim] -> [batch, out_dim]`` (or ``[batch, width]``), float32 output.

    Raises:
        ValueError: an unknown ``block`` (the spec refuses it first).
    """

    depth: int
    width: int
    out_dim: int | None = None
    activation: str = "swish"
    layer_norm: bool = True
    residual: bool = True
    remat: bool = False
    dtype: str = "float32"
    scan: bool = True
    block: str = blocks.DEFAULT

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kind = blocks.get(self.block)
        x = kind.embed(self.width, self.activation, self.layer_norm, self.dtype, name="input")(x)
        block: Any = kind.block
        if self.remat:
            block = nn.remat(block, prevent_cse=False)
        elif self.scan:
            # Keep only the matmul outputs of each block for the backward pass; LayerNorm and
            # the activation are recomputed (elementwise, cheap). A scan stacks every saved
            # intermediate into a [num_blocks, ...] buffer, and on the CPU stacking all of them
            # made the scanned update slower than the unrolled one; see docs/benchmarks.md.
            block = nn.remat(block, prevent_cse=False, policy=SCAN_SAVE_POLICY)
        num_blocks = self.depth // kind.layers_per_block
        if num_blocks and not self.scan:
            # The reference implementation's form: every block its own parameters and its own
            # copy in the XLA graph (compile time grows with depth). For benchmarks.
            for index in range(num_blocks):
                x, _ = block(
                    self.width,
                    self.activation,
                    self.layer_norm,
                    self.residual,
                    self.dtype,
                    num_blocks,
                    name=f"block_{index}",
                )(x, None)
        elif num_blocks:
            scanned = nn.scan(
                block,
                variable_axes={"params": 0},
                split_rngs={"params": True},
                length=num_blocks,
            )(
                self.width,
                self.activation,
                self.layer_norm,
                self.residual,
                self.dtype,
                num_blocks,
                name="blocks",
            )
            x, _ = scanned(x, None)
        if self.out_dim is not None:
            x = nn.Dense(
                self.out_dim,
                kernel_init=kernel_init(),
                bias_init=nn.initializers.zeros,
                dtype=jnp.float32,
                param_dtype=jnp.float32,
                name="head",
            )(x.astype(jnp.float32))
        return x.astype(jnp.float32)


class Actor(nn.Module):
    """Gaussian policy trunk on ``concat(s, g)`` with mean and log-std heads.

    Call: ``obs [batch, state_dim + goal_dim] -> (mean [batch, action_dim],
    log_std [batch, action_dim])`` with ``log_std`` = tanh mapped to [-5, 2]
    (Wang et al. 2025 Sec. 4; JaxGCRL). Actions are ``tanh(mean + std * eps)``.
    """

    action_dim: int
    depth: int
    width: int
    activation: str = "swish"
    layer_norm: bool = True
    residual: bool = True
    remat: bool = False
    dtype: str = "float32"
    scan: bool = True
    block: str = blocks.DEFAULT

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        h = ResidualMLP(
            self.depth,
            self.width,
            None,
            self.activation,
            self.layer_norm,
            self.residual,
            self.remat,
            self.dtype,
            self.scan,
            self.block,
            name="trunk",
        )(obs)
        zeros = nn.initializers.zeros
        mean = nn.Dense(self.action_dim, kernel_init=kernel_init(), bias_init=zeros, name="mean")(h)
        log_std = nn.Dense(
            self.action_dim, kernel_init=kernel_init(), bias_init=zeros, name="log_std"
        )(h)
        log_std = jnp.tanh(log_std)
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (log_std + 1.0)
        return mean, log_std


class Critic(nn.Module):
    """Contrastive critic: phi(s, a) on ``concat(s, a)`` and psi(g) on the goal.

    Call: ``(state [B, state_dim], action [B, action_dim], goal [B, goal_dim]) ->
    (phi [B, repr_dim], psi [B, repr_dim])``.
    """

    depth: int
    width: int
    repr_dim: int
    activation: str = "swish"
    layer_norm: bool = True
    residual: bool = True
    remat: bool = False
    dtype: str = "float32"
    scan: bool = True
    block: str = blocks.DEFAULT

    def setup(self) -> None:
        args = (
            self.depth,
            self.width,
            self.repr_dim,
            self.activation,
            self.layer_norm,
            self.residual,
            self.remat,
            self.dtype,
            self.scan,
            self.block,
        )
        self.sa_encoder = ResidualMLP(*args)
        self.g_encoder = ResidualMLP(*args)

    def __call__(
        self, state: jax.Array, action: jax.Array, goal: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        return self.phi(state, action), self.psi(goal)

    def phi(self, state: jax.Array, action: jax.Array) -> jax.Array:
        """State-action representation ``[B, repr_dim]``."""
        return self.sa_encoder(jnp.concatenate([state, action], axis=-1))

    def psi(self, goal: jax.Array) -> jax.Array:
        """Goal representation ``[B, repr_dim]``."""
        return self.g_encoder(goal)


def param_count(params: Any) -> int:
    """Number of scalars in a parameter pytree."""
    return int(sum(x.size for x in jax.tree_util.tree_leaves(params)))


def encoder_param_count(
    in_dim: int,
    depth: int,
    width: int,
    out_dim: int | None,
    layer_norm: bool = True,
    block: str = blocks.DEFAULT,
) -> int:
    """Closed-form parameter count of a :class:`ResidualMLP` (no compile needed): the block's
    trunk (:attr:`harness.blocks.BlockDef.trunk_param_count`) plus the linear head.

    Depth 64, width 256, humanoid state-action input (268 + 17) gives about 4.3 M, depth 1024
    about 68 M with the paper's block (Wang et al. 2025, Sec. 5; ``shared/reference/paper.md``).

    Raises:
        ValueError: an unknown ``block``.
    """
    count = blocks.get(block).trunk_param_count(in_dim, depth, width, layer_norm)
    if out_dim is not None:
        count += width * out_dim + out_dim
    return count


def weight_projection(block: str) -> Callable[[Any], Any] | None:
    """The projection ``params -> params`` that ``block`` applies after every optimiser step
    (SimbaV2's kernels back onto the unit sphere), or None for blocks without one.

    Raises:
        ValueError: an unknown ``block``.
    """
    return blocks.get(block).project


def apply_updates(params: Any, updates: Any, projection: Callable[[Any], Any] | None) -> Any:
    """``optax.apply_updates`` followed by the block's weight projection, when it has one
    (:func:`weight_projection`); without one this is ``optax.apply_updates`` exactly."""
    params = optax.apply_updates(params, updates)
    return params if projection is None else projection(params)
