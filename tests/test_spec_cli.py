"""Spec validation and the CLI's bad-input contract: every problem as FILE: field.path: message,
exit code 2, no traceback, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.plan import expand, run_id
from harness.spec import SpecError, load_spec

GOOD = """
env: {id: point_u_maze, episode_length: 50}
network: {critic_depth: 4, actor_depth: 4, width: 16, repr_dim: 8}
algo: {batch_size: 32}
data: {num_envs: 4, unroll_length: 10, total_env_steps: 1e3, replay_size_per_env: 100,
       min_replay_per_env: 10}
eval: {num_envs: 4, num_evals: 2}
seeds: [0, 1]
sweep:
  network.critic_depth+network.actor_depth: [4, 8]
"""


def _write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _bad(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> list[str]:
    """Run `harness run` on a bad spec; check exit 2, no traceback, nothing written."""
    spec = _write(tmp_path, text)
    results = tmp_path / "results"
    code = main(["run", str(spec), "--results", str(results)])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    assert not results.exists()
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and all(line.startswith(f"{spec}: ") for line in lines)
    return lines


def test_good_spec_expands_sweep_times_seeds(tmp_path: Path) -> None:
    spec = load_spec(_write(tmp_path, GOOD))
    runs = expand(spec)
    assert spec.name == "spec"
    assert [
        (r.config.network.critic_depth, r.config.network.actor_depth, r.config.seed) for r in runs
    ] == [(4, 4, 0), (4, 4, 1), (8, 8, 0), (8, 8, 1)]
    assert spec.data.total_env_steps == 1000  # "1e3" read as a number
    assert len({r.run_id for r in runs}) == 4


def test_run_id_ignores_hardware_and_is_stable(tmp_path: Path) -> None:
    a = expand(load_spec(_write(tmp_path, GOOD, "a.yaml")))
    b = expand(
        load_spec(_write(tmp_path, GOOD + "hardware: {partition: gpu, gpus: 4}\n", "b.yaml"))
    )
    assert [r.run_id for r in a] == [r.run_id for r in b]
    assert run_id(a[0].config) == a[0].run_id
    changed = expand(load_spec(_write(tmp_path, GOOD.replace("width: 16", "width: 32"), "c.yaml")))
    assert changed[0].run_id != a[0].run_id


def test_eval_env_must_match_training_dims(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ok = load_spec(
        _write(
            tmp_path,
            GOOD.replace("id: point_u_maze,", "id: point_u_maze, eval_id: point_u_maze_eval,"),
        )
    )
    assert ok.env.resolved_eval_id == "point_u_maze_eval"
    lines = _bad(
        tmp_path,
        capsys,
        GOOD.replace("id: point_u_maze,", "id: point_u_maze, eval_id: ant_u_maze_eval,"),
    )
    assert any("env: eval_id 'ant_u_maze_eval' has state_dim 29" in line for line in lines)


def test_run_id_leaves_out_unset_optional_fields(tmp_path: Path) -> None:
    # An optional field added to the format later (default None) must not change finished ids.
    spec = load_spec(_write(tmp_path, GOOD))
    config = expand(spec)[0].config
    assert config.env.eval_id is None
    dumped = config.model_dump(mode="json", exclude_none=True)
    assert "eval_id" not in dumped["env"]
    with_eval = config.model_copy(
        update={"env": config.env.model_copy(update={"eval_id": "point_u_maze_eval"})}
    )
    assert run_id(with_eval) != run_id(config)


def test_malformed_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = _bad(tmp_path, capsys, "env: {id: point_u_maze\nnetwork: [")
    assert "malformed YAML" in lines[0] and "line" in lines[0]


def test_unknown_fields_are_rejected_with_their_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = _bad(tmp_path, capsys, GOOD + "colour: blue\n" + "algo_typo: 1\n")
    joined = "\n".join(lines)
    assert ": colour: unknown field" in joined and ": algo_typo: unknown field" in joined
    lines = _bad(tmp_path, capsys, GOOD.replace("width: 16", "widht: 16"))
    assert any(": network.widht: unknown field" in line for line in lines)


def test_every_problem_is_reported_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = GOOD.replace("critic_depth: 4, actor_depth: 4", "critic_depth: 6, actor_depth: 4")
    text = text.replace("id: point_u_maze", "id: no_such_maze")
    text = text.replace("total_env_steps: 1e3", "total_env_steps: 0")
    lines = _bad(tmp_path, capsys, text)
    joined = "\n".join(lines)
    assert "network.critic_depth: " in joined and "multiple of 4" in joined
    assert "env.id: " in joined and "no_such_maze" in joined and "point_u_maze" in joined
    assert "data.total_env_steps: " in joined and "greater than 0" in joined
    assert len(lines) == 3


def test_bad_sweep_value_names_its_index(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = _bad(tmp_path, capsys, GOOD.replace("[4, 8]", "[4, 10]"))
    assert any(
        "sweep.network.critic_depth+network.actor_depth[1]" in line and "multiple of 4" in line
        for line in lines
    )
    lines = _bad(tmp_path, capsys, GOOD + "  network.depth: [4]\n")
    assert any("sweep" in line and "no field 'depth'" in line for line in lines)


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["validate", str(tmp_path / "nope.yaml")])
    err = capsys.readouterr().err
    assert code == 2 and "nope.yaml: cannot read file" in err


def test_overrides_are_validated_and_pin_sweeps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, GOOD)
    code = main(
        ["run", str(path), "--results", str(tmp_path / "r"), "--set", "network.critic_depth=7"]
    )
    err = capsys.readouterr().err
    assert code == 2 and "network.critic_depth" in err and not (tmp_path / "r").exists()
    spec = load_spec(path, {"network.critic_depth": 8, "data.num_envs": "2"})
    assert spec.data.num_envs == 2 and spec.network.critic_depth == 8
    runs = expand(spec)
    assert {r.config.network.critic_depth for r in runs} == {8}  # the sweep axis is pinned
    assert main(["validate", str(path), "--set", "novalue"]) == 2
    assert "--set: 'novalue': expected field.path=value" in capsys.readouterr().err
    with pytest.raises(SpecError):
        load_spec(path, {"network.width": -1})


def test_validate_plan_and_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, GOOD)
    assert main(["validate", str(path)]) == 0
    assert "ok (4 runs)" in capsys.readouterr().out
    assert main(["plan", str(path), "--json", "--results", str(tmp_path / "r")]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 4 and all(r["status"] == "pending" for r in rows)
    assert rows[0]["critic_params"] > 0 and rows[0]["env_steps"] >= 1000
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert "network" in schema["properties"]
    assert not (tmp_path / "r").exists()


def test_slurm_requested_without_slurm_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, GOOD + "hardware: {executor: slurm}\n")
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch here
    code = main(["run", str(path), "--results", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "no Slurm is reachable" in err and "--executor local" in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("spec_file", sorted(Path("specs").glob("*.yaml")))
def test_shipped_specs_validate(spec_file: Path) -> None:
    assert main(["validate", str(spec_file)]) == 0


def test_sbatch_refusals_name_the_field_to_change() -> None:
    from harness.slurm_limits import explain_sbatch_error, parse_time_min

    gres = "sbatch: error: Invalid generic resource (gres) specification\n"
    assert explain_sbatch_error(gres) == (
        "hardware.gpus",
        "Invalid generic resource (gres) specification",
    )
    partition = (
        "sbatch: error: invalid partition specified: gpu\n"
        "sbatch: error: Batch job submission failed: Invalid partition name specified"
    )
    assert explain_sbatch_error(partition) == (
        "hardware.partition",
        "invalid partition specified: gpu",
    )
    limit = "sbatch: error: Batch job submission failed: Requested time limit is invalid"
    assert explain_sbatch_error(limit)[0] == "hardware.time_min"
    assert explain_sbatch_error("sbatch: error: something new")[0] == "hardware"
    assert parse_time_min("infinite") is None
    assert parse_time_min("1-02:03:00") == 24 * 60 + 2 * 60 + 3
    assert parse_time_min("30:00") == 30 and parse_time_min("45") == 45


def test_a_physics_revision_enters_the_run_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The open-floor humanoid's physics step changed (envs.EnvInfo.physics_revision 1): its runs
    # get new ids; an env at revision 0 keeps the ids it had before the field existed.
    import dataclasses

    import envs

    config = expand(load_spec(_write(tmp_path, GOOD)))[0].config
    humanoid = config.model_copy(update={"env": config.env.model_copy(update={"id": "humanoid"})})
    ids = {}
    real_info = envs.info
    for revision in (0, 1, 2):

        def info(env_id: str, revision: int = revision) -> envs.EnvInfo:
            return dataclasses.replace(real_info(env_id), physics_revision=revision)

        monkeypatch.setattr(envs, "info", info)
        ids[revision] = run_id(humanoid)
        assert run_id(config) == expand(load_spec(_write(tmp_path, GOOD)))[0].run_id
    monkeypatch.undo()
    assert len(set(ids.values())) == 3
    assert run_id(humanoid) == ids[1]
