"""The registry of residual blocks (``network.block``): every block's shapes, gradients, scanned
form against the unrolled one, closed-form parameter counts, remat and bfloat16; SimbaV2's
weight projection; ReZero's identity at initialisation; the spec field and the run ids."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from harness import blocks
from harness.agents import make_agent
from harness.batches import Batch, Transition
from harness.blocks.simbav2 import project
from harness.diagnostics import residual_blocks
from harness.networks import (
    ResidualMLP,
    apply_updates,
    encoder_param_count,
    param_count,
    weight_projection,
)
from harness.plan import run_id
from harness.spec import RunConfig

IN_DIM, WIDTH, OUT = 5, 8, 3
S, G, A, B = 4, 2, 2, 6


@pytest.fixture(scope="module", autouse=True)
def _fast_compile() -> Iterator[None]:
    """XLA without its optimisation passes for this module (cheaper compiles, same results up
    to float rounding); the previous setting is restored afterwards."""
    previous = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", previous)


def _x(n: int = 4) -> jax.Array:
    return jax.random.normal(jax.random.PRNGKey(7), (n, IN_DIM))


def _mlp(block: str, depth: int = 8, **options: Any) -> ResidualMLP:
    return ResidualMLP(depth, WIDTH, OUT, block=block, **options)


def _hyper_kernels(params: Any) -> list[jax.Array]:
    return [
        leaf
        for path, leaf in jax.tree_util.tree_leaves_with_path(params)
        if "HyperDense" in jax.tree_util.keystr(path)
        and jax.tree_util.keystr(path).endswith("['kernel']")
    ]


def _unrolled(params: Any, count: int) -> Any:
    """A scanned ResidualMLP's parameters in the unrolled layout (``block_<i>``)."""
    inner = dict(params["params"])
    stacked = inner.pop("blocks")
    for i in range(count):
        inner[f"block_{i}"] = jax.tree_util.tree_map(lambda x, i=i: x[i], stacked)
    return {"params": inner}


def test_the_registry_names_every_block_and_its_source() -> None:
    assert blocks.NAMES[0] == blocks.DEFAULT == "residual"
    for name in blocks.NAMES:
        block = blocks.get(name)
        assert block.name == name and block.source and block.layers_per_block in (2, 4)
    with pytest.raises(ValueError, match=r"unknown network\.block 'nope'"):
        blocks.get("nope")


@pytest.mark.parametrize("name", blocks.NAMES)
@pytest.mark.parametrize("layer_norm", [True, False])
def test_shapes_and_closed_form_parameter_counts(name: str, layer_norm: bool) -> None:
    per = blocks.get(name).layers_per_block
    for depth, out in ((8, OUT), (4, None)):
        mlp = ResidualMLP(depth, WIDTH, out, layer_norm=layer_norm, block=name)
        params = mlp.init(jax.random.PRNGKey(0), _x())
        y = mlp.apply(params, _x())
        assert y.shape == (4, out or WIDTH) and y.dtype == jnp.float32
        assert param_count(params) == encoder_param_count(
            IN_DIM, depth, WIDTH, out, layer_norm, name
        )
        assert len(residual_blocks(params["params"])) == depth // per  # what diagnostics read


@pytest.mark.parametrize("name", blocks.NAMES)
def test_scanned_form_equals_unrolled_form(name: str) -> None:
    depth = 8
    count = depth // blocks.get(name).layers_per_block
    scanned = _mlp(name, depth)
    params = scanned.init(jax.random.PRNGKey(1), _x())
    if name == "rezero":  # gains of 0 would hide the blocks: give them values
        inner = dict(params["params"])
        stacked = dict(inner["blocks"])
        stacked["alpha"] = jnp.linspace(0.3, 0.9, count)
        inner["blocks"] = stacked
        params = {"params": inner}
    unrolled = _mlp(name, depth, scan=False)
    y_scan = scanned.apply(params, _x())
    y_unrolled = unrolled.apply(_unrolled(params, count), _x())
    np.testing.assert_allclose(np.asarray(y_scan), np.asarray(y_unrolled), rtol=1e-5, atol=1e-6)
    # Both forms initialise the same parameter tree, block by block.
    own = unrolled.init(jax.random.PRNGKey(1), _x())
    assert jax.tree_util.tree_structure(own) == jax.tree_util.tree_structure(
        _unrolled(params, count)
    )


@pytest.mark.parametrize("name", blocks.NAMES)
def test_gradient_matches_finite_differences(name: str) -> None:
    """``jax.grad`` of a loss through the block against a central difference along a random
    unit direction of all parameters (float32: a step of 3e-3, a tolerance of 1 %)."""
    mlp = _mlp(name, 8)
    params = mlp.init(jax.random.PRNGKey(2), _x())
    if name == "rezero":  # away from alpha = 0, where the branch's gradients are exactly 0
        inner = dict(params["params"])
        inner["blocks"] = {**inner["blocks"], "alpha": jnp.full((2,), 0.5)}
        params = {"params": inner}

    def loss(p: Any) -> jax.Array:
        return jnp.sum(jnp.sin(mlp.apply(p, _x())))

    leaves, tree = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(jax.random.PRNGKey(3), len(leaves))
    raw = [jax.random.normal(k, x.shape) for k, x in zip(keys, leaves, strict=True)]
    norm = jnp.sqrt(sum(jnp.sum(d * d) for d in raw))
    direction = tree.unflatten([d / norm for d in raw])
    grad = jax.grad(loss)(params)
    analytic = sum(
        float(jnp.vdot(g, d))
        for g, d in zip(
            jax.tree_util.tree_leaves(grad), jax.tree_util.tree_leaves(direction), strict=True
        )
    )
    eps = 3e-3
    plus = jax.tree_util.tree_map(lambda p, d: p + eps * d, params, direction)
    minus = jax.tree_util.tree_map(lambda p, d: p - eps * d, params, direction)
    numeric = (float(loss(plus)) - float(loss(minus))) / (2 * eps)
    assert abs(analytic) > 1e-3  # the check must see a gradient
    assert analytic == pytest.approx(numeric, rel=1e-2, abs=1e-4)
    # Every parameter of the block gets a gradient.
    assert all(float(jnp.abs(g).max()) > 0 for g in jax.tree_util.tree_leaves(grad))


@pytest.mark.parametrize("name", blocks.NAMES)
def test_remat_and_bfloat16_give_the_same_network(name: str) -> None:
    base = _mlp(name, 8)
    params = base.init(jax.random.PRNGKey(4), _x())
    y = np.asarray(base.apply(params, _x()))
    remat = np.asarray(_mlp(name, 8, remat=True).apply(params, _x()))
    np.testing.assert_allclose(remat, y, rtol=1e-6, atol=1e-6)
    bf16 = _mlp(name, 8, dtype="bfloat16").apply(params, _x())
    assert bf16.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(bf16), y, rtol=0.1, atol=0.1)


def test_simbav2_features_and_kernels_are_on_the_unit_sphere() -> None:
    mlp = ResidualMLP(8, WIDTH, None, block="simbav2")
    params = mlp.init(jax.random.PRNGKey(5), _x())
    features = mlp.apply(params, 10.0 * _x())
    np.testing.assert_allclose(np.linalg.norm(np.asarray(features), axis=-1), 1.0, rtol=1e-5)
    kernels = _hyper_kernels(params)
    assert len(kernels) == 1 + 2  # the embedding's and the blocks' two (stacked over 4 blocks)
    for kernel in kernels:
        np.testing.assert_allclose(np.linalg.norm(np.asarray(kernel), axis=-2), 1.0, rtol=1e-5)


def test_simbav2_projection_after_a_step_keeps_norms_at_one_and_nothing_else() -> None:
    mlp = _mlp("simbav2", 8)
    params = mlp.init(jax.random.PRNGKey(6), _x())
    moved = jax.tree_util.tree_map(lambda x: 1.7 * x + 0.1, params)  # off the sphere
    projected = project(moved)
    for kernel in _hyper_kernels(projected):
        np.testing.assert_allclose(np.linalg.norm(np.asarray(kernel), axis=-2), 1.0, rtol=1e-5)
    for path, leaf in jax.tree_util.tree_leaves_with_path(projected):
        if "HyperDense" not in jax.tree_util.keystr(path):  # scalers, head: untouched
            before = moved
            for key in path:
                before = before[key.key]
            np.testing.assert_array_equal(np.asarray(leaf), np.asarray(before))
    assert weight_projection("simbav2") is project
    assert weight_projection("residual") is None and weight_projection("rezero") is None
    # Without a projection, apply_updates is optax's.
    step = jax.tree_util.tree_map(lambda x: 0.5 * jnp.ones_like(x), params)
    plain = apply_updates(params, step, None)
    assert all(
        np.array_equal(np.asarray(a), np.asarray(b) + 0.5)
        for a, b in zip(
            jax.tree_util.tree_leaves(plain), jax.tree_util.tree_leaves(params), strict=True
        )
    )


def test_rezero_is_its_input_layer_at_initialisation() -> None:
    deep = ResidualMLP(16, WIDTH, None, block="rezero")
    params = deep.init(jax.random.PRNGKey(8), _x())
    assert params["params"]["blocks"]["alpha"].shape == (4,)
    np.testing.assert_array_equal(np.asarray(params["params"]["blocks"]["alpha"]), 0.0)
    first = {"params": params["params"]["input"]}
    embed = blocks.get("rezero").embed(WIDTH, "swish", True, "float32")
    np.testing.assert_allclose(
        np.asarray(deep.apply(params, _x())), np.asarray(embed.apply(first, _x())), atol=1e-6
    )


def _cfg(name: str, block: str) -> RunConfig:
    return RunConfig.model_validate(
        {
            "network": {
                "critic_depth": 4,
                "actor_depth": 4,
                "width": 8,
                "repr_dim": 4,
                "block": block,
            },
            "algo": {"name": name, "batch_size": B},
        }
    )


@pytest.mark.parametrize("name", ["crl", "sac"])
def test_an_agent_update_with_simbav2_keeps_every_kernel_on_the_sphere(name: str) -> None:
    agent: Any = make_agent(_cfg(name, "simbav2"), S, G, A)
    state = agent.init(jax.random.PRNGKey(0))
    rng = np.random.default_rng(0)
    f = lambda *shape: jnp.asarray(rng.normal(size=shape), jnp.float32)  # noqa: E731
    if name == "crl":
        batch: Any = Batch(f(B, S), jnp.tanh(f(B, A)), f(B, G))
    else:
        batch = Transition(f(B, S), jnp.tanh(f(B, A)), f(B, S), f(B, G), jnp.ones(B), jnp.ones(B))
    new, _ = jax.jit(agent.update)(state, batch, jax.random.PRNGKey(1))
    for before, after in (
        (state.actor_params, new.actor_params),
        (state.critic_params, new.critic_params),
    ):
        kernels = _hyper_kernels(after)
        assert kernels
        for kernel in kernels:
            norms = np.linalg.norm(np.asarray(kernel), axis=-2)
            np.testing.assert_allclose(norms, 1.0, rtol=1e-5)
        changed = [
            not np.array_equal(np.asarray(a), np.asarray(b))
            for a, b in zip(_hyper_kernels(before), kernels, strict=True)
        ]
        assert all(changed)  # the step moved them, the projection put them back


def test_spec_field_and_run_ids() -> None:
    plain = RunConfig.model_validate({})
    assert plain.network.block == "residual"
    explicit = RunConfig.model_validate({"network": {"block": "residual"}})
    assert run_id(explicit) == run_id(plain)  # the default leaves the run ids as they were
    ids = {run_id(RunConfig.model_validate({"network": {"block": b}})) for b in blocks.NAMES}
    assert len(ids) == len(blocks.NAMES)
    with pytest.raises(ValueError, match="unknown block 'resnet'"):
        RunConfig.model_validate({"network": {"block": "resnet"}})
    with pytest.raises(ValueError, match="residual: false is the ablation"):
        RunConfig.model_validate({"network": {"block": "rezero", "residual": False}})
