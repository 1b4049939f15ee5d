"""Conformer refinement against its baselines, on held-out QM9 molecules, in one run.

    python scripts/bench_conformers.py --model atoms/conformers -n 200 --xtb 40 --out docs/bench_conformers.json

Rows, each compared with the molecule's DFT (B3LYP) geometry by
:func:`domains.atoms.conformer_metrics.compare_geometries` (RMSD heavy / all atoms, bond and
angle errors, EDM stability), with the wall time per molecule on this machine:

* ``ETKDG`` and ``ETKDG + MMFF``: RDKit's conformer (stereo from the DFT structure) before
  and after MMFF94 relaxation — the inputs of the bridge;
* ``bridge K steps``: the model carrying each ETKDG + MMFF conformer toward DFT (Euler ODE,
  and the SDE sampler at the model's default steps); its time excludes the embedding;
* ``GFN2-xTB``: a tight-binding relaxation (tblite, ``pip install 'gensci[xtb]'``) from the
  same ETKDG + MMFF start by L-BFGS, on the first ``--xtb`` molecules, when tblite installs;
* ``no stereo``: the same pipeline from the graph without stereochemistry (what embedding
  QM9's stereo-free SMILES gives): ETKDG + MMFF and the bridge at the default steps.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import gensci
from domains.atoms.conformer_metrics import compare_geometries
from domains.atoms.conformers import evaluation_rows
from domains.atoms.molecule import Molecule3D, to_rdkit
from gensci.machine import cpu_name

BOHR = 0.52917721067  # Å


def _timed_embedding(refs: list[Molecule3D], seed: int, stereo: bool) -> tuple[list, list, float, float]:
    """ETKDG and ETKDG + MMFF conformers of each reference's graph (atom order kept) and the
    seconds per molecule of each step; a failed embedding keeps None."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    raws, relaxed, t_etkdg, t_mmff = [], [], 0.0, 0.0
    for k, ref in enumerate(refs):
        mol = to_rdkit(ref, sanitize=True)
        if stereo:
            Chem.AssignStereochemistryFrom3D(mol)
        else:
            Chem.RemoveStereochemistry(mol)
        mol.RemoveAllConformers()
        params = AllChem.ETKDGv3()
        params.randomSeed = seed + k
        began = time.perf_counter()
        ok = AllChem.EmbedMolecule(mol, params) == 0
        t_etkdg += time.perf_counter() - began
        if not ok:
            raws.append(None), relaxed.append(None)
            continue
        raws.append(Molecule3D(ref.numbers, mol.GetConformer().GetPositions(), ref.charges, ref.bonds))
        began = time.perf_counter()
        AllChem.MMFFOptimizeMolecule(mol, maxIters=2000)
        t_mmff += time.perf_counter() - began
        relaxed.append(Molecule3D(ref.numbers, mol.GetConformer().GetPositions(), ref.charges, ref.bonds))
    return raws, relaxed, t_etkdg / len(refs), t_mmff / len(refs)


def _xtb_relax(m: Molecule3D) -> Molecule3D:
    """GFN2-xTB relaxation (tblite energies and gradients, SciPy L-BFGS, gradient norm
    below 1e-4 Eh/bohr)."""
    from scipy.optimize import minimize
    from tblite.interface import Calculator

    x0 = m.positions.reshape(-1) / BOHR
    calc = Calculator("GFN2-xTB", m.numbers, x0.reshape(-1, 3), charge=float(m.charges.sum()))
    calc.set("verbosity", 0)

    def energy(x: np.ndarray) -> tuple[float, np.ndarray]:
        calc.update(x.reshape(-1, 3))
        res = calc.singlepoint()
        return float(res.get("energy")), np.asarray(res.get("gradient")).reshape(-1)

    out = minimize(energy, x0, jac=True, method="L-BFGS-B", options={"gtol": 1e-4, "maxiter": 500})
    return Molecule3D(m.numbers, out.x.reshape(-1, 3) * BOHR, m.charges, m.bonds)


def _row(name: str, probes: list, refs: list[Molecule3D], seconds: float) -> dict:
    keep = [i for i, p in enumerate(probes) if p is not None]
    metrics = compare_geometries([probes[i] for i in keep], [refs[i] for i in keep])
    metrics.update({"method": name, "seconds_per_molecule": seconds, "failed": len(probes) - len(keep)})
    return metrics


def _refined(model, starts: list, steps: int, sampler: str | None) -> tuple[list, float]:
    keep = [i for i, s in enumerate(starts) if s is not None]
    began = time.perf_counter()
    out = model.refine([starts[i] for i in keep], steps=steps, sampler=sampler, seed=0, progress=False)
    seconds = (time.perf_counter() - began) / max(len(keep), 1)
    probes: list = [None] * len(starts)
    for i, m in zip(keep, out.molecules):
        probes[i] = m
    return probes, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="atoms/conformers", help="bundled name or checkpoint")
    parser.add_argument("-n", type=int, default=200, help="held-out molecules (test split)")
    parser.add_argument("--steps", default="1,5,10,50", help="bridge step counts (Euler)")
    parser.add_argument("--xtb", type=int, default=40, help="molecules relaxed by GFN2-xTB (0: none)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None, help="JSON file for the rows")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = gensci.load(args.model)
    pairs = model.domain.pairs("test")
    # a seeded draw over the whole test split (its pairs run from small molecules to large ones)
    refs = [pairs.molecule(k) for k in evaluation_rows(len(pairs), args.n)]
    rows = []
    raws, starts, t_etkdg, t_mmff = _timed_embedding(refs, seed=0, stereo=True)
    rows.append(_row("ETKDG", raws, refs, t_etkdg))
    rows.append(_row("ETKDG + MMFF", starts, refs, t_etkdg + t_mmff))
    default_steps = int(model.config["sampler"].get("steps") or 10)
    for steps in [int(s) for s in args.steps.split(",")]:
        probes, seconds = _refined(model, starts, steps, "euler")
        rows.append(_row(f"bridge {steps} steps (Euler)", probes, refs, seconds))
    if "sde" in {c for p in getattr(model.process, "fields", {"": model.process}).values() for c in p.capabilities}:
        probes, seconds = _refined(model, starts, default_steps, "sde")
        rows.append(_row(f"bridge {default_steps} steps (SDE)", probes, refs, seconds))
    if args.xtb:
        try:
            import tblite.interface  # noqa: F401
        except ImportError:
            print("tblite is not installed (pip install 'gensci[xtb]'): no GFN2-xTB row")
        else:
            subset = [i for i in range(min(args.xtb, len(refs))) if starts[i] is not None]
            began = time.perf_counter()
            relaxed = [_xtb_relax(starts[i]) for i in subset]
            seconds = (time.perf_counter() - began) / max(len(subset), 1)
            rows.append(_row(f"GFN2-xTB from ETKDG + MMFF ({len(subset)} molecules)", relaxed,
                             [refs[i] for i in subset], seconds))
            probes, b_seconds = _refined(model, [starts[i] for i in subset], default_steps, "euler")
            rows.append(_row(f"bridge {default_steps} steps, same {len(subset)} molecules", probes,
                             [refs[i] for i in subset], b_seconds))
    _, free, t_e, t_m = _timed_embedding(refs, seed=0, stereo=False)
    rows.append(_row("no stereo: ETKDG + MMFF", free, refs, t_e + t_m))
    probes, seconds = _refined(model, free, default_steps, "euler")
    rows.append(_row(f"no stereo: bridge {default_steps} steps (Euler)", probes, refs, seconds))
    header = "| method | heavy RMSD median / mean / p90 (Å) | all-atom RMSD median (Å) | bond MAE (Å) | angle MAE (°) | mol. stable | s / molecule |"
    print(header)
    print("|" + "---|" * 7)
    for r in rows:
        print(f"| {r['method']} | {r['heavy_rmsd_median']:.3f} / {r['heavy_rmsd_mean']:.3f} / {r['heavy_rmsd_p90']:.3f} | "
              f"{r['all_rmsd_median']:.3f} | {r['bond_length_mae']:.4f} | {r['bond_angle_mae']:.2f} | "
              f"{r['molecule_stability']:.3f} | {r['seconds_per_molecule']:.4f} |")
    record = {"model": str(args.model), "molecules": len(refs), "machine": f"{cpu_name()}, {torch.get_num_threads()} thread(s)",
              "date": time.strftime("%Y-%m-%d"), "rows": rows}
    if args.out:
        Path(args.out).write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
