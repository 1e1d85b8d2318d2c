"""Local executor: run the planned runs of a spec one after another in this process.

A run whose folder is complete (``run.json`` says completed and ``metrics.parquet`` is readable)
is skipped; each other run goes through :func:`harness.runner.execute_run`, which skips a run
that another live process owns (so two ``harness run`` of one spec share its runs out), records a
run that raises as failed with its error, and the sweep goes on (HELM's habit: collect
failures, report them together at the end).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.plan import expand, seed_groups
from harness.progress import NullReporter, Reporter

# Re-exported: these lived here before running one run (harness.runner) and the status of a run
# (harness.status) became modules of their own, under both executors.
from harness.runner import RunOutcome as RunOutcome
from harness.runner import execute_group as execute_group
from harness.runner import execute_run as execute_run
from harness.runner import label as label
from harness.runner import write_run_config as write_run_config
from harness.spec import Spec
from harness.status import final_score as final_score
from harness.status import summarize as summarize
from harness.store import RunDir


def run_local(
    spec: Spec,
    results: Path,
    provenance: dict[str, Any],
    reporter: Reporter | None = None,
    on_stall: Callable[[list[str]], None] | None = None,
    stop: threading.Event | None = None,
) -> list[RunOutcome]:
    """Run every pending run of ``spec`` in this process; skip completed ones.

    When ``stop`` is set (a signal, :func:`harness.interrupt.run_stoppable`), the runs in
    training finish their step, checkpoint and are recorded ``interrupted``, and no further run
    starts; the outcomes returned are those of the runs that started.

    Pending runs that differ only in their seed train together in groups of up to
    ``hardware.seed_group`` (:func:`harness.plan.seed_groups`,
    :func:`harness.runner.execute_group`). ``on_stall`` arms the stall watchdog; ``harness
    run`` passes :func:`harness.watchdog.reexec_skipping`, so a stalled run is recorded as
    failed and the command starts again without it. Runs that stalled earlier in this command
    (:func:`harness.watchdog.stalled_runs`) are skipped and reported failed.
    """
    from harness.train import enable_compilation_cache
    from harness.watchdog import stalled_runs

    enable_compilation_cache()
    reporter = reporter or NullReporter()
    runs = expand(spec)
    index_of = {run.run_id: index for index, run in enumerate(runs, start=1)}
    outcomes: dict[str, RunOutcome] = {}
    trainers: dict[str, Any] = {}
    stalled = stalled_runs()
    pending = []
    for index, run in enumerate(runs, start=1):
        rundir = RunDir(results, spec.name, run.run_id)
        if rundir.is_complete():
            reporter.run_skipped(index, len(runs), run.run_id, label(run))
            outcomes[run.run_id] = RunOutcome(run.run_id, "skipped")
        elif run.run_id in stalled:
            error = (rundir.read_record() or {}).get("error") or {}
            message = f"stalled earlier in this command: {error.get('message', 'no progress')}"
            reporter.note(run.run_id, f"run {index}/{len(runs)} {run.run_id}: {message}")
            outcomes[run.run_id] = RunOutcome(run.run_id, "failed", message)
        else:
            pending.append(run)
    for group in seed_groups(pending, spec.hardware.seed_group):
        if stop is not None and stop.is_set():
            break
        for run in group:
            reporter.run_started(index_of[run.run_id], len(runs), run.run_id, label(run))
        if len(group) > 1:
            reporter.note(group[0].run_id, f"training seeds {_seeds(group)} together")
        for outcome in execute_group(
            spec, group, results, provenance, reporter, stop, trainers, on_stall
        ):
            outcomes[outcome.run_id] = outcome
    return [outcomes[run.run_id] for run in runs if run.run_id in outcomes]


def _seeds(group: list[Any]) -> str:
    return ", ".join(str(run.config.seed) for run in group)
