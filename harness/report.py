"""Read many runs' results and turn them into tables: mean +- s.e., IQM with a bootstrap CI.

Input: run folders ``<results>/<spec>/<run_id>/`` (``shared/DESIGN.md``, "Results layout"):
``metrics.parquet`` (long format, :data:`harness.store.METRICS_SCHEMA`), ``run.json`` (status),
``config.json`` (resolved config) and, for completed runs, ``params/`` (final parameters).

A run's final score is the mean of its last ``K`` evaluations of a metric (Wang et al. 2025,
arXiv 2503.14858, Sec. 5: last 5 evaluations online; OGBench, Park et al. 2024, arXiv
2410.20092: last 3 evaluations offline). Runs are grouped by ``env_id`` and the ``--by`` fields
(Parquet columns such as ``critic_depth`` or dotted config paths such as ``network.width``);
each group gets:

- mean and standard error over seeds (the paper's error bars: one s.e.),
- the interquartile mean (IQM, mean of the middle 50 %, ``scipy.stats.trim_mean(x, 0.25)``)
  with a 95 % percentile bootstrap confidence interval (``scipy.stats.bootstrap``; Agarwal et
  al. 2021, "Deep RL at the Edge of the Statistical Precipice", arXiv 2108.13264),
- the ratio of its mean to the shallowest setting's mean (the paper's "2x to 50x").

:func:`compare` gives the probability of improvement ``P(X > Y) + 0.5 P(X = Y)`` between two
settings (Agarwal et al. 2021) with a stratified bootstrap CI (strata: environments and
settings). Runs that are not completed (running, failed, lost, ...) are never averaged in; they
are returned in :attr:`Report.not_finished`.

Nothing here prints; :mod:`harness.report_cli` does.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
from collections.abc import Callable, Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, cast

import numpy as np
import pyarrow.parquet as pq
from scipy import stats

from harness.store import STATUS_COMPLETED, read_json

#: Default metric of the report: steps within the success radius (Wang et al. 2025, Sec. 5).
DEFAULT_METRIC = "eval/time_at_goal"
#: Evaluations averaged into a final score per data mode: online, last 5 (Wang et al. 2025,
#: Sec. 5); offline, last 3 (OGBench, Park et al. 2024: 800k, 900k and 1M gradient steps).
LAST_K_BY_MODE = {"online": 5, "offline": 3}
#: Bootstrap resamples (scipy's default).
N_RESAMPLES = 9999
#: Confidence level of every bootstrap interval.
CONFIDENCE = 0.95
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
#: Fields that name the critic depth (the x axis of the depth-scaling plots, the ratio base).
DEPTH_FIELDS = ("critic_depth", "network.critic_depth")
#: Where ``--reference paper`` reads the paper's table (columns env_id, critic_depth, mean, se,
#: source).
PAPER_REFERENCE = "paper_reference.csv"
#: Width of the paper's depth-scaling runs; its numbers are shown only beside runs of this width.
PAPER_WIDTH = 256


class ReportError(Exception):
    """Bad input to the report (no results, unknown field, unknown run): exit code 2."""


@dataclasses.dataclass(frozen=True)
class RunResult:
    """One run folder, read.

    Attributes:
        run_id: the folder name (a 12-hex-digit hash, :func:`harness.plan.run_id`).
        path: the run folder.
        status: ``completed``, ``running``, ``failed``, ``preempted``, ``cancelled``, ``lost``,
            ``pending`` (config written, never started) or ``incomplete`` (record says
            completed but ``metrics.parquet`` is missing).
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
        error: the error message of a failed run.
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


@dataclasses.dataclass(frozen=True)
class GroupStats:
    """Statistics of one group of completed runs (one environment and setting).

    Attributes:
        key: the grouping fields -> values (``env_id`` first, then the ``--by`` fields).
        scores: ``[n]`` final scores of the runs, in run-id order.
        run_ids: the runs behind ``scores``.
        seeds: their seeds.
        mean: mean of ``scores``.
        se: standard error of the mean, ``std(ddof=1) / sqrt(n)``; NaN for one run.
        iqm: interquartile mean ``trim_mean(scores, 0.25)``.
        iqm_ci: 95 % percentile bootstrap interval of the IQM; NaN for one run.
        ratio: ``mean / mean of the shallowest setting`` of the same environment and other
            fields; None when there is no depth field, or the base mean is not positive.
        ratio_base: critic depth of that shallowest setting.
        reference: the paper's ``(mean, se)`` for this env and depth (se may be NaN), or None
            (also for widths other than the paper's :data:`PAPER_WIDTH`).
        random_score: mean score of the uniform random policy over the runs, or None.
    """

    key: dict[str, Any]
    scores: np.ndarray
    run_ids: tuple[str, ...]
    seeds: tuple[Any, ...]
    mean: float
    se: float
    iqm: float
    iqm_ci: tuple[float, float]
    ratio: float | None
    ratio_base: Any
    reference: tuple[float, float] | None
    random_score: float | None

    @property
    def n(self) -> int:
        return len(self.scores)

    @property
    def env_id(self) -> str:
        return str(self.key["env_id"])

    def setting(self) -> dict[str, Any]:
        """The key without ``env_id``."""
        return {k: v for k, v in self.key.items() if k != "env_id"}


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Probability of improvement of setting A over setting B.

    Attributes:
        a, b: the two settings (field -> value as text).
        per_env: per environment: ``(env_id, P(A > B), (lo, hi), n_a, n_b)``.
        overall: mean of the per-env probabilities, or None with one env.
        overall_ci: stratified bootstrap CI of ``overall``.
    """

    a: dict[str, str]
    b: dict[str, str]
    per_env: tuple[tuple[str, float, tuple[float, float], int, int], ...]
    overall: float | None
    overall_ci: tuple[float, float] | None


@dataclasses.dataclass(frozen=True)
class Report:
    """Everything ``harness report`` shows and plots.

    Attributes:
        source: the folder that was read.
        metric: the metric of the scores.
        last_k: the ``--last`` value, or None (per data mode: :data:`LAST_K_BY_MODE`).
        by: grouping fields, ``env_id`` first.
        runs: every run found, any status.
        groups: statistics of completed runs, sorted by key.
        comparison: the ``--compare`` result, or None.
        warnings: things a reader should know (pooled configs, short runs, ...).
        reference: whether the paper's table was asked for.
        seed: seed of every bootstrap.
    """

    source: Path
    metric: str
    last_k: int | None
    by: tuple[str, ...]
    runs: tuple[RunResult, ...]
    groups: tuple[GroupStats, ...]
    comparison: Comparison | None
    warnings: tuple[str, ...]
    reference: bool
    seed: int

    @property
    def completed(self) -> list[RunResult]:
        """Runs in the table: completed, with at least one evaluation of the metric."""
        return [r for r in self.runs if r.status == STATUS_COMPLETED and r.score is not None]

    @property
    def not_finished(self) -> list[RunResult]:
        """Runs left out of the table: not completed, or completed without the metric."""
        return [r for r in self.runs if r.status != STATUS_COMPLETED or r.score is None]

    @property
    def depth_field(self) -> str | None:
        """The critic-depth field among :attr:`by`, if any."""
        return next((f for f in self.by if f in DEPTH_FIELDS), None)

    def envs(self) -> list[str]:
        """Environment ids with at least one group, sorted."""
        return sorted({g.env_id for g in self.groups})


# --------------------------------------------------------------------------------------------
# Statistics


def mean_se(x: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """Mean and standard error of the mean, ``std(x, ddof=1) / sqrt(n)``.

    Args:
        x: ``[n]`` scores, n >= 1.

    Returns:
        ``(mean, se)``; se is NaN when ``n == 1``.

    Raises:
        ValueError: for an empty ``x``.
    """
    arr = np.asarray(x, dtype=np.float64)
    if arr.size == 0:
        raise ValueError("mean_se of an empty sample")
    se = float(np.std(arr, ddof=1) / math.sqrt(arr.size)) if arr.size > 1 else math.nan
    return float(np.mean(arr)), se


def iqm(x: Sequence[float] | np.ndarray, axis: int = -1) -> Any:
    """Interquartile mean: the mean of the middle 50 % of ``x`` along ``axis``.

    ``scipy.stats.trim_mean(x, 0.25)``: ``int(0.25 n)`` values are cut from each end (Agarwal
    et al. 2021, arXiv 2108.13264, use IQM as a robust aggregate). Returns a float for 1-D
    input, else an array without ``axis``.
    """
    return stats.trim_mean(np.asarray(x, dtype=np.float64), 0.25, axis=axis)


def probability_of_improvement(
    x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray
) -> Any:
    """``P(X > Y) + 0.5 P(X = Y)`` over all pairs of ``x`` and ``y`` (Agarwal et al. 2021).

    Args:
        x: ``[..., m]`` scores of setting X (leading batch axes allowed).
        y: ``[..., n]`` scores of setting Y (same leading axes).

    Returns:
        a float in [0, 1] (an array over the batch axes for batched input): 1 when every x
        beats every y, 0.5 for identical samples.
    """
    xa = np.asarray(x, dtype=np.float64)[..., :, None]
    ya = np.asarray(y, dtype=np.float64)[..., None, :]
    wins = (xa > ya).astype(np.float64) + 0.5 * (xa == ya)
    return wins.mean(axis=(-2, -1))


def bootstrap_ci(
    samples: Sequence[Sequence[float] | np.ndarray],
    statistic: Callable[..., Any],
    seed: int = 0,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
) -> tuple[float, float]:
    """Stratified percentile bootstrap interval of ``statistic(*samples)``.

    Each sample is one stratum and is resampled with replacement on its own (as rliable's
    stratified bootstrap, Agarwal et al. 2021), by ``scipy.stats.bootstrap`` with
    ``method="percentile"`` (BCa is undefined for the constant samples that early or failed
    training produces).

    Args:
        samples: the strata, each ``[n_i]``.
        statistic: vectorised ``statistic(*samples, axis=-1) -> value``.
        seed: seed of the resampling; the same seed gives the same interval.
        n_resamples: bootstrap resamples.
        confidence: confidence level.

    Returns:
        ``(low, high)``; ``(nan, nan)`` when a stratum has fewer than 2 values.
    """
    data = tuple(np.asarray(s, dtype=np.float64) for s in samples)
    if not data or any(s.size < 2 for s in data):
        return math.nan, math.nan
    result = stats.bootstrap(
        data,
        statistic,
        n_resamples=n_resamples,
        confidence_level=confidence,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(seed),
    )
    low, high = result.confidence_interval
    return float(low), float(high)


def _pooled_iqm(*strata: np.ndarray, axis: int = -1) -> Any:
    return iqm(np.concatenate(strata, axis=axis), axis=axis)


def iqm_ci(strata: Sequence[Sequence[float] | np.ndarray], seed: int = 0) -> tuple[float, float]:
    """95 % stratified bootstrap interval of the IQM of the pooled strata.

    Args:
        strata: e.g. one array of seeds per environment; one stratum for one group.
        seed: bootstrap seed.
    """
    return bootstrap_ci(strata, _pooled_iqm, seed)


def poi_ci(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]], seed: int = 0
) -> tuple[float, tuple[float, float]]:
    """Mean over strata of the probability of improvement, with a stratified bootstrap CI.

    Args:
        pairs: per stratum (environment), ``(x [m], y [n])``: scores of the two settings.
        seed: bootstrap seed.

    Returns:
        ``(mean P(X > Y), (low, high))``; each x and y is resampled on its own.
    """
    flat = [np.asarray(a, dtype=np.float64) for pair in pairs for a in pair]

    def statistic(*arrays: np.ndarray, axis: int = -1) -> Any:
        del axis
        poi = [
            probability_of_improvement(arrays[i], arrays[i + 1]) for i in range(0, len(arrays), 2)
        ]
        return np.mean(poi, axis=0)

    point = float(statistic(*flat))
    return point, bootstrap_ci(flat, statistic, seed)


# --------------------------------------------------------------------------------------------
# Reading runs


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
        last_k: evaluations averaged into the score; None = :data:`LAST_K_BY_MODE` of the
            run's data mode.
        fields: extra grouping fields: Parquet columns or dotted config paths.
        live: squeue states by Slurm job id (to tell ``lost`` runs), see
            :func:`harness.status.effective_status`.
    """
    from harness.status import effective_status

    path = Path(path)
    record = read_json(path / "run.json") or {}
    config = read_json(path / "config.json")
    status = (
        effective_status(record, (live or {}).get(str(record.get("slurm_job_id") or "")))
        if record
        else "pending"
    )
    metrics_path = path / "metrics.parquet"
    if status == STATUS_COMPLETED and not metrics_path.exists():
        status = "incomplete"
    values: dict[str, Any] = {}
    steps = np.zeros(0, np.int64)
    vals = np.zeros(0, np.float64)
    random_score = None
    env_steps = None
    if metrics_path.exists():
        table = pq.read_table(metrics_path)
        if table.num_rows:
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
    k = last_k if last_k is not None else LAST_K_BY_MODE.get(mode, LAST_K_BY_MODE["online"])
    score = float(np.mean(vals[-k:])) if vals.size else None
    error = record.get("error")
    message = None
    if isinstance(error, dict):
        message = f"{error.get('type', 'Error')}: {error.get('message', '')}"
    elif error:
        message = str(error)
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


def pending_runs(spec: Any, results: Path, found: Iterable[RunResult]) -> list[RunResult]:
    """Runs a spec plans that have no folder yet, as ``pending`` results (never started).

    Args:
        spec: a :class:`harness.spec.Spec`.
        results: the results root (the spec's runs live in ``results/<spec name>/``).
        found: runs already read.
    """
    from harness.plan import expand

    have = {r.run_id for r in found}
    out = []
    for run in expand(spec):
        if run.run_id in have:
            continue
        cfg = run.config.model_dump(mode="json")
        config = {"config": cfg, "spec": spec.name}
        fields = {c: _config_value(config, p) for c, p in COLUMN_PATHS.items()}
        out.append(
            RunResult(
                run_id=run.run_id,
                path=Path(results) / spec.name / run.run_id,
                status="pending",
                fields=fields,
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


# --------------------------------------------------------------------------------------------
# Grouping


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (2, "")
    if isinstance(value, bool):
        return (1, str(value))
    if isinstance(value, int | float):
        return (0, float(value))
    return (1, str(value))


def read_reference(path: Path | None = None) -> dict[tuple[str, int], tuple[float, float]]:
    """The paper's table: ``(env_id, critic_depth) -> (mean, se)``; se is NaN where the paper
    gives only a mean.

    Args:
        path: a CSV with columns ``env_id, critic_depth, mean, se, source``; default the one
            shipped in ``harness/data/`` (Wang et al. 2025, time at goal out of 1000 steps).
    """
    if path is None:
        text = resources.files("harness.data").joinpath(PAPER_REFERENCE).read_text()
    else:
        text = Path(path).read_text()
    out = {}
    for row in csv.DictReader(text.splitlines()):
        se = float(row["se"]) if row["se"].strip() else math.nan
        out[(row["env_id"], int(row["critic_depth"]))] = (float(row["mean"]), se)
    return out


def normalise_by(by: Sequence[str] | None) -> tuple[str, ...]:
    """Grouping fields with ``env_id`` first (scores of different envs are never pooled).

    Default ``("env_id", "critic_depth")``; duplicates are dropped.
    """
    fields = list(by) if by else ["critic_depth"]
    out = ["env_id"]
    for f in fields:
        if f not in out and f != "env.id":
            out.append(f)
    return tuple(out)


def group_runs(
    runs: Iterable[RunResult], by: Sequence[str]
) -> dict[tuple[Any, ...], list[RunResult]]:
    """Completed runs with a score, grouped by the values of ``by`` (run-id order inside)."""
    groups: dict[tuple[Any, ...], list[RunResult]] = {}
    for run in sorted(runs, key=lambda r: r.run_id):
        if run.status != STATUS_COMPLETED or run.score is None:
            continue
        key = tuple(_hashable(run.fields.get(f)) for f in by)
        groups.setdefault(key, []).append(run)
    return dict(sorted(groups.items(), key=lambda kv: tuple(_sort_key(v) for v in kv[0])))


def _hashable(value: Any) -> Any:
    if isinstance(value, list | dict):
        return str(value)
    return value


def group_stats(
    runs: Iterable[RunResult],
    by: Sequence[str],
    seed: int = 0,
    reference: dict[tuple[str, int], tuple[float, float]] | None = None,
) -> list[GroupStats]:
    """Statistics per group of completed runs (see :class:`GroupStats`).

    Args:
        runs: runs of any status; only completed runs with a score count.
        by: grouping fields, ``env_id`` first.
        seed: bootstrap seed (the same seed gives the same intervals).
        reference: the paper's ``(env_id, critic_depth) -> (mean, se)``, or None.
    """
    groups = group_runs(runs, by)
    depth_field = next((f for f in by if f in DEPTH_FIELDS), None)
    out = []
    means: dict[tuple[Any, ...], float] = {}
    for key, members in groups.items():
        scores = np.array([r.score for r in members], dtype=np.float64)
        mean, se = mean_se(scores)
        means[key] = mean
        depth = members[0].fields.get("critic_depth")
        ref = None
        width = members[0].fields.get("width")
        if reference is not None and depth is not None and width in (None, PAPER_WIDTH):
            ref = reference.get((members[0].env_id, int(depth)))
        randoms = [r.random_score for r in members if r.random_score is not None]
        out.append(
            GroupStats(
                key=dict(zip(by, key, strict=True)),
                scores=scores,
                run_ids=tuple(r.run_id for r in members),
                seeds=tuple(r.fields.get("seed") for r in members),
                mean=mean,
                se=se,
                iqm=float(iqm(scores)),
                iqm_ci=iqm_ci([scores], seed),
                ratio=None,
                ratio_base=None,
                reference=ref,
                random_score=float(np.mean(randoms)) if randoms else None,
            )
        )
    if depth_field is None:
        return out
    # Ratio to the shallowest setting with the same env and other fields (paper: "2x to 50x").
    d = by.index(depth_field)
    rest: dict[tuple[Any, ...], tuple[Any, float]] = {}
    for key, mean in means.items():
        other = key[:d] + key[d + 1 :]
        depth = key[d]
        if depth is None:
            continue
        if other not in rest or _sort_key(depth) < _sort_key(rest[other][0]):
            rest[other] = (depth, mean)
    final = []
    for g, key in zip(out, means, strict=True):
        other = key[:d] + key[d + 1 :]
        if other in rest:
            base_depth, base_mean = rest[other]
            ratio = g.mean / base_mean if base_mean > 0 else None
            g = dataclasses.replace(g, ratio=ratio, ratio_base=base_depth)
        final.append(g)
    return final


def pooling_warnings(runs: Iterable[RunResult], by: Sequence[str]) -> list[str]:
    """Warnings for groups that pool runs differing in a grouping column not in ``by``, or
    that hold the same seed twice."""
    out = []
    for key, members in group_runs(runs, by).items():
        label = ", ".join(f"{f}={v}" for f, v in zip(by, key, strict=True))
        varying = []
        for column in COLUMN_PATHS:
            if column in by or column == "seed" or COLUMN_PATHS[column] in by:
                continue
            distinct = sorted({str(m.fields.get(column)) for m in members})
            if len(distinct) > 1:
                varying.append(f"{column} ({', '.join(distinct)})")
        if varying:
            out.append(
                f"{label}: pools runs that differ in {'; '.join(varying)}; "
                f"add --by {varying[0].split(' ')[0]} to separate them"
            )
        seeds = [m.fields.get("seed") for m in members]
        if not varying and len(set(map(str, seeds))) < len(seeds):
            out.append(
                f"{label}: {len(seeds)} runs but only {len(set(map(str, seeds)))} distinct "
                "seeds (runs differ in a config field not in --by)"
            )
    return out


def _same(value: Any, text: str) -> bool:
    """Whether a field value equals a command-line value (numbers compared as numbers)."""
    if _text(value) == text:
        return True
    try:
        return float(value) == float(text)
    except (TypeError, ValueError):
        return False


def _match(run: RunResult, setting: dict[str, str]) -> bool:
    return all(_same(run.fields.get(f), v) for f, v in setting.items())


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def parse_setting(text: str, by: Sequence[str]) -> dict[str, str]:
    """``field=value[,field=value]`` -> dict; a bare ``value`` sets the first ``--by`` field
    after ``env_id`` (``--compare 64 4`` compares critic depths by default).

    Raises:
        ReportError: for an empty text or a bare value with no setting field.
    """
    text = text.strip()
    if not text:
        raise ReportError("--compare: empty setting")
    if "=" not in text:
        setting_fields = [f for f in by if f != "env_id"]
        if not setting_fields:
            raise ReportError(f"--compare {text}: name the field, e.g. critic_depth={text}")
        return {setting_fields[0]: text}
    out = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise ReportError(f"--compare: cannot read {part!r}; expected field=value")
        out[name.strip()] = value.strip()
    return out


def compare(
    runs: Sequence[RunResult], a: dict[str, str], b: dict[str, str], seed: int = 0
) -> Comparison:
    """Probability that a run of setting ``a`` scores higher than one of ``b``.

    Per environment, ``P(X > Y) + 0.5 P(X = Y)`` over all pairs of a's and b's seeds with a
    bootstrap CI; over several environments, the mean of those with a stratified bootstrap CI
    (Agarwal et al. 2021, arXiv 2108.13264).

    Raises:
        ReportError: when no environment has completed runs of both settings.
    """
    done = [r for r in runs if r.status == STATUS_COMPLETED and r.score is not None]
    per_env = []
    pairs = []
    for env_id in sorted({r.env_id for r in done}):
        x = np.array([r.score for r in done if r.env_id == env_id and _match(r, a)])
        y = np.array([r.score for r in done if r.env_id == env_id and _match(r, b)])
        if x.size == 0 or y.size == 0:
            continue
        p, ci = poi_ci([(x, y)], seed)
        per_env.append((env_id, p, ci, int(x.size), int(y.size)))
        pairs.append((x, y))
    if not per_env:

        def show(s: dict[str, str]) -> str:
            return ",".join(f"{k}={v}" for k, v in s.items())

        raise ReportError(
            f"--compare {show(a)} {show(b)}: no environment has completed runs of both settings"
        )
    overall = overall_ci = None
    if len(pairs) > 1:
        overall, overall_ci = poi_ci(pairs, seed)
    return Comparison(a, b, tuple(per_env), overall, overall_ci)


def build_report(
    source: Path,
    runs: Sequence[RunResult],
    metric: str = DEFAULT_METRIC,
    last_k: int | None = None,
    by: Sequence[str] | None = None,
    compare_settings: tuple[str, str] | None = None,
    reference: bool = False,
    seed: int = 0,
) -> Report:
    """Group runs and compute every statistic of the report.

    Args:
        source: the folder that was read (for titles).
        runs: from :func:`load_runs` (plus :func:`pending_runs`), read with the same ``by``
            fields.
        metric, last_k: as in :func:`read_run` (for titles and warnings).
        by: grouping fields (``env_id`` is always first); default ``critic_depth``.
        compare_settings: ``(A, B)`` texts for :func:`parse_setting`, or None.
        reference: add the paper's numbers (:func:`read_reference`).
        seed: bootstrap seed.

    Raises:
        ReportError: for a ``--by`` field that no run has, or a comparison without data.
    """
    fields = normalise_by(by)
    for f in fields:
        if all(r.fields.get(f) is None for r in runs):
            raise ReportError(
                f"--by {f}: no run has this field; use a Parquet column "
                f"({', '.join(COLUMN_PATHS)}) or a dotted config path such as network.width"
            )
    ref = read_reference() if reference else None
    groups = group_stats(runs, fields, seed, ref)
    warnings = pooling_warnings(runs, fields)
    done = [r for r in runs if r.status == STATUS_COMPLETED and r.score is not None]
    short = [r for r in done if r.values.size < r.last_k]
    if short:
        k = sorted({r.last_k for r in short})
        warnings.append(
            f"{len(short)} of {len(done)} completed runs have fewer than K={'/'.join(map(str, k))} "
            f"evaluations of {metric}; their scores average all their evaluations"
        )
    no_metric = [r for r in runs if r.status == STATUS_COMPLETED and r.score is None]
    if no_metric:
        warnings.append(
            f"{len(no_metric)} completed runs have no {metric} rows (listed as not finished)"
        )
    if reference and metric != DEFAULT_METRIC:
        warnings.append(f"the paper's numbers are {DEFAULT_METRIC}; not shown for {metric}")
        groups = [dataclasses.replace(g, reference=None) for g in groups]
    if reference:
        lengths = {r.episode_length for r in done if (r.env_id, 4) in (ref or {})} - {1000}
        if lengths:
            warnings.append(
                "the paper's time at goal is out of 1000 steps; these runs use episodes of "
                f"{', '.join(map(str, sorted(x for x in lengths if x)))} steps"
            )
    comparison = None
    if compare_settings is not None:
        a = parse_setting(compare_settings[0], fields)
        b = parse_setting(compare_settings[1], fields)
        comparison = compare(runs, a, b, seed)
    return Report(
        source=Path(source),
        metric=metric,
        last_k=last_k,
        by=fields,
        runs=tuple(runs),
        groups=tuple(groups),
        comparison=comparison,
        warnings=tuple(warnings),
        reference=reference,
        seed=seed,
    )


# --------------------------------------------------------------------------------------------
# Formatting (shared by the terminal tables, report.md and --json)


def fmt(value: float | None, digits: int = 3) -> str:
    """A number with ``digits`` significant digits (at least one decimal below 10); ``-`` for
    None or NaN."""
    if value is None or not math.isfinite(value):
        return "-"
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    return f"{value:.{decimals}f}"


def fmt_mean_se(mean: float, se: float) -> str:
    """``mean +- se`` (``mean`` alone when se is NaN)."""
    if not math.isfinite(se):
        return fmt(mean)
    return f"{fmt(mean)} ± {fmt(se, 2)}"


def fmt_ci(low: float, high: float, decimals: int | None = None) -> str:
    """``[low, high]`` (3 significant digits, or a fixed number of ``decimals``) or ``-``."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "-"
    if decimals is not None:
        return f"[{low:.{decimals}f}, {high:.{decimals}f}]"
    return f"[{fmt(low)}, {fmt(high)}]"


def final_score_text(report: Report, runs: Sequence[RunResult] | None = None) -> str:
    """How final scores were computed, in words: the K of the data modes among ``runs``
    (default: all the report's runs)."""
    chosen = report.runs if runs is None else runs
    pairs = sorted(
        {(str(r.fields.get("data_mode") or "online"), r.last_k) for r in chosen if r.last_k}
    )
    ks = sorted({k for _, k in pairs})
    if len(ks) == 1:
        return f"mean of the last {ks[0]} evaluations of {report.metric}"
    if not pairs:
        k = report.last_k or LAST_K_BY_MODE["online"]
        return f"mean of the last {k} evaluations of {report.metric}"
    parts = ", ".join(f"{k} ({mode})" for mode, k in pairs)
    return f"mean of the last {parts} evaluations of {report.metric}"


def table_rows(report: Report, env_id: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the table of one environment (text cells)."""
    setting_fields = [f for f in report.by if f != "env_id"]
    header = [*setting_fields, "seeds", "mean ± s.e.", "IQM", "IQM 95% CI"]
    if report.depth_field:
        header.append("× shallowest")
    if report.reference:
        header.append("paper mean ± s.e.")
    rows = []
    for g in report.groups:
        if g.env_id != env_id:
            continue
        row = [_text(g.key[f]) for f in setting_fields]
        row += [str(g.n), fmt_mean_se(g.mean, g.se), fmt(g.iqm), fmt_ci(*g.iqm_ci)]
        if report.depth_field:
            if g.ratio_base is not None and g.key.get(report.depth_field) == g.ratio_base:
                row.append("1 (base)")
            elif g.ratio is None:
                row.append("- (base mean 0)" if g.ratio_base is not None else "-")
            else:
                row.append(f"{fmt(g.ratio)}×")
        if report.reference:
            row.append(fmt_mean_se(*g.reference) if g.reference else "-")
        rows.append(row)
    return header, rows


def not_finished_rows(report: Report) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the list of runs left out of the table."""
    header = ["run_id", "spec", "env_id", "critic_depth", "seed", "status", "env steps", "detail"]
    rows = []
    for r in sorted(report.not_finished, key=lambda r: (r.status, r.run_id)):
        progress = "-"
        if r.env_steps is not None:
            total = f"/{r.total_env_steps:,}" if r.total_env_steps else ""
            progress = f"{r.env_steps:,}{total}"
        detail = r.error or ""
        if r.status == STATUS_COMPLETED and r.score is None:
            detail = f"no {report.metric} rows"
        rows.append(
            [
                r.run_id,
                _text(r.fields.get("spec")),
                _text(r.fields.get("env_id")),
                _text(r.fields.get("critic_depth")),
                _text(r.fields.get("seed")),
                r.status,
                progress,
                detail.splitlines()[0][:120] if detail else "",
            ]
        )
    return header, rows


def comparison_lines(c: Comparison) -> list[str]:
    """The comparison in sentences."""

    def show(s: dict[str, str]) -> str:
        return ",".join(f"{k}={v}" for k, v in s.items())

    lines = []
    for env_id, p, ci, n_a, n_b in c.per_env:
        lines.append(
            f"{env_id}: P({show(c.a)} > {show(c.b)}) = {p:.2f}, 95% CI {fmt_ci(*ci, decimals=2)} "
            f"({n_a} x {n_b} seed pairs)"
        )
    if c.overall is not None and c.overall_ci is not None:
        lines.append(
            f"mean over {len(c.per_env)} environments: {c.overall:.2f}, "
            f"95% stratified bootstrap CI {fmt_ci(*c.overall_ci, decimals=2)}"
        )
    return lines


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and inf become None, numpy scalars and arrays become Python values."""
    if isinstance(value, np.ndarray):
        return [_clean(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def to_json(
    report: Report, plots: Sequence[Path] = (), report_dir: Path | None = None
) -> dict[str, Any]:
    """The report as JSON-ready data (NaN -> null)."""
    comparison = None
    if report.comparison is not None:
        c = report.comparison
        comparison = {
            "a": c.a,
            "b": c.b,
            "per_env": [
                {"env_id": e, "p_improvement": p, "ci": list(ci), "n_a": na, "n_b": nb}
                for e, p, ci, na, nb in c.per_env
            ],
            "overall": c.overall,
            "overall_ci": list(c.overall_ci) if c.overall_ci else None,
        }
    return _clean(
        {
            "source": str(report.source),
            "metric": report.metric,
            "last_k": report.last_k,
            "by": list(report.by),
            "groups": [
                {
                    **g.key,
                    "n": g.n,
                    "seeds": list(g.seeds),
                    "run_ids": list(g.run_ids),
                    "scores": g.scores,
                    "mean": g.mean,
                    "se": g.se,
                    "iqm": g.iqm,
                    "iqm_ci": list(g.iqm_ci),
                    "ratio_to_shallowest": g.ratio,
                    "ratio_base": g.ratio_base,
                    "reference": (
                        {"mean": g.reference[0], "se": g.reference[1]} if g.reference else None
                    ),
                    "random_policy": g.random_score,
                }
                for g in report.groups
            ],
            "not_finished": [
                {
                    "run_id": r.run_id,
                    "path": str(r.path),
                    "status": r.status,
                    **{k: r.fields.get(k) for k in ("spec", "env_id", "critic_depth", "seed")},
                    "env_steps": r.env_steps,
                    "total_env_steps": r.total_env_steps,
                    "error": r.error,
                }
                for r in report.not_finished
            ],
            "comparison": comparison,
            "warnings": list(report.warnings),
            "report_dir": str(report_dir) if report_dir else None,
            "plots": [str(p) for p in plots],
        }
    )


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_markdown(report: Report, out_dir: Path, plots: Sequence[tuple[Path, str]] = ()) -> Path:
    """Write ``report.md`` in ``out_dir``: tables, comparison, not-finished runs, plots.

    Args:
        plots: ``(png path, caption)``; embedded by their path relative to ``out_dir``.

    Returns:
        the path of ``report.md``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    parts = [
        f"# Report: {report.source}",
        "",
        f"Final score: {final_score_text(report)} per run; groups by "
        f"{', '.join(report.by)}. Mean ± one standard error over seeds (the paper's error "
        f"bars); IQM = mean of the middle 50 % of seeds (`scipy.stats.trim_mean(x, 0.25)`: with "
        f"fewer than 4 seeds nothing is trimmed and it equals the mean) with a 95 % percentile "
        f"bootstrap CI ({N_RESAMPLES} resamples, seed {report.seed}); × shallowest = mean / "
        "mean of the shallowest critic depth with the same other fields.",
        "",
    ]
    if report.reference:
        parts += [
            "Paper: Wang et al. 2025 (arXiv 2503.14858), time at goal out of 1000 steps, width "
            f"{PAPER_WIDTH}, mean ± s.e. (s.e. given at D4 and D64 only; "
            "`harness/data/paper_reference.csv`); shown beside rows of width "
            f"{PAPER_WIDTH}.",
            "",
        ]
    for env_id in report.envs():
        header, rows = table_rows(report, env_id)
        parts += [f"## {env_id}", "", _md_table(header, rows), ""]
    if not report.groups:
        parts += ["No completed run has evaluations of this metric yet.", ""]
    if report.comparison is not None:
        parts += ["## Probability of improvement", ""]
        parts += [f"- {line}" for line in comparison_lines(report.comparison)] + [""]
    if report.not_finished:
        header, rows = not_finished_rows(report)
        parts += [
            "## Not finished (not in the tables)",
            "",
            _md_table(header, rows),
            "",
        ]
    if report.warnings:
        parts += ["## Notes", ""] + [f"- {w}" for w in report.warnings] + [""]
    if plots:
        parts += ["## Plots", ""]
        for path, caption in plots:
            rel = os.path.relpath(path, out_dir)
            parts += [f"### {caption}", "", f"![{caption}]({rel})", ""]
    path = out_dir / "report.md"
    tmp = out_dir / ".report.md.tmp"
    tmp.write_text("\n".join(parts))
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------------------------
# Value map of the critic (Wang et al. 2025, Fig. 3)


@dataclasses.dataclass(frozen=True)
class ValueMap:
    """The critic's value over a maze for one goal.

    Attributes:
        run: the run whose final parameters were used.
        xs: ``[nx]`` world x of the grid columns (metres).
        ys: ``[ny]`` world y of the grid rows (metres).
        values: ``[ny, nx]`` ``f(s, a, g)`` with ``a = tanh(mean)`` of the actor at ``(s, g)``;
            NaN inside walls.
        goal_xy: the goal's ``(x, y)`` (metres).
        maze: the :class:`envs.maze.Maze` (walls, start and goal cells).
        energy: the run's energy (``l2``: ``f = -||phi(s, a) - psi(g)||_2``).
        success_threshold: the env's success radius (metres).
    """

    run: RunResult
    xs: np.ndarray
    ys: np.ndarray
    values: np.ndarray
    goal_xy: tuple[float, float]
    maze: Any
    energy: str
    success_threshold: float


def far_goal(maze: Any) -> tuple[float, float]:
    """Centre of the goal cell farthest (by maze path, :func:`envs.maze.bfs_distances`) from
    the start cells: a goal that needs the whole maze to reach (metres)."""
    from envs.maze import bfs_distances

    dist = bfs_distances(maze.layout)
    cell = max(maze.goal_cells, key=lambda c: (dist.get(c, -1), c))
    x, y = maze.cell_centre(*cell)
    return float(x), float(y)


def value_map(
    run: RunResult, goal_xy: tuple[float, float] | None = None, points: int = 120
) -> ValueMap:
    """The critic's value map over the run's maze for one goal (Wang et al. 2025, Fig. 3).

    Each grid point ``(x, y)`` is a state with the goal-space entries set to the robot's goal
    vector at ``(x, y)`` (x, y; the humanoid adds its target height) and every other entry zero;
    the action is the actor's deterministic ``tanh(mean)`` at ``(s, g)``; the value is the run's
    energy ``f(s, a, g)`` (``-||phi(s, a) - psi(g)||_2`` for the paper's ``l2``). Points inside
    walls are NaN.

    Args:
        run: a run with ``params/`` (written by :func:`harness.train.save_params`).
        goal_xy: the goal's ``(x, y)`` in metres; default :func:`far_goal`.
        points: grid points along the maze's longer side.

    Returns:
        the :class:`ValueMap`.

    Raises:
        ReportError: no ``params/``, not a maze env, a config that no longer validates, or a
            goal outside the maze or inside a wall.
    """
    import jax
    import jax.numpy as jnp
    import orbax.checkpoint as ocp
    from pydantic import ValidationError

    import envs
    from envs.maze_env import MazeEnv
    from harness.agents.crl import CRL, paired_energy
    from harness.spec import RunConfig

    if not run.has_params:
        raise ReportError(
            f"run {run.run_id} has no params/ folder ({run.path / 'params'}); only runs that "
            "completed with this version of the harness write one"
        )
    if run.fields.get("algo", "crl") != "crl":
        raise ReportError(
            f"run {run.run_id} is {run.fields.get('algo')}; value maps need a CRL critic"
        )
    try:
        cfg = RunConfig.model_validate((run.config or {}).get("config"))
    except ValidationError as exc:
        raise ReportError(f"run {run.run_id}: config.json does not validate: {exc}") from None
    env = envs.make(cfg.env.id, **cfg.env.make_options())
    if not isinstance(env, MazeEnv):
        raise ReportError(f"run {run.run_id}: {cfg.env.id} is not a maze; value maps need walls")
    maze = env.maze
    info = envs.info(cfg.env.id)
    rows, cols = maze.shape
    cs = maze.cell_size
    x_lo, x_hi = -cs / 2, (rows - 0.5) * cs
    y_lo, y_hi = -cs / 2, (cols - 0.5) * cs
    if goal_xy is None:
        goal_xy = far_goal(maze)
    gx, gy = goal_xy
    if not (x_lo < gx < x_hi and y_lo < gy < y_hi):
        raise ReportError(
            f"goal ({gx:g}, {gy:g}) lies outside {cfg.env.id} "
            f"(x in [{x_lo:g}, {x_hi:g}], y in [{y_lo:g}, {y_hi:g}] m)"
        )
    if bool(maze.in_wall(np.array([gx, gy]))):
        raise ReportError(f"goal ({gx:g}, {gy:g}) lies inside a wall of {cfg.env.id}")
    step = max(x_hi - x_lo, y_hi - y_lo) / points
    xs = np.arange(x_lo + step / 2, x_hi, step)
    ys = np.arange(y_lo + step / 2, y_hi, step)
    grid_x, grid_y = np.meshgrid(xs, ys)  # [ny, nx]
    xy = np.stack([grid_x.ravel(), grid_y.ravel()], axis=-1).astype(np.float32)  # [N, 2]

    with ocp.StandardCheckpointer() as checkpointer:
        params = checkpointer.restore(run.path.joinpath("params").resolve())
    agent = CRL(cfg, info.state_dim, info.goal_dim, info.action_dim)
    goal = env.robot.goal_from_xy(jnp.asarray([gx, gy], jnp.float32))  # [goal_dim]
    idx = jnp.asarray(info.goal_indices)

    @jax.jit
    def energy(actor_params: Any, critic_params: Any, xy: jax.Array) -> jax.Array:
        position = jax.vmap(env.robot.goal_from_xy)(xy)  # [N, goal_dim]
        state = jnp.zeros((xy.shape[0], info.state_dim), jnp.float32).at[:, idx].set(position)
        goals = jnp.broadcast_to(goal, (xy.shape[0], info.goal_dim))
        obs = jnp.concatenate([state, goals], axis=-1)
        action = agent.act(actor_params, obs, jax.random.key(0), deterministic=True)
        phi, psi = cast(
            tuple[jax.Array, jax.Array], agent.critic.apply(critic_params, state, action, goals)
        )
        return paired_energy(phi, psi, cfg.algo.energy)  # [N]

    values = np.asarray(energy(params["actor_params"], params["critic_params"], jnp.asarray(xy)))
    values = values.astype(np.float64)
    values[maze.in_wall(xy)] = np.nan
    return ValueMap(
        run=run,
        xs=xs,
        ys=ys,
        values=values.reshape(grid_x.shape),
        goal_xy=(float(gx), float(gy)),
        maze=maze,
        energy=cfg.algo.energy,
        success_threshold=info.success_threshold,
    )


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


def best_maze_runs(report: Report) -> list[RunResult]:
    """Per point or ant maze env, the completed CRL run with ``params/`` and the highest
    score."""
    best: dict[str, RunResult] = {}
    for run in report.completed:
        env_id = run.env_id
        if not run.has_params or not env_id.startswith(("point_", "ant_")) or "maze" not in env_id:
            continue
        if run.fields.get("algo", "crl") != "crl":  # value maps need the contrastive critic
            continue
        current = best.get(env_id)
        if current is None or (run.score or 0.0) > (current.score or 0.0):
            best[env_id] = run
    return [best[k] for k in sorted(best)]


def parse_goal(text: str) -> tuple[float, float]:
    """``"X,Y"`` -> ``(x, y)`` in metres.

    Raises:
        ReportError: for anything but two numbers.
    """
    parts = text.replace(" ", "").split(",")
    try:
        x, y = (float(p) for p in parts)
    except ValueError:
        raise ReportError(f"--goal {text!r}: expected X,Y in metres, e.g. --goal 4,4") from None
    return x, y
