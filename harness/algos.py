"""The registry of agents: ``algo.name`` names one, :func:`get` returns what it declares.

An :class:`AlgoDef` says everything the rest of the harness asks of an agent without building it:
the class that implements it (imported on first use by :func:`harness.agents.make_agent`), the
minibatch its update takes (``batch``: the sampler of :meth:`harness.train.Trainer.sample`),
whether it relabels transitions with hindsight, whether it trains offline, the shape of its
critic (``harness plan``'s closed-form parameter counts and memory), and the ``algo`` fields only
it reads (the spec refuses them under another name). Diagnostics and the offline update are
methods of the agent class (:class:`harness.agents.base.Agent`).

Adding an agent is one module of :mod:`harness.agents` defining its class and one
``AlgoDef(...)`` in :data:`REGISTRY` (docs/extending.md). This module imports no JAX, so the
spec checks ``algo.name`` against :data:`NAMES` without loading Flax.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

BatchKind = Literal["geometric", "future", "transition"]
CriticKind = Literal["contrastive", "twin_q", "none"]


@dataclass(frozen=True)
class AlgoDef:
    """What the harness needs to know of one agent before building it.

    Attributes:
        name: the ``algo.name`` value.
        agent: ``"module:Class"`` of the implementation, built as
            ``Class(cfg, state_dim, goal_dim, action_dim)``
            (the :class:`harness.agents.base.Agent` protocol).
        batch: the update's minibatch: ``geometric`` (hindsight goals at a geometric offset,
            :class:`~harness.batches.Batch`), ``future`` (uniform future goals, ``Batch``) or
            ``transition`` (``(s, a, r, s', g)`` TD transitions with the commanded goal,
            :class:`~harness.batches.Transition`; the replay then keeps goals and terminals).
        her: transitions are relabelled with hindsight goals (``algo.her.relabel_prob``).
        offline: trains from a dataset (``data.mode: offline``); the class then implements
            :class:`harness.agents.base.OfflineAgent`.
        critic: ``contrastive`` (phi(s, a) and psi(g) encoders), ``twin_q`` (two Q-networks on
            ``concat(s, a, g)`` with target copies) or ``none``.
        reads: the ``algo`` fields that only this agent reads: an optional one (default null)
            set under another name is refused by the spec, and one with a default stays out of
            the run id of the other agents (``tanh_log_det``).
        source: the paper the agent follows.
    """

    name: str
    agent: str
    batch: BatchKind
    critic: CriticKind
    her: bool = False
    offline: bool = False
    reads: tuple[str, ...] = ()
    source: str = ""

    @property
    def has_targets(self) -> bool:
        """Target copies of the critic and actor are kept (TD learning)."""
        return self.critic == "twin_q"


#: Every agent, in the order the docs list them. The first is the default of ``algo.name``.
REGISTRY: dict[str, AlgoDef] = {
    d.name: d
    for d in (
        AlgoDef(
            "crl",
            "harness.agents.crl:CRL",
            batch="geometric",
            critic="contrastive",
            offline=True,
            reads=("actor_loss", "bc_alpha", "actor_p_randomgoal", "tanh_log_det"),
            source="Eysenbach et al. 2022; Wang et al. 2025 (the paper's agent)",
        ),
        AlgoDef(
            "sac",
            "harness.agents.sac:SAC",
            batch="transition",
            critic="twin_q",
            reads=("sac",),
            source="Haarnoja et al. 2018; Wang et al. 2025 Fig. 13",
        ),
        AlgoDef(
            "sac_her",
            "harness.agents.sac:SAC",
            batch="transition",
            critic="twin_q",
            her=True,
            reads=("sac", "her"),
            source="Haarnoja et al. 2018 with Andrychowicz et al. 2017; Wang et al. 2025 Fig. 13",
        ),
        AlgoDef(
            "td3_her",
            "harness.agents.td3:TD3",
            batch="transition",
            critic="twin_q",
            her=True,
            reads=("td3", "her"),
            source="Fujimoto et al. 2018 with Andrychowicz et al. 2017; Wang et al. 2025 Fig. 13",
        ),
        AlgoDef(
            "gcbc",
            "harness.agents.gcbc:GCBC",
            batch="geometric",
            critic="none",
            offline=True,
            reads=("actor_p_randomgoal",),
            source="Park et al. 2024 (OGBench's GCBC); Wang et al. 2025 Fig. 13",
        ),
        AlgoDef(
            "gcsl",
            "harness.agents.gcsl:GCSL",
            batch="future",
            critic="none",
            reads=("gcsl",),
            source="Ghosh et al. 2019; Wang et al. 2025 Fig. 13",
        ),
    )
}

#: The names ``algo.name`` accepts.
NAMES: tuple[str, ...] = tuple(REGISTRY)

#: The paper's agent, the default of ``algo.name``.
DEFAULT = "crl"

#: Agents trained by TD learning on ``(s, a, r, s', g)`` transitions.
TD: tuple[str, ...] = tuple(n for n, d in REGISTRY.items() if d.batch == "transition")

#: Agents that train offline.
OFFLINE: tuple[str, ...] = tuple(n for n, d in REGISTRY.items() if d.offline)


def get(name: str) -> AlgoDef:
    """The agent registered as ``name``.

    Raises:
        ValueError: ``name`` is not in :data:`NAMES` (the spec refuses it first).
    """
    if name not in REGISTRY:
        raise ValueError(f"unknown algo.name {name!r}; one of {', '.join(NAMES)}")
    return REGISTRY[name]


def owners(field: str) -> tuple[str, ...]:
    """The agents that read the optional ``algo`` field ``field`` (:attr:`AlgoDef.reads`)."""
    return tuple(n for n, d in REGISTRY.items() if field in d.reads)
