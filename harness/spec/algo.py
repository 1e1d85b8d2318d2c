"""The ``algo`` section: contrastive RL settings and the baselines of Wang et al. 2025, Fig. 13
(SAC, TD3, HER and GCSL sub-sections), with the algorithm names."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from harness import algos
from harness.spec.fields import PositiveFloat, PositiveInt, UnitFloat, _parse_float, _Section

#: Algorithm names (``algo.name``, :data:`harness.algos.NAMES`). The baselines are those of
#: Wang et al. 2025, Fig. 13.
ALGOS = algos.NAMES
#: Algorithms trained by TD learning on (s, a, s', g, r) transitions (:data:`harness.algos.TD`).
TD_ALGOS = algos.TD


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

    name: str = Field(
        algos.DEFAULT,
        description="Algorithm: crl (contrastive RL), sac (soft actor-critic on the sparse "
        "goal reward), sac_her and td3_her (with hindsight relabelling), gcbc "
        "(goal-conditioned behaviour cloning with hindsight goals; online on the agent's own "
        "replay, or offline) or gcsl (goal-conditioned supervised learning). All use the "
        "network section's residual networks. The registry: harness.algos.",
        json_schema_extra={"enum": list(algos.NAMES)},
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

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if value not in algos.REGISTRY:
            raise ValueError(f"unknown algorithm {value!r}; one of {', '.join(algos.REGISTRY)}")
        return value

    @model_validator(mode="after")
    def _sections_fit_name(self) -> AlgoSpec:
        for field in type(self).model_fields:
            names = algos.owners(field)
            optional = type(self).model_fields[field].default is None
            if names and optional and getattr(self, field) is not None and self.name not in names:
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
