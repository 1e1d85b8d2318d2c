"""Reading spec files: YAML, ``--set`` overrides, validation of every sweep point and run config,
and errors as ``FILE: field.path: message`` lines (:class:`SpecError`, never a raw pydantic or
YAML error); the JSON Schema of the format."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from harness.spec.config import (
    _SWEEPABLE,
    MAX_RUNS,
    RunConfig,
    Spec,
    set_path,
    sweep_assign,
    sweep_paths,
)


class SpecError(Exception):
    """Invalid spec input. ``problems`` holds one ``FILE: field.path: message`` line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def format_errors(source: str, error: ValidationError, prefix: str = "") -> list[str]:
    """Turn a pydantic error into ``FILE: field.path: message`` lines."""
    lines = []
    for item in error.errors():
        loc = ".".join(str(part) for part in item["loc"] if part not in ("",))
        loc = f"{prefix}{loc}" if loc else (prefix.rstrip(".") or "(top level)")
        message = item["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        lines.append(f"{source}: {loc}: {message}")
    return lines


def parse_overrides(overrides: Iterable[str], source: str = "--set") -> dict[str, Any]:
    """Parse ``field.path=value`` strings (values read as YAML scalars) into a dict.

    Raises:
        SpecError: an override without ``=`` or with an empty path.
    """
    parsed: dict[str, Any] = {}
    problems = []
    for item in overrides:
        path, sep, raw = item.partition("=")
        path = path.strip()
        if not sep or not path:
            problems.append(f"{source}: {item!r}: expected field.path=value")
            continue
        try:
            parsed[path] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            problems.append(f"{source}: {path}: cannot parse value {raw!r}: {exc}")
    if problems:
        raise SpecError(problems)
    return parsed


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a spec file into a dict.

    Raises:
        SpecError: missing file, unreadable or malformed YAML, an empty file (nothing but
            whitespace and comments, or ``{}``: it would validate as a full-size run with every
            default), or a top level that is not a mapping.
    """
    source = str(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SpecError([f"{source}: cannot read file: {exc.strerror or exc}"]) from None
    if not text.strip():
        raise SpecError([f"{source}: the spec is empty"])
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(yaml)"
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError([f"{source}: {where}: malformed YAML: {problem}"]) from None
    if data is None or data == {}:
        raise SpecError([f"{source}: the spec is empty"])
    if not isinstance(data, dict):
        raise SpecError(
            [f"{source}: (top level): expected a mapping of sections, got {type(data).__name__}"]
        )
    return data


def load_spec(path: str | Path, overrides: Mapping[str, Any] | None = None) -> Spec:
    """Load, override and validate a spec file, including every run its sweep expands into.

    Args:
        path: YAML spec file.
        overrides: dotted ``field.path -> value`` pairs applied on top of the file (``--set``).
            An override of a swept field pins it: the sweep axis is dropped.

    Returns:
        The validated :class:`Spec` with ``name`` filled in from the file stem when empty.

    Raises:
        SpecError: every problem found, each as ``FILE: field.path: message``.
    """
    path = Path(path)
    source = str(path)
    data = read_yaml(path)
    data = apply_overrides(data, overrides or {}, source)
    data.setdefault("name", path.stem)
    if not data.get("name"):
        data["name"] = path.stem
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(format_errors(source, exc)) from None
    _check_size(spec, source)
    problems = _check_sweep_points(spec, source) or _check_grid(spec, source)
    if problems:
        raise SpecError(problems)
    return spec


def apply_overrides(
    data: dict[str, Any], overrides: Mapping[str, Any], source: str
) -> dict[str, Any]:
    """Return a copy of ``data`` with dotted overrides applied (swept paths are pinned)."""
    data = copy.deepcopy(data)
    problems = []
    for dotted, value in overrides.items():
        sweep = data.get("sweep")
        if isinstance(sweep, dict):
            for key in [k for k in sweep if dotted in sweep_paths(str(k))]:
                del sweep[key]
        try:
            set_path(data, dotted, value)
        except ValueError as exc:
            problems.append(f"{source}: --set {dotted}: {exc}")
    if problems:
        raise SpecError(problems)
    return data


def _check_size(spec: Spec, source: str) -> None:
    """Refuse a spec of more than :data:`MAX_RUNS` runs before anything expands its grid."""
    sizes = [len(values) for values in spec.sweep.values()]
    count = math.prod(sizes) * len(spec.seeds)
    if count > MAX_RUNS:
        grid = " x ".join(f"{n:,}" for n in sizes) or "1"
        seeds = f"{len(spec.seeds):,} seed{'s' if len(spec.seeds) > 1 else ''}"
        raise SpecError(
            [
                f"{source}: sweep: {count:,} runs ({grid} sweep points x {seeds}); a spec may "
                f"hold at most {MAX_RUNS:,}: split it into several specs"
            ]
        )


def _check_sweep_points(spec: Spec, source: str) -> list[str]:
    """Validate every value of every sweep axis in the context of the spec."""
    problems: list[str] = []
    base = spec.model_dump(
        mode="json", exclude={"sweep", "seeds", "hardware", "logging", "name", "description"}
    )
    for dotted, values in spec.sweep.items():
        for index, value in enumerate(values):
            data = copy.deepcopy(base)
            sweep_assign(data, dotted, value)
            try:
                RunConfig.model_validate(data)
            except ValidationError as exc:
                for item in exc.errors():
                    message = item["msg"].removeprefix("Value error, ")
                    problems.append(f"{source}: sweep.{dotted}[{index}]: {message}")
    return problems


def _check_grid(spec: Spec, source: str) -> list[str]:
    """Validate every run config of the sweep grid (checks that span sections, such as
    ``algo.name: gcbc`` needing ``data.mode: offline``, hold only for whole run configs)."""
    import itertools

    base = spec.model_dump(mode="json", include=set(_SWEEPABLE))
    axes = list(spec.sweep.items())
    problems: list[str] = []
    for values in itertools.product(*(vals for _, vals in axes)):
        data = copy.deepcopy(base)
        for (dotted, _), value in zip(axes, values, strict=True):
            sweep_assign(data, dotted, value)
        try:
            RunConfig.model_validate(data)
        except ValidationError as exc:
            point = ", ".join(
                f"{dotted}={value!r}" for (dotted, _), value in zip(axes, values, strict=True)
            )
            for item in exc.errors():
                message = item["msg"].removeprefix("Value error, ")
                where = ".".join(str(part) for part in item["loc"]) or "(run config)"
                line = f"{source}: {where}: {message}" + (
                    f" (sweep point {point})" if point else ""
                )
                if line not in problems:
                    problems.append(line)
    return problems


def json_schema() -> dict[str, Any]:
    """JSON Schema of the spec format (``harness schema``)."""
    return Spec.model_json_schema()
