"""The package's layers (README, "Architecture"): every module of ``harness/`` imports only
modules of lower layers or of its own unit, no import circle exists, and no file is too long.

Imports are read from the source with ``ast``, so imports inside functions and under
``TYPE_CHECKING`` count as much as those at the top of a module.
"""

from __future__ import annotations

import ast
import contextlib
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Top to bottom. A unit is a module or a package (with all its submodules); a module may import
#: its own unit and the units of lower layers only, never a unit of its own layer or above.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("harness.cli",),  # parse and print
    (
        "harness.launch",
        "harness.slurm",
        "harness.report",
        "harness.bench",
        "harness.doctor",
        "harness.render",  # videos of recorded episodes (replays the final policy)
    ),
    ("harness.runner", "harness.status"),  # run one run; the status of a run
    ("harness.records",),  # a run folder's record: rebuilt, version conflicts, abandoned runs
    ("harness.tracking",),  # TensorBoard and W&B loggers of a run
    ("harness.plan",),  # spec -> runs, run ids, step counts
    ("harness.offline",),  # offline training (reuses train's loop pieces and evaluator)
    ("harness.train",),  # online training
    ("harness.driver",),  # the one host loop of every trainer (resume, evaluations, checkpoints)
    ("harness.diagnostics",),  # depth diagnostics on one minibatch (called by both trainers)
    ("harness.behaviour",),  # behaviour metrics and recorded episodes (called by both trainers)
    ("harness.datasets",),  # dataset files (exports a replay's trajectories)
    ("harness.agents", "harness.replay", "harness.seeds"),  # learning; sampling; seed groups
    ("harness.networks", "harness.batches"),  # residual networks; minibatch types
    ("harness.spec",),  # the spec format
    ("harness.blocks", "harness.algos"),  # the registries of residual blocks and of agents
    ("envs",),  # the environments (a library of its own)
    ("harness.checkpoint",),  # orbax checkpoints; a failed write is a harness.store WriteError
    (
        "harness",
        "harness.store",
        "harness.lock",
        "harness.pins",
        "harness.progress",
        "harness.data",
        "harness.watchdog",
        "harness.interrupt",
        "harness.slurm_limits",
    ),
)
#: Most lines a file of harness/ may hold.
MAX_LINES = 700
#: Most lines of code a function of harness/ may hold, its docstring left out (issue 26).
MAX_FUNCTION_LINES = 100


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    """Module name -> file, for every module of harness/ and envs/."""
    files = sorted((ROOT / "harness").rglob("*.py")) + sorted((ROOT / "envs").rglob("*.py"))
    return {_module_name(p): p for p in files}


def _unit(module: str) -> str | None:
    """The unit of a module: ``envs`` for all of envs/, else the longest unit that is the
    module or a package above it (the root package ``harness`` holds only itself)."""
    if module == "envs" or module.startswith("envs."):
        return "envs"
    units = [u for layer in LAYERS for u in layer]
    matches = [u for u in units if module == u or (u != "harness" and module.startswith(u + "."))]
    return max(matches, key=len) if matches else None


def _layer(unit: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if unit in layer)


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    """Modules of harness/ and envs/ that ``module`` imports anywhere in its source.

    ``from a.b import c`` counts as importing ``a.b.c`` when that is a module, else ``a.b``;
    relative imports are resolved against the module's package.
    """
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else base)
    ours = {m for m in found if m.split(".")[0] in ("harness", "envs")}
    # `import a.b.c` also binds a and a.b, but only a.b.c is what the module asked for.
    return {m for m in ours if m != module}


def _graph() -> dict[str, set[str]]:
    sources = _sources()
    known = set(sources)
    return {m: _imports(m, p, known) for m, p in sources.items()}


def test_every_module_has_a_layer() -> None:
    missing = sorted(m for m in _sources() if _unit(m) is None)
    assert not missing, f"modules in no layer of LAYERS (add them): {missing}"


def test_no_module_imports_its_own_layer_or_above() -> None:
    graph = _graph()
    problems = []
    for module, targets in sorted(graph.items()):
        src = _unit(module)
        assert src is not None
        for target in sorted(targets):
            dst = _unit(target)
            if dst is None:
                problems.append(f"{module} imports {target}, which is in no layer")
            elif dst != src and _layer(dst) <= _layer(src):
                where = "the same layer" if _layer(dst) == _layer(src) else "a higher layer"
                problems.append(f"{module} imports {target} ({dst}: {where} than {src})")
    assert not problems, "\n".join(problems)


def test_no_import_circles() -> None:
    """No module reaches itself through imports (envs/ counts as one module)."""
    graph: dict[str, set[str]] = {}
    for module, targets in _graph().items():
        node = "envs" if _unit(module) == "envs" else module
        edges = {"envs" if _unit(t) == "envs" else t for t in targets} - {node}
        graph.setdefault(node, set()).update(edges)
    # Tarjan's strongly connected components, iteratively.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    circles.append(sorted(component))
    assert not circles, f"import circles: {circles}"


def test_the_checks_see_imports_inside_functions(tmp_path: Path) -> None:
    """The parser finds lazy, relative and TYPE_CHECKING imports (what the checks rely on)."""
    pkg = tmp_path / "harness" / "report"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "stats.py").write_text("")
    source = pkg / "runs.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "from . import stats\n"
        "if TYPE_CHECKING:\n    from harness.spec import RunConfig\n"
        "def f():\n    import harness.cli\n    from harness import plan\n    import envs.maze\n"
    )
    known = {"harness.report", "harness.report.stats", "harness.report.runs", "harness.plan"}
    found = _imports("harness.report.runs", source, known)
    assert found == {
        "harness.report.stats",
        "harness.spec",
        "harness.cli",
        "harness.plan",
        "envs.maze",
    }


def test_no_file_of_harness_is_too_long() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in sorted((ROOT / "harness").rglob("*.py"))
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"files over {MAX_LINES} lines: {long}"


def _code_lines(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of a function from its first statement after the docstring to its end."""
    first = fn.body[0]
    docstring = (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    )
    start = first.end_lineno + 1 if docstring and first.end_lineno else first.lineno
    return (fn.end_lineno or fn.lineno) - start + 1


def test_no_function_of_harness_is_too_long() -> None:
    """The host loop and everything else is split into functions a reader can hold."""
    long = {}
    for path in sorted((ROOT / "harness").rglob("*.py")):
        functions = [
            node
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        ]
        for fn in functions:
            if (n := _code_lines(fn)) > MAX_FUNCTION_LINES:
                long[f"{path.relative_to(ROOT)}:{fn.lineno} {fn.name}"] = n
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines of code: {long}"


def test_readme_architecture_names_every_unit() -> None:
    """The README's architecture section draws the layers of :data:`LAYERS`."""
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"^## Architecture\n(.*?)(?=^## )", readme, re.S | re.M)
    assert match, "README.md has no '## Architecture' section"
    section = match.group(1)
    absent = [u for layer in LAYERS for u in layer if u not in ("harness",) and u not in section]
    assert not absent, f"units missing from README's architecture section: {absent}"


def test_ogbench_table_matches_ogbench() -> None:
    """The spec validates dataset names against a table (no ogbench import); it must list the
    state-based goal-conditioned envs that the installed ogbench registers."""
    gymnasium = pytest.importorskip("gymnasium")
    with contextlib.redirect_stdout(sys.stderr):
        pytest.importorskip("ogbench")
    from harness.spec.ogbench import OGBENCH_ENVS

    registered = {
        name
        for name, entry in gymnasium.registry.items()
        if str(entry.entry_point).startswith("ogbench")
        and not {"visual", "singletask", "oraclerep"} & set(name.split("-"))
        and not name.startswith("powderworld")
    }
    assert registered == OGBENCH_ENVS
