"""Physics side by side: the harness's environments against the reference's own, env by env.

Wang et al. 2025 (arXiv 2503.14858, App. B.2) saw other brax / MJX versions change physics and
results; the harness runs brax 0.14 / mujoco 4 / jax 0.10 where the reference code
(scaling-crl at 8516075) ran brax 0.10.1 (patched) / mujoco 3.2.6 / jax 0.4.23. This tool
steps both, each in its own venv, from the same states under the same actions::

    python benchmarks/reference/physics.py --reference PATH/TO/scaling-crl \\
        [--envs ant humanoid ...] [--long-envs 128] [--long-steps 1000] [--json OUT.json] \\
        [--cache DIR]
    python benchmarks/reference/physics.py table OUT.json    # the markdown table of the docs

For each env (:data:`ENVS`, every env of the issue that the reference defines):

1. **Short horizon**: 8 envs per case, 50 steps, from the harness's own resets copied into the
   reference model (``q``, ``qd`` and the goal; the reference's ant carries the goal in two slide
   joints of a target body, appended here), under four action sequences: ``zeros``, ``random``
   (i.i.d. U(-1, 1), fixed seed), ``sine`` (0.5 sin(2 pi t / 40 + 0.7 j) on action j) and, in
   mazes, ``wall`` (the torso moved to 0.1 m plus the robot's half-width from the face of a
   neighbouring wall cell and given 2 m/s towards it, zero actions). Printed: the largest
   absolute difference of each observation block over the 50 steps, and the first step where
   it exceeds 1e-3.
2. **Long horizon**: ``--long-envs`` envs x ``--long-steps`` steps under one fixed random policy
   (the same U(-1, 1) actions on both sides) from copied resets (the arm: each side's own resets,
   its models differ). Distributions over the envs (one value per env, so that the samples are
   independent): mean torso height, displacement of the
   torso from its start at the last step, mean speed (torso planar velocity), time to
   fall (first step out of the healthy z range, the horizon if never), steps near a wall
   (torso centre within the robot's half-width plus 0.1 m of a wall box: a geometric proxy of a
   wall contact, the same function on both sides), for the reacher the fingertip's distance to
   the goal, for the arm the cube's displacement. Each is compared with a two-sample
   Kolmogorov-Smirnov test (scipy), the difference of means in pooled standard deviations
   (Cohen's d) and the means.
3. **Verdict**: ``equal to float noise`` (short horizon within 1e-3 over 50 steps in every case
   and block), ``statistically equal`` (no long-horizon KS p < 0.01 and every |d| < 0.3),
   else ``different``.

Also printed: env steps/s of both at batch 256 (``--speed``; jit(vmap(step)) scanned over 100
steps, compile excluded; the reference in its own venv, on the same CPU).

Requirements: the reference venv (``reference_env.py``; built by ``compare.py`` or here on first
use) and a scaling-crl checkout. Runs each reference env in a separate process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SHORT_ENVS = 8
SHORT_STEPS = 50
NOISE = 1e-3
"""Largest absolute observation difference still called float noise over 50 steps."""
P_LEVEL = 0.01
SMALL_EFFECT = 0.3
"""Largest |Cohen's d| still called statistically equal. With 128 envs per side, d's own
sampling noise has a 95 % half-width of 1.96 sqrt(2 / 128) = 0.245: a threshold of 0.2 (this
tool's first) called equal distributions different about one time in ten per quantity."""


@dataclass(frozen=True)
class EnvCase:
    """How one env id maps between the two codes.

    Attributes:
        env_id: the harness's id (the reference's ``--env_id`` too).
        kind: ``ant``, ``humanoid``, ``reacher`` or ``arm``.
        blocks: observation blocks, name -> (start, stop).
        ref_q_extra: slide joints the reference model has after the harness's ``q`` (the ant's
            target body: its goal x, y) and as many zero velocities.
        healthy_z: torso heights outside which the robot has fallen (metres), or None.
        half_width: robot's horizontal half-width for the near-wall proxy (metres).
        ref_pipeline: pipeline forced on the reference's reacher (None: ``train.py``'s own).
        copy_state: whether states can be copied across (same joints in both models).
    """

    env_id: str
    kind: str
    blocks: Mapping[str, tuple[int, int]]
    ref_q_extra: int = 0
    healthy_z: tuple[float, float] | None = None
    half_width: float = 0.0
    ref_pipeline: str | None = None
    copy_state: bool = True
    label: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def name(self) -> str:
        return self.label or self.env_id


_ANT_BLOCKS = {"positions": (0, 15), "velocities": (15, 29), "goal": (29, 31)}
_HUMANOID_BLOCKS = {
    "positions": (0, 26),
    "velocities": (26, 51),
    "cinert": (51, 171),
    "cvel": (171, 243),
    "qfrc_actuator": (243, 268),
    "goal": (268, 271),
}
_REACHER_BLOCKS = {"angles": (0, 4), "fingertip": (4, 7), "tip_velocity": (7, 10), "goal": (10, 13)}
_ARM_BLOCKS = {"cube": (0, 3), "joints": (3, 10), "gripper": (10, 13)}

ENVS: dict[str, EnvCase] = {
    c.name: c
    for c in (
        EnvCase("ant", "ant", _ANT_BLOCKS, 2, (0.2, 1.0), 0.6),
        EnvCase("ant_u4_maze", "ant", _ANT_BLOCKS, 2, (0.2, 1.0), 0.6),
        EnvCase("ant_big_maze", "ant", _ANT_BLOCKS, 2, (0.2, 1.0), 0.6),
        EnvCase("humanoid", "humanoid", _HUMANOID_BLOCKS, 0, (1.0, 2.0), 0.3),
        EnvCase("humanoid_u_maze", "humanoid", _HUMANOID_BLOCKS, 0, (1.0, 2.0), 0.3),
        EnvCase("arm_push_easy", "arm", _ARM_BLOCKS, copy_state=False),
        EnvCase("arm_binpick_hard", "arm", _ARM_BLOCKS, copy_state=False),
        EnvCase("reacher", "reacher", _REACHER_BLOCKS),
        EnvCase(
            "reacher",
            "reacher",
            _REACHER_BLOCKS,
            ref_pipeline="generalized",
            label="reacher@generalized",
        ),
    )
}


# ---- inputs --------------------------------------------------------------------------------


def actions_for(case: str, steps: int, n: int, dim: int, seed: int) -> np.ndarray:
    """``[steps, n, dim]`` float32 actions of a named case (module docstring)."""
    if case in ("zeros", "wall"):
        return np.zeros((steps, n, dim), np.float32)
    if case in ("random", "long"):
        rng = np.random.default_rng(seed)
        return rng.uniform(-1.0, 1.0, (steps, n, dim)).astype(np.float32)
    if case == "sine":
        t = np.arange(1, steps + 1, dtype=np.float64)[:, None, None]
        j = np.arange(dim, dtype=np.float64)[None, None, :]
        return np.broadcast_to(0.5 * np.sin(2 * np.pi * t / 40 + 0.7 * j), (steps, n, dim)).astype(
            np.float32
        )
    raise ValueError(f"unknown action case {case!r}")


def wall_start(
    env: Any, q: np.ndarray, qd: np.ndarray, half_width: float
) -> tuple[np.ndarray, np.ndarray]:
    """Move each torso next to a wall of its cell and send it there at 2 m/s (module docstring).

    Args:
        env: a harness maze env (``env.maze``); q: ``[n, q_size]``; qd: ``[n, qd_size]``.

    Raises:
        ValueError: if a start cell has no wall neighbour.
    """
    maze = env.maze
    q, qd = q.copy(), qd.copy()
    cs = maze.cell_size
    walls = set(maze.wall_cells)
    for i in range(q.shape[0]):
        cell = tuple(int(c) for c in np.floor(q[i, :2] / cs + 0.5))
        for direction in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            if (cell[0] + direction[0], cell[1] + direction[1]) in walls:
                break
        else:
            raise ValueError(f"{env.info.env_id}: start cell {cell} has no wall neighbour")
        centre = np.array(cell, np.float64) * cs
        d = np.array(direction, np.float64)
        q[i, :2] = centre + d * (0.5 * cs - half_width - 0.1)
        qd[i, :2] = 2.0 * d
    return q.astype(np.float32), qd.astype(np.float32)


# ---- the harness side -----------------------------------------------------------------------

_COMPILED: dict[Any, Any] = {}


def harness_env(case: EnvCase) -> Any:
    import envs

    return envs.make(case.env_id)


def harness_resets(env: Any, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``q [n, q_size]``, ``qd [n, qd_size]``, ``goal [n, goal_dim]`` of the harness's resets."""
    import jax

    keys = jax.random.split(jax.random.PRNGKey(seed), n)
    state = jax.jit(jax.vmap(env.reset))(keys)
    ps = state.pipeline_state
    return np.asarray(ps.q), np.asarray(ps.qd), np.asarray(state.info["goal"])


def harness_rollout(
    env: Any,
    actions: np.ndarray,
    index: Sequence[int],
    start: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    seed: int,
) -> tuple[np.ndarray, float]:
    """``obs[:, :, index]`` of a rollout, ``[T + 1, n, k]``, and its seconds after compile."""
    import jax
    import jax.numpy as jnp

    n = actions.shape[1]
    state = jax.jit(env.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(seed), n))
    if start is not None:
        q, qd, goal = (jnp.asarray(a) for a in start)

        def build(q1: Any, qd1: Any, g: Any) -> Any:
            ps = env.pipeline_init(env.robot.place_goal(q1, g), qd1)
            zero = jnp.zeros((), jnp.float32)
            ctrl = jnp.zeros((env.sys.act_size(),), jnp.float32)
            return env._make_state(ps, g, ctrl, zero, {}, {"goal": g})

        state = jax.jit(jax.vmap(build))(q, qd, goal)
    idx = jnp.asarray(np.asarray(index))
    step = env.vmap(env.step)

    def rollout(s: Any, a: Any) -> Any:
        def body(s: Any, a: Any) -> tuple[Any, Any]:
            s = step(s, a)
            return s, s.obs[:, idx]

        return jax.lax.scan(body, s, a)[1]

    a = jnp.asarray(actions)
    key = (id(env), a.shape, tuple(int(i) for i in index))
    if key not in _COMPILED:  # the short cases share one executable
        options = env.compiler_options or None
        _COMPILED[key] = jax.jit(rollout, compiler_options=options).lower(state, a).compile()
    t0 = time.perf_counter()
    out = np.asarray(jax.block_until_ready(_COMPILED[key](state, a)))
    seconds = time.perf_counter() - t0
    first = np.asarray(state.obs)[None][:, :, np.asarray(index)]
    return np.concatenate([first, out], axis=0).astype(np.float32), seconds


# ---- the reference side ---------------------------------------------------------------------


def to_reference(
    case: EnvCase, q: np.ndarray, qd: np.ndarray, goal: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The harness's ``q``, ``qd`` in the reference model's layout (the ant's target appended)."""
    if case.ref_q_extra:
        q = np.concatenate([q, goal[:, : case.ref_q_extra]], axis=1)
        qd = np.concatenate([qd, np.zeros((qd.shape[0], case.ref_q_extra), qd.dtype)], axis=1)
    return q.astype(np.float32), qd.astype(np.float32)


def _inputs_digest(case: EnvCase, arrays: Mapping[str, Any], cases: list[str]) -> str:
    import hashlib

    h = hashlib.sha256(repr((case, cases)).encode())
    for k in sorted(arrays):
        h.update(k.encode())
        h.update(np.ascontiguousarray(arrays[k]).tobytes())
    return h.hexdigest()[:16]


def run_reference(
    py: Path,
    reference: Path,
    case: EnvCase,
    arrays: dict[str, Any],
    cases: list[str],
    timeout: float,
    cache: Path | None = None,
) -> dict[str, Any]:
    """Run ``ref_physics.py`` on ``arrays``; returns its outputs (``meta`` decoded).

    With ``cache``, the outputs are kept as ``cache/<env>-<digest of the inputs>.npz`` and read
    back when the same inputs come again (the reference side does not change while the
    harness's models are being fixed; it is the slow side to compile).
    """
    cached = cache / f"{case.name}-{_inputs_digest(case, arrays, cases)}.npz" if cache else None
    if cached is not None and cached.exists():
        with np.load(cached) as f:
            result = {k: f[k] for k in f.files}
        result["meta"] = json.loads(str(result["meta"]))
        result["meta"]["cached"] = str(cached)
        return result
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(inp, meta=json.dumps({"cases": cases}), **arrays)
        cmd = [str(py), str(HERE / "ref_physics.py"), "--reference", str(reference)]
        cmd += ["--env", case.env_id, "--inputs", str(inp), "--out", str(out)]
        if case.ref_pipeline:
            cmd += ["--pipeline", case.ref_pipeline]
        env = {**os.environ, "JAX_PLATFORMS": "cpu"}
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"reference worker failed on {case.name}:\n{done.stderr[-3000:]}")
        with np.load(out) as f:
            result = {k: f[k] for k in f.files}
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            np.savez(cached, **result)
    result["meta"] = json.loads(str(result["meta"]))
    return result


# ---- statistics ----------------------------------------------------------------------------


def compare_samples(h: np.ndarray, r: np.ndarray) -> dict[str, float]:
    """Two-sample KS test, Cohen's d (pooled sd) and the means of two samples (NaN dropped)."""
    from scipy import stats

    h = np.asarray(h, np.float64).ravel()
    r = np.asarray(r, np.float64).ravel()
    nan_h, nan_r = float(np.mean(~np.isfinite(h))), float(np.mean(~np.isfinite(r)))
    h, r = h[np.isfinite(h)], r[np.isfinite(r)]
    if h.size < 2 or r.size < 2:
        return {
            "ks_p": float("nan"),
            "d": float("nan"),
            "mean_h": float("nan"),
            "mean_r": float("nan"),
            "nonfinite_h": nan_h,
            "nonfinite_r": nan_r,
        }
    pooled = np.sqrt(0.5 * (h.var(ddof=1) + r.var(ddof=1)))
    d = float((h.mean() - r.mean()) / pooled) if pooled > 0 else 0.0
    return {
        "ks_p": float(stats.ks_2samp(h, r).pvalue),
        "d": d,
        "mean_h": float(h.mean()),
        "mean_r": float(r.mean()),
        "nonfinite_h": nan_h,
        "nonfinite_r": nan_r,
    }


def near_wall_steps(env: Any, xy: np.ndarray, half_width: float) -> np.ndarray:
    """Per env, steps with the torso centre within ``half_width + 0.1`` m of a wall box.

    Args:
        xy: ``[T + 1, n, 2]`` torso positions (metres).

    Returns:
        ``[n]`` counts.
    """
    maze = env.maze
    h = 0.5 * maze.cell_size
    near = np.zeros(xy.shape[:2], bool)
    for row, col in maze.wall_cells:
        c = np.array([row, col], np.float64) * maze.cell_size
        gap = np.maximum(np.abs(xy - c) - h, 0.0)
        near |= np.hypot(gap[..., 0], gap[..., 1]) < half_width + 0.1
    return near.sum(axis=0)


def long_metrics(
    case: EnvCase, env: Any, obs: np.ndarray, goal: np.ndarray | None
) -> dict[str, np.ndarray]:
    """Samples of the long-horizon quantities from ``obs[:, :, long_index(case)]``.

    One value per env (``[n]``): a quantity observed at every step enters as its mean over the
    episode, so that the samples are independent (steps of one env are not) and the
    two-sample tests hold their level.
    """
    out: dict[str, np.ndarray] = {}
    if case.kind in ("ant", "humanoid"):
        pos, vel = obs[..., 0:3], obs[..., 3:5]
        out["torso_height"] = pos[..., 2].mean(0)
        out["displacement"] = np.hypot(*(pos[-1, :, :2] - pos[0, :, :2]).T)
        out["speed"] = np.hypot(vel[..., 0], vel[..., 1]).mean(0)
        lo, hi = case.healthy_z or (-np.inf, np.inf)
        fallen = (pos[..., 2] < lo) | (pos[..., 2] > hi) | ~np.isfinite(pos[..., 2])
        out["time_to_fall"] = np.where(fallen.any(0), fallen.argmax(0), fallen.shape[0]).astype(
            float
        )
        if getattr(env, "maze", None) is not None:
            out["near_wall_steps"] = near_wall_steps(env, pos[..., :2], case.half_width).astype(
                float
            )
    elif case.kind == "reacher":
        tip = obs[..., 0:3]
        out["fingertip_goal_distance"] = np.linalg.norm(tip - goal[None], axis=-1).mean(0)
        out["fingertip_speed"] = np.linalg.norm(obs[..., 3:6], axis=-1).mean(0)
    else:
        cube = obs[..., 0:3]
        out["cube_displacement"] = np.linalg.norm(cube[-1] - cube[0], axis=-1)
        out["cube_height"] = cube[..., 2].mean(0)
        out["gripper_travel"] = np.linalg.norm(np.diff(obs[..., 3:6], axis=0), axis=-1).sum(0)
    return out


def long_index(case: EnvCase) -> list[int]:
    """Observation entries the long horizon keeps (see :func:`long_metrics`)."""
    if case.kind == "ant":
        return [0, 1, 2, 15, 16]
    if case.kind == "humanoid":
        return [0, 1, 2, 26, 27]
    if case.kind == "reacher":
        return [4, 5, 6, 7, 8, 9]
    return [0, 1, 2, 10, 11, 12]


# ---- one env -------------------------------------------------------------------------------


def compare_env(
    case: EnvCase,
    py: Path,
    reference: Path,
    long_envs: int,
    long_steps: int,
    timeout: float,
    log: Callable[[str], None],
    cache: Path | None = None,
) -> dict[str, Any]:
    """Both sides of one env; returns the record printed and written to ``--json``."""
    env = harness_env(case)
    adim = env.action_size
    obs_dim = env.observation_size
    arrays: dict[str, Any] = {}
    short_cases = ["zeros", "random", "sine"] + (
        ["wall"] if getattr(env, "maze", None) is not None else []
    )
    starts: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    if case.copy_state:
        for i, name in enumerate(short_cases):
            q, qd, goal = harness_resets(env, SHORT_ENVS, seed=100 + i)
            if name == "wall":
                q, qd = wall_start(env, q, qd, case.half_width)
            starts[name] = (q, qd, goal)
            arrays[f"{name}/q"], arrays[f"{name}/qd"] = to_reference(case, q, qd, goal)
            arrays[f"{name}/actions"] = actions_for(name, SHORT_STEPS, SHORT_ENVS, adim, seed=7)
            arrays[f"{name}/index"] = np.arange(obs_dim)
    else:
        short_cases = []
    lq, lqd, lgoal = harness_resets(env, long_envs, seed=200)
    if case.copy_state:
        arrays["long/q"], arrays["long/qd"] = to_reference(case, lq, lqd, lgoal)
    else:
        arrays["long/seed"] = np.int64(200)
    arrays["long/index"] = np.asarray(long_index(case))
    # Throughput at batch 256: each side's own resets, 100 random steps.
    arrays["speed/seed"] = np.int64(300)
    arrays["speed/actions"] = actions_for("random", 100, 256, adim, seed=13)
    arrays["speed/index"] = np.arange(1)
    record: dict[str, Any] = {"env": case.name, "short": {}, "long": {}}
    t0 = time.perf_counter()
    arrays["long/actions"] = actions_for("long", long_steps, long_envs, adim, seed=11)
    ref = run_reference(
        py, reference, case, arrays, [*short_cases, "long", "speed"], timeout, cache
    )
    record["reference_meta"] = ref["meta"]
    record["reference_seconds"] = time.perf_counter() - t0
    log(f"{case.name}: reference done in {record['reference_seconds']:.0f} s")
    # Short horizon.
    for name in short_cases:
        h_obs, _ = harness_rollout(
            env, arrays[f"{name}/actions"], range(obs_dim), starts[name], seed=0
        )
        r_obs = ref[f"{name}/obs"]
        rows = {}
        for block, (a, b) in case.blocks.items():
            diff = np.abs(h_obs[..., a:b].astype(np.float64) - r_obs[..., a:b])
            per_step = np.where(np.isfinite(diff), diff, np.inf).max(axis=(1, 2))
            over = np.nonzero(per_step > NOISE)[0]
            rows[block] = {
                "max_abs": float(per_step.max()),
                "step1": float(per_step[1]),
                "first_step_over_noise": int(over[0]) if over.size else None,
                "reference_finite": bool(np.isfinite(r_obs[..., a:b]).all()),
            }
        record["short"][name] = rows
    # Long horizon.
    # Both arms take 5-d actions (scaling-crl arm_*.py: action_size).
    h_actions = arrays["long/actions"]
    h_start = (lq, lqd, lgoal) if case.copy_state else None
    h_long, h_seconds = harness_rollout(env, h_actions, long_index(case), h_start, seed=200)
    r_long = ref["long/obs"]
    goal = lgoal if case.kind == "reacher" else None
    hm = long_metrics(case, env, h_long, goal)
    rm = long_metrics(case, env, r_long, goal if case.copy_state else None)
    record["long"] = {k: compare_samples(hm[k], rm[k]) for k in hm}
    record["long_seconds"] = {"harness": h_seconds, "reference": float(ref["long/seconds"])}
    record["long_env_steps_per_s"] = {
        "harness": long_envs * long_steps / h_seconds,
        "reference": long_envs * long_steps / float(ref["long/seconds"]),
    }
    _, h_speed = harness_rollout(env, arrays["speed/actions"], [0], None, seed=300)
    record["env_steps_per_s_batch256"] = {
        "harness": 256 * 100 / h_speed,
        "reference": 256 * 100 / float(ref["speed/seconds"]),
    }
    record["verdict"] = verdict(record)
    return record


def verdict(record: Mapping[str, Any]) -> str:
    """``equal to float noise``, ``statistically equal`` or ``different`` (module docstring)."""
    short = record["short"]
    noise = bool(short) and all(
        row["max_abs"] <= NOISE for case in short.values() for row in case.values()
    )
    if noise:
        return "equal to float noise"
    stat = all(
        (not np.isfinite(m["ks_p"]) or m["ks_p"] >= P_LEVEL) and abs(m["d"]) < SMALL_EFFECT
        for m in record["long"].values()
    ) and all(m["nonfinite_r"] == m["nonfinite_h"] == 0 for m in record["long"].values())
    return "statistically equal" if stat else "different"


def print_record(rec: Mapping[str, Any]) -> None:
    print(
        f"\n== {rec['env']}: {rec['verdict']}  (reference {rec['reference_meta']['class']}, "
        f"{rec['reference_meta']['backend']}, dt {rec['reference_meta']['dt']:.4g} s)"
    )
    for name, rows in rec["short"].items():
        parts = [
            f"{b} {r['max_abs']:.2e}" + ("" if r["reference_finite"] else " (ref NaN)")
            for b, r in rows.items()
        ]
        print(f"  short/{name:7s} max |diff| over {SHORT_STEPS} steps: " + ", ".join(parts))
    for k, m in rec["long"].items():
        print(
            f"  long/{k:24s} harness {m['mean_h']:10.4g}  reference {m['mean_r']:10.4g}  "
            f"d {m['d']:+.3f}  KS p {m['ks_p']:.3g}"
            + (
                f"  non-finite h {m['nonfinite_h']:.2f} r {m['nonfinite_r']:.2f}"
                if m["nonfinite_h"] or m["nonfinite_r"]
                else ""
            )
        )
    sp = rec["env_steps_per_s_batch256"]
    print(
        f"  env steps/s at batch 256: harness {sp['harness']:,.0f}  reference {sp['reference']:,.0f}"
    )


def markdown(records: Sequence[Mapping[str, Any]]) -> str:
    """The records as the markdown table of docs/fidelity.md ("Physics side by side")."""
    lines = [
        "| env | reference env (pipeline, env step) | short horizon: largest \\|diff\\| over "
        f"{SHORT_STEPS} steps, worst case, per block | long horizon: harness / reference mean "
        "(Cohen's d, KS p) | env steps/s at batch 256, harness / reference | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for rec in records:
        if rec.get("verdict") == "failed":
            lines.append(f"| {rec['env']} | | | | | failed: {rec['error'][:120]} |")
            continue
        meta = rec["reference_meta"]
        blocks: dict[str, float] = {}
        nan_ref: set[str] = set()
        for rows in rec["short"].values():
            for block, row in rows.items():
                blocks[block] = max(blocks.get(block, 0.0), row["max_abs"])
                if not row["reference_finite"]:
                    nan_ref.add(block)
        short = (
            ", ".join(
                f"{b} {v:.1e}" + (" (ref. NaN)" if b in nan_ref else "") for b, v in blocks.items()
            )
            or "not comparable (different models)"
        )
        long = "; ".join(
            f"{k.replace('_', ' ')} {m['mean_h']:.3g} / {m['mean_r']:.3g} "
            f"({m['d']:+.2f}, {m['ks_p']:.2g})"
            + (f", ref. non-finite {m['nonfinite_r']:.0%}" if m["nonfinite_r"] else "")
            for k, m in rec["long"].items()
        )
        sp = rec["env_steps_per_s_batch256"]
        lines.append(
            f"| {rec['env']} | {meta['class']} ({meta['backend']}, {meta['dt']:.3g} s) | {short} "
            f"| {long} | {sp['harness']:,.0f} / {sp['reference']:,.0f} | {rec['verdict']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["table"]:  # physics.py table OUT.json [OUT2.json ...]: markdown of records
        records = [r for path in argv[1:] for r in json.loads(Path(path).read_text())["records"]]
        order = list(ENVS)
        records.sort(key=lambda r: order.index(r["env"]) if r["env"] in order else len(order))
        for rec in records:  # the verdict by the current rule
            if rec.get("verdict") != "failed":
                rec["verdict"] = verdict(rec)
        print(markdown(records))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", required=True, type=Path)
    parser.add_argument("--venv", type=Path, default=ROOT / ".reference-venv")
    parser.add_argument("--envs", nargs="+", default=list(ENVS), choices=list(ENVS))
    parser.add_argument("--long-envs", type=int, default=128)
    parser.add_argument("--long-steps", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per reference env")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--cache", type=Path, help="folder keeping the reference's outputs")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    from reference_env import ensure_venv, venv_python

    ensure_venv(args.venv, args.reference.resolve())
    py = venv_python(args.venv)
    # An existing --json keeps the records of the envs not measured this time.
    records: dict[str, Any] = {}
    if args.json and args.json.exists():
        records = {r["env"]: r for r in json.loads(args.json.read_text())["records"]}
    failed = 0
    for name in args.envs:
        try:
            rec = compare_env(
                ENVS[name],
                py,
                args.reference.resolve(),
                args.long_envs,
                args.long_steps,
                args.timeout,
                lambda m: print(m, flush=True),
                args.cache,
            )
        except (RuntimeError, subprocess.TimeoutExpired, ValueError) as err:
            failed += 1
            print(f"\n== {name}: FAILED: {err}", flush=True)
            rec = {"env": name, "verdict": "failed", "error": str(err)[-3000:]}
        else:
            print_record(rec)
        records[name] = rec
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            body = {"records": [records[k] for k in ENVS if k in records]}
            args.json.write_text(json.dumps(body, indent=1, default=float))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
