"""Statistics of a molecular graph data set, computed on the train split only.

For ``M`` graphs with ``n_m`` real atoms, atom types ``x_i`` and bond classes ``e_ij``
(class 0 = no bond):

* atom-type marginal       ``m_X[a] = #{i : x_i = a} / Σ_m n_m``
* bond-class marginal      ``m_E[c] = #{i < j : e_ij = c} / Σ_m n_m (n_m − 1) / 2``, over all
  pairs of real atoms, so ``none`` is counted (the prior of DiGress's marginal transition,
  Vignac et al. 2023, arXiv 2209.14734)
* atom–bond co-occurrence  ``C[a, c] = #{(i, j) : i ≠ j, x_i = a, e_ij = c}`` over ordered
  pairs (each bond counts once for each end), giving ``P(e = c | x = a) = C[a, c] / Σ_c C[a, c]``
  and ``P(x = a | e = c) = C[a, c] / Σ_a C[a, c]``: the off-diagonal blocks of Graph DiT's
  joint atom–bond transition (Liu et al. 2024, arXiv 2401.13858). A row (or column) with no
  counts falls back to the bond (or atom) marginal, so every row sums to one.
* pair co-occurrence       ``D[a, b, c] = #{(i, j) : i ≠ j, x_i = a, x_j = b, e_ij = c}`` over
  ordered pairs (symmetric in ``a, b``), giving ``P(e = c | a, b)``, the bond noise law of
  :class:`~domains.molecules.process.GraphDiffusion`'s joint transition; averaged with the
  pair weights ``D[a, b, :].sum() / D.sum()`` it is the bond marginal ``m_E`` exactly. A
  pair of types that never meet falls back to ``m_E``.
* node-count histogram     ``h[n] = #{m : n_m = n}`` for ``n = 0 … max_atoms``
* property normalisers     numeric: mean, std (population, ``ddof = 0``), min, max and the
  number of labelled / missing values (NaN ignored); categorical: sorted classes and counts.

Everything is returned as plain Python types (lists, floats, ints, strings), ready for a
checkpoint read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from domains.molecules.graph import BOND_CLASSES
from domains.molecules.store import MolecularGraphs
from gensci.errors import GensciError

__all__ = ["dataset_statistics", "cooccurrence_counts", "pair_bond_counts", "numeric_normaliser", "categorical_counts"]


def _normalise(counts: Tensor) -> list[float]:
    total = float(counts.sum())
    return [float(c) / total for c in counts.tolist()] if total > 0 else [0.0] * counts.numel()


def _rows_to_probabilities(counts: Tensor, fallback: list[float]) -> list[list[float]]:
    out = []
    for row in counts:
        out.append(_normalise(row) if float(row.sum()) > 0 else list(fallback))
    return out


def cooccurrence_counts(graphs: MolecularGraphs) -> Tensor:
    """``C[a, c]`` over ordered pairs of distinct real atoms (module docstring), float64 (K, 5)."""
    k, n_cls = graphs.vocab.num_atom_types, len(BOND_CLASSES)
    counts = torch.zeros(k, n_cls, dtype=torch.float64)
    atoms = graphs.atoms.long()
    # bonds: each edge (i, j, c) adds one to (x_i, c) and one to (x_j, c)
    mol_of_edge = torch.repeat_interleave(torch.arange(len(graphs)), graphs.edge_ptr[1:] - graphs.edge_ptr[:-1])
    offset = graphs.atom_ptr[mol_of_edge]
    edges = graphs.edges.long()
    for end in (0, 1):
        types = atoms[offset + edges[:, end]]
        counts.index_put_((types, edges[:, 2]), torch.ones(len(types), dtype=torch.float64), accumulate=True)
    # no bond: atom i has (n_m - 1 - degree_i) non-neighbours among the real atoms
    n_of_atom = torch.repeat_interleave(graphs.num_atoms, graphs.num_atoms).double()
    degree = torch.zeros(atoms.numel(), dtype=torch.float64)
    for end in (0, 1):
        degree.index_add_(0, offset + edges[:, end], torch.ones(len(edges), dtype=torch.float64))
    counts[:, 0].index_add_(0, atoms, n_of_atom - 1 - degree)
    return counts


def pair_bond_counts(graphs: MolecularGraphs) -> Tensor:
    """``D[a, b, c]`` over ordered pairs of distinct real atoms (module docstring), float64 (K, K, 5)."""
    k, n_cls = graphs.vocab.num_atom_types, len(BOND_CLASSES)
    atoms = graphs.atoms.long()
    mol_of_atom = torch.repeat_interleave(torch.arange(len(graphs)), graphs.num_atoms)
    per_mol = torch.zeros(len(graphs), k, dtype=torch.float64)
    per_mol.index_put_((mol_of_atom, atoms), torch.ones(len(atoms), dtype=torch.float64), accumulate=True)
    pairs = per_mol.T @ per_mol - torch.diag(per_mol.sum(0))  # ordered pairs of distinct atoms by type
    counts = torch.zeros(k, k, n_cls, dtype=torch.float64)
    mol_of_edge = torch.repeat_interleave(torch.arange(len(graphs)), graphs.edge_ptr[1:] - graphs.edge_ptr[:-1])
    offset = graphs.atom_ptr[mol_of_edge]
    edges = graphs.edges.long()
    ends = atoms[offset + edges[:, 0]], atoms[offset + edges[:, 1]]
    ones = torch.ones(len(edges), dtype=torch.float64)
    counts.index_put_((ends[0], ends[1], edges[:, 2]), ones, accumulate=True)
    counts.index_put_((ends[1], ends[0], edges[:, 2]), ones, accumulate=True)
    counts[..., 0] = pairs - counts[..., 1:].sum(-1)
    return counts


def numeric_normaliser(values: Tensor) -> dict[str, Any]:
    """Mean, population std, min, max and counts of labelled values (NaN = missing)."""
    v = torch.as_tensor(values, dtype=torch.float64).reshape(-1)
    present = v[~torch.isnan(v)]
    if present.numel() == 0:
        return {"kind": "numeric", "mean": math.nan, "std": math.nan, "min": math.nan, "max": math.nan,
                "count": 0, "missing": int(v.numel())}
    return {
        "kind": "numeric",
        "mean": float(present.mean()),
        "std": float(present.std(unbiased=False)),
        "min": float(present.min()),
        "max": float(present.max()),
        "count": int(present.numel()),
        "missing": int(v.numel() - present.numel()),
    }


def categorical_counts(labels: list[str | None]) -> dict[str, Any]:
    """Sorted classes with their counts; None = missing."""
    counts: dict[str, int] = {}
    for label in labels:
        if label is not None:
            counts[label] = counts.get(label, 0) + 1
    classes = sorted(counts)
    return {"kind": "categorical", "classes": classes, "counts": [counts[c] for c in classes],
            "missing": sum(1 for label in labels if label is None)}


def dataset_statistics(graphs: MolecularGraphs) -> dict[str, Any]:
    """All statistics of ``graphs`` (pass the train split) as plain types (module docstring)."""
    if len(graphs) == 0:
        raise GensciError("no training molecules: cannot compute data set statistics")
    vocab, k = graphs.vocab, graphs.vocab.num_atom_types
    n = graphs.num_atoms
    atom_counts = torch.bincount(graphs.atoms.long(), minlength=k).double()
    bond_counts = torch.bincount(graphs.edges[:, 2].long(), minlength=len(BOND_CLASSES)).double()
    bond_counts[0] = float((n * (n - 1) // 2).sum()) - float(bond_counts[1:].sum())
    atom_marginal = _normalise(atom_counts)
    bond_marginal = _normalise(bond_counts)
    co = cooccurrence_counts(graphs)
    pair = pair_bond_counts(graphs)
    pair_totals = pair.sum(-1, keepdim=True)
    bond_given_pair = torch.where(pair_totals > 0, pair / pair_totals.clamp_min(1.0), torch.tensor(bond_marginal, dtype=torch.float64))
    hist = torch.bincount(n, minlength=graphs.max_atoms + 1)
    return {
        "vocabulary": vocab.to_dict(),
        "atom_labels": vocab.labels,
        "bond_classes": list(BOND_CLASSES),
        "max_atoms": int(graphs.max_atoms),
        "num_graphs": len(graphs),
        "atom_counts": [int(c) for c in atom_counts.tolist()],
        "atom_marginal": atom_marginal,
        "bond_counts": [int(c) for c in bond_counts.tolist()],
        "bond_marginal": bond_marginal,
        "atom_bond_counts": [[int(c) for c in row] for row in co.tolist()],
        "bond_given_atom": _rows_to_probabilities(co, bond_marginal),
        "atom_given_bond": _rows_to_probabilities(co.T, atom_marginal),
        "pair_counts": [[float(c) for c in row] for row in pair.sum(-1).tolist()],
        "bond_given_pair": bond_given_pair.tolist(),
        "node_count_histogram": [int(c) for c in hist.tolist()],
        "node_count_distribution": _normalise(hist.double()),
        "properties": {
            **{name: numeric_normaliser(v) for name, v in graphs.numeric.items()},
            **{name: categorical_counts(v) for name, v in graphs.categorical.items()},
        },
        "units": dict(graphs.units),
    }
