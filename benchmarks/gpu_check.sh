#!/usr/bin/env bash
# The GPU check: one script, run unchanged the first time a GPU is lent, under 8 minutes, that
# prints one JSON object on stdout (progress on stderr):
#   - the CRL update at critic depths 4/64/256/1024 (actor depth min(depth, 512)), width 256,
#     batch 512, humanoid-sized inputs: compile s, update ms, XLA memory, TFLOP/s and its share
#     of the device's nominal peak, in the forms scan, scan+remat (float32), scan (bfloat16)
#     and the reference's unrolled float32 form up to depth 64 (`harness bench`);
#   - training throughput of humanoid at depth 4 and 64 (512 envs x unroll 62, batch 512, UTD
#     1:40; `harness bench --train`);
#   - a 4-seed group at depth 4 against 4 solo runs in turns (`harness bench --train
#     --seed-group 4`).
# Each step has its own time limit; a step that fails or runs out of time is reported with its
# error and the others go on. Needs the [cuda] extra (pip install -e ".[cuda]").
#
#   benchmarks/gpu_check.sh > gpu_check.json
#   benchmarks/gpu_check.sh --tiny     # the same calls at toy sizes (CPU: tests/test_gpu_check.py)
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
TINY=0
[ "${1:-}" = "--tiny" ] && TINY=1
if [ "$TINY" = 1 ]; then
  DEPTHS=4; REF=4; WIDTH=16; BATCH=16; REPEATS=1
  TRAIN_ENV=point_u_maze; TRAIN_DEPTHS=4; ENVS=4; UNROLL=20; ITERS=1; GROUP=2
  LIMITS=(120 120 120 120)
else
  DEPTHS=4,64,256,1024; REF=64; WIDTH=256; BATCH=512; REPEATS=5
  TRAIN_ENV=humanoid; TRAIN_DEPTHS=4,64; ENVS=512; UNROLL=62; ITERS=3; GROUP=4
  LIMITS=(150 75 150 90)
fi
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
START=$(date +%s)

step() {  # step NAME LIMIT_S ARGS...: `harness ARGS --json` into $OUT/NAME.json, timed
  local name=$1 limit=$2 t0 rc
  shift 2
  echo "gpu_check: $name: harness $*" >&2
  t0=$EPOCHREALTIME
  timeout -k 10 "$limit" "$PYTHON" -m harness.cli "$@" --json >"$OUT/$name.json" 2>"$OUT/$name.err"
  rc=$?
  echo "$rc $t0 $EPOCHREALTIME" >"$OUT/$name.rc"
  echo "gpu_check: $name: exit $rc" >&2
}

step update_float32 "${LIMITS[0]}" bench --depths "$DEPTHS" --forms scan,scan+remat,unrolled \
  --reference-max-depth "$REF" --width "$WIDTH" --batch "$BATCH" --repeats "$REPEATS"
step update_bfloat16 "${LIMITS[1]}" bench --depths "$DEPTHS" --forms scan --dtype bfloat16 \
  --width "$WIDTH" --batch "$BATCH" --repeats "$REPEATS"
step training "${LIMITS[2]}" bench --train "$TRAIN_ENV" --depths "$TRAIN_DEPTHS" \
  --num-envs "$ENVS" --unroll-length "$UNROLL" --batch "$BATCH" --width "$WIDTH" \
  --iterations "$ITERS"
step seed_group "${LIMITS[3]}" bench --train "$TRAIN_ENV" --depths 4 --seed-group "$GROUP" \
  --num-envs "$ENVS" --unroll-length "$UNROLL" --batch "$BATCH" --width "$WIDTH" \
  --iterations "$ITERS"

"$PYTHON" - "$OUT" "$START" "$TINY" <<'PY'
import json, sys, time
from pathlib import Path

import jax

out, start, tiny = Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3] == "1"
device = jax.devices()[0]
# Nominal dense peaks, TFLOP/s (vendor datasheets, SXM parts; H200 has H100's tensor cores).
PEAKS = {
    "H200": {"float32": 67.0, "tf32": 494.7, "bfloat16": 989.4},
    "H100": {"float32": 67.0, "tf32": 494.7, "bfloat16": 989.4},
    "A100": {"float32": 19.5, "tf32": 156.0, "bfloat16": 312.0},
}
peak = next((v for k, v in PEAKS.items() if k in device.device_kind), None)
steps = {}
for name in ("update_float32", "update_bfloat16", "training", "seed_group"):
    rc_file = out / f"{name}.rc"
    rc, t0, t1 = rc_file.read_text().split() if rc_file.exists() else ("-1", "0", "0")
    entry = {"exit": int(rc), "seconds": round(float(t1) - float(t0), 1)}
    try:
        entry["rows"] = json.loads((out / f"{name}.json").read_text())["rows"]
    except Exception:
        err = (out / f"{name}.err").read_text() if (out / f"{name}.err").exists() else ""
        entry["error"] = ("timed out; " if rc in ("124", "137") else "") + err[-2000:]
    for row in entry.get("rows", []):
        if peak and row.get("tflops_per_s") is not None:
            # float32 matmuls run as TF32 on the tensor cores under JAX's default precision
            kind = "bfloat16" if row.get("dtype") == "bfloat16" else "tf32"
            row["share_of_peak"] = row["tflops_per_s"] / peak[kind]
    steps[name] = entry
print(json.dumps({
    "device": device.device_kind,
    "platform": device.platform,
    "jax": jax.__version__,
    "tiny": tiny,
    "peak_tflops": peak,
    "total_s": round(time.time() - start, 1),
    "steps": steps,
}, indent=2))
PY
