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


def enable_compilation_cache(path: str | None = None) -> str | None:
    """Turn on JAX's persistent compilation cache so identical programs compile once.

    Re-running a spec, resuming, or running many seeds of one config reuses compiled XLA
    executables from disk. The folder is ``path``, else ``$HARNESS_COMPILE_CACHE``, else
    ``~/.cache/deep-crl-harness/xla``; ``HARNESS_COMPILE_CACHE=off`` disables it.

    Returns:
        The cache folder in use, or None when disabled.
    """
    import os

    import jax

    folder = (
        path
        or os.environ.get("HARNESS_COMPILE_CACHE")
        or os.path.join(os.path.expanduser("~"), ".cache", "deep-crl-harness", "xla")
    )
    if folder.lower() in ("off", "0", "none", "false"):
        return None
    from jax.experimental.compilation_cache import compilation_cache

    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    # JAX decides at its first compilation whether the cache is on, and keeps to it: in a
    # process that compiled before this call (a test session, a notebook) the cache would stay
    # off. Resetting makes the next compilation look again.
    compilation_cache.reset_cache()
    return folder
