"""gensci: generative models for science.

Shared generative cores (diffusion, flow matching, guidance, Schrödinger bridges) in
:mod:`gensci.core`, shared network parts in :mod:`gensci.nn`, and the engine that trains,
checkpoints and samples models of any domain.

>>> import gensci
>>> model = gensci.load("points/moons")
>>> points = model.sample(1000, seed=0)
>>> model.write(points, "moons.csv")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"
__all__ = ["load", "design", "__version__"]

if TYPE_CHECKING:
    from gensci.model import GenerativeModel


def load(name_or_path: str) -> "GenerativeModel":
    """Load a bundled model by name (``gensci models``) or a checkpoint file."""
    from gensci.model import load as _load

    return _load(name_or_path)


def design(model, objectives, strategy=None, **options):
    """Run an inverse-design loop (:func:`gensci.inverse.loop.design`): propose with
    ``strategy``, score by ``objectives``, select, adapt; returns a
    :class:`~gensci.inverse.result.DesignResult` with ``.best(k)``, ``.pareto()``,
    ``.history`` and ``.write(dir)``."""
    from gensci.inverse.loop import design as _design

    return _design(model, objectives, strategy, **options)
