"""Test-session settings: CPU only, and a compilation cache private to the session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# The depth diagnostics (harness.diagnostics) cost one more compilation per training config;
# the tests of them (tests/test_tracking.py, the offline end-to-end test) turn them on.
os.environ.setdefault("HARNESS_DIAGNOSTICS", "off")

# Import the physics stack before any test captures stderr: libraries that keep a handle on the
# stream they first saw (absl logging) would otherwise write to a closed capture file at exit.
import harness.slurm  # noqa: F401  (submitit sets up logging on import)
from harness.cli import _import_quietly

_import_quietly()


@pytest.fixture(scope="session", autouse=True)
def _compile_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Programs compiled by one test are reused by the next (same HLO -> cache hit)."""
    previous = os.environ.get("HARNESS_COMPILE_CACHE")
    os.environ["HARNESS_COMPILE_CACHE"] = str(tmp_path_factory.mktemp("xla-cache"))
    yield
    if previous is None:
        os.environ.pop("HARNESS_COMPILE_CACHE", None)
    else:
        os.environ["HARNESS_COMPILE_CACHE"] = previous
