"""Results on disk: one folder per run, long-format Parquet, atomic writes.

Layout (``shared/DESIGN.md``): ``results/<spec name>/<run_id>/`` holds ``config.json`` (the
resolved run config, the spec it came from, the overrides and the command), ``metrics.parquet``
(one row per evaluation point and metric, with the grouping columns below) and ``run.json`` (the
run record: status, timings, versions, error), written last. Every file is written to a
temporary name in the same folder and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

#: Columns of metrics.parquet, in order. ``metric`` is namespaced (``eval/time_at_goal``).
METRICS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("spec", pa.string()),
        ("env_id", pa.string()),
        ("algo", pa.string()),
        ("data_mode", pa.string()),
        ("critic_depth", pa.int32()),
        ("actor_depth", pa.int32()),
        ("width", pa.int32()),
        ("batch_size", pa.int32()),
        ("seed", pa.int32()),
        ("env_steps", pa.int64()),
        ("grad_steps", pa.int64()),
        ("wall_s", pa.float64()),
        ("metric", pa.string()),
        ("value", pa.float64()),
    ]
)

STATUS_COMPLETED = "completed"
STATUS_FAILED = "failed"
STATUS_RUNNING = "running"
STATUS_PREEMPTED = "preempted"


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results are shared with collaborators
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    """Write JSON atomically (sorted keys, indented)."""
    _atomic_write_bytes(path, (json.dumps(payload, indent=2, sort_keys=True) + "\n").encode())


def read_json(path: Path) -> dict[str, Any] | None:
    """Read a JSON file, or ``None`` when it is missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def write_metrics(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    """Write rows (dicts with the :data:`METRICS_SCHEMA` columns) to Parquet atomically."""
    table = pa.Table.from_pylist(list(rows), schema=METRICS_SCHEMA)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_metrics(path: Path) -> pa.Table:
    """Read one run's metrics.parquet.

    The file is opened once and read through that handle: a writer may atomically replace the
    path at any moment, and the open handle keeps reading one consistent file (a path-based
    read could take the footer from one version and pages from the next).
    """
    with open(path, "rb") as handle:
        return pq.read_table(pa.BufferReader(handle.read()))


class RunDir:
    """Paths of one run's folder: ``<results>/<spec>/<run_id>/``."""

    def __init__(self, results: Path, spec_name: str, run_id: str) -> None:
        self.path = Path(results) / spec_name / run_id
        self.run_id = run_id

    @property
    def config(self) -> Path:
        return self.path / "config.json"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.parquet"

    @property
    def record(self) -> Path:
        return self.path / "run.json"

    @property
    def checkpoint(self) -> Path:
        return self.path / "checkpoint"

    @property
    def params(self) -> Path:
        return self.path / "params"

    def read_record(self) -> dict[str, Any] | None:
        return read_json(self.record)

    def is_complete(self) -> bool:
        """A run is complete only when its record says so and its metrics file exists."""
        record = self.read_record()
        return bool(record and record.get("status") == STATUS_COMPLETED and self.metrics.exists())


def versions() -> dict[str, str]:
    """Versions of the code and the libraries that change results."""
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for name in (
        "deep-crl-harness",
        "jax",
        "jaxlib",
        "flax",
        "optax",
        "brax",
        "mujoco",
        "numpy",
        "pydantic",
    ):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    out["git_commit"] = _git_commit()
    return out


def _git_commit() -> str:
    here = Path(__file__).resolve().parent
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = result.stdout.strip()
    if result.returncode != 0 or not commit:
        return "unknown"
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=here,
        capture_output=True,
        text=True,
        timeout=5,
        check=False,
    ).stdout.strip()
    return commit + ("-dirty" if dirty else "")


def host_info() -> dict[str, Any]:
    import jax

    devices = jax.devices()
    return {
        "hostname": socket.gethostname(),
        "platform": devices[0].platform if devices else "none",
        "device_kind": devices[0].device_kind if devices else "none",
        "device_count": len(devices),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
    }


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
