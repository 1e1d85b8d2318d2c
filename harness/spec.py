"""Spec format: pydantic v2 models for YAML experiment specs.

A spec file describes one experiment: the environment, the actor and critic networks, the
algorithm, the data source, evaluation, seeds, hardware and an optional sweep. Every default
equals the recipe of Wang et al. 2025 ("1000 Layer Networks for Self-Supervised RL",
arXiv 2503.14858; see ``shared/reference/paper.md``), whose training setup comes from JaxGCRL
(Bortkiewicz et al. 2024, arXiv 2408.11052).

Errors are collected and reported as ``FILE: field.path: message`` by :func:`load_spec`, which
raises :class:`SpecError` (never a raw pydantic or YAML error).
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

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
            supported = envs.info(env_id).options
            for option, changed in asked.items():
                if changed and option not in supported:
                    value = getattr(self, option)
                    raise ValueError(
                        f"{option}={value!r} does not apply to env {env_id!r} (its options: "
                        f"{', '.join(supported) or 'none'})"
                    )
        return self

    @property
    def resolved_eval_id(self) -> str:
        """The env evaluated on: ``eval_id``, else ``id``."""
        return self.eval_id or self.id

    def make_options(self) -> dict[str, Any]:
        """Keyword options for ``envs.make`` of the training and the evaluation env: the
        contact set and the maze placement (``envs.make`` accepts both, at their defaults, for
        every env)."""
        return {"contacts": self.contacts, "cell_jitter": self.cell_jitter}


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

    @field_validator("critic_depth")
    @classmethod
    def _critic_depth(cls, value: int) -> int:
        return _depth(value, "critic_depth")

    @field_validator("actor_depth")
    @classmethod
    def _actor_depth(cls, value: int) -> int:
        return _depth(value, "actor_depth")

    @property
    def resolved_actor_width(self) -> int:
        return self.actor_width if self.actor_width is not None else self.width


#: Algorithm names (``algo.name``). The baselines are those of Wang et al. 2025, Fig. 13.
ALGOS = ("crl", "sac", "sac_her", "td3_her", "gcbc", "gcsl")
#: Algorithms trained by TD learning on (s, a, s', g, r) transitions (harness.agents.sac/td3).
TD_ALGOS = ("sac", "sac_her", "td3_her")


class SACSpec(_Section):
    """Soft actor-critic (Haarnoja et al. 2018, arXiv 1801.01290 and 1812.05905) for
    ``algo.name: sac`` and ``sac_her``. Learning rates (3e-4), batch size and the discount
    come from the algo section (``actor_lr``, ``critic_lr``, ``alpha_lr``, ``discount``)."""

    tau: UnitFloat = Field(
        0.005,
        description="Polyak rate of the target critics, target <- (1 - tau) target + tau "
        "online after every gradient step (Haarnoja et al. 2018, Table 1).",
    )
    target_entropy_scale: float = Field(
        -1.0,
        description="Target entropy = target_entropy_scale * action_dim for the temperature "
        "auto-tuning (Haarnoja et al. 2018b, arXiv 1812.05905: -dim(A); Brax and JaxGCRL use "
        "-0.5).",
    )


class TD3Spec(_Section):
    """TD3 (Fujimoto et al. 2018, arXiv 1802.09477) for ``algo.name: td3_her``. Learning rates,
    batch size and the discount come from the algo section."""

    tau: UnitFloat = Field(
        0.005,
        description="Polyak rate of the target actor and critics (Fujimoto et al. 2018, Table 3).",
    )
    policy_delay: PositiveInt = Field(
        2,
        description="Critic updates per actor and target update (Fujimoto et al. 2018, Sec. 5.2).",
    )
    target_noise: Annotated[float, BeforeValidator(_parse_float), Field(ge=0)] = Field(
        0.2,
        description="Std of the Gaussian noise added to the target action (target policy "
        "smoothing; Fujimoto et al. 2018, Sec. 5.3).",
    )
    target_noise_clip: Annotated[float, BeforeValidator(_parse_float), Field(ge=0)] = Field(
        0.5, description="The target noise is clipped to [-c, c] (Fujimoto et al. 2018, Sec. 5.3)."
    )
    exploration_noise: Annotated[float, BeforeValidator(_parse_float), Field(ge=0)] = Field(
        0.1,
        description="Std of the Gaussian noise added to the deterministic action when "
        "collecting data (Fujimoto et al. 2018, Sec. 6.1; JaxGCRL uses 0.4).",
    )


class HERSpec(_Section):
    """Hindsight experience replay (Andrychowicz et al. 2017, arXiv 1707.01495) for
    ``algo.name: sac_her`` and ``td3_her``: the "future" strategy."""

    relabel_prob: Annotated[float, BeforeValidator(_parse_float), Field(ge=0, le=1)] = Field(
        0.8,
        description="Probability that a sampled transition's goal is replaced by the achieved "
        "goal of a later state of the same trajectory, uniform over the stored ones (the "
        "'future' strategy with k = 4 relabelled goals per real one: 1 - 1/(1 + k) = 0.8; "
        "Andrychowicz et al. 2017, Sec. 4.5).",
    )


class GCSLSpec(_Section):
    """Goal-conditioned supervised learning (Ghosh et al. 2019, arXiv 1912.06088) for
    ``algo.name: gcsl``: maximise log pi(a_i | s_i, g) of the agent's own actions, with g the
    achieved goal of a later state of the same trajectory."""

    horizon: PositiveInt | None = Field(
        None,
        description="Relabelled goals are drawn uniformly among the next `horizon` stored steps "
        "of the trajectory; null = all of its later stored steps (Ghosh et al. 2019, Sec. 4: "
        "any future state of the episode).",
    )


class AlgoSpec(_Section):
    """Contrastive RL settings (JaxGCRL defaults, Bortkiewicz et al. 2024; Wang et al. 2025)
    and the baselines of Wang et al. 2025, Fig. 13, each with its own sub-section."""

    name: Literal["crl", "sac", "sac_her", "td3_her", "gcbc", "gcsl"] = Field(
        "crl",
        description="Algorithm: crl (contrastive RL), sac (soft actor-critic on the sparse "
        "goal reward), sac_her and td3_her (with hindsight relabelling), gcbc "
        "(goal-conditioned behaviour cloning with hindsight goals; online on the agent's own "
        "replay, or offline) or gcsl (goal-conditioned supervised learning). All use the "
        "network section's residual networks.",
    )
    batch_size: PositiveInt = Field(
        512,
        description="Minibatch size of each gradient step "
        "(and the number of in-batch negatives + 1).",
    )
    actor_lr: PositiveFloat = Field(3e-4, description="Adam learning rate of the actor.")
    critic_lr: PositiveFloat = Field(3e-4, description="Adam learning rate of the critic.")
    alpha_lr: PositiveFloat = Field(3e-4, description="Adam learning rate of log alpha.")
    discount: UnitFloat = Field(
        0.99,
        description="gamma of the geometric hindsight goal distribution (crl, gcbc): a goal "
        "j > i is drawn with probability proportional to gamma^(j - i); sac, sac_her, td3_her: "
        "the TD discount.",
    )
    energy: Literal["l2", "l2_squared", "dot", "cosine"] = Field(
        "l2", description="Energy f(s, a, g): l2 = -||phi - psi||_2 (the paper's)."
    )
    contrastive_loss: Literal["fwd_infonce", "bwd_infonce", "sym_infonce"] = Field(
        "fwd_infonce",
        description="InfoNCE direction: fwd = softmax over goals for each (s, a) (the paper's).",
    )
    logsumexp_penalty: Annotated[float, BeforeValidator(_parse_float), Field(ge=0)] = Field(
        0.1, description="Coefficient of mean(logsumexp(logits, axis=1)^2)."
    )
    tanh_log_det: Literal["reference", "exact"] = Field(
        "reference",
        description="CRL actor: log-determinant of the tanh squashing in log pi(a|s, g): "
        "reference = log(1 - tanh(u)^2 + 1e-6) as the reference code (caps the correction at "
        "13.8 nats per action dimension when actions saturate, as deep actors' do at init); "
        "exact = 2 (log 2 - u - softplus(-2u)). The baselines use the exact form (brax's, "
        "which JaxGCRL's SAC uses).",
    )
    target_entropy_scale: float = Field(
        -0.5, description="Target entropy = target_entropy_scale * action_dim (SAC auto-tuning)."
    )
    utd: PositiveFloat = Field(
        1 / 40,
        description="Update-to-data ratio: gradient steps per env step (paper: about 1:40).",
    )

    # --- Actor loss and goals for offline training (data.mode: offline). Defaults follow
    # OGBench (Park et al. 2024, arXiv 2410.20092); null leaves a field out of the run id.
    actor_loss: Literal["sac", "ddpg_bc"] | None = Field(
        None,
        description="crl's actor loss: sac (the online CRL actor, alpha * log pi - f with "
        "entropy tuning) or ddpg_bc (OGBench's: -f(s, mu, g) / mean|f| + bc_alpha * BC); "
        "null = sac online, ddpg_bc offline.",
    )
    bc_alpha: Annotated[float, BeforeValidator(_parse_float), Field(ge=0)] | None = Field(
        None,
        description="BC coefficient of crl's ddpg_bc actor loss (OGBench's alpha); null = "
        "OGBench's value for the env: 0.03 point mazes, 0.1 otherwise (ant, humanoid).",
    )
    actor_p_randomgoal: (
        Annotated[float, BeforeValidator(_parse_float), Field(ge=0, lt=1)] | None
    ) = Field(
        None,
        description="Offline: probability that an actor goal is a random dataset state "
        "instead of a future state of the same trajectory; null = 0 (OGBench's default; "
        "its stitch datasets use 0.5).",
    )

    # --- Baseline settings (Wang et al. 2025, Fig. 13); null = the defaults of the section.
    sac: SACSpec | None = Field(
        None, description="sac and sac_her settings (SACSpec); null = the published defaults."
    )
    td3: TD3Spec | None = Field(
        None, description="td3_her settings (TD3Spec); null = the published defaults."
    )
    her: HERSpec | None = Field(
        None,
        description="Hindsight relabelling of sac_her and td3_her (HERSpec); null = the "
        "published defaults.",
    )
    gcsl: GCSLSpec | None = Field(
        None, description="gcsl settings (GCSLSpec); null = the published defaults."
    )

    @model_validator(mode="after")
    def _sections_fit_name(self) -> AlgoSpec:
        owners = {
            "sac": ("sac", "sac_her"),
            "td3": ("td3_her",),
            "her": ("sac_her", "td3_her"),
            "gcsl": ("gcsl",),
            "actor_loss": ("crl",),
            "bc_alpha": ("crl",),
            "actor_p_randomgoal": ("crl", "gcbc"),
        }
        for field, names in owners.items():
            if getattr(self, field) is not None and self.name not in names:
                raise ValueError(
                    f"algo.{field} is set but algo.name is {self.name}; it applies to "
                    f"{' and '.join(names)} only"
                )
        return self

    @property
    def resolved_sac(self) -> SACSpec:
        """``sac``, else the defaults."""
        return self.sac or SACSpec()

    @property
    def resolved_td3(self) -> TD3Spec:
        """``td3``, else the defaults."""
        return self.td3 or TD3Spec()

    @property
    def resolved_her(self) -> HERSpec:
        """``her``, else the defaults."""
        return self.her or HERSpec()

    @property
    def resolved_gcsl(self) -> GCSLSpec:
        """``gcsl``, else the defaults."""
        return self.gcsl or GCSLSpec()


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
            from harness.datasets import DatasetError, ogbench_env_name

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
    checkpoint_every_min: Annotated[float, BeforeValidator(_parse_float), Field(ge=0)] = Field(
        30.0,
        description="Checkpoint the full training state (replay included) after an evaluation "
        "when this many minutes passed since the last one; 0 = after every evaluation. A "
        "checkpoint is also written when the job is preempted or reaches its time limit.",
    )


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
        if self.data.mode == "offline" and self.algo.name not in ("crl", "gcbc"):
            raise ValueError(
                f"algo.name: {self.algo.name} runs online only; offline runs take crl or gcbc"
            )
        return self

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
    sweep: dict[str, list[Any]] = Field(
        default_factory=dict,
        description="Sweep axes: dotted field paths (e.g. network.critic_depth) -> lists of "
        "values; runs are the grid product of all axes times the seeds. Join paths with '+' "
        "to move fields together (network.critic_depth+network.actor_depth: [4, 16, 64]).",
    )

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


class SpecError(Exception):
    """Invalid spec input. ``problems`` holds one ``FILE: field.path: message`` line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def format_errors(source: str, error: ValidationError, prefix: str = "") -> list[str]:
    """Turn a pydantic error into ``FILE: field.path: message`` lines."""
    lines = []
    for item in error.errors():
        loc = ".".join(str(part) for part in item["loc"] if part not in ("",))
        loc = f"{prefix}{loc}" if loc else (prefix.rstrip(".") or "(top level)")
        message = item["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        lines.append(f"{source}: {loc}: {message}")
    return lines


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


def parse_overrides(overrides: Iterable[str], source: str = "--set") -> dict[str, Any]:
    """Parse ``field.path=value`` strings (values read as YAML scalars) into a dict.

    Raises:
        SpecError: an override without ``=`` or with an empty path.
    """
    parsed: dict[str, Any] = {}
    problems = []
    for item in overrides:
        path, sep, raw = item.partition("=")
        path = path.strip()
        if not sep or not path:
            problems.append(f"{source}: {item!r}: expected field.path=value")
            continue
        try:
            parsed[path] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            problems.append(f"{source}: {path}: cannot parse value {raw!r}: {exc}")
    if problems:
        raise SpecError(problems)
    return parsed


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a spec file into a dict.

    Raises:
        SpecError: missing file, unreadable or malformed YAML, or a top level that is not a
            mapping.
    """
    source = str(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SpecError([f"{source}: cannot read file: {exc.strerror or exc}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(yaml)"
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError([f"{source}: {where}: malformed YAML: {problem}"]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(
            [f"{source}: (top level): expected a mapping of sections, got {type(data).__name__}"]
        )
    return data


def load_spec(path: str | Path, overrides: Mapping[str, Any] | None = None) -> Spec:
    """Load, override and validate a spec file, including every run its sweep expands into.

    Args:
        path: YAML spec file.
        overrides: dotted ``field.path -> value`` pairs applied on top of the file (``--set``).
            An override of a swept field pins it: the sweep axis is dropped.

    Returns:
        The validated :class:`Spec` with ``name`` filled in from the file stem when empty.

    Raises:
        SpecError: every problem found, each as ``FILE: field.path: message``.
    """
    path = Path(path)
    source = str(path)
    data = read_yaml(path)
    data = apply_overrides(data, overrides or {}, source)
    data.setdefault("name", path.stem)
    if not data.get("name"):
        data["name"] = path.stem
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(format_errors(source, exc)) from None
    problems = _check_sweep_points(spec, source) or _check_grid(spec, source)
    if problems:
        raise SpecError(problems)
    return spec


def apply_overrides(
    data: dict[str, Any], overrides: Mapping[str, Any], source: str
) -> dict[str, Any]:
    """Return a copy of ``data`` with dotted overrides applied (swept paths are pinned)."""
    data = copy.deepcopy(data)
    problems = []
    for dotted, value in overrides.items():
        sweep = data.get("sweep")
        if isinstance(sweep, dict):
            for key in [k for k in sweep if dotted in sweep_paths(str(k))]:
                del sweep[key]
        try:
            set_path(data, dotted, value)
        except ValueError as exc:
            problems.append(f"{source}: --set {dotted}: {exc}")
    if problems:
        raise SpecError(problems)
    return data


def _check_sweep_points(spec: Spec, source: str) -> list[str]:
    """Validate every value of every sweep axis in the context of the spec."""
    problems: list[str] = []
    base = spec.model_dump(
        mode="json", exclude={"sweep", "seeds", "hardware", "name", "description"}
    )
    for dotted, values in spec.sweep.items():
        for index, value in enumerate(values):
            data = copy.deepcopy(base)
            sweep_assign(data, dotted, value)
            try:
                RunConfig.model_validate(data)
            except ValidationError as exc:
                for item in exc.errors():
                    message = item["msg"].removeprefix("Value error, ")
                    problems.append(f"{source}: sweep.{dotted}[{index}]: {message}")
    return problems


def _check_grid(spec: Spec, source: str) -> list[str]:
    """Validate every run config of the sweep grid (checks that span sections, such as
    ``algo.name: gcbc`` needing ``data.mode: offline``, hold only for whole run configs)."""
    import itertools

    base = spec.model_dump(mode="json", include=set(_SWEEPABLE))
    axes = list(spec.sweep.items())
    problems: list[str] = []
    for values in itertools.product(*(vals for _, vals in axes)):
        data = copy.deepcopy(base)
        for (dotted, _), value in zip(axes, values, strict=True):
            sweep_assign(data, dotted, value)
        try:
            RunConfig.model_validate(data)
        except ValidationError as exc:
            point = ", ".join(
                f"{dotted}={value!r}" for (dotted, _), value in zip(axes, values, strict=True)
            )
            for item in exc.errors():
                message = item["msg"].removeprefix("Value error, ")
                where = ".".join(str(part) for part in item["loc"]) or "(run config)"
                line = f"{source}: {where}: {message}" + (
                    f" (sweep point {point})" if point else ""
                )
                if line not in problems:
                    problems.append(line)
    return problems


def json_schema() -> dict[str, Any]:
    """JSON Schema of the spec format (``harness schema``)."""
    return Spec.model_json_schema()
