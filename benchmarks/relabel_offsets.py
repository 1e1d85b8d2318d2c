"""Exact goal-offset laws of the two samplers (docs/fidelity.md, row 12).

For a steady-state replay of one env (``replay_size_per_env`` rows holding episodes of
``episode_length`` steps, the buffer's oldest row at the given phase of an episode), prints the
mean goal offset ``j - i`` (env steps), ``P(offset >= 100)`` and the total variation distance
between ``data.sampler: window`` (the reference's relabelling) and ``iid`` (the harness's
former sampler), from :func:`harness.replay.goal_offset_pmf` (exact enumeration, float64).

    python benchmarks/relabel_offsets.py
"""

from __future__ import annotations

import numpy as np

from harness.replay import goal_offset_pmf

#: (episode_length = window, replay_size_per_env): the paper's scale and the CPU recipes'.
SCALES = ((1000, 10_000), (200, 2_000))
DISCOUNT = 0.99


def main() -> None:
    print(
        f"{'episode':>7} {'replay':>6} {'phase':>5} | {'window mean':>11} {'P>=100':>6} | "
        f"{'iid mean':>8} {'P>=100':>6} | {'TV':>5}"
    )
    for episode, size in SCALES:
        for phase in (0, episode // 3):
            tids = ((np.arange(size) + phase) // episode)[:, None]
            window = goal_offset_pmf(tids, "window", DISCOUNT, episode)
            iid = goal_offset_pmf(tids, "iid", DISCOUNT)
            n = max(len(window), len(iid))
            w, i = np.zeros(n), np.zeros(n)
            w[: len(window)], i[: len(iid)] = window, iid
            k = np.arange(n)
            print(
                f"{episode:>7} {size:>6} {phase:>5} | {k @ w:>11.1f} {w[100:].sum():>6.3f} | "
                f"{k @ i:>8.1f} {i[100:].sum():>6.3f} | {0.5 * np.abs(w - i).sum():>5.3f}"
            )


if __name__ == "__main__":
    main()
