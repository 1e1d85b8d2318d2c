"""The registry of agents (:mod:`harness.algos`, issue 26): what each agent declares is all the
harness reads of it, so no module outside the registry tests an agent's name, and an agent
registered under a new name is validated, planned, built and diagnosed with nothing else added.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from harness import algos
from harness.agents import batch_kind, make_agent
from harness.agents.gcbc import GCBC
from harness.batches import Batch
from harness.diagnostics import agent_diagnostics
from harness.plan import param_counts, state_bytes
from harness.spec import RunConfig, SpecError, load_spec

ROOT = Path(__file__).resolve().parent.parent
#: The only modules that may name agents: the registry itself.
NAMING_ALLOWED = {ROOT / "harness" / "algos.py"}


def _name_tests(tree: ast.AST, names: set[str]) -> list[int]:
    """Lines comparing something with an agent's name (``== "sac"``, ``in ("crl", ...)``) or
    testing a name's suffix (``.endswith("_her")``)."""

    def named(node: ast.AST) -> bool:
        if isinstance(node, ast.Constant):
            return node.value in names
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            return any(named(e) for e in node.elts)
        return False

    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = (node.left, *node.comparators)
            # the other side names an algorithm (``algo.name``, ``r["algo"]``), not, say, the
            # actor loss "sac"
            other = " ".join(ast.unparse(x) for x in sides if not named(x))
            if any(named(x) for x in sides) and ("name" in other or "algo" in other):
                lines.append(node.lineno)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("endswith", "startswith")
            and any(isinstance(a, ast.Constant) and a.value == "_her" for a in node.args)
        ):
            lines.append(node.lineno)
    return lines


def test_no_module_tests_agent_names() -> None:
    """Batch kinds, HER, offline support, critics and the fields an agent reads come from the
    registry: an agent name appears in a comparison nowhere else in harness/."""
    names = set(algos.NAMES)
    found = {}
    for path in sorted((ROOT / "harness").rglob("*.py")):
        if path in NAMING_ALLOWED:
            continue
        lines = _name_tests(ast.parse(path.read_text()), names)
        if lines:
            found[str(path.relative_to(ROOT))] = lines
    assert not found, f"agent names tested outside harness/algos.py: {found}"


def test_registry_declarations() -> None:
    """What the registry declares for the paper's agent and the baselines of Fig. 13."""
    assert algos.NAMES[0] == algos.DEFAULT == "crl"
    assert algos.TD == ("sac", "sac_her", "td3_her")
    assert algos.OFFLINE == ("crl", "gcbc")
    assert [n for n in algos.NAMES if algos.get(n).her] == ["sac_her", "td3_her"]
    assert [batch_kind(n) for n in ("crl", "gcbc", "gcsl", "sac")] == [
        "geometric",
        "geometric",
        "future",
        "transition",
    ]
    assert algos.owners("her") == ("sac_her", "td3_her")
    assert algos.owners("actor_p_randomgoal") == ("crl", "gcbc")
    with pytest.raises(ValueError, match=r"unknown algo\.name 'ddpg'; one of crl"):
        algos.get("ddpg")


@pytest.fixture
def registered() -> Iterator[str]:
    """A new agent, ``bc_copy``: GCBC's class under a name of its own, declared by one
    registry entry (as docs/extending.md adds an agent); removed afterwards."""
    name = "bc_copy"
    algos.REGISTRY[name] = algos.AlgoDef(
        name,
        "harness.agents.gcbc:GCBC",
        batch="future",
        critic="none",
        offline=True,
        reads=("gcsl",),
        source="a test",
    )
    try:
        yield name
    finally:
        del algos.REGISTRY[name]


def test_a_registered_agent_needs_nothing_else(registered: str, tmp_path: Path) -> None:
    """The spec accepts the new name (and the fields it declares it reads), the plan counts its
    parameters from its declared critic, make_agent builds its class, and the depth diagnostics
    run on it through its gradient probe."""
    spec = tmp_path / "s.yaml"
    spec.write_text(
        f"algo: {{name: {registered}, gcsl: {{horizon: 10}}}}\n"
        "network: {critic_depth: 4, actor_depth: 4, width: 8, repr_dim: 4, scan: false}\n"
    )
    cfg = RunConfig.model_validate(load_spec(spec).model_dump(include={"algo", "network"}))
    assert cfg.algo.name == registered and batch_kind(registered) == "future"
    spec.write_text(f"algo: {{name: {registered}, her: {{}}}}\n")
    with pytest.raises(SpecError, match=f"algo.her is set but algo.name is {registered}"):
        load_spec(spec)

    counts = param_counts(cfg)
    assert counts["critic_params"] == 0 and counts["actor_params"] > 0
    gcbc = cfg.model_copy(update={"algo": cfg.algo.model_copy(update={"name": "gcbc"})})
    assert state_bytes(cfg) == state_bytes(gcbc)  # same replay, parameters and no targets

    agent = make_agent(cfg, 4, 2, 2)
    assert isinstance(agent, GCBC)
    state = agent.init(jax.random.PRNGKey(0))
    keys = jax.random.split(jax.random.PRNGKey(1), 3)
    batch = Batch(
        jax.random.normal(keys[0], (8, 4)),
        jnp.tanh(jax.random.normal(keys[1], (8, 2))),
        jax.random.normal(keys[2], (8, 2)),
    )
    out = agent_diagnostics(agent, state, batch, keys[0])
    assert {"grad_norm_actor", "actor_tanh_mean_abs"} <= set(out)
    assert not any(k.startswith(("grad_norm_phi", "q_", "logits")) for k in out)
    assert all(np.isfinite(float(v)) for v in out.values())
