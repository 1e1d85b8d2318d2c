"""Worker for ``physics.py``: steps the reference implementation's own environments.

Run with the reference venv's Python (jax 0.4.23, brax 0.10.1 with its README's patches,
mujoco 3.2.6), never the harness's::

    .reference-venv/bin/python benchmarks/reference/ref_physics.py \\
        --reference PATH/TO/scaling-crl --env ant_u4_maze --inputs in.npz --out out.npz \\
        [--pipeline generalized]

The env is built by ``train.py``'s own ``make_env`` (its ``if __name__ == "__main__":`` block,
``train.py:322-500``), located with :mod:`ast` and executed unchanged with ``args`` a
``train.Args``: the same class, pipeline and options as the reference's training runs.
``--pipeline`` replaces the pipeline of the checkout's ``Reacher`` class (``train.py`` builds it
on ``spring``; ``generalized`` is its constructor's default).

Inputs (``.npz``): for each case ``C`` in ``cases`` (a JSON list in ``meta``): either ``C/q``
``[N, q_size]``, ``C/qd`` ``[N, qd_size]`` (the reference model's layout: the harness's state
with the target's slide joints appended where the reference model has them), or ``C/seed``
(each env reset by the reference's own ``reset`` from ``PRNGKey(seed)`` split N ways), and
``C/actions`` ``[T, N, action_size]``, ``C/index`` ``[k]`` observation entries to keep.
Outputs: ``C/obs`` ``[T + 1, N, k]`` float32 (step 0 = the initial observation), ``C/seconds``
(wall-clock of the rollout after compilation), ``C/compile_seconds``; ``meta`` with the env's
sizes and ``dt``.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np


def make_env(reference: Path, env_id: str, pipeline: str | None) -> Any:
    """``train.py``'s ``make_env(env_id)``, executed from the checkout's source."""
    sys.path.insert(0, str(reference))
    os.chdir(reference)
    import train

    if pipeline is not None:
        import envs.reacher

        base = envs.reacher.Reacher

        class Reacher(base):  # type: ignore[misc, valid-type]
            def __init__(self, backend: str = "", **kwargs: Any) -> None:
                super().__init__(backend=pipeline, **kwargs)

        envs.reacher.Reacher = Reacher
    tree = ast.parse((reference / "train.py").read_text())
    nodes = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "make_env"]
    if len(nodes) != 1:
        raise RuntimeError(f"{reference}/train.py: expected one make_env, found {len(nodes)}")
    namespace = dict(vars(train))
    namespace["args"] = train.Args(env_id=env_id, track=False, checkpoint=False)
    exec(compile(ast.Module(body=nodes, type_ignores=[]), "train.py", "exec"), namespace)
    return namespace["make_env"](env_id)


def _obs(env: Any, pipeline_state: Any) -> Any:
    """The env's observation of a pipeline state (the humanoid's takes the last action)."""
    import jax.numpy as jnp

    try:
        return env._get_obs(pipeline_state)
    except TypeError:
        return env._get_obs(pipeline_state, jnp.zeros(env.sys.act_size()))


_COMPILED: dict[Any, Any] = {}


def run_case(env: Any, arrays: dict[str, np.ndarray], case: str) -> dict[str, Any]:
    import jax

    actions = jax.numpy.asarray(arrays[f"{case}/actions"])
    index = np.asarray(arrays[f"{case}/index"])
    n = actions.shape[1]
    seed = int(arrays[f"{case}/seed"]) if f"{case}/seed" in arrays else 0
    state = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(seed), n))
    if f"{case}/q" in arrays:
        ps = jax.jit(jax.vmap(env.pipeline_init))(arrays[f"{case}/q"], arrays[f"{case}/qd"])
        obs = jax.jit(jax.vmap(lambda p: _obs(env, p)))(ps)
        state = state.replace(pipeline_state=ps, obs=obs)
    step = jax.vmap(env.step)
    idx = jax.numpy.asarray(index)

    def rollout(s: Any, a: Any) -> Any:
        def body(s: Any, a: Any) -> tuple[Any, Any]:
            s = step(s, a)
            return s, s.obs[:, idx]

        return jax.lax.scan(body, s, a)[1]

    key = (actions.shape, tuple(index.tolist()))
    t0 = time.perf_counter()
    if key not in _COMPILED:  # the short cases share one executable
        _COMPILED[key] = jax.jit(rollout).lower(state, actions).compile()
    t1 = time.perf_counter()
    out = np.asarray(jax.block_until_ready(_COMPILED[key](state, actions)))
    t2 = time.perf_counter()
    first = np.asarray(state.obs)[None, :, index]
    return {
        f"{case}/obs": np.concatenate([first, out], axis=0).astype(np.float32),
        f"{case}/seconds": np.float64(t2 - t1),
        f"{case}/compile_seconds": np.float64(t1 - t0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", required=True, type=Path)
    parser.add_argument("--env", required=True)
    parser.add_argument("--inputs", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--pipeline", choices=("spring", "generalized", "positional"))
    args = parser.parse_args()
    inputs = args.inputs.resolve()
    out_path = args.out.resolve()
    import jax

    jax.config.update("jax_platforms", "cpu")
    env = make_env(args.reference.resolve(), args.env, args.pipeline)
    with np.load(inputs) as f:
        arrays = {k: f[k] for k in f.files}
    meta_in = json.loads(str(arrays.pop("meta")))
    results: dict[str, Any] = {}
    for case in meta_in["cases"]:
        results.update(run_case(env, arrays, case))
        print(f"reference {args.env} {case}: done", flush=True)
    meta = {
        "env": args.env,
        "class": type(env).__name__,
        "backend": env.backend,
        "dt": float(env.dt),
        "q_size": int(env.sys.q_size()),
        "qd_size": int(env.sys.qd_size()),
        "action_size": int(env.action_size),
        "observation_size": int(env.observation_size),
        "jax": jax.__version__,
    }
    np.savez(out_path, meta=json.dumps(meta), **results)


if __name__ == "__main__":
    main()
