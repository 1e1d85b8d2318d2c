"""The version lock: which versions the harness was tested with, and which are installed.

``requirements/lock.txt`` (the default install), ``lock-dev.txt`` (plus the ``dev`` extra) and
``lock-cuda.txt`` (plus the ``cuda`` extra) pin every package with sha256 hashes; they are made
by ``scripts/lock.sh`` (``uv pip compile``) and installed by the README's set-up command. This
module reads them (:func:`read_lock`), compares them with the installed distributions
(:func:`differences`), hashes the default lock for ``run.json`` (:func:`lock_record`), and names
the packages whose version changes a run's physics or numerics (:data:`RESULT_PACKAGES`,
:func:`version_changes`): ``harness run`` refuses to resume a run across a change of those.

The lock files sit beside the source (``<checkout>/requirements/``); an install from a wheel
has none, and every function here then says so instead of failing. A leaf module: imports
nothing of the harness.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Folder of the lock files in a source checkout.
LOCK_DIR = Path(__file__).resolve().parent.parent / "requirements"
#: The lock of the default install; its hash goes into ``run.json``.
DEFAULT_LOCK = "lock.txt"

#: Packages whose version changes what a run computes (physics, compiled numerics): a run is
#: not resumed across a change of one of them (``harness run --allow-version-change``
#: overrides). Wang et al. 2025 (arXiv 2503.14858), App. B.2: scores move between brax / MJX
#: versions.
RESULT_PACKAGES = ("jax", "jaxlib", "brax", "mujoco", "mujoco-mjx")

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)\s*(?:;\s*([^\\#]+))?")


def normalise(name: str) -> str:
    """A distribution name in PEP 503 form (``Mujoco_MJX`` -> ``mujoco-mjx``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_path(name: str = DEFAULT_LOCK) -> Path | None:
    """The lock file ``requirements/<name>`` of this checkout, or None (installed from a
    wheel, or the file is gone)."""
    path = LOCK_DIR / name
    return path if path.is_file() else None


def read_lock(path: Path) -> dict[str, str]:
    """Pinned versions of a lock file (``name==version [; marker]`` lines, hashes on the lines
    after), normalised name -> version, for this interpreter and platform: pins whose
    environment marker does not hold here (``sys_platform == 'win32'``) are left out.

    Raises:
        OSError: the file cannot be read.
    """
    from packaging.markers import Marker

    pins = {}
    for line in Path(path).read_text().splitlines():
        match = _PIN.match(line.strip())
        if not match:
            continue
        name, version, marker = match.groups()
        if marker and not Marker(marker.strip()).evaluate():
            continue
        pins[normalise(name)] = version
    return pins


def installed(names: list[str] | None = None) -> dict[str, str]:
    """Installed distributions, normalised name -> version (all, or those of ``names``)."""
    found = {}
    for dist in md.distributions():
        name = dist.metadata["Name"]
        if name:
            found[normalise(name)] = dist.version
    if names is None:
        return found
    return {n: found[normalise(n)] for n in names if normalise(n) in found}


@dataclass(frozen=True)
class Difference:
    """A locked package whose installed version differs (``installed`` None: missing)."""

    name: str
    locked: str
    installed: str | None

    def __str__(self) -> str:
        have = f"{self.installed} installed" if self.installed else "not installed"
        return f"{self.name} {have}, lock {self.locked}"


def differences(lock: dict[str, str], have: dict[str, str] | None = None) -> list[Difference]:
    """Packages of ``lock`` (:func:`read_lock`) not installed at their locked version, by
    name. ``have``: installed versions (default: :func:`installed`)."""
    have = installed() if have is None else have
    return [
        Difference(name, version, have.get(name))
        for name, version in sorted(lock.items())
        if have.get(name) != version
    ]


def sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def lock_record() -> dict[str, Any]:
    """What ``run.json`` keeps of the lock (its ``lock`` entry): the default lock's file and
    sha256, and the locked packages installed at another version (``"brax 0.14.1 installed,
    lock 0.14.2"``); ``{"file": None}`` without a lock file."""
    path = lock_path()
    if path is None:
        return {"file": None, "sha256": None, "differs": []}
    try:
        differs = [str(d) for d in differences(read_lock(path))]
        digest = sha256(path)
    except OSError as exc:
        return {"file": str(path), "sha256": None, "differs": [], "error": str(exc)}
    return {"file": f"requirements/{path.name}", "sha256": digest, "differs": differs}


def version_changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Changes of :data:`RESULT_PACKAGES` between two ``versions`` records of ``run.json``
    (:func:`harness.store.versions`), as ``"brax 0.14.1 -> 0.14.2"``; a package absent from
    ``before`` (recorded by an older harness) is not a change."""
    changes = []
    for name in RESULT_PACKAGES:
        old, new = before.get(name), after.get(name)
        if old is not None and old != new:
            changes.append(f"{name} {old} -> {new if new is not None else 'not installed'}")
    return changes
