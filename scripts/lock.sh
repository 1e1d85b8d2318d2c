#!/usr/bin/env bash
# Regenerate the version lock: exact versions with sha256 hashes, resolved from PyPI by uv.
#
#   requirements/lock.txt       the default install (pyproject's dependencies)
#   requirements/lock-dev.txt   the same pins plus the dev extra (tests, lint, types, tracking)
#   requirements/lock-cuda.txt  the same pins plus the cuda extra (JAX's CUDA 12 build; Linux)
#
# Usage: scripts/lock.sh            keep the pinned versions where they still satisfy
#                                   pyproject.toml (add or drop packages only)
#        scripts/lock.sh --upgrade  move every package to its newest allowed version
#
# Needs uv (`pip install uv==0.13.9`, any recent uv works). The default lock is resolved first;
# the other two take it as a constraint, so every package of the default install has the same
# version in all three files. The locks are universal (markers, not one platform) and hold one
# version per package for Python 3.11 and newer (--fork-strategy fewest), so results do not
# depend on the Python version a user happens to have. Run the tests after an upgrade: the lock
# is what the tests and the README's measurements were made with.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v uv >/dev/null || { echo "scripts/lock.sh needs uv: pip install uv==0.13.9" >&2; exit 2; }
common=(--universal --python-version 3.11 --fork-strategy fewest --generate-hashes --quiet
  --custom-compile-command "scripts/lock.sh")
uv pip compile pyproject.toml "${common[@]}" "$@" -o requirements/lock.txt
# Constraints are names and versions only: uv ignores their hashes.
uv pip compile pyproject.toml --extra dev "${common[@]}" "$@" -c requirements/lock.txt \
  -o requirements/lock-dev.txt
uv pip compile pyproject.toml --extra cuda "${common[@]}" "$@" -c requirements/lock.txt \
  -o requirements/lock-cuda.txt
echo "wrote requirements/lock.txt, lock-dev.txt and lock-cuda.txt"
