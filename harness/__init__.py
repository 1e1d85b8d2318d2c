"""Declarative benchmark harness for Contrastive RL (CRL) with very deep residual networks.

Reproduces and extends Wang et al., "1000 Layer Networks for Self-Supervised RL" (NeurIPS 2025,
arXiv 2503.14858). The pipeline: YAML spec -> ``harness.spec`` (validation) -> ``harness.plan``
(sweep expansion, run ids) -> ``harness.launch`` or ``harness.slurm`` (executors) ->
``harness.runner`` (one run) -> ``harness.train`` or ``harness.offline`` (pure JAX) ->
``harness.store`` (Parquet results) -> ``harness.status`` and ``harness.report``. The layers and
the rule that keeps them apart: README, "Architecture".
"""

from __future__ import annotations

__version__ = "0.1.0"
