"""Local executor: run the planned runs of a spec one after another in this process.

A run whose folder is complete (``run.json`` says completed and ``metrics.parquet`` is readable)
is skipped; each other run goes through :func:`harness.runner.execute_run`, which skips a run
that another live process owns (so two ``harness run`` of one spec share its runs out), records a
run that raises as failed with its error, and the sweep goes on (HELM's habit: collect
failures, report them together at the end).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.plan import expand
from harness.progress import NullReporter, Reporter

# Re-exported: these lived here before running one run (harness.runner) and the status of a run
# (harness.status) became modules of their own, under both executors.
from harness.runner import RunOutcome as RunOutcome
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
) -> list[RunOutcome]:
    """Run every pending run of ``spec`` in this process; skip completed ones."""
    from harness.train import enable_compilation_cache

    enable_compilation_cache()
    reporter = reporter or NullReporter()
    runs = expand(spec)
    outcomes = []
    trainers: dict[str, Any] = {}
    for index, run in enumerate(runs, start=1):
        if RunDir(results, spec.name, run.run_id).is_complete():
            reporter.run_skipped(index, len(runs), run.run_id, label(run))
            outcomes.append(RunOutcome(run.run_id, "skipped"))
            continue
        reporter.run_started(index, len(runs), run.run_id, label(run))
        outcomes.append(execute_run(spec, run, results, provenance, reporter, trainers=trainers))
    return outcomes
