"""The ``env``, ``network``, ``data``, ``eval``, ``hardware`` and ``logging`` sections of a spec."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from harness import blocks
from harness.spec.fields import NonNegativeInt, PositiveInt, _depth, _parse_float, _Section
from harness.spec.ogbench import DatasetError, ogbench_env_name


class EnvSpec(_Section):
    """Which goal-conditioned environment to train and evaluate on."""

    id: str = Field(
        "point_u_maze",
        description="Environment id from `harness envs` (e.g. point_u_maze, ant, ant_u_maze).",
    )
    episode_length: PositiveInt | None = Field(
        None,
        description="Steps per episode for training and evaluation; null = the env's default "
        "(1000 in the paper).",
    )

    eval_id: str | None = Field(
        None,
        description="Environment id for evaluation; null = the training env. Must share the "
        "training env's state, goal and action dimensions (e.g. ant_u_maze_eval, whose goals "
        "lie only in far cells, to evaluate an ant_u_maze run).",
    )
    reset: Literal["fresh", "first"] = Field(
        "fresh",
        description="Training episodes after the first: fresh (a new start and goal drawn at "
        "every reset, the intended behaviour) or first (each training env returns to its own "
        "first reset state, so it keeps one start and goal for the whole run: what brax's "
        "AutoResetWrapper does in the reference code, JaxGCRL issue #53). Evaluation always "
        "draws fresh episodes. See docs/fidelity.md.",
    )
    contacts: Literal["reference", "feet"] = Field(
        "reference",
        description="Contact set of the ant and humanoid models: reference (the reference "
        "code's: in ant mazes the torso, hip capsules and feet hit the walls; every humanoid "
        "geom touches floor and walls) or feet (brax's bundled models: only the feet touch "
        "floor and walls). Only for envs that list it in `harness envs --json` options.",
    )
    cell_jitter: Annotated[float, BeforeValidator(_parse_float), Field(ge=0)] = Field(
        0.0,
        description="Maze envs: 0 = the reference placement (goals exactly at goal-cell centres, "
        "starts at the start-cell centre plus the robot's reset noise: U(-0.1, 0.1) m for the "
        "ant, none for humanoid and point); j > 0 offsets start and goal uniformly by up to j metres along x and y "
        "(this harness's earlier default: 0.5 ant and point, 0.25 humanoid).",
    )
    goal_max_cells: PositiveInt | None = Field(
        None,
        description="Maze envs, the stitching experiment: train with goals only in the goal "
        "cells at most this many cells (shortest path through the maze) from the start; null = "
        "every goal cell. Applies to the training env only: the eval env (eval_id, e.g. "
        "point_big_maze_eval, whose goals are far) keeps all its goals. With eval_id null the "
        "training env, cap included, is evaluated. See docs/depth_on_cpu.md (Stitching).",
    )

    @field_validator("id", "eval_id")
    @classmethod
    def _known_env(cls, value: str | None) -> str | None:
        import envs

        known = envs.list_envs()
        if value is not None and value not in known:
            raise ValueError(f"unknown env id {value!r}; known ids: {', '.join(known)}")
        return value

    @model_validator(mode="after")
    def _compatible_eval_env(self) -> EnvSpec:
        import envs

        if self.eval_id is None:
            return self
        train, evaluation = envs.info(self.id), envs.info(self.eval_id)
        for name in ("state_dim", "goal_indices", "action_dim"):
            if getattr(train, name) != getattr(evaluation, name):
                raise ValueError(
                    f"eval_id {self.eval_id!r} has {name} {getattr(evaluation, name)} but the "
                    f"training env {self.id!r} has {getattr(train, name)}; the policy cannot "
                    "run on it"
                )
        return self

    @model_validator(mode="after")
    def _options_apply(self) -> EnvSpec:
        import envs

        asked = {"contacts": self.contacts != "reference", "cell_jitter": self.cell_jitter > 0}
        for env_id in dict.fromkeys((self.id, self.resolved_eval_id)):
            info = envs.info(env_id)
            options = dict(asked)
            if env_id == self.id:  # the goal cap is the training env's only (make_options)
                options["goal_max_cells"] = self.goal_max_cells is not None
            for option, changed in options.items():
                if changed and option not in info.options:
                    value = getattr(self, option)
                    raise ValueError(
                        f"{option}={value!r} does not apply to env {env_id!r} (its options: "
                        f"{', '.join(info.options) or 'none'})"
                    )
            limit = info.max_cell_jitter
            if limit is not None and self.cell_jitter > limit:
                raise ValueError(
                    f"cell_jitter={self.cell_jitter:g} would put starts of {env_id!r} into a wall: "
                    f"at most {limit:g} m (half a cell minus the robot's reach)"
                )
        if self.goal_max_cells is not None:
            envs.goal_layout(self.id, self.goal_max_cells)  # ValueError: no goal within the cap
        return self

    @property
    def resolved_eval_id(self) -> str:
        """The env evaluated on: ``eval_id``, else ``id``."""
        return self.eval_id or self.id

    def make_options(self, evaluation: bool = False) -> dict[str, Any]:
        """Keyword options for ``envs.make`` of the training env, or with ``evaluation`` of the
        env evaluated on (``envs.make(resolved_eval_id, **make_options(evaluation=True))``).

        Both get the contact set and the maze placement (``envs.make`` accepts them, at their
        defaults, for every env). ``goal_max_cells`` (the stitching experiment's goal cap) is
        the training env's: an evaluation env named by ``eval_id`` is built without it, so it
        keeps its far goals; with ``eval_id`` null the training env, cap included, is the one
        evaluated.
        """
        options: dict[str, Any] = {"contacts": self.contacts, "cell_jitter": self.cell_jitter}
        if not (evaluation and self.eval_id is not None):
            options["goal_max_cells"] = self.goal_max_cells
        return options


class NetworkSpec(_Section):
    """Residual MLP encoders and actor (Wang et al. 2025, Fig. 2 and Sec. 4)."""

    critic_depth: PositiveInt = Field(
        4,
        description="Dense layers inside the residual blocks of each critic encoder, phi(s, a) "
        "and psi(g); a multiple of 4. Input and output layers are not counted.",
    )
    actor_depth: PositiveInt = Field(
        4,
        description="Dense layers inside the residual blocks of the actor; a multiple of 4. The "
        "paper's 1024-layer runs used a 512-layer actor.",
    )
    width: PositiveInt = Field(
        256,
        description="Hidden width of the critic encoders (and of the "
        "actor unless actor_width is set).",
    )
    actor_width: PositiveInt | None = Field(
        None, description="Hidden width of the actor; null = same as width."
    )
    repr_dim: PositiveInt = Field(64, description="Dimension of phi(s, a) and psi(g).")
    activation: Literal["swish", "relu", "gelu", "tanh"] = Field(
        "swish", description="Hidden activation; the paper uses swish (ReLU is an ablation)."
    )
    layer_norm: bool = Field(True, description="LayerNorm after every hidden Dense layer.")
    residual: bool = Field(
        True, description="Skip connection around every block of 4 layers (ablation: false)."
    )
    remat: bool = Field(
        False,
        description="Rematerialise each residual block on the backward pass (less memory, "
        "about one more forward pass of compute).",
    )
    scan: bool = Field(
        True,
        description="Apply the residual blocks with lax.scan over stacked parameters (compile "
        "time flat in depth); false unrolls them as the reference implementation does.",
    )
    dtype: Literal["float32", "bfloat16"] = Field(
        "float32",
        description="Compute dtype of Dense layers; parameters and LayerNorm statistics stay "
        "float32.",
    )
    block: str = Field(
        blocks.DEFAULT,
        description="The residual block (harness.blocks): residual (the paper's, Wang et al. "
        "2025 Fig. 2), rezero (the paper's block with a learnable residual gain initialised "
        "at 0, Bachlechner et al. 2020) or simbav2 (hyperspherical normalisation of weights "
        "and features, Lee et al. 2025; 2 Dense layers per block; layer_norm not used). Not "
        "part of the run id when residual. docs/extending.md.",
        json_schema_extra={"enum": list(blocks.NAMES)},
    )

    @field_validator("critic_depth")
    @classmethod
    def _critic_depth(cls, value: int) -> int:
        return _depth(value, "critic_depth")

    @field_validator("block")
    @classmethod
    def _block(cls, value: str) -> str:
        if value not in blocks.NAMES:
            raise ValueError(f"unknown block {value!r}; one of {', '.join(blocks.NAMES)}")
        return value

    @model_validator(mode="after")
    def _residual_is_the_papers_ablation(self) -> NetworkSpec:
        if not self.residual and self.block != blocks.DEFAULT:
            raise ValueError(
                f"residual: false is the ablation of the {blocks.DEFAULT} block; block "
                f"{self.block!r} has its own connection (leave residual: true)"
            )
        return self

    @field_validator("actor_depth")
    @classmethod
    def _actor_depth(cls, value: int) -> int:
        return _depth(value, "actor_depth")

    @property
    def resolved_actor_width(self) -> int:
        return self.actor_width if self.actor_width is not None else self.width


class DataSpec(_Section):
    """Where transitions come from. Online: parallel Brax envs filling an on-device replay.
    Offline: a fixed dataset in OGBench's format (Park et al. 2024, arXiv 2410.20092), either an
    OGBench dataset or one exported from an online run (`harness data export`). Fields of the
    other mode are ignored, so one section serves a sweep over ``mode``."""

    mode: Literal["online", "offline"] = Field(
        "online",
        description="online (Brax envs fill a replay) or offline (a fixed dataset: see "
        "source, dataset).",
    )
    num_envs: PositiveInt = Field(512, description="Parallel training environments.")
    unroll_length: PositiveInt = Field(62, description="Env steps per env per training iteration.")
    total_env_steps: PositiveInt = Field(
        100_000_000, description="Env steps of the whole run (paper: 100M to 400M)."
    )
    replay_size_per_env: PositiveInt = Field(
        10_000, description="Replay capacity per environment, in steps (oldest overwritten)."
    )
    min_replay_per_env: PositiveInt = Field(
        1_000, description="Steps per env collected (see prefill) before training starts."
    )
    prefill: Literal["actor", "uniform"] = Field(
        "actor",
        description="Online: actions of the steps collected before training: actor (the freshly "
        "initialised stochastic actor, as the reference code: a deep actor at init is nearly "
        "saturated) or uniform (uniform random actions in [-1, 1]).",
    )
    sampler: Literal["window", "iid"] = Field(
        "window",
        description="Online, geometric relabelling (crl, gcbc): the law of (state, action, "
        "goal) of a minibatch row. window (the reference code's: a window of episode_length "
        "steps at a uniform start, the goal a later step of the same window and trajectory, "
        "so goals are cut at the window's end too) or iid (a step uniform over the whole "
        "replay, the goal a later step of its trajectory: farther goals; the harness's former "
        "sampler). docs/fidelity.md row 12.",
    )

    save_replay: bool | None = Field(
        None,
        description="Online: at the end of the run, write the trajectories of the final "
        "replay (the last replay_size_per_env steps of every env) to replay.npz in the run "
        "folder, for `harness data export`; null = false.",
    )
    # --- Offline (mode: offline); null leaves a field out of the run id.
    source: Literal["ogbench", "brax"] | None = Field(
        None,
        description="Offline: ogbench (an OGBench dataset, evaluated on its OGBench env's 5 "
        "tasks) or brax (exported from an online run by `harness data export`, evaluated "
        "on env.id like an online run); null = ogbench.",
    )
    dataset: str | None = Field(
        None,
        description="Offline: dataset name, e.g. pointmaze-medium-navigate-v0 (OGBench) or "
        "the name given to `harness data export`; files <dataset>.npz and <dataset>-val.npz.",
    )
    dataset_dir: str | None = Field(
        None,
        description="Offline: folder holding <dataset>.npz and <dataset>-val.npz; null = "
        "~/.ogbench/data (OGBench's default; missing OGBench files are downloaded there). "
        "Not part of the run id.",
    )
    dataset_path: str | None = Field(
        None,
        description="Offline: path of the training .npz (the validation file is the same "
        "path with -val.npz, OGBench's rule); overrides dataset_dir. Not part of the run id.",
    )
    grad_steps: PositiveInt | None = Field(
        None, description="Offline: gradient steps of the whole run; null = 1M (OGBench)."
    )

    @property
    def resolved_source(self) -> str | None:
        """``ogbench`` or ``brax`` for offline data; None online."""
        return (self.source or "ogbench") if self.mode == "offline" else None

    @model_validator(mode="after")
    def _modes(self) -> DataSpec:
        # Fields of the other mode are ignored, so one data section can serve a sweep over
        # data.mode (the same depth sweep online and offline).
        if self.mode == "online":
            return self
        if not self.dataset:
            raise ValueError(
                "mode offline needs a dataset name (e.g. dataset: pointmaze-medium-navigate-v0)"
            )
        if self.dataset_path is not None and not self.dataset_path.endswith(".npz"):
            raise ValueError(f"dataset_path must name a .npz file, got {self.dataset_path!r}")
        if self.resolved_source == "ogbench":
            try:
                ogbench_env_name(self.dataset)
            except DatasetError as exc:
                raise ValueError(str(exc)) from None
        return self

    @model_validator(mode="after")
    def _sizes(self) -> DataSpec:
        if self.min_replay_per_env > self.replay_size_per_env:
            raise ValueError("min_replay_per_env must not exceed replay_size_per_env")
        if self.unroll_length > self.replay_size_per_env:
            raise ValueError("unroll_length must not exceed replay_size_per_env")
        return self


class EvalSpec(_Section):
    """Deterministic-policy evaluation (Wang et al. 2025, Sec. 5)."""

    num_envs: PositiveInt = Field(128, description="Evaluation episodes (one per env).")
    num_evals: PositiveInt = Field(
        100, description="Evaluations per run, evenly spaced in env steps (paper: 100 epochs)."
    )
    last_k: PositiveInt = Field(
        5, description="Final score = mean of the last k evaluations (paper: 5)."
    )
    episodes_per_task: PositiveInt | None = Field(
        None,
        description="Offline OGBench data: episodes per evaluation task (task_id 1..5); null "
        "= 50 (OGBench).",
    )
    record_episodes: NonNegativeInt = Field(
        0,
        le=1024,
        description="Deterministic episodes of the final policy kept in the run folder "
        "(episodes.parquet: root position and orientation per step; the arm's cube and "
        "gripper), on the same starts and goals for every run of the env (issue 29; "
        "docs/results.md). 0 = none. Online runs only (offline runs record none).",
    )


class HardwareSpec(_Section):
    """Where runs execute. Not part of a run's identity."""

    executor: Literal["local", "slurm"] = Field("local", description="local or slurm (submitit).")
    gpus: NonNegativeInt = Field(1, description="GPUs per run (Slurm).")
    cpus: PositiveInt = Field(8, description="CPUs per run (Slurm).")
    partition: str | None = Field(None, description="Slurm partition.")
    account: str | None = Field(None, description="Slurm account.")
    qos: str | None = Field(None, description="Slurm QOS.")
    constraint: str | None = Field(None, description="Slurm node constraint (e.g. a100).")
    time_min: PositiveInt = Field(24 * 60, description="Slurm time limit per job, minutes.")
    array_parallelism: PositiveInt = Field(
        64, description="At most this many array tasks of a sweep run at once."
    )
    max_requeues: NonNegativeInt = Field(
        10, description="How often a job may requeue itself at its time limit or preemption."
    )
    signal_delay_s: PositiveInt = Field(
        120,
        description="Slurm signals the job this many seconds before its time limit, "
        "leaving time to write a checkpoint.",
    )
    setup: list[str] = Field(
        default_factory=list,
        description="Shell lines run in the job before training (e.g. module load cuda).",
    )
    sbatch_extra: dict[str, str | int] = Field(
        default_factory=dict,
        description="Extra sbatch options, name -> value (e.g. {reservation: foo}).",
    )
    mem_gb: PositiveInt = Field(64, description="Host memory per job, GB.")
    seed_group: PositiveInt = Field(
        1,
        description="Train up to this many runs that differ only in their seed together, "
        "vmapped in one program (harness.seeds): each keeps its run folder, run id and key "
        "stream as if run alone. 1 = one run at a time. Online runs only (offline runs train "
        "one by one). See docs/seed_groups.md.",
    )
    device_memory_gb: Annotated[float, BeforeValidator(_parse_float), Field(gt=0)] | None = Field(
        None,
        description="Memory of the device a run or seed group trains on, GB: a group whose "
        "expected state (replays, parameters, Adam moments; `harness plan`) does not fit is "
        "refused before it starts. null = no check.",
    )
    stall_timeout_min: Annotated[float, BeforeValidator(_parse_float), Field(ge=0)] = Field(
        60.0,
        description="A run that enters no new phase (iteration, evaluation, checkpoint) for "
        "this many minutes is recorded as failed ('no progress for N s in <phase>') and its "
        "process leaves: `harness run` starts again and goes on with the other runs, a Slurm "
        "task exits. Must exceed the longest compilation; 0 = no watchdog.",
    )
    checkpoint_every_min: Annotated[float, BeforeValidator(_parse_float), Field(ge=0)] = Field(
        30.0,
        description="Checkpoint the full training state (replay included) after an evaluation "
        "when this many minutes passed since the last one; 0 = after every evaluation. A "
        "checkpoint is also written when the job is preempted or reaches its time limit.",
    )
    stop_timeout_s: Annotated[float, BeforeValidator(_parse_float), Field(gt=0)] = Field(
        120.0,
        description="After SIGTERM, Ctrl-C, SIGUSR1 or SIGUSR2, a run finishes its step and "
        "writes a checkpoint; if that takes longer than this many seconds, the process says "
        "so and exits without it (the next run resumes from the previous checkpoint). Keep it "
        "below the time the sender waits before SIGKILL (Slurm's KillWait, docker stop -t).",
    )


#: The optional extra that installs both experiment trackers (``pyproject.toml``).
TRACKING_INSTALL = 'pip install -e ".[tracking]"'


def _installed(module: str) -> bool:
    """Whether ``module`` can be imported here, without importing it (``sys.modules[name] =
    None`` counts as absent, as ``import`` treats it)."""
    import importlib.util
    import sys

    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


class WandbSpec(_Section):
    """Where a spec's runs log to Weights & Biases (one W&B run per harness run)."""

    project: str = Field("deep-crl-harness", description="W&B project.")
    entity: str | None = Field(None, description="W&B entity (user or team); null = yours.")
    group: str | None = Field(
        None, description="W&B group of the spec's runs; null = the spec's name."
    )
    tags: list[str] = Field(
        default_factory=list,
        description="Extra tags; every run is also tagged with its env, algo and depths.",
    )
    mode: Literal["online", "offline", "disabled"] = Field(
        "online",
        description="online: stream to the W&B server (needs `wandb login`); offline: write "
        "under <run folder>/wandb/ with no network, upload later with `wandb sync`; disabled: "
        "log nothing.",
    )


class LoggingSpec(_Section):
    """Live experiment tracking. Not part of a run's identity: turning a logger on or off keeps
    the run ids, and a logger failing at run time only warns."""

    tensorboard: bool = Field(
        False,
        description="Write TensorBoard event files under <run folder>/tensorboard/ (open with "
        "`tensorboard --logdir results/<spec>`).",
    )
    wandb: WandbSpec | None = Field(
        None, description="Log to Weights & Biases (null: off; {} for every default)."
    )
    diagnostics: bool = Field(
        True,
        description="Record the depth diagnostics diag/* (gradient norms per network and block, "
        "representation norms and rank, actor saturation; docs/results.md) at every "
        "evaluation: one extra jitted call, and one extra compilation per config. "
        "HARNESS_DIAGNOSTICS=off turns them off for every spec.",
    )

    @field_validator("tensorboard")
    @classmethod
    def _tensorboard_installed(cls, value: bool) -> bool:
        if value and not _installed("tensorboardX"):
            raise ValueError(
                "TensorBoard logging needs the tensorboardX package, which is not installed: "
                f"{TRACKING_INSTALL}"
            )
        return value

    @field_validator("wandb")
    @classmethod
    def _wandb_installed(cls, value: WandbSpec | None) -> WandbSpec | None:
        if value is not None and value.mode != "disabled" and not _installed("wandb"):
            raise ValueError(
                "Weights & Biases logging needs the wandb package, which is not installed: "
                f"{TRACKING_INSTALL}"
            )
        return value
