"""Statistics of final scores (Agarwal et al. 2021, "Deep RL at the Edge of the Statistical
Precipice", arXiv 2108.13264): mean and standard error, the interquartile mean (IQM), the
probability of improvement, and stratified percentile bootstrap intervals of the IQM and of the
probability of improvement (``scipy.stats.bootstrap``).

Plain numpy and scipy on arrays of scores: nothing here reads runs or knows about them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy import stats

#: Bootstrap resamples (scipy's default).
N_RESAMPLES = 9999
#: Confidence level of every bootstrap interval.
CONFIDENCE = 0.95


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
