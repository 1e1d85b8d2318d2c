"""The stitching experiment's env option (issue 16): ``goal_max_cells`` keeps training goals in
the goal cells near the start (:func:`envs.maze.near_goal_layout`), applies to the training env
only, validates in the spec with file and field named, and leaves existing run ids alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np
import pytest

import envs
from envs.maze import (
    BIG_MAZE,
    GOAL,
    HUMANOID_BIG_MAZE_EVAL,
    U_MAZE,
    bfs_distances,
    near_goal_layout,
)
from harness.cli import main
from harness.plan import run_id
from harness.spec import RunConfig, load_spec

#: BIG_MAZE's goal cells by path distance from the start (1, 1), read off the layout by hand:
#: 1: (1, 2), (2, 1); 2: (2, 2); 3: (3, 2); 4: (3, 3), (4, 2); 5: (3, 4), (4, 1); the rest >= 6.
BIG_WITHIN_4 = {(1, 2), (2, 1), (2, 2), (3, 2), (3, 3), (4, 2)}


def _goals(layout: Any) -> set[tuple[int, int]]:
    return {(r, c) for r, row in enumerate(layout) for c, cell in enumerate(row) if cell == GOAL}


def test_near_goal_layout_cell_by_cell() -> None:
    capped = near_goal_layout(BIG_MAZE, 4)
    assert _goals(capped) == BIG_WITHIN_4
    assert _goals(near_goal_layout(BIG_MAZE, 1)) == {(1, 2), (2, 1)}
    assert _goals(near_goal_layout(BIG_MAZE, 5)) == BIG_WITHIN_4 | {(3, 4), (4, 1)}
    assert near_goal_layout(BIG_MAZE, 100) == BIG_MAZE
    # Everything but the dropped goals is as it was: walls, starts, free cells.
    for r, row in enumerate(BIG_MAZE):
        for c, cell in enumerate(row):
            expected = 0 if cell == GOAL and (r, c) not in BIG_WITHIN_4 else cell
            assert capped[r][c] == expected, (r, c)
    dist = bfs_distances(BIG_MAZE)
    assert max(dist[g] for g in _goals(capped)) == 4
    # The stitching spec's split: every far (eval) goal lies >= 3 cells beyond the cap.
    assert min(dist[g] for g in _goals(HUMANOID_BIG_MAZE_EVAL)) == 7


@pytest.mark.parametrize("bad", [0, -1, True, 2.0, "3"])
def test_near_goal_layout_rejects_bad_caps(bad: Any) -> None:
    with pytest.raises(ValueError, match="goal_max_cells must be an int >= 1"):
        near_goal_layout(U_MAZE, bad)


def test_near_goal_layout_without_a_goal_in_reach() -> None:
    with pytest.raises(ValueError, match=r"goal_max_cells=6: .*nearest is 7 cells away"):
        near_goal_layout(HUMANOID_BIG_MAZE_EVAL, 6)


def test_make_draws_goals_only_in_the_capped_cells() -> None:
    env = envs.make("point_big_maze", goal_max_cells=4)
    assert set(env.maze.goal_cells) == BIG_WITHIN_4
    assert env.maze.layout == envs.goal_layout("point_big_maze", 4)
    assert env.maze.start_cells == ((1, 1),)
    keys = jax.random.split(jax.random.key(0), 512)
    _, goals = jax.vmap(env.sample_start_goal)(keys)
    cells = {tuple(int(v) for v in c) for c in env.maze.cell_of(np.asarray(goals))}
    assert cells == BIG_WITHIN_4  # all six drawn, none other
    assert set(envs.make("point_big_maze").maze.goal_cells) > BIG_WITHIN_4  # default: no cap


def test_make_names_the_id_and_the_cap() -> None:
    with pytest.raises(ValueError, match=r"'point_big_maze_eval': goal_max_cells=4: no goal"):
        envs.make("point_big_maze_eval", goal_max_cells=4)
    with pytest.raises(ValueError, match=r"'ant' does not take the option goal_max_cells=3"):
        envs.make("ant", goal_max_cells=3)
    with pytest.raises(ValueError, match=r"'reacher' is not a maze"):
        envs.goal_layout("reacher", 3)
    assert envs.info("point_big_maze").options == ("cell_jitter", "goal_max_cells")
    assert envs.info("ant_big_maze").options == ("cell_jitter", "contacts", "goal_max_cells")


GOOD = """
env: {id: point_big_maze, eval_id: point_big_maze_eval, goal_max_cells: 4, episode_length: 50}
network: {critic_depth: 4, actor_depth: 4, width: 16, repr_dim: 8}
algo: {batch_size: 32}
data: {num_envs: 4, unroll_length: 10, total_env_steps: 1e3, replay_size_per_env: 100,
       min_replay_per_env: 10}
eval: {num_envs: 4, num_evals: 2}
"""


def _validate(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> tuple[int, str]:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    code = main(["validate", str(path)])
    return code, capsys.readouterr().err


def test_spec_validates_the_cap_on_the_training_env_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _validate(tmp_path, capsys, GOOD)[0] == 0  # the eval id, far goals only, is not capped
    spec = tmp_path / "spec.yaml"
    code, err = _validate(
        tmp_path,
        capsys,
        GOOD.replace("id: point_big_maze, eval_id: point_big_maze_eval,", "id: ant,"),
    )
    assert code == 2 and "Traceback" not in err
    assert f"{spec}: env: goal_max_cells=4 does not apply to env 'ant'" in err
    text = GOOD.replace("eval_id: point_big_maze_eval, ", "").replace(
        "id: point_big_maze,", "id: point_big_maze_eval,"
    )
    code, err = _validate(tmp_path, capsys, text)
    assert code == 2
    assert f"{spec}: env: env 'point_big_maze_eval': goal_max_cells=4: no goal cell" in err
    code, err = _validate(tmp_path, capsys, GOOD.replace("goal_max_cells: 4", "goal_max_cells: 0"))
    assert code == 2 and f"{spec}: env.goal_max_cells: " in err


def test_make_options_drop_the_cap_for_a_named_eval_env(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(GOOD)
    env = load_spec(tmp_path / "s.yaml").env
    assert env.make_options()["goal_max_cells"] == 4
    assert "goal_max_cells" not in env.make_options(evaluation=True)
    # With no eval_id the training env, cap included, is the one evaluated.
    own = env.model_copy(update={"eval_id": None})
    assert own.make_options(evaluation=True)["goal_max_cells"] == 4


def test_trainer_evaluates_on_the_far_goals(tmp_path: Path) -> None:
    from harness.train import Trainer

    (tmp_path / "s.yaml").write_text(GOOD)
    cfg = RunConfig.model_validate(
        {**load_spec(tmp_path / "s.yaml").model_dump(include={"env", "network", "algo", "data"})}
    )
    trainer = Trainer(cfg)
    assert set(trainer.env.maze.goal_cells) == BIG_WITHIN_4
    assert set(trainer.eval_env.maze.goal_cells) == _goals(HUMANOID_BIG_MAZE_EVAL)


#: ``run_id`` of :data:`PINNED` computed by the harness before ``env.goal_max_cells`` existed
#: (commit c00fd35): a field added with default None must leave finished runs' ids unchanged,
#: and so must ``data.sampler: iid``, the only sampler before the field existed.
PINNED = {
    "env": {"id": "point_big_maze", "eval_id": "point_big_maze_eval", "episode_length": 200},
    "network": {"critic_depth": 16, "actor_depth": 16, "width": 64, "repr_dim": 32},
    "algo": {"batch_size": 256, "utd": 0.0625},
    "data": {"num_envs": 64, "unroll_length": 50, "total_env_steps": 600_000},
    "seed": 2,
}
PINNED_ID = "bbcefbc1dc88"


def test_existing_run_ids_do_not_change() -> None:
    """Runs of the former i.i.d. sampler keep their ids with ``data.sampler: iid``; the default
    (the reference's window relabelling) computes something else, so its ids are new."""
    iid = {**PINNED, "data": {**PINNED["data"], "sampler": "iid"}}
    assert run_id(RunConfig.model_validate(iid)) == PINNED_ID
    config = RunConfig.model_validate(PINNED)
    assert config.data.sampler == "window" and run_id(config) != PINNED_ID
    capped = RunConfig.model_validate({**PINNED, "env": {**PINNED["env"], "goal_max_cells": 4}})
    assert run_id(capped) != PINNED_ID


def test_ogbench_runs_leave_the_cap_out_of_the_id() -> None:
    data = {"mode": "offline", "dataset": "pointmaze-medium-navigate-v0", "dataset_dir": "data"}
    plain = RunConfig.model_validate({"data": data})
    capped = RunConfig.model_validate({"data": data, "env": {"goal_max_cells": 1}})
    assert plain.data.resolved_source == "ogbench"
    assert run_id(capped) == run_id(plain)
