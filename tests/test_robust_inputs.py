"""Bad input and a hostile disk: each is one clear line, the right exit code, and nothing lost.

- A full disk mid-run (a small tmpfs): the run is recorded ``failed`` with the path and the
  cause, no traceback is printed, no temporary file is left, finished files stay.
- A results path that cannot be written (a read-only tmpfs, a file): exit 2 before anything
  runs, one line naming the path and the cause.
- Spec edge cases: an empty file, a name that is not a plain folder name, a sweep beyond
  :data:`harness.spec.MAX_RUNS`, duplicate seeds; a 10^4-run plan works.
- Offline datasets that are not npz files or lack keys: exit 2 naming the file.

Real files and real processes; every subprocess has a timeout. The tmpfs cases need to mount
one (root, a kernel that allows it) and are skipped with the reason otherwise.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from harness.cli import main
from harness.spec import MAX_RUNS

#: A run that compiles and evaluates in seconds; its first checkpoint (after the first
#: evaluation) is the biggest file it writes.
TINY = """
name: tiny
env: {id: point_u_maze, episode_length: 50}
network: {critic_depth: 4, actor_depth: 4, width: 16, repr_dim: 8}
algo: {batch_size: 32}
data: {num_envs: 4, unroll_length: 10, total_env_steps: 1e3, replay_size_per_env: 100,
       min_replay_per_env: 10}
eval: {num_envs: 4, num_evals: 2}
seeds: [0]
"""

#: Dataset keys of OGBench's format.
KEYS = ("observations", "actions", "terminals")


def _harness(*args: str, timeout: float = 180.0) -> subprocess.CompletedProcess[str]:
    """``harness ARGS`` in a fresh process (CPU, the session's compilation cache)."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


@contextlib.contextmanager
def _tmpfs(path: Path, options: str) -> Iterator[Path]:
    """Mount a tmpfs at ``path`` for the block; skip the test when mounting is not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot mount a tmpfs here ({exc}); the disk cases need one")
    if mounted.returncode != 0:
        reason = mounted.stderr.strip() or f"mount exited {mounted.returncode}"
        pytest.skip(f"cannot mount a tmpfs here ({reason}); the disk cases need one (root)")
    try:
        yield path
    finally:
        done = subprocess.run(["umount", str(path)], capture_output=True, timeout=30, check=False)
        if done.returncode != 0:
            subprocess.run(
                ["umount", "-l", str(path)], capture_output=True, timeout=30, check=False
            )


#: A busy loop for one CPU, for at most 120 s.
HOG = "import time\nend = time.monotonic() + 120\nwhile time.monotonic() < end:\n    pass\n"


@contextlib.contextmanager
def _cpu_hog_from(folder: Path, pattern: str) -> Iterator[None]:
    """Keep every CPU busy (two busy processes per CPU) from the moment a file matching
    ``pattern`` appears under ``folder`` until the block ends: the full-disk failure then
    happens on a loaded machine, where orbax's threads log their errors late (issue 27: once
    after the save had raised). The watcher is a thread; the hogs are killed by their pids."""
    import threading
    import time

    hogs: list[subprocess.Popen[bytes]] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if folder.is_dir() and next(folder.glob(pattern), None) is not None:
                for _ in range(2 * (os.cpu_count() or 1)):
                    hogs.append(subprocess.Popen([sys.executable, "-c", HOG]))
                return
            time.sleep(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join(timeout=10)
        for hog in hogs:
            hog.kill()
            hog.wait(timeout=30)


def _fill(folder: Path, leave: int) -> None:
    """Fill the file system of ``folder`` up to ``leave`` free bytes with one file."""
    stat = os.statvfs(folder)
    free = stat.f_bavail * stat.f_frsize
    with open(folder / "filler", "wb") as handle:
        handle.write(b"\0" * max(0, free - leave))


def _leftovers(folder: Path) -> list[Path]:
    return [*folder.rglob("*orbax-checkpoint-tmp*"), *folder.rglob(".*.tmp")]


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


# ------------------------------------------------------------------------------------------
# A full disk


@pytest.mark.parametrize(
    ("size", "leave", "fails"),
    [
        # .ci/run runs this one after the default suite (about a minute of CPU)
        pytest.param("3m", 48 * 1024, ("checkpoint",), marks=pytest.mark.slow),
        ("12k", None, ("run.json", "metrics.parquet")),
    ],
    ids=["3MB-checkpoint-fails", "12KB-record-or-metrics-fails"],
)
def test_full_disk_fails_the_run_in_one_line(
    tmp_path: Path, size: str, leave: int | None, fails: tuple[str, ...]
) -> None:
    """3 MB, nearly all taken: the first checkpoint (after the first evaluation) does not fit.
    12 KB (three pages): config.json fits, then the full run record or the first
    metrics.parquet does not (which one depends on the length of the paths in config.json),
    and the failed record only fits over the old run.json. The checkpoint fails under a CPU
    hog started with the first evaluation, so the one-line promise is tested on a loaded
    machine, where orbax's threads log late."""
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    with _tmpfs(tmp_path / "disk", f"size={size}") as disk:
        if leave is not None:
            _fill(disk, leave)
        results = disk / "results"
        hog = _cpu_hog_from(results / "tiny", "*/metrics.parquet")  # checkpoint is next
        with hog if leave is not None else contextlib.nullcontext():
            done = _harness("run", str(spec), "--results", str(results))
        err = done.stderr
        assert done.returncode == 1, err
        assert "Traceback" not in err and "orbax" not in err.lower().replace(
            "orbax-checkpoint", ""
        ), err
        assert len(_lines(err)) < 15, err
        failed = [line for line in _lines(err) if line.startswith("failed: ")]
        assert len(failed) == 1 and "No space left on device" in failed[0], err
        (run_dir,) = [p for p in (results / "tiny").iterdir() if p.is_dir()]
        assert any(
            f"cannot write {run_dir / name}: No space left on device" in failed[0] for name in fails
        ), err
        record = json.loads((run_dir / "run.json").read_text())
        assert record["status"] == "failed", record
        assert "No space left on device" in record["error"]["message"]
        assert not _leftovers(results), _leftovers(results)
        # Nothing finished is lost: the spec's config and the first evaluation stay.
        assert json.loads((run_dir / "config.json").read_text())["run_id"] == run_dir.name
        if leave is not None:
            assert (run_dir / "metrics.parquet").is_file()


# ------------------------------------------------------------------------------------------
# Results folders that cannot be written


def test_results_path_that_is_a_file_is_bad_input(tmp_path: Path) -> None:
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    blocker = tmp_path / "results"
    blocker.write_text("not a folder\n")
    done = _harness("run", str(spec), "--results", str(blocker), timeout=120)
    assert done.returncode == 2, done.stderr
    assert _lines(done.stderr) == [
        f"results: cannot write {blocker / 'tiny'}: {blocker} is a file, not a folder"
    ]
    assert blocker.read_text() == "not a folder\n"


@pytest.mark.parametrize(
    ("options", "cause"),
    [("size=1m,ro", "Read-only file system"), ("size=64k", "No space left on device")],
    ids=["read-only", "full"],
)
def test_unwritable_results_folder_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: str, cause: str
) -> None:
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    with _tmpfs(tmp_path / "disk", options) as folder:
        if "ro" not in options.split(","):
            _fill(folder, 0)
        before = sorted(folder.iterdir())
        assert main(["run", str(spec), "--results", str(folder / "results")]) == 2
        err = capsys.readouterr().err
        assert _lines(err) == [f"results: cannot write {folder / 'results' / 'tiny'}: {cause}"]
        assert sorted(folder.iterdir()) == before  # the probe's folders are gone again


# ------------------------------------------------------------------------------------------
# Spec edge cases


def _problems(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, name: str) -> str:
    """`harness validate` and `harness run` on a spec: exit 2, no traceback, nothing written."""
    spec = tmp_path / name
    spec.write_text(text)
    assert main(["validate", str(spec)]) == 2
    err = capsys.readouterr().err
    results = tmp_path / "results"
    assert main(["run", str(spec), "--results", str(results)]) == 2
    assert capsys.readouterr().err == err
    assert "Traceback" not in err and not results.exists()
    return err


@pytest.mark.parametrize("text", ["", "   \n\t\n", "# only a comment\n\n# another\n", "{}\n"])
def test_empty_spec_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    err = _problems(tmp_path, capsys, text, "empty.yaml")
    assert _lines(err) == [f"{tmp_path / 'empty.yaml'}: the spec is empty"]


@pytest.mark.parametrize(
    ("line", "file"),
    [
        ("name: '..'\n", "s.yaml"),
        ("name: .\n", "s.yaml"),
        ("name: a/b\n", "s.yaml"),
        ("", "..yaml"),
    ],
)
def test_name_must_be_a_plain_folder_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, file: str
) -> None:
    err = _problems(tmp_path, capsys, line + TINY.replace("name: tiny\n", ""), file)
    assert f"{tmp_path / file}: name: " in err


def test_duplicate_seeds_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _problems(
        tmp_path, capsys, TINY.replace("seeds: [0]", "seeds: [0, 1, 0, 2, 1]"), "s.yaml"
    )
    assert _lines(err) == [
        f"{tmp_path / 's.yaml'}: seeds: seeds 0, 1 listed more than once; each seed is one "
        "run: list it once"
    ]


def test_sweep_beyond_the_limit_is_refused_before_expanding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 10^6 runs: refused at once (expanding them took minutes and gigabytes).
    axis = list(range(1, 101))
    sweep = (
        f"sweep:\n  algo.batch_size: {axis}\n  network.repr_dim: {axis}\n"
        f"  data.unroll_length: {axis}\n"
    )
    err = _problems(tmp_path, capsys, TINY + sweep, "huge.yaml")
    assert _lines(err) == [
        f"{tmp_path / 'huge.yaml'}: sweep: 1,000,000 runs (100 x 100 x 100 sweep points x 1 "
        f"seed); a spec may hold at most {MAX_RUNS:,}: split it into several specs"
    ]


def test_a_plan_of_ten_thousand_runs_works(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    axis = list(range(1, 101))
    spec = tmp_path / "big.yaml"
    spec.write_text(
        TINY.replace("seeds: [0]", f"seeds: {list(range(10))}")
        + f"sweep:\n  algo.batch_size: {axis}\n  network.repr_dim: {axis[:10]}\n"
    )
    assert main(["plan", str(spec), "--json", "--results", str(tmp_path / "results")]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 10_000 and len({r["run_id"] for r in rows}) == 10_000
    assert {r["status"] for r in rows} == {"pending"}
    assert not (tmp_path / "results").exists()


# ------------------------------------------------------------------------------------------
# Offline datasets that are not datasets

OFFLINE = """
name: tiny_offline
network: {{critic_depth: 4, actor_depth: 4, width: 16, repr_dim: 8}}
algo: {{batch_size: 32}}
data: {{mode: offline, dataset: pointmaze-medium-navigate-v0, dataset_dir: {dir}, grad_steps: 200}}
eval: {{num_evals: 2, last_k: 2, episodes_per_task: 1}}
"""


def _dataset(n: int = 20) -> dict[str, np.ndarray]:
    terminals = np.zeros(n, bool)
    terminals[n // 2 - 1] = terminals[-1] = True
    return {
        "observations": np.random.default_rng(0).normal(size=(n, 2)).astype(np.float32),
        "actions": np.zeros((n, 2), np.float32),
        "terminals": terminals,
    }


def _offline_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str], train: Path) -> str:
    data = train.parent
    np.savez(data / "pointmaze-medium-navigate-v0-val.npz", **_dataset())  # type: ignore[arg-type]
    spec = tmp_path / "offline.yaml"
    spec.write_text(OFFLINE.format(dir=data))
    results = tmp_path / "results"
    assert main(["run", str(spec), "--results", str(results)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and not results.exists()
    (line,) = _lines(err)
    assert line.startswith(f"{spec}: data.dataset: {train}: ")
    return line


def test_corrupt_npz_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "data").mkdir()
    train = tmp_path / "data" / "pointmaze-medium-navigate-v0.npz"
    train.write_bytes(b"<html>502 Bad Gateway</html>\n")  # what a broken download leaves
    line = _offline_problem(tmp_path, capsys, train)
    assert "not an npz file (not a zip archive" in line and "allow_pickle" not in line
    assert "expected keys observations, actions, terminals" in line
    # Cut short (an interrupted copy): the same.
    whole = tmp_path / "whole.npz"
    np.savez_compressed(whole, **_dataset(2000))  # type: ignore[arg-type]
    train.write_bytes(whole.read_bytes()[:4000])
    assert "not an npz file" in _offline_problem(tmp_path, capsys, train)


def test_npz_with_the_wrong_keys_names_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "data").mkdir()
    train = tmp_path / "data" / "pointmaze-medium-navigate-v0.npz"
    arrays = _dataset()
    np.savez(train, obs=arrays["observations"], actions=arrays["actions"])
    line = _offline_problem(tmp_path, capsys, train)
    assert line.endswith(
        "missing keys observations, terminals; expected keys observations, actions, terminals "
        "(OGBench's format); the file has actions, obs"
    )
    # Right keys, wrong shapes.
    np.savez(train, **{**arrays, "terminals": arrays["terminals"][:, None]})  # type: ignore[arg-type]
    assert _offline_problem(tmp_path, capsys, train).endswith(
        "terminals has shape [20, 1]; expected [N]"
    )
    np.savez(train, **{**arrays, "actions": arrays["actions"][:5]})  # type: ignore[arg-type]
    assert _offline_problem(tmp_path, capsys, train).endswith(
        "arrays of different lengths: observations 20, actions 5, terminals 20"
    )
