"""Grouping runs and comparing settings: the :class:`Report` of ``harness report``.

Runs are grouped by ``env_id`` and the ``--by`` fields (Parquet columns such as
``critic_depth`` or dotted config paths such as ``network.width``); each group gets:

- mean and standard error over seeds (the paper's error bars: one s.e.),
- the interquartile mean (IQM, mean of the middle 50 %, ``scipy.stats.trim_mean(x, 0.25)``)
  with a 95 % percentile bootstrap confidence interval (``scipy.stats.bootstrap``; Agarwal et
  al. 2021, "Deep RL at the Edge of the Statistical Precipice", arXiv 2108.13264),
- the ratio of its mean to the shallowest setting's mean (the paper's "2x to 50x").

:func:`compare` gives the probability of improvement ``P(X > Y) + 0.5 P(X = Y)`` between two
settings (Agarwal et al. 2021) with a stratified bootstrap CI (strata: environments and
settings). Runs that are not completed (running, failed, lost, ...) are never averaged in; they
are returned in :attr:`Report.not_finished`.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from harness.report.runs import COLUMN_PATHS, DEFAULT_METRIC, ReportError, RunResult
from harness.report.stats import iqm, iqm_ci, mean_se, poi_ci
from harness.store import STATUS_COMPLETED

#: Fields that name the critic depth (the x axis of the depth-scaling plots, the ratio base).
DEPTH_FIELDS = ("critic_depth", "network.critic_depth")
#: Where ``--reference paper`` reads the paper's table (columns env_id, critic_depth, mean, se,
#: source).
PAPER_REFERENCE = "paper_reference.csv"
#: Width of the paper's depth-scaling runs; its numbers are shown only beside runs of this width.
PAPER_WIDTH = 256


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
        last_k: the ``--last`` value, or None (each run's ``eval.last_k``: :func:`spec_last_k`).
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
