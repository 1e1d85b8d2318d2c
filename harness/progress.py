"""The one layer that prints: progress lines during runs and the summary table after.

Lower layers call a :class:`Reporter`; :class:`NullReporter` prints nothing (tests, Slurm
workers use :class:`ConsoleReporter` writing to their log).
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from rich.console import Console
from rich.table import Table
from rich.text import Text


class Reporter(Protocol):
    """What :mod:`harness.launch` reports to."""

    def run_started(self, index: int, total: int, run_id: str, label: str) -> None: ...
    def run_skipped(self, index: int, total: int, run_id: str, label: str) -> None: ...
    def run_resumed(self, run_id: str, env_steps: int) -> None: ...
    def progress(self, run_id: str, info: dict[str, Any]) -> None: ...
    def evaluation(self, run_id: str, point: dict[str, Any]) -> None: ...
    def run_finished(self, run_id: str, status: str, detail: str) -> None: ...
    def note(self, run_id: str, message: str) -> None: ...


class NullReporter:
    """Reports nothing."""

    def run_started(self, index: int, total: int, run_id: str, label: str) -> None:
        pass

    def run_skipped(self, index: int, total: int, run_id: str, label: str) -> None:
        pass

    def run_resumed(self, run_id: str, env_steps: int) -> None:
        pass

    def progress(self, run_id: str, info: dict[str, Any]) -> None:
        pass

    def evaluation(self, run_id: str, point: dict[str, Any]) -> None:
        pass

    def run_finished(self, run_id: str, status: str, detail: str) -> None:
        pass

    def note(self, run_id: str, message: str) -> None:
        pass


def _si(value: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.2f}{unit}"
    return f"{value:.0f}"


class ConsoleReporter:
    """Prints a line per evaluation and, at most every ``interval_s``, a progress line.

    Lines show env steps (done / total), env steps per second, and the latest evaluation
    (time at goal out of the episode length, success rate).
    """

    def __init__(self, console: Console | None = None, interval_s: float = 15.0) -> None:
        self.console = console or Console(stderr=True, highlight=False)
        self.interval_s = interval_s
        self._last_print = 0.0
        self._latest: dict[str, str] = {}

    def run_started(self, index: int, total: int, run_id: str, label: str) -> None:
        self.console.print(f"[bold]run {index}/{total}[/bold] {run_id}  {label}")
        self._last_print = time.monotonic()

    def run_skipped(self, index: int, total: int, run_id: str, label: str) -> None:
        self.console.print(f"run {index}/{total} {run_id}  {label}  [dim]complete, skipped[/dim]")

    def run_resumed(self, run_id: str, env_steps: int) -> None:
        self.console.print(f"  {run_id} resumed from its checkpoint at {_si(env_steps)} env steps")

    def progress(self, run_id: str, info: dict[str, Any]) -> None:
        now = time.monotonic()
        if now - self._last_print < self.interval_s:
            return
        self._last_print = now
        if "total_grad_steps" in info:  # offline: progress in gradient steps
            pct = 100.0 * info["grad_steps"] / max(info["total_grad_steps"], 1)
            self.console.print(
                f"  {run_id} grad_steps {_si(info['grad_steps'])}/"
                f"{_si(info['total_grad_steps'])} ({pct:.0f}%)  {info['sps']:.1f} grad steps/s  "
                f"{self._latest.get(run_id, '')}"
            )
            return
        pct = 100.0 * info["env_steps"] / max(info["total_env_steps"], 1)
        self.console.print(
            f"  {run_id} env_steps {_si(info['env_steps'])}/{_si(info['total_env_steps'])} "
            f"({pct:.0f}%)  {_si(info['sps'])} steps/s  {self._latest.get(run_id, '')}"
        )

    def evaluation(self, run_id: str, point: dict[str, Any]) -> None:
        m = point["metrics"]
        latest = (
            f"time_at_goal {m.get('eval/time_at_goal', float('nan')):.1f}  "
            f"success {m.get('eval/success_any', float('nan')):.2f}"
        )
        if "eval/success" in m:  # OGBench evaluation (offline): success over 5 tasks
            tasks = " ".join(f"{m[k]:.2f}" for k in sorted(m) if k.startswith("eval/success_task"))
            latest = f"success {m['eval/success']:.2f} (tasks {tasks})"
        self._latest[run_id] = "last eval: " + latest
        extra = ""
        if "random/time_at_goal" in m:
            extra = f"  (random policy: time_at_goal {m['random/time_at_goal']:.1f})"
        elif "random/success" in m:
            extra = f"  (random policy: success {m['random/success']:.2f})"
        if "perf/sps" in m:
            extra += f"  {_si(m['perf/sps'])} steps/s"
        self.console.print(
            f"  {run_id} eval @ {_si(point['env_steps'])} env steps, "
            f"{_si(point['grad_steps'])} grad steps, {point['wall_s']:.0f}s: {latest}{extra}"
        )
        self._last_print = time.monotonic()

    def run_finished(self, run_id: str, status: str, detail: str) -> None:
        style = "green" if status == "completed" else "red"
        self.console.print(f"  {run_id} [{style}]{status}[/{style}] {detail}")

    def note(self, run_id: str, message: str) -> None:
        """A line about a run that is neither progress nor its end (a skip, a file set aside)."""
        self.console.print(f"  {message}", markup=False)


#: Above this many rows a table is printed as plain text: rich lays out 10,000 rows in 10 s.
PLAIN_ROWS = 500


def print_table(
    console: Console, title: str, headers: list[str], cells: list[list[str]], left: set[str]
) -> None:
    """Print a table of strings: a rich table, or aligned plain text above :data:`PLAIN_ROWS`
    rows. Columns named in ``left`` are left-aligned, the others right-aligned."""
    if len(cells) > PLAIN_ROWS:
        widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]
        lines = [
            "  ".join(
                c.ljust(w) if h in left else c.rjust(w)
                for c, w, h in zip(row, widths, headers, strict=True)
            ).rstrip()
            for row in [headers, *cells]
        ]
        print("\n".join([title, *lines]))
        return
    table = Table(title=title)
    for header in headers:
        table.add_column(header, justify="left" if header in left else "right")
    for row in cells:
        table.add_row(*row)
    console.print(table)


def summary_table(
    rows: list[dict[str, Any]], title: str = "Summary", latest: bool = False
) -> Table:
    """A rich table of run summaries (see :func:`harness.launch.summarize`); the unreadable
    files of ``broken`` runs are named below it. ``latest`` adds the time at goal of each
    run's latest evaluation (``harness status --watch``)."""
    broken = [f"{r['run_id']} broken: {r['error']}" for r in rows if r.get("status") == "broken"]
    caption = Text("\n".join(broken)) if broken else None
    table = Table(title=title, caption=caption, caption_justify="left")
    columns = [
        ("run_id", "run_id"),
        ("env", "env_id"),
        ("critic", "critic_depth"),
        ("actor", "actor_depth"),
        ("width", "width"),
        ("batch", "batch_size"),
        ("seed", "seed"),
        ("status", "status"),
        ("env steps", "env_steps"),
        ("time_at_goal", "time_at_goal"),
        *([("latest", "last_time_at_goal")] if latest else []),
        ("success", "success_any"),
        ("random", "random_time_at_goal"),
        ("wall s", "wall_s"),
        ("slurm job", "slurm_job_id"),
        ("resumes", "resumes"),
    ]
    for header, _ in columns:
        table.add_column(
            header,
            justify="left" if header in ("run_id", "env", "status", "slurm job") else "right",
        )
    for row in rows:
        cells = []
        for _, key in columns:
            value = row.get(key)
            if value is None:
                cells.append("-")
            elif isinstance(value, float):
                cells.append(f"{value:.2f}" if key == "success_any" else f"{value:.1f}")
            elif key == "env_steps" and isinstance(value, int):
                cells.append(_si(value))
            else:
                cells.append(str(value))
        table.add_row(*cells)
    return table
