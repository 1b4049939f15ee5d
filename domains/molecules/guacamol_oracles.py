"""GuacaMol's goal-directed tasks as design oracles (Brown et al., "GuacaMol: Benchmarking
Models for de Novo Molecular Design", J. Chem. Inf. Model. 2019).

Each task scores a molecule in [0, 1]; the multi-property (MPO) tasks combine Tanimoto
similarity to a drug with descriptor targets by a geometric mean of modifiers, e.g.
Osimertinib MPO = (sim_FCFP4(osimertinib) clipped at 0.8 · (1 - sim_ECFP6) thresholded
· TPSA ~ N(100, 2) · logP ~ N(1, 1))^(1/4). The scoring is GuacaMol's own
(``guacamol.standard_benchmarks``, the ``v2`` goal-directed suite); this module only
adapts it to the design loop's oracle contract: a batched callable on candidates (RDKit
molecules or SMILES, None where a sample did not decode) returning one float per
candidate, NaN where a molecule cannot be scored.

GuacaMol 0.5.5 (its last release) is installed with ``pip install --no-deps
guacamol==0.5.5``: its declared requirements pull ``rdkit-pypi`` (a second RDKit) and FCD,
neither needed to score. Two import-time shims make its scoring importable on current
stacks, both applied only when needed: ``scipy.histogram`` (removed from SciPy; GuacaMol's
chemistry helpers import it) is pointed at ``numpy.histogram``, and a placeholder ``fcd``
module stands in when FCD is not installed (GuacaMol imports it for the Fréchet
distribution benchmark, which no goal-directed task calls).
"""

from __future__ import annotations

import importlib.util
import math
import sys
import types
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from rdkit import Chem

from gensci.errors import GensciError

__all__ = ["GuacaMolTask", "MPO_TASKS", "guacamol_tasks"]

#: the seven multi-property tasks of the v2 suite, by their GuacaMol names
MPO_TASKS: tuple[str, ...] = ("Osimertinib MPO", "Fexofenadine MPO", "Ranolazine MPO", "Perindopril MPO",
                              "Amlodipine MPO", "Sitagliptin MPO", "Zaleplon MPO")


def _alias(name: str) -> str:
    """``"Osimertinib MPO"`` -> ``"osimertinib_mpo"``."""
    return "_".join(name.lower().replace("-", " ").replace(",", " ").split())


@lru_cache(maxsize=1)
def guacamol_tasks() -> dict[str, Any]:
    """GuacaMol's v2 goal-directed benchmarks by snake-case name (``osimertinib_mpo`` ...)."""
    if importlib.util.find_spec("guacamol") is None:
        raise GensciError("GuacaMol oracles need the guacamol package: pip install --no-deps guacamol==0.5.5")
    import numpy
    import scipy

    if not hasattr(scipy, "histogram"):
        scipy.histogram = numpy.histogram
    if importlib.util.find_spec("fcd") is None and "fcd" not in sys.modules:
        sys.modules["fcd"] = types.ModuleType("fcd", "placeholder: GuacaMol's Fréchet benchmark is not used here")
    from guacamol.benchmark_suites import goal_directed_benchmark_suite

    return {_alias(b.name): b for b in goal_directed_benchmark_suite("v2")}


class GuacaMolTask:
    """The score of one GuacaMol goal-directed task (module docstring), e.g.
    ``GuacaMolTask("osimertinib_mpo")`` or ``GuacaMolTask("Osimertinib MPO")``."""

    def __init__(self, task: str):
        tasks = guacamol_tasks()
        key = _alias(task)
        if key not in tasks:
            raise GensciError(f"unknown GuacaMol task {task!r}; choose one of {', '.join(sorted(tasks))}")
        self.task = key
        self.objective = tasks[key].objective

    def __call__(self, items: Sequence[Any]) -> list[float]:
        out = []
        for m in items:
            smiles = m if isinstance(m, str) else (Chem.MolToSmiles(m) if m is not None else None)
            if not smiles:
                out.append(math.nan)
                continue
            score = float(self.objective.score(smiles))
            # GuacaMol marks a SMILES it cannot parse with its corrupt score (-1)
            out.append(math.nan if score < 0 else score)
        return out
