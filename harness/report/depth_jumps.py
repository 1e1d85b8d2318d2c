"""Critical depth: where the final score jumps between two consecutive depths of one setting.

Wang et al. 2025 (arXiv 2503.14858) report that performance does not rise smoothly with depth
but jumps at a task-dependent critical depth. Here a jump is claimed between consecutive critical
depths ``d1 < d2`` of the same environment and other grouping fields when the IQM at ``d2``
exceeds the IQM at ``d1`` and their 95 % bootstrap intervals (:func:`harness.report.stats.iqm_ci`,
Agarwal et al. 2021, arXiv 2108.13264) do not overlap: ``low(d2) > high(d1)``. A pair with a
single seed on either side has no interval and cannot show a jump.

Plain computation on :class:`~harness.report.groups.GroupStats`; the sentences of ``report.md``
are :func:`harness.report.tables.critical_depth_lines`, the marks on the depth plot
:func:`harness.report.plots.plot_depth_scaling`.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence
from typing import Any

from harness.report.groups import GroupStats, _sort_key


@dataclasses.dataclass(frozen=True)
class DepthStep:
    """Two consecutive depths of one setting (same environment and other grouping fields).

    Attributes:
        shallow: the group at the smaller depth.
        deep: the group at the next larger depth.
        depth_field: the grouping field that holds the depth (e.g. ``critic_depth``).
    """

    shallow: GroupStats
    deep: GroupStats
    depth_field: str

    @property
    def env_id(self) -> str:
        return self.shallow.env_id

    @property
    def shallow_depth(self) -> int:
        return int(self.shallow.key[self.depth_field])

    @property
    def deep_depth(self) -> int:
        return int(self.deep.key[self.depth_field])

    @property
    def setting(self) -> dict[str, Any]:
        """The grouping fields other than the environment and the depth."""
        return {k: v for k, v in self.shallow.key.items() if k not in ("env_id", self.depth_field)}

    @property
    def testable(self) -> bool:
        """Both groups have a finite IQM interval (two or more seeds each)."""
        return all(math.isfinite(v) for v in (*self.shallow.iqm_ci, *self.deep.iqm_ci))

    @property
    def jump(self) -> bool:
        """The deeper IQM is higher and the two 95 % intervals do not overlap."""
        return (
            self.testable
            and self.deep.iqm > self.shallow.iqm
            and self.deep.iqm_ci[0] > self.shallow.iqm_ci[1]
        )


def depth_steps(groups: Sequence[GroupStats], depth_field: str) -> list[DepthStep]:
    """Every pair of consecutive depths of each setting, in the order of ``groups``' settings.

    Args:
        groups: per-group statistics keyed by ``env_id``, ``depth_field`` and other fields
            (:func:`harness.report.groups.group_stats`).
        depth_field: the key holding the depth; groups without it (None) are skipped.

    Returns:
        ``[DepthStep]``, within a setting by increasing depth; none for a setting with one
        depth.
    """
    settings: dict[tuple[Any, ...], list[GroupStats]] = {}
    for g in groups:
        if g.key.get(depth_field) is None:
            continue
        other = tuple((k, str(v)) for k, v in g.key.items() if k != depth_field)
        settings.setdefault(other, []).append(g)
    steps = []
    for members in settings.values():
        members = sorted(members, key=lambda g: _sort_key(g.key[depth_field]))
        for shallow, deep in itertools.pairwise(members):
            steps.append(DepthStep(shallow, deep, depth_field))
    return steps


def depth_jumps(groups: Sequence[GroupStats], depth_field: str) -> list[DepthStep]:
    """The steps of :func:`depth_steps` that are jumps (:attr:`DepthStep.jump`)."""
    return [s for s in depth_steps(groups, depth_field) if s.jump]
