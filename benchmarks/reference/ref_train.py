"""Run the reference's own ``train.py`` unchanged and log its evaluations as JSON lines.

Runs inside the reference venv (Python 3.10, jax 0.4.23, brax 0.10.1; see ``reference_env.py``),
never in the harness's. ``learning.py`` starts it; it can also be run by hand::

    .reference-venv/bin/python benchmarks/reference/ref_train.py --reference PATH \
        --log OUT.jsonl [--reacher-pipeline generalized] -- --env_id reacher --seed 1 ...

Everything after ``--`` goes to ``train.py``'s own command line (tyro ``Args``,
``train.py:27-104``). The script changes nothing in the training code: it

- wraps ``evaluator.CrlEvaluator.run_evaluation`` so that each evaluation's scalar metrics
  (``eval/episode_success`` is the time at goal: steps within the success threshold, summed over
  the episode, mean over the eval envs; ``evaluator.py:64-80``) also go to ``--log`` with the
  seconds since start, then
- executes ``train.py`` as ``__main__`` (``runpy``) from the checkout's folder.

``--reacher-pipeline``: the reference builds its reacher with ``backend="spring"``
(``train.py:324-331``), which diverges within three steps on brax 0.10.1 (the fingertip's z is
-171 m after two zero-action steps, NaN after a few more; measured by ``physics.py``), so every
loss of a reacher run is NaN. With this flag the ``Reacher`` class of the checkout's
``envs/reacher.py`` is given that pipeline instead (``generalized`` is its own constructor's
default and the pipeline that the environment table of Wang et al. 2025 gives it: see
``shared/reference/paper.md``, "Environments (online, Brax)"); nothing else
changes.

Raises:
    SystemExit: on bad arguments (argparse) or when the checkout lacks ``train.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import sys
import time


def _scalar(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def main(argv: list[str]) -> None:
    if "--" in argv:
        split = argv.index("--")
        ours, theirs = argv[:split], argv[split + 1 :]
    else:
        ours, theirs = argv, []
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", required=True, help="scaling-crl checkout")
    parser.add_argument("--log", required=True, help="JSON-lines file of evaluations")
    parser.add_argument("--reacher-pipeline", choices=("spring", "generalized", "positional"))
    args = parser.parse_args(ours)
    ref = os.path.abspath(args.reference)
    log_path = os.path.abspath(args.log)  # before the chdir below
    if not os.path.isfile(os.path.join(ref, "train.py")):
        raise SystemExit(f"{ref}: no train.py (not a scaling-crl checkout)")
    os.chdir(ref)
    sys.path.insert(0, ref)
    start = time.time()

    import evaluator  # the checkout's evaluator.py

    original = evaluator.CrlEvaluator.run_evaluation

    def run_evaluation(self, training_state, training_metrics, *a, **k):
        metrics = original(self, training_state, training_metrics, *a, **k)
        row = {name: _scalar(v) for name, v in metrics.items()}
        row["wall_s"] = time.time() - start
        with open(log_path, "a") as f:
            f.write(json.dumps(row) + "\n")
        return metrics

    evaluator.CrlEvaluator.run_evaluation = run_evaluation

    if args.reacher_pipeline:
        import envs.reacher

        base = envs.reacher.Reacher
        pipeline = args.reacher_pipeline

        class Reacher(base):  # type: ignore[misc, valid-type]
            def __init__(self, backend: str = pipeline, **kwargs: object) -> None:
                super().__init__(backend=pipeline, **kwargs)

        envs.reacher.Reacher = Reacher

    sys.argv = [os.path.join(ref, "train.py"), *theirs]
    runpy.run_path(os.path.join(ref, "train.py"), run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
