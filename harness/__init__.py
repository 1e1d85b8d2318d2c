"""Declarative benchmark harness for Contrastive RL (CRL) with very deep residual networks.

Reproduces and extends Wang et al., "1000 Layer Networks for Self-Supervised RL" (NeurIPS 2025,
arXiv 2503.14858). The pipeline: YAML spec -> ``harness.spec`` (validation) -> ``harness.plan``
(sweep expansion, run ids) -> ``harness.launch`` (executors) -> ``harness.train`` (pure JAX) ->
``harness.store`` (Parquet results).
"""

from __future__ import annotations

__version__ = "0.1.0"
