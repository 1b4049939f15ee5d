"""Molecules benchmark: gensci's Graph DiT beside torch-molecule's GraphDITMolecularGenerator.

Parts (``--parts``, any subset, in this order):

* ``speed``    seconds per molecule, gensci and torch-molecule at the same size (hidden 256,
               depth 4, 8 heads), batch 200 and number of denoising steps, with guidance 2
               (a conditional and an unconditional pass per step), decoding to SMILES included.
               With ``--guidance-interval LO,HI`` gensci also runs guided only in that interval
               of time (at ``--interval-scale``), the conditional pass alone elsewhere
               (``fp32+interval``); scripts/bench_guidance_interval.py measures which interval
               and scale keep the metrics of full guidance on the bundled model.
* ``train``    training steps per second at batch 256, same size, each library's own step.
* ``atoms``    gensci's cost against the number of heavy atoms N: network forward and one
               guided sampling step (posterior included) on random graphs, the network
               sized for each ``max_atoms`` (torch-molecule's forward beside it).
* ``walltime`` both trained for the same wall time on the same 40k QM9 molecules and gap
               labels, then 500 molecules each conditioned on test-set gaps at guidance 2:
               validity and gap MAE by the same oracle (random forest on ECFP4, fit on the
               QM9 train split), against the MAE for shuffled targets (no control).
* ``steps``    quality against the number of sampling steps of one gensci model (the bundled
               ``molecules/qm9`` by default): validity without correction, uniqueness, gap MAE.

torch-molecule (MIT) is a benchmark-only extra: ``pip install --no-deps torch-molecule==0.2.0``.
Without it the gensci half runs alone.

    python scripts/bench_molecules.py                              # everything (about 70 min on 2 cores)
    python scripts/bench_molecules.py --parts speed train atoms   # about 15 min
    python scripts/bench_molecules.py --parts steps --model molecules/qm9
    python scripts/bench_molecules.py --quick                      # tiny settings, checks that it runs

Results are merged into ``docs/bench_molecules.json`` (one key per part).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf
from rdkit import Chem, RDLogger

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from domains.molecules.domain import MoleculesDomain  # noqa: E402
from domains.molecules.network import GraphDiT  # noqa: E402
from domains.molecules.process import GraphDiffusion  # noqa: E402
from domains.molecules.space import GraphSpace, slot_mask  # noqa: E402
from gensci.config import compose, to_plain  # noqa: E402
from gensci.core.guidance import Guidance, GuidedModel  # noqa: E402
from gensci.machine import cpu_name
from gensci.model import GenerativeModel, build, bundled_models, load, make_sampler  # noqa: E402
from gensci.nn.compiled import compiled  # noqa: E402
from gensci.nn.precision import with_precision  # noqa: E402
from gensci.training.module import GenerativeModule  # noqa: E402
from samplers.categorical import CategoricalSampler  # noqa: E402

try:
    from torch_molecule import GraphDITMolecularGenerator
    from torch_molecule.generator.graph_dit import modeling_graph_dit as tm_modeling
    from torch_molecule.generator.graph_dit.diffusion import NoiseScheduleDiscrete
    from torch_molecule.generator.graph_dit.transformer import Transformer as TMTransformer
    import torch_molecule
except ImportError:  # benchmark-only extra
    GraphDITMolecularGenerator = None
    torch_molecule = None

RDLogger.DisableLog("rdApp.*")

HIDDEN, DEPTH, HEADS = 256, 4, 8
LIMIT = 50000  # QM9's first 50k molecules: gensci's seeded 80/10/10 split gives 40k train molecules
LR = 5e-4
CLIP = 1.0
COND_DROPOUT = 0.1


# --------------------------------------------------------------------------- shared
def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def gensci_config(run_dir: str | None = None, limit: int = LIMIT) -> Any:
    """The bundled QM9 preset at the benchmark's size, conditioned on the gap only."""
    overrides = [f"domain.limit={limit}", "domain.numeric_conditions=[gap]", "domain.derived_conditions=[]",
                 f"model.hidden={HIDDEN}", f"model.depth={DEPTH}", f"model.attention_heads={HEADS}",
                 f"model.cond_dropout={COND_DROPOUT}", f"optim.lr={LR}", "threads=1", "trainer.enable_progress_bar=false"]
    if run_dir is not None:
        overrides.append(f"run_dir={run_dir}")
    return compose("molecules/qm9", overrides)


def qm9_domain(limit: int = LIMIT) -> MoleculesDomain:
    d = MoleculesDomain(source="qm9", numeric_conditions=["gap"], limit=limit)
    d.prepare()
    return d


def split_data(domain: MoleculesDomain, split: str) -> tuple[list[str], np.ndarray]:
    graphs = domain._load()[split]
    return list(graphs.smiles), graphs.numeric["gap"].numpy().astype(np.float64)


def untrained_gensci(domain: MoleculesDomain, seed: int = 0) -> GenerativeModel:
    cfg = to_plain(gensci_config())
    torch.manual_seed(seed)
    process, network = build(cfg, domain)
    return GenerativeModel(domain, process, network, cfg)


def gensci_sample(model: GenerativeModel, values: np.ndarray, steps: int, guidance: float | Guidance, seed: int = 0,
                  batch: int = 4096, precision: str = "fp32", network: torch.nn.Module | None = None):
    """``len(values)`` molecules, molecule i conditioned on ``gap = values[i]``; decoded.
    ``guidance`` is a scale or a :class:`Guidance` (e.g. limited to an interval);
    ``precision="bf16"`` runs the network in bfloat16 (the posterior stays float32); ``network``
    replaces the model's own (e.g. its compiled form)."""
    guidance = guidance if isinstance(guidance, Guidance) else Guidance(scale=guidance)
    network = with_precision(model.network if network is None else network, precision)
    n = len(values)
    plan = model.domain.plan(n, {"gap": float(values[0])})
    plan.cond["gap"] = torch.as_tensor(values, dtype=torch.float32)
    plan.info["requested"] = {}
    smp = make_sampler(model.config["sampler"], steps=steps, progress=False)
    g = torch.Generator().manual_seed(seed)
    xs = []
    for start in range(0, n, batch):
        m = min(batch, n - start)
        cond = {k: v[start:start + m] for k, v in plan.cond.items()}
        res = smp.sample(network, model.process, (m,) + tuple(plan.shape[1:]), cond=cond,
                         mask=plan.mask[start:start + m], guidance=guidance, generator=g)
        xs.append(res.x)
    return model.domain.decode(torch.cat(xs), plan)


def tm_available() -> bool:
    return GraphDITMolecularGenerator is not None


def tm_generator(smiles: list[str], gap: np.ndarray, timesteps: int = 500, batch_size: int = 256,
                 seed: int = 0) -> Any:
    """torch-molecule's generator at the benchmark's size, set up on ``smiles`` as its fit()
    does (dataset statistics, network, initial weights), without training."""
    gen = GraphDITMolecularGenerator(num_layer=DEPTH, hidden_size=HIDDEN, num_head=HEADS, task_type=["regression"],
                                     timesteps=timesteps, batch_size=batch_size, learning_rate=LR,
                                     grad_clip_value=CLIP, drop_condition=COND_DROPOUT, guide_scale=2.0, device="cpu")
    x, y = gen._validate_inputs(smiles, gap.reshape(-1, 1), num_task=1)
    gen._setup_diffusion_params(x)
    torch.manual_seed(seed)
    gen._initialize_model(gen.model_class)
    gen.model.initialize_parameters()
    gen.is_fitted_ = True
    gen._bench_data = (x, y)
    return gen


def tm_set_steps(gen: Any, steps: int) -> None:
    """torch-molecule samples every step of its T-step chain; fewer steps means a shorter chain."""
    gen.timesteps = int(steps)
    gen.noise_schedule = NoiseScheduleDiscrete(timesteps=int(steps)).to(gen.device)


class _Captured:
    graphs: list = []


def tm_generate(gen: Any, values: np.ndarray, seed: int = 0, guidance: float = 2.0) -> tuple[list, list]:
    """SMILES from torch-molecule's generate() (its own valence correction and largest
    fragment) and the raw graphs it decoded them from."""
    gen.guide_scale = guidance
    original = tm_modeling.graph_to_smiles

    def capture(molecule_list, atom_decoder):
        _Captured.graphs = molecule_list
        return original(molecule_list, atom_decoder)

    tm_modeling.graph_to_smiles = capture
    try:
        torch.manual_seed(seed)
        smiles = gen.generate(labels=np.asarray(values, dtype=np.float64).reshape(-1, 1))
    finally:
        tm_modeling.graph_to_smiles = original
    return smiles, _Captured.graphs


_TM_BONDS = {1: Chem.BondType.SINGLE, 2: Chem.BondType.DOUBLE, 3: Chem.BondType.TRIPLE, 4: Chem.BondType.AROMATIC}


def tm_strict_valid(graph: tuple, decoder: list[str]) -> bool:
    """The graph as drawn (no charges, no repair) sanitises."""
    atoms, bonds = graph
    mol = Chem.RWMol()
    for a in atoms.tolist():
        mol.AddAtom(Chem.Atom(decoder[a]))
    n = len(atoms)
    for i in range(n):
        for j in range(i + 1, n):
            e = int(bonds[i, j])
            if e > 0:
                mol.AddBond(i, j, _TM_BONDS[e])
    try:
        Chem.SanitizeMol(mol)
    except Exception:  # noqa: BLE001 - RDKit raises several kinds
        return False
    return True


def gap_oracle():
    """Random forest on ECFP4 for the gap, fit on the full QM9 train split (cached on disk)."""
    return MoleculesDomain(source="qm9", numeric_conditions=["gap"]).oracle(fit=True)


def control(oracle, smiles: list[str | None], requested: np.ndarray, seed: int = 0, shuffles: int = 20) -> dict:
    """Gap MAE of the valid molecules against their requested values, and against the same
    requests shuffled among them (the MAE of a model without control)."""
    smiles = list(smiles)
    valid = np.array([s is not None for s in smiles])
    if not valid.any():
        return {"gap_mae": math.nan, "gap_mae_shuffled": math.nan, "n_scored": 0}
    pred = oracle.predict([s for s in smiles if s is not None], ["gap"])["gap"]
    req = np.asarray(requested, dtype=np.float64)[valid]
    ok = np.isfinite(pred)
    pred, req = pred[ok], req[ok]
    rng = np.random.default_rng(seed)
    shuffled = [float(np.mean(np.abs(pred - rng.permutation(req)))) for _ in range(shuffles)]
    return {"gap_mae": float(np.mean(np.abs(pred - req))), "gap_mae_shuffled": float(np.mean(shuffled)),
            "n_scored": int(len(pred))}


def unique_fraction(smiles: list[str | None]) -> float:
    valid = [s for s in smiles if s is not None]
    return len(set(valid)) / len(valid) if valid else math.nan


def test_targets(domain: MoleculesDomain, n: int, seed: int = 0) -> np.ndarray:
    _, gap = split_data(domain, "test")
    rng = np.random.default_rng(seed)
    return gap[rng.choice(len(gap), size=n, replace=len(gap) < n)]


# --------------------------------------------------------------------------- speed
def part_speed(args, domain, result) -> None:
    train_smiles, train_gap = split_data(domain, "train")
    values = test_targets(domain, args.batch)
    model = untrained_gensci(domain)
    gen = tm_generator(train_smiles, train_gap) if tm_available() else None
    # warm-up (first-call allocations)
    gensci_sample(model, values[:8], 2, 2.0)
    if gen is not None:
        tm_set_steps(gen, 2)
        tm_generate(gen, values[:8])
    rows = []
    # each library in float32, then with its network in bfloat16 (gensci: autocast around the
    # network only; torch-molecule: autocast around its whole generate(), which also lowers its
    # sampler's products and so can only favour it); with --compile, gensci's float32 network
    # also compiled (gensci.nn.compiled), its compilation timed apart and left out of the rows
    variants = [("gensci", "fp32"), ("torch-molecule", "fp32"), ("gensci", "bf16"), ("torch-molecule", "bf16")]
    compiled_net, compile_seconds = None, None
    if args.compile:
        compiled_net = compiled(model.network)
        t0 = time.perf_counter()
        gensci_sample(model, values, 2, 2.0, network=compiled_net)  # traces the batch's shapes
        if args.guidance_interval:  # and the conditional pass alone, half the batch (t = 0 lies outside)
            gensci_sample(model, values, 2, Guidance(scale=2.0, interval=(0.5, 1.0)), network=compiled_net)
        compile_seconds = time.perf_counter() - t0
        log(f"  speed gensci fp32+compile: first call (compilation) {compile_seconds:.1f} s")
        variants.insert(1, ("gensci", "fp32+compile"))
    limited = None
    if args.guidance_interval:
        limited = Guidance(scale=args.interval_scale, interval=args.guidance_interval)
        variants.insert(1, ("gensci", "fp32+interval"))
        if compiled_net is not None:
            variants.insert(2, ("gensci", "fp32+compile+interval"))
    failures: dict[str, str] = {}
    for steps in args.speed_steps:
        for lib, precision in variants:
            if lib == "torch-molecule" and gen is None:
                continue
            t0 = time.perf_counter()
            if lib == "gensci" and precision.startswith("fp32+"):
                out = gensci_sample(model, values, steps, limited if precision.endswith("+interval") else 2.0,
                                    network=compiled_net if "+compile" in precision else None)
                n_valid = sum(s is not None for s in out.smiles)
            elif lib == "gensci":
                out = gensci_sample(model, values, steps, 2.0, precision=precision)
                n_valid = sum(s is not None for s in out.smiles)
            else:
                tm_set_steps(gen, steps)
                try:
                    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                        smiles, _ = tm_generate(gen, values)
                except RuntimeError as err:  # torch-molecule 0.2.0's label embedder fails under autocast
                    failures[f"torch-molecule {precision}"] = str(err).splitlines()[0]
                    log(f"  speed {lib} {precision}: fails ({failures[f'torch-molecule {precision}']})")
                    continue
                n_valid = sum(s is not None for s in smiles)
            sec = time.perf_counter() - t0
            rows.append({"lib": lib, "precision": precision, "steps": steps, "batch": args.batch, "seconds": sec,
                         "s_per_molecule": sec / args.batch, "ms_per_step": 1000 * sec / steps, "valid_untrained": n_valid})
            log(f"  speed {lib} {precision} {steps} steps: {sec:.1f} s ({sec / args.batch:.3f} s/molecule)")
    # a longer chain, extrapolated from the two shortest measured: fixed cost + steps x per-step cost
    lo, hi = sorted(args.speed_steps)[:2]
    for lib, precision in variants:
        by = {r["steps"]: r["seconds"] for r in rows
              if r["lib"] == lib and r["precision"] == precision and not r.get("extrapolated")}
        if lo in by and hi in by and args.extrapolate_to not in by:
            per = (by[hi] - by[lo]) / (hi - lo)
            sec = by[lo] + per * (args.extrapolate_to - lo)
            rows.append({"lib": lib, "precision": precision, "steps": args.extrapolate_to, "batch": args.batch,
                         "seconds": sec, "s_per_molecule": sec / args.batch,
                         "ms_per_step": 1000 * sec / args.extrapolate_to, "extrapolated": f"from {lo} and {hi} steps"})
    # speed-up = torch-molecule seconds / gensci seconds at the same steps, for each pairing of precisions
    ratios: dict = {}
    for steps in sorted({r["steps"] for r in rows}):
        by = {(r["lib"], r["precision"]): r["seconds"] for r in rows if r["steps"] == steps}
        for tm_p, gs_p in (("fp32", "fp32"), ("fp32", "fp32+compile"), ("fp32", "fp32+interval"),
                           ("fp32", "fp32+compile+interval"), ("fp32", "bf16"), ("bf16", "bf16")):
            if ("torch-molecule", tm_p) in by and ("gensci", gs_p) in by:
                ratios.setdefault(f"torch-molecule {tm_p} / gensci {gs_p}", {})[str(steps)] = (
                    by[("torch-molecule", tm_p)] / by[("gensci", gs_p)])
    n_params = {"gensci": sum(p.numel() for p in model.network.parameters())}
    if gen is not None:
        n_params["torch-molecule"] = sum(p.numel() for p in gen.model.parameters())
    result["speed"] = {"rows": rows, "speedup": ratios, "failures": failures, "parameters": n_params, "guidance": 2.0,
                       "guidance_interval": {"scale": limited.scale, "interval": limited.interval} if limited else None,
                       "size": {"hidden": HIDDEN, "depth": DEPTH, "heads": HEADS}, "compile_seconds": compile_seconds}
    print(f"## Sampling speed (batch {args.batch}, guidance 2, hidden {HIDDEN}, depth {DEPTH}, {HEADS} heads)\n")
    print("| library | network | steps | s per batch | s per molecule | ms per step |\n|---|---|---|---|---|---|")
    for r in rows:
        note = " (extrapolated)" if r.get("extrapolated") else ""
        print(f"| {r['lib']} | {r['precision']} | {r['steps']}{note} | {r['seconds']:.1f} | {r['s_per_molecule']:.4f} "
              f"| {r['ms_per_step']:.0f} |")
    for pairing, by_steps in ratios.items():
        print(f"\nspeed-up ({pairing}): " + ", ".join(f"{k} steps {v:.2f}×" for k, v in by_steps.items()))
    for variant, message in failures.items():
        print(f"\n{variant} does not run: {message}")
    if compile_seconds is not None:
        print(f"\ngensci fp32+compile: compilation (first call, not in the rows) {compile_seconds:.1f} s")
    print(f"parameters: {n_params}\n")


# --------------------------------------------------------------------------- train
class _Limited:
    """The first ``k`` batches of a loader (torch-molecule's epoch loop runs on it)."""

    def __init__(self, loader, k: int):
        self.loader, self.k = loader, k

    def __len__(self) -> int:
        return self.k

    def __iter__(self):
        for i, b in enumerate(self.loader):
            if i >= self.k:
                return
            yield b


def gensci_train_steps(domain, steps: int, batch: int, seed: int = 0, deadline: float | None = None) -> dict:
    """gensci's training step as GenerativeModule takes it (corrupt, forward, loss), with
    AdamW, gradient clipping and the EMA update, outside Lightning."""
    from torch.utils.data import DataLoader

    cfg = to_plain(gensci_config())
    torch.manual_seed(seed)
    process, network = build(cfg, domain)
    module = GenerativeModule(network, process, domain, lr=LR, seed=seed)
    opt = torch.optim.AdamW(network.parameters(), lr=LR)
    ds = domain.dataset("train")
    loader = DataLoader(ds, batch_size=batch, shuffle=True, collate_fn=domain.collate,
                        generator=torch.Generator().manual_seed(seed))
    network.train()
    done, times = 0, []
    while done < steps:
        for b in loader:
            t0 = time.perf_counter()
            loss, _ = module._loss(b, network)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(network.parameters(), CLIP)
            opt.step()
            module.ema.update(network)
            times.append(time.perf_counter() - t0)
            done += 1
            if done >= steps:
                break
    return {"times": times}


def tm_train_steps(gen, steps: int, batch: int) -> dict:
    """torch-molecule's own epoch loop (``_train_epoch``) on ``steps`` batches."""
    from torch_geometric.loader import DataLoader

    x, y = gen._bench_data
    data = gen._convert_to_pytorch_data(x[: steps * batch + batch], y[: steps * batch + batch])
    loader = DataLoader(data, batch_size=batch, shuffle=True)
    opt, _ = gen._setup_optimizers()
    t0 = time.perf_counter()
    gen._train_epoch(_Limited(loader, steps), opt, 0)
    return {"seconds": time.perf_counter() - t0}


def part_train(args, domain, result) -> None:
    k = args.train_steps
    g = gensci_train_steps(domain, k + 3, args.train_batch)
    g_sec = sum(g["times"][3:])  # the first steps allocate
    rows = [{"lib": "gensci", "steps": k, "batch": args.train_batch, "seconds": g_sec, "steps_per_s": k / g_sec,
             "median_step_ms": 1000 * statistics.median(g["times"][3:])}]
    log(f"  train gensci: {k / g_sec:.2f} steps/s")
    if tm_available():
        smiles, gap = split_data(domain, "train")
        gen = tm_generator(smiles, gap, batch_size=args.train_batch)
        tm_train_steps(gen, 3, args.train_batch)
        t = tm_train_steps(gen, k, args.train_batch)
        rows.append({"lib": "torch-molecule", "steps": k, "batch": args.train_batch, "seconds": t["seconds"],
                     "steps_per_s": k / t["seconds"]})
        log(f"  train torch-molecule: {k / t['seconds']:.2f} steps/s")
    result["train"] = {"rows": rows}
    print(f"## Training steps per second (batch {args.train_batch}, {k} steps)\n")
    print("| library | steps/s | s per step |\n|---|---|---|")
    for r in rows:
        print(f"| {r['lib']} | {r['steps_per_s']:.2f} | {r['seconds'] / r['steps']:.3f} |")
    print()


# --------------------------------------------------------------------------- atoms
def _median_time(fn, reps: int) -> float:
    fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def part_atoms(args, result) -> None:
    rows = []
    g = torch.Generator().manual_seed(0)
    e = 4  # kekulised bonds: none, single, double, triple
    bond_marginal = [0.85, 0.11, 0.03, 0.01]
    spec = [{"name": "gap", "kind": "numeric", "low": 0.02, "high": 0.62, "mean": 0.25, "std": 0.05}]
    for a in args.atom_types:
        for n in args.atoms:
            space = GraphSpace(a, e)
            table = torch.tensor(bond_marginal, dtype=torch.float64).expand(a, a, e).clone()
            process = GraphDiffusion(space, [1.0] * a, bond_marginal, table)
            torch.manual_seed(0)
            net = GraphDiT(a, e, n, hidden=HIDDEN, depth=DEPTH, attention_heads=HEADS, conditions=spec).eval()
            b = args.atoms_batch
            mask = slot_mask(torch.ones(b, n, dtype=torch.bool))
            x = process.prior((b, n, n + 1), generator=g, mask=mask)
            t = torch.full((b,), 0.5)
            s = torch.full((b,), 0.52)
            cond = {"gap": torch.full((b,), 0.25)}
            sampler = CategoricalSampler(steps=50, progress=False)
            denoise = GuidedModel(net, Guidance(scale=2.0), process.guidance_space)
            with torch.no_grad():
                fwd = _median_time(lambda: net(x, t, cond=cond, mask=mask), args.atoms_reps)
                step = _median_time(lambda: sampler.step(denoise, process, x, t, s, cond=cond, mask=mask, generator=g),
                                    args.atoms_reps)
                p1 = torch.softmax(net(x, t, cond=cond, mask=mask), -1)
                post = _median_time(lambda: process.posterior_probs(x, p1, t, s), args.atoms_reps)
            row = {"atom_types": a, "N": n, "batch": b, "forward_ms": 1000 * fwd, "guided_step_ms": 1000 * step,
                   "posterior_ms": 1000 * post, "parameters": sum(p.numel() for p in net.parameters())}
            if tm_available():
                tm = TMTransformer(max_node=n, hidden_size=HIDDEN, num_layer=DEPTH, num_head=HEADS, input_dim_X=a,
                                   input_dim_E=5, input_dim_y=1, task_type=["regression"], drop_condition=COND_DROPOUT).eval()
                xs = torch.nn.functional.one_hot(torch.randint(0, a, (b, n), generator=g), a).float()
                es = torch.randint(0, 5, (b, n, n), generator=g)
                es = torch.nn.functional.one_hot(torch.triu(es, 1) + torch.triu(es, 1).transpose(1, 2), 5).float()
                data = {"X_t": xs, "E_t": es, "y_t": torch.full((b, 1), 0.25), "t": torch.full((b, 1), 0.5),
                        "node_mask": torch.ones(b, n, dtype=torch.bool)}
                with torch.no_grad():
                    row["tm_forward_ms"] = 1000 * _median_time(lambda: tm(data, unconditioned=False), args.atoms_reps)
                row["tm_parameters"] = sum(p.numel() for p in tm.parameters())
            rows.append(row)
            log(f"  atoms A={a} N={n}: forward {row['forward_ms']:.0f} ms, guided step {row['guided_step_ms']:.0f} ms")
    result["atoms"] = {"rows": rows, "batch": args.atoms_batch, "guidance": 2.0}
    print(f"## Cost against heavy atoms N (batch {args.atoms_batch}, median of {args.atoms_reps}; ms)\n")
    print("| atom types | N | gensci forward | gensci guided step | of which posterior | torch-molecule forward | "
          "gensci params | torch-molecule params |\n|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['atom_types']} | {r['N']} | {r['forward_ms']:.0f} | {r['guided_step_ms']:.0f} | {r['posterior_ms']:.0f} | "
              f"{r.get('tm_forward_ms', math.nan):.0f} | {r['parameters'] / 1e6:.2f} M | {r.get('tm_parameters', 0) / 1e6:.2f} M |")
    print()


# --------------------------------------------------------------------------- walltime
class _Until:
    """A loader that stops yielding at a wall-clock deadline."""

    def __init__(self, loader, deadline: float, counter: list):
        self.loader, self.deadline, self.counter = loader, deadline, counter

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for b in self.loader:
            if time.perf_counter() >= self.deadline:
                return
            self.counter[0] += 1
            yield b


def part_walltime(args, domain, result) -> None:
    from torch_geometric.loader import DataLoader

    oracle = gap_oracle()
    out: dict = {"minutes": args.minutes, "samples": args.samples, "guidance": args.guidance,
                 "oracle_heldout_mae": oracle.heldout_errors().get("gap_mae")}
    values = test_targets(domain, args.samples, seed=1)
    out["requested_std"] = float(np.std(values))
    # gensci: the Lightning run `gensci train` makes, stopped by max_time
    run_dir = Path(args.run_dir or tempfile.mkdtemp(prefix="bench_mol_"))
    cfg = gensci_config(str(run_dir / "gensci"))
    OmegaConf.set_struct(cfg, False)
    cfg.trainer.max_steps = 10**7
    cfg.trainer.max_time = {"seconds": int(args.minutes * 60)}
    cfg.trainer.val_check_interval = 10**6
    cfg.checkpoint_every = 10**6
    from gensci.training.train import train

    t0 = time.perf_counter()
    path = train(cfg)
    g_wall = time.perf_counter() - t0
    model = load(path)
    g_steps = int(model.metrics.get("steps", 0))
    log(f"  walltime gensci: {g_steps} steps in {g_wall:.0f} s")
    rows = []
    for steps in args.walltime_steps:
        t1 = time.perf_counter()
        mols = gensci_sample(model, values, steps, args.guidance, seed=0)
        sec = time.perf_counter() - t1
        strict = mols.strict_smiles
        row = {"lib": "gensci", "train_steps": g_steps, "train_seconds": g_wall, "sample_steps": steps,
               "sample_seconds": sec, "validity_strict": sum(s is not None for s in strict) / len(strict),
               "validity_corrected": sum(s is not None for s in mols.smiles) / len(mols),
               "uniqueness": unique_fraction(mols.smiles)}
        row.update(control(oracle, mols.smiles, values))
        rows.append(row)
        log(f"  walltime gensci sample {steps}: {row}")
    if tm_available():
        smiles, gap = split_data(domain, "train")
        t0 = time.perf_counter()
        gen = tm_generator(smiles, gap, batch_size=256)
        x, y = gen._bench_data
        data = gen._convert_to_pytorch_data(x, y)
        prep = time.perf_counter() - t0
        loader = DataLoader(data, batch_size=256, shuffle=True)
        opt, _ = gen._setup_optimizers()
        counter = [0]
        t0 = time.perf_counter()
        deadline = t0 + args.minutes * 60
        epoch = 0
        while time.perf_counter() < deadline:
            gen._train_epoch(_Until(loader, deadline, counter), opt, epoch)
            epoch += 1
        tm_wall = time.perf_counter() - t0
        log(f"  walltime torch-molecule: {counter[0]} steps in {tm_wall:.0f} s (+{prep:.0f} s preprocessing)")
        tm_set_steps(gen, 500)
        t1 = time.perf_counter()
        smiles_out, graphs = tm_generate(gen, values, seed=0, guidance=args.guidance)
        sec = time.perf_counter() - t1
        decoder = gen.dataset_info["atom_decoder"]
        canon = [Chem.MolToSmiles(m) if (m := Chem.MolFromSmiles(s) if s else None) is not None else None
                 for s in smiles_out]
        row = {"lib": "torch-molecule", "train_steps": counter[0], "train_seconds": tm_wall,
               "preprocess_seconds": prep, "sample_steps": 500, "sample_seconds": sec,
               "validity_strict": sum(tm_strict_valid(gr, decoder) for gr in graphs) / len(graphs),
               "validity_corrected": sum(s is not None for s in canon) / len(canon),
               "uniqueness": unique_fraction(canon)}
        row.update(control(oracle, canon, values))
        rows.append(row)
        log(f"  walltime torch-molecule sample: {row}")
    out["rows"] = rows
    result["walltime"] = out
    print(f"## Same training wall time ({args.minutes:g} min each), {args.samples} molecules at test-set gaps, "
          f"guidance {args.guidance:g}\n")
    print(f"oracle held-out MAE {out['oracle_heldout_mae']:.4f} Ha; spread of the requested gaps (std) "
          f"{out['requested_std']:.4f} Ha\n")
    print("| library | train steps | train s | sampling steps | sampling s | validity (strict) | validity (corrected) | "
          "uniqueness | gap MAE | MAE, shuffled targets |\n|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['lib']} | {r['train_steps']} | {r['train_seconds']:.0f} | {r['sample_steps']} | {r['sample_seconds']:.0f} | "
              f"{r['validity_strict']:.3f} | {r['validity_corrected']:.3f} | {r['uniqueness']:.3f} | {r['gap_mae']:.4f} | "
              f"{r['gap_mae_shuffled']:.4f} |")
    print()


# --------------------------------------------------------------------------- steps
def part_steps(args, result) -> None:
    name = args.model or ("molecules/qm9" if "molecules/qm9" in bundled_models() else None)
    if name is None:
        raise SystemExit("--parts steps needs --model (the bundled molecules/qm9 is not there yet)")
    model = load(name)
    oracle = gap_oracle()
    values = test_targets(qm9_domain(limit=None), args.samples, seed=2)
    spec = {c["name"]: c for c in model.conditions}["gap"]
    values = np.clip(values, spec["low"], spec["high"])
    rows = []
    for steps in args.quality_steps:
        t0 = time.perf_counter()
        mols = gensci_sample(model, values, steps, args.guidance, seed=0)
        sec = time.perf_counter() - t0
        strict = mols.strict_smiles
        row = {"steps": steps, "seconds": sec, "validity_strict": sum(s is not None for s in strict) / len(strict),
               "validity_corrected": sum(s is not None for s in mols.smiles) / len(mols),
               "uniqueness": unique_fraction(mols.smiles)}
        row.update(control(oracle, mols.smiles, values))
        rows.append(row)
        log(f"  steps {steps}: {row}")
    result["steps"] = {"model": str(name), "samples": args.samples, "guidance": args.guidance, "rows": rows,
                       "model_steps": model.metrics.get("steps")}
    print(f"## Quality against sampling steps ({name}; {args.samples} molecules at test-set gaps, guidance "
          f"{args.guidance:g})\n")
    print("| steps | validity (strict) | validity (corrected) | uniqueness | gap MAE | MAE, shuffled | s per molecule |\n"
          "|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['steps']} | {r['validity_strict']:.3f} | {r['validity_corrected']:.3f} | {r['uniqueness']:.3f} | "
              f"{r['gap_mae']:.4f} | {r['gap_mae_shuffled']:.4f} | {r['seconds'] / args.samples:.4f} |")
    print()


# --------------------------------------------------------------------------- main
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parts", nargs="+", default=["speed", "train", "atoms", "walltime", "steps"],
                   choices=["speed", "train", "atoms", "walltime", "steps"])
    p.add_argument("--quick", action="store_true", help="tiny settings: checks that everything runs")
    p.add_argument("--batch", type=int, default=200, help="molecules per sampling batch (speed)")
    p.add_argument("--speed-steps", type=int, nargs="+", default=[50, 100],
                   help="steps timed; add 500 to time the full chain instead of extrapolating")
    p.add_argument("--compile", action="store_true",
                   help="speed: also time gensci's float32 network under torch.compile (compilation timed apart)")
    p.add_argument("--guidance-interval", default=None, metavar="LO,HI",
                   help="speed: gensci also guided only in this interval of time (fp32+interval)")
    p.add_argument("--interval-scale", type=float, default=2.0,
                   help="speed: the guidance scale inside --guidance-interval (default 2, as the full rows)")
    p.add_argument("--extrapolate-to", type=int, default=500, help="speed: chain length estimated from the two shortest")
    p.add_argument("--train-batch", type=int, default=256)
    p.add_argument("--train-steps", type=int, default=20)
    p.add_argument("--atoms", type=int, nargs="+", default=[9, 18, 27, 38, 50])
    p.add_argument("--atom-types", type=int, nargs="+", default=[4, 8], help="4: QM9's C N O F; 8: MOSES-like")
    p.add_argument("--atoms-batch", type=int, default=200)
    p.add_argument("--atoms-reps", type=int, default=3)
    p.add_argument("--minutes", type=float, default=7.0, help="training wall time per library (walltime)")
    p.add_argument("--samples", type=int, default=500)
    p.add_argument("--guidance", type=float, default=2.0)
    p.add_argument("--walltime-steps", type=int, nargs="+", default=[50],
                   help="gensci's sampling steps (torch-molecule samples its whole 500-step chain)")
    p.add_argument("--quality-steps", type=int, nargs="+", default=[10, 25, 50, 100, 500])
    p.add_argument("--model", default=None, help="steps: a checkpoint or bundled name (default molecules/qm9)")
    p.add_argument("--run-dir", default=None, help="walltime: where gensci's run goes (default a temp dir)")
    p.add_argument("--json", type=Path, default=ROOT / "docs" / "bench_molecules.json")
    args = p.parse_args()
    torch.set_num_threads(1)
    if args.quick:
        args.batch, args.speed_steps, args.train_steps, args.extrapolate_to = 16, [3, 6], 2, 12
        args.atoms, args.atom_types, args.atoms_batch, args.atoms_reps = [9, 18], [4], 8, 1
        args.minutes, args.samples, args.walltime_steps, args.quality_steps = 0.2, 16, [5], [2, 5]
        args.json = Path("/tmp/bench_molecules_quick.json")
    machine = (f"{cpu_name()}, {len(__import__('os').sched_getaffinity(0))} cores, 1 torch thread, torch {torch.__version__}, "
               f"Python {platform.python_version()}")
    result: dict = json.loads(args.json.read_text()) if args.json.exists() else {}
    t_start = time.perf_counter()
    tm_version = getattr(torch_molecule, "__version__", None) if torch_molecule else None
    print(f"# bench_molecules — {machine}; torch-molecule {tm_version}\n")
    domain = qm9_domain() if {"speed", "train", "walltime"} & set(args.parts) else None
    for part in args.parts:
        t0 = time.perf_counter()
        if part == "speed":
            part_speed(args, domain, result)
        elif part == "train":
            part_train(args, domain, result)
        elif part == "atoms":
            part_atoms(args, result)
        elif part == "walltime":
            part_walltime(args, domain, result)
        elif part == "steps":
            part_steps(args, result)
        result[part]["machine"] = machine
        result[part]["torch_molecule"] = tm_version
        result[part]["date"] = time.strftime("%Y-%m-%d %H:%M")
        result[part]["command"] = " ".join(["python", "scripts/bench_molecules.py"] + sys.argv[1:])
        result[part]["part_seconds"] = time.perf_counter() - t0
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1, default=str))
    print(f"total {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
