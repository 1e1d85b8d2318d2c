"""What a run computes and what a spec file holds: :class:`RunConfig` (hashed into a run id),
:class:`Spec` (sections, seeds, hardware, sweep axes), and the dotted paths of sweep axes and
overrides."""

from __future__ import annotations

import collections
import json
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from harness import algos
from harness.spec.algo import AlgoSpec
from harness.spec.fields import NonNegativeInt, _Section
from harness.spec.sections import (
    DataSpec,
    EnvSpec,
    EvalSpec,
    HardwareSpec,
    LoggingSpec,
    NetworkSpec,
)

#: Most runs a spec may expand into (sweep grid points times seeds). Larger specs are refused
#: before their grid is expanded: a million points take minutes and gigabytes to plan.
MAX_RUNS = 100_000


class RunConfig(_Section):
    """Everything that changes what one run computes; hashed into its run_id."""

    env: EnvSpec = Field(default_factory=EnvSpec)  # type: ignore[arg-type]
    network: NetworkSpec = Field(default_factory=NetworkSpec)  # type: ignore[arg-type]
    algo: AlgoSpec = Field(default_factory=AlgoSpec)  # type: ignore[arg-type]
    data: DataSpec = Field(default_factory=DataSpec)  # type: ignore[arg-type]
    eval: EvalSpec = Field(default_factory=EvalSpec)  # type: ignore[arg-type]
    seed: NonNegativeInt = Field(0, description="Random seed of the run.")

    @model_validator(mode="after")
    def _algo_fits_data(self) -> RunConfig:
        if self.data.mode == "offline" and not algos.get(self.algo.name).offline:
            raise ValueError(
                f"algo.name: {self.algo.name} runs online only; offline runs take "
                f"{' or '.join(algos.OFFLINE)}"
            )
        return self

    @property
    def seedless_key(self) -> str:
        """The config up to the seed, as canonical JSON: runs with equal keys compute the same
        programs (the seed only changes the PRNG keys, run-time inputs of the compiled
        programs), so they share a trainer and may train as one seed group. The one place
        that decides "same config up to the seed" (:func:`harness.plan.seed_groups`, the
        runner's trainer cache, :func:`harness.seeds.check_one_config`)."""
        return json.dumps(self.model_dump(mode="json", exclude={"seed"}), sort_keys=True)

    @property
    def resolved_actor_loss(self) -> str:
        """``algo.actor_loss``, else ``sac`` online and ``ddpg_bc`` offline (OGBench's CRL)."""
        if self.algo.actor_loss is not None:
            return self.algo.actor_loss
        return "ddpg_bc" if self.data.mode == "offline" else "sac"

    @property
    def resolved_bc_alpha(self) -> float:
        """``algo.bc_alpha``, else OGBench's CRL value: 0.03 for point mazes, 0.1 otherwise
        (Park et al. 2024, hyperparameter table; ``impls/hyperparameters.sh``)."""
        if self.algo.bc_alpha is not None:
            return self.algo.bc_alpha
        point = self.env_label.startswith(("pointmaze", "point_"))
        return 0.03 if point else 0.1

    @property
    def env_label(self) -> str:
        """The ``env_id`` of result tables: the OGBench dataset name for OGBench data, else
        ``env.id`` (the Brax env trained or evaluated on)."""
        if self.data.resolved_source == "ogbench":
            return str(self.data.dataset)
        return self.env.id


class Spec(_Section):
    """A YAML spec file: one experiment, possibly a sweep of many runs."""

    name: str = Field(
        "",
        description="Experiment name; results go to results/<name>/. Defaults to the file stem.",
        pattern=r"^[A-Za-z0-9_.-]*$",
    )
    description: str = Field("", description="Free text shown by `harness plan`.")
    env: EnvSpec = Field(default_factory=EnvSpec)  # type: ignore[arg-type]
    network: NetworkSpec = Field(default_factory=NetworkSpec)  # type: ignore[arg-type]
    algo: AlgoSpec = Field(default_factory=AlgoSpec)  # type: ignore[arg-type]
    data: DataSpec = Field(default_factory=DataSpec)  # type: ignore[arg-type]
    eval: EvalSpec = Field(default_factory=EvalSpec)  # type: ignore[arg-type]
    seeds: list[NonNegativeInt] = Field(
        default_factory=lambda: [0], min_length=1, description="One run per seed (paper: 3 to 5)."
    )
    hardware: HardwareSpec = Field(default_factory=HardwareSpec)  # type: ignore[arg-type]
    logging: LoggingSpec = Field(
        default_factory=LoggingSpec,  # type: ignore[arg-type]
        description="Live tracking (TensorBoard, Weights & Biases); not part of run ids.",
    )
    sweep: dict[str, list[Any]] = Field(
        default_factory=dict,
        description="Sweep axes: dotted field paths (e.g. network.critic_depth) -> lists of "
        "values; runs are the grid product of all axes times the seeds. Join paths with '+' "
        "to move fields together (network.critic_depth+network.actor_depth: [4, 16, 64]).",
    )

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if value in (".", ".."):
            raise ValueError(
                f"{value!r} is not a plain folder name (results go to <results>/<name>/; the "
                "name defaults to the file name): use letters, digits, '_', '-' and '.', and "
                "not '.' or '..'"
            )
        return value

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, value: list[int]) -> list[int]:
        counts = collections.Counter(value)
        twice = sorted(seed for seed, n in counts.items() if n > 1)
        if twice:
            listed = ", ".join(str(seed) for seed in twice)
            raise ValueError(
                f"seed{'s' if len(twice) > 1 else ''} {listed} listed more than once; each "
                "seed is one run: list it once"
            )
        return value

    @field_validator("sweep")
    @classmethod
    def _sweep_axes(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in value.items():
            paths = sweep_paths(key)
            for path in paths:
                head, _, rest = path.partition(".")
                if head not in _SWEEPABLE or not rest:
                    raise ValueError(
                        f"sweep axis {path!r} must be a dotted path into one of "
                        f"{', '.join(sorted(_SWEEPABLE))} (e.g. network.critic_depth)"
                    )
                section: type[BaseModel] | None = _SWEEPABLE[head]
                where = head
                for field in rest.split("."):
                    if section is None:
                        break  # a value below a plain field (e.g. a dict): checked per point
                    if field not in section.model_fields:
                        raise ValueError(
                            f"sweep axis {path!r}: {where} has no field {field!r}; fields: "
                            f"{', '.join(section.model_fields)}"
                        )
                    section = _sub_section(section.model_fields[field].annotation)
                    where = f"{where}.{field}"
            if not values:
                raise ValueError(f"sweep axis {key!r} has no values")
            if len(paths) > 1:
                for item in values:
                    if isinstance(item, list) and len(item) != len(paths):
                        raise ValueError(
                            f"sweep axis {key!r}: value {item!r} must be one value for all "
                            f"{len(paths)} paths or a list of {len(paths)}"
                        )
        return value


def _sub_section(annotation: Any) -> type[BaseModel] | None:
    """The section model of a field annotation (``X`` or ``X | None``), else None."""
    import typing

    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, _Section):
            return candidate
    return None


def sweep_paths(key: str) -> list[str]:
    """Paths of a sweep axis. ``a.x+b.y`` ties several fields to one axis (e.g. actor and critic
    depth); each value is then one value for all of them or a list with one value per path."""
    return [part.strip() for part in key.split("+")]


def sweep_assign(data: dict[str, Any], key: str, value: Any) -> None:
    """Set the value of sweep axis ``key`` in a raw config dict."""
    paths = sweep_paths(key)
    values = value if len(paths) > 1 and isinstance(value, list) else [value] * len(paths)
    for path, item in zip(paths, values, strict=True):
        set_path(data, path, item)


_SWEEPABLE: dict[str, type[BaseModel]] = {
    "env": EnvSpec,
    "network": NetworkSpec,
    "algo": AlgoSpec,
    "data": DataSpec,
    "eval": EvalSpec,
}


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = {}
            node[part] = child
        if not isinstance(child, dict):
            raise ValueError(f"{'.'.join(parts[:-1])} is not a section")
        node = child
    node[parts[-1]] = value
