"""Scatter plots of sampled points (first two columns), coloured by a requested class."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from domains.points.data import PointTable
from gensci.io import atomic_path

__all__ = ["plot_points"]


def plot_points(table: PointTable, path: str | Path, reference: PointTable | None = None, title: str | None = None) -> Path:
    """Write a PNG scatter of ``table`` (over a grey ``reference`` when given)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5), dpi=120)
    if reference is not None:
        ax.scatter(reference.x[:, 0], reference.x[:, 1 if reference.x.shape[1] > 1 else 0], s=2, c="0.8", label="data")
    y = table.x[:, 1] if table.x.shape[1] > 1 else np.zeros(len(table))
    labels = next(iter(table.conditions.values()), None)
    if labels is not None:
        for value in sorted(set(map(str, labels))):
            keep = np.asarray([str(v) == value for v in labels])
            ax.scatter(table.x[keep, 0], y[keep], s=3, label=f"{next(iter(table.conditions))}={value}")
    else:
        ax.scatter(table.x[:, 0], y, s=3, c="tab:blue", label="samples")
    ax.set_xlabel(table.columns[0])
    ax.set_ylabel(table.columns[1] if len(table.columns) > 1 else "")
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(loc="upper right", markerscale=4, fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)
