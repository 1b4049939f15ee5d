"""Plots of a design run: progress per round, the Pareto front, first against last round.

* ``progress.png`` — the best combined score and the top-10 mean against oracle calls,
  with the cumulative hits on a second axis;
* ``pareto.png`` — every scored candidate on the first two objectives, the
  non-dominated ones marked (runs with two or more objectives);
* ``histograms.png`` — each objective's values in round 0 against the last round.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_report"]


def plot_report(result: Any, folder: Path) -> list[Path]:
    """Write the plots of ``result`` under ``folder``; returns the files written."""
    if not result.history:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    calls = [h["oracle_calls"] for h in result.history]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(calls, [h["best"] for h in result.history], "o-", label="best")
    ax.plot(calls, [h["top10_mean"] for h in result.history], "s-", label="top-10 mean")
    ax.set_xlabel("oracle calls")
    ax.set_ylabel("combined score")
    ax.set_ylim(0, 1.02)
    ax2 = ax.twinx()
    ax2.plot(calls, [h["hits"] for h in result.history], "^--", color="grey", label="hits")
    ax2.set_ylabel("hits (cumulative)")
    ax.legend(loc="lower right")
    ax.set_title(f"design: {result.strategy.name}")
    fig.tight_layout()
    out.append(_save(fig, folder / "progress.png"))
    plt.close(fig)

    scored = [c for c in result.candidates if c.scored]
    names = [o.name for o in result.objectives]
    if len(names) >= 2 and scored:
        front = {c.id for c in result.pareto()}
        x = np.asarray([c.values[names[0]] for c in scored])
        y = np.asarray([c.values[names[1]] for c in scored])
        on = np.asarray([c.id in front for c in scored])
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.scatter(x[~on], y[~on], s=8, c="lightgrey", label="scored")
        ax.scatter(x[on], y[on], s=18, c="crimson", label="Pareto front (all objectives)")
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1])
        ax.legend(fontsize=8)
        fig.tight_layout()
        out.append(_save(fig, folder / "pareto.png"))
        plt.close(fig)

    last = result.history[-1]["round"]
    if scored:
        fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.2), squeeze=False)
        for ax, name in zip(axes[0], names):
            first = [c.values[name] for c in scored if c.round == 0]
            final = [c.values[name] for c in scored if c.round == last]
            both = np.asarray(first + final, dtype=float)
            both = both[np.isfinite(both)]
            bins = np.linspace(both.min(), both.max() + 1e-12, 25) if both.size else 10
            ax.hist(first, bins=bins, alpha=0.6, label="round 0")
            if last != 0:
                ax.hist(final, bins=bins, alpha=0.6, label=f"round {last}")
            ax.set_xlabel(name)
            ax.legend(fontsize=8)
        fig.tight_layout()
        out.append(_save(fig, folder / "histograms.png"))
        plt.close(fig)
    return out


def _save(fig: Any, path: Path) -> Path:
    from gensci.io import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    return path
