"""Worker for ``compare.py``: evaluates the reference implementation's own code.

Run with the reference venv's Python (jax 0.4.23, flax 0.7.4), never the harness's::

    .reference-venv/bin/python benchmarks/reference/ref_worker.py \\
        --reference PATH/TO/scaling-crl --config tasks.json --inputs in.npz --out out.npz [--x64]

It imports ``train.py`` and ``buffer.py`` from the user's checkout (``SA_encoder``,
``G_encoder``, ``Actor``, ``Transition``, ``TrainingState`` and
``TrajectoryUniformSamplingQueue`` are module-level there). The losses and update steps are
closures inside ``train.py``'s ``if __name__ == "__main__":`` block; their definitions
(``actor_loss``, ``alpha_loss``, ``critic_loss``, ``update_actor_and_alpha``, ``update_critic``,
``sgd_step``) are located with :mod:`ast` in the checkout's source and executed, unchanged, in
a namespace that provides the free names they use (``args``, ``actor``, ``sa_encoder``,
``g_encoder``, ``target_entropy``, ``jax``, ...). Nothing of the reference is copied.

Arrays come from and go to ``.npz`` files whose keys are ``/``-joined paths; parameter trees use
the reference's flax names (``params/Dense_0/kernel``, ...). ``--x64`` enables float64 and feeds
the actor's Gaussian noise from the inputs instead of ``jax.random.normal`` (whose float64
draws differ from the float32 ones), for the float64 evaluation of the same formulas.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

#: Functions of train.py's ``__main__`` block that this worker executes (nested ones included).
MAIN_FUNCTIONS = (
    "actor_loss",
    "alpha_loss",
    "critic_loss",
    "update_actor_and_alpha",
    "update_critic",
    "sgd_step",
)


def flatten(tree: Any, prefix: str = "") -> dict[str, np.ndarray]:
    """Nested mappings of arrays -> ``{"a/b/c": array}``."""
    out: dict[str, np.ndarray] = {}
    if isinstance(tree, Mapping):
        for key in tree:
            out.update(flatten(tree[key], f"{prefix}/{key}" if prefix else str(key)))
    else:
        out[prefix] = np.asarray(tree)
    return out


def unflatten(flat: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """The entries of ``flat`` under ``prefix/`` as a nested dict (prefix removed)."""
    tree: dict[str, Any] = {}
    start = prefix + "/"
    for name, value in flat.items():
        if not name.startswith(start):
            continue
        parts = name[len(start) :].split("/")
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    if not tree:
        raise KeyError(f"no arrays under {prefix!r}")
    return tree


def main_block_functions(train_py: Path) -> dict[str, ast.FunctionDef]:
    """The definitions of :data:`MAIN_FUNCTIONS` inside ``if __name__ == "__main__":``.

    Raises:
        RuntimeError: if the block or one of the functions is missing.
    """
    tree = ast.parse(train_py.read_text(), filename=str(train_py))
    main = None
    for node in tree.body:
        if (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name)
            and node.test.left.id == "__name__"
        ):
            main = node
    if main is None:
        raise RuntimeError(f'{train_py}: no `if __name__ == "__main__":` block')
    found: dict[str, ast.FunctionDef] = {}
    for node in ast.walk(main):
        if isinstance(node, ast.FunctionDef) and node.name in MAIN_FUNCTIONS:
            if node.name in found:
                raise RuntimeError(f"{train_py}: {node.name} is defined twice")
            found[node.name] = node
    missing = set(MAIN_FUNCTIONS) - set(found)
    if missing:
        raise RuntimeError(f"{train_py}: did not find {sorted(missing)} in the __main__ block")
    return found


def exec_function(node: ast.FunctionDef, namespace: dict[str, Any], filename: str) -> Callable:
    """Execute one ``def`` (with its decorators) in ``namespace``; returns the function."""
    module = ast.Module(body=[node], type_ignores=[])
    exec(compile(module, filename, "exec"), namespace)
    return namespace[node.name]


class _NoiseRandom:
    """``jax.random`` with ``normal`` replaced by a fixed array (float64 evaluation)."""

    def __init__(self, random: Any, noise: Any) -> None:
        self._random, self._noise = random, noise

    def normal(self, key: Any, shape: Any = (), dtype: Any = None) -> Any:
        import jax.numpy as jnp

        if tuple(shape) != tuple(self._noise.shape):
            raise ValueError(f"noise of shape {self._noise.shape} asked for {shape}")
        return jnp.asarray(self._noise, dtype=dtype)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._random, name)


class _JaxWithNoise:
    """The ``jax`` module as seen by the executed functions, with :class:`_NoiseRandom`."""

    def __init__(self, jax_module: Any, noise: Any) -> None:
        self._jax = jax_module
        self.random = _NoiseRandom(jax_module.random, noise)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._jax, name)


class _OutputsActor:
    """An actor whose ``apply(params, obs)`` returns ``params`` = ``(mean, log_std)``: the
    gradient of the actor loss with respect to the actor's outputs."""

    @staticmethod
    def apply(params: Any, obs: Any) -> Any:
        return params


class Reference:
    """The reference's modules and the functions of its ``__main__`` block, for one config.

    Args:
        path: the scaling-crl checkout.
        dims: sizes (``obs_dim``, ``goal_start``, ``goal_end``, ``action``, ``batch``,
            ``width``) and the learning rates.
        x64: float64 mode (see the module docstring).
    """

    def __init__(self, path: Path, dims: Mapping[str, Any], x64: bool) -> None:
        sys.path.insert(0, str(path))
        import buffer
        import train

        self.train, self.buffer = train, buffer
        self.path = path
        self.dims = dict(dims)
        self.x64 = x64
        self.functions = main_block_functions(path / "train.py")

    def args(self, depth: int) -> Any:
        """``train.Args`` as ``train.py``'s ``__main__`` fills it for these sizes."""
        d = self.dims
        return self.train.Args(
            batch_size=d["batch"],
            obs_dim=d["obs_dim"],
            goal_start_idx=d["goal_start"],
            goal_end_idx=d["goal_end"],
            critic_network_width=d["width"],
            actor_network_width=d["width"],
            actor_depth=depth,
            critic_depth=depth,
            actor_lr=d["lr"],
            critic_lr=d["lr"],
            alpha_lr=d["lr"],
            track=False,
            checkpoint=False,
        )

    def namespace(
        self, depth: int, noise: Any = None, outputs_actor: bool = False
    ) -> dict[str, Any]:
        """Globals for the executed functions: ``train``'s module globals plus the names its
        ``__main__`` block defines before them (``train.py:537-560``)."""
        import jax

        t = self.train
        args = self.args(depth)
        action_size = self.dims["action"]
        ns = dict(vars(t))
        ns["__name__"] = "scaling_crl_train_main"
        ns["args"] = args
        ns["actor"] = (
            _OutputsActor()
            if outputs_actor
            else t.Actor(
                action_size=action_size,
                network_width=args.actor_network_width,
                network_depth=args.actor_depth,
                skip_connections=args.actor_skip_connections,
                use_relu=args.use_relu,
            )
        )
        ns["sa_encoder"] = t.SA_encoder(
            network_width=args.critic_network_width,
            network_depth=args.critic_depth,
            skip_connections=args.critic_skip_connections,
            use_relu=args.use_relu,
        )
        ns["g_encoder"] = t.G_encoder(
            network_width=args.critic_network_width,
            network_depth=args.critic_depth,
            skip_connections=args.critic_skip_connections,
            use_relu=args.use_relu,
        )
        ns["target_entropy"] = -args.entropy_param * action_size
        if noise is not None:
            ns["jax"] = _JaxWithNoise(jax, noise)
        filename = str(self.path / "train.py")
        for name in MAIN_FUNCTIONS:
            exec_function(self.functions[name], ns, filename)
        return ns

    def transitions(self, arrays: Mapping[str, Any], prefix: str) -> Any:
        """A ``train.Transition`` batch as ``flatten_crl_fn`` returns it (the fields the update
        reads): observation = concat(state, goal), action, extras.future_state."""
        import jax.numpy as jnp

        state = arrays[f"{prefix}/state"]
        goal = arrays[f"{prefix}/goal"]
        batch = state.shape[0]
        return self.train.Transition(
            observation=jnp.concatenate([state, goal], axis=1),
            action=jnp.asarray(arrays[f"{prefix}/action"]),
            reward=jnp.zeros((batch,), state.dtype),
            discount=jnp.ones((batch,), state.dtype),
            extras={"future_state": jnp.asarray(arrays[f"{prefix}/future_state"])},
        )


def run_forward(ref: Reference, task: Mapping[str, Any], arr: Mapping[str, Any]) -> dict:
    case, depth = task["case"], task["depth"]
    ns = ref.namespace(depth)
    actor_params = unflatten(arr, f"{case}/actor")
    critic = unflatten(arr, f"{case}/critic")
    state, action, goal = arr["batch/state"], arr["batch/action"], arr["batch/goal"]
    obs = np.concatenate([state, goal], axis=1)
    mean, log_std = ns["actor"].apply(actor_params, obs)
    phi = ns["sa_encoder"].apply(critic["sa_encoder"], state, action)
    psi = ns["g_encoder"].apply(critic["g_encoder"], goal)
    import jax

    key = jax.random.PRNGKey(0)
    structure = {
        **flatten(ns["actor"].init(key, obs[:1]), "actor"),
        **flatten({"sa_encoder": ns["sa_encoder"].init(key, state[:1], action[:1])}, "critic"),
        **flatten({"g_encoder": ns["g_encoder"].init(key, goal[:1])}, "critic"),
    }
    return {
        f"{case}/structure": np.array(json.dumps({k: list(v.shape) for k, v in structure.items()})),
        f"{case}/forward/mean": mean,
        f"{case}/forward/log_std": log_std,
        f"{case}/forward/phi": phi,
        f"{case}/forward/psi": psi,
    }


def run_critic_loss(ref: Reference, task: Mapping[str, Any], arr: Mapping[str, Any]) -> dict:
    import jax

    case, depth = task["case"], task["depth"]
    ns = ref.namespace(depth)
    critic = unflatten(arr, f"{case}/critic")
    transitions = ref.transitions(arr, "batch")
    key = jax.random.PRNGKey(0)  # unused by critic_loss
    (loss, _), grad = jax.value_and_grad(ns["critic_loss"], has_aux=True)(critic, transitions, key)
    out = {f"{case}/critic_loss": loss}
    out.update(flatten(grad, f"{case}/critic_grad"))
    return out


def run_actor_loss(ref: Reference, task: Mapping[str, Any], arr: Mapping[str, Any]) -> dict:
    import jax
    import jax.numpy as jnp

    case, depth = task["case"], task["depth"]
    noise = arr[f"{case}/noise"] if ref.x64 else None
    key = jnp.asarray(arr[f"{case}/key"], dtype=jnp.uint32)
    actor_params = unflatten(arr, f"{case}/actor")
    critic = unflatten(arr, f"{case}/critic")
    log_alpha = jnp.asarray(arr["log_alpha"])
    transitions = ref.transitions(arr, "batch")
    ns = ref.namespace(depth, noise=noise)
    (loss, log_prob), grad = jax.value_and_grad(ns["actor_loss"], has_aux=True)(
        actor_params, critic, log_alpha, transitions, key
    )
    out = {f"{case}/actor_loss": loss, f"{case}/log_prob": log_prob}
    out.update(flatten(grad, f"{case}/actor_grad"))
    # The same loss as a function of the actor's outputs (mean, log_std).
    mean, log_std = ns["actor"].apply(
        actor_params, np.concatenate([arr["batch/state"], arr["batch/goal"]], 1)
    )
    ns_out = ref.namespace(depth, noise=noise, outputs_actor=True)
    (loss_o, _), (g_mean, g_log_std) = jax.value_and_grad(ns_out["actor_loss"], has_aux=True)(
        (mean, log_std), critic, log_alpha, transitions, key
    )
    out[f"{case}/actor_outputs_loss"] = loss_o
    out[f"{case}/actor_out_grad/mean"] = g_mean
    out[f"{case}/actor_out_grad/log_std"] = g_log_std
    if not ref.x64:
        noise_drawn = jax.random.normal(key, mean.shape, mean.dtype)
        out[f"{case}/noise_drawn"] = noise_drawn
        # The action as actor_loss forms it (train.py:746-749), to tell saturated entries.
        out[f"{case}/action"] = ref.train.nn.tanh(mean + jnp.exp(log_std) * noise_drawn)
    return out


def run_tanh(ref: Reference, task: Mapping[str, Any], arr: Mapping[str, Any]) -> dict:
    """This jaxlib's float32 ``tanh`` (``flax.linen.tanh``, as ``actor_loss`` uses it) on a grid
    near saturation."""
    import jax
    import jax.numpy as jnp

    grid = jnp.asarray(arr["tanh/grid"], jnp.float32)
    return {"tanh/values": jax.jit(ref.train.nn.tanh)(grid)}


def run_alpha_loss(ref: Reference, task: Mapping[str, Any], arr: Mapping[str, Any]) -> dict:
    import jax
    import jax.numpy as jnp

    ns = ref.namespace(task["depth"])
    params = {"log_alpha": jnp.asarray(arr["log_alpha"])}
    loss, grad = jax.value_and_grad(ns["alpha_loss"])(params, jnp.asarray(arr["alpha/log_prob"]))
    return {"alpha/loss": loss, "alpha/grad": grad["log_alpha"]}


def run_update(ref: Reference, task: Mapping[str, Any], arr: Mapping[str, Any]) -> dict:
    """``task["steps"]`` calls of the reference's ``sgd_step`` from a fresh ``TrainingState``
    built as ``train.py:537-575`` does (Adam, zero moments), the key carried by ``sgd_step``."""
    import jax
    import jax.numpy as jnp
    import optax

    case, depth = task["case"], task["depth"]
    ns = ref.namespace(depth)
    args = ns["args"]
    train_state = ref.train.TrainState
    actor_state = train_state.create(
        apply_fn=ns["actor"].apply,
        params=unflatten(arr, f"{case}/actor"),
        tx=optax.adam(learning_rate=args.actor_lr),
    )
    critic_state = train_state.create(
        apply_fn=None,
        params=unflatten(arr, f"{case}/critic"),
        tx=optax.adam(learning_rate=args.critic_lr),
    )
    alpha_state = train_state.create(
        apply_fn=None,
        params={"log_alpha": jnp.asarray(arr["log_alpha"], jnp.float32)},
        tx=optax.adam(learning_rate=args.alpha_lr),
    )
    training_state = ref.train.TrainingState(
        env_steps=jnp.zeros(()),
        gradient_steps=jnp.zeros(()),
        actor_state=actor_state,
        critic_state=critic_state,
        alpha_state=alpha_state,
    )
    key = jnp.asarray(arr["update/key"], dtype=jnp.uint32)
    out: dict[str, Any] = {}
    for step in range(task["steps"]):
        transitions = ref.transitions(arr, f"update/batch{step}")
        # Unrolled deep updates take minutes to compile with jax 0.4.23 on a small CPU:
        # task["jit"] False runs the same functions op by op (jax.disable_jit).
        with contextlib.nullcontext() if task["jit"] else jax.disable_jit():
            (training_state, key), metrics = ns["sgd_step"]((training_state, key), transitions)
        p = f"{case}/update/step{step}"
        out.update(flatten(training_state.actor_state.params, f"{p}/actor"))
        out.update(flatten(training_state.critic_state.params, f"{p}/critic"))
        out[f"{p}/log_alpha"] = training_state.alpha_state.params["log_alpha"]
        for name in ("actor_loss", "alph_aloss", "critic_loss"):
            out[f"{p}/metrics/{name}"] = metrics[name]
    return out


def run_offsets(ref: Reference, task: Mapping[str, Any], arr: Mapping[str, Any]) -> dict:
    """Goal offsets of the reference's sampler: ``TrajectoryUniformSamplingQueue.insert`` of a
    replay whose observation holds (logical step, env) and whose ``seed`` extra is the given
    trajectory id, then per draw ``sample_internal`` (one window per env) and
    ``flatten_crl_fn`` on every window; one row per window is kept, uniformly, so that the
    kept rows are independent draws of the per-row law (rows of one window share its start)."""
    import jax
    import jax.numpy as jnp

    queue_cls = ref.buffer.TrajectoryUniformSamplingQueue
    traj_id = np.asarray(arr["offsets/traj_id"])
    size, num_envs = traj_id.shape
    window, gamma, draws = task["window"], task["gamma"], task["draws"]
    dummy = ref.train.Transition(
        observation=jnp.zeros((2,)),
        action=jnp.zeros((1,)),
        reward=0.0,
        discount=0.0,
        extras={"state_extras": {"truncation": 0.0, "seed": 0.0}},
    )
    queue = queue_cls(
        max_replay_size=size,
        dummy_data_sample=dummy,
        sample_batch_size=task["batch"],
        num_envs=num_envs,
        episode_length=window,
    )
    steps = np.broadcast_to(np.arange(size, dtype=np.float32)[:, None], (size, num_envs))
    envs = np.broadcast_to(np.arange(num_envs, dtype=np.float32)[None, :], (size, num_envs))
    data = ref.train.Transition(
        observation=jnp.asarray(np.stack([steps, envs], axis=-1)),
        action=jnp.zeros((size, num_envs, 1)),
        reward=jnp.zeros((size, num_envs)),
        discount=jnp.ones((size, num_envs)),
        extras={
            "state_extras": {
                "truncation": jnp.zeros((size, num_envs)),
                "seed": jnp.asarray(traj_id, jnp.float32),
            }
        },
    )
    key = jnp.asarray(arr["offsets/key"], dtype=jnp.uint32)
    buffer_state = queue.insert(queue.init(key), data)
    config = (gamma, 2, 0, 1)  # (gamma, obs_dim, goal_start_idx, goal_end_idx)

    def one_draw(k: Any) -> tuple[Any, Any]:
        k_buffer, k_flat, k_row = jax.random.split(k, 3)
        _, transitions = queue.sample_internal(buffer_state.replace(key=k_buffer))
        flat = jax.vmap(queue_cls.flatten_crl_fn, in_axes=(None, 0, 0))(
            config, transitions, jax.random.split(k_flat, num_envs)
        )
        offset = flat.extras["future_state"][..., 0] - flat.extras["state"][..., 0]
        row = jax.random.randint(k_row, (num_envs,), 0, offset.shape[1])
        picked = jnp.take_along_axis(offset, row[:, None], axis=1)[:, 0]
        return picked.astype(jnp.int32), offset.astype(jnp.int32)

    picked, all_rows = jax.lax.map(jax.jit(one_draw), jax.random.split(key, draws))
    return {"offsets/ref": picked.reshape(-1), "offsets/ref_all_rows": all_rows.reshape(-1)}


RUNNERS: dict[str, Callable[[Reference, Mapping[str, Any], Mapping[str, Any]], dict]] = {
    "forward": run_forward,
    "critic_loss": run_critic_loss,
    "actor_loss": run_actor_loss,
    "alpha_loss": run_alpha_loss,
    "update": run_update,
    "offsets": run_offsets,
    "tanh": run_tanh,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", required=True, type=Path)
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--inputs", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--x64", action="store_true")
    ns = parser.parse_args()

    import jax

    config = json.loads(ns.config.read_text())
    jax.config.update("jax_threefry_partitionable", bool(config["threefry_partitionable"]))
    if ns.x64:
        jax.config.update("jax_enable_x64", True)
    dtype = np.float64 if ns.x64 else np.float32
    with np.load(ns.inputs) as data:
        arrays = {k: (v.astype(dtype) if v.dtype.kind == "f" else v) for k, v in data.items()}
    ref = Reference(ns.reference.resolve(), config["dims"], ns.x64)
    out: dict[str, Any] = {}
    timings: dict[str, float] = {}
    for task in config["tasks"]:
        start = time.time()
        result = RUNNERS[task["kind"]](ref, task, arrays)
        out.update({k: np.asarray(v) for k, v in result.items()})
        timings[f"{task['kind']}:{task.get('case', '')}"] = round(time.time() - start, 2)
    out["meta/timings"] = np.array(json.dumps(timings))
    out["meta/versions"] = np.array(
        json.dumps(
            {
                "jax": jax.__version__,
                "threefry_partitionable": bool(jax.config.jax_threefry_partitionable),
                "x64": bool(jax.config.jax_enable_x64),
                "python": sys.version.split()[0],
            }
        )
    )
    np.savez(ns.out, **out)


if __name__ == "__main__":
    main()
