"""Figures of generated molecules: property histograms against the requested values and the
data, and a grid of 2D depictions.

``<stem>_properties.png``: one panel per property. Numeric properties are density histograms
of the valid samples over the data's (a seeded subset of at most ``max_data`` molecules of
the split), with the requested value as a vertical line; labels are bars of each class's
share, the requested class marked. Where a sample's value comes from:

* the model's oracle-scored conditions (e.g. QM9's ``gap``, ``mu``): the property oracle's
  prediction (:mod:`domains.molecules.oracle`); the data's own labels on the other side. A
  property is drawn when the oracle is at hand: fitted when the samples request one of its
  properties (as evaluation does), else only if cached;
* labels RDKit computes (``aromatic``, ``rings``) and ``qed``, ``sa``, ``logp``, ``mw``:
  computed exactly by RDKit on both sides.

``<stem>_molecules.png``: RDKit depictions (``Draw.MolsToGridImage``) of the first ``n_grid``
valid samples, their SMILES beneath.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from domains.molecules.labels import derived_labels
from domains.molecules.properties import PROPERTIES, rdkit_properties
from gensci.io import atomic_path

if TYPE_CHECKING:
    from domains.molecules.domain import MoleculesDomain
    from domains.molecules.samples import GeneratedMolecules

__all__ = ["PropertyPanel", "property_panels", "property_figure", "molecule_grid", "molecule_figures"]

#: RDKit properties drawn for every model
RDKIT_PANELS = ("qed", "sa", "logp", "mw")


@dataclass
class PropertyPanel:
    """One property's values: the samples' (valid ones), the data's, and what was requested."""

    name: str
    source: str  # "oracle" or "RDKit"
    samples: np.ndarray  # float64 (numeric) or object array of labels (a label)
    data: np.ndarray
    requested: float | str | None = None

    @property
    def numeric(self) -> bool:
        return self.samples.dtype.kind == "f"


def _numbers(values: Any) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    return array[np.isfinite(array)]


def _labels(values: Any) -> np.ndarray:
    return np.asarray([str(v) for v in values if v is not None], dtype=object)


def property_panels(samples: "GeneratedMolecules", domain: "MoleculesDomain", split: str = "test",
                    max_data: int = 2000, seed: int = 0) -> list[PropertyPanel]:
    """The values behind ``<stem>_properties.png`` (module docstring), in panel order: the
    oracle's properties, RDKit's labels, then ``qed``, ``sa``, ``logp``, ``mw``."""
    smiles = [s for s in samples.smiles if s]
    data = domain._load()[split]
    if len(data) > max_data:
        data = data.subset(np.sort(np.random.default_rng(seed).permutation(len(data))[:max_data]))
    requested = dict(samples.requested)
    scored = list(domain.numeric_conditions) + list(domain.categorical_conditions)
    panels: list[PropertyPanel] = []
    oracle = domain.oracle(fit=any(k in requested for k in scored)) if scored else None
    if oracle is not None:
        predicted = oracle.predict(smiles, [n for n in scored if n in oracle])
        for name, values in predicted.items():
            if name in domain.numeric_conditions:
                panels.append(PropertyPanel(name, "oracle", _numbers(values), _numbers(data.numeric[name].numpy()),
                                            requested.get(name)))
            else:
                panels.append(PropertyPanel(name, "oracle", _labels(values), _labels(data.categorical[name]),
                                            requested.get(name)))
    for name in domain.derived_conditions:
        panels.append(PropertyPanel(name, "RDKit", _labels(derived_labels(name, smiles)),
                                    _labels(derived_labels(name, data.smiles)), requested.get(name)))
    names = [n for n in RDKIT_PANELS if n in PROPERTIES and n not in {p.name for p in panels}]
    ours, theirs = rdkit_properties(smiles, names), rdkit_properties(list(data.smiles), names)
    for name in names:
        panels.append(PropertyPanel(name, "RDKit", _numbers(ours[name]), _numbers(theirs[name]), requested.get(name)))
    return panels


def _draw_numeric(ax: Any, panel: PropertyPanel) -> None:
    both = np.concatenate([panel.samples, panel.data])
    lo, hi = (float(np.percentile(both, 0.5)), float(np.percentile(both, 99.5))) if len(both) else (0.0, 1.0)
    if isinstance(panel.requested, (int, float)) and math.isfinite(panel.requested):
        lo, hi = min(lo, float(panel.requested)), max(hi, float(panel.requested))
    hi = hi if hi > lo else lo + 1.0
    bins = np.linspace(lo, hi, 40)
    if len(panel.data):
        ax.hist(np.clip(panel.data, lo, hi), bins=bins, density=True, alpha=0.45, color="0.55",
                label=f"data ({len(panel.data)})")
    if len(panel.samples):
        ax.hist(np.clip(panel.samples, lo, hi), bins=bins, density=True, histtype="step", linewidth=1.6,
                color="tab:blue", label=f"samples ({len(panel.samples)})")
    if isinstance(panel.requested, (int, float)) and math.isfinite(panel.requested):
        ax.axvline(float(panel.requested), color="tab:red", linestyle="--", label=f"requested {panel.requested:g}")


def _draw_labels(ax: Any, panel: PropertyPanel) -> None:
    classes = sorted(set(panel.data) | set(panel.samples) | ({str(panel.requested)} if panel.requested is not None else set()))
    where = np.arange(len(classes))
    for offset, values, colour, what in ((-0.2, panel.data, "0.55", "data"), (0.2, panel.samples, "tab:blue", "samples")):
        shares = [float(np.mean(values == c)) if len(values) else 0.0 for c in classes]
        ax.bar(where + offset, shares, width=0.4, color=colour, label=f"{what} ({len(values)})")
    ax.set_xticks(where, classes)
    ax.set_ylabel("share")
    if panel.requested is not None:
        ax.axvline(classes.index(str(panel.requested)), color="tab:red", linestyle="--",
                   label=f"requested {panel.requested}")


def property_figure(panels: list[PropertyPanel], path: Path, title: str | None = None) -> Path:
    """Write the panels as one PNG (numeric: histograms; labels: bars)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(4, max(1, len(panels)))
    rows = max(1, -(-len(panels) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.8 * rows), squeeze=False)
    for ax, panel in zip(axes.flat, panels):
        (_draw_numeric if panel.numeric else _draw_labels)(ax, panel)
        ax.set_title(f"{panel.name} ({panel.source})", fontsize=10)
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return Path(path)


def molecule_grid(smiles: list[str | None], path: Path, n: int = 24, per_row: int = 6,
                  size: tuple[int, int] = (220, 180)) -> Path | None:
    """Depictions of the first ``n`` valid molecules of ``smiles`` (None: no valid one)."""
    from rdkit import Chem
    from rdkit.Chem import Draw

    pairs = []
    for s in smiles:
        mol = Chem.MolFromSmiles(s) if s else None
        if mol is not None:
            pairs.append((mol, s))
        if len(pairs) == n:
            break
    if not pairs:
        return None
    image = Draw.MolsToGridImage([m for m, _ in pairs], molsPerRow=per_row, subImgSize=size,
                                 legends=[s for _, s in pairs])
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
    return Path(path)


def molecule_figures(samples: "GeneratedMolecules", domain: "MoleculesDomain", stem: Path,
                     split: str = "test") -> list[Path]:
    """``<stem>_properties.png`` and ``<stem>_molecules.png`` (the latter when a sample is valid)."""
    stem = Path(stem)
    asked = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in samples.requested.items())
    title = f"{len(samples)} samples" + (f" ({asked})" if asked else "") + f" against the {split} split"
    written = [property_figure(property_panels(samples, domain, split), stem.parent / f"{stem.name}_properties.png",
                               title)]
    grid = molecule_grid(samples.smiles, stem.parent / f"{stem.name}_molecules.png")
    if grid is not None:
        written.append(grid)
    return written
