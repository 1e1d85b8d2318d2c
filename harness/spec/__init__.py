"""Spec format: pydantic v2 models for YAML experiment specs.

A spec file describes one experiment: the environment, the actor and critic networks, the
algorithm, the data source, evaluation, seeds, hardware and an optional sweep. Every default
equals the recipe of Wang et al. 2025 ("1000 Layer Networks for Self-Supervised RL",
arXiv 2503.14858; see ``shared/reference/paper.md``), whose training setup comes from JaxGCRL
(Bortkiewicz et al. 2024, arXiv 2408.11052).

Errors are collected and reported as ``FILE: field.path: message`` by :func:`load_spec`, which
raises :class:`SpecError` (never a raw pydantic or YAML error).

Submodules (every name below is importable from ``harness.spec`` itself):

- :mod:`~harness.spec.fields`: number parsing (``1e6``, ``100_000``), constrained field types,
  the frozen section base class, :data:`LAYERS_PER_BLOCK`.
- :mod:`~harness.spec.sections`: the ``env``, ``network``, ``data``, ``eval``, ``hardware`` and
  ``logging`` sections.
- :mod:`~harness.spec.algo`: the ``algo`` section with its baseline sub-sections, :data:`ALGOS`,
  :data:`TD_ALGOS`.
- :mod:`~harness.spec.config`: :class:`RunConfig` (one run, hashed into its id), :class:`Spec`
  (a file), sweep-axis paths, :data:`MAX_RUNS` (the most runs a spec may hold).
- :mod:`~harness.spec.load`: reading files, ``--set`` overrides, sweep-grid validation,
  :class:`SpecError`, :func:`json_schema`.
- :mod:`~harness.spec.ogbench`: the table of OGBench env names that ``data.dataset`` is checked
  against (facts only: validation loads no dataset code).
"""

from __future__ import annotations

from harness.spec.algo import ALGOS, TD_ALGOS, AlgoSpec, GCSLSpec, HERSpec, SACSpec, TD3Spec
from harness.spec.config import MAX_RUNS, RunConfig, Spec, set_path, sweep_assign, sweep_paths
from harness.spec.fields import (
    LAYERS_PER_BLOCK,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    UnitFloat,
)
from harness.spec.load import (
    SpecError,
    apply_overrides,
    format_errors,
    json_schema,
    load_spec,
    parse_overrides,
    read_yaml,
)
from harness.spec.sections import (
    TRACKING_INSTALL,
    DataSpec,
    EnvSpec,
    EvalSpec,
    HardwareSpec,
    LoggingSpec,
    NetworkSpec,
    WandbSpec,
)

__all__ = [
    "ALGOS",
    "LAYERS_PER_BLOCK",
    "MAX_RUNS",
    "TD_ALGOS",
    "TRACKING_INSTALL",
    "AlgoSpec",
    "DataSpec",
    "EnvSpec",
    "EvalSpec",
    "GCSLSpec",
    "HERSpec",
    "HardwareSpec",
    "LoggingSpec",
    "NetworkSpec",
    "NonNegativeInt",
    "PositiveFloat",
    "PositiveInt",
    "RunConfig",
    "SACSpec",
    "Spec",
    "SpecError",
    "TD3Spec",
    "UnitFloat",
    "WandbSpec",
    "apply_overrides",
    "format_errors",
    "json_schema",
    "load_spec",
    "parse_overrides",
    "read_yaml",
    "set_path",
    "sweep_assign",
    "sweep_paths",
]
