"""Build the reference implementation's pinned environment in a virtualenv of its own.

The reference (wang-kevin3290/scaling-crl, ``pyproject.toml``) pins numpy 1.26.4, jax and
jaxlib 0.4.23, flax 0.7.4, brax 0.10.1, mujoco 3.2.6 and scipy 1.12.0 on Python 3.10. On a
CPU machine the plain PyPI ``jaxlib==0.4.23`` wheel stands in for the CUDA build it pins for
Linux. ``train.py`` imports ``wandb``, ``wandb_osh`` and ``tyro`` at module level, so those are
installed too (``wandb==0.17.9`` and ``wandb-osh==1.2.2`` as pinned; if the pinned wandb cannot
be installed, a stub module is written instead and the build says so). ``mediapy`` is not
imported by ``train.py``, ``buffer.py`` or ``evaluator.py`` and is skipped.

After installing, the two brax 0.10.1 fixes of the reference's README are applied: its
``contact.py`` replacement (the first fenced ``python`` block of ``README.md``, read from the
user's checkout at run time) and the ``if`` statement of ``brax/io/json.py`` near line 159.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

#: The reference's pins (scaling-crl ``pyproject.toml``), CPU jaxlib in place of the CUDA build.
PINNED = [
    "numpy==1.26.4",
    "jax==0.4.23",
    "jaxlib==0.4.23",
    "flax==0.7.4",
    "brax==0.10.1",
    "mujoco==3.2.6",
    "scipy==1.12.0",
    "tyro",
]
#: Imported at the top of ``train.py``; pinned by the reference.
WANDB = ["wandb==0.17.9", "wandb-osh==1.2.2"]
#: Packages whose versions are recorded in the report.
KEY_PACKAGES = [
    "numpy",
    "jax",
    "jaxlib",
    "flax",
    "brax",
    "mujoco",
    "mujoco-mjx",
    "scipy",
    "optax",
    "chex",
    "tyro",
    "wandb",
    "wandb-osh",
    "ml-dtypes",
    "orbax-checkpoint",
]
#: Marker written into the venv once the build (install and patches) is complete.
MARKER = "scaling_crl_reference.json"
#: The brax 0.10.1 json.py statement the reference's README replaces, and its replacement.
JSON_FIX = "if (rgba == jp.array([0.5, 0.5, 0.5, 1.0])).all():"
#: brax 0.10.1 has ``if (rgba == [0.5, 0.5, 0.5, 1.0]).all():`` at line 159 (a list, which fails
#: for a jax array ``rgba``); matched with or without the parentheses and ``.all()``.
_JSON_BUGGY = re.compile(
    r"^(\s*)if\s+\(?\s*rgba\s*==\s*\[0\.5,\s*0\.5,\s*0\.5,\s*1(\.0)?\]\s*\)?(\.all\(\))?\s*:\s*$"
)


def find_python310() -> tuple[str, bool]:
    """A Python 3.10 interpreter (the reference's ``requires-python``).

    Searches ``PATH`` for ``python3.10`` (resolving pyenv shims to the real binary), then
    pyenv's versions folder. Falls back to the running interpreter.

    Returns:
        ``(path, is_310)``; ``is_310`` is False for the fallback.
    """
    candidates: list[str] = []
    found = shutil.which("python3.10")
    if found:
        candidates.append(found)
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += sorted(str(p) for p in pyenv_root.glob("versions/3.10*/bin/python3.10"))
    for cand in candidates:
        try:
            out = subprocess.run(
                [
                    cand,
                    "-c",
                    "import sys, venv; print(sys.executable); print(sys.version_info[:2])",
                ],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            ).stdout.splitlines()
        except (OSError, subprocess.SubprocessError):
            continue
        if out and out[-1] == "(3, 10)":
            return out[0], True
    return sys.executable, False


def venv_python(venv: Path) -> Path:
    """The interpreter of a virtualenv."""
    return venv / "bin" / "python"


def contact_py_from_readme(reference: Path) -> str:
    """The reference README's replacement for ``brax/contact.py`` (its first ``python`` block).

    Raises:
        RuntimeError: if the README has no block that defines ``get(sys, x)`` with a
            ``data.ncon`` check.
    """
    text = (reference / "README.md").read_text()
    for block in re.findall(r"```python\n(.*?)```", text, flags=re.S):
        if "def get(sys: System, x: Transform)" in block and "data.ncon" in block:
            return block
    raise RuntimeError(f"no contact.py replacement found in {reference / 'README.md'}")


def _site_packages(py: Path) -> Path:
    out = subprocess.run(
        [str(py), "-c", "import brax, os; print(os.path.dirname(brax.__file__))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip())


def apply_brax_patches(py: Path, reference: Path) -> dict[str, Any]:
    """Apply the reference README's two brax 0.10.1 fixes in the venv of ``py``.

    Returns:
        what was done: the patched files and the json.py line number.

    Raises:
        RuntimeError: if json.py has neither the buggy statement nor the fix.
    """
    brax_dir = _site_packages(py)
    contact = brax_dir / "contact.py"
    contact.write_text(contact_py_from_readme(reference))
    json_py = brax_dir / "io" / "json.py"
    lines = json_py.read_text().splitlines(keepends=True)
    patched_line = None
    for i, line in enumerate(lines):
        if JSON_FIX in line:
            patched_line = i + 1
            break
        m = _JSON_BUGGY.match(line.rstrip("\n"))
        if m:
            lines[i] = f"{m.group(1)}{JSON_FIX}\n"
            patched_line = i + 1
            json_py.write_text("".join(lines))
            break
    if patched_line is None:
        raise RuntimeError(f"did not find the rgba `if` statement of {json_py}")
    for cache in brax_dir.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)
    return {
        "contact_py": str(contact),
        "contact_py_source": "first ```python block of README.md defining get(sys, x)",
        "json_py": str(json_py),
        "json_py_line": patched_line,
        "json_py_statement": JSON_FIX,
    }


def _pip(py: Path, *args: str, log: Any) -> int:
    cmd = [str(py), "-m", "pip", "install", "--disable-pip-version-check", *args]
    print("  $", " ".join(cmd), flush=True)
    return subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode


def _write_wandb_stub(py: Path) -> None:
    """Minimal ``wandb`` / ``wandb_osh`` modules: ``train.py`` imports them at module level and
    uses them only under ``__main__``, which this tool never runs."""
    site = _site_packages(py).parent
    (site / "wandb").mkdir(exist_ok=True)
    (site / "wandb" / "__init__.py").write_text(
        '"""Stub written by benchmarks/reference (wandb 0.17.9 failed to install)."""\n'
    )
    osh = site / "wandb_osh"
    osh.mkdir(exist_ok=True)
    (osh / "__init__.py").write_text("def set_log_level(*a, **k):\n    pass\n")
    (osh / "hooks.py").write_text("class TriggerWandbSyncHook:\n    pass\n")


def freeze(py: Path) -> dict[str, str]:
    """Installed versions of :data:`KEY_PACKAGES` in the venv of ``py`` (from ``pip freeze``)."""
    out = subprocess.run(
        [str(py), "-m", "pip", "freeze", "--all"], capture_output=True, text=True, check=True
    ).stdout
    versions: dict[str, str] = {}
    for line in out.splitlines():
        if "==" not in line:
            continue
        name, version = line.split("==", 1)
        norm = name.strip().lower().replace("_", "-")
        if norm in KEY_PACKAGES:
            versions[norm] = version.strip()
    return versions


def ensure_venv(venv: Path, reference: Path) -> dict[str, Any]:
    """Create and populate the reference venv unless a completed one exists.

    Args:
        venv: the virtualenv folder (created if missing).
        reference: the scaling-crl checkout (its README provides the brax fixes).

    Returns:
        the build record (interpreter, installed versions, patches, wandb stub, build seconds),
        also stored in the venv as :data:`MARKER`.

    Raises:
        RuntimeError: when an install step fails (the pip log is in the venv).
    """
    marker = venv / MARKER
    if marker.exists() and venv_python(venv).exists():
        record = json.loads(marker.read_text())
        record["reused"] = True
        return record
    start = time.time()
    base, is_310 = find_python310()
    if is_310:
        print(f"building the reference venv {venv} with Python 3.10 ({base})", flush=True)
    else:
        print(
            f"WARNING: no Python 3.10 found; building {venv} with the running interpreter "
            f"{base} ({sys.version.split()[0]}), which the reference does not support",
            flush=True,
        )
    if not venv_python(venv).exists():
        subprocess.run([base, "-m", "venv", str(venv)], check=True)
    py = venv_python(venv)
    log_path = venv / "build.log"
    with log_path.open("a") as log:
        if _pip(py, "--upgrade", "pip", log=log) != 0:
            raise RuntimeError(f"pip upgrade failed; see {log_path}")
        if _pip(py, *PINNED, log=log) != 0:
            raise RuntimeError(f"installing the reference's pins failed; see {log_path}")
        wandb_stub = False
        if _pip(py, *WANDB, log=log) != 0:
            print(f"  wandb 0.17.9 did not install (see {log_path}); writing a stub", flush=True)
            _write_wandb_stub(py)
            wandb_stub = True
    patches = apply_brax_patches(py, reference)
    version = subprocess.run(
        [str(py), "-c", "import sys; print(sys.version.split()[0])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    record: dict[str, Any] = {
        "python": base,
        "python_version": version,
        "python_is_3_10": is_310,
        "requested": PINNED + WANDB,
        "installed": freeze(py),
        "wandb_stub": wandb_stub,
        "brax_patches": patches,
        "build_seconds": round(time.time() - start, 1),
        "build_log": str(log_path),
    }
    marker.write_text(json.dumps(record, indent=2))
    record["reused"] = False
    return record


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", required=True, type=Path)
    parser.add_argument("--venv", default=Path(".reference-venv"), type=Path)
    ns = parser.parse_args()
    print(json.dumps(ensure_venv(ns.venv.resolve(), ns.reference.resolve()), indent=2))
