"""Figures of sampled points for ``gensci evaluate``: the samples scattered over the data.

``<stem>_points.png`` holds one panel of every sample over the ``split``'s points (grey), and,
for labelled data, one panel per class the samples were requested under: those samples over
the data points of that class only, so a reader sees whether guidance put them on the right
part of the data. Points of more than two dimensions are drawn on their first two columns
(one-dimensional ones at y = 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from domains.points.data import PointTable
from gensci.io import atomic_path

__all__ = ["ScatterPanel", "scatter_panels", "scatter_figure"]


@dataclass
class ScatterPanel:
    """One panel: its title, the data's points and the samples' points, ``(n, 2)`` each."""

    title: str
    data: np.ndarray
    samples: np.ndarray


def _xy(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x[:, :2] if x.shape[1] >= 2 else np.column_stack([x[:, 0], np.zeros(len(x))])


def scatter_panels(samples: PointTable, data: PointTable, categorical: list[str], split: str = "test") -> list[ScatterPanel]:
    """The panels of ``<stem>_points.png`` (module docstring); ``categorical`` names the data's
    class conditions."""
    panels = [ScatterPanel(f"{len(samples)} samples over the {split} split ({len(data)})", _xy(data.x), _xy(samples.x))]
    for name in categorical:
        asked, labels = samples.conditions.get(name), data.conditions.get(name)
        if asked is None or labels is None:
            continue
        asked_text = np.asarray([str(v) for v in asked], dtype=object)
        labels_text = np.asarray([str(v) for v in labels], dtype=object)
        for value in sorted(set(asked_text) - {"None", "nan"}):
            panels.append(ScatterPanel(f"{name}={value}: samples over the data of that class",
                                       _xy(data.x[labels_text == value]), _xy(samples.x[asked_text == value])))
    return panels


def scatter_figure(panels: list[ScatterPanel], path: Path, columns: tuple[str, str] = ("x0", "x1")) -> Path:
    """Write the panels side by side as one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.6), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        _draw(ax, panel, columns)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return Path(path)


def _draw(ax: Any, panel: ScatterPanel, columns: tuple[str, str]) -> None:
    if len(panel.data):
        ax.scatter(panel.data[:, 0], panel.data[:, 1], s=2, c="0.75", label=f"data ({len(panel.data)})")
    if len(panel.samples):
        ax.scatter(panel.samples[:, 0], panel.samples[:, 1], s=3, c="tab:blue", alpha=0.7,
                   label=f"samples ({len(panel.samples)})")
    ax.set_title(panel.title, fontsize=9)
    ax.set_xlabel(columns[0])
    ax.set_ylabel(columns[1])
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(loc="upper right", markerscale=4, fontsize=7)
