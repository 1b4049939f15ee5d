"""Speed of the 3D atoms models (``domains/atoms``) beside EDM's own code.

EDM is Hoogeboom, Satorras, Vignac & Welling, "Equivariant Diffusion for Molecule Generation in
3D", ICML 2022 (arXiv 2203.17003); its code, github.com/ehoogeboom/e3_diffusion_for_molecules
(MIT), is imported at run time from a checkout named by ``--edm`` and never copied here.
Without ``--edm`` only gensci is measured.

    git clone https://github.com/ehoogeboom/e3_diffusion_for_molecules /tmp/edm   # code only is needed
    python scripts/bench_atoms.py --edm /tmp/edm           # 4 to 14 minutes on one thread (by CPU); writes docs/bench_atoms.json
    python scripts/bench_atoms.py --edm /tmp/edm --quick   # tiny settings, about a minute, to check that it runs (to /tmp)
    python scripts/bench_atoms.py                          # gensci alone

Everything runs on one torch thread. The implementations take turns (a new random order each
round), so that a change of load hits them alike; every time is a median after a warm-up, kept
both as wall-clock time and as this process's CPU time (``time.process_time``). On a shared
machine the wall time includes waiting for a core and the CPU time does not, so the CPU-time
ratios are the steadier ones; molecules per second are given from both.

1. **Sampling** (``sample``), a batch of ``--batch`` (64) molecules of ``--atoms`` (19, QM9's
   mode with hydrogens) atoms, end to end:

   * EDM: ``get_model`` (``qm9/models.py``) for QM9 with hydrogens (5 types + charges,
     ``include_charges=True``, ``normalize_factors [1, 4, 10]``, polynomial_2 schedule, and the
     README's EGNN settings: attention, tanh, one invariant sublayer, ``normalization_factor 1``)
     at ``nf`` x ``n_layers``, sampled with its own ``qm9/sampling.py: sample`` at
     ``diffusion_steps = T`` (T ancestral steps and the final ``p(x, h | z_0)`` call: T + 1
     network calls). ``dataset_info['max_n_nodes']`` is set to the batch's atom count, so the
     masks are those of that file with no padding beyond the 19 atoms.
   * gensci: ``GenerativeModel.sample`` (plan, sampler, decoding to ``Molecule3D``) of
     ``atoms/edm_tiny`` (EDM family: Gaussian diffusion of positions and one-hot types and
     charges, T = 1000, ``ddpm`` sampler on a strided grid) and ``atoms/tiny`` (flow family:
     positions, types, charges *and bonds*, ``euler`` sampler), with the EGNN trunk at hidden
     128, 4 layers (``model/atoms_egnn.yaml``'s defaults) or the e3nn trunk at
     ``model/atoms_e3nn.yaml``'s defaults; untrained, built as the engine builds them (the
     flow family's output layers scaled by 1e-3 for sampling, see :func:`tame`).

   The cost of a step is timed one step at a time inside each implementation's own loop
   (EDM's ``sample_p_zs_given_zt``, gensci's ``Sampler.step``), the implementations taking
   turns step by step (``--step-rounds``, median), with the network call timed inside it; the
   fixed cost of a chain (prior draw, EDM's final ``p(x, h | z_0)`` call, gensci's decoding)
   is a 2-step chain less two steps (median of ``--chain-rounds``). Molecules per second at
   S steps are ``batch / (fixed + S x step)``: every step is the same network call and update,
   so the cost is linear in S. One full chain of ``--check-steps`` (50) steps per model checks
   the prediction, and a full 1000-step chain at ``--long-batch`` (4) molecules is run for the
   like-for-like pair (``long``). EDM's paper size, nf 256 x 9 layers, against gensci's EGNN at
   256 x 9 at 50 steps (``big``): the same, without the check.
2. **Real states** (``real``): the untrained chains above drift far from molecules (positions of
   order 10^2 - 10^3), where some elementwise kernels (``exp``, SiLU) take slower paths; one
   network call on 64 real 19-atom QM9 molecules noised to t = 0.5 (each implementation's own
   normalisation and noising) times the networks on the states a trained model would see.
3. **Training step** (``train``): forward, backward, clipping, optimiser and EMA on 64 real
   19-atom QM9 molecules (EDM: ``losses.compute_loss_and_nll``, its adaptive
   ``utils.gradient_clipping``, AdamW with amsgrad and its EMA, as ``train_test.py`` does;
   gensci: the engine's ``GenerativeModule`` loss, AdamW, clipping at 1 and EMA).
4. **Cost against the atom count** (``scale``): one no-grad forward pass at N = 10 ... 60
   atoms, batch 16, EDM's EGNN against gensci's (both families).
5. **Operators** (``profile``): the top operators of one such real-state call (torch.profiler);
   the split of a sampling step into the network call and the rest is in the sampling rows.

``--parts`` picks the parts; the raw numbers go to ``--out`` (docs/bench_atoms.json).
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"  # before torch is imported
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import contextlib
import copy
import io
import json
import platform
import random
import statistics
import subprocess
import sys
import time
import types
import warnings
from pathlib import Path
from typing import Any, Callable

import torch

torch.set_num_threads(1)
torch.set_num_interop_threads(1)

from omegaconf import OmegaConf  # noqa: E402

import domains.atoms  # noqa: E402
from gensci.config import compose, config_dir  # noqa: E402
from gensci.core.guidance import GuidedModel  # noqa: E402
from gensci.core.state import State  # noqa: E402
from gensci.model import GenerativeModel, build, make_sampler  # noqa: E402
from gensci.training.module import GenerativeModule  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCALE_N = [10, 19, 29, 45, 60]


def log(*a: Any) -> None:
    print(*a, flush=True)


def median(xs: list[float]) -> float:
    return float(statistics.median(xs))


class Clock:
    """Wall and CPU seconds (this process's) of a block; ``clock.both`` is ``(wall, cpu)``.

    The machine may be shared: the wall time then includes waiting for a core, the CPU time
    does not (it still includes cache and memory-bandwidth contention)."""

    def __enter__(self) -> "Clock":
        self.w0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.wall, self.cpu = time.perf_counter() - self.w0, time.process_time() - self.c0

    @property
    def both(self) -> tuple[float, float]:
        return self.wall, self.cpu


Times = tuple[float, float]


@contextlib.contextmanager
def quiet():
    """Swallow EDM's prints (its schedules, clipping and drift messages)."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


# ---------------------------------------------------------------------------------- EDM
class EDM:
    """EDM's own model for QM9 with hydrogens, built by its ``get_model`` from a checkout."""

    kind = "edm"

    def __init__(self, path: str, nf: int, layers: int):
        self.path, self.nf, self.layers = path, nf, layers
        self.name = f"EDM {nf}x{layers}"
        self.label = f"EDM's code, EGNN nf {nf}, {layers} layers"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import qm9.losses as losses
            import qm9.models as models
            import qm9.sampling as sampling
            import utils as edm_utils
            from configs.datasets_config import get_dataset_info
            from equivariant_diffusion import utils as diffusion_utils
        for mod in (models, sampling, edm_utils):
            if not str(Path(mod.__file__).resolve()).startswith(str(Path(path).resolve())):
                raise SystemExit(f"--edm: {mod.__name__} was imported from {mod.__file__}, not from {path}")
        self.models, self.sampling, self.losses, self.utils, self.diffusion_utils = models, sampling, losses, edm_utils, diffusion_utils
        self.info = get_dataset_info("qm9", False)
        self._vdm: dict[int, Any] = {}
        self.params = sum(p.numel() for p in self.vdm(1000).parameters())

    def args(self, steps: int) -> types.SimpleNamespace:
        # main_qm9.py's defaults with the README's QM9 command (polynomial_2, 1e-5, l2, [1,4,10])
        return types.SimpleNamespace(
            nf=self.nf, n_layers=self.layers, diffusion_steps=steps, conditioning=[], include_charges=True,
            condition_time=True, context_node_nf=0, attention=True, tanh=True, model="egnn_dynamics",
            norm_constant=1, inv_sublayers=1, sin_embedding=False, normalization_factor=1, aggregation_method="sum",
            probabilistic_model="diffusion", diffusion_noise_schedule="polynomial_2", diffusion_noise_precision=1e-5,
            diffusion_loss_type="l2", normalize_factors=[1, 4, 10], ode_regularization=1e-3, lr=1e-4,
            ema_decay=0.9999, clip_grad=True)

    def vdm(self, steps: int):
        """The model with ``diffusion_steps = steps``; the same weights for every T (seed 0)."""
        if steps not in self._vdm:
            torch.manual_seed(0)
            with quiet():
                vdm, nodes_dist, _ = self.models.get_model(self.args(steps), torch.device("cpu"), self.info, None)
            self._vdm[steps] = vdm.eval()
            self.nodes_dist = nodes_dist
        return self._vdm[steps]

    def sample(self, steps: int, batch: int, atoms: int) -> Times:
        info = dict(self.info, max_n_nodes=atoms)
        vdm = self.vdm(steps)
        torch.manual_seed(0)
        with Clock() as c, quiet():
            self.sampling.sample(self.args(steps), torch.device("cpu"), vdm, info,
                                 nodesxsample=torch.full((batch,), atoms, dtype=torch.long))
        return c.both

    @staticmethod
    def masks(batch: int, atoms: int) -> tuple[torch.Tensor, torch.Tensor]:
        node = torch.ones(batch, atoms)
        edge = (node[:, None, :] * node[:, :, None]) * (~torch.eye(atoms, dtype=torch.bool))[None]
        return node[..., None], edge.reshape(batch * atoms * atoms, 1)

    @torch.no_grad()
    def forward(self, batch: int, atoms: int) -> Times:
        vdm = self.vdm(1000)
        node, edge = self.masks(batch, atoms)
        z = torch.randn(batch, atoms, 3 + vdm.in_node_nf, generator=torch.Generator().manual_seed(0))
        z[..., :3] -= z[..., :3].mean(1, keepdim=True)
        with Clock() as c:
            vdm.phi(z, torch.full((batch, 1), 0.5), node, edge, None)
        return c.both

    def real_state(self, mols: dict[str, torch.Tensor], t: float = 0.5) -> Callable[[], Times]:
        """A no-grad network call on real molecules noised as EDM's ``compute_loss`` noises them
        (its normalisation, ``z_t = alpha_t xh + sigma_t eps`` at ``t``)."""
        vdm = self.vdm(1000)
        node = mols["atom_mask"][..., None].float()
        b, n = node.shape[:2]
        _, edge = self.masks(b, n)
        x, h, _ = vdm.normalize(mols["positions"], {"categorical": mols["one_hot"], "integer": mols["charges"]}, node)
        xh = torch.cat([x, h["categorical"], h["integer"]], dim=2)
        tt = torch.full((b, 1), t)
        gamma = vdm.inflate_batch_array(vdm.gamma(tt), xh)
        torch.manual_seed(0)
        eps = vdm.sample_combined_position_feature_noise(b, n, node)
        z = vdm.alpha(gamma, xh) * xh + vdm.sigma(gamma, xh) * eps

        @torch.no_grad()
        def call() -> Times:
            with Clock() as c:
                vdm.phi(z, tt, node, edge, None)
            return c.both

        return call

    # training, as train_test.py: train_epoch does it
    def setup_train(self, mols: dict[str, torch.Tensor]) -> None:
        args = self.args(1000)
        torch.manual_seed(0)
        with quiet():
            model, nodes_dist, _ = self.models.get_model(args, torch.device("cpu"), self.info, None)
        self.train_model, self.train_args, self.train_nodes = model.train(), args, nodes_dist
        self.optim = self.models.get_optim(args, model)
        self.queue = self.utils.Queue()
        self.queue.add(3000)  # as main_qm9.py
        self.ema_model = copy.deepcopy(model)
        self.ema = self.diffusion_utils.EMA(args.ema_decay)
        b, n = mols["one_hot"].shape[:2]
        node = mols["atom_mask"][..., None].float()
        edge = (mols["atom_mask"][:, None, :] & mols["atom_mask"][:, :, None]) & ~torch.eye(n, dtype=torch.bool)[None]
        self.batch = {"x": mols["positions"], "h": {"categorical": mols["one_hot"], "integer": mols["charges"]},
                      "node_mask": node, "edge_mask": edge.float().reshape(b * n * n, 1)}

    def train_step(self) -> Times:
        m, d, a = self.train_model, self.batch, self.train_args
        with Clock() as c, quiet():
            self.optim.zero_grad()
            x = self.diffusion_utils.remove_mean_with_mask(d["x"], d["node_mask"])
            nll, reg, _ = self.losses.compute_loss_and_nll(a, m, self.train_nodes, x, d["h"], d["node_mask"],
                                                           d["edge_mask"], None)
            loss = nll + a.ode_regularization * reg
            loss.backward()
            self.utils.gradient_clipping(m, self.queue)
            self.optim.step()
            self.ema.update_model_average(self.ema_model, m)
        return c.both

    def stepper(self, batch: int, atoms: int) -> Callable[[], tuple[float, float, float, float]]:
        """One reverse step of EDM's own loop per call, ``sample_p_zs_given_zt`` on a T = 1000
        grid from its prior draw, as ``EnVariationalDiffusion.sample`` takes it: returns the
        wall and CPU seconds of the step and of its network call (``phi``)."""
        vdm = self.vdm(1000)
        node, edge = self.masks(batch, atoms)
        torch.manual_seed(0)
        state = {"z": vdm.sample_combined_position_feature_noise(batch, atoms, node), "k": vdm.T - 1, "net": (0.0, 0.0)}
        phi = vdm.phi

        def timed_phi(*a, **k):
            with Clock() as c:
                out = phi(*a, **k)
            state["net"] = c.both
            return out

        @torch.no_grad()
        def step() -> tuple[float, float, float, float]:
            s = torch.full((batch, 1), state["k"], dtype=torch.float32) / vdm.T
            vdm.phi = timed_phi
            try:
                with Clock() as c:
                    state["z"] = vdm.sample_p_zs_given_zt(s, s + 1.0 / vdm.T, state["z"], node, edge, None)
            finally:
                del vdm.phi
            state["k"] = state["k"] - 1 if state["k"] > 0 else vdm.T - 1
            return (*c.both, *state["net"])

        return step


# ---------------------------------------------------------------------------------- gensci
_DOMAINS: dict[str, Any] = {}


def atoms_domain(family: str):
    if family not in _DOMAINS:
        d = domains.atoms.AtomsDomain(limit=2000, progress=False, family=family)
        d.prepare()
        _DOMAINS[family] = d
    return _DOMAINS[family]


def model_overrides(group: str, **changes: Any) -> list[str]:
    """``model=<group>`` with every size key set to the group file's value (or ``changes``), so
    that an experiment preset's own model sizes do not leak in."""
    node = OmegaConf.to_container(OmegaConf.load(config_dir() / "model" / f"{group}.yaml"))
    out = [f"model={group}"]
    for k in ("hidden", "edge_dim"):
        out.append(f"model.{k}={changes.get(k, node[k])}")
    for k, v in node["trunk_kwargs"].items():
        out.append(f"model.trunk_kwargs.{k}={changes.get(k, v)}")
    return out


@torch.no_grad()
def tame(network: torch.nn.Module, factor: float = 1e-3) -> None:
    """Scale the output layers of an untrained flow-family network (node and bond heads, and
    the e3nn trunk's vector head) by ``factor``.

    Untrained, the e3nn trunk puts out logits of order 10^2 - 10^4 and displacements of
    order 10^2 on the prior's noise. A bond can then jump to the aromatic class, which has
    zero marginal on kekulised data, and when the network gives that class a probability that
    underflows to zero the next posterior jump has no mass at all and ``torch.multinomial``
    raises. A trained network never gets there. The scaling changes no shape and no
    operation, so the cost is unchanged."""
    heads = [network.bond_head, *network.node_heads.values()]
    layers = [h[-1] for h in heads if h is not None]
    if hasattr(network.trunk, "vec_head"):
        layers.append(network.trunk.vec_head)
    for layer in layers:
        for p in layer.parameters():
            p.mul_(factor)


class Gensci:
    kind = "gensci"

    def __init__(self, name: str, label: str, experiment: str, overrides: list[str]):
        self.name, self.label, self.experiment, self.overrides = name, label, experiment, overrides
        cfg = OmegaConf.to_container(compose(experiment, overrides), resolve=True)
        self.config = cfg
        self.domain = atoms_domain(cfg["domain"]["family"])
        torch.manual_seed(0)
        self.process, self.network = build(cfg, self.domain)
        if self.domain.family == "flow":
            tame(self.network)
        self.model = GenerativeModel(self.domain, self.process, self.network, cfg)
        self.params = sum(p.numel() for p in self.network.parameters())
        self.sampler_name = cfg["sampler"]["_target_"].rsplit(".", 1)[-1]

    def sample(self, steps: int, batch: int, atoms: int) -> Times:
        self.network.eval()
        with Clock() as c:
            self.model.sample(batch, steps=steps, seed=0, progress=False, atoms=atoms)
        return c.both

    def record(self, batch: int, atoms: int) -> tuple[State, dict[str, torch.Tensor]]:
        """A prior draw of ``batch`` molecules of ``atoms`` atoms with its masks (any N)."""
        real = torch.ones(batch, atoms, dtype=torch.bool)
        mask = self.domain._masks(real)
        k = len(self.domain.elements)
        if self.domain.family == "flow":
            shape = {"pos": (batch, atoms, 3), "types": (batch, atoms), "charges": (batch, atoms), "bonds": (batch, atoms, atoms)}
        else:
            shape = {"pos": (batch, atoms, 3), "types": (batch, atoms, k), "charges": (batch, atoms, 3)}
        x = self.process.prior(shape, generator=torch.Generator().manual_seed(0), mask=mask)
        return x, mask

    @torch.no_grad()
    def forward(self, batch: int, atoms: int) -> Times:
        self.network.eval()
        x, mask = self.record(batch, atoms)
        t = torch.full((batch,), 0.5)
        with Clock() as c:
            self.network(x, t, mask=mask)
        return c.both

    def real_state(self, rows: list[int], t: float = 0.5) -> Callable[[], Times]:
        """A no-grad network call on real molecules corrupted by the process at ``t``."""
        self.network.eval()
        b = self.domain.featurise(rows)
        tt = torch.full((len(rows),), t)
        c = self.process.corrupt(b.x, generator=torch.Generator().manual_seed(0), mask=b.mask, t=tt)

        @torch.no_grad()
        def call() -> Times:
            with Clock() as clock:
                self.network(c.x_t, tt, mask=b.mask)
            return clock.both

        return call

    def setup_train(self, rows: list[int]) -> None:
        torch.manual_seed(0)
        _, net = build(self.config, self.domain)
        o = self.config["optim"]
        self.train_net = net.train()
        self.module = GenerativeModule(net, self.process, self.domain, lr=o["lr"], weight_decay=o["weight_decay"],
                                       ema_decay=o["ema_decay"], seed=0)
        self.opt = torch.optim.AdamW(net.parameters(), lr=o["lr"], weight_decay=o["weight_decay"])
        self.clip = float(self.config["trainer"].get("gradient_clip_val") or 1.0)
        self.batch = self.domain.featurise(rows)

    def train_step(self) -> Times:
        net = self.train_net
        with Clock() as c:
            loss, _ = self.module._loss(self.batch, net)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), self.clip)
            self.opt.step()
            self.module.ema.update(net)
        return c.both

    def stepper(self, batch: int, atoms: int) -> Callable[[], tuple[float, float, float, float]]:
        """One step of the sampler's own loop per call (``Sampler.step``: the network through
        ``GuidedModel``, then every field's move) on the 1000-step grid (T-grid) or a 100-step
        grid (continuous time), from a prior draw: returns the wall and CPU seconds of the step
        and of its network call."""
        self.network.eval()
        plan = self.domain.plan(batch, atoms=atoms)
        smp = make_sampler(self.config["sampler"], steps=self.process.timesteps or 100, progress=False)
        grid = self.process.time_grid(smp.steps)
        g = torch.Generator().manual_seed(0)
        state = {"x": self.process.prior(plan.shape, generator=g, mask=plan.mask), "k": 0, "net": (0.0, 0.0)}

        def timed(x_t, t, cond=None, mask=None):
            with Clock() as c:
                out = self.network(x_t, t, cond=cond, mask=mask)
            state["net"] = c.both
            return out

        denoise = GuidedModel(timed, None, self.process.guidance_space)

        @torch.no_grad()
        def step() -> tuple[float, float, float, float]:
            k = state["k"]
            t, s = grid[k].expand(batch), grid[k + 1].expand(batch)
            with Clock() as c:
                state["x"] = smp.step(denoise, self.process, state["x"], t, s, cond=None, mask=plan.mask, generator=g)
            state["k"] = k + 1 if k + 2 < len(grid) else 0
            return (*c.both, *state["net"])

        return step


def gensci_models(which: str) -> list[Gensci]:
    egnn = model_overrides("atoms_egnn")
    if which == "small":
        return [
            Gensci("gensci EDM-family EGNN 128x4", "gensci, EDM family (atoms/edm_tiny), EGNN hidden 128, 4 layers",
                   "atoms/edm_tiny", egnn),
            Gensci("gensci flow EGNN 128x4", "gensci, flow family with bonds (atoms/tiny), EGNN hidden 128, 4 layers",
                   "atoms/tiny", egnn),
            Gensci("gensci flow e3nn", "gensci, flow family with bonds (atoms/tiny), e3nn trunk at its defaults",
                   "atoms/tiny", model_overrides("atoms_e3nn")),
        ]
    return [Gensci("gensci EDM-family EGNN 256x9", "gensci, EDM family, EGNN hidden 256 (edges 64), 9 layers",
                   "atoms/edm_tiny", model_overrides("atoms_egnn", hidden=256, edge_dim=64, layers=9))]


# ---------------------------------------------------------------------------------- timing
def rounds(models: list[Any], reps: int, fn: Callable[[Any], Times], rng: random.Random, what: str) -> dict[str, list[Times]]:
    """``reps`` rounds; in each, every model once, in a new random order."""
    out: dict[str, list[Times]] = {m.name: [] for m in models}
    for r in range(reps):
        order = list(models)
        rng.shuffle(order)
        for m in order:
            out[m.name].append(fn(m))
            log(f"    {what} round {r + 1}/{reps} {m.name}: {out[m.name][-1][0]:.2f} s (cpu {out[m.name][-1][1]:.2f} s)")
    return out


def summary(times: list[Times]) -> dict[str, Any]:
    """Medians of wall and CPU seconds, with the raw numbers."""
    return {"wall_s": median([w for w, _ in times]), "cpu_s": median([c for _, c in times]),
            "wall_all": [w for w, _ in times], "cpu_all": [c for _, c in times]}


def chain_rows(models: list[Any], batch: int, atoms: int, targets: list[int], rng: random.Random, step_reps: int,
               chain_reps: int, check_steps: int | None) -> list[dict[str, Any]]:
    """Per-step cost from single steps interleaved model by model (median of ``step_reps``),
    the fixed cost of a chain from 2-step chains (median of ``chain_reps``), and, if asked, one
    full ``check_steps`` chain per model against the prediction ``fixed + steps x per-step``."""
    steppers = {}
    for m in models:  # warm-up: a 1-step chain and one step each (allocations, EDM's edge lists)
        m.sample(1, batch, atoms)
        steppers[m.name] = m.stepper(batch, atoms)
        steppers[m.name]()
    steps: dict[str, list[tuple[float, float, float, float]]] = {m.name: [] for m in models}
    for r in range(step_reps):
        order = list(models)
        rng.shuffle(order)
        for m in order:
            steps[m.name].append(steppers[m.name]())
        log(f"    step round {r + 1}/{step_reps}: " + ", ".join(f"{m.name} {steps[m.name][-1][0]:.2f} s" for m in models))
    two = rounds(models, chain_reps, lambda m: m.sample(2, batch, atoms), rng, "2-step chain")
    check = rounds(models, 1, lambda m: m.sample(check_steps, batch, atoms), rng, f"{check_steps}-step chain") if check_steps else {}
    rows = []
    for m in models:
        st = steps[m.name]
        row = {"model": m.name, "label": m.label, "impl": m.kind, "params": m.params, "batch": batch, "atoms": atoms,
               "step": summary([(u[0], u[1]) for u in st]), "network": summary([(u[2], u[3]) for u in st]),
               "two_step_chain": summary(two[m.name])}
        for clock in ("wall", "cpu"):
            per = row["step"][f"{clock}_s"]
            fixed = row["two_step_chain"][f"{clock}_s"] - 2 * per
            row[clock] = {"ms_per_step": 1e3 * per, "network_ms_per_step": 1e3 * row["network"][f"{clock}_s"],
                          "fixed_ms": 1e3 * fixed, "seconds": {str(s): fixed + s * per for s in targets},
                          "mol_per_s": {str(s): batch / (fixed + s * per) for s in targets}}
            if check:
                row[clock]["check"] = {"steps": check_steps, "seconds": check[m.name][0][0 if clock == "wall" else 1],
                                       "predicted_seconds": fixed + check_steps * per}
        rows.append(row)
    return rows


def ratio_rows(rows: list[dict[str, Any]], pairs: list[tuple[str, str]], targets: list[int]) -> list[dict[str, Any]]:
    by = {r["model"]: r for r in rows}
    out = []
    for g, e in pairs:
        if g in by and e in by:
            out.append({"gensci": g, "edm": e, **{clock: {str(s): by[g][clock]["mol_per_s"][str(s)] / by[e][clock]["mol_per_s"][str(s)]
                                                          for s in targets} for clock in ("wall", "cpu")}})
    return out


def train_mols(domain, batch: int, atoms: int) -> tuple[list[int], dict[str, torch.Tensor]]:
    """The first ``batch`` training molecules with ``atoms`` atoms (repeated if too few), as gensci
    rows and as EDM's tensors (positions in Å, one-hot H C N O F, nuclear charges, atom mask)."""
    data = domain.data
    counts = data.atom_ptr[1:] - data.atom_ptr[:-1]
    rows = [r for r in domain.rows("train") if int(counts[r]) == atoms]
    rows = (rows * (batch // max(len(rows), 1) + 1))[:batch]
    pos = torch.zeros(batch, atoms, 3)
    one_hot = torch.zeros(batch, atoms, len(domain.elements))
    charges = torch.zeros(batch, atoms, 1)
    for k, r in enumerate(rows):
        a0, a1 = int(data.atom_ptr[r]), int(data.atom_ptr[r + 1])
        p = data.positions[a0:a1].float()
        pos[k] = p - p.mean(0)
        one_hot[k, torch.arange(atoms), domain.type_index(data.numbers[a0:a1])] = 1.0
        charges[k, :, 0] = data.numbers[a0:a1].float()
    return rows, {"positions": pos, "one_hot": one_hot, "charges": charges,
                  "atom_mask": torch.ones(batch, atoms, dtype=torch.bool)}


def machine() -> dict[str, Any]:
    name, flags = platform.processor(), []
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name") and name == platform.processor():
            name = line.split(":", 1)[1].strip()
        if line.startswith("flags") and not flags:
            flags = line.split(":", 1)[1].split()
    import e3nn

    return {"cpu": name, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch_interop_threads": torch.get_num_interop_threads(), "torch": torch.__version__,
            "e3nn": e3nn.__version__, "python": platform.python_version(),
            "simd": [f for f in flags if f.startswith(("avx512", "amx")) or f in ("avx2", "fma")],
            "load_average_1min_start": os.getloadavg()[0]}


def edm_commit(path: str) -> str | None:
    try:
        return subprocess.run(["git", "-C", path, "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip() or None
    except (OSError, subprocess.CalledProcessError):
        return None


# ---------------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edm", default=None, help="a checkout of ehoogeboom/e3_diffusion_for_molecules (optional)")
    parts = ["sample", "long", "big", "real", "train", "scale", "profile"]
    ap.add_argument("--parts", nargs="+", default=parts, choices=parts)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--atoms", type=int, default=19)
    ap.add_argument("--step-rounds", type=int, default=8, help="single steps per model (interleaved) at batch 64")
    ap.add_argument("--chain-rounds", type=int, default=3, help="2-step chains per model, for the fixed cost")
    ap.add_argument("--check-steps", type=int, default=50, help="one full chain of this many steps per model (0: none)")
    ap.add_argument("--big-step-rounds", type=int, default=3, help="single steps per model at EDM's paper size")
    ap.add_argument("--long-batch", type=int, default=4, help="batch of the full 1000-step chains")
    ap.add_argument("--long-steps", type=int, default=1000)
    ap.add_argument("--train-steps", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="tiny settings, to check that it runs")
    ap.add_argument("--out", default=str(ROOT / "docs" / "bench_atoms.json"))
    args = ap.parse_args()
    if args.quick:
        args.batch, args.step_rounds, args.chain_rounds, args.check_steps = 4, 2, 1, 6
        args.big_step_rounds, args.long_batch, args.long_steps, args.train_steps = 1, 2, 20, 1
        if args.out == str(ROOT / "docs" / "bench_atoms.json"):
            args.out = "/tmp/bench_atoms_quick.json"
    targets = [50, 100, 1000]
    rng = random.Random(0)
    start = time.time()
    result: dict[str, Any] = {"machine": machine(), "settings": vars(args).copy(), "edm": None}
    if args.edm:
        sys.path.insert(0, str(Path(args.edm).resolve()))
        result["edm"] = {"path": args.edm, "commit": edm_commit(args.edm)}
    log(f"machine: {result['machine']}")

    log("building models")
    small: list[Any] = gensci_models("small")
    edm_small = EDM(args.edm, 128, 4) if args.edm else None
    if edm_small:
        small.insert(0, edm_small)
    result["models"] = {m.name: {"label": m.label, "params": m.params, **({"config_model": m.config["model"],
                                                                           "sampler": m.sampler_name}
                                                                          if m.kind == "gensci" else {})} for m in small}
    pairs = [(m.name, "EDM 128x4") for m in small if m.kind == "gensci"]

    loads: dict[str, float] = {}
    result["load_average_1min"] = loads
    if "sample" in args.parts:
        loads["sample"] = os.getloadavg()[0]
        log(f"sampling: batch {args.batch} x {args.atoms} atoms")
        rows = chain_rows(small, args.batch, args.atoms, targets, rng, args.step_rounds, args.chain_rounds,
                          args.check_steps or None)
        result["sampling"] = rows
        result["sampling_ratios"] = ratio_rows(rows, pairs, targets)
        for r in rows:
            w, c = r["wall"], r["cpu"]
            log(f"  {r['model']}: {w['ms_per_step']:.0f} ms/step (cpu {c['ms_per_step']:.0f}; network {w['network_ms_per_step']:.0f}), "
                f"fixed {w['fixed_ms']:.0f} ms, " + ", ".join(f"{s} steps {v:.3f} mol/s" for s, v in w["mol_per_s"].items()) +
                (f"; {w['check']['steps']}-step chain {w['check']['seconds']:.1f} s (predicted "
                 f"{w['check']['predicted_seconds']:.1f} s)" if "check" in w else ""))

    if "long" in args.parts:
        loads["long"] = os.getloadavg()[0]
        pair = [m for m in small if m.name in ("EDM 128x4", "gensci EDM-family EGNN 128x4")]
        log(f"full {args.long_steps}-step chains at batch {args.long_batch}")
        for m in pair:
            m.sample(2, args.long_batch, args.atoms)
        t = rounds(pair, 1, lambda m: m.sample(args.long_steps, args.long_batch, args.atoms), rng, f"{args.long_steps}-step chain")
        result["long_chains"] = [{"model": k, "batch": args.long_batch, "atoms": args.atoms, "steps": args.long_steps,
                                  "wall_s": v[0][0], "cpu_s": v[0][1], "mol_per_s": args.long_batch / v[0][0]}
                                 for k, v in t.items()]
        if len(t) == 2:
            e, g = t["EDM 128x4"][0], t["gensci EDM-family EGNN 128x4"][0]
            result["long_ratio"] = {"wall": e[0] / g[0], "cpu": e[1] / g[1]}

    if "big" in args.parts:
        loads["big"] = os.getloadavg()[0]
        big: list[Any] = gensci_models("big")
        if args.edm:
            big.insert(0, EDM(args.edm, 256, 9))
        b_batch = args.batch
        log(f"EDM's paper size: batch {b_batch} x {args.atoms} atoms")
        rows = chain_rows(big, b_batch, args.atoms, [targets[0]], rng, args.big_step_rounds, 1, None)
        result["big_sampling"] = rows
        result["big_ratios"] = ratio_rows(rows, [("gensci EDM-family EGNN 256x9", "EDM 256x9")], [targets[0]])
        for m in big:
            result["models"][m.name] = {"label": m.label, "params": m.params}
        for r in rows:
            log(f"  {r['model']}: {r['wall']['ms_per_step']:.0f} ms/step (cpu {r['cpu']['ms_per_step']:.0f}), "
                f"{targets[0]} steps {r['wall']['mol_per_s'][str(targets[0])]:.3f} mol/s")
    else:
        big = []

    rows_, mols = train_mols(atoms_domain("edm"), args.batch, args.atoms)
    if "real" in args.parts:
        loads["real"] = os.getloadavg()[0]
        log(f"network calls on {args.batch} real {args.atoms}-atom QM9 molecules noised to t = 0.5")
        table = []
        for group, reps in ((small, args.step_rounds), (big, args.big_step_rounds)):
            models = list(group)
            if not models:
                continue
            calls = {m.name: m.real_state(mols if m.kind == "edm" else rows_) for m in models}
            for c in calls.values():
                c()
            t = rounds(models, reps, lambda m: calls[m.name](), rng, "real-molecule call")
            table += [{"model": k, "batch": args.batch, "atoms": args.atoms, "t": 0.5, **summary(v)} for k, v in t.items()]
        result["real_states"] = table

    if "train" in args.parts:
        loads["train"] = os.getloadavg()[0]
        models = small + big
        log(f"training steps: batch {args.batch} x {args.atoms} atoms")
        for m in models:
            m.setup_train(mols if m.kind == "edm" else rows_)
            m.train_step()  # warm-up
        reps = lambda m: args.train_steps if m.params < 2_000_000 else max(1, args.train_steps - 1)  # noqa: E731
        out: dict[str, list[Times]] = {m.name: [] for m in models}
        for r in range(max(reps(m) for m in models)):
            order = [m for m in models if len(out[m.name]) < reps(m)]
            rng.shuffle(order)
            for m in order:
                out[m.name].append(m.train_step())
                log(f"    train round {r + 1} {m.name}: {out[m.name][-1][0]:.2f} s")
        result["training"] = [{"model": m.name, "params": m.params, "batch": args.batch, "atoms": args.atoms,
                               **summary(out[m.name])} for m in models]
        for m in models:
            m.train_net = m.train_model = None  # free the memory

    if "scale" in args.parts:
        loads["scale"] = os.getloadavg()[0]
        ns = SCALE_N if not args.quick else [10, 19]
        models = [m for m in small if m.name in ("EDM 128x4", "gensci EDM-family EGNN 128x4", "gensci flow EGNN 128x4")]
        log(f"forward against the atom count, batch 16: N = {ns}")
        table = []
        for n in ns:
            for m in models:
                m.forward(16, n)
            t = rounds(models, 3 if not args.quick else 1, lambda m: m.forward(16, n), rng, f"forward N={n}")
            table.append({"atoms": n, "pairs": 16 * n * (n - 1),
                          "wall_ms": {k: 1e3 * median([w for w, _ in v]) for k, v in t.items()},
                          "cpu_ms": {k: 1e3 * median([c for _, c in v]) for k, v in t.items()}})
        result["scaling"] = table

    if "profile" in args.parts:
        from torch.profiler import ProfilerActivity, profile

        log(f"operators of one real-state call at batch {args.batch} x {args.atoms}")
        ops = {}
        for m in small:
            if m.name not in ("EDM 128x4", "gensci EDM-family EGNN 128x4"):
                continue
            call = m.real_state(mols if m.kind == "edm" else rows_)
            call()
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                call()
            avg = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
            ops[m.name] = {"total_ms": sum(e.self_cpu_time_total for e in avg) / 1e3,
                           "top": [{"op": e.key, "calls": e.count, "self_ms": e.self_cpu_time_total / 1e3} for e in avg[:12]]}
        result["profile"] = {"forward_ops": ops}

    result["machine"]["load_average_1min_end"] = os.getloadavg()[0]
    result["wall_seconds"] = time.time() - start
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    log(f"wrote {args.out} after {result['wall_seconds']:.0f} s")


if __name__ == "__main__":
    main()
