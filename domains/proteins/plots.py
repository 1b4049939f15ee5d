"""Ramachandran plots: (phi, psi) densities of samples beside a reference set, as a PNG.

A Ramachandran plot (Ramachandran, Ramakrishnan & Sasisekharan 1963, J. Mol. Biol.
7:95) shows each residue's backbone dihedrals ``(phi_i, psi_i)`` in degrees. Real
proteins fill the alpha-helix basin around (-63, -43), the beta basin around
(-120, 130) and a sparse left-handed region near (60, 45); FoldingDiff (arXiv
2209.15611, Fig. 2) judges its samples by this picture. Each panel is a 2-D histogram
(log colour scale) over ``[-180, 180)^2``; matplotlib's non-interactive Agg backend
draws it, so no display is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from torch import Tensor

from domains.proteins.distributions import angle_pairs
from gensci.errors import GensciError

__all__ = ["ramachandran_png"]


def ramachandran_png(
    panels: dict[str, Sequence[Tensor | np.ndarray]],
    path: str | Path,
    bins: int = 72,
    title: str | None = None,
) -> Path:
    """Write one Ramachandran panel per entry of ``panels`` (label -> angle arrays ``(L, 6)``).

    Returns ``path``. Each panel's title carries its number of residues.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    if not panels:
        raise GensciError("a Ramachandran plot needs at least one set of angles")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.0), squeeze=False)
    edges = np.linspace(-180.0, 180.0, bins + 1)
    try:
        for ax, (label, angles) in zip(axes[0], panels.items()):
            pairs = np.degrees(angle_pairs(angles, "phi", "psi"))
            counts, _, _ = np.histogram2d(pairs[:, 0], pairs[:, 1], bins=[edges, edges])
            if counts.max() > 0:
                ax.pcolormesh(edges, edges, np.where(counts > 0, counts, np.nan).T, cmap="viridis",
                              norm=LogNorm(vmin=1, vmax=max(counts.max(), 2)))
            ax.set(xlim=(-180, 180), ylim=(-180, 180), xlabel="phi (degrees)", ylabel="psi (degrees)",
                   title=f"{label} ({len(pairs)} residues)", aspect="equal")
            ax.set_xticks(range(-180, 181, 90))
            ax.set_yticks(range(-180, 181, 90))
            ax.axhline(0, color="0.8", lw=0.5)
            ax.axvline(0, color="0.8", lw=0.5)
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)
    return path
