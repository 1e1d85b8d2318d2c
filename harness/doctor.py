"""``harness doctor``: is this machine ready to run the harness? One screen, run first.

Checks, each ``ok``, ``note`` (worth knowing, not a problem) or ``FAIL``:

- Python: the interpreter's version (3.11 or newer, as ``pyproject.toml`` requires).
- lock: every package of ``requirements/lock.txt`` installed at its locked version
  (:mod:`harness.pins`); packages of ``lock-dev.txt`` installed at another version are noted.
- jax: its version, default backend, devices; a GPU extra (``jax-cuda12-plugin``) installed
  while JAX sees no GPU fails.
- XLA flags: ``XLA_FLAGS``, ``XLA_PYTHON_CLIENT_*``, ``JAX_PLATFORMS`` as set.
- compilation cache: the folder JAX's persistent cache will use
  (:func:`harness.enable_compilation_cache`), and whether it can be written.
- results: free disk in the results folder (:data:`MIN_FREE_GB` fails, below
  :data:`LOW_FREE_GB` is noted), and whether it can be written.
- Slurm and submitit: the client commands on PATH and whether ``squeue`` answers; submitit's
  version. No Slurm is a note (the local executor needs none).
- GPU extra: installed or not, and at the versions of ``requirements/lock-cuda.txt``.

Exit codes: 0 when nothing failed, 1 otherwise (each failure says why and what to do).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.pins import differences, installed, lock_path, read_lock, sha256

#: Free disk in the results folder below which doctor fails, GB.
MIN_FREE_GB = 1.0
#: Free disk below which doctor notes it (a long sweep with checkpoints needs more), GB.
LOW_FREE_GB = 10.0
#: Seconds a Slurm client command may take before doctor calls Slurm unreachable.
SLURM_TIMEOUT_S = 15.0
#: Packages of the GPU extra that must match jax (``jax[cuda12]``).
CUDA_PACKAGES = ("jax-cuda12-plugin", "jax-cuda12-pjrt")
#: The command that installs the GPU extra from its lock (README "Set-up").
CUDA_COMMAND = "pip install --require-hashes -r requirements/lock-cuda.txt && pip install --no-deps --no-build-isolation -e ."

OK, NOTE, FAIL = "ok", "note", "FAIL"


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report: ``status`` is ``ok``, ``note`` or ``FAIL``."""

    name: str
    status: str
    detail: str


def check_python() -> Check:
    """The interpreter and its version (the harness installs on 3.11 or newer only)."""
    return Check("python", OK, f"{platform.python_version()} ({sys.executable})")


def check_lock(path: Path | None = None) -> list[Check]:
    """Installed packages against a lock (default ``requirements/lock.txt``: fail when one
    differs) and, for the default, ``lock-dev.txt`` (a dev package at another version is
    noted)."""
    default = path is None
    path = lock_path() if path is None else Path(path)
    if path is None:
        return [
            Check(
                "lock",
                NOTE,
                "no requirements/lock.txt beside the package (not a source "
                "checkout): versions cannot be checked against the lock",
            )
        ]
    if not path.is_file():
        return [Check("lock", FAIL, f"{path}: no such lock file")]
    have = installed()
    found = differences(read_lock(path), have)
    digest = sha256(path)[:12]
    if found:
        shown = "; ".join(str(d) for d in found[:8])
        more = f" (and {len(found) - 8} more)" if len(found) > 8 else ""
        return [
            Check(
                "lock",
                FAIL,
                f"{len(found)} package{'' if len(found) == 1 else 's'} differ from "
                f"{path} ({digest}): "
                f"{shown}{more}. Reinstall with the README's set-up command (pip install "
                "--require-hashes -r requirements/lock-dev.txt) in a fresh venv",
            )
        ]
    locked = read_lock(path)
    checks = [Check("lock", OK, f"all {len(locked)} packages at {path} ({digest})")]
    dev = lock_path("lock-dev.txt") if default else None
    if dev is not None:
        drift = [d for d in differences(read_lock(dev), have) if d.installed is not None]
        if drift:
            checks.append(
                Check("dev lock", NOTE, "differ from lock-dev.txt: " + "; ".join(map(str, drift)))
            )
    return checks


def check_jax() -> list[Check]:
    """JAX's version, backend and devices; the GPU extra against what JAX sees."""
    try:
        import jax
    except Exception as exc:  # an import error of a broken install names itself
        return [Check("jax", FAIL, f"import jax failed: {type(exc).__name__}: {exc}")]
    try:
        backend = jax.default_backend()
        devices = jax.devices()
    except RuntimeError as exc:  # JAX_PLATFORMS names a platform that is not here
        return [Check("jax", FAIL, f"jax {jax.__version__}: no backend: {exc}")]
    kinds: dict[str, int] = {}
    for device in devices:
        kinds[device.device_kind] = kinds.get(device.device_kind, 0) + 1
    listed = ", ".join(f"{n} x {kind}" for kind, n in kinds.items())
    checks = [Check("jax", OK, f"jax {jax.__version__}, backend {backend}: {listed}")]
    plugin = installed(list(CUDA_PACKAGES))
    if plugin and backend != "gpu":
        why = " (JAX_PLATFORMS=cpu is set)" if os.environ.get("JAX_PLATFORMS") == "cpu" else ""
        checks.append(
            Check(
                "jax devices",
                NOTE if why else FAIL,
                f"the GPU extra is installed but JAX runs on {backend}{why}; on a GPU node "
                "check nvidia-smi and the CUDA driver (JAX's CUDA 12 wheels need driver >= 525)",
            )
        )
    return checks


def check_xla_flags() -> Check:
    """Environment variables that change how XLA compiles and allocates."""
    names = sorted(
        k
        for k, v in os.environ.items()
        if v and (k.startswith(("XLA_", "JAX_")) or k == "HARNESS_COMPILE_CACHE")
    )
    if not names:
        return Check("XLA flags", OK, "none set (JAX's defaults)")
    return Check("XLA flags", OK, ", ".join(f"{k}={os.environ[k]}" for k in names))


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _writable(path: Path) -> bool:
    return os.access(_nearest_existing(path), os.W_OK)


def check_compile_cache() -> Check:
    """The persistent compilation cache's folder (as :func:`harness.enable_compilation_cache`
    picks it) and whether it can be written."""
    folder = os.environ.get("HARNESS_COMPILE_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "deep-crl-harness", "xla"
    )
    if folder.lower() in ("off", "0", "none", "false"):
        return Check("compile cache", NOTE, "off (HARNESS_COMPILE_CACHE): every run compiles")
    path = Path(folder)
    if not _writable(path):
        return Check(
            "compile cache",
            FAIL,
            f"{path} cannot be written: set HARNESS_COMPILE_CACHE to a writable folder (or off)",
        )
    entries = sum(1 for _ in path.iterdir()) if path.is_dir() else 0
    return Check("compile cache", OK, f"{path} ({entries} entries)")


def check_results(results: Path) -> Check:
    """Free disk where results go, and whether the folder can be written."""
    where = _nearest_existing(results)
    free_gb = shutil.disk_usage(where).free / 1e9
    text = f"{results} ({free_gb:.1f} GB free)"
    if not _writable(results):
        return Check("results", FAIL, f"{text} cannot be written: pass --results DIR")
    if free_gb < MIN_FREE_GB:
        return Check("results", FAIL, f"{text}: under {MIN_FREE_GB:g} GB, runs would fail")
    if free_gb < LOW_FREE_GB:
        return Check("results", NOTE, f"{text}: checkpoints of long runs need more")
    return Check("results", OK, text)


def check_slurm() -> list[Check]:
    """submitit's version; the Slurm client commands and whether ``squeue`` answers."""
    checks = []
    try:
        import submitit

        checks.append(Check("submitit", OK, f"submitit {submitit.__version__}"))
    except Exception as exc:
        checks.append(Check("submitit", FAIL, f"import submitit failed: {exc}"))
    commands = {c: shutil.which(c) for c in ("sbatch", "squeue", "scancel", "sinfo")}
    missing = [c for c, path in commands.items() if path is None]
    if len(missing) == len(commands):
        checks.append(
            Check(
                "slurm",
                NOTE,
                "no Slurm commands on PATH: the local executor only "
                "(scripts/slurm-local.sh start makes a one-node Slurm)",
            )
        )
        return checks
    if missing:
        checks.append(Check("slurm", FAIL, f"{', '.join(missing)} not on PATH"))
        return checks
    try:
        done = subprocess.run(
            ["sinfo", "-h", "-o", "%P %a %D"],
            capture_output=True,
            text=True,
            timeout=SLURM_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [*checks, Check("slurm", FAIL, f"sinfo did not answer: {exc}")]
    if done.returncode != 0:
        error = (done.stderr or done.stdout).strip().splitlines()
        return [
            *checks,
            Check("slurm", FAIL, f"sinfo failed: {error[0] if error else done.returncode}"),
        ]
    partitions = [line.split()[0] for line in done.stdout.splitlines() if line.strip()]
    return [*checks, Check("slurm", OK, f"partitions: {', '.join(partitions) or 'none'}")]


def check_gpu_extra() -> Check:
    """The ``cuda`` extra: installed at ``requirements/lock-cuda.txt``'s versions, or not."""
    have = installed([*CUDA_PACKAGES, "jax"])
    if not any(name in have for name in CUDA_PACKAGES):
        gpu = shutil.which("nvidia-smi") is not None
        status = NOTE
        text = "not installed (CPU only)"
        if gpu:
            text = "not installed, but nvidia-smi is here"
        return Check("GPU extra", status, f"{text}; on a GPU node: {CUDA_COMMAND}")
    path = lock_path("lock-cuda.txt")
    locked = read_lock(path) if path is not None else {}
    wrong = [
        f"{name} {have[name]} (lock {locked[name]})"
        for name in CUDA_PACKAGES
        if name in have and name in locked and have[name] != locked[name]
    ]
    if wrong:
        return Check("GPU extra", FAIL, f"{'; '.join(wrong)}: reinstall with {CUDA_COMMAND}")
    versions = ", ".join(f"{n} {have[n]}" for n in CUDA_PACKAGES if n in have)
    return Check("GPU extra", OK, versions)


def run_checks(results: Path, lock: Path | None = None) -> list[Check]:
    """Every check, in the order printed (``lock``: check against this lock file instead of
    ``requirements/lock.txt``)."""
    return [
        check_python(),
        *check_lock(lock),
        *check_jax(),
        check_xla_flags(),
        check_compile_cache(),
        check_results(results),
        *check_slurm(),
        check_gpu_extra(),
    ]


def add_doctor_parser(sub: Any) -> None:
    """Add ``harness doctor`` to the ``harness`` subparsers."""
    p = sub.add_parser(
        "doctor",
        help="check this machine: versions against the lock, JAX devices, caches, disk, Slurm",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    p.add_argument("--results", default="results", help="results folder (default: results)")
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.add_argument(
        "--lock",
        default=None,
        metavar="FILE",
        help="check the installed versions against this lock file (default: "
        "requirements/lock.txt; requirements/lock-cuda.txt on a GPU node)",
    )
    p.set_defaults(func=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    """Handler of ``harness doctor``: prints one line per check; 0 when none failed, else 1."""
    checks = run_checks(Path(args.results), Path(args.lock) if args.lock else None)
    failed = [c for c in checks if c.status == FAIL]
    if args.json:
        print(json.dumps({"ok": not failed, "checks": [asdict(c) for c in checks]}, indent=2))
        return 1 if failed else 0
    width = max(len(c.name) for c in checks)
    for c in checks:
        print(f"{c.status:>4}  {c.name.ljust(width)}  {c.detail}")
    if failed:
        print(
            f"\nharness doctor: {len(failed)} problem{'' if len(failed) == 1 else 's'}: "
            + ", ".join(c.name for c in failed)
        )
        return 1
    print("\nharness doctor: all is well")
    return 0
