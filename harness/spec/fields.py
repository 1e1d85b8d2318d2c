"""Building blocks of the spec sections: number parsing, constrained field types, the frozen
section base class and the residual-block depth rule."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

#: Dense layers per residual block (Wang et al. 2025, Fig. 2).
LAYERS_PER_BLOCK = 4

_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def _parse_number(value: Any) -> Any:
    """Accept YAML strings such as ``1e6`` or ``100_000_000`` as numbers.

    PyYAML (YAML 1.1) reads ``1e6`` as a string; numbers written that way are common in RL
    configs. Integral values (``1e6``, ``2.0``) become ints so that integer fields accept them.
    """
    if isinstance(value, str):
        text = value.strip().replace("_", "")
        if _NUMBER_RE.match(text):
            value = float(text)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value


def _parse_float(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip().replace("_", "")
        if _NUMBER_RE.match(text):
            return float(text)
    return value


PositiveInt = Annotated[int, BeforeValidator(_parse_number), Field(gt=0, strict=False)]
NonNegativeInt = Annotated[int, BeforeValidator(_parse_number), Field(ge=0, strict=False)]
PositiveFloat = Annotated[float, BeforeValidator(_parse_float), Field(gt=0)]
UnitFloat = Annotated[float, BeforeValidator(_parse_float), Field(gt=0, lt=1)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def _depth(value: int, field: str) -> int:
    if value < LAYERS_PER_BLOCK or value % LAYERS_PER_BLOCK:
        raise ValueError(
            f"{field} must be a positive multiple of {LAYERS_PER_BLOCK} (the Dense layers of "
            f"residual blocks of {LAYERS_PER_BLOCK}, Wang et al. 2025 Fig. 2); got {value}"
        )
    return value
