"""OGBench's dataset names, as facts the spec validates against.

A table of the env names that ``ogbench`` (1.2; Park et al. 2024, arXiv 2410.20092) registers
with gymnasium, instead of ogbench's registry itself: validating a spec loads neither ogbench nor
gymnasium, and the spec layer does not depend on the data-loading layer (:mod:`harness.datasets`,
which re-exports these names). ``tests/test_layers.py`` checks the table against the installed
ogbench.
"""

from __future__ import annotations

import re

#: OGBench's state-based goal-conditioned envs (the ones this harness trains on). Its visual,
#: single-task and powderworld envs are left out: their datasets are refused before this table
#: is read.
OGBENCH_ENVS = frozenset(
    {
        "antmaze-giant-v0",
        "antmaze-large-v0",
        "antmaze-medium-v0",
        "antmaze-teleport-v0",
        "antsoccer-arena-v0",
        "antsoccer-medium-v0",
        "cube-double-v0",
        "cube-octuple-v0",
        "cube-quadruple-v0",
        "cube-single-v0",
        "cube-triple-v0",
        "humanoidmaze-giant-v0",
        "humanoidmaze-large-v0",
        "humanoidmaze-medium-v0",
        "humanoidmaze-teleport-v0",
        "pointmaze-giant-v0",
        "pointmaze-large-v0",
        "pointmaze-medium-v0",
        "pointmaze-teleport-v0",
        "puzzle-3x3-v0",
        "puzzle-4x4-v0",
        "puzzle-4x5-v0",
        "puzzle-4x6-v0",
        "scene-v0",
    }
)


class DatasetError(Exception):
    """Bad dataset input: an unsupported name, a missing file, a run that kept no data."""


def ogbench_env_name(dataset: str) -> str:
    """The OGBench env of a dataset name, by OGBench's rule (drop the dataset type).

    ``antmaze-large-navigate-v0`` -> ``antmaze-large-v0`` (``ogbench.make_env_and_datasets``).

    Raises:
        DatasetError: the name does not parse, names a pixel, single-task or discrete-action
            dataset (not supported here), or its env is not one of OGBench's
            (:data:`OGBENCH_ENVS`).
    """
    parts = dataset.split("-")
    if len(parts) < 3 or not re.fullmatch(r"v\d+", parts[-1]):
        raise DatasetError(
            f"{dataset!r} is not an OGBench dataset name (<env>-<type>-v<N>, e.g. "
            "pointmaze-medium-navigate-v0)"
        )
    unsupported = {"visual", "singletask", "oraclerep"} & set(parts) or (
        {"powderworld"} if parts[0] == "powderworld" else set()
    )
    if unsupported:
        raise DatasetError(
            f"{dataset!r}: {', '.join(sorted(unsupported))} datasets are not supported "
            "(state-based goal-conditioned datasets only)"
        )
    env_name = "-".join(parts[:-2] + parts[-1:])
    if env_name not in OGBENCH_ENVS:
        raise DatasetError(f"{dataset!r}: ogbench has no env {env_name!r}")
    return env_name
