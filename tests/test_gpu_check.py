"""benchmarks/gpu_check.sh runs unchanged on a lent GPU: here its calls run at toy sizes on the
CPU (`--tiny`) and its JSON is checked, so the first GPU run does not fail on a typo.

Opt-in (`pytest -m slow tests/test_gpu_check.py`): four processes that each import JAX and
compile take one to four minutes on the 2-core CPU. `.ci/run` runs it after the suite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_gpu_check_script_prints_every_step_as_json() -> None:
    env = {**os.environ, "PYTHON": sys.executable}
    proc = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--tiny"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["tiny"] is True and report["platform"] == "cpu"
    assert report["peak_tflops"] is None  # no nominal peak for a CPU
    steps = report["steps"]
    for name in ("update_float32", "update_bfloat16", "training", "seed_group"):
        assert steps[name]["exit"] == 0, steps[name].get("error")
        assert steps[name]["rows"] and steps[name]["seconds"] > 0
    forms = [(r["form"], r["dtype"]) for r in steps["update_float32"]["rows"]]
    assert forms == [("scan", "float32"), ("scan+remat", "float32"), ("unrolled", "float32")]
    assert [r["dtype"] for r in steps["update_bfloat16"]["rows"]] == ["bfloat16"]
    assert all(r["update_ms"] > 0 for r in steps["update_float32"]["rows"])
    (train,) = steps["training"]["rows"]
    assert train["recompiles"] == 0 and train["env_steps_per_s"] > 0
    (group,) = steps["seed_group"]["rows"]
    assert group["seeds"] == 2 and group["speedup"] > 0
    assert group["group_env_steps_per_s"] > 0 and group["solo_env_steps_per_s"] > 0
