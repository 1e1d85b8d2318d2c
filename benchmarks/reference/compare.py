"""Side-by-side numerical comparison of the harness with the reference implementation's code.

Usage (from the repository root, inside the harness venv)::

    python benchmarks/reference/compare.py --reference PATH/TO/scaling-crl \\
        [--venv .reference-venv] [--json OUT.json]

The reference (wang-kevin3290/scaling-crl) needs jax 0.4.23 and flax 0.7.4, the harness jax
0.10: the two cannot share a process. This script builds the reference's pinned environment in
a venv of its own (:mod:`reference_env`, once), writes parameters, inputs and PRNG keys to an
``.npz`` file, runs :mod:`ref_worker` with the reference venv's Python (which evaluates the
reference's own ``train.py`` and ``buffer.py`` code from the given checkout), evaluates the
harness on the same arrays here, and compares. Each check prints one line::

    check-name  statistic  tolerance  PASS | FAIL | EXPLAINED (reason)

and the exit status is 0 when every check passes or is explained, 1 otherwise. See
``benchmarks/reference/README.md`` for what each check means.

PRNG: both processes run with ``jax_threefry_partitionable = False`` (jax 0.4.23's default; jax
0.10's default is True), so the same key gives the same ``jax.random.normal`` draws in both
codes; check ``prng/normal`` verifies it on the actor's keys.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for _path in (str(HERE), str(ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import reference_env  # noqa: E402
from ref_worker import _OutputsActor, flatten, unflatten  # noqa: E402

#: Threefry mode used by both processes (jax 0.4.23's default).
THREEFRY_PARTITIONABLE = False
#: Sizes: the ant's state (29), goal slice 0:2 and action (8); small width and batch.
DIMS: dict[str, Any] = {
    "obs_dim": 29,
    "goal_start": 0,
    "goal_end": 2,
    "action": 8,
    "batch": 64,
    "width": 64,
    "lr": 3e-4,
}
#: Cases: depth, factors applied to the actor's mean and log-std head kernels, the checks run,
#: the harness forms updated, and whether the reference's update is jitted.
ALL_CHECKS = ("forward", "critic", "actor")
CASES: dict[str, dict[str, Any]] = {
    # Heads scaled down: |u| = |mean + std * eps| stays below 4, so no action is near +-1.
    "d4": {
        "depth": 4,
        "mean_scale": 0.2,
        "log_std_scale": 0.2,
        "checks": ALL_CHECKS,
        "update_forms": ("scan", "unrolled"),
        "update_jit_reference": True,
    },
    "d16": {
        "depth": 16,
        "mean_scale": 0.2,
        "log_std_scale": 0.2,
        "checks": ALL_CHECKS,
        "update_forms": ("scan",),
        "update_jit_reference": False,
    },
    # Mean head x 12: a third of the actions saturate (deep actors' state at init).
    "d16sat": {
        "depth": 16,
        "mean_scale": 12.0,
        "log_std_scale": 1.0,
        "checks": ("actor",),
        "update_forms": (),
        "update_jit_reference": False,
    },
}
ALPHA_CASE = "d4"
FORMS = ("scan", "unrolled")
LOG_ALPHA = -0.7
UPDATE_STEPS = 2
#: Goal-offset check: replay size per env, envs, window (episode_length), gamma, draws.
OFFSETS: dict[str, Any] = {"size": 300, "envs": 8, "window": 50, "gamma": 0.99, "draws": 4000}

# Tolerances (see README.md): float32 rounding, amplified by depth.
TOL_FORWARD = 1e-5  # max |h - r| / max |r|
TOL_LOSS = 1e-5  # |h - r| / |r|
TOL_GRAD = 1e-4  # worst parameter leaf: ||h - r||_2 / ||r||_2
TOL_ALPHA = 1e-6
TOL_UPDATE = 1e-3  # ||dp_h - dp_r|| / ||dp_r|| of actor, critic, log alpha; dp = p_t - p_0
TOL_P = 1e-3  # chi-square p-values
#: float32 ``tanh`` is probed on this grid for where it first returns exactly 1.
TANH_GRID = np.arange(0.0, 10.0, 1e-4, dtype=np.float32)
#: An action within this many float32 spacings (2^-24) of +-1 has ``1 - tanh(u)^2`` resolved
#: to worse than 1 / NEAR_SATURATION_ULPS = TOL_GRAD relative (|u| > 4.1).
NEAR_SATURATION_ULPS = 1e4


@dataclass
class Check:
    """One compared quantity: its printed line and the numbers behind it."""

    name: str
    statistic: str
    tolerance: str
    verdict: str
    reason: str = ""
    values: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        text = f"{self.name:<34s} {self.statistic:<44s} {self.tolerance:<12s} {self.verdict}"
        return f"{text} ({self.reason})" if self.reason else text


# ---------------------------------------------------------------------------------------------
# Parameter trees: harness (scanned or unrolled) <-> the reference's flax linen names.
# ---------------------------------------------------------------------------------------------


def _trunk_to_ref(trunk: Mapping[str, Any], depth: int, scanned: bool) -> dict[str, Any]:
    """Harness ``ResidualMLP`` params (input, blocks / block_k) -> reference ``Dense_k`` /
    ``LayerNorm_k`` (creation order: input layer 0, block b layer m -> 1 + 4 b + m)."""
    out: dict[str, Any] = {
        "Dense_0": dict(trunk["input"]["Dense_0"]),
        "LayerNorm_0": dict(trunk["input"]["LayerNorm_0"]),
    }
    for b in range(depth // 4):
        for m in range(4):
            if scanned:
                layer = {
                    mod: {
                        k: np.asarray(v)[b] for k, v in trunk["blocks"][f"_Layer_{m}"][mod].items()
                    }
                    for mod in ("Dense_0", "LayerNorm_0")
                }
            else:
                layer = trunk[f"block_{b}"][f"_Layer_{m}"]
            idx = 1 + 4 * b + m
            out[f"Dense_{idx}"] = dict(layer["Dense_0"])
            out[f"LayerNorm_{idx}"] = dict(layer["LayerNorm_0"])
    return out


def _trunk_from_ref(ref: Mapping[str, Any], depth: int, scanned: bool) -> dict[str, Any]:
    """Inverse of :func:`_trunk_to_ref`."""
    trunk: dict[str, Any] = {
        "input": {"Dense_0": dict(ref["Dense_0"]), "LayerNorm_0": dict(ref["LayerNorm_0"])}
    }
    blocks = depth // 4
    for m in range(4):
        layers = [
            {
                "Dense_0": dict(ref[f"Dense_{1 + 4 * b + m}"]),
                "LayerNorm_0": dict(ref[f"LayerNorm_{1 + 4 * b + m}"]),
            }
            for b in range(blocks)
        ]
        if scanned and blocks:
            trunk.setdefault("blocks", {})[f"_Layer_{m}"] = {
                mod: {k: np.stack([lay[mod][k] for lay in layers]) for k in layers[0][mod]}
                for mod in ("Dense_0", "LayerNorm_0")
            }
        else:
            for b, lay in enumerate(layers):
                trunk.setdefault(f"block_{b}", {})[f"_Layer_{m}"] = lay
    return trunk


def actor_to_ref(tree: Mapping[str, Any], depth: int, scanned: bool) -> dict[str, Any]:
    """Harness ``Actor`` params -> the reference ``Actor``'s (mean head ``Dense_{depth+1}``,
    log-std head ``Dense_{depth+2}``)."""
    p = tree["params"]
    out = _trunk_to_ref(p["trunk"], depth, scanned)
    out[f"Dense_{depth + 1}"] = dict(p["mean"])
    out[f"Dense_{depth + 2}"] = dict(p["log_std"])
    return {"params": out}


def actor_from_ref(ref: Mapping[str, Any], depth: int, scanned: bool) -> dict[str, Any]:
    p = ref["params"]
    return {
        "params": {
            "trunk": _trunk_from_ref(p, depth, scanned),
            "mean": dict(p[f"Dense_{depth + 1}"]),
            "log_std": dict(p[f"Dense_{depth + 2}"]),
        }
    }


def critic_to_ref(tree: Mapping[str, Any], depth: int, scanned: bool) -> dict[str, Any]:
    """Harness ``Critic`` params -> ``{"sa_encoder": {"params"}, "g_encoder": {"params"}}`` of
    the reference's ``SA_encoder`` / ``G_encoder`` (head ``Dense_{depth+1}``)."""
    out: dict[str, Any] = {}
    for enc in ("sa_encoder", "g_encoder"):
        p = tree["params"][enc]
        ref = _trunk_to_ref(p, depth, scanned)
        ref[f"Dense_{depth + 1}"] = dict(p["head"])
        out[enc] = {"params": ref}
    return out


def critic_from_ref(ref: Mapping[str, Any], depth: int, scanned: bool) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for enc in ("sa_encoder", "g_encoder"):
        p = ref[enc]["params"]
        trunk = _trunk_from_ref(p, depth, scanned)
        trunk["head"] = dict(p[f"Dense_{depth + 1}"])
        params[enc] = trunk
    return {"params": params}


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


def _perturb(flat: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Non-zero biases and LayerNorm offsets, non-unit LayerNorm scales (at init they are 0 and
    1, which would hide a wrong mapping of those leaves)."""
    out = {}
    for name, value in flat.items():
        v = np.asarray(value, np.float32)
        if name.endswith("/bias"):
            v = v + rng.normal(0.0, 0.1, v.shape).astype(np.float32)
        elif name.endswith("/scale"):
            v = v * (1.0 + rng.normal(0.0, 0.1, v.shape)).astype(np.float32)
        out[name] = v
    return out


def _batch(rng: np.random.Generator, prefix: str) -> dict[str, np.ndarray]:
    d = DIMS
    b, obs, goal_dim = d["batch"], d["obs_dim"], d["goal_end"] - d["goal_start"]
    state = rng.normal(size=(b, obs)).astype(np.float32)
    goal = (2.0 * rng.normal(size=(b, goal_dim))).astype(np.float32)
    future = rng.normal(size=(b, obs)).astype(np.float32)
    future[:, d["goal_start"] : d["goal_end"]] = goal
    action = rng.uniform(-0.99, 0.99, size=(b, d["action"])).astype(np.float32)
    return {
        f"{prefix}/state": state,
        f"{prefix}/goal": goal,
        f"{prefix}/future_state": future,
        f"{prefix}/action": action,
    }


def trajectory_ids(rng: np.random.Generator) -> tuple[np.ndarray, dict[str, list[int]]]:
    """``[size, envs]`` trajectory ids: episodes of several lengths (1 step to longer than the
    buffer), the first one begun before the buffer's first step, the last one still running."""
    size, envs = OFFSETS["size"], OFFSETS["envs"]
    lengths_pool = [1, 2, 5, 13, 30, 48, 49, 50, 51, 52, 75, 120, 260]
    ids = np.zeros((size, envs), np.int64)
    lengths: dict[str, list[int]] = {}
    for e in range(envs):
        if e == 0:
            episode = [size + 40]  # one trajectory longer than the whole buffer
        else:
            episode = []
            while sum(episode) < size + 60:
                episode.append(int(rng.choice(lengths_pool)))
        cut = int(rng.integers(0, episode[0])) if e else 40  # steps of the first one lost
        col = np.repeat(np.arange(len(episode)) + 3 * e, episode)[cut : cut + size]
        ids[:, e] = col
        stored = np.diff(np.flatnonzero(np.append(np.append(True, col[1:] != col[:-1]), True)))
        lengths[f"env{e}"] = stored.tolist()
    return ids, lengths


# ---------------------------------------------------------------------------------------------
# Harness side
# ---------------------------------------------------------------------------------------------


def _agent(depth: int, scanned: bool) -> Any:
    from harness.agents.crl import CRL
    from harness.spec import RunConfig

    d = DIMS
    cfg = RunConfig.model_validate(
        {
            "env": {"id": "ant_u_maze"},
            "network": {
                "critic_depth": depth,
                "actor_depth": depth,
                "width": d["width"],
                "repr_dim": 64,
                "scan": scanned,
            },
            "algo": {"batch_size": d["batch"]},
        }
    )
    return CRL(cfg, d["obs_dim"], d["goal_end"] - d["goal_start"], d["action"])


def harness_results(arr: Mapping[str, np.ndarray]) -> dict[tuple[str, str], dict[str, Any]]:
    """Everything the checks need from the harness, per (case, form).

    One agent and one set of jitted functions per (depth, form), shared by the cases of that
    depth (same shapes: compiled once).
    """
    import jax
    import jax.numpy as jnp

    from harness.agents.crl import Batch, CRLState

    def batch_of(prefix: str) -> Any:
        return Batch(
            jnp.asarray(arr[f"{prefix}/state"]),
            jnp.asarray(arr[f"{prefix}/action"]),
            jnp.asarray(arr[f"{prefix}/goal"]),
        )

    batch = batch_of("batch")
    obs = jnp.concatenate([batch.state, batch.goal], axis=-1)
    log_alpha = jnp.asarray(arr["log_alpha"], jnp.float32)
    results: dict[tuple[str, str], dict[str, Any]] = {}
    for depth in sorted({spec["depth"] for spec in CASES.values()}):
        for form in FORMS:
            scanned = form == "scan"
            agent = _agent(depth, scanned)
            outputs_agent = _agent(depth, scanned)
            outputs_agent.actor = _OutputsActor()
            actor_fwd = jax.jit(agent.actor.apply)
            critic_fwd = jax.jit(agent.critic.apply)
            critic_grad = jax.jit(jax.value_and_grad(agent.critic_loss, has_aux=True))
            actor_grad = jax.jit(jax.value_and_grad(agent.actor_loss, has_aux=True))
            out_grad = jax.jit(jax.value_and_grad(outputs_agent.actor_loss, has_aux=True))
            update = jax.jit(agent.update)
            for case, spec in CASES.items():
                if spec["depth"] != depth:
                    continue
                a_params = actor_from_ref(unflatten(arr, f"{case}/actor"), depth, scanned)
                c_params = critic_from_ref(unflatten(arr, f"{case}/critic"), depth, scanned)
                a_params = jax.tree_util.tree_map(jnp.asarray, a_params)
                c_params = jax.tree_util.tree_map(jnp.asarray, c_params)
                key = jnp.asarray(arr[f"{case}/key"], jnp.uint32)
                out: dict[str, Any] = {"structure_actor": a_params, "structure_critic": c_params}
                mean, log_std = actor_fwd(a_params, obs)
                if "forward" in spec["checks"]:
                    phi, psi = critic_fwd(c_params, batch.state, batch.action, batch.goal)
                    out["forward"] = {"mean": mean, "log_std": log_std, "phi": phi, "psi": psi}
                if "critic" in spec["checks"]:
                    (c_loss, _), c_g = critic_grad(c_params, batch)
                    out["critic_loss"] = c_loss
                    out["critic_grad"] = flatten(critic_to_ref(c_g, depth, scanned))
                if "actor" in spec["checks"]:
                    (a_loss, (_, log_prob)), a_g = actor_grad(
                        a_params, c_params, log_alpha, batch, key
                    )
                    out["actor_loss"] = a_loss
                    out["log_prob"] = log_prob
                    out["actor_grad"] = flatten(actor_to_ref(a_g, depth, scanned))
                    _, (g_mean, g_log_std) = out_grad(
                        (mean, log_std), c_params, log_alpha, batch, key
                    )
                    out["actor_out_grad"] = {"mean": g_mean, "log_std": g_log_std}
                    noise = jax.random.normal(key, mean.shape, mean.dtype)
                    out["noise"] = noise
                    out["u"] = mean + jnp.exp(log_std) * noise
                    out["action"] = jnp.tanh(out["u"])  # as tanh_gaussian_sample forms it
                if form in spec["update_forms"]:
                    # The reference's sgd_step splits its carried key into (key, critic, actor).
                    state = CRLState(
                        actor_params=a_params,
                        critic_params=c_params,
                        log_alpha=log_alpha,
                        actor_opt=agent.actor_tx.init(a_params),
                        critic_opt=agent.critic_tx.init(c_params),
                        alpha_opt=agent.alpha_tx.init(log_alpha),
                    )
                    carried = jnp.asarray(arr["update/key"], jnp.uint32)
                    steps = []
                    for step in range(UPDATE_STEPS):
                        carried, _, actor_key = jax.random.split(carried, 3)
                        state, metrics = update(state, batch_of(f"update/batch{step}"), actor_key)
                        steps.append(
                            {
                                "actor": flatten(actor_to_ref(state.actor_params, depth, scanned)),
                                "critic": flatten(
                                    critic_to_ref(state.critic_params, depth, scanned)
                                ),
                                "log_alpha": state.log_alpha,
                                "metrics": {
                                    k: metrics[k]
                                    for k in ("actor_loss", "alpha_loss", "critic_loss")
                                },
                            }
                        )
                    out["update"] = steps
                if case == ALPHA_CASE and form == "scan":
                    alpha_loss, alpha_grad = jax.value_and_grad(agent.alpha_loss)(
                        log_alpha, jnp.asarray(arr["alpha/log_prob"])
                    )
                    out["alpha"] = {"loss": alpha_loss, "grad": alpha_grad}
                results[case, form] = jax.tree_util.tree_map(np.asarray, out)
    return results


# ---------------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------------


def _rel_max(h: np.ndarray, r: np.ndarray) -> float:
    h, r = np.asarray(h, np.float64), np.asarray(r, np.float64)
    return float(np.max(np.abs(h - r)) / max(float(np.max(np.abs(r))), 1e-30))


def _rel_scalar(h: Any, r: Any) -> float:
    h, r = float(h), float(r)
    return abs(h - r) / max(abs(r), 1e-30)


def _leaf_rel(h: Mapping[str, np.ndarray], r: Mapping[str, np.ndarray]) -> tuple[float, str]:
    """Worst leaf of ``||h - r||_2 / ||r||_2`` over matching names."""
    if set(h) != set(r):
        raise KeyError(f"parameter names differ: {sorted(set(h) ^ set(r))[:6]}")
    worst, where = 0.0, ""
    for name in sorted(r):
        a, b = np.asarray(h[name], np.float64), np.asarray(r[name], np.float64)
        rel = float(np.linalg.norm(a - b) / max(float(np.linalg.norm(b)), 1e-30))
        if rel > worst:
            worst, where = rel, name
    return worst, where


def _dist(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> float:
    """``||a - b||_2`` over all leaves."""
    return float(
        np.sqrt(
            sum(
                np.sum((np.asarray(a[k], np.float64) - np.asarray(b[k], np.float64)) ** 2)
                for k in b
            )
        )
    )


def _sub(out: Mapping[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    start = prefix + "/"
    return {k[len(start) :]: v for k, v in out.items() if k.startswith(start)}


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def check_structure(
    h: Mapping[str, Any], ref: Mapping[str, np.ndarray], case: str, depth: int, form: str
) -> Check:
    """The mapped harness trees have the reference's own leaf names and shapes
    (``Actor.init`` / ``SA_encoder.init`` / ``G_encoder.init`` in the reference venv), and the
    mapping covers every harness parameter."""
    scanned = form == "scan"
    mapped = {
        **flatten(actor_to_ref(h["structure_actor"], depth, scanned), "actor"),
        **flatten(critic_to_ref(h["structure_critic"], depth, scanned), "critic"),
    }
    mine = {k: list(np.shape(v)) for k, v in mapped.items()}
    theirs = json.loads(str(ref[f"{case}/structure"]))
    harness_size = sum(
        np.size(v)
        for tree in (h["structure_actor"], h["structure_critic"])
        for v in flatten(tree).values()
    )
    mapped_size = sum(np.size(v) for v in mapped.values())
    ok = mine == theirs and harness_size == mapped_size
    diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
    return Check(
        f"params/structure/{case}/{form}",
        f"{len(theirs)} leaves, {harness_size} scalars mapped",
        "equal",
        _verdict(ok),
        "" if ok else f"differ: {diff[:4]}, harness {harness_size} vs mapped {mapped_size}",
        {"leaves": len(theirs), "harness_scalars": harness_size, "mapped_scalars": mapped_size},
    )


def check_forward(
    h: Mapping[str, Any], ref: Mapping[str, np.ndarray], case: str, form: str
) -> list[Check]:
    checks = []
    for net, outs in (("critic", ("phi", "psi")), ("actor", ("mean", "log_std"))):
        rels = {o: _rel_max(h["forward"][o], ref[f"{case}/forward/{o}"]) for o in outs}
        abss = {
            o: float(
                np.max(np.abs(np.asarray(h["forward"][o], np.float64) - ref[f"{case}/forward/{o}"]))
            )
            for o in outs
        }
        worst = max(rels, key=lambda o: rels[o])
        checks.append(
            Check(
                f"forward/{net}/{case}/{form}",
                f"max rel {rels[worst]:.2e} ({worst}; abs {abss[worst]:.1e})",
                f"{TOL_FORWARD:.0e}",
                _verdict(rels[worst] <= TOL_FORWARD),
                values={"rel": rels, "abs": abss},
            )
        )
    return checks


def check_critic_loss(
    h: Mapping[str, Any],
    ref: Mapping[str, np.ndarray],
    ref64: Mapping[str, np.ndarray],
    case: str,
    form: str,
) -> Check:
    loss_rel = _rel_scalar(h["critic_loss"], ref[f"{case}/critic_loss"])
    r_grad = _sub(ref, f"{case}/critic_grad")
    grad_rel, where = _leaf_rel(h["critic_grad"], r_grad)
    r64_grad = _sub(ref64, f"{case}/critic_grad")
    context = {
        "harness_vs_f64": _leaf_rel(h["critic_grad"], r64_grad)[0],
        "reference_vs_f64": _leaf_rel(r_grad, r64_grad)[0],
        "loss_harness": float(h["critic_loss"]),
        "loss_reference": float(ref[f"{case}/critic_loss"]),
        "loss_reference_f64": float(ref64[f"{case}/critic_loss"]),
    }
    ok = loss_rel <= TOL_LOSS and grad_rel <= TOL_GRAD
    return Check(
        f"critic_loss/{case}/{form}",
        f"loss rel {loss_rel:.1e}, grad rel {grad_rel:.1e}",
        f"{TOL_LOSS:.0e}/{TOL_GRAD:.0e}",
        _verdict(ok),
        "" if ok else f"worst leaf {where}",
        {"loss_rel": loss_rel, "grad_rel": grad_rel, "worst_leaf": where, **context},
    )


def check_actor_loss(
    h: Mapping[str, Any],
    ref: Mapping[str, np.ndarray],
    ref64: Mapping[str, np.ndarray],
    case: str,
    form: str,
) -> Check:
    """Loss and gradients. Differences are located per (mean, log_std) entry [B, A] and
    judged against the float64 evaluation of the reference's formulas (same noise)."""
    loss_rel = _rel_scalar(h["actor_loss"], ref[f"{case}/actor_loss"])
    r_grad = _sub(ref, f"{case}/actor_grad")
    r64_grad = _sub(ref64, f"{case}/actor_grad")
    grad_rel, where = _leaf_rel(h["actor_grad"], r_grad)
    u = np.asarray(h["u"], np.float64)
    sat_h = np.abs(np.asarray(h["action"])) == 1.0  # the harness's float32 tanh
    sat_r = np.abs(np.asarray(ref[f"{case}/action"])) == 1.0  # the reference's
    near = (1.0 - np.abs(np.tanh(u))) < NEAR_SATURATION_ULPS * 2.0**-24
    affected = sat_h | sat_r | near
    values: dict[str, Any] = {
        "loss_rel": loss_rel,
        "grad_rel": grad_rel,
        "worst_leaf": where,
        "max_abs_u": float(np.max(np.abs(u))),
        "entries": int(u.size),
        "saturated_harness": int(sat_h.sum()),
        "saturated_reference": int(sat_r.sum()),
        "saturated_harness_only": int((sat_h & ~sat_r).sum()),
        "near_saturation": int(near.sum()),
        "loss_harness": float(h["actor_loss"]),
        "loss_reference": float(ref[f"{case}/actor_loss"]),
        "loss_reference_f64": float(ref64[f"{case}/actor_loss"]),
        "grad_dist_harness_f64": _dist(h["actor_grad"], r64_grad),
        "grad_dist_reference_f64": _dist(r_grad, r64_grad),
        "grad_norm_f64": float(np.sqrt(sum(np.sum(v**2) for v in r64_grad.values()))),
    }
    differ = np.zeros(u.shape, bool)
    closer = np.zeros(u.shape, bool)
    for head in ("mean", "log_std"):
        g_h = np.asarray(h["actor_out_grad"][head], np.float64)
        g_r = np.asarray(ref[f"{case}/actor_out_grad/{head}"], np.float64)
        g_64 = np.asarray(ref64[f"{case}/actor_out_grad/{head}"], np.float64)
        scale = float(np.sqrt(np.mean(g_64**2)))
        d = np.abs(g_h - g_r) > TOL_GRAD * (np.abs(g_64) + scale)
        differ |= d
        closer |= d & (np.abs(g_h - g_64) < np.abs(g_r - g_64))
        values[f"out_grad_{head}_max_abs_diff"] = float(np.max(np.abs(g_h - g_r)))
    lp_h, lp_r = np.asarray(h["log_prob"], np.float64), np.asarray(ref[f"{case}/log_prob"])
    rows_differ = np.abs(lp_h - lp_r) > TOL_LOSS * (np.abs(lp_r) + 1.0)
    values["entries_differing"] = int(differ.sum())
    values["entries_differing_affected"] = int((differ & affected).sum())
    values["entries_differing_harness_closer_f64"] = int(closer.sum())
    values["log_prob_rows_differing"] = int(rows_differ.sum())
    values["log_prob_rows_differing_affected"] = int((rows_differ & affected.any(axis=1)).sum())
    stat = f"loss rel {loss_rel:.1e}, grad rel {grad_rel:.1e}, max|u| {np.max(np.abs(u)):.1f}"
    tol = f"{TOL_LOSS:.0e}/{TOL_GRAD:.0e}"
    name = f"actor_loss/{case}/{form}"
    if loss_rel <= TOL_LOSS and grad_rel <= TOL_GRAD and not differ.any():
        return Check(name, stat, tol, "PASS", "", values)
    only_saturation = bool(np.all(affected[differ])) and bool(
        np.all(affected.any(axis=1)[rows_differ])
    )
    harness_closer = values["grad_dist_harness_f64"] < values["grad_dist_reference_f64"]
    values["harness_closer_to_f64"] = harness_closer
    closer_name = "harness" if harness_closer else "reference"
    reason = (
        f"{differ.sum()}/{u.size} (mean, log_std) entries differ, "
        f"{(differ & affected).sum()} of them with tanh(u) = +-1 or within 1e4 float32 "
        f"spacings of it (tanh = +-1: harness {sat_h.sum()}, reference {sat_r.sum()}); vs "
        f"float64 the {closer_name} is closer: param-grad distance harness "
        f"{values['grad_dist_harness_f64']:.2g}, reference {values['grad_dist_reference_f64']:.2g}"
        f" (|grad| {values['grad_norm_f64']:.3g}); harness closer in {closer.sum()} entries"
    )
    return Check(name, stat, tol, "EXPLAINED" if only_saturation else "FAIL", reason, values)


def _saturation(grid: np.ndarray, values: np.ndarray) -> tuple[float, float]:
    """``(first x with tanh(x) == 1, x from which every grid point gives 1)``."""
    ones = np.asarray(values) == 1.0
    first = float(grid[np.argmax(ones)]) if ones.any() else float("nan")
    below = np.flatnonzero(~ones)
    always = float(grid[below[-1] + 1]) if len(below) and below[-1] + 1 < len(grid) else first
    return first, always


def check_tanh(grid: np.ndarray, h_values: np.ndarray, ref: Mapping[str, np.ndarray]) -> Check:
    """Where each jaxlib's float32 ``tanh`` returns exactly 1 (a library difference: both codes
    compute the action as ``tanh(u)``)."""
    h_first, h_always = _saturation(grid, h_values)
    r_first, r_always = _saturation(grid, ref["tanh/values"])
    differ = int(np.sum(np.asarray(h_values) != ref["tanh/values"]))
    same = differ == 0
    return Check(
        "numerics/tanh-f32",
        f"=1 from x={h_first:.3f} (harness), {r_first:.3f}..{r_always:.3f} (reference)",
        "equal",
        "PASS" if same else "EXPLAINED",
        ""
        if same
        else f"XLA's float32 tanh differs between jaxlib 0.10 and 0.4.23 on {differ} of "
        f"{len(grid)} points of [{grid[0]:.0f}, {grid[-1]:.0f}]; both codes compute tanh(u)",
        {
            "harness_first_one": h_first,
            "harness_all_one_from": h_always,
            "reference_first_one": r_first,
            "reference_all_one_from": r_always,
            "grid_points_differing": differ,
        },
    )


def check_alpha(h: Mapping[str, Any], ref: Mapping[str, np.ndarray]) -> Check:
    loss_rel = _rel_scalar(h["alpha"]["loss"], ref["alpha/loss"])
    grad_rel = _rel_scalar(h["alpha"]["grad"], ref["alpha/grad"])
    ok = max(loss_rel, grad_rel) <= TOL_ALPHA
    return Check(
        "alpha_loss",
        f"loss rel {loss_rel:.1e}, grad rel {grad_rel:.1e}",
        f"{TOL_ALPHA:.0e}",
        _verdict(ok),
        values={
            "loss_rel": loss_rel,
            "grad_rel": grad_rel,
            "loss_harness": float(h["alpha"]["loss"]),
            "loss_reference": float(ref["alpha/loss"]),
        },
    )


def check_update(
    h: Mapping[str, Any],
    ref: Mapping[str, np.ndarray],
    arr: Mapping[str, np.ndarray],
    case: str,
    form: str,
) -> list[Check]:
    """Parameters after each full update, compared through the increments ``dp = p_t - p_0``.

    Statistic: the worst of the actor's, the critic's and log alpha's
    ``||dp_h - dp_r||_2 / ||dp_r||_2`` (each over all its parameters). Adam divides by
    ``sqrt(v) + 1e-8``, so a gradient entry of size ~1e-8 turns its float32 rounding into a
    visible change of that one entry's step: the largest single-entry difference, in units of
    the learning rate, is reported alongside (``max |dp|/lr``), the norms are judged.
    """
    checks = []
    lr = DIMS["lr"]
    for step, hs in enumerate(h["update"]):
        p = f"{case}/update/step{step}"
        parts: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {
            "log_alpha": (
                [np.atleast_1d(np.asarray(hs["log_alpha"], np.float64) - float(arr["log_alpha"]))],
                [
                    np.atleast_1d(
                        np.asarray(ref[f"{p}/log_alpha"], np.float64) - float(arr["log_alpha"])
                    )
                ],
            )
        }
        worst_abs, worst_abs_at = 0.0, ""
        for part in ("actor", "critic"):
            r = _sub(ref, f"{p}/{part}")
            p0 = _sub(arr, f"{case}/{part}")
            if set(r) != set(hs[part]) or set(r) != set(p0):
                raise KeyError(f"{p}/{part}: parameter names differ")
            d_h = [np.asarray(hs[part][k], np.float64) - p0[k] for k in sorted(r)]
            d_r = [np.asarray(r[k], np.float64) - p0[k] for k in sorted(r)]
            parts[part] = (d_h, d_r)
            for name, a, b in zip(sorted(r), d_h, d_r, strict=True):
                m = float(np.max(np.abs(a - b))) / lr
                if m > worst_abs:
                    worst_abs, worst_abs_at = m, f"{part}/{name}"
        rels = {}
        for part, (d_h, d_r) in parts.items():
            num = np.sqrt(sum(np.sum((a - b) ** 2) for a, b in zip(d_h, d_r, strict=True)))
            den = np.sqrt(sum(np.sum(b**2) for b in d_r))
            rels[part] = float(num / max(den, 1e-30))
        worst = max(rels, key=lambda k: rels[k])
        metrics = {
            "actor_loss": _rel_scalar(hs["metrics"]["actor_loss"], ref[f"{p}/metrics/actor_loss"]),
            "alpha_loss": _rel_scalar(hs["metrics"]["alpha_loss"], ref[f"{p}/metrics/alph_aloss"]),
            "critic_loss": _rel_scalar(
                hs["metrics"]["critic_loss"], ref[f"{p}/metrics/critic_loss"]
            ),
        }
        ok = rels[worst] <= TOL_UPDATE and max(metrics.values()) <= TOL_LOSS
        checks.append(
            Check(
                f"update/{case}/{form}/step{step + 1}",
                f"dp rel {rels[worst]:.1e} ({worst}; max |dp|/lr {worst_abs:.0e}), "
                f"losses rel {max(metrics.values()):.0e}",
                f"{TOL_UPDATE:.0e}/{TOL_LOSS:.0e}",
                _verdict(ok),
                "",
                {
                    "increment_rel": rels,
                    "max_abs_diff_over_lr": worst_abs,
                    "max_abs_diff_leaf": worst_abs_at,
                    "losses_rel": metrics,
                },
            )
        )
    return checks


def check_prng(hs: Mapping[str, Mapping[str, Any]], ref: Mapping[str, np.ndarray]) -> Check:
    worst = 0.0
    for case, h in hs.items():
        worst = max(
            worst, float(np.max(np.abs(np.asarray(h["noise"]) - ref[f"{case}/noise_drawn"])))
        )
    return Check(
        "prng/normal",
        f"max |eps_h - eps_r| {worst:.1e}",
        "0",
        _verdict(worst == 0.0),
        f"threefry_partitionable={THREEFRY_PARTITIONABLE} in both",
        {"max_abs_diff": worst},
    )


def _merge_bins(expected: np.ndarray, minimum: float = 5.0) -> list[tuple[int, int]]:
    """Consecutive bins ``[lo, hi)`` each with expected count >= ``minimum``."""
    bins, lo, acc = [], 0, 0.0
    for k, e in enumerate(expected):
        acc += e
        if acc >= minimum:
            bins.append((lo, k + 1))
            lo, acc = k + 1, 0.0
    if lo < len(expected):
        if bins:
            bins[-1] = (bins[-1][0], len(expected))
        else:
            bins.append((lo, len(expected)))
    return bins


def _binned(samples: np.ndarray, bins: list[tuple[int, int]], top: int) -> np.ndarray:
    counts = np.bincount(samples, minlength=top)
    if len(counts) > top:  # offsets beyond the pmf's support go in the last bin (and fail it)
        counts = np.append(counts[: top - 1], counts[top - 1 :].sum())
    return np.array([counts[lo:hi].sum() for lo, hi in bins], np.float64)


def chi2_gof(samples: np.ndarray, pmf: np.ndarray) -> tuple[float, int, float]:
    """Pearson chi-square of ``samples`` against ``pmf`` (bins merged to expected >= 5):
    ``(statistic, dof, p)``."""
    from scipy import stats

    n = len(samples)
    bins = _merge_bins(n * pmf)
    observed = _binned(samples, bins, len(pmf))
    expected = np.array([n * pmf[lo:hi].sum() for lo, hi in bins])
    stat = float(np.sum((observed - expected) ** 2 / expected))
    dof = len(bins) - 1
    return stat, dof, float(stats.chi2.sf(stat, dof))


def chi2_two_sample(a: np.ndarray, b: np.ndarray, pmf: np.ndarray) -> tuple[float, int, float]:
    """Chi-square test of homogeneity of two samples on the bins of :func:`chi2_gof`."""
    from scipy import stats

    bins = _merge_bins(min(len(a), len(b)) * pmf)
    table = np.stack([_binned(a, bins, len(pmf)), _binned(b, bins, len(pmf))])
    table = table[:, table.sum(axis=0) > 0]
    res = stats.chi2_contingency(table, correction=False)
    return float(res.statistic), int(res.dof), float(res.pvalue)


def harness_offsets(traj_id: np.ndarray, n: int, key_seed: int) -> np.ndarray:
    """Offsets ``j - i`` of ``n`` rows of ``harness.replay.sample_window``."""
    import jax
    import jax.numpy as jnp

    from harness.replay import replay_add, replay_init, sample_window

    size, envs = traj_id.shape
    replay = replay_init(size, envs, 2, 1)
    steps = np.broadcast_to(np.arange(size, dtype=np.float32)[:, None], (size, envs))
    env_col = np.broadcast_to(np.arange(envs, dtype=np.float32)[None, :], (size, envs))
    replay = replay_add(
        replay,
        jnp.asarray(np.stack([steps, env_col], axis=-1)),
        jnp.zeros((size, envs, 1)),
        jnp.asarray(traj_id, jnp.int32),
    )
    batch, info = jax.jit(sample_window, static_argnums=(2, 3, 4, 5))(
        replay, jax.random.PRNGKey(key_seed), n, OFFSETS["gamma"], (0,), OFFSETS["window"]
    )
    offset = np.asarray(info["offset"])
    # The goal is the state of row j: its logical step minus i's must be the reported offset.
    from_goal = np.asarray(batch.goal[:, 0] - batch.state[:, 0]).astype(np.int64)
    if not np.array_equal(from_goal, offset):
        raise AssertionError("sample_window: info['offset'] is not the goal's step minus i")
    return offset.astype(np.int64)


def check_offsets(traj_id: np.ndarray, ref: Mapping[str, np.ndarray]) -> list[Check]:
    from harness.replay import goal_offset_pmf

    pmf = goal_offset_pmf(traj_id, "window", OFFSETS["gamma"], OFFSETS["window"])
    pmf_iid = goal_offset_pmf(traj_id, "iid", OFFSETS["gamma"])
    r = np.asarray(ref["offsets/ref"], np.int64)
    h = harness_offsets(traj_id, len(r), key_seed=11)
    checks = []
    for name, sample in (("offsets/reference-vs-exact", r), ("offsets/harness-vs-exact", h)):
        stat, dof, p = chi2_gof(sample, pmf)
        checks.append(
            Check(
                name,
                f"chi2 {stat:.1f} dof {dof} p={p:.3f} (n={len(sample)})",
                f"p>{TOL_P:.0e}",
                _verdict(p > TOL_P),
                values={
                    "chi2": stat,
                    "dof": dof,
                    "p": p,
                    "n": len(sample),
                    "mean": float(sample.mean()),
                },
            )
        )
    stat, dof, p = chi2_two_sample(r, h, pmf)
    checks.append(
        Check(
            "offsets/reference-vs-harness",
            f"chi2 {stat:.1f} dof {dof} p={p:.3f}",
            f"p>{TOL_P:.0e}",
            _verdict(p > TOL_P),
            values={"chi2": stat, "dof": dof, "p": p},
        )
    )
    # Power: the same test must reject the other law (goals cut at the trajectory end only).
    top = max(len(pmf), len(pmf_iid))
    pad = np.zeros(top)
    pad[: len(pmf_iid)] = pmf_iid
    stat, dof, p = chi2_gof(r, pad)
    checks.append(
        Check(
            "offsets/power: reference-vs-iid-pmf",
            f"chi2 {stat:.0f} dof {dof} p={p:.1e}",
            f"p<{TOL_P:.0e}",
            _verdict(p < TOL_P),
            "the test tells the window law from the i.i.d. law",
            {"chi2": stat, "dof": dof, "p": p},
        )
    )
    checks[0].values["exact_mean"] = float(np.sum(np.arange(len(pmf)) * pmf))
    checks[0].values["all_rows_mean"] = float(np.mean(ref["offsets/ref_all_rows"]))
    return checks


# ---------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------


def build_inputs() -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, Any]]:
    """Parameters (harness init, perturbed, in the reference's names), batches, keys."""
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(20250314)
    arr: dict[str, np.ndarray] = {}
    arr.update(_batch(rng, "batch"))
    for step in range(UPDATE_STEPS):
        arr.update(_batch(rng, f"update/batch{step}"))
    arr["log_alpha"] = np.float32(LOG_ALPHA)
    b, a = DIMS["batch"], DIMS["action"]
    arr["alpha/log_prob"] = rng.normal(-2.0, 3.0, size=(b,)).astype(np.float32)
    arr["update/key"] = np.asarray(jax.random.key_data(jax.random.PRNGKey(7)), np.uint32)
    params_by_depth: dict[int, tuple[dict, dict]] = {}
    for i, (case, spec) in enumerate(CASES.items()):
        depth = spec["depth"]
        if depth not in params_by_depth:
            agent = _agent(depth, scanned=False)
            state = agent.init(jax.random.PRNGKey(100 + depth))
            actor = _perturb(flatten(actor_to_ref(state.actor_params, depth, False)), rng)
            critic = _perturb(flatten(critic_to_ref(state.critic_params, depth, False)), rng)
            params_by_depth[depth] = (actor, critic)
        actor, critic = params_by_depth[depth]
        actor = dict(actor)
        for head, scale in ((depth + 1, spec["mean_scale"]), (depth + 2, spec["log_std_scale"])):
            actor[f"params/Dense_{head}/kernel"] = actor[
                f"params/Dense_{head}/kernel"
            ] * np.float32(scale)
        arr.update({f"{case}/actor/{k}": v for k, v in actor.items()})
        arr.update({f"{case}/critic/{k}": v for k, v in critic.items()})
        key = jax.random.PRNGKey(1000 + i)
        arr[f"{case}/key"] = np.asarray(jax.random.key_data(key), np.uint32)
        arr[f"{case}/noise"] = np.asarray(jax.random.normal(key, (b, a), jnp.float32))
    traj_id, lengths = trajectory_ids(rng)
    arr["offsets/traj_id"] = traj_id
    arr["offsets/key"] = np.asarray(jax.random.key_data(jax.random.PRNGKey(5)), np.uint32)
    arr["tanh/grid"] = TANH_GRID
    return arr, traj_id, {"episode_lengths_stored": lengths}


def tasks(x64: bool) -> list[dict[str, Any]]:
    """The worker's tasks: float32 (everything) or float64 (the losses, for the actor check)."""
    out: list[dict[str, Any]] = []
    for case, spec in CASES.items():
        depth = spec["depth"]
        common = {"case": case, "depth": depth}
        if "forward" in spec["checks"] and not x64:
            out.append({"kind": "forward", **common})
        if "critic" in spec["checks"]:
            out.append({"kind": "critic_loss", **common})
        if "actor" in spec["checks"]:
            out.append({"kind": "actor_loss", **common})
        if spec["update_forms"] and not x64:
            out.append(
                {
                    "kind": "update",
                    **common,
                    "steps": UPDATE_STEPS,
                    "jit": spec["update_jit_reference"],
                }
            )
    if not x64:
        out.append({"kind": "alpha_loss", "depth": CASES[ALPHA_CASE]["depth"]})
        out.append({"kind": "tanh"})
        out.append(
            {
                "kind": "offsets",
                "window": OFFSETS["window"],
                "gamma": OFFSETS["gamma"],
                "draws": OFFSETS["draws"],
                "batch": DIMS["batch"],
            }
        )
    return out


def run_worker(
    py: Path, reference: Path, tmp: Path, inputs: Path, x64: bool
) -> tuple[dict[str, np.ndarray], float]:
    """Run :mod:`ref_worker` in the reference venv; returns its arrays and wall seconds."""
    tag = "x64" if x64 else "f32"
    config = tmp / f"tasks_{tag}.json"
    config.write_text(
        json.dumps(
            {"dims": DIMS, "tasks": tasks(x64), "threefry_partitionable": THREEFRY_PARTITIONABLE}
        )
    )
    out = tmp / f"ref_{tag}.npz"
    cmd = [
        str(py),
        str(HERE / "ref_worker.py"),
        "--reference",
        str(reference),
        "--config",
        str(config),
        "--inputs",
        str(inputs),
        "--out",
        str(out),
    ]
    if x64:
        cmd.append("--x64")
    start = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-8000:])
        raise RuntimeError(f"reference worker ({tag}) failed with status {proc.returncode}")
    with np.load(out) as data:
        return {k: data[k] for k in data.files}, time.time() - start


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, float) and not np.isfinite(x):
        return str(x)
    return x


def all_checks(
    arr: Mapping[str, np.ndarray],
    traj_id: np.ndarray,
    ref: Mapping[str, np.ndarray],
    ref64: Mapping[str, np.ndarray],
    results: Mapping[tuple[str, str], Mapping[str, Any]],
) -> list[Check]:
    """Every check, in printing order."""
    import jax
    import jax.numpy as jnp

    actor_cases = [c for c, spec in CASES.items() if "actor" in spec["checks"]]
    checks = [check_prng({c: results[c, "scan"] for c in actor_cases}, ref)]
    grid = np.asarray(arr["tanh/grid"])
    checks.append(check_tanh(grid, np.asarray(jax.jit(jnp.tanh)(jnp.asarray(grid))), ref))
    for case, spec in CASES.items():
        for form in FORMS:
            h = results[case, form]
            if "forward" in spec["checks"]:
                checks.append(check_structure(h, ref, case, spec["depth"], form))
                checks += check_forward(h, ref, case, form)
            if "critic" in spec["checks"]:
                checks.append(check_critic_loss(h, ref, ref64, case, form))
            if "actor" in spec["checks"]:
                checks.append(check_actor_loss(h, ref, ref64, case, form))
            if form in spec["update_forms"]:
                checks += check_update(h, ref, arr, case, form)
    checks.append(check_alpha(results[ALPHA_CASE, "scan"], ref))
    checks += check_offsets(traj_id, ref)
    return checks


def _git(args: list[str]) -> str:
    proc = subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def _progress(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", required=True, type=Path, help="scaling-crl checkout")
    parser.add_argument("--venv", default=Path(".reference-venv"), type=Path)
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    ns = parser.parse_args(argv)
    reference = ns.reference.resolve()
    for name in ("train.py", "buffer.py", "README.md"):
        if not (reference / name).exists():
            parser.error(f"{reference} has no {name}: not a scaling-crl checkout")
    t0 = time.time()

    import jax

    jax.config.update("jax_threefry_partitionable", THREEFRY_PARTITIONABLE)
    import flax

    venv = reference_env.ensure_venv(ns.venv.resolve(), reference)
    built = "reused" if venv["reused"] else f"built in {venv['build_seconds']:.0f} s"
    pins = ", ".join(
        f"{k} {v}" for k, v in venv["installed"].items() if k in ("jax", "flax", "brax", "mujoco")
    )
    print(
        f"reference venv: {ns.venv} (Python {venv['python_version']}, {built}; {pins})",
        flush=True,
    )
    py = reference_env.venv_python(ns.venv.resolve())
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="crl-reference-") as tmp_name:
        tmp = Path(tmp_name)
        t = time.time()
        _progress("building parameters and inputs")
        arr, traj_id, offsets_info = build_inputs()
        inputs = tmp / "inputs.npz"
        np.savez(inputs, **arr)
        timings["inputs"] = time.time() - t
        _progress("running the reference's code (float32)")
        ref, timings["reference_worker_f32"] = run_worker(py, reference, tmp, inputs, x64=False)
        _progress("running the reference's code (float64)")
        ref64, timings["reference_worker_f64"] = run_worker(py, reference, tmp, inputs, x64=True)
    t = time.time()
    _progress("running the harness")
    results = harness_results(arr)
    timings["harness"] = time.time() - t
    t = time.time()
    _progress("comparing (and sampling the harness's goal offsets)")
    checks = all_checks(arr, traj_id, ref, ref64, results)
    timings["checks_and_offsets_harness"] = time.time() - t
    timings["total"] = time.time() - t0

    for c in checks:
        print(c.line())
    failed = [c for c in checks if c.verdict not in ("PASS", "EXPLAINED")]
    print(
        f"{len(checks)} checks: {sum(c.verdict == 'PASS' for c in checks)} PASS, "
        f"{sum(c.verdict == 'EXPLAINED' for c in checks)} EXPLAINED, {len(failed)} FAIL "
        f"({timings['total']:.0f} s)"
    )
    if ns.json is not None:
        import jaxlib
        import optax

        report = {
            "reference": str(reference),
            "reference_venv": venv,
            "reference_worker": json.loads(str(ref["meta/versions"])),
            "reference_worker_timings": json.loads(str(ref["meta/timings"])),
            "reference_worker_f64_timings": json.loads(str(ref64["meta/timings"])),
            "harness": {
                "python": platform.python_version(),
                "jax": jax.__version__,
                "flax": flax.__version__,
                "optax": optax.__version__,
                "jaxlib": jaxlib.__version__,
                "threefry_partitionable": bool(jax.config.jax_threefry_partitionable),
                "git_commit": _git(["rev-parse", "HEAD"]),
                "git_dirty_files": _git(["status", "--porcelain", "--", "harness"]).splitlines(),
            },
            "dims": DIMS,
            "cases": CASES,
            "offsets_setup": {**OFFSETS, **offsets_info},
            "tolerances": {
                "forward": TOL_FORWARD,
                "loss": TOL_LOSS,
                "grad": TOL_GRAD,
                "alpha": TOL_ALPHA,
                "update_increment_rel": TOL_UPDATE,
                "p_value": TOL_P,
            },
            "timings_s": {k: round(v, 1) for k, v in timings.items()},
            "printed": [c.line() for c in checks],
            "checks": [_jsonable(asdict(c)) for c in checks],
            "exit_status": 1 if failed else 0,
        }
        ns.json.write_text(json.dumps(_jsonable(report), indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
