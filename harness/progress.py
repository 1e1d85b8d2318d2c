"""The one layer that prints: progress lines during runs and the summary table after.

Lower layers call a :class:`Reporter`; :class:`NullReporter` prints nothing (tests, Slurm
workers use :class:`ConsoleReporter` writing to their log).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from rich.console import Console
from rich.table import Table


class Reporter(Protocol):
    """What :mod:`harness.launch` reports to."""

    def run_started(self, index: int, total: int, run_id: str, label: str) -> None: ...
    def run_skipped(self, index: int, total: int, run_id: str, label: str) -> None: ...
    def run_resumed(self, run_id: str, env_steps: int) -> None: ...
    def progress(self, run_id: str, info: dict[str, Any]) -> None: ...
    def evaluation(self, run_id: str, point: dict[str, Any]) -> None: ...
    def run_finished(self, run_id: str, status: str, detail: str) -> None: ...
    def note(self, run_id: str, message: str) -> None: ...
    def phase(self, run_id: str, name: str) -> None: ...


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

    def phase(self, run_id: str, name: str) -> None:
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
        self._startup: dict[str, _Startup] = {}

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
        startup = self._startup.get(run_id)
        if startup is not None and not startup.done:  # the start-up lines say where it is
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

    def phase(self, run_id: str, name: str) -> None:
        """Start-up progress: a line for each phase before training runs at speed (building
        the envs, the prefill, the first evaluation and update, which compile), then one line
        with the start-up's length and each phase's seconds once the first uncompiled training
        step begins. Later phases (evaluations, checkpoints) print nothing here."""
        now = time.monotonic()
        state = self._startup.setdefault(run_id, _Startup(now))
        if state.done:
            return
        if state.current is not None:
            state.times.append((state.current, now - state.since))
        state.current, state.since = name, now
        if name.startswith(("training iteration", "gradient steps")) and "(compiles" not in name:
            state.done = True
            parts = [
                f"{_short(phase)} {seconds:.0f} s"
                for phase, seconds in state.times
                if seconds >= 0.5
            ]
            detail = f" ({', '.join(parts)})" if parts else ""
            self.console.print(
                f"  {run_id} start-up (compilation included) took {now - state.start:.0f} s"
                f"{detail}; training",
                markup=False,
            )
        elif name in ("checkpoint", "restoring the checkpoint"):
            return  # quick, or said by run_resumed
        else:
            self.console.print(f"  {run_id} {_describe(name)} ...", markup=False)
        self._last_print = time.monotonic()


@dataclass
class _Startup:
    """A run's start-up as :meth:`ConsoleReporter.phase` follows it."""

    start: float
    current: str | None = None
    since: float = 0.0
    times: list[tuple[str, float]] = field(default_factory=list)
    done: bool = False


def _describe(phase: str) -> str:
    """A phase name (:class:`harness.train.Callbacks`) as a progress line says it."""
    if phase.startswith("init and prefill with"):
        return "prefilling the replay with" + phase[len("init and prefill with") :]
    if phase.startswith("evaluation (compiles"):
        return "first evaluation (compiles the evaluation; the random policy's too)"
    if phase.startswith(("training iteration", "gradient steps")):
        what = "training iteration" if phase.startswith("training") else "gradient steps"
        return f"first {what} (compiles the update)"
    return phase


def _short(phase: str) -> str:
    """A phase's name in the start-up summary: ``prefill``, ``first evaluation``, ..."""
    for prefix, short in (
        ("building", "building"),
        ("init and prefill", "prefill"),
        ("restoring", "checkpoint lookup"),
        ("evaluation", "first evaluation"),
        ("checkpoint", "checkpoint"),
        ("training iteration", "first iteration"),
        ("gradient steps", "first update"),
    ):
        if phase.startswith(prefix):
            return short
    return phase


#: Above this many rows a table is printed as plain text: rich lays out 10,000 rows in 10 s.
PLAIN_ROWS = 500
#: Width of tables written to a file or a pipe (no terminal to fit; ``$COLUMNS`` overrides).
FILE_WIDTH = 160


def output_width(stream: Any) -> int:
    """Columns available to tables printed to ``stream``: the terminal's width when it is a
    terminal (``$COLUMNS`` first, as :func:`shutil.get_terminal_size`), else ``$COLUMNS`` or
    :data:`FILE_WIDTH` (a file or a pipe gets every column)."""
    import os
    import shutil

    try:
        tty = bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed or odd stream
        tty = False
    if tty:
        return max(shutil.get_terminal_size((FILE_WIDTH, 24)).columns, 20)
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) >= 20 else FILE_WIDTH


def _table_width(headers: list[str], cells: list[list[str]], wrap: set[str]) -> int:
    """Characters a rich table of these cells needs: each column's widest cell (wrapped columns
    count at most 24) plus 3 per column (padding and rule) and 1 for the last rule."""
    total = 1
    for i, header in enumerate(headers):
        widest = max([len(header), *(len(line) for row in cells for line in row[i].splitlines())])
        total += (min(widest, 24) if header in wrap else widest) + 3
    return total


def fitted_table(
    title: str,
    headers: list[str],
    cells: list[list[str]],
    width: int,
    left: set[str] = frozenset(),  # type: ignore[assignment]
    drop: list[str] = (),  # type: ignore[assignment]
    caption: str | None = None,
    wrap: set[str] = frozenset(),  # type: ignore[assignment]
) -> Table:
    """A rich table of strings that fits ``width`` columns where it can.

    When the full table is wider, columns named in ``drop`` are left out until it fits: first
    those with one value in every row (that value is then named in the caption, ``critic 4``),
    then the others in ``drop`` order (named in the caption as not shown). Columns not in
    ``wrap`` never wrap or shorten (ids and names stay whole); those in ``wrap`` wrap.

    Args:
        headers: column names; cells: rows of strings, one per header.
        width: the console's width in characters (:func:`output_width`).
        left: columns aligned left (the others align right).
        drop: columns that may be left out, most expendable first.
        caption: a line under the table (before the notes on left-out columns).
    """
    keep = list(range(len(headers)))
    uniform = [h for h in drop if h in headers and len({r[headers.index(h)] for r in cells}) <= 1]
    order = uniform + [h for h in drop if h in headers and h not in uniform]
    shown_cells = cells
    dropped: list[str] = []
    for name in order:
        heads = [headers[i] for i in keep]
        shown_cells = [[row[i] for i in keep] for row in cells]
        if _table_width(heads, shown_cells, set(wrap)) <= width:
            break
        keep.remove(headers.index(name))
        dropped.append(name)
    notes = [caption] if caption else []
    same = [
        f"{h} {cells[0][headers.index(h)]}"
        for h in dropped
        if h in uniform and cells and cells[0][headers.index(h)] != "-"
    ]
    if same:
        notes.append("every row: " + ", ".join(same))
    hidden = [h for h in dropped if h not in uniform or not cells]
    if hidden:
        notes.append(f"not shown at {width} columns: {', '.join(hidden)}")
    table = Table(
        title=title, caption="\n".join(notes) or None, caption_justify="left", title_justify="left"
    )
    for i in keep:
        header = headers[i]
        table.add_column(
            header,
            justify="left" if header in left else "right",
            no_wrap=header not in wrap,
            overflow="fold" if header in wrap else "ellipsis",
        )
    for row in cells:
        table.add_row(*(row[i] for i in keep))
    return table


def print_table(
    console: Console,
    title: str,
    headers: list[str],
    cells: list[list[str]],
    left: set[str],
    drop: list[str] = (),  # type: ignore[assignment]
) -> None:
    """Print a table of strings: a rich table fitted to the console (:func:`fitted_table`), or
    aligned plain text above :data:`PLAIN_ROWS` rows. Columns named in ``left`` are
    left-aligned, the others right-aligned; those in ``drop`` may be left out to fit."""
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
    console.print(fitted_table(title, headers, cells, console.width, left, drop))


#: Columns of the status table: header, key of the :func:`harness.status.summarize` row.
_SUMMARY_COLUMNS = (
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
    ("latest", "last_time_at_goal"),
    ("success", "success_any"),
    ("random", "random_time_at_goal"),
    ("wall s", "wall_s"),
    ("slurm job", "slurm_job_id"),
    ("resumes", "resumes"),
)
#: Status-table columns left out first on a narrow terminal (:func:`fitted_table`).
_SUMMARY_DROP = [
    "slurm job",
    "resumes",
    "random",
    "batch",
    "width",
    "actor",
    "wall s",
    "env",
    "seed",
    "critic",
    "latest",
    "env steps",
]


def summary_table(
    rows: list[dict[str, Any]],
    title: str = "Summary",
    latest: bool = False,
    width: int = FILE_WIDTH,
    last_k: set[int] | None = None,
) -> Table:
    """A rich table of run summaries (see :func:`harness.status.summarize`), fitted to
    ``width`` columns (:func:`fitted_table`); the unreadable files of ``broken`` runs are named
    below it. ``latest`` adds the time at goal of each run's latest evaluation (``harness
    status --watch``). ``last_k``: the spec's ``eval.last_k`` values, named in the caption
    (time_at_goal and success are the mean of the last K evaluations)."""
    columns = [c for c in _SUMMARY_COLUMNS if latest or c[1] != "last_time_at_goal"]
    cells = []
    for row in rows:
        line = []
        for _, key in columns:
            value = row.get(key)
            if value is None:
                line.append("-")
            elif isinstance(value, float):
                line.append(f"{value:.2f}" if key == "success_any" else f"{value:.1f}")
            elif key == "env_steps" and isinstance(value, int):
                line.append(_si(value))
            else:
                line.append(str(value))
        cells.append(line)
    notes = []
    if last_k:
        k = "/".join(str(v) for v in sorted(last_k))
        notes.append(f"time_at_goal, success: mean of the last {k} evaluations (eval.last_k)")
    notes += [f"{r['run_id']} broken: {r['error']}" for r in rows if r.get("status") == "broken"]
    headers = [h for h, _ in columns]
    return fitted_table(
        title,
        headers,
        cells,
        width,
        left={"run_id", "env", "status", "slurm job"},
        drop=_SUMMARY_DROP,
        caption="\n".join(notes) or None,
    )


@dataclass
class Callbacks:
    """Hooks called by the host loop (:func:`harness.driver.drive`; all optional).

    ``on_eval(point)`` receives a dict with ``iteration``, ``env_steps``, ``grad_steps``,
    ``wall_s`` and ``metrics`` (a flat ``name -> float`` dict, names namespaced ``eval/``,
    ``train/``, ``perf/``, ``random/``, ``diag/``: :mod:`harness.diagnostics`).
    ``on_progress(info)`` receives ``env_steps``, ``total_env_steps``, ``sps`` after every
    iteration. ``on_resume(info)`` is called once when
    training continues from a checkpoint, with its ``iteration``, ``env_steps`` and ``wall_s``
    (training seconds before it): evaluations after that point will be made again, so rows
    recorded past it must be dropped.
    ``on_checkpoint(info)`` is called after each checkpoint is written. ``on_phase(name)`` is
    called when training enters a phase ("init and prefill", "training iteration 12",
    "evaluation", "checkpoint", ...): the heartbeat of :class:`harness.watchdog.Watchdog`.
    """

    on_eval: Callable[[dict[str, Any]], None] | None = None
    on_progress: Callable[[dict[str, Any]], None] | None = None
    on_resume: Callable[[dict[str, Any]], None] | None = None
    on_checkpoint: Callable[[dict[str, Any]], None] | None = None
    on_phase: Callable[[str], None] | None = None

    def phase(self, name: str) -> None:
        """Say that training enters phase ``name`` (calls ``on_phase`` when set)."""
        if self.on_phase is not None:
            self.on_phase(name)
