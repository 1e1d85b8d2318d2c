"""The paper's residual MLP: parameter counts, skip structure, scan over depth, switches."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from harness.networks import (
    LOG_STD_MAX,
    LOG_STD_MIN,
    Actor,
    ResidualMLP,
    encoder_param_count,
    param_count,
)

HUMANOID_SA = 268 + 17  # humanoid state + action, the input of phi(s, a)


def _init(module: ResidualMLP | Actor, in_dim: int) -> dict:
    return jax.jit(module.init)(jax.random.PRNGKey(0), jnp.zeros((1, in_dim)))


def test_depth64_width256_state_action_encoder_is_about_4_3m() -> None:
    params = _init(ResidualMLP(64, 256, 64), HUMANOID_SA)
    count = param_count(params)
    assert count == encoder_param_count(HUMANOID_SA, 64, 256, 64)
    assert 4.2e6 < count < 4.4e6  # Wang et al. 2025: 4.3 M


def test_closed_form_counts_match_paper_table() -> None:
    # depth 4: 0.36 M, 32: 2.2 M, 1024: 68 M (paper.md, "Parameter counts at width 256").
    assert encoder_param_count(HUMANOID_SA, 4, 256, 64) == pytest.approx(0.36e6, rel=0.05)
    assert encoder_param_count(HUMANOID_SA, 32, 256, 64) == pytest.approx(2.2e6, rel=0.05)
    assert encoder_param_count(HUMANOID_SA, 1024, 256, 64) == pytest.approx(68e6, rel=0.02)


def test_blocks_are_stacked_on_a_leading_depth_axis() -> None:
    params = _init(ResidualMLP(16, 32, 8), 10)["params"]
    kernels = [
        leaf
        for path, leaf in jax.tree_util.tree_leaves_with_path(params["blocks"])
        if "kernel" in jax.tree_util.keystr(path)
    ]
    assert len(kernels) == 4  # 4 Dense layers per block
    assert all(k.shape == (4, 32, 32) for k in kernels)  # 16 layers = 4 blocks, stacked
    assert params["input"]["Dense_0"]["kernel"].shape == (10, 32)
    assert params["head"]["kernel"].shape == (32, 8)


def test_skip_connection_adds_block_input_after_fourth_activation() -> None:
    x = jax.random.normal(jax.random.PRNGKey(1), (3, 6))
    with_skip = ResidualMLP(4, 16, None)
    params = _init(with_skip, 6)
    trunk = ResidualMLP(4, 16, None, residual=False)
    # Same parameters, applied with and without the skip, give different features.
    h_skip = with_skip.apply(params, x)
    h_plain = trunk.apply(params, x)
    assert not np.allclose(np.asarray(h_skip), np.asarray(h_plain))
    # Zero the last layer of the block: LayerNorm's output is then its bias (0), swish(0) = 0,
    # so a residual block returns exactly its input.
    zeroed = jax.tree_util.tree_map(lambda v: v, params)
    ln = zeroed["params"]["blocks"]["_Layer_3"]["LayerNorm_0"]
    ln["scale"] = jnp.zeros_like(ln["scale"])
    first = jax.nn.swish(
        _layer_norm(
            x @ params["params"]["input"]["Dense_0"]["kernel"]
            + params["params"]["input"]["Dense_0"]["bias"]
        )
    )
    np.testing.assert_allclose(np.asarray(with_skip.apply(zeroed, x)), np.asarray(first), atol=1e-5)


def _layer_norm(x: jax.Array) -> jax.Array:
    mean = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return (x - mean) / jnp.sqrt(var + 1e-6)


def test_no_layer_norm_ablation_has_no_norm_params() -> None:
    params = _init(ResidualMLP(8, 16, 4, layer_norm=False), 5)
    names = str(jax.tree_util.tree_structure(params))
    assert "LayerNorm" not in names
    assert param_count(params) == encoder_param_count(5, 8, 16, 4, layer_norm=False)


def test_activation_switch_changes_outputs() -> None:
    x = jax.random.normal(jax.random.PRNGKey(2), (4, 5))
    swish = ResidualMLP(4, 16, 3)
    relu = ResidualMLP(4, 16, 3, activation="relu")
    params = _init(swish, 5)
    assert not np.allclose(np.asarray(swish.apply(params, x)), np.asarray(relu.apply(params, x)))


def test_remat_and_bfloat16_keep_float32_params_and_close_outputs() -> None:
    x = jax.random.normal(jax.random.PRNGKey(4), (4, 5))
    base = ResidualMLP(8, 32, 3)
    params = _init(base, 5)
    remat = ResidualMLP(8, 32, 3, remat=True)
    bf16 = ResidualMLP(8, 32, 3, dtype="bfloat16")
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree_util.tree_leaves(_init(bf16, 5)))
    y = np.asarray(base.apply(params, x))
    np.testing.assert_allclose(np.asarray(remat.apply(params, x)), y, atol=1e-5)
    np.testing.assert_allclose(np.asarray(bf16.apply(params, x)), y, atol=0.1)


def _equations(jaxpr: jax.extend.core.Jaxpr) -> list:
    """Every equation of a jaxpr and of the jaxprs nested in it (scan, remat, pjit bodies)."""
    found = []
    for eqn in jaxpr.eqns:
        found.append(eqn)
        for value in eqn.params.values():
            for sub in value if isinstance(value, (list, tuple)) else [value]:
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    found.extend(_equations(inner))
    return found


@pytest.mark.parametrize("scan", [True, False])
def test_bfloat16_runs_matmuls_in_bf16_and_keeps_the_residual_carry_float32(scan: bool) -> None:
    net = ResidualMLP(12, 32, 3, dtype="bfloat16", scan=scan)
    params = _init(net, 5)
    x = jax.random.normal(jax.random.PRNGKey(6), (4, 5))
    eqns = _equations(jax.make_jaxpr(net.apply)(params, x).jaxpr)
    dots = [e for e in eqns if e.primitive.name == "dot_general"]
    assert dots and all(v.aval.dtype == jnp.bfloat16 for e in dots[:-1] for v in e.invars)
    if scan:
        scans = [e for e in eqns if e.primitive.name == "scan"]
        assert scans
        for e in scans:
            carry = e.outvars[: e.params["num_carry"]]
            assert [v.aval.dtype for v in carry] == [jnp.float32] * len(carry)
    else:
        _, state = net.apply(params, x, capture_intermediates=True)
        outputs = [
            v["__call__"][0][0] for k, v in state["intermediates"].items() if k.startswith("block_")
        ]
        assert len(outputs) == 3 and all(o.dtype == jnp.float32 for o in outputs)


def test_actor_log_std_is_bounded() -> None:
    actor = Actor(action_dim=3, depth=4, width=16)
    params = _init(actor, 7)
    mean, log_std = actor.apply(params, 100.0 * jax.random.normal(jax.random.PRNGKey(5), (64, 7)))
    assert mean.shape == (64, 3) and log_std.shape == (64, 3)
    assert float(log_std.min()) >= LOG_STD_MIN and float(log_std.max()) <= LOG_STD_MAX


@pytest.mark.slow  # .ci/run runs it after the default suite
def test_bench_cli_update_forms(capsys: pytest.CaptureFixture[str]) -> None:
    """`harness bench` builds every update form of the CRL update (tiny sizes)."""
    from harness.cli import main

    code = main(
        ["bench", "--depths", "8", "--width", "16", "--batch", "8", "--repeats", "2", "--json"]
    )
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert code == 0
    assert [r["form"] for r in rows] == ["scan", "scan+remat", "unrolled"]
    assert len({r["params_m"] for r in rows}) == 1  # same network in every form
    assert all(r["update_ms"] > 0 and r["compile_s"] > 0 and r["gflops"] > 0 for r in rows)
    scan, remat, _ = rows
    # remat keeps less for the backward pass (with two blocks or more: at depth 4 there is only
    # one, and the bytes of the loss's own temporaries decide)
    assert remat["xla_mem_mb"] <= scan["xla_mem_mb"]

    assert main(["bench", "--forms", "scan,bogus"]) == 2


@pytest.mark.slow
def test_bench_cli_training_throughput(capsys: pytest.CaptureFixture[str]) -> None:
    """`harness bench --train` runs the real training loop and counts recompilations (the
    default suite checks perf/recompiles == 0 in tests/test_e2e.py)."""
    from harness.cli import main

    code = main(
        [
            "bench",
            "--train",
            "point_u_maze",
            "--depths",
            "4",
            "--width",
            "16",
            "--batch",
            "16",
            "--num-envs",
            "4",
            "--unroll-length",
            "40",
            "--iterations",
            "2",
            "--json",
        ]
    )
    (train,) = json.loads(capsys.readouterr().out)["rows"]
    assert code == 0
    assert train["recompiles"] == 0
    assert train["grad_steps_per_iter"] == 4  # 4 envs x 40 steps / 40
    assert train["env_steps_per_s"] > 0 and train["grad_steps_per_s"] > 0
