"""Adapting a model between design rounds: reward-weighted fine-tuning with replay.

The elites of the loop so far are resampled with weights

    w_i ∝ exp((S_i - max_j S_j) / τ)

(S the combined score, τ the temperature; reward-weighted regression, Peters & Schaal,
ICML 2007), and the network takes ``steps`` Adam steps on the process's own loss of them,
plus a replay term on the prior's own samples of round 0:

    L = E_{x ~ w}[ ℓ(x) ] + λ · E_{x ~ round 0}[ ℓ(x) ],

which keeps the adapted model near its prior (the replay term is the Monte-Carlo form of
the KL anchor of Fan et al., "DPOK", NeurIPS 2023, on the prior's samples; REINVENT's
staged learning keeps its prior likewise). Each sample enters with the conditions it was
drawn with. Randomness comes from one seeded generator, so a resumed loop adapts exactly
as an uninterrupted one.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from gensci.errors import GensciError
from gensci.training.objective import ProcessObjective

if TYPE_CHECKING:
    from gensci.inverse.candidates import Candidate
    from gensci.inverse.loop import DesignContext

__all__ = ["elite_weights", "finetune"]


def elite_weights(scores: np.ndarray, temperature: float) -> np.ndarray:
    """``exp((S - max S) / τ)`` normalised to sum 1 (uniform for τ = inf)."""
    s = np.asarray(scores, dtype=np.float64)
    if not temperature > 0:
        raise GensciError(f"the fine-tuning temperature must be positive, got {temperature}")
    w = np.exp((s - s.max()) / temperature) if math.isfinite(temperature) else np.ones_like(s)
    return w / w.sum()


def _featurisable(ctx: DesignContext, cands: list[Candidate]) -> list[Candidate]:
    """The candidates the domain can turn into training states (a decoded molecule with an
    atom type outside the model's vocabulary cannot be, and is left out of adaptation)."""
    out = []
    for c in cands:
        try:
            ctx.domain.featurise([ctx.item(c)])
        except GensciError:
            continue
        out.append(c)
    return out


def finetune(ctx: DesignContext, elites: list[Candidate], replay: list[Candidate], steps: int, lr: float, batch_size: int,
             temperature: float, replay_weight: float, seed: int) -> dict[str, float]:
    """Fine-tune ``ctx.model.network`` in place (module docstring); returns the mean losses."""
    elites, replay = _featurisable(ctx, elites), _featurisable(ctx, replay)
    if not elites:
        return {"elite_loss": float("nan"), "replay_loss": float("nan")}
    model = ctx.model
    network = model.network
    model.precision_check = None  # the recorded bf16 check was of the weights before fine-tuning: auto keeps fp32
    objective = ProcessObjective(model.process, model.domain)
    weights = elite_weights(np.asarray([c.score for c in elites]), temperature)
    generator = torch.Generator().manual_seed(int(seed))
    rng = np.random.default_rng(int(seed))
    optimiser = torch.optim.Adam([p for p in network.parameters() if p.requires_grad], lr=lr)
    logs = {"elite_loss": 0.0, "replay_loss": 0.0}
    network.train()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))  # dropout layers draw from the global generator
            for _ in ctx.progress_range(steps, "adapting"):
                pick = rng.choice(len(elites), size=batch_size, replace=True, p=weights)
                loss, _ = objective.loss(network, ctx.training_batch([elites[i] for i in pick]), generator)
                logs["elite_loss"] += float(loss.detach()) / steps
                if replay and replay_weight > 0:
                    rows = rng.choice(len(replay), size=batch_size, replace=len(replay) < batch_size)
                    extra, _ = objective.loss(network, ctx.training_batch([replay[i] for i in rows]), generator)
                    logs["replay_loss"] += float(extra.detach()) / steps
                    loss = loss + replay_weight * extra
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
                optimiser.step()
    finally:
        network.eval()
    return logs
