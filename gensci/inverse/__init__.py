"""Inverse design: a loop of propose -> score -> select -> adapt, for every domain.

>>> import gensci
>>> from gensci.inverse import Objective, ConditionalSteering
>>> model = gensci.load("molecules/qm9")
>>> result = gensci.design(model, [Objective("qed", qed, goal="maximize", threshold=0.5)],
...                        ConditionalSteering(["gap"]), budget=500, out="run/")
>>> result.best(5), result.history[-1]["hits"]

See :mod:`gensci.inverse.loop` for the loop, :mod:`gensci.inverse.objectives` for objectives
and constraints, :mod:`gensci.inverse.strategies` for the proposal strategies.
"""

from gensci.inverse.candidates import Candidate
from gensci.inverse.loop import DesignContext, design, select_elites
from gensci.inverse.objectives import CommandOracle, Constraint, Objective, combine
from gensci.inverse.pareto import hypervolume, pareto_front, pareto_ranks
from gensci.inverse.result import DesignResult, top10_auc
from gensci.inverse.strategies import BestOfN, ConditionalSteering, FineTuning, GradientGuidance, Strategy
from gensci.inverse.transforms import DoubleSigmoid, Identity, ReverseSigmoid, Sigmoid, Step, make_transform

__all__ = ["design", "DesignResult", "DesignContext", "Candidate", "Objective", "Constraint", "CommandOracle", "combine",
           "select_elites", "pareto_front", "pareto_ranks", "hypervolume", "top10_auc", "Strategy", "BestOfN",
           "ConditionalSteering", "GradientGuidance", "FineTuning", "Identity", "Sigmoid", "ReverseSigmoid", "Step",
           "DoubleSigmoid", "make_transform"]
