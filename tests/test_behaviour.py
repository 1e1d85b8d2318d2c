"""Behaviour, not only scores (issue 29): the maze path metrics on hand-made trajectories, and
recorded episodes that have the expected shapes, reproduce bit-identically and share their goals
across runs."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pyarrow as pa
import pytest

from envs.maze import U_MAZE, build_maze
from harness import behaviour
from harness.spec import RunConfig

CELL = 2.0  # the point mazes' cell (envs.registry.POINT_CELL_SIZE)
RADIUS = 0.25  # the point mass's clearance
THRESHOLD = 0.5  # the mazes' success radius


def _walk(*corners: tuple[float, float], step: float = 0.1, length: int = 200) -> np.ndarray:
    """Positions ``[length + 1, 2]`` along straight legs through ``corners`` at ``step`` metres
    per env step, then standing at the last corner (row 0: the start)."""
    points = [np.asarray(corners[0], float)]
    for start, end in itertools.pairwise(corners):
        a, b = np.asarray(start, float), np.asarray(end, float)
        n = int(np.ceil(np.linalg.norm(b - a) / step))
        points += [a + (b - a) * k / n for k in range(1, n + 1)]
    while len(points) < length + 1:
        points.append(points[-1])
    return np.stack(points[: length + 1])


def _metrics(xy: np.ndarray, goal: tuple[float, float]) -> dict[str, float]:
    """Behaviour metrics of one hand-made point-mass episode in the U-maze."""
    geometry = behaviour.MazeGeometry.of(build_maze(U_MAZE, CELL), RADIUS)
    pos = np.concatenate([xy, np.full((len(xy), 1), RADIUS)], axis=1)[:, None, :]  # [T+1, 1, 3]
    goal_arr = np.asarray(goal, np.float32)[None]
    success = (np.linalg.norm(xy[1:] - goal_arr, axis=-1) < THRESHOLD).astype(np.float32)
    first = {"pos": jnp.asarray(pos[0], jnp.float32), "goal": jnp.asarray(goal_arr)}
    steps = {"pos": jnp.asarray(pos[1:], jnp.float32)}
    out = behaviour.behaviour_metrics(
        first,
        steps,
        jnp.asarray(success[:, None]),
        jnp.ones((len(xy) - 1, 1)),
        maze=geometry,
        success_threshold=THRESHOLD,
    )
    return {k: float(v) for k, v in out.items()}


# U-maze, cell (row, col) centred at (2 row, 2 col): start (1, 1) at (2, 2); walls all around
# and on (2, 1), (2, 2) between the two arms; goal (1, 3) at (2, 6) straight along the top arm,
# goal (3, 1) at (6, 2) behind the wall, 6 cells round the U.


def test_straight_path_is_shortest_without_detour_or_contact() -> None:
    m = _metrics(_walk((2, 2), (2, 6)), goal=(2, 6))
    # 2 cells = 4 m centre to centre, ended at the 0.5 m success radius: 3.5 m; the walk's
    # first step inside the radius is at most 0.1 m further.
    assert m["path_ratio"] == pytest.approx(1.0, abs=0.03)
    assert m["wall_contacts"] == 0.0
    assert m["detour_frac"] == 0.0
    assert m["time_to_goal"] == 36.0  # y = 2 + 0.1 k > 5.5 first at k = 36


def test_detour_round_the_wall_is_counted_and_its_ratio_is_one() -> None:
    m = _metrics(_walk((2, 2), (2, 6), (6, 6), (6, 2), length=300), goal=(6, 2))
    # the shortest feasible path: 6 cells (12 m) less the success radius = 11.5 m, walked
    assert m["path_ratio"] == pytest.approx(1.0, abs=0.01)
    assert m["detour_frac"] == 1.0  # enters (1, 2), which the straight line does not
    assert m["wall_contacts"] == 0.0
    assert m["time_to_goal"] == 40 + 40 + 36


def test_wall_hits_are_counted_once_per_touch_and_unreached_ratio_is_undefined() -> None:
    # Straight at the goal behind the wall: the wall cell (2, 1) begins at x = 3; the point of
    # radius 0.25 touches it at x = 2.75. Touch, back off, touch again: two contacts.
    xy = _walk((2, 2), (2.8, 2), (2.2, 2), (2.8, 2), step=0.05, length=100)
    m = _metrics(xy, goal=(6, 2))
    assert m["wall_contacts"] == 2.0
    assert m["detour_frac"] == 0.0  # it never left the straight line's cells
    assert np.isnan(m["path_ratio"])  # no episode reached its goal
    assert m["time_to_goal"] == 100.0  # never: the episode length
    assert behaviour.defined({"eval/path_ratio": m["path_ratio"], "eval/x": 1.0}) == {"eval/x": 1.0}


TINY = {
    "env": {"id": "point_u_maze", "eval_id": "point_u_maze_eval", "episode_length": 40},
    "network": {"critic_depth": 4, "actor_depth": 4, "width": 16, "repr_dim": 8},
    "algo": {"batch_size": 32, "utd": 0.05},
    "data": {
        "num_envs": 4,
        "unroll_length": 20,
        "total_env_steps": 400,
        "replay_size_per_env": 200,
        "min_replay_per_env": 40,
    },
    "eval": {"num_envs": 4, "num_evals": 2, "last_k": 2, "record_episodes": 3},
}


@pytest.mark.slow  # .ci/run runs it after the default suite
def test_recorded_episodes_have_their_shapes_reproduce_and_share_goals(tmp_path) -> None:
    from harness.train import Trainer

    trainers = [Trainer(RunConfig.model_validate({**TINY, "seed": seed})) for seed in (0, 1)]
    tables = []
    for seed, trainer in zip((0, 1), trainers, strict=True):
        params = trainer.init(jax.random.PRNGKey(seed)).agent.actor_params
        tables.append(trainer.record_episodes(params))
        if seed == 0:
            again = trainer.record_episodes(params)
            assert again.equals(tables[0])  # bit-identical for the same parameters
    table = tables[0]
    assert table.num_rows == 3 * 41  # 3 episodes x (reset + 40 steps)
    names = set(table.column_names)
    expected = {"episode", "step", "x", "y", "z", "qw", "qx", "qy", "qz", "dist", "success"}
    assert expected | {"alive", "achieved_0", "achieved_1", "goal_0", "goal_1"} == names
    assert table.schema.field("x").type == pa.float32()
    df = table.to_pandas()
    assert sorted(df.episode.unique()) == [0, 1, 2]
    assert (df.groupby("episode").step.apply(list) == [list(range(41))] * 3).all()
    start = df[df.step == 0]
    np.testing.assert_allclose(start[["x", "y"]].to_numpy(), [[2.0, 2.0]] * 3, atol=1e-6)
    np.testing.assert_array_equal(df.achieved_0, df.x)  # a maze's goal space is the root x, y
    # The same goals (and starts) for another seed's run, whatever its policy.
    other = tables[1].to_pandas()
    np.testing.assert_array_equal(other[["goal_0", "goal_1"]], df[["goal_0", "goal_1"]])
    # Written and read back with their metadata.
    path = tmp_path / behaviour.EPISODES_FILE
    behaviour.write_episodes(path, table, behaviour.episode_meta(trainers[0].eval_env, 40))
    back, meta = behaviour.read_episodes(path)
    assert back.equals(table) and meta["env_id"] == "point_u_maze_eval"
    assert (
        meta["episode_length"] == 40 and meta["cell_size"] == CELL and meta["layout"][1][1] == "R"
    )
    assert path.stat().st_size < 100_000


def test_record_episodes_enters_the_run_id_only_when_set() -> None:
    from harness.plan import run_id

    plain = RunConfig.model_validate(TINY | {"eval": {"num_envs": 4}})
    zero = RunConfig.model_validate(TINY | {"eval": {"num_envs": 4, "record_episodes": 0}})
    four = RunConfig.model_validate(TINY | {"eval": {"num_envs": 4, "record_episodes": 4}})
    assert run_id(plain) == run_id(zero) != run_id(four)


SWEEP = """
name: beh
env: {id: point_u_maze, eval_id: point_u_maze_eval, episode_length: 40}
network: {actor_depth: 4, width: 16, repr_dim: 8}
algo: {batch_size: 32, utd: 0.05}
data: {num_envs: 4, unroll_length: 20, total_env_steps: 400, replay_size_per_env: 200,
       min_replay_per_env: 40}
eval: {num_envs: 4, num_evals: 2, last_k: 2, record_episodes: 2}
seeds: [0]
sweep:
  network.critic_depth: [4, 8]
"""


@pytest.mark.slow  # .ci/run runs it after the default suite
def test_a_two_depth_sweep_records_episodes_and_its_report_draws_them(tmp_path) -> None:
    import pyarrow.parquet as pq

    from harness.cli import main

    spec = tmp_path / "beh.yaml"
    spec.write_text(SWEEP)
    results = tmp_path / "results"
    assert main(["run", str(spec), "--results", str(results)]) == 0
    runs = sorted(p for p in (results / "beh").iterdir() if (p / "run.json").exists())
    assert len(runs) == 2
    for run in runs:
        table, meta = behaviour.read_episodes(run / behaviour.EPISODES_FILE)
        assert table.num_rows == 2 * 41 and meta["episode_length"] == 40
        names = set(pq.read_table(run / "metrics.parquet").column("metric").to_pylist())
        for name in ("time_to_goal", "wall_contacts", "detour_frac"):
            assert f"eval/{name}" in names and f"random/{name}" in names
    assert main(["report", str(spec), "--results", str(results)]) == 0
    report = results / "beh" / "report"
    assert (report / "behaviour_vs_depth_point_u_maze.png").stat().st_size > 10_000
    paths = sorted(report.glob("paths_point_u_maze_goal_*.png"))
    assert paths and all(p.stat().st_size > 10_000 for p in paths)
    text = (report / "report.md").read_text()
    assert "behaviour_vs_depth_point_u_maze.png" in text and paths[0].name in text


def test_render_names_each_gl_backend_tried_and_how_to_install_one(tmp_path) -> None:
    from harness.render import RenderError, check_output, gl_backend

    with pytest.raises(RenderError) as caught:
        gl_backend(("no_such_gl",))  # mujoco refuses the value at import, as a missing library
    message = str(caught.value)
    assert message.startswith("no OpenGL backend for MuJoCo's offscreen renderer")
    assert "MUJOCO_GL=no_such_gl: " in message
    assert "libosmesa6" in message and "MUJOCO_GL=egl" in message
    with pytest.raises(RenderError, match=r"write a \.gif or an \.mp4"):
        check_output(tmp_path / "x.avi")
