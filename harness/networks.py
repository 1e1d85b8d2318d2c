"""Deep residual MLPs of Wang et al. 2025 (arXiv 2503.14858, Fig. 2), applied with a scan.

Trunk: ``Dense(width) -> LayerNorm -> act``, then ``depth / 4`` residual blocks, each
``4 x [Dense(width) -> LayerNorm -> act]`` with the block input added to the output of the 4th
activation (nothing after the addition). Depth counts the Dense layers inside residual blocks.

The blocks' parameters are stacked on a leading axis and applied with ``flax.linen.scan``, so
the XLA graph holds one block whatever the depth: compile time does not grow with depth (the
reference implementation unrolls the layers in Python; see ``docs/benchmarks.md``).

Kernels use variance scaling (scale 1/3, fan_in, uniform) and zero biases, as in JaxGCRL
(Bortkiewicz et al. 2024, arXiv 2408.11052).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from harness.spec import LAYERS_PER_BLOCK

#: Bounds of the actor's log standard deviation (Wang et al. 2025, Sec. 4; JaxGCRL).
LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "swish": nn.swish,
    "relu": nn.relu,
    "gelu": nn.gelu,
    "tanh": jnp.tanh,
}


SCAN_SAVE_POLICY = jax.checkpoint_policies.dots_with_no_batch_dims_saveable
"""What a scanned block saves for its backward pass when ``remat`` is off: the outputs of its
Dense matmuls (``remat: true`` saves only the block inputs)."""


def kernel_init() -> nn.initializers.Initializer:
    """Variance scaling (1/3, fan_in, uniform), the reference initialiser."""
    return nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform")


def _dtype(name: str) -> Any:
    return jnp.bfloat16 if name == "bfloat16" else jnp.float32


class _Layer(nn.Module):
    """Dense -> (LayerNorm) -> activation, float32 output ``[batch, width]``.

    With ``dtype: bfloat16`` only the Dense matmul runs in bfloat16 (flax casts its input and
    kernel); LayerNorm, the activation and the output are float32, so the residual stream (the
    carry between blocks, summed over up to 256 blocks at depth 1024) keeps float32 precision.
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
            dtype=_dtype(self.dtype),
            param_dtype=jnp.float32,
        )(x)
        if self.layer_norm:
            x = nn.LayerNorm(dtype=jnp.float32, param_dtype=jnp.float32)(x)
        x = ACTIVATIONS[self.activation](x.astype(jnp.float32))
        return x


class ResidualBlock(nn.Module):
    """``4 x [Dense -> LayerNorm -> act]`` plus the block input (when ``residual``).

    Written as a scan body: ``(carry, None) -> (carry, None)`` with carry ``[batch, width]``.
    """

    width: int
    activation: str
    layer_norm: bool
    residual: bool
    dtype: str

    @nn.compact
    def __call__(self, x: jax.Array, _: Any = None) -> tuple[jax.Array, None]:
        h = x
        for _i in range(LAYERS_PER_BLOCK):
            h = _Layer(self.width, self.activation, self.layer_norm, self.dtype)(h)
        return (x + h if self.residual else h), None


class ResidualMLP(nn.Module):
    """Input layer, ``depth / 4`` scanned residual blocks, optional linear head.

    Attributes:
        depth: Dense layers inside residual blocks (multiple of 4).
        width: hidden width.
        out_dim: size of the final linear layer; ``None`` returns the trunk features.
        remat: recompute each block on the backward pass (``jax.checkpoint``), keeping only
            the block inputs. Without it a scanned block keeps its matmul outputs
            (:data:`SCAN_SAVE_POLICY`) and recomputes LayerNorm and the activation.
        scan: apply the blocks with ``flax.linen.scan`` (False: unrolled, the reference form).

    Call: ``x [batch, in_dim] -> [batch, out_dim]`` (or ``[batch, width]``), float32 output.
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

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = _Layer(self.width, self.activation, self.layer_norm, self.dtype, name="input")(x)
        block: Any = ResidualBlock
        if self.remat:
            block = nn.remat(block, prevent_cse=False)
        elif self.scan:
            # Keep only the matmul outputs of each block for the backward pass; LayerNorm and
            # the activation are recomputed (elementwise, cheap). A scan stacks every saved
            # intermediate into a [num_blocks, ...] buffer, and on the CPU stacking all of them
            # made the scanned update slower than the unrolled one; see docs/benchmarks.md.
            block = nn.remat(block, prevent_cse=False, policy=SCAN_SAVE_POLICY)
        num_blocks = self.depth // LAYERS_PER_BLOCK
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
                    name=f"block_{index}",
                )(x, None)
        elif num_blocks:
            blocks = nn.scan(
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
                name="blocks",
            )
            x, _ = blocks(x, None)
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
    in_dim: int, depth: int, width: int, out_dim: int | None, layer_norm: bool = True
) -> int:
    """Closed-form parameter count of a :class:`ResidualMLP` (no compile needed).

    Depth 64, width 256, humanoid state-action input (268 + 17) gives about 4.3 M, depth 1024
    about 68 M (Wang et al. 2025, Sec. 5; ``shared/reference/paper.md``).
    """
    ln = 2 * width if layer_norm else 0
    count = in_dim * width + width + ln
    count += depth * (width * width + width + ln)
    if out_dim is not None:
        count += width * out_dim + out_dim
    return count
