"""Video of a recorded episode (issue 29): ``harness render RUN --episode K --out FILE.gif``.

A run folder keeps only the root positions of its recorded episodes (``episodes.parquet``,
:mod:`harness.behaviour`); the full state of every step is made again here: the run's final
policy (``params/``) is rolled out on the same key (:func:`harness.behaviour.record_key`), the
same deterministic program that recorded the episodes, and each step's joint positions are
drawn with MuJoCo's offscreen renderer (``mujoco.Renderer``) and written with imageio.

MuJoCo renders headless through EGL (a GPU driver, or Mesa's) or OSMesa (software), chosen by
``MUJOCO_GL`` before ``mujoco`` is imported. The harness imports ``mujoco`` at start-up (the
physics), so :func:`gl_backend` probes each backend in a child process and the frames are drawn
in another child (``python -m harness.render``) with the backend that works.

Formats: ``.gif`` (imageio with Pillow, both pinned in requirements/lock-dev.txt); ``.mp4``
needs an ffmpeg plugin for imageio that the lock does not pin (``pip install imageio-ffmpeg``).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

BACKENDS = ("egl", "osmesa")
"""Headless OpenGL backends of MuJoCo, tried in this order unless ``MUJOCO_GL`` names one."""
PROBE = (
    "import mujoco\n"
    'm = mujoco.MjModel.from_xml_string(\'<mujoco><worldbody><geom size="1"/></worldbody>'
    "</mujoco>')\n"
    "r = mujoco.Renderer(m, 16, 16)\n"
    "r.update_scene(mujoco.MjData(m))\n"
    "r.render()\n"
)
"""What a backend must do: make a 16 x 16 offscreen context and render a sphere."""
PROBE_TIMEOUT_S = 120
RENDER_TIMEOUT_S = 3600
INSTALL_HINT = (
    "install one: EGL (apt-get install libegl1 libgl1, with the GPU's driver or Mesa) and "
    "MUJOCO_GL=egl, or OSMesa (apt-get install libosmesa6) and MUJOCO_GL=osmesa"
)


class RenderError(Exception):
    """Rendering cannot start: no GL backend, an unknown format, a run without episodes."""


def gl_backend(candidates: tuple[str, ...] | None = None) -> str:
    """The first headless GL backend that renders (probed in a child process each).

    Args:
        candidates: backends to try; default ``MUJOCO_GL`` when set, else :data:`BACKENDS`.

    Raises:
        RenderError: none works; the message names each backend tried and why it failed.
    """
    if candidates is None:
        chosen = os.environ.get("MUJOCO_GL")
        candidates = (chosen,) if chosen else BACKENDS
    reasons = []
    for backend in candidates:
        env = {**os.environ, "MUJOCO_GL": backend, "PYOPENGL_PLATFORM": backend}
        try:
            done = subprocess.run(
                [sys.executable, "-c", PROBE],
                env=env,
                capture_output=True,
                text=True,
                timeout=PROBE_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            reasons.append(f"MUJOCO_GL={backend}: no answer within {PROBE_TIMEOUT_S} s")
            continue
        if done.returncode == 0:
            return backend
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        reasons.append(f"MUJOCO_GL={backend}: {lines[-1] if lines else 'failed'}")
    raise RenderError(
        "no OpenGL backend for MuJoCo's offscreen renderer ("
        + "; ".join(reasons)
        + f"); {INSTALL_HINT}"
    )


def check_output(out: Path) -> None:
    """Refuse a video format that cannot be written here.

    Raises:
        RenderError: a suffix other than ``.gif`` / ``.mp4``, or ``.mp4`` without an
            ffmpeg plugin for imageio.
    """
    suffix = out.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise RenderError(f"--out {out}: write a .gif or an .mp4")
    if suffix == ".mp4" and not any(importlib.util.find_spec(m) for m in ("imageio_ffmpeg", "av")):
        raise RenderError(
            f"--out {out}: writing .mp4 needs imageio's ffmpeg plugin, which "
            "requirements/lock-dev.txt does not pin (pip install imageio-ffmpeg); "
            "write a .gif instead"
        )


def render_run(
    run_dir: Path, episode: int, out: Path, width: int = 480, height: int = 360
) -> subprocess.CompletedProcess[str]:
    """Render episode ``episode`` of a run into ``out``, in a child process with the GL
    backend of :func:`gl_backend`.

    Raises:
        RenderError: no GL backend, a bad format, or a run that cannot be rendered (no
            ``episodes.parquet`` or ``params/``, ``episode`` out of range).
    """
    from harness.behaviour import EPISODES_FILE, read_episodes

    check_output(out)
    run_dir = Path(run_dir)
    for needed in (run_dir / "config.json", run_dir / "params", run_dir / EPISODES_FILE):
        if not needed.exists():
            raise RenderError(
                f"{run_dir}: no {needed.name}; render needs a completed run that recorded "
                "episodes (eval.record_episodes > 0)"
            )
    table, _ = read_episodes(run_dir / EPISODES_FILE)
    count = len(set(table.column("episode").to_pylist()))
    if not 0 <= episode < count:
        raise RenderError(f"--episode {episode}: the run recorded episodes 0..{count - 1}")
    backend = gl_backend()
    env = {**os.environ, "MUJOCO_GL": backend, "PYOPENGL_PLATFORM": backend}
    command = [sys.executable, "-m", "harness.render", str(run_dir), str(episode), str(out)]
    command += ["--width", str(width), "--height", str(height)]
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=RENDER_TIMEOUT_S
    )


def _frames(run_dir: Path, episode: int, width: int, height: int) -> tuple[list[Any], float]:
    """Frames ``[height, width, 3]`` uint8 of the episode and its frames per second."""
    import json

    import jax
    import jax.numpy as jnp
    import mujoco
    import orbax.checkpoint as ocp

    from harness import behaviour
    from harness.spec import RunConfig
    from harness.train import Trainer

    config = json.loads((run_dir / "config.json").read_text())["config"]
    cfg = RunConfig.model_validate(config)
    trainer = Trainer(cfg)
    with ocp.StandardCheckpointer() as checkpointer:
        params = checkpointer.restore((run_dir / "params").resolve())
    table, _ = behaviour.read_episodes(run_dir / behaviour.EPISODES_FILE)
    n = int(max(table.column("episode").to_pylist())) + 1
    rollout = jax.jit(
        lambda p: trainer._rollout(p, behaviour.record_key(), jnp.asarray(False), n, True),
        compiler_options=trainer.compiler_options,
    )
    first, steps, _, _, alive = jax.device_get(rollout(params["actor_params"]))
    q = np.concatenate([first["q"][None], steps["q"]], axis=0)[:, episode]  # [T + 1, nq]
    live = np.concatenate([[1.0], alive[:, episode]]) > 0
    model = trainer.eval_env.sys.mj_model
    data = mujoco.MjData(model)
    renderer = mujoco.Renderer(model, height, width)
    camera = mujoco.MjvCamera()
    maze = getattr(trainer.eval_env, "maze", None)
    if maze is not None:  # the whole maze from above, tilted a little
        rows, cols = maze.shape
        camera.lookat[:] = [(rows - 1) * maze.cell_size / 2, (cols - 1) * maze.cell_size / 2, 0]
        camera.distance = 1.1 * max(rows, cols) * maze.cell_size
        camera.elevation, camera.azimuth = -70.0, 90.0
    frames = []
    for t in range(len(q)):
        if not live[t]:
            break
        data.qpos[:] = q[t]
        mujoco.mj_forward(model, data)
        if maze is None:  # follow the robot
            camera.lookat[:] = data.xpos[1]
            camera.distance, camera.elevation, camera.azimuth = 4.0, -25.0, 90.0
        renderer.update_scene(data, camera)
        frames.append(renderer.render().copy())
    return frames, 1.0 / float(trainer.eval_env.dt)


def main(argv: list[str] | None = None) -> int:
    """The child process of :func:`render_run` (``MUJOCO_GL`` set by the parent)."""
    parser = argparse.ArgumentParser(prog="python -m harness.render")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("episode", type=int)
    parser.add_argument("out", type=Path)
    parser.add_argument("--width", type=int, default=480)
    parser.add_argument("--height", type=int, default=360)
    args = parser.parse_args(argv)
    import imageio.v3 as iio

    frames, fps = _frames(args.run_dir, args.episode, args.width, args.height)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out.suffix.lower() == ".gif":
        iio.imwrite(args.out, np.stack(frames), duration=1000.0 / fps, loop=0)
    else:
        iio.imwrite(args.out, np.stack(frames), fps=fps)
    print(f"wrote {args.out}: {len(frames)} frames at {fps:g} frames/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
