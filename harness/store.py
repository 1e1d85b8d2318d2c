"""Results on disk: one folder per run, long-format Parquet, atomic writes.

Layout (``shared/DESIGN.md``): ``results/<spec name>/<run_id>/`` holds ``config.json`` (the
resolved run config, the spec it came from, the overrides and the command), ``metrics.parquet``
(one row per evaluation point and metric, with the grouping columns below) and ``run.json`` (the
run record: status, timings, versions, error), written last. Every file is written to a
temporary name in the same folder and renamed, so a reader never sees half a file.

A write that fails (a full disk, a read-only folder) raises :class:`WriteError`, one line
naming the path and the cause, and leaves no temporary file; :func:`check_writable` tests a
folder up front, :func:`write_record` records a run's end even on a full disk, and
:func:`remove_temporaries` clears what an interrupted write left in a run folder.
"""

from __future__ import annotations

import contextlib
import errno
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
#: A local run stopped by a signal (SIGTERM, Ctrl-C, SIGUSR1/2): ``run.json`` names the signal
#: and the checkpoint written (:mod:`harness.interrupt`); the next ``harness run`` resumes it.
STATUS_INTERRUPTED = "interrupted"


class WriteError(OSError):
    """A results file or folder could not be written: ``cannot write PATH: CAUSE``.

    Attributes:
        path: what could not be written.
        cause: the reason in the OS's words (``No space left on device``).
    """

    def __init__(self, path: Path | str, cause: str, code: int | None = None) -> None:
        super().__init__(f"cannot write {path}: {cause}")
        self.path, self.cause, self.errno = Path(path), cause, code

    def __reduce__(self) -> tuple[Any, ...]:  # pickled by submitit from a Slurm task
        return (type(self), (str(self.path), self.cause, self.errno))


#: Reasons a write fails that are the disk's or the folder's, as the OS words them.
_DISK_CAUSES = tuple(
    os.strerror(code) for code in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT)
)


def write_cause(exc: BaseException) -> tuple[str, int | None] | None:
    """Why a write failed, when the disk or the folder is to blame: the OS's message and
    error number of the first :class:`OSError` in the exception's chain, or a known message
    (``No space left on device``) in the text of a library's error that wraps one; else None.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, WriteError):
            return current.cause, current.errno
        if isinstance(current, OSError) and isinstance(current.errno, int) and current.errno:
            return os.strerror(current.errno), current.errno
        for cause in _DISK_CAUSES:
            if cause in str(current):
                return cause, None
        current = current.__cause__ or current.__context__
    return None


def _write_error(path: Path, exc: BaseException) -> WriteError:
    found = write_cause(exc)
    cause, code = found if found else (str(exc).splitlines()[0] if str(exc) else "", None)
    return WriteError(path, cause or type(exc).__name__, code)


def check_writable(folder: Path) -> None:
    """Create ``folder`` (and its parents), write a probe file in it, and remove the file and
    the folders this made: a folder that can be written is left as it was.

    Raises:
        WriteError: naming the folder and the cause (a full disk, a read-only file system, a
            path that is a file).
    """
    folder = Path(folder)
    for above in (folder, *folder.parents):
        if above.exists() or above.is_symlink():
            if not above.is_dir():
                what = "is a file" if above == folder else f"{above} is a file"
                raise WriteError(folder, f"{what}, not a folder", errno.ENOTDIR)
            break
    made = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".probe.", suffix=".tmp")
        try:
            os.write(fd, b"probe\n")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        raise _write_error(folder, exc) from exc
    finally:
        for created in made:  # deepest first; one another process filled meanwhile stays
            with contextlib.suppress(OSError):
                created.rmdir()


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise _write_error(path, exc) from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results are shared with collaborators
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _write_error(path, exc) from exc
        raise


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    """Write JSON atomically (sorted keys, indented)."""
    _atomic_write_bytes(path, (json.dumps(payload, indent=2, sort_keys=True) + "\n").encode())


class BrokenFile(ValueError):
    """A results file that exists but cannot be read (truncated, garbage, not the layout).

    The message starts with the file's path, so every reader names the broken file.
    """

    def __init__(self, path: Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def read_json(path: Path) -> dict[str, Any] | None:
    """Read a JSON object, or ``None`` when the file is missing or is not a readable JSON
    object (random bytes, truncated, a list): :func:`load_json` without the reason."""
    try:
        return load_json(path)
    except BrokenFile:
        return None


def load_json(path: Path) -> dict[str, Any] | None:
    """Read a JSON object, or ``None`` when the file is missing.

    Raises:
        BrokenFile: the file exists but is not a readable JSON object.
    """
    try:
        text = Path(path).read_bytes().decode()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise BrokenFile(path, f"unreadable ({exc})") from exc
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BrokenFile(path, f"not valid JSON ({exc})") from exc
    if not isinstance(payload, dict):
        raise BrokenFile(path, f"not a JSON object (a {type(payload).__name__})")
    return payload


def set_aside(path: Path) -> Path:
    """Rename a broken file to ``<name>.broken-<timestamp>`` next to it (data is never deleted
    without a trace) and return the new path."""
    path = Path(path)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    target = path.with_name(f"{path.name}.broken-{stamp}")
    count = 1
    while target.exists():
        count += 1
        target = path.with_name(f"{path.name}.broken-{stamp}-{count}")
    os.replace(path, target)
    return target


def write_metrics(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    """Write rows (dicts with the :data:`METRICS_SCHEMA` columns) to Parquet atomically."""
    table = pa.Table.from_pylist(list(rows), schema=METRICS_SCHEMA)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
    except OSError as exc:
        raise _write_error(path, exc) from exc
    try:
        pq.write_table(table, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _write_error(path, exc) from exc
        raise


def write_record(path: Path, payload: Mapping[str, Any]) -> None:
    """Write a run record (``run.json``) even on a full disk.

    Atomically (:func:`write_json`) where there is room; else over the old file in place,
    which reuses its space; else in place without the error's traceback. A reader may see half
    a file only while the in-place write is under way, and only on a full disk.

    Raises:
        WriteError: not even the short record fits.
    """
    try:
        write_json(path, payload)
        return
    except WriteError as exc:
        if not path.is_file():
            raise
        first = exc
    slim = dict(payload)
    if isinstance(slim.get("error"), dict):
        slim["error"] = {k: v for k, v in slim["error"].items() if k != "traceback"}
    for attempt in (payload, slim):
        text = (json.dumps(attempt, indent=2, sort_keys=True) + "\n").encode()
        try:
            with open(path, "wb") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            return
        except OSError:
            continue
    raise first


def remove_temporaries(folder: Path) -> list[Path]:
    """Remove what interrupted writes left in a run folder: orbax's
    ``*.orbax-checkpoint-tmp*`` folders (anywhere below, e.g. ``checkpoint/3.orbax-checkpoint-
    tmp-...`` or ``params.orbax-checkpoint-tmp-...``) and this module's ``.NAME.*.tmp`` files.
    Finished files and complete checkpoints are left alone.

    Returns:
        The paths removed.
    """
    import shutil

    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [*folder.rglob("*.orbax-checkpoint-tmp*"), *folder.glob(".*.tmp")]
    removed = []
    for path in sorted(found, key=lambda p: len(p.parts)):
        if not path.exists() and not path.is_symlink():
            continue  # inside a folder removed already
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


#: Metrics that get a final score, in the order they are looked for: time at goal and success
#: of online evaluation, success of OGBench evaluation (offline runs).
FINAL_METRICS = ("eval/time_at_goal", "eval/success_any", "eval/success")
#: Prefix of the final-score rows a completed run adds to its metrics.parquet
#: (``final/time_at_goal``, ``final/success_any``, ``final/last_k``).
FINAL_PREFIX = "final/"


def final_scores(
    rows: Iterable[Mapping[str, Any]], last_k: int, step: str = "env_steps"
) -> dict[str, float]:
    """The run's final scores: per metric of :data:`FINAL_METRICS` present in ``rows``, the
    mean of its last ``last_k`` evaluations in ``step`` order (fewer when the run has fewer).

    The one definition of "final score" that ``harness run`` (the completion line,
    ``run.json``, the ``final/*`` Parquet rows, TensorBoard and W&B), ``harness status`` and
    ``harness report`` share; ``last_k`` is the spec's ``eval.last_k`` (Wang et al. 2025,
    arXiv 2503.14858, Sec. 5: the last 5) unless ``harness report --last`` overrides it.

    Args:
        rows: metrics rows (``metric``, ``value`` and ``step``), any order.
        last_k: evaluations averaged (>= 1).
        step: ``env_steps`` online, ``grad_steps`` offline (their env steps do not move).

    Returns:
        ``{metric: score}``; metrics without rows are absent.

    Raises:
        ValueError: ``last_k`` < 1.
    """
    if last_k < 1:
        raise ValueError(f"last_k must be >= 1, got {last_k}")
    series: dict[str, list[tuple[int, float]]] = {}
    for row in rows:
        if row["metric"] in FINAL_METRICS:
            series.setdefault(row["metric"], []).append((int(row[step]), float(row["value"])))
    out = {}
    for name in FINAL_METRICS:
        if name in series:
            tail = [v for _, v in sorted(series[name], key=lambda p: p[0])][-last_k:]
            out[name] = sum(tail) / len(tail)
    return out


#: Columns every reader of metrics.parquet relies on, and the kinds of type they must have.
_NEEDED_COLUMNS = ("env_steps", "grad_steps", "metric", "value")
_NEEDED_KINDS = (
    pa.types.is_integer,
    pa.types.is_integer,
    lambda t: pa.types.is_string(t) or pa.types.is_large_string(t),
    lambda t: pa.types.is_floating(t) or pa.types.is_integer(t),
)


def read_metrics(path: Path) -> pa.Table:
    """Read one run's metrics.parquet.

    The file is opened once and read through that handle: a writer may atomically replace the
    path at any moment, and the open handle keeps reading one consistent file (a path-based
    read could take the footer from one version and pages from the next).

    Raises:
        FileNotFoundError: there is no file.
        BrokenFile: the file cannot be read, or is not a Parquet file with the metrics columns
            and their types (pyarrow's own error names only ``<Buffer>``).
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise
    except OSError as exc:  # a folder, no permission, an I/O error
        raise BrokenFile(path, f"unreadable ({exc.strerror or exc})") from exc
    try:
        table = pq.read_table(pa.BufferReader(data))
    except pa.ArrowException as exc:
        raise BrokenFile(path, f"not a readable Parquet file ({exc})") from exc
    missing = [c for c in _NEEDED_COLUMNS if c not in table.column_names]
    if missing:
        raise BrokenFile(path, f"no column {', '.join(missing)}")
    wrong = [
        name
        for name, kind in zip(_NEEDED_COLUMNS, _NEEDED_KINDS, strict=True)
        if not kind(table.schema.field(name).type)
    ]
    if wrong:
        raise BrokenFile(path, f"column {', '.join(wrong)} of the wrong type")
    return table


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

    def read_record(self, strict: bool = False) -> dict[str, Any] | None:
        """``run.json``, or None when missing (and, unless ``strict``, when unreadable).

        Raises:
            BrokenFile: ``strict`` and the file exists but is not a readable JSON object.
        """
        return load_json(self.record) if strict else read_json(self.record)

    def broken(self) -> list[BrokenFile]:
        """The run's files that exist but cannot be read (``run.json``, ``config.json``,
        ``metrics.parquet``)."""
        found = []
        for path in (self.record, self.config):
            try:
                load_json(path)
            except BrokenFile as exc:
                found.append(exc)
        if self.metrics.exists():
            try:
                read_metrics(self.metrics)
            except BrokenFile as exc:
                found.append(exc)
        return found

    def is_complete(self) -> bool:
        """A run is complete only when its record says so and its files are readable."""
        try:
            record = load_json(self.record)
            if not record or record.get("status") != STATUS_COMPLETED:
                return False
            load_json(self.config)
            read_metrics(self.metrics)
        except (BrokenFile, FileNotFoundError):
            return False
        return True


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
        "mujoco-mjx",
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
