"""What a Slurm cluster allows, from ``sinfo``, and which spec field an ``sbatch`` refusal is about.

:func:`check_request` compares what a spec asks per job (``hardware.gpus``, ``cpus``,
``mem_gb``, ``time_min``, ``partition``, ``constraint``) with the partition's nodes as
``sinfo`` lists them, before anything is submitted; :func:`explain_sbatch_error` turns the
error ``sbatch`` prints (through submitit) into ``(field, cause)``, for a one-line message that
names the field to change. A leaf module: plain values in, plain values out; it runs
``sinfo`` only.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

#: sbatch's words -> the spec field to change (first match wins; case-insensitive).
SBATCH_ERRORS: tuple[tuple[str, str], ...] = (
    ("generic resource", "hardware.gpus"),
    ("gres", "hardware.gpus"),
    ("partition", "hardware.partition"),
    ("time limit", "hardware.time_min"),
    ("invalid account", "hardware.account"),
    ("account", "hardware.account"),
    ("qos", "hardware.qos"),
    ("feature", "hardware.constraint"),
    ("memory", "hardware.mem_gb"),
    ("processors", "hardware.cpus"),
    ("cpu", "hardware.cpus"),
    ("reservation", "hardware.sbatch_extra"),
    ("node configuration is not available", "hardware.cpus, hardware.mem_gb or hardware.gpus"),
)


def explain_sbatch_error(text: str) -> tuple[str, str]:
    """``(field, cause)`` of an ``sbatch`` refusal: the spec field it is about (or
    ``hardware``) and its last meaningful line without the ``sbatch: error:`` prefix."""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    causes = [
        re.sub(r"^(sbatch: )?(error: )?(batch job submission failed: )?", "", ln, flags=re.I)
        for ln in lines
    ]
    causes = [c for c in causes if c] or ["sbatch failed"]
    joined = " ".join(causes).lower()
    field = next((f for words, f in SBATCH_ERRORS if words in joined), "hardware")
    # The most specific line: the one that names the field's words, else the last.
    words = [w for w, f in SBATCH_ERRORS if f == field and w in joined]
    cause = next((c for c in causes if words and words[0] in c.lower()), causes[-1])
    return field, cause


@dataclass(frozen=True)
class Nodes:
    """One line of ``sinfo``: nodes of a partition with one configuration."""

    partition: str
    default: bool
    time_limit_min: float | None  # None: infinite
    cpus: int
    mem_mb: int
    gpus: int
    features: frozenset[str]


def parse_time_min(text: str) -> float | None:
    """Slurm's time limit (``infinite``, ``D-HH:MM:SS``, ``HH:MM:SS``, ``MM:SS``, ``MM``) in
    minutes; None for infinite.

    Raises:
        ValueError: for anything else.
    """
    text = text.strip()
    if text.lower() in ("infinite", "unlimited", "n/a"):
        return None
    days, _, rest = text.rpartition("-")
    parts = [float(p) for p in rest.split(":")]
    if len(parts) == 1:
        hours, minutes, seconds = 0.0, parts[0], 0.0
    elif len(parts) == 2:
        hours, minutes, seconds = 0.0, parts[0], parts[1]
    elif len(parts) == 3:
        hours, minutes, seconds = parts
    else:
        raise ValueError(f"not a Slurm time: {text!r}")
    return (float(days or 0) * 24 + hours) * 60 + minutes + seconds / 60


def _gpus(gres: str) -> int:
    """GPUs per node in sinfo's GRES column (``gpu:4``, ``gpu:a100:4(S:0-1)``, ``(null)``)."""
    total = 0
    for item in gres.split(","):
        fields = re.sub(r"\(.*?\)", "", item).split(":")
        if fields[0] == "gpu" and len(fields) >= 2 and fields[-1].isdigit():
            total += int(fields[-1])
    return total


def read_nodes(timeout_s: float = 30.0) -> list[Nodes] | None:
    """Every partition's node configurations from ``sinfo``, or None when no Slurm answers
    (no ``sinfo`` on PATH, an error, a timeout)."""
    if shutil.which("sinfo") is None:
        return None
    try:
        done = subprocess.run(
            ["sinfo", "-h", "-o", "%P|%l|%c|%m|%G|%f"],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    nodes = []
    for line in done.stdout.splitlines():
        fields = line.strip().split("|")
        if len(fields) != 6:
            continue
        name, limit, cpus, mem, gres, features = fields
        try:
            nodes.append(
                Nodes(
                    partition=name.rstrip("*"),
                    default=name.endswith("*"),
                    time_limit_min=parse_time_min(limit),
                    cpus=int(cpus.rstrip("+")),
                    mem_mb=int(mem.rstrip("+")),
                    gpus=_gpus(gres),
                    features=frozenset(f for f in features.split(",") if f and f != "(null)"),
                )
            )
        except ValueError:
            continue
    return nodes


def check_request(
    nodes: list[Nodes],
    partition: str | None,
    gpus: int,
    cpus: int,
    mem_gb: float,
    time_min: float,
    constraint: str | None,
) -> list[tuple[str, str]]:
    """What a job of this size cannot get on the partition, as ``(field, problem)`` pairs
    (empty when some node of the partition fits every part of it).

    Args:
        nodes: :func:`read_nodes`.
        partition: the partition asked for; None = the cluster's default one.
    """
    names = sorted({n.partition for n in nodes})
    if partition is None:
        default = [n.partition for n in nodes if n.default]
        if not default:
            return []  # no default partition: sbatch says what it wants
        partition = default[0]
    mine = [n for n in nodes if n.partition == partition]
    if not mine:
        return [
            ("hardware.partition", f"no partition {partition!r} (sinfo lists {', '.join(names)})")
        ]
    problems = []
    where = f"partition {partition}"
    most_gpus = max(n.gpus for n in mine)
    if gpus > most_gpus:
        has = f"at most {most_gpus} GPUs per node" if most_gpus else "no GPUs (no gpu GRES)"
        problems.append(
            (
                "hardware.gpus",
                f"{gpus} GPUs asked but {where} has {has}; set hardware.gpus: "
                f"{most_gpus} or pick a partition with GPUs (hardware.partition)",
            )
        )
    most_cpus = max(n.cpus for n in mine)
    if cpus > most_cpus:
        problems.append(
            ("hardware.cpus", f"{cpus} CPUs asked but {where} has at most {most_cpus} per node")
        )
    most_mem = max(n.mem_mb for n in mine)
    if mem_gb * 1024 > most_mem:
        problems.append(
            (
                "hardware.mem_gb",
                f"{mem_gb:g} GB asked but {where} has at most {most_mem / 1024:.1f} GB per node",
            )
        )
    limits = [n.time_limit_min for n in mine]
    if None not in limits:
        longest = max(limit for limit in limits if limit is not None)
        if time_min > longest:
            problems.append(
                (
                    "hardware.time_min",
                    f"{time_min:g} min asked but {where} allows at most {longest:g} min per job",
                )
            )
    simple = constraint is not None and re.fullmatch(r"[\w.-]+", constraint) is not None
    if constraint and simple and not any(constraint in n.features for n in mine):
        known = sorted({f for n in mine for f in n.features}) or ["none"]
        problems.append(
            (
                "hardware.constraint",
                f"no node of {where} has the feature {constraint!r} (features: {', '.join(known)})",
            )
        )
    return problems
