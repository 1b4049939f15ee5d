"""Figures of generated 3D molecules: bond-length histograms against the data, and a grid of
molecule renders (RDKit 2D depictions of the valid ones, with their SMILES)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from domains.atoms.evaluation import reference_molecules
from domains.atoms.metrics import bond_lengths, validity
from domains.atoms.output import with_bonds
from gensci.io import atomic_path

if TYPE_CHECKING:
    from domains.atoms.domain import AtomSamples, AtomsDomain

__all__ = ["atom_figures", "bond_length_figure", "render_grid"]


def bond_length_figure(generated: dict[str, np.ndarray], reference: dict[str, np.ndarray], path: Path,
                       top: int = 8) -> Path:
    """Histograms of the ``top`` most common bond types of the reference, generated over data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = sorted(reference, key=lambda k: -len(reference[k]))[:top]
    cols = 4
    rows = max(1, -(-len(kinds) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for ax, kind in zip(axes.flat, kinds):
        ref = reference[kind]
        gen = generated.get(kind, np.zeros(0))
        lo, hi = float(ref.min()) - 0.1, float(ref.max()) + 0.1
        bins = np.linspace(lo, hi, 40)
        ax.hist(ref, bins=bins, density=True, alpha=0.5, label=f"data ({len(ref)})")
        if len(gen):
            ax.hist(np.clip(gen, lo, hi), bins=bins, density=True, histtype="step", linewidth=1.5,
                    label=f"generated ({len(gen)})")
        ax.set_title(kind)
        ax.set_xlabel("length (Å)")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(kinds):]:
        ax.axis("off")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path


def render_grid(smiles: list[str], path: Path, per_row: int = 6, limit: int = 24) -> Path:
    """A grid of 2D depictions of up to ``limit`` molecules."""
    from rdkit import Chem
    from rdkit.Chem import Draw

    mols = [Chem.MolFromSmiles(s) for s in smiles[:limit]]
    pairs = [(m, s) for m, s in zip(mols, smiles) if m is not None]
    image = Draw.MolsToGridImage([m for m, _ in pairs], molsPerRow=per_row, subImgSize=(220, 180),
                                 legends=[s for _, s in pairs])
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
    return path


def atom_figures(samples: AtomSamples, domain: AtomsDomain, stem: Path, split: str = "test") -> list[Path]:
    stem = Path(stem)
    molecules = with_bonds(samples.molecules)
    reference = reference_molecules(domain, split)
    written = [bond_length_figure(bond_lengths(molecules), bond_lengths(reference),
                                  stem.parent / f"{stem.name}_bond_lengths.png")]
    smiles = [s for s in validity(samples.molecules).smiles if s]
    if smiles:
        written.append(render_grid(smiles, stem.parent / f"{stem.name}_molecules.png"))
    return written
