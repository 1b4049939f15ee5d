"""Benchmark the flow, bridge and diffusion cores, side by side with torchcfm.

    pip install --no-deps torchcfm==1.0.7      # benchmark only (its own deps would replace torch)
    python scripts/bench_cores.py              # full run, one thread (about 18 minutes on 2 cores)
    python scripts/bench_cores.py --quick      # tiny settings, to check that it runs

Three parts, every training run with the same plain MLP (3 x 64, SELU, input ``[x, t]``),
Adam (lr 1e-3) and the same sequence of data batches, so that only the method differs:

1. 8 gaussians -> moons: W2 against the number of Euler steps (NFE) for I-CFM, OT-CFM,
   W-CFM, SB-CFM (ODE and SDE) and DDPM (from N(0, I): a Gaussian diffusion cannot start
   from 8 gaussians), with the same methods trained by torchcfm; a sweep of W-CFM's
   ``kappa`` (``eps = kappa sqrt(d)``) without and with the marginal correction.
2. N(0, I) -> Gaussian mixture (8 components) in d = 2, 8, 32, 64: W2 at NFE 1, 4, 100.
3. The median time of one training step (coupling, forward, backward, Adam) for batch
   64 ... 4096, all methods of both libraries interleaved in one loop.

W2 is exact (``gensci.core.transport.wasserstein2``) between ``--eval`` generated points
and as many fresh target points; "floor" is W2 between two independent target draws of
that size (the finite-sample noise level). Raw results go to ``--json`` and the curves to
``--png``; the printed tables are markdown.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from domains.points.toys import eight_gaussians, gaussian_mixture, moons
from gensci.core.bridge import SchrodingerBridge
from gensci.core.couplings import ExactOTCoupling, GibbsWeightedCoupling
from gensci.core.flow import FlowMatching
from gensci.core.gaussian import GaussianDiffusion
from gensci.core.spaces import Euclidean
from gensci.core.transport import wasserstein2
from gensci.machine import cpu_name
from gensci.nn.mlp import VectorFieldMLP
from samplers.ddim import DDIMSampler
from samplers.ode import EulerSampler
from samplers.sde import EulerMaruyamaSampler

try:
    import torchcfm
    import torchcfm.conditional_flow_matching as tcfm
except ImportError:  # the comparison is optional
    torchcfm = tcfm = None

ROOT = Path(__file__).resolve().parent.parent
SB_SIGMA = 0.5
LR = 1e-3

Draw = Callable[[int, torch.Generator], Tensor]


# --------------------------------------------------------------------------- network
class PlainMLP(nn.Module):
    """``MLP([x, t])`` with SELU, the network of torchcfm's 2D examples; ``model(x, t, cond=None, mask=None)``."""

    def __init__(self, dim: int, out_dim: int | None = None, width: int = 64, depth: int = 3):
        super().__init__()
        layers: list[nn.Module] = []
        w_in = dim + 1
        for _ in range(depth):
            layers += [nn.Linear(w_in, width), nn.SELU()]
            w_in = width
        layers.append(nn.Linear(w_in, out_dim or dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor, t: Tensor, cond=None, mask=None) -> Tensor:
        t = torch.as_tensor(t, dtype=x.dtype).reshape(-1, 1).expand(x.shape[0], 1)
        return self.net(torch.cat([x, t], dim=1))


def make_net(dim: int, heads: int, seed: int, kind: str = "plain") -> nn.Module:
    """The same initial weights for a given seed, whichever library trains it."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        if kind == "vfmlp":
            return VectorFieldMLP(dim, hidden=64, depth=3, heads=heads)
        if kind == "vfmlp256":
            return VectorFieldMLP(dim, hidden=256, depth=3, heads=heads)
        return PlainMLP(dim, dim * heads)


# --------------------------------------------------------------------------- problems
class Problem:
    """A source, a target and their dimension."""

    def __init__(self, name: str, dim: int, source: Draw, target: Draw, source_name: str):
        self.name, self.dim, self.source, self.target, self.source_name = name, dim, source, target, source_name

    def gaussian(self, n: int, g: torch.Generator) -> Tensor:
        return torch.randn(n, self.dim, generator=g)


def two_d() -> Problem:
    return Problem("8gaussians->moons", 2, lambda n, g: eight_gaussians(n, g), lambda n, g: moons(n, g), "8 gaussians")


def mixture(dim: int) -> Problem:
    return Problem(
        f"N(0,I)->mixture d={dim}",
        dim,
        lambda n, g: torch.randn(n, dim, generator=g),
        lambda n, g: gaussian_mixture(n, dim, g),
        "N(0, I)",
    )


# --------------------------------------------------------------------------- methods
# A method trains with step(x0, x1) and generates with sample(nfe, x_init, generator).
# Methods with gaussian_source ignore x0 and start from N(0, I); a method with share names
# the method whose trained network it samples (the SDE of a bridge).

NAIVE_KAPPA = 1.0  # the naive W-CFM of the notes and of the W-CFM paper's 2D runs: eps = sqrt(d)


class Method:
    lib = "gensci"
    heads = 1
    gaussian_source = False

    def __init__(self, label: str, share: str | None = None):
        self.label, self.share = label, share
        self.logs: dict[str, list[float]] = {}

    def setup(self, net: nn.Module, seed: int, dim: int) -> None:
        self.net = net
        self.opt = torch.optim.Adam(net.parameters(), lr=LR)

    def adopt(self, other: "Method") -> None:
        self.net, self.logs, self.train_seconds = other.net, other.logs, other.train_seconds


class GensciFlow(Method):
    """A gensci process trained through ``corrupt`` + ``loss`` and sampled by a gensci sampler."""

    def __init__(self, label: str, make_process: Callable[[], object], sampler: str = "euler",
                 gaussian_source: bool = False, share: str | None = None, clip_x1: float | None = None):
        super().__init__(label, share)
        self.make_process, self.sampler, self.gaussian_source = make_process, sampler, gaussian_source
        self.clip_x1 = clip_x1
        self.heads = getattr(make_process(), "heads", 1)

    def setup(self, net, seed, dim):
        super().setup(net, seed, dim)
        self.process = self.make_process()
        self.g = torch.Generator().manual_seed(seed + 1)

    def adopt(self, other):
        super().adopt(other)
        self.process = other.process

    def step(self, x0: Tensor, x1: Tensor) -> None:
        c = self.process.corrupt(x1, generator=self.g, x0=None if self.gaussian_source else x0)
        loss, logs = self.process.loss(self.net(c.x_t, c.t), c)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        if "coupling/ess" in logs:
            self.logs.setdefault("ess", []).append(float(logs["coupling/ess"]))

    def sample(self, nfe: int, x_init: Tensor, g: torch.Generator) -> Tensor:
        sampler = {
            "euler": lambda: EulerSampler(steps=nfe, progress=False),
            "euler_maruyama": lambda: EulerMaruyamaSampler(steps=nfe, progress=False),
            "ddim": lambda: DDIMSampler(steps=nfe, eta=0.0, clip_x1=self.clip_x1, progress=False),
        }[self.sampler]()
        return sampler.sample(self.net, self.process, tuple(x_init.shape), x_init=x_init, generator=g).x


class TorchCFM(Method):
    """torchcfm's matchers in their usual loop: ``t, xt, ut = FM.sample_location_and_conditional_flow(x0, x1)``.

    ``kind``: ``"flow"`` (I-CFM, OT-CFM); ``"wcfm"`` (I-CFM pairs with the loss of each pair
    weighted by ``exp(-||x0 - x1|| / eps)``, ``eps = kappa sqrt(d)``, unnormalised: W-CFM as
    it is usually written on top of torchcfm, which has none); ``"sb"`` (the flow + score
    loss of [SF]2M with ``lambda_t = FM.compute_lambda(t)``). torchcfm has no sampler of its
    own (its examples use torchdyn): sampling is a plain Euler loop, or Euler-Maruyama with
    drift ``v + s`` and ``g = sigma`` and no noise on the last step, the same arithmetic as
    gensci's samplers.
    """

    lib = "torchcfm"

    def __init__(self, label: str, make_fm: Callable[[], object], kind: str = "flow", kappa: float = NAIVE_KAPPA,
                 sde: bool = False, share: str | None = None, shared_t: bool = False):
        super().__init__(label, share)
        self.make_fm, self.kind, self.kappa, self.sde = make_fm, kind, kappa, sde
        self.shared_t = shared_t  # draw t as gensci's I-CFM does (the only draw it makes)
        self.heads = 2 if kind == "sb" else 1

    def setup(self, net, seed, dim):
        super().setup(net, seed, dim)
        self.fm = self.make_fm()
        self.eps = self.kappa * math.sqrt(dim)
        torch.manual_seed(seed + 1)  # torchcfm draws t and noise from torch's global generator
        np.random.seed(seed + 1)  # and its OT pairs from numpy's
        self.tg = torch.Generator().manual_seed(seed + 1)

    def step(self, x0: Tensor, x1: Tensor) -> None:
        if self.kind == "sb":
            t, xt, ut, eps = self.fm.sample_location_and_conditional_flow(x0, x1, return_noise=True)
            lam = self.fm.compute_lambda(t)
            v, s = self.net(xt, t).chunk(2, dim=-1)
            loss = torch.mean((v - ut) ** 2) + torch.mean((lam[:, None] * s + eps) ** 2)
        else:
            t = torch.rand(x1.shape[0], generator=self.tg) if self.shared_t else None
            t, xt, ut = self.fm.sample_location_and_conditional_flow(x0, x1, t=t)
            vt = self.net(xt, t)
            if self.kind == "wcfm":
                w = torch.exp(-(x0 - x1).norm(dim=1) / self.eps)
                loss = torch.mean(w * ((vt - ut) ** 2).mean(dim=1))
            else:
                loss = torch.mean((vt - ut) ** 2)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()

    @torch.no_grad()
    def sample(self, nfe: int, x_init: Tensor, g: torch.Generator) -> Tensor:
        x, d = x_init.clone(), x_init.shape[1]
        grid = torch.linspace(0.0, 1.0, nfe + 1)
        for i in range(nfe):
            h = grid[i + 1] - grid[i]
            out = self.net(x, grid[i].expand(x.shape[0]))
            if self.sde:
                x = x + h * (out[:, :d] + out[:, d:])
                if i < nfe - 1:
                    x = x + SB_SIGMA * h.sqrt() * torch.randn(x.shape, generator=g)
            else:
                x = x + h * out[:, :d]
        return x


def wcfm_coupling(kappa: float, correction: int) -> Callable[[], FlowMatching]:
    return lambda: FlowMatching(coupling=GibbsWeightedCoupling(kappa=kappa, marginal_correction=correction))


def gensci_methods(wcfm: dict, sde: bool = True, sb_exact: bool = True, ddpm_clip: float | None = 5.0
                   ) -> dict[str, Method]:
    k, corr = wcfm["kappa"], wcfm["marginal_correction"]
    sb = f"SB-CFM (σ={SB_SIGMA:g}, Sinkhorn plan)"
    m: dict[str, Method] = {
        "I-CFM": GensciFlow("I-CFM", lambda: FlowMatching()),
        "OT-CFM": GensciFlow("OT-CFM", lambda: FlowMatching(coupling=ExactOTCoupling())),
        "W-CFM naive": GensciFlow(f"W-CFM naive (κ={NAIVE_KAPPA:g})", wcfm_coupling(NAIVE_KAPPA, 0)),
        "W-CFM": GensciFlow(f"W-CFM (κ={k:g}, correction {corr})", wcfm_coupling(k, corr)),
        "SB-CFM": GensciFlow(f"{sb}, ODE", lambda: SchrodingerBridge(sigma=SB_SIGMA)),
    }
    if sde:
        m["SB-CFM SDE"] = GensciFlow(f"{sb}, SDE", lambda: SchrodingerBridge(sigma=SB_SIGMA), "euler_maruyama",
                                     share="SB-CFM")
    if sb_exact:
        sbx = f"SB-CFM (σ={SB_SIGMA:g}, exact plan)"
        m["SB-CFM exact"] = GensciFlow(f"{sbx}, ODE", lambda: SchrodingerBridge(sigma=SB_SIGMA, coupling="exact"))
        if sde:
            m["SB-CFM exact SDE"] = GensciFlow(
                f"{sbx}, SDE", lambda: SchrodingerBridge(sigma=SB_SIGMA, coupling="exact"), "euler_maruyama",
                share="SB-CFM exact")
    def ddpm(pred):
        return lambda: GaussianDiffusion(Euclidean(), schedule="cosine", prediction=pred)

    m["DDPM"] = GensciFlow("DDPM from N(0, I) (cosine, ε; DDIM η=0)", ddpm("eps"), "ddim", gaussian_source=True)
    if ddpm_clip is not None:
        m["DDPM clip"] = GensciFlow(f"DDPM from N(0, I) (cosine, ε; DDIM η=0, x̂ clipped to ±{ddpm_clip:g})",
                                    ddpm("eps"), "ddim", gaussian_source=True, share="DDPM", clip_x1=ddpm_clip)
    m["DDPM v"] = GensciFlow("DDPM from N(0, I) (cosine, v; DDIM η=0)", ddpm("v"), "ddim", gaussian_source=True)
    return m


def torchcfm_methods(sde: bool = True) -> dict[str, Method]:
    if tcfm is None:
        return {}
    sbx = f"SB-CFM (σ={SB_SIGMA:g}, exact plan)"
    m: dict[str, Method] = {
        "I-CFM": TorchCFM("I-CFM", lambda: tcfm.ConditionalFlowMatcher(sigma=0.0)),
        "OT-CFM": TorchCFM("OT-CFM", lambda: tcfm.ExactOptimalTransportConditionalFlowMatcher(sigma=0.0)),
        "W-CFM naive": TorchCFM(f"W-CFM naive (κ={NAIVE_KAPPA:g})", lambda: tcfm.ConditionalFlowMatcher(sigma=0.0),
                                "wcfm"),
        "SB-CFM exact": TorchCFM(f"{sbx}, ODE", lambda: tcfm.SchrodingerBridgeConditionalFlowMatcher(sigma=SB_SIGMA),
                                 "sb"),
    }
    if sde:
        m["SB-CFM exact SDE"] = TorchCFM(
            f"{sbx}, SDE", lambda: tcfm.SchrodingerBridgeConditionalFlowMatcher(sigma=SB_SIGMA), "sb", sde=True,
            share="SB-CFM exact")
    return m


# --------------------------------------------------------------------------- training + W2
def train_and_eval(
    method: Method,
    prob: Problem,
    steps: int,
    batch: int,
    nfes: list[int],
    evalset: dict,
    seed: int,
    net_kind: str = "plain",
    trained: dict | None = None,
    name: str | None = None,
) -> dict:
    """Train ``method`` (or adopt the network of the method it shares) and return W2 per NFE."""
    if method.share is not None and trained is not None and (method.lib, method.share) in trained:
        method.adopt(trained[(method.lib, method.share)])
    else:
        method.setup(make_net(prob.dim, method.heads, seed, net_kind), seed, prob.dim)
        gd = torch.Generator().manual_seed(seed)  # the same batches for every method
        start = time.perf_counter()
        for _ in range(steps):
            x0 = prob.gaussian(batch, gd) if method.gaussian_source else prob.source(batch, gd)
            x1 = prob.target(batch, gd)
            method.step(x0, x1)
        method.train_seconds = time.perf_counter() - start
    if trained is not None and name is not None:
        trained[(method.lib, name)] = method
    w2 = {}
    for nfe in nfes:
        x_init = evalset["gauss"] if method.gaussian_source else evalset["source"]
        x = method.sample(nfe, x_init.clone(), torch.Generator().manual_seed(seed + 4000))
        w2[nfe] = wasserstein2(x, evalset["target"]) if torch.isfinite(x).all() else float("nan")
    ess = method.logs.get("ess")
    return {
        "label": method.label,
        "lib": method.lib,
        "w2": w2,
        "train_seconds": method.train_seconds,
        "ms_per_step": 1e3 * method.train_seconds / steps,
        "ess": None if not ess else float(np.mean(ess)),
        "shared_training": method.share,
    }


def make_evalset(prob: Problem, n: int, seed: int) -> dict:
    s = {
        "source": prob.source(n, torch.Generator().manual_seed(seed + 1000)),
        "gauss": prob.gaussian(n, torch.Generator().manual_seed(seed + 1000)),
        "target": prob.target(n, torch.Generator().manual_seed(seed + 2000)),
    }
    s["floor"] = wasserstein2(prob.target(n, torch.Generator().manual_seed(seed + 3000)), s["target"])
    return s


# --------------------------------------------------------------------------- step time
def step_makers(wcfm: dict) -> dict[str, tuple[Callable[[], Method], str]]:
    """name -> (method factory, network kind) for the step-time table."""
    k, corr = wcfm["kappa"], wcfm["marginal_correction"]
    mk: dict[str, tuple[Callable[[], Method], str]] = {
        "gensci I-CFM": (lambda: GensciFlow("I", lambda: FlowMatching()), "plain"),
        "gensci OT-CFM": (lambda: GensciFlow("OT", lambda: FlowMatching(coupling=ExactOTCoupling())), "plain"),
        "gensci W-CFM naive": (lambda: GensciFlow("W", wcfm_coupling(NAIVE_KAPPA, 0)), "plain"),
        "gensci W-CFM corrected": (lambda: GensciFlow("W", wcfm_coupling(k, corr)), "plain"),
        "gensci SB-CFM exact": (
            lambda: GensciFlow("SB", lambda: SchrodingerBridge(sigma=SB_SIGMA, coupling="exact")), "plain"),
        "gensci SB-CFM Sinkhorn": (lambda: GensciFlow("SB", lambda: SchrodingerBridge(sigma=SB_SIGMA)), "plain"),
    }
    if tcfm is not None:
        mk.update({
            "torchcfm I-CFM": (lambda: TorchCFM("I", lambda: tcfm.ConditionalFlowMatcher(sigma=0.0)), "plain"),
            "torchcfm OT-CFM": (
                lambda: TorchCFM("OT", lambda: tcfm.ExactOptimalTransportConditionalFlowMatcher(sigma=0.0)), "plain"),
            "torchcfm W-CFM naive": (
                lambda: TorchCFM("W", lambda: tcfm.ConditionalFlowMatcher(sigma=0.0), "wcfm"), "plain"),
            "torchcfm SB-CFM exact": (
                lambda: TorchCFM("SB", lambda: tcfm.SchrodingerBridgeConditionalFlowMatcher(sigma=SB_SIGMA), "sb"),
                "plain"),
            "torchcfm SB-CFM Sinkhorn": (
                lambda: TorchCFM("SB", lambda: tcfm.SchrodingerBridgeConditionalFlowMatcher(
                    sigma=SB_SIGMA, ot_method="sinkhorn"), "sb"),
                "plain"),
        })
    mk["gensci I-CFM, VectorFieldMLP 3×256"] = (lambda: GensciFlow("I", lambda: FlowMatching()), "vfmlp256")
    mk["gensci W-CFM corrected, VectorFieldMLP 3×256"] = (
        lambda: GensciFlow("W", wcfm_coupling(k, corr)), "vfmlp256")
    return mk


def step_times(batches: list[int], wcfm: dict, reps: list[int], budget_s: float, skip_s: float, seed: int) -> dict:
    """Median seconds per training step (coupling, forward, backward, Adam) per method and batch.

    For each batch size every method gets its own network and optimiser, two warm-up steps,
    then the methods take turns one step at a time, in a new random order each round (so
    that a slow spell of the machine hits them all alike). A method runs ``min(reps, budget_s / cost)`` steps (at least 3); one whose step
    takes, or would take by quadratic growth from the previous batch size, more than
    ``skip_s`` seconds is skipped. Data batches are drawn beforehand and not timed.
    """
    prob = two_d()
    makers = step_makers(wcfm)
    out: dict[str, dict] = {name: {} for name in makers}
    previous: dict[str, tuple[int, float]] = {}
    for b, n_reps in zip(batches, reps):
        gd = torch.Generator().manual_seed(seed)
        pool = [(prob.source(b, gd), prob.target(b, gd)) for _ in range(4)]
        runners: dict[str, Method] = {}
        want: dict[str, int] = {}
        for name, (make, kind) in makers.items():
            if name in previous:
                pb, pt = previous[name]
                if pt * (b / pb) ** 2 > skip_s:
                    out[name][b] = None
                    continue
            m = make()
            m.setup(make_net(2, m.heads, seed, kind), seed, 2)
            est = 0.0
            for i in range(2):  # warm-up; the second step estimates the cost
                t0 = time.perf_counter()
                m.step(*pool[i])
                est = time.perf_counter() - t0
            previous[name] = (b, est)
            if est > skip_s:
                out[name][b] = None
                continue
            runners[name] = m
            want[name] = int(max(3, min(n_reps, budget_s / max(est, 1e-9))))
        samples: dict[str, list[float]] = {name: [] for name in runners}
        order = list(runners)
        shuffle = random.Random(seed)
        for r in range(max(want.values(), default=0)):
            shuffle.shuffle(order)  # no method always follows the same one (caches, big networks)
            for name in order:
                m = runners[name]
                if len(samples[name]) >= want[name]:
                    continue
                x0, x1 = pool[r % len(pool)]
                t0 = time.perf_counter()
                m.step(x0, x1)
                samples[name].append(time.perf_counter() - t0)
        for name, ts in samples.items():
            med = statistics.median(ts)
            out[name][b] = {"median_s": med, "reps": len(ts), "q25_s": float(np.quantile(ts, 0.25)),
                            "q75_s": float(np.quantile(ts, 0.75))}
            previous[name] = (b, med)
        print(f"  step times, batch {b}: done", file=sys.stderr, flush=True)
    return out


# --------------------------------------------------------------------------- tables
def fmt(x: float | None, nd: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:.{nd}f}"


def w2_table(rows: list[dict], nfes: list[int], extra: bool = True) -> str:
    head = "| method | library | " + " | ".join(f"W2 @{n}" for n in nfes)
    head += " | train s | ms/step | ESS |" if extra else " |"
    lines = [head, "|" + "---|" * (2 + len(nfes) + (3 if extra else 0))]
    for r in rows:
        cells = [r["label"], r["lib"]] + [fmt(r["w2"][n]) for n in nfes]
        if extra:
            cells += [f"{r['train_seconds']:.1f}", f"{r['ms_per_step']:.2f}", fmt(r["ess"], 2)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def step_table(st: dict, batches: list[int]) -> str:
    lines = ["| method | " + " | ".join(f"B={b} ms" for b in batches) + " | " + " | ".join(
        f"÷ I-CFM B={b}" for b in batches) + " |"]
    lines.append("|" + "---|" * (1 + 2 * len(batches)))
    for name, per in st.items():
        lib_base = "torchcfm I-CFM" if name.startswith("torchcfm") else "gensci I-CFM"
        if "VectorFieldMLP" in name:
            lib_base = "gensci I-CFM, VectorFieldMLP 3×256"
        ms, ratio = [], []
        for b in batches:
            v, base = per.get(b), st.get(lib_base, {}).get(b)
            ms.append("—" if v is None else f"{1e3 * v['median_s']:.3f}")
            ratio.append("—" if v is None or base is None else f"{v['median_s'] / base['median_s']:.2f}")
        lines.append(f"| {name} | " + " | ".join(ms) + " | " + " | ".join(ratio) + " |")
    return "\n".join(lines)


def versus_table(st: dict, batches: list[int]) -> str:
    pairs = [("I-CFM", "I-CFM"), ("OT-CFM", "OT-CFM"), ("W-CFM naive", "W-CFM naive"),
             ("SB-CFM exact", "SB-CFM exact"), ("SB-CFM Sinkhorn", "SB-CFM Sinkhorn")]
    lines = ["| method | " + " | ".join(f"gensci ÷ torchcfm B={b}" for b in batches) + " |",
             "|" + "---|" * (1 + len(batches))]
    for a, b_ in pairs:
        ga, tb = st.get(f"gensci {a}"), st.get(f"torchcfm {b_}")
        if ga is None or tb is None:
            continue
        cells = []
        for b in batches:
            x, y = ga.get(b), tb.get(b)
            cells.append("—" if x is None or y is None else f"{x['median_s'] / y['median_s']:.2f}")
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- plot
def _family(label: str) -> str:
    for key in ("I-CFM", "OT-CFM", "W-CFM naive", "W-CFM", "Sinkhorn plan", "exact plan", "v;", "clipped", "ε;"):
        if key in label:
            return key
    return label


def plot(curves: list[dict], nfes: list[int], floor: float, path: Path) -> None:
    """W2 against NFE: deterministic samplers (Euler ODE) left, stochastic and DDIM right."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = {"I-CFM": "I-CFM", "OT-CFM": "OT-CFM", "W-CFM naive": "W-CFM naive (κ=1)",
             "W-CFM": "W-CFM corrected", "Sinkhorn plan": "SB-CFM, Sinkhorn plan", "exact plan": "SB-CFM, exact plan",
             "v;": "DDPM v (DDIM)", "clipped": "DDPM ε, x̂ clipped (DDIM)"}
    colors = {k: f"C{i}" for i, k in enumerate(names)}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), sharey=True)
    for r in curves:
        fam = _family(r["label"])
        if fam not in names:  # DDPM ε without clipping: W2 from 5 to 100+, off the scale
            continue
        right = "SDE" in r["label"] or "DDPM" in r["label"]
        ax = axes[1] if right else axes[0]
        ax.plot(nfes, [r["w2"][n] for n in nfes], "-o" if r["lib"] == "gensci" else "--s", color=colors[fam],
                ms=3.5, lw=1.4, label=f"{names[fam]}{' SDE' if 'SDE' in r['label'] else ''} [{r['lib']}]")
    for ax, title in zip(axes, ["Euler ODE", "Euler–Maruyama (SB) and DDIM (DDPM, from N(0, I))"]):
        ax.axhline(floor, color="grey", lw=0.8, ls=":", label="floor: two target draws")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(nfes)
        ax.set_xticklabels([str(n) for n in nfes])
        ax.minorticks_off()
        ax.set_yticks([0.2, 0.3, 0.5, 1, 2, 5])
        ax.set_yticklabels(["0.2", "0.3", "0.5", "1", "2", "5"])
        ax.set_xlabel("NFE")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7, loc="upper right")
        ax.grid(alpha=0.25)
    axes[0].set_ylabel("W2 to moons (2000 points)")
    fig.suptitle("8 gaussians → moons, MLP 3×64, 5000 steps; solid: gensci, dashed: torchcfm", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


# --------------------------------------------------------------------------- main
def read_wcfm_default() -> dict:
    """kappa and marginal_correction of the shipped process config ``process/wcfm.yaml``."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(ROOT / "gensci" / "configs" / "process" / "wcfm.yaml")
    return {"kappa": float(cfg.coupling.kappa), "marginal_correction": int(cfg.coupling.marginal_correction)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny settings: checks that everything runs")
    p.add_argument("--steps", type=int, default=5000, help="training steps, 2D")
    p.add_argument("--gmm-steps", type=int, default=2000, help="training steps, Gaussian mixtures")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--eval", type=int, default=2000, help="points per W2")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--kappas", type=float, nargs="+", default=[0.25, 0.5, 1.0, 2.0])
    p.add_argument("--corrections", type=int, nargs="+", default=[10, 20],
                   help="Sinkhorn sweeps of the corrected W-CFM in the sweep (0, naive, is always run)")
    p.add_argument("--dims", type=int, nargs="+", default=[2, 8, 32, 64])
    p.add_argument("--batches", type=int, nargs="+", default=[64, 256, 1024, 4096])
    p.add_argument("--parts", nargs="+", default=["2d", "sweep", "seeds", "gmm", "steps"])
    p.add_argument("--seed-list", type=int, nargs="+", default=[0, 1, 2, 3], help="training seeds of the spread table")
    p.add_argument("--json", type=Path, default=ROOT / "docs" / "bench_cores.json")
    p.add_argument("--png", type=Path, default=ROOT / "docs" / "img" / "bench_cores_w2.png")
    args = p.parse_args()
    torch.set_num_threads(1)
    if args.quick:
        args.steps, args.gmm_steps, args.eval = 150, 100, 300
        args.dims, args.batches, args.kappas, args.seed_list = [2, 8], [64, 256], [0.5, 1.0], [0, 1]
        args.json = Path("/tmp/bench_cores_quick.json")
        args.png = Path("/tmp/bench_cores_quick.png")
    nfes = [1, 2, 4, 8, 32, 100]
    gmm_nfes = [1, 4, 100]
    wdef = read_wcfm_default()
    t_start = time.perf_counter()
    machine = f"{cpu_name()}, 1 torch thread, torch {torch.__version__}, Python {platform.python_version()}"
    result: dict = {
        "machine": machine,
        "date": time.strftime("%Y-%m-%d"),
        "command": " ".join(["python", "scripts/bench_cores.py"] + sys.argv[1:]),
        "torchcfm": getattr(torchcfm, "__version__", None) if torchcfm else None,
        "settings": {"steps_2d": args.steps, "steps_gmm": args.gmm_steps, "batch": args.batch, "eval": args.eval,
                     "seed": args.seed, "lr": LR, "net": "MLP 3x64 SELU on [x, t]", "sb_sigma": SB_SIGMA,
                     "wcfm_default": wdef},
    }
    print(f"# bench_cores — {machine}; torchcfm {result['torchcfm']}\n")
    if tcfm is None:
        print("torchcfm not installed: gensci only (pip install --no-deps torchcfm==1.0.7)\n")

    prob = two_d()
    trained: dict = {}
    warm = GensciFlow("warm-up", lambda: FlowMatching())  # first-call costs stay out of the timings
    warm.setup(make_net(2, 1, args.seed, "plain"), args.seed, 2)
    for _ in range(200):
        warm.step(prob.source(args.batch, warm.g), prob.target(args.batch, warm.g))
    if "2d" in args.parts or "sweep" in args.parts:
        ev = make_evalset(prob, args.eval, args.seed)
        result["floor_2d"] = ev["floor"]
    if "2d" in args.parts:
        rows = []
        gm, tm = gensci_methods(wdef), torchcfm_methods()
        for name in ["I-CFM", "OT-CFM", "W-CFM naive", "W-CFM", "SB-CFM", "SB-CFM SDE", "SB-CFM exact",
                     "SB-CFM exact SDE", "DDPM", "DDPM clip", "DDPM v"]:
            for lib in (gm, tm):
                if name in lib:
                    rows.append(train_and_eval(lib[name], prob, args.steps, args.batch, nfes, ev, args.seed,
                                               trained=trained, name=name))
                    print(f"  2d {rows[-1]['lib']} {rows[-1]['label']}: {time.perf_counter() - t_start:.0f} s",
                          file=sys.stderr, flush=True)
        vf = GensciFlow("I-CFM, gensci's VectorFieldMLP 3×64", lambda: FlowMatching())
        rows.append(train_and_eval(vf, prob, args.steps, args.batch, nfes, ev, args.seed, net_kind="vfmlp"))
        result["w2_2d"] = rows
        print(f"## 8 gaussians → moons: W2 against NFE ({args.steps} steps, batch {args.batch}, "
              f"W2 on {args.eval} points; floor {ev['floor']:.3f})\n")
        print(w2_table(rows, nfes) + "\n")
        plot([r for r in rows if "VectorFieldMLP" not in r["label"]], nfes, ev["floor"], args.png)

    if "sweep" in args.parts:
        rows = []
        for kappa in args.kappas:
            for corr in [0] + args.corrections:
                label = f"W-CFM κ={kappa:g} (ε={kappa * math.sqrt(2):.3g}), " + (
                    "naive" if corr == 0 else f"correction {corr}")
                m = GensciFlow(label, wcfm_coupling(kappa, corr))
                r = train_and_eval(m, prob, args.steps, args.batch, nfes, ev, args.seed)
                r.update(kappa=kappa, correction=corr)
                rows.append(r)
                print(f"  sweep {label}: {time.perf_counter() - t_start:.0f} s", file=sys.stderr, flush=True)
        result["wcfm_sweep"] = rows
        print("## W-CFM: ε = κ√d and the marginal correction (8 gaussians → moons, gensci)\n")
        print(w2_table(rows, nfes) + "\n")

    if "seeds" in args.parts:
        # the spread over training seeds (t draws, torchcfm's OT sampling, initial weights), so
        # that a difference between the libraries can be read against it
        seed_nfes = [1, 2, 4, 100]
        per: dict[tuple[str, str], list[dict]] = {}
        for sd in args.seed_list:
            evs = make_evalset(prob, args.eval, sd)
            gm, tm = gensci_methods(wdef, sde=False, sb_exact=False, ddpm_clip=None), torchcfm_methods(sde=False)
            tm["I-CFM same t"] = TorchCFM("I-CFM, t drawn as gensci draws it", lambda: tcfm.ConditionalFlowMatcher(
                sigma=0.0), shared_t=True) if tcfm is not None else None
            for name in ["I-CFM", "I-CFM same t", "OT-CFM", "W-CFM naive", "W-CFM"]:
                for lib in (gm, tm):
                    if lib.get(name) is not None:
                        r = train_and_eval(lib[name], prob, args.steps, args.batch, seed_nfes, evs, sd)
                        per.setdefault((r["label"], r["lib"]), []).append(r)
            print(f"  seed {sd}: {time.perf_counter() - t_start:.0f} s", file=sys.stderr, flush=True)
        result["seeds"] = {"seeds": args.seed_list, "nfes": seed_nfes,
                           "rows": [{"label": k[0], "lib": k[1], "w2": [r["w2"] for r in v]} for k, v in per.items()]}
        print(f"## 8 gaussians → moons over seeds {args.seed_list}: W2 mean ± sd\n")
        lines = ["| method | library | " + " | ".join(f"W2 @{n}" for n in seed_nfes) + " |",
                 "|" + "---|" * (2 + len(seed_nfes))]
        for (label, lib), rs in per.items():
            cells = []
            for n in seed_nfes:
                v = [r["w2"][n] for r in rs]
                cells.append(f"{statistics.mean(v):.3f} ± {statistics.stdev(v) if len(v) > 1 else 0.0:.3f}")
            lines.append(f"| {label} | {lib} | " + " | ".join(cells) + " |")
        print("\n".join(lines) + "\n")

    if "gmm" in args.parts:
        result["gmm"] = {}
        for d in args.dims:
            pd = mixture(d)
            evd = make_evalset(pd, args.eval, args.seed)
            # the bridge on the exact plan: at sigma = 0.5 the Sinkhorn plan of these costs needs
            # thousands of log-domain sweeps from d = 32 on (seconds per step)
            gm = gensci_methods(wdef, sde=False, sb_exact=True, ddpm_clip=None)
            tm = torchcfm_methods(sde=False)
            rows = []
            for name in ["I-CFM", "OT-CFM", "W-CFM naive", "W-CFM", "SB-CFM exact", "DDPM", "DDPM v"]:
                for lib in (gm, tm):
                    if name in lib:
                        rows.append(train_and_eval(lib[name], pd, args.gmm_steps, args.batch, gmm_nfes, evd,
                                                   args.seed))
            result["gmm"][d] = {"floor": evd["floor"], "rows": rows}
            print(f"  gmm d={d}: {time.perf_counter() - t_start:.0f} s", file=sys.stderr, flush=True)
        print(f"## N(0, I) → Gaussian mixture (8 components): W2 at NFE {gmm_nfes} ({args.gmm_steps} steps)\n")
        head = "| method | library | " + " | ".join(f"d={d} @{n}" for d in args.dims for n in gmm_nfes) + " |"
        lines = [head, "|" + "---|" * (2 + len(args.dims) * len(gmm_nfes))]
        labels = [(r["label"], r["lib"]) for r in result["gmm"][args.dims[0]]["rows"]]
        for i, (label, lib) in enumerate(labels):
            cells = [fmt(result["gmm"][d]["rows"][i]["w2"][n], 2) for d in args.dims for n in gmm_nfes]
            lines.append(f"| {label} | {lib} | " + " | ".join(cells) + " |")
        lines.append("| floor (two target draws) | | " + " | ".join(
            fmt(result["gmm"][d]["floor"], 2) for d in args.dims for _ in gmm_nfes) + " |")
        print("\n".join(lines) + "\n")

    if "steps" in args.parts:
        reps = [200, 100, 30, 7] if not args.quick else [10, 5]
        st = step_times(args.batches, wdef, reps[: len(args.batches)] + [7] * (len(args.batches) - len(reps)),
                        budget_s=12.0 if not args.quick else 1.0, skip_s=8.0, seed=args.seed)
        result["step_times"] = st
        print("## Training-step time (median ms; 2D, MLP 3×64 unless named; ratios to I-CFM of the same library)\n")
        print(step_table(st, args.batches) + "\n")
        print("## gensci ÷ torchcfm, same method and batch\n")
        print(versus_table(st, args.batches) + "\n")

    result["total_seconds"] = time.perf_counter() - t_start
    print(f"total {result['total_seconds']:.0f} s")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
