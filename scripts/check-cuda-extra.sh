#!/usr/bin/env bash
# Check, without a GPU, that `pip install -e ".[cuda]"` resolves with the lock's versions and
# to exactly requirements/lock-cuda.txt: a pip dry run constrained by requirements/lock.txt
# (hashes stripped: pip takes no hashes in constraints), compared pin by pin with the CUDA lock.
# Downloads metadata only; took 3 min 22 s on the project's 2-core machine (2026-12-07).
# Run inside the project's venv. Exit 0 when they agree.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed -n 's/^\([A-Za-z0-9][^ ]*==[^ ]*\)\( ;[^\\]*\)\? *\\$/\1\2/p' requirements/lock.txt \
  > "$work/constraints.txt"
pip install -q --dry-run --ignore-installed --report "$work/report.json" \
  -c "$work/constraints.txt" -e ".[cuda]" 2>&1 | grep -v "^WARNING: Location" || true
python3 - "$work/report.json" <<'PY'
import json, re, sys
from harness.pins import normalise, read_lock
would = {normalise(i["metadata"]["name"]): i["metadata"]["version"]
         for i in json.load(open(sys.argv[1]))["install"]}
would.pop("deep-crl-harness", None)
lock = read_lock("requirements/lock-cuda.txt")
differ = {k: (v, would.get(k)) for k, v in lock.items() if would.get(k) != v}
extra = sorted(set(would) - set(lock))
print(f"pip would install {len(would)} packages; requirements/lock-cuda.txt pins {len(lock)} here")
if differ or extra:
    print(f"differ (lock, pip): {differ}; not in the lock: {extra}")
    sys.exit(1)
print("the cuda extra resolves with the lock's jax to exactly requirements/lock-cuda.txt")
PY
