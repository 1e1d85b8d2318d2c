"""Expand a spec into runs, each with a stable ``run_id``; what the runs cost and need.

Runs are the grid product of the sweep axes (in file order) times the seeds. ``run_id`` is the
first 12 hex digits of the SHA-256 of the canonical JSON (sorted keys, None-valued fields left
out) of the resolved :class:`~harness.spec.RunConfig`: everything that changes what a run computes (env, network,
algo, data, eval, seed) and nothing about where it runs (hardware). The code version is
recorded in each run record instead (``shared/DESIGN.md``, "Run identity").

:func:`describe` lists the runs with their step counts (:func:`harness.train.schedule`,
:func:`harness.offline.offline_schedule`), parameter counts and completion state;
:func:`check_datasets` makes sure the offline runs' data exist and :func:`check_results` that
the results folder can be written, before anything is written.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import envs
from harness import algos, blocks
from harness.lock import is_held
from harness.networks import encoder_param_count
from harness.spec import RunConfig, Spec, SpecError, sweep_assign
from harness.store import RunDir, WriteError, check_writable, read_json


@dataclass(frozen=True)
class PlannedRun:
    """One run of a spec.

    Attributes:
        run_id: stable 12-hex-digit id (see module docstring).
        config: the resolved run config.
        axes: the sweep values that picked this run (dotted path -> value), plus ``seed``.
    """

    run_id: str
    config: RunConfig
    axes: dict[str, Any]

    def columns(self) -> dict[str, Any]:
        """The run's identifying columns, as in tables and metrics.parquet."""
        cfg = self.config
        return {
            "run_id": self.run_id,
            "env_id": cfg.env_label,
            "critic_depth": cfg.network.critic_depth,
            "actor_depth": cfg.network.actor_depth,
            "width": cfg.network.width,
            "batch_size": cfg.algo.batch_size,
            "seed": cfg.seed,
        }


def run_id(config: RunConfig) -> str:
    """Stable short hash of a run config (see module docstring).

    Fields whose value is None are left out of the hashed JSON, so an optional field added to
    the spec format later (default None) leaves the ids of finished runs unchanged; so are
    ``data.dataset_dir`` and ``data.dataset_path`` (a dataset is named by ``data.dataset``).
    Offline runs leave out ``data.prefill`` and ``env.reset`` (online collection only), and
    ``data.sampler`` enters only online runs with geometric relabelling (crl, gcbc), and only
    as ``window`` (``iid`` was the only behaviour before the field existed); offline
    runs on OGBench data also ``env.contacts``, ``env.cell_jitter`` and ``env.goal_max_cells``
    (no Brax env);
    ``algo.tanh_log_det`` enters only for CRL with its SAC-style actor (the one that reads it);
    ``eval.record_episodes`` only when not 0 (recording episodes changes what a run writes);
    ``network.block`` only when it is not the paper's ``residual`` (the only block before the
    field existed).
    An env whose physics a fix changed after results were recorded
    (``envs.EnvInfo.physics_revision`` nonzero) adds ``env.physics_revision`` to every run that
    simulates it (all but offline runs on OGBench data).
    """
    dump = config.model_dump(mode="json", exclude_none=True)
    # Where an offline dataset lies is not what a run computes (its name is): moving the files
    # keeps the ids.
    for location in ("dataset_dir", "dataset_path"):
        dump["data"].pop(location, None)
    if dump["network"].get("block") == blocks.DEFAULT:
        dump["network"].pop("block")  # the paper's block: the ids runs had before the field
    # Fields that change only online collection, or only the Brax env, leave the ids of runs
    # they cannot affect as they were before the fields existed.
    reads = algos.get(config.algo.name).reads
    if "tanh_log_det" not in reads or config.resolved_actor_loss != "sac":
        dump["algo"].pop("tanh_log_det", None)  # only the CRL SAC-style actor reads it
    # data.sampler: only online geometric relabelling reads it, and iid (the harness's former
    # sampler) keeps the ids that runs had before the field existed; window enters with its value.
    geometric = (
        dump["data"]["mode"] == "online" and algos.get(config.algo.name).batch == "geometric"
    )
    if not geometric or dump["data"].get("sampler") == "iid":
        dump["data"].pop("sampler", None)
    if dump["data"]["mode"] == "offline":
        dump["data"].pop("prefill", None)
        dump["env"].pop("reset", None)
        if config.data.resolved_source == "ogbench":
            for option in ("contacts", "cell_jitter", "goal_max_cells"):
                dump["env"].pop(option, None)
    # eval.record_episodes: 0 (none) was the only behaviour before the field existed.
    if not dump["eval"].get("record_episodes"):
        dump["eval"].pop("record_episodes", None)
    simulated = dump["data"]["mode"] == "online" or config.data.resolved_source != "ogbench"
    revision = envs.info(config.env.id).physics_revision if simulated else 0
    if revision:
        dump["env"]["physics_revision"] = revision
    canonical = json.dumps(dump, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def expand(spec: Spec) -> list[PlannedRun]:
    """All runs of a spec, in sweep order (first axis slowest), seeds innermost.

    Duplicate configurations (e.g. the same value listed twice) appear once.
    """
    base = spec.model_dump(mode="json", include={"env", "network", "algo", "data", "eval"})
    axes = list(spec.sweep.items())
    runs: list[PlannedRun] = []
    seen: set[str] = set()
    for values in itertools.product(*(vals for _, vals in axes)):
        for seed in spec.seeds:
            data = copy.deepcopy(base)
            for (path, _), value in zip(axes, values, strict=True):
                sweep_assign(data, path, value)
            data["seed"] = seed
            config = RunConfig.model_validate(data)
            rid = run_id(config)
            if rid in seen:
                continue
            seen.add(rid)
            chosen = {path: value for (path, _), value in zip(axes, values, strict=True)}
            chosen["seed"] = seed
            runs.append(PlannedRun(rid, config, chosen))
    return runs


def seed_groups(runs: list[PlannedRun], size: int) -> list[list[PlannedRun]]:
    """Groups of runs to train together (``hardware.seed_group``): consecutive runs whose
    configs differ only in the seed, at most ``size`` per group, in order. Offline runs and
    ``size`` 1 give groups of one. Run ids do not depend on the grouping.

    Args:
        runs: runs in sweep order (seeds innermost, as :func:`expand` gives them); pass only
            the pending ones, so that a finished seed is never trained again.
        size: most seeds per group (>= 1).
    """
    groups: list[list[PlannedRun]] = []
    key_of_last: str | None = None
    for run in runs:
        key = run.config.seedless_key
        joins = (
            groups
            and key == key_of_last
            and len(groups[-1]) < size
            and run.config.data.mode == "online"
        )
        if joins:
            groups[-1].append(run)
        else:
            groups.append([run])
        key_of_last = key
    return groups


def param_counts(config: RunConfig) -> dict[str, int]:
    """Parameter counts of actor and critic (both CRL encoders, or both Q-networks of the TD
    baselines; targets not counted), from the env's dimensions.

    Closed form (:func:`harness.networks.encoder_param_count`); no compile.
    """
    info = envs.info(config.env.id)
    state_dim, goal_dim, action_dim = info.state_dim, info.goal_dim, info.action_dim
    if config.data.resolved_source == "ogbench":
        from harness.datasets import ogbench_dims

        state_dim, action_dim = ogbench_dims(str(config.data.dataset))
        goal_dim = state_dim  # OGBench goals are whole observations
    net = config.network
    ln, block = net.layer_norm, net.block
    phi = encoder_param_count(
        state_dim + action_dim, net.critic_depth, net.width, net.repr_dim, ln, block
    )
    psi = encoder_param_count(goal_dim, net.critic_depth, net.width, net.repr_dim, ln, block)
    critic = phi + psi  # harness.algos.AlgoDef.critic == "contrastive"
    kind = algos.get(config.algo.name).critic
    if kind == "none":
        critic = 0
    elif kind == "twin_q":  # twin Q-networks on concat(s, a, g), scalar heads
        in_dim = state_dim + action_dim + goal_dim
        critic = 2 * encoder_param_count(in_dim, net.critic_depth, net.width, 1, ln, block)
    width = net.resolved_actor_width
    actor = encoder_param_count(state_dim + goal_dim, net.actor_depth, width, None, ln, block)
    actor += 2 * (width * action_dim + action_dim)
    return {"actor_params": actor, "critic_params": critic}


def state_bytes(config: RunConfig, n: int = 1) -> int | None:
    """Expected device memory of the training state of ``n`` seeds of an online run trained
    together (:func:`harness.seeds.group_memory_bytes`): each seed's replay
    (:func:`harness.replay.replay_init`'s layout) plus its parameters with Adam's two moments
    (and the TD baselines' target networks). None for offline runs (their dataset is shared).
    Activations, env states and XLA's scratch space are not counted."""
    from harness.seeds import group_memory_bytes

    if config.data.mode != "online":
        return None
    info = envs.info(config.env.id)
    cells = config.data.replay_size_per_env * config.data.num_envs
    algo = algos.get(config.algo.name)
    replay = 4 * cells * (info.state_dim + info.action_dim + 1)
    if algo.batch == "transition":  # commanded goals and terminal flags are kept
        replay += cells * (4 * info.goal_dim + 1)
    counts = param_counts(config)
    copies = 4 if algo.has_targets else 3  # params, Adam m and v (+ targets)
    params = counts["actor_params"] + counts["critic_params"]
    return group_memory_bytes(n, replay, params, copies)


def check_memory(spec: Spec, source: str) -> None:
    """Every seed group of ``spec`` fits ``hardware.device_memory_gb`` (when set).

    Raises:
        SpecError: ``SOURCE: hardware.seed_group: ...`` naming the group's expected memory,
            the stated memory and the largest group size that fits.
    """
    limit = spec.hardware.device_memory_gb
    if limit is None:
        return
    problems = []
    for group in seed_groups(expand(spec), spec.hardware.seed_group):
        need = state_bytes(group[0].config, len(group))
        if need is None or need <= limit * 1e9:
            continue
        one = state_bytes(group[0].config, 1) or 1
        fits = int(limit * 1e9 // one)
        problems.append(
            f"{source}: hardware.seed_group: a group of {len(group)} seeds of "
            f"{group[0].config.env_label} (critic depth {group[0].config.network.critic_depth}) "
            f"needs about {need / 1e9:.1f} GB for replays, parameters and Adam moments, more "
            f"than hardware.device_memory_gb = {limit:g}; at most {fits} seeds fit"
        )
        break
    if problems:
        raise SpecError(problems)


def describe(spec: Spec, results: Path) -> list[dict[str, Any]]:
    """Rows for ``harness plan``: one per run with ids, sizes, steps and completion state, its
    seed group (``group``, numbered from 1, over all runs; at run time groups form from the
    pending runs only) and the expected device memory of that group's state (``state_gb``,
    :func:`state_bytes`; None offline)."""
    from harness.train import schedule

    runs = expand(spec)
    group_of: dict[str, tuple[int, int]] = {}
    for number, group in enumerate(seed_groups(runs, spec.hardware.seed_group), start=1):
        for run in group:
            group_of[run.run_id] = (number, len(group))
    rows = []
    for run in runs:
        cfg = run.config
        if cfg.data.mode == "offline":
            from harness.offline import offline_schedule

            env_steps, grad_steps = 0, offline_schedule(cfg).total_grad_steps
        else:
            sched = schedule(cfg)
            env_steps, grad_steps = sched.total_env_steps, sched.total_grad_steps
        rundir = RunDir(results, spec.name, run.run_id)
        record = rundir.read_record()
        status = "pending"
        if record:
            status = str(record.get("status", "pending"))
            if status == "completed" and not rundir.is_complete():
                status = "incomplete"
            # A local run recorded running whose lock nobody holds: its process died
            # (harness.status.effective_status says the same, with squeue for Slurm runs).
            local = not record.get("slurm_job_id")
            if status == "running" and local and is_held(rundir.path) is False:
                status = "lost"
        rows.append(
            {
                **run.columns(),
                "algo": cfg.algo.name,
                "data_mode": cfg.data.mode,
                "env_steps": env_steps,
                "grad_steps": grad_steps,
                **param_counts(cfg),
                "status": status,
                "group": group_of[run.run_id][0],
                "state_gb": (lambda b: None if b is None else b / 1e9)(
                    state_bytes(cfg, group_of[run.run_id][1])
                ),
                "axes": run.axes,
                "path": str(rundir.path),
            }
        )
    return rows


def check_datasets(spec: Spec, source: str, results: Path) -> None:
    """Offline runs not yet complete need their dataset files (OGBench ones are downloaded
    where possible); otherwise raise :class:`SpecError` before anything is written.

    Args:
        source: the spec file, named in the problems.
        results: the results root (complete runs need no data).

    Raises:
        SpecError: one ``SOURCE: data.dataset: problem`` line per dataset (and env) that is
            missing or does not fit its env (:func:`harness.datasets.check_run_data`).
    """
    from harness.datasets import DatasetError, check_run_data, dataset_files

    problems, seen = [], set()
    for run in expand(spec):
        cfg = run.config
        if cfg.data.mode != "offline" or RunDir(results, spec.name, run.run_id).is_complete():
            continue
        key = (dataset_files(cfg.data), cfg.env.id)
        if key in seen:
            continue
        seen.add(key)
        try:
            check_run_data(cfg)
        except DatasetError as exc:
            problems.append(f"{source}: data.dataset: {exc}")
    if problems:
        raise SpecError(problems)


def check_results(spec: Spec, results: Path) -> None:
    """The spec's results folder ``<results>/<name>/`` can be written: it is created, and a
    probe file written in it and removed (:func:`harness.store.check_writable`).

    Raises:
        SpecError: ``results: cannot write PATH: CAUSE`` (a full disk, a read-only file
            system, a path that is a file).
    """
    try:
        check_writable(Path(results) / spec.name)
    except WriteError as exc:
        raise SpecError([f"results: {exc}"]) from None


def spec_files_in(folder: Path) -> dict[str, list[str]]:
    """The spec files that made the run folders in ``folder`` (``<results>/<name>/``), from
    each ``config.json``'s ``spec_file``: spec file -> run ids. Runs without one (written
    before it was recorded, or unreadable) are left out."""
    found: dict[str, list[str]] = {}
    for config in sorted(Path(folder).glob("*/config.json")):
        spec_file = (read_json(config) or {}).get("spec_file")
        if isinstance(spec_file, str) and spec_file:
            found.setdefault(spec_file, []).append(config.parent.name)
    return found


def check_shared_name(spec: Spec, source: str, results: Path) -> None:
    """Refuse a spec whose results folder ``<results>/<name>/`` holds runs made by another
    spec file under the same ``name:``: the two would share the folder without a word, and
    ``harness report SPEC`` would pool them (``harness run --allow-shared-name`` allows it).

    Args:
        source: the spec file (compared by its resolved path with each run's ``spec_file``).

    Raises:
        SpecError: ``SOURCE: name: ...`` naming the other spec file(s) and the folder.
    """
    folder = Path(results) / spec.name
    mine = str(Path(source).resolve())
    others = {f: ids for f, ids in spec_files_in(folder).items() if f != mine}
    if not others:
        return
    named = "; ".join(f"{len(ids)} from {f}" for f, ids in sorted(others.items()))
    raise SpecError(
        [
            f"{source}: name: {spec.name!r} is also the name of another spec: {folder} holds "
            f"runs of it ({named}); give this spec its own `name:`, or pass "
            "--allow-shared-name to write into that folder (reports of either spec then "
            "pool both)"
        ]
    )


def eval_points(cfg: RunConfig) -> tuple[str, list[int]]:
    """Where a complete run has evaluated: the Parquet step column (``env_steps`` online,
    ``grad_steps`` offline) and its values at every evaluation, the one before training
    included (:func:`harness.train.schedule`, :func:`harness.offline.offline_schedule`)."""
    if cfg.data.mode == "offline":
        from harness.offline import offline_schedule

        return "grad_steps", [0, *offline_schedule(cfg).eval_steps]
    from harness.train import schedule

    sched = schedule(cfg)
    iterations = (0, *sched.eval_iters)
    return "env_steps", [(sched.prefill_iters + it) * sched.steps_per_iter for it in iterations]
