"""The ``molecules`` domain: 2D molecular graphs for Graph DiT (Liu et al., NeurIPS 2024).


* :mod:`~domains.molecules.graph` — :class:`MolecularVocabulary` ((element, charge) atom
  types, five bond classes) and RDKit molecule -> dense graph (kekulised by default).
* :mod:`~domains.molecules.decode` — dense graph -> RDKit molecule, strict or with valence
  correction (validity with and without it), canonical SMILES.
* :mod:`~domains.molecules.data` — readers for QM9 (qm9pack), MOSES (molsets), CSV and SDF
  files into a :class:`MoleculeTable`; seeded or user-given splits.
* :mod:`~domains.molecules.store` — :class:`MolecularGraphs`, the compact featurised data
  set, and :func:`load_graphs` with its content-hashed on-disk cache.
* :mod:`~domains.molecules.statistics` — marginals, atom–bond co-occurrence, node-count
  histogram and property normalisers of the train split.
* :mod:`~domains.molecules.space` / :mod:`~domains.molecules.process` — graphs as node tokens
  (atom + bond row) and their discrete diffusion, with graph-dependent bond noise.
* :mod:`~domains.molecules.network` — :class:`GraphDiT`, the conditioned denoiser.
* :mod:`~domains.molecules.domain` — :class:`MoleculesDomain`, the engine's adapter.
* metrics of generated molecules live in :mod:`~domains.molecules.metrics` and its helpers.
* :mod:`~domains.molecules.oracle` — random-forest ECFP4 property oracle fit on the train split,
  with its held-out error, cached on disk.
* :mod:`~domains.molecules.output` — SDF (2D or ETKDG+MMFF 3D) and CSV files of samples with
  their tags, and :func:`~domains.molecules.output.read_samples` to read them back.
* :mod:`~domains.molecules.evaluation` — :func:`~domains.molecules.evaluation.evaluate_molecules`,
  every metric (validity with and without correction, MOSES set, FCD, coverage, property
  control against requested values) as one flat dict.
"""

from domains.molecules.data import (
    MoleculeTable,
    QM9_PROPERTIES,
    read_csv,
    read_moses,
    read_qm9,
    read_sdf,
    split_indices,
    table_splits,
)
from domains.molecules.decode import Decoded, canonical_smiles, decode_corrected, decode_graph, decode_graphs, decode_strict
from domains.molecules.graph import BOND_CLASSES, DenseGraph, MolecularVocabulary, mol_to_graph, smiles_to_graph
from domains.molecules.statistics import dataset_statistics
from domains.molecules.store import MolecularGraphs, featurise, load_graphs
from domains.molecules.domain import MoleculesDomain

__all__ = [
    "BOND_CLASSES",
    "DenseGraph",
    "MolecularVocabulary",
    "mol_to_graph",
    "smiles_to_graph",
    "Decoded",
    "decode_strict",
    "decode_corrected",
    "decode_graph",
    "decode_graphs",
    "canonical_smiles",
    "MoleculeTable",
    "QM9_PROPERTIES",
    "read_qm9",
    "read_moses",
    "read_csv",
    "read_sdf",
    "split_indices",
    "table_splits",
    "MolecularGraphs",
    "featurise",
    "load_graphs",
    "dataset_statistics",
    "MoleculesDomain",
]
