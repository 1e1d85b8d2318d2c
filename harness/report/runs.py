"""Reading run folders: one :class:`RunResult` per folder, with its status and final score.

Input: run folders ``<results>/<spec>/<run_id>/`` (``shared/DESIGN.md``, "Results layout"):
``metrics.parquet`` (long format, :data:`harness.store.METRICS_SCHEMA`), ``run.json`` (status),
``config.json`` (resolved config) and, for completed runs, ``params/`` (final parameters).

A run's final score is the mean of its last ``K`` evaluations of a metric, K = its spec's
``eval.last_k`` (as in ``harness run`` and ``harness status``; :func:`spec_last_k`) unless
``harness report --last K`` overrides it; :data:`LAST_K_BY_MODE` only for a folder without
``config.json`` (Wang et al. 2025, arXiv 2503.14858, Sec. 5: last 5 evaluations online;
OGBench, Park et al. 2024, arXiv 2410.20092: last 3 evaluations offline). A run's status comes from its
record and, for Slurm jobs, ``squeue`` (:func:`harness.status.effective_status`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from harness.store import STATUS_COMPLETED, BrokenFile, load_json, read_json, read_metrics

#: Default metric of the report: steps within the success radius (Wang et al. 2025, Sec. 5).
DEFAULT_METRIC = "eval/time_at_goal"
#: Evaluations averaged into a final score per data mode when a run's config does not give
#: ``eval.last_k``: online, last 5 (Wang et al. 2025, Sec. 5); offline, last 3 (OGBench, Park
#: et al. 2024: 800k, 900k and 1M gradient steps).
LAST_K_BY_MODE = {"online": 5, "offline": 3}
#: Parquet grouping columns (:data:`harness.store.METRICS_SCHEMA`) -> the config path they copy.
COLUMN_PATHS = {
    "spec": "spec",
    "env_id": "env.id",
    "algo": "algo.name",
    "data_mode": "data.mode",
    "critic_depth": "network.critic_depth",
    "actor_depth": "network.actor_depth",
    "width": "network.width",
    "batch_size": "algo.batch_size",
    "seed": "seed",
}


class ReportError(Exception):
    """Bad input to the report (no results, unknown field, unknown run): exit code 2."""


@dataclasses.dataclass(frozen=True)
class RunResult:
    """One run folder, read.

    Attributes:
        run_id: the folder name (a 12-hex-digit hash, :func:`harness.plan.run_id`).
        path: the run folder.
        status: ``completed``, ``running``, ``failed``, ``preempted``, ``cancelled``, ``lost``,
            ``pending`` (config written, never started), ``incomplete`` (record says
            completed but ``metrics.parquet`` is missing) or ``broken`` (a file of the run
            cannot be read; ``error`` names it).
        fields: grouping values: the Parquet grouping columns (or the same values from
            ``config.json``) and any dotted config path asked for.
        score: mean of the last ``last_k`` evaluations of the metric, or None without any.
        last_k: evaluations averaged into ``score``.
        steps: ``[n_evals]`` env steps of each evaluation of the metric, ascending (gradient
            steps for offline runs, whose env steps do not change).
        values: ``[n_evals]`` the metric at those env steps.
        random_score: the same metric under the uniform random policy (``random/<name>``,
            measured before training), or None.
        env_steps: the last env step with a metric row (any metric), or None.
        total_env_steps: env steps the run is configured for (``data.total_env_steps``).
        episode_length: steps per evaluation episode (the unit of ``time_at_goal``).
        critic_params: parameters of both critic encoders, from the config (closed form).
        error: the error message of a failed run; for a broken run, each unreadable file
            and why (``metrics.parquet: not a readable Parquet file (...)``).
        config: the resolved run config (``config.json``'s ``config``), or None.
        has_params: whether ``params/`` (final parameters) exists.
    """

    run_id: str
    path: Path
    status: str
    fields: dict[str, Any]
    score: float | None
    last_k: int
    steps: np.ndarray
    values: np.ndarray
    random_score: float | None
    env_steps: int | None
    total_env_steps: int | None
    episode_length: int | None
    critic_params: int | None
    error: str | None
    config: dict[str, Any] | None
    has_params: bool

    @property
    def env_id(self) -> str:
        return str(self.fields.get("env_id"))


def _config_value(config: dict[str, Any] | None, path: str) -> Any:
    """``config.json``'s value at a dotted path: looked up in the resolved run config, then at
    the top level (``spec``, ``axes``, ``hardware.*``); None when absent."""
    if not config:
        return None
    for root in (config.get("config") or {}, config):
        node: Any = root
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                node = None
                break
            node = node[part]
        if node is not None:
            return node
    return None


def spec_last_k(config: dict[str, Any] | None, mode: str = "online") -> int:
    """The K of a run's final score: its spec's ``eval.last_k`` (``config.json``), the same K
    that ``harness run`` and ``harness status`` use; :data:`LAST_K_BY_MODE` of its data mode
    when the config does not say (a folder without ``config.json``)."""
    k = _config_value(config, "eval.last_k")
    if isinstance(k, int) and k >= 1:
        return k
    return LAST_K_BY_MODE.get(mode, LAST_K_BY_MODE["online"])


def is_run_dir(path: Path) -> bool:
    """A run folder holds ``run.json`` or ``config.json`` (``_slurm/`` and ``report/`` do not)."""
    return (path / "run.json").is_file() or (path / "config.json").is_file()


def find_run_dirs(root: Path) -> list[Path]:
    """Every run folder at or below ``root``, sorted; run folders are not searched further.

    Folders whose name starts with ``_`` or ``.`` (``_slurm``) and ``report`` are skipped.
    """
    root = Path(root)
    if is_run_dir(root):
        return [root]
    found = []
    for current, dirs, _files in os.walk(root):
        here = Path(current)
        if here != root and is_run_dir(here):
            found.append(here)
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith(("_", ".")) and d != "report")
    return sorted(found)


def _live_slurm_states(records: Iterable[dict[str, Any]]) -> dict[str, str]:
    """squeue states of the runs' Slurm jobs, when Slurm is reachable (else empty)."""
    from harness.status import live_states, slurm_available

    job_ids = [str(r["slurm_job_id"]) for r in records if r.get("slurm_job_id")]
    if not job_ids or not slurm_available():
        return {}
    return live_states(job_ids)


def _episode_length(config: dict[str, Any] | None, env_id: Any) -> int | None:
    length = _config_value(config, "env.episode_length")
    if length:
        return int(length)
    try:
        import envs

        return int(envs.info(str(env_id)).episode_length)
    except (KeyError, ValueError):
        return None


def _critic_params(config: dict[str, Any] | None) -> int | None:
    """Parameters of both critic encoders (closed form, :func:`harness.plan.param_counts`)."""
    if not config or "config" not in config:
        return None
    from pydantic import ValidationError

    from harness.plan import param_counts
    from harness.spec import RunConfig

    try:
        return param_counts(RunConfig.model_validate(config["config"]))["critic_params"]
    except (ValidationError, KeyError, ValueError):
        return None


def _load(path: Path, problems: list[str]) -> Any:
    """A run folder's JSON (``run.json``, ``config.json``) or metrics file, or None when it is
    missing or unreadable; an unreadable one is added to ``problems``, named."""
    try:
        return read_metrics(path) if path.suffix == ".parquet" else load_json(path)
    except FileNotFoundError:
        return None
    except BrokenFile as exc:
        problems.append(f"{path.name}: {exc.reason}")
        return None


def read_run(
    path: Path,
    metric: str = DEFAULT_METRIC,
    last_k: int | None = None,
    fields: Sequence[str] = (),
    live: dict[str, str] | None = None,
) -> RunResult:
    """Read one run folder.

    Args:
        path: the run folder.
        metric: metric name in the Parquet (``eval/time_at_goal``).
        last_k: evaluations averaged into the score (``--last``); None = the run's own
            ``eval.last_k`` (:func:`spec_last_k`).
        fields: extra grouping fields: Parquet columns or dotted config paths.
        live: squeue states by Slurm job id (to tell ``lost`` runs), see
            :func:`harness.status.effective_status`.
    """
    from harness.lock import is_held
    from harness.status import STATUS_BROKEN, effective_status

    path = Path(path)
    problems: list[str] = []
    record = _load(path / "run.json", problems) or {}
    config = _load(path / "config.json", problems)
    job = str(record.get("slurm_job_id") or "")
    status = effective_status(record, (live or {}).get(job), is_held(path)) if record else "pending"
    metrics_path = path / "metrics.parquet"
    if status == STATUS_COMPLETED and not metrics_path.exists():
        status = "incomplete"
    values: dict[str, Any] = {}
    steps = np.zeros(0, np.int64)
    vals = np.zeros(0, np.float64)
    random_score = None
    env_steps = None
    if metrics_path.exists():
        table: pa.Table | None = _load(metrics_path, problems)
        if table is not None and table.num_rows:
            first = table.slice(0, 1).to_pylist()[0]
            values.update({c: first[c] for c in COLUMN_PATHS if c in first})
            env_steps = int(max(table.column("env_steps").to_pylist()))
            names = np.asarray(table.column("metric").to_pylist(), dtype=object)
            # Offline runs do not step an env: their curves run along gradient steps.
            step_column = "grad_steps" if first.get("data_mode") == "offline" else "env_steps"
            all_steps = table.column(step_column).to_numpy()
            all_vals = table.column("value").to_numpy()
            pick = names == metric
            order = np.argsort(all_steps[pick], kind="stable")
            steps = all_steps[pick][order].astype(np.int64)
            vals = all_vals[pick][order].astype(np.float64)
            random_name = "random/" + metric.split("/", 1)[-1]
            rand = all_vals[names == random_name]
            random_score = float(np.mean(rand)) if rand.size else None
    for column, config_path in COLUMN_PATHS.items():
        if values.get(column) is None:
            value = _config_value(config, config_path)
            values[column] = value if value is not None else record.get(column)
    for name in fields:
        if name not in values:
            values[name] = _config_value(config, name)
    mode = str(values.get("data_mode") or "online")
    k = last_k if last_k is not None else spec_last_k(config, mode)
    score = float(np.mean(vals[-k:])) if vals.size else None
    error = record.get("error")
    message = None
    if isinstance(error, dict):
        message = f"{error.get('type', 'Error')}: {error.get('message', '')}"
    elif error:
        message = str(error)
    if problems:  # named in the report's list of runs not finished
        status, message = STATUS_BROKEN, "; ".join(problems)
    total = _config_value(config, "data.total_env_steps")
    return RunResult(
        run_id=path.name,
        path=path,
        status=status,
        fields=values,
        score=score,
        last_k=k,
        steps=steps,
        values=vals,
        random_score=random_score,
        env_steps=env_steps,
        total_env_steps=int(total) if total else None,
        episode_length=_episode_length(config, values.get("env_id")),
        critic_params=_critic_params(config),
        error=message,
        config=config,
        has_params=(path / "params").is_dir(),
    )


def load_runs(
    root: Path,
    metric: str = DEFAULT_METRIC,
    last_k: int | None = None,
    fields: Sequence[str] = (),
) -> list[RunResult]:
    """Read every run folder at or below ``root`` (see :func:`find_run_dirs`).

    Raises:
        ReportError: if ``root`` does not exist or holds no run folder.
    """
    root = Path(root)
    if not root.exists():
        raise ReportError(f"no results found: {root} does not exist")
    dirs = find_run_dirs(root)
    if not dirs:
        raise ReportError(
            f"no results found under {root}: no run folder (with run.json or config.json)"
        )
    records = [read_json(d / "run.json") or {} for d in dirs]
    live = _live_slurm_states(records)
    return [read_run(d, metric, last_k, fields, live) for d in dirs]


def planned_ids(spec: Any) -> set[str]:
    """Run ids a :class:`harness.spec.Spec` expands into now (:func:`harness.plan.expand`)."""
    from harness.plan import expand

    return {run.run_id for run in expand(spec)}


def pending_runs(
    spec: Any, results: Path, found: Iterable[RunResult], fields: Sequence[str] = ()
) -> list[RunResult]:
    """Runs a spec plans that have no folder yet, as ``pending`` results (never started).

    Args:
        spec: a :class:`harness.spec.Spec`.
        results: the results root (the spec's runs live in ``results/<spec name>/``).
        found: runs already read.
        fields: extra grouping fields (dotted config paths), as :func:`load_runs` takes them.
    """
    from harness.plan import expand

    have = {r.run_id for r in found}
    out = []
    for run in expand(spec):
        if run.run_id in have:
            continue
        cfg = run.config.model_dump(mode="json")
        config = {"config": cfg, "spec": spec.name}
        values = {c: _config_value(config, p) for c, p in COLUMN_PATHS.items()}
        values |= {f: _config_value(config, f) for f in fields if f not in values}
        out.append(
            RunResult(
                run_id=run.run_id,
                path=Path(results) / spec.name / run.run_id,
                status="pending",
                fields=values,
                score=None,
                last_k=0,
                steps=np.zeros(0, np.int64),
                values=np.zeros(0),
                random_score=None,
                env_steps=None,
                total_env_steps=run.config.data.total_env_steps,
                episode_length=None,
                critic_params=None,
                error=None,
                config=config,
                has_params=False,
            )
        )
    return out


def find_run(runs: Sequence[RunResult], run_id: str) -> RunResult:
    """The run whose id is ``run_id`` or starts with it.

    Raises:
        ReportError: no run or several runs match.
    """
    exact = [r for r in runs if r.run_id == run_id]
    matches = exact or [r for r in runs if r.run_id.startswith(run_id)]
    if not matches:
        raise ReportError(f"--value-map {run_id}: no such run among {len(runs)} runs read")
    if len(matches) > 1:
        raise ReportError(
            f"--value-map {run_id}: matches {len(matches)} runs "
            f"({', '.join(r.run_id for r in matches[:5])}); give more digits"
        )
    return matches[0]
