"""Offline datasets in OGBench's file format: locate, download, load, generate and export.

Format (OGBench, Park et al. 2024, arXiv 2410.20092; read by ``ogbench.utils.load_dataset``):
``<name>.npz`` and ``<name>-val.npz``, each with ``observations [N, obs_dim]`` float32,
``actions [N, action_dim]`` float32 in [-1, 1] and ``terminals [N]`` bool, 1 on the last row of
every trajectory (optionally ``qpos``, ``qvel``). Trajectories are stored one after another;
the loader turns them into transitions (the last row of a trajectory is only a next
observation). This module writes exactly those keys, so ogbench's loader reads the files
unchanged.

Three sources:

- OGBench datasets by name (``antmaze-large-navigate-v0``), loaded with
  ``ogbench.make_env_and_datasets`` from ``data.dataset_dir`` or ``data.dataset_path``; a missing
  file is downloaded by ogbench where the machine can reach the authors' server, otherwise
  :func:`check_available` raises :class:`DatasetError` naming the file and where to put it.
- :func:`generate_pointmaze`: point-maze datasets made the way OGBench made its own
  (``data_gen_scripts/generate_locomaze.py`` in the OGBench repository): the env's oracle
  subgoal direction (a BFS over maze cells, ``get_oracle_subgoal``) plus Gaussian action noise,
  sigma 0.5; ``navigate`` episodes of 1001 steps that pick a new goal cell whenever the goal is
  reached, ``stitch`` episodes of 201 steps towards a cell 4 steps away; a validation file with
  a tenth as many episodes.
- :func:`export_run`: the trajectories an online run of this harness kept
  (``data.save_replay: true`` writes them to ``replay.npz`` in the run folder), as a dataset with
  a ``<name>.json`` sidecar naming the Brax env, for the collector/learner experiment.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import re
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

# Dataset-name facts live in the spec layer, which validates names against them.
from harness.spec.ogbench import DatasetError, ogbench_env_name

if TYPE_CHECKING:
    from harness.replay import Replay
    from harness.spec import DataSpec, RunConfig

#: OGBench's default dataset folder (``ogbench.utils.DEFAULT_DATASET_DIR``).
DEFAULT_DATASET_DIR = "~/.ogbench/data"
#: Where OGBench's datasets are served (``ogbench.utils.DATASET_URL``).
DATASET_URL = "https://rail.eecs.berkeley.edu/datasets/ogbench"
#: Gaussian action noise of OGBench's point-maze data (``--noise=0.5`` in its commands.sh).
POINTMAZE_NOISE = 0.5
#: Steps per episode of OGBench's locomaze data, by dataset type (1001 navigate, 201 stitch).
EPISODE_STEPS = {"navigate": 1001, "stitch": 201}
#: Maze cells between start and goal of a stitch episode (OGBench generate_locomaze.py).
STITCH_CELLS = 4
#: Keys every dataset file holds (those ``ogbench.utils.load_dataset`` reads).
KEYS = ("observations", "actions", "terminals")

_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


# ------------------------------------------------------------------------------------------
# Names and files


@functools.cache
def ogbench_dims(dataset: str) -> tuple[int, int]:
    """``(obs_dim, action_dim)`` of an OGBench dataset's env (built once, offline)."""
    with _quiet():
        import ogbench

        env = ogbench.make_env_and_datasets(dataset, env_only=True)
    dims = int(env.observation_space.shape[0]), int(env.action_space.shape[0])
    env.close()
    return dims


def dataset_type(dataset: str) -> str:
    """The dataset type of an OGBench name (``navigate``, ``stitch``, ``explore``, ...)."""
    return dataset.split("-")[-2]


def dataset_files(data: DataSpec) -> tuple[Path, Path]:
    """Training and validation files of an offline data section.

    ``dataset_path`` and its ``-val.npz`` sibling when given (OGBench's rule), else
    ``<dataset_dir>/<dataset>.npz`` and ``<dataset>-val.npz`` (default dir ``~/.ogbench/data``).
    """
    if data.dataset_path:
        train = Path(os.path.expanduser(data.dataset_path))
        return train, train.with_name(train.name[: -len(".npz")] + "-val.npz")
    folder = Path(os.path.expanduser(data.dataset_dir or DEFAULT_DATASET_DIR))
    return folder / f"{data.dataset}.npz", folder / f"{data.dataset}-val.npz"


def sidecar(train_file: Path) -> Path:
    """The JSON description written next to an exported or generated dataset."""
    return train_file.with_suffix(".json")


def read_sidecar(train_file: Path) -> dict[str, Any] | None:
    """The dataset's JSON description, or None when there is none."""
    try:
        return dict(json.loads(sidecar(train_file).read_text()))
    except (OSError, json.JSONDecodeError):
        return None


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Send stdout to stderr: ogbench prints its download progress and mujoco.mjx a warning."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def check_available(data: DataSpec, download: bool = True) -> None:
    """Make sure an offline run's dataset files exist; download OGBench files if allowed.

    OGBench datasets missing from ``dataset_dir`` are fetched with ``ogbench.download_datasets``
    (as ``ogbench.make_env_and_datasets`` would). When that fails (no internet) nothing is
    left behind: a ``dataset_dir`` created for the download is removed again.

    Raises:
        DatasetError: a file is missing (and could not be downloaded), naming the files
            expected and where to put them.
    """
    train, val = dataset_files(data)
    missing = [p for p in (train, val) if not p.is_file()]
    if not missing:
        return
    source = data.resolved_source
    if source == "ogbench" and download and not data.dataset_path:
        folder = train.parent
        existed = folder.exists()
        try:
            with _quiet():
                import ogbench

                ogbench.download_datasets([str(data.dataset)], str(folder))
            return
        except Exception as exc:  # URLError, HTTPError, OSError: report below
            reason = f"{type(exc).__name__}: {exc}"
            for path in missing:
                Path(f"{path}.tmp").unlink(missing_ok=True)
            if not existed and folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
    else:
        reason = None
    names = " and ".join(str(p) for p in missing)
    if source == "ogbench":
        hint = (
            f"download {DATASET_URL}/{train.name} and {DATASET_URL}/{val.name} on a machine "
            f"with internet and put them in {train.parent} (data.dataset_dir), or point "
            "data.dataset_path at the training file"
        )
        if str(data.dataset).startswith("pointmaze-"):
            hint += (
                f"; or generate one here: harness data generate {data.dataset} --out {train.parent}"
            )
        what = f"dataset {data.dataset}: {names} not found"
        if reason:
            what += f" and ogbench could not download it ({reason})"
    else:
        hint = (
            "export one from an online run kept with data.save_replay: true: harness data "
            f"export RUN --out {train.parent} --name {train.stem}"
        )
        what = f"dataset {data.dataset}: {names} not found"
    raise DatasetError(f"{what}; {hint}")


#: Rank of each key's array: ``observations [N, obs_dim]``, ``actions [N, action_dim]``,
#: ``terminals [N]``.
_RANKS = {"observations": 2, "actions": 2, "terminals": 1}


def check_file(path: Path) -> None:
    """A dataset file is an npz archive holding :data:`KEYS` as arrays of the right ranks and
    one length. Only the archive's directory and the arrays' headers are read (nothing is
    decompressed), so this is quick for any size.

    Raises:
        DatasetError: naming the file and what is wrong with it (unreadable, not an npz file,
            missing keys, a key that is not an array, shapes that do not fit).
    """
    expected = f"expected keys {', '.join(KEYS)} (OGBench's format)"
    shapes: dict[str, tuple[int, ...]] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            members = {name.removesuffix(".npy"): name for name in archive.namelist()}
            missing = [key for key in KEYS if key not in members]
            if missing:
                raise DatasetError(
                    f"{path}: missing key{'s' if len(missing) > 1 else ''} {', '.join(missing)}; "
                    f"{expected}; the file has {', '.join(sorted(members)) or 'none'}"
                )
            for key in KEYS:
                with archive.open(members[key]) as member:
                    try:
                        version = np.lib.format.read_magic(member)
                        read = (
                            np.lib.format.read_array_header_1_0
                            if version == (1, 0)
                            else np.lib.format.read_array_header_2_0
                        )
                        shapes[key] = tuple(read(member)[0])
                    except ValueError as exc:
                        raise DatasetError(f"{path}: {key} is not a numpy array ({exc})") from None
    except zipfile.BadZipFile as exc:
        raise DatasetError(
            f"{path}: not an npz file (not a zip archive: {exc}); {expected}"
        ) from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read: {exc.strerror or exc}") from None
    for key, rank in _RANKS.items():
        if len(shapes[key]) != rank:
            raise DatasetError(
                f"{path}: {key} has shape {list(shapes[key])}; expected "
                f"{'[N, dim]' if rank == 2 else '[N]'}"
            )
    lengths = {key: shape[0] for key, shape in shapes.items()}
    if len(set(lengths.values())) > 1:
        raise DatasetError(
            f"{path}: arrays of different lengths: "
            + ", ".join(f"{key} {n}" for key, n in lengths.items())
        )


def check_run_data(cfg: RunConfig, download: bool = True) -> None:
    """An offline run's files exist (:func:`check_available`), are readable datasets
    (:func:`check_file`) and, for exported data with a ``<name>.json`` description, were
    collected in an env of ``env.id``'s dimensions.

    Raises:
        DatasetError: what is wrong and how to fix it.
    """
    check_available(cfg.data, download)
    for path in dataset_files(cfg.data):
        check_file(path)
    if cfg.data.resolved_source != "brax":
        return
    meta = read_sidecar(dataset_files(cfg.data)[0])
    if meta is None:
        return
    import envs

    info = envs.info(cfg.env.id)
    have = (meta.get("state_dim"), meta.get("action_dim"))
    if have != (info.state_dim, info.action_dim):
        raise DatasetError(
            f"dataset {cfg.data.dataset} was collected in {meta.get('env_id')} (state "
            f"{have[0]}, action {have[1]}); env.id {cfg.env.id} has state {info.state_dim}, "
            f"action {info.action_dim}: set env.id: {meta.get('env_id')}"
        )


def load(data: DataSpec) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Training and validation datasets of an offline data section, with ogbench's loader.

    OGBench datasets go through ``ogbench.make_env_and_datasets(..., dataset_only=True)``,
    exported ones through ``ogbench.utils.load_dataset``; both return transitions:
    ``observations [N, obs_dim]``, ``next_observations``, ``actions [N, action_dim]`` and
    ``terminals [N]`` (1 on the last transition of each trajectory).

    Raises:
        DatasetError: a file is missing (see :func:`check_available`) or is not a dataset
            (:func:`check_file`).
    """
    check_available(data, download=True)
    train_file, val_file = dataset_files(data)
    for path in (train_file, val_file):
        check_file(path)
    with _quiet():
        import ogbench
        from ogbench.utils import load_dataset

        if data.resolved_source == "ogbench":
            train, val = ogbench.make_env_and_datasets(
                str(data.dataset),
                dataset_dir=str(train_file.parent),
                dataset_path=str(train_file) if data.dataset_path else None,
                dataset_only=True,
                compact_dataset=False,
            )
        else:
            train = load_dataset(str(train_file), compact_dataset=False)
            val = load_dataset(str(val_file), compact_dataset=False)
    return dict(train), dict(val)


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write a compressed npz atomically (temporary name in the same folder, then rename)."""
    from harness.store import _atomic_write_bytes

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    _atomic_write_bytes(Path(path), buffer.getvalue())


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write a JSON description atomically."""
    from harness.store import write_json as store_write_json

    store_write_json(Path(path), payload)


# ------------------------------------------------------------------------------------------
# Point-maze generation


@dataclass(frozen=True)
class Generated:
    """What :func:`generate_pointmaze` wrote.

    Attributes:
        train, val: the two npz files.
        train_steps, val_steps: rows in each (env steps, ``episodes * episode_steps``).
        episodes, val_episodes: trajectories in each.
        wall_s: seconds taken.
    """

    train: Path
    val: Path
    train_steps: int
    val_steps: int
    episodes: int
    val_episodes: int
    wall_s: float


@contextlib.contextmanager
def _numpy_seed(seed: int) -> Iterator[None]:
    """Seed numpy's global RNG (OGBench's maze env draws start and goal noise from it) and
    restore its previous state afterwards."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def _maze_cells(maze_map: np.ndarray) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Free cells, and the free cells that are not the middle of a straight corridor (the goal
    cells of OGBench's navigate data)."""
    free, vertex = [], []
    rows, cols = maze_map.shape
    for i in range(rows):
        for j in range(cols):
            if maze_map[i, j] != 0:
                continue
            free.append((i, j))
            vertical = (
                maze_map[i - 1, j] == 0
                and maze_map[i + 1, j] == 0
                and maze_map[i, j - 1] == 1
                and maze_map[i, j + 1] == 1
            )
            horizontal = (
                maze_map[i, j - 1] == 0
                and maze_map[i, j + 1] == 0
                and maze_map[i - 1, j] == 1
                and maze_map[i + 1, j] == 1
            )
            corridor = vertical or horizontal
            if not corridor:
                vertex.append((i, j))
    return free, vertex


def _pointmaze_episode(
    env: Any,
    kind: str,
    free: list[tuple[int, int]],
    vertex: list[tuple[int, int]],
    rng: np.random.Generator,
    noise: float,
    columns: dict[str, list[np.ndarray]],
) -> None:
    """One episode of :func:`generate_pointmaze`: draw its start and goal, follow the oracle
    subgoal plus noise to the time limit, and append each step to ``columns``."""
    maze = env.unwrapped
    init_ij = free[rng.integers(len(free))]
    if kind == "navigate":
        goal_ij = vertex[rng.integers(len(vertex))]
    else:
        _, bfs = maze.get_oracle_subgoal(maze.ij_to_xy(init_ij), maze.ij_to_xy(init_ij))
        near = [c for c in free if bfs[c[0], c[1]] == STITCH_CELLS]
        goal_ij = near[rng.integers(len(near))] if near else init_ij
    ob, _ = env.reset(options={"task_info": {"init_ij": init_ij, "goal_ij": goal_ij}})
    done = False
    while not done:
        xy = maze.get_xy()
        subgoal, _ = maze.get_oracle_subgoal(xy, maze.cur_goal_xy)
        direction = subgoal - xy
        direction = direction / (np.linalg.norm(direction) + 1e-6)
        action = np.clip(direction + rng.normal(0.0, noise, direction.shape), -1.0, 1.0)
        next_ob, _, terminated, truncated, info = env.step(action)
        done = bool(terminated or truncated)
        if info["success"] and kind == "navigate":
            maze.set_goal(goal_ij=vertex[rng.integers(len(vertex))])
        columns["observations"].append(ob)
        columns["actions"].append(action)
        columns["terminals"].append(np.asarray(done))
        columns["qpos"].append(info["prev_qpos"])
        columns["qvel"].append(info["prev_qvel"])
        ob = next_ob


def generate_pointmaze(
    dataset: str,
    out_dir: Path,
    episodes: int,
    seed: int = 0,
    noise: float = POINTMAZE_NOISE,
    episode_steps: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Generated:
    """Generate an OGBench point-maze dataset with the env's oracle subgoal plus noise.

    Each step's action is the unit vector from the point to the oracle subgoal (the next maze
    cell on a shortest path to the goal, ``get_oracle_subgoal``) plus ``N(0, noise^2)`` per
    dimension, clipped to [-1, 1], as OGBench made its pointmaze data (Park et al. 2024, App.;
    ``data_gen_scripts/generate_locomaze.py``: the point "expert" is the subgoal direction).
    Starts are uniform over free cells; ``navigate`` goals are uniform over non-corridor cells
    and a new one is drawn on reaching the goal; ``stitch`` goals lie ``STITCH_CELLS`` cells from
    the start. Episodes never end at the goal (``terminate_at_goal=False``).

    Args:
        dataset: an OGBench point-maze dataset name, e.g. ``pointmaze-medium-navigate-v0``.
        out_dir: folder for ``<dataset>.npz`` and ``<dataset>-val.npz`` (created).
        episodes: training episodes; the validation file gets ``max(1, episodes // 10)``.
        seed: seeds numpy's global RNG (used by the env) and the action noise.
        noise: standard deviation of the Gaussian action noise (OGBench: 0.5).
        episode_steps: steps per episode; None = 1001 navigate, 201 stitch (OGBench).
        progress: called with ``(episodes done, episodes total)`` after each episode.

    Returns:
        The files written and their sizes.

    Raises:
        DatasetError: not a point-maze navigate or stitch dataset name.
    """
    env_name = ogbench_env_name(dataset)
    kind = dataset_type(dataset)
    if not env_name.startswith("pointmaze-") or kind not in EPISODE_STEPS:
        raise DatasetError(
            f"{dataset!r}: only point-maze navigate and stitch datasets can be generated here "
            "(e.g. pointmaze-medium-navigate-v0); ant and humanoid data need OGBench's expert "
            "policies, which ogbench does not ship"
        )
    if episodes < 1:
        raise DatasetError(f"episodes must be positive, got {episodes}")
    steps = episode_steps or EPISODE_STEPS[kind]
    val_episodes = max(1, episodes // 10)
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    with _quiet():
        import ogbench

        env = ogbench.make_env_and_datasets(
            dataset, env_only=True, terminate_at_goal=False, max_episode_steps=steps
        )
    maze = env.unwrapped
    free, vertex = _maze_cells(maze.maze_map)
    columns: dict[str, list[np.ndarray]] = {k: [] for k in (*KEYS, "qpos", "qvel")}
    total = episodes + val_episodes
    with _numpy_seed(seed):
        env.reset(seed=seed)
        env.action_space.seed(seed)
        for episode in range(total):
            _pointmaze_episode(env, kind, free, vertex, rng, noise, columns)
            if progress is not None:
                progress(episode + 1, total)
    env.close()
    split = episodes * steps
    arrays = {
        k: np.asarray(v, dtype=bool if k == "terminals" else np.float32) for k, v in columns.items()
    }
    out_dir = Path(out_dir)
    train_file, val_file = out_dir / f"{dataset}.npz", out_dir / f"{dataset}-val.npz"
    write_npz(train_file, {k: v[:split] for k, v in arrays.items()})
    write_npz(val_file, {k: v[split:] for k, v in arrays.items()})
    wall_s = time.perf_counter() - start
    write_json(
        sidecar(train_file),
        {
            "dataset": dataset,
            "source": "ogbench",
            "generator": "harness data generate (oracle subgoal direction + Gaussian noise)",
            "env": env_name,
            "episodes": episodes,
            "val_episodes": val_episodes,
            "episode_steps": steps,
            "noise": noise,
            "seed": seed,
        },
    )
    return Generated(
        train_file,
        val_file,
        split,
        len(arrays["terminals"]) - split,
        episodes,
        val_episodes,
        wall_s,
    )


# ------------------------------------------------------------------------------------------
# Online runs -> datasets


def replay_trajectories(replay: Replay) -> dict[str, np.ndarray]:
    """The trajectories held by an online replay, in OGBench's row format.

    Every env's ring is read oldest to newest and cut where its episode counter changes;
    trajectories of fewer than 2 steps (no transition) are dropped. The oldest trajectory of
    each env may have lost its start to the ring and the newest may be unfinished: both are
    kept as the shorter trajectories they are.

    Args:
        replay: a :class:`harness.replay.Replay` (``state [capacity, num_envs, state_dim]``).

    Returns:
        ``observations [N, state_dim]`` float32 (states, no goal), ``actions [N, action_dim]``
        float32 and ``terminals [N]`` bool, trajectories one after another.
    """
    size, insert = int(replay.size), int(replay.insert)
    capacity = int(replay.state.shape[0])
    rows = (insert - size + np.arange(size)) % capacity
    state = np.asarray(replay.state)[rows].swapaxes(0, 1)  # [num_envs, size, state_dim]
    action = np.asarray(replay.action)[rows].swapaxes(0, 1)
    traj = np.asarray(replay.traj_id)[rows].swapaxes(0, 1)  # [num_envs, size]
    ends = np.ones_like(traj, dtype=bool)
    ends[:, :-1] = traj[:, 1:] != traj[:, :-1]
    flat_ends = ends.reshape(-1)
    starts = np.concatenate([[0], np.flatnonzero(flat_ends)[:-1] + 1])
    lengths = np.flatnonzero(flat_ends) - starts + 1
    keep = np.repeat(lengths >= 2, lengths)
    return {
        "observations": state.reshape(-1, state.shape[-1])[keep].astype(np.float32),
        "actions": action.reshape(-1, action.shape[-1])[keep].astype(np.float32),
        "terminals": flat_ends[keep],
    }


def save_replay(path: Path, replay: Replay) -> None:
    """Write an online run's final replay as trajectories (:func:`replay_trajectories`)."""
    write_npz(path, replay_trajectories(replay))


@dataclass(frozen=True)
class Exported:
    """What :func:`export_run` wrote: files, rows (env steps) and trajectories of each."""

    train: Path
    val: Path
    train_steps: int
    val_steps: int
    trajectories: int
    val_trajectories: int
    env_id: str


def find_run(run: str, results: Path) -> Path:
    """A run folder from a path or a run id (searched as ``<results>/*/<run_id>``).

    Raises:
        DatasetError: no such folder, or a run id found under several specs.
    """
    path = Path(run)
    if (path / "config.json").is_file():
        return path
    matches = sorted(p.parent for p in Path(results).glob(f"*/{run}/config.json"))
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise DatasetError(
            f"run id {run} is in several specs: {', '.join(map(str, matches))}; give the folder"
        )
    raise DatasetError(f"{run}: no run folder (with config.json) there or under {results}/*/")


def export_run(
    run_dir: Path, out_dir: Path, name: str | None = None, val_fraction: float = 0.1
) -> Exported:
    """Write the trajectories an online run kept as an OGBench-format dataset.

    The run must have been made with ``data.save_replay: true`` (its ``replay.npz``). The last
    ``val_fraction`` of its trajectories (at least one) form ``<name>-val.npz``; the rest
    ``<name>.npz``; ``<name>.json`` records the Brax env (id, state and goal layout), the run and
    its settings, so that an offline spec with ``source: brax`` evaluates on the same env.

    Args:
        name: dataset name; None = ``<env id>-<algo>-d<critic depth>-<run id>``.

    Raises:
        DatasetError: no ``replay.npz`` in the run, fewer than 2 trajectories, or a bad name.
    """
    run_dir = Path(run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    cfg = config["config"]
    replay_file = run_dir / "replay.npz"
    if not replay_file.is_file():
        raise DatasetError(
            f"{run_dir}: the run kept no trajectories (no replay.npz); set data.save_replay: "
            "true in its spec and run it again"
        )
    env_id = cfg["env"]["id"]
    run_id = config.get("run_id", run_dir.name)
    name = name or f"{env_id}-{cfg['algo']['name']}-d{cfg['network']['critic_depth']}-{run_id}"
    if not _NAME_RE.match(name):
        raise DatasetError(f"dataset name {name!r}: use letters, digits, '.', '_' and '-' only")
    with np.load(replay_file) as file:
        arrays = {k: file[k] for k in KEYS}
    ends = np.flatnonzero(arrays["terminals"])
    if len(ends) < 2:
        raise DatasetError(f"{run_dir}: replay.npz holds {len(ends)} trajectories; need 2")
    n_val = min(max(1, round(val_fraction * len(ends))), len(ends) - 1)
    split = int(ends[len(ends) - n_val - 1]) + 1
    out_dir = Path(out_dir)
    train_file, val_file = out_dir / f"{name}.npz", out_dir / f"{name}-val.npz"
    write_npz(train_file, {k: v[:split] for k, v in arrays.items()})
    write_npz(val_file, {k: v[split:] for k, v in arrays.items()})
    import envs

    info = envs.info(env_id)
    write_json(
        sidecar(train_file),
        {
            "dataset": name,
            "source": "brax",
            "env_id": env_id,
            "state_dim": info.state_dim,
            "goal_indices": list(info.goal_indices),
            "action_dim": info.action_dim,
            "run_id": run_id,
            "spec": config.get("spec"),
            "run_dir": str(run_dir.resolve()),
            "algo": cfg["algo"]["name"],
            "critic_depth": cfg["network"]["critic_depth"],
            "actor_depth": cfg["network"]["actor_depth"],
            "trajectories": len(ends) - n_val,
            "val_trajectories": n_val,
        },
    )
    return Exported(
        train_file,
        val_file,
        split,
        len(arrays["terminals"]) - split,
        len(ends) - n_val,
        n_val,
        env_id,
    )
