"""The ``molecules`` domain: heavy-atom graphs for multi-conditional Graph DiT.

Data come from QM9 (``source: qm9``), MOSES (``moses:train``) or the user's CSV / SDF file
(:func:`~domains.molecules.store.load_graphs`, cached by content hash). States are
:class:`~domains.molecules.space.GraphSpace` tokens ``(B, N, 1 + N)``: an atom type and a
row of bond classes per node; kekulised data use four bond classes (none, single, double,
triple), since the aromatic class never occurs. The train split's statistics (atom and
bond marginals, the pair co-occurrence table of the joint transition, the node-count
histogram, condition ranges) travel in the checkpoint.

Conditions are any subset of the data's property columns: numeric ones (e.g. QM9's
``gap`` and ``mu``) and categorical ones (CSV columns, or labels RDKit derives such as
``aromatic``, :mod:`domains.molecules.labels`). Missing values are NaN and take the null
embedding in training: they are dropped, never imputed. At sampling any subset may be
given; the others stay unconditional.

Liu et al., "Graph Diffusion Transformers for Multi-Conditional Molecular Generation",
NeurIPS 2024, arXiv 2401.13858.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rdkit import Chem
from torch import Tensor
from torch.utils.data import Dataset

from domains.molecules.data import QM9_PROPERTIES, table_splits
from domains.molecules.decode import canonical_smiles, decode_graphs
from domains.molecules.evaluation import evaluate_molecules
from domains.molecules.graph import BOND_CLASSES, MolecularVocabulary, mol_to_graph
from domains.molecules.labels import DERIVED_LABELS, derived_labels
from domains.molecules.oracle import PropertyOracle, fit_oracle
from domains.molecules.samples import GeneratedMolecules
from domains.molecules.space import GraphSpace, pack_graph, slot_mask, unpack_graph
from domains.molecules.statistics import dataset_statistics
from domains.molecules.store import MolecularGraphs, load_graphs
from gensci.conditional_sizes import size_histogram_given, size_table
from gensci.domain import Batch, ConditionRequest, Domain, SamplePlan, check_conditions, draw_counts, parse_count_range
from gensci.errors import GensciError
from gensci.progress import progress_enabled

__all__ = ["MoleculesDomain", "MoleculeDataset"]

SPLITS = ("train", "val", "test")


class MoleculeDataset(Dataset):
    """Featurised molecules with encoded conditions; batches are padded to their largest graph."""

    def __init__(self, graphs: MolecularGraphs, cond: dict[str, Tensor], num_bond_classes: int):
        self.graphs = graphs
        self.cond = cond
        self.num_bond_classes = num_bond_classes

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, i: int) -> Batch:
        return self.__getitems__([i])

    def __getitems__(self, indices: list[int]) -> Batch:
        idx = torch.as_tensor(indices, dtype=torch.long)
        n = int(self.graphs.num_atoms[idx].max()) if len(idx) else 1
        dense = self.graphs.dense(idx, max_atoms=max(n, 1))
        if dense.bonds.numel() and int(dense.bonds.max()) >= self.num_bond_classes:
            raise GensciError(f"bond class {int(dense.bonds.max())} found but the model has {self.num_bond_classes} classes "
                              "(aromatic bonds in kekulised data?)")
        cond = {k: v[idx] for k, v in self.cond.items()} or None
        return Batch(x=pack_graph(dense.atoms, dense.bonds), cond=cond, mask=slot_mask(dense.mask))


class MoleculesDomain(Domain):
    """Molecular graphs from QM9, MOSES or the user's CSV / SDF file.

    Args:
        source: ``"qm9"``, ``"moses:train"`` or a ``.csv`` / ``.sdf`` path.
        numeric_conditions: numeric property columns to condition on (QM9: ``gap``, ``mu``, ...).
        categorical_conditions: categorical columns of a CSV / SDF file.
        derived_conditions: labels RDKit computes from the structure (``aromatic``, ``rings``).
        limit: read only the first rows (QM9 / MOSES).
        smiles_column, split_column: CSV options; the split column holds train / val / test.
        split_fractions, seed: the seeded random split used without a split column.
        max_atoms: largest graph kept (default: the data's largest).
        kekulize: store aromatic rings as alternating single/double bonds (exact round trip).
        oracle_max_train: the property oracle trains on at most this many train molecules.
        oracle_trees: trees of each oracle forest.
        oracle_max_features: share of fingerprint bits each split considers (0.3 fits about
            twice as fast as all bits at the same held-out error; None: scikit-learn's default).
    """

    name = "molecules"
    suffix = ".sdf"
    outputs = (".sdf", ".csv", ".smi", ".txt")
    sampling_options = {
        "atoms": "heavy atoms per molecule: N or LOW..HIGH (default: drawn from the training histogram, given the "
                 "requested conditions)",
        "atoms-seed": "seed of the atom counts drawn from a range (default 0)",
        "3d": "write 3D coordinates (ETKDG + MMFF) instead of 2D",
        "oracle": "yes | no | auto: the property oracle's predictions as tags (auto: a cached oracle, fitted when a "
                  "property it predicts is requested; no: none, so requested_* tags stand alone)",
    }

    def __init__(
        self,
        source: str = "qm9",
        numeric_conditions: Sequence[str] | None = None,
        categorical_conditions: Sequence[str] | None = None,
        derived_conditions: Sequence[str] | None = None,
        limit: int | None = None,
        smiles_column: str = "smiles",
        split_column: str | None = None,
        split_fractions: Sequence[float] = (0.8, 0.1, 0.1),
        seed: int = 0,
        max_atoms: int | None = None,
        kekulize: bool = True,
        oracle_max_train: int | None = 20000,
        oracle_trees: int = 100,
        oracle_max_features: float | None = 0.3,
    ):
        self.data_source = str(source)
        self.numeric_conditions = list(numeric_conditions or [])
        self.categorical_conditions = list(categorical_conditions or [])
        self.derived_conditions = list(derived_conditions or [])
        unknown = [d for d in self.derived_conditions if d not in DERIVED_LABELS]
        if unknown:
            raise GensciError(f"unknown derived condition(s) {unknown}; choose from {', '.join(DERIVED_LABELS)}")
        self.limit = None if limit is None else int(limit)
        self.smiles_column = smiles_column
        self.split_column = split_column
        self.split_fractions = tuple(float(f) for f in split_fractions)
        self.seed = int(seed)
        self.max_atoms = None if max_atoms is None else int(max_atoms)
        self.kekulize = bool(kekulize)
        self.oracle_max_train = None if oracle_max_train is None else int(oracle_max_train)
        self.oracle_trees = int(oracle_trees)
        self.oracle_max_features = oracle_max_features
        self._splits: dict[str, MolecularGraphs] | None = None
        self._stats: dict[str, Any] | None = None

    # ----------------------------------------------------------------- data
    def _reader_options(self) -> dict[str, Any]:
        kind = self.data_source.lower()
        if kind == "qm9":
            unknown = [p for p in self.numeric_conditions if p not in QM9_PROPERTIES]
            if unknown or self.categorical_conditions:
                names = unknown + self.categorical_conditions
                raise GensciError(f"QM9 has no property {names[0]!r}; its properties are {', '.join(QM9_PROPERTIES)} "
                                  f"(categorical labels: derived_conditions={list(DERIVED_LABELS)})")
            return {"properties": list(self.numeric_conditions), "limit": self.limit}
        if kind.startswith("moses"):
            if self.numeric_conditions or self.categorical_conditions:
                raise GensciError("MOSES has no property columns; use derived_conditions or a CSV with properties")
            return {"limit": self.limit}
        opts: dict[str, Any] = {"numeric": list(self.numeric_conditions), "categorical": list(self.categorical_conditions),
                                "split_column": self.split_column}
        if kind.endswith((".csv", ".csv.gz", ".gz")):
            opts["smiles_column"] = self.smiles_column
        return opts

    def _load(self) -> dict[str, MolecularGraphs]:
        if self._splits is not None:
            return self._splits
        vocab = None if self._stats is None else MolecularVocabulary.from_dict(self._stats["vocabulary"])
        graphs = load_graphs(self.data_source, vocab=vocab, max_atoms=self.max_atoms, kekulize=self.kekulize, **self._reader_options())
        if len(graphs) == 0:
            raise GensciError(f"{self.data_source}: no molecule could be featurised")
        for name in self.derived_conditions:
            graphs.categorical[name] = derived_labels(name, graphs.smiles)
        index = table_splits(graphs.split, len(graphs), self.split_fractions, self.seed)
        self._splits = {s: graphs.subset(index[s]) for s in SPLITS}
        if len(self._splits["train"]) == 0:
            raise GensciError(f"{self.data_source}: the train split is empty")
        return self._splits

    def prepare(self) -> None:
        train = self._load()["train"]
        stats = dataset_statistics(train)
        e = len(BOND_CLASSES) - 1 if self.kekulize else len(BOND_CLASSES)
        specs = []
        for name in self.numeric_conditions:
            p = stats["properties"][name]
            if p["count"] == 0:
                raise GensciError(f"condition {name!r} has no values in the train split")
            specs.append({"name": name, "kind": "numeric", "low": p["min"], "high": p["max"], "mean": p["mean"],
                          "std": p["std"] if p["std"] > 0 else 1.0, "unit": train.units.get(name, "")})
        for name in self.categorical_conditions + self.derived_conditions:
            p = stats["properties"][name]
            if not p["classes"]:
                raise GensciError(f"condition {name!r} has no values in the train split")
            specs.append({"name": name, "kind": "categorical", "num_classes": len(p["classes"]), "classes": list(p["classes"])})
        stats.update({
            "num_bond_classes": e,
            "bond_marginal": _renormalise(stats["bond_marginal"][:e]),
            "bond_given_pair": [[_renormalise(cell[:e]) for cell in row] for row in stats["bond_given_pair"]],
            "conditions": specs,
            "size_given_conditions": size_table(train.num_atoms, {name: train.numeric[name] for name in self.numeric_conditions}),
            "source": self.data_source,
            "train_size": len(train),
        })
        self._stats = stats

    @property
    def vocabulary(self) -> MolecularVocabulary:
        return MolecularVocabulary.from_dict(self._require_stats()["vocabulary"])

    def encode_conditions(self, graphs: MolecularGraphs) -> dict[str, Tensor]:
        """Numeric values as raw floats (the network normalises), classes as indices, missing as NaN."""
        out = {}
        for spec in self._require_stats()["conditions"]:
            if spec["kind"] == "numeric":
                out[spec["name"]] = graphs.numeric[spec["name"]].float()
            else:
                lookup = {c: float(i) for i, c in enumerate(spec["classes"])}
                out[spec["name"]] = torch.tensor([lookup.get(v, math.nan) if v is not None else math.nan
                                                  for v in graphs.categorical[spec["name"]]], dtype=torch.float32)
        return out

    def dataset(self, split: str) -> Dataset:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        graphs = self._load()[split]
        return MoleculeDataset(graphs, self.encode_conditions(graphs), self._require_stats()["num_bond_classes"])

    def smiles(self, split: str) -> list[str]:
        """Canonical SMILES of a split (for novelty, FCD and similarity references)."""
        return [canonical_smiles(s) or s for s in self._load()[split].smiles]

    # ------------------------------------------------------------ network
    def space(self) -> GraphSpace:
        s = self._require_stats()
        return GraphSpace(len(s["atom_marginal"]), s["num_bond_classes"])

    def process_kwargs(self) -> dict[str, Any]:
        s = self._require_stats()
        return {"atom_marginal": s["atom_marginal"], "bond_marginal": s["bond_marginal"], "bond_given_pair": s["bond_given_pair"]}

    def network_kwargs(self) -> dict[str, Any]:
        s = self._require_stats()
        return {"num_atom_types": len(s["atom_marginal"]), "num_bond_classes": s["num_bond_classes"],
                "max_atoms": s["max_atoms"], "conditions": s["conditions"]}

    # ------------------------------------------------------------ sampling
    def parse_conditions(self, conditions: ConditionRequest | None) -> dict[str, Any]:
        """Check requested values against the model's conditions (names, classes, ranges)."""
        return check_conditions(self._require_stats()["conditions"], conditions)

    def plan(self, n: int, conditions: ConditionRequest | None = None, atoms: Any = None, atoms_seed: Any = 0,
             **options: Any) -> SamplePlan:
        """Node counts (drawn from the training histogram given the requested conditions, or
        ``--atoms 9`` / ``5..9``), the slot mask (an element mask of the state's shape ``(n, N, 1 + N)``) and the encoded
        conditions. ``--3d`` asks :meth:`write` for 3D coordinates, ``--oracle yes|no|auto``
        for the oracle's predictions as tags (auto: if cached); both travel on the decoded
        samples."""
        three_d = bool(options.pop("3d", False) or options.pop("three_d", False))
        oracle = options.pop("oracle", "auto")
        oracle = {True: "yes", False: "no"}.get(oracle, str(oracle).lower())
        if oracle not in ("auto", "yes", "no"):
            raise GensciError(f"--oracle takes yes, no or auto (a cached oracle only), got {oracle!r}")
        if options:
            raise GensciError(f"unknown sampling option(s) {', '.join('--' + k for k in options)}; the molecules domain "
                              "takes --atoms N or LOW..HIGH, --atoms-seed, --3d and --oracle yes|no|auto")
        s = self._require_stats()
        requested = self.parse_conditions(conditions)
        hist = torch.tensor(s["node_count_histogram"], dtype=torch.float64)
        sizes = torch.nonzero(hist > 0).flatten()
        window = parse_count_range(atoms, int(sizes.min()), int(sizes.max()), what="--atoms", unit="heavy atoms")
        counts = draw_counts(size_histogram_given(hist, s.get("size_given_conditions"), requested), n, window, atoms_seed)
        n_max = int(counts.max())
        nodes = torch.arange(n_max)[None] < counts[:, None]
        cond = None
        if requested:
            cond = {}
            for spec in s["conditions"]:
                if spec["name"] not in requested:
                    cond[spec["name"]] = torch.full((n,), math.nan)
                elif spec["kind"] == "numeric":
                    cond[spec["name"]] = torch.full((n,), float(requested[spec["name"]]))
                else:
                    cond[spec["name"]] = torch.full((n,), float(spec["classes"].index(requested[spec["name"]])))
        return SamplePlan(shape=(n, n_max, n_max + 1), mask=slot_mask(nodes), cond=cond,
                          info={"requested": requested, "num_atoms": counts.tolist(), "three_d": three_d, "oracle": oracle})

    def decode(self, x: Tensor, plan: SamplePlan) -> GeneratedMolecules:
        """Each graph decoded twice: strictly (validity without correction) and with valence
        correction keeping the largest fragment (the molecules that are written); the
        samples carry the requested conditions, the atom counts and the writing options
        (``--3d``, ``--oracle``)."""
        atoms, bonds = unpack_graph(x.detach().cpu().long())
        nodes = plan.mask[..., 0] if plan.mask is not None else None
        vocab = self.vocabulary
        strict = decode_graphs(vocab, atoms, bonds, nodes, correct=False)
        corrected = decode_graphs(vocab, atoms, bonds, nodes, correct=True)
        info = plan.info
        return GeneratedMolecules(strict=strict, corrected=corrected, requested=dict(info.get("requested", {})),
                                  num_atoms=list(info.get("num_atoms", [])), three_d=bool(info.get("three_d", False)),
                                  oracle=str(info.get("oracle", "auto")))

    def write(self, samples: GeneratedMolecules, path: str | Path) -> Path:
        """SDF (2D coordinates; samples drawn with ``--3d`` get ETKDG + MMFF), CSV or SMILES,
        by suffix. Records carry the requested conditions, RDKit properties and the property
        oracle's predictions when it is at hand (``--oracle yes`` fits it; by default a cached
        one is used; ``--oracle no`` skips it). Every requested property gets its counterpart
        in each valid record: ``predicted_<name>`` from the oracle (fitted now, once, unless
        ``--oracle no``) or, for a label RDKit computes, ``measured_<name>``."""
        scored = [k for k in samples.requested if k in self.numeric_conditions + self.categorical_conditions]
        oracle = None
        if samples.oracle != "no":
            oracle = self.oracle(fit=samples.oracle == "yes" or bool(scored), notice=_notice)
        measured = [k for k in samples.requested if k in self.derived_conditions]
        return samples.write(path, three_d=samples.three_d, oracle=oracle, measured=measured)

    def read(self, path: str | Path) -> GeneratedMolecules:
        """Molecules of a file :meth:`write` produced, with the requested conditions its
        ``requested_*`` tags record (classes kept as strings, numbers as floats)."""
        categorical = [spec["name"] for spec in self.conditions if spec["kind"] != "numeric"]
        return GeneratedMolecules.read(path, categorical=categorical)

    # --------------------------------------------------------------- design
    def items(self, samples: GeneratedMolecules) -> list[Any]:
        """The corrected molecules (None where a sample did not decode)."""
        return list(samples.molecules)

    def collect(self, items: Sequence[Any]) -> GeneratedMolecules:
        return GeneratedMolecules.from_mols(items)

    def candidate_key(self, item: Any) -> str | None:
        """The canonical SMILES (None for no molecule)."""
        return None if item is None else (Chem.MolToSmiles(item) or None)

    def candidate_bucket(self, item: Any) -> str | None:
        """The Bemis-Murcko scaffold (J. Med. Chem. 1996) as SMILES; ``"acyclic"`` for none."""
        from rdkit.Chem.Scaffolds import MurckoScaffold

        if item is None:
            return None
        try:
            scaffold = MurckoScaffold.MurckoScaffoldSmiles(mol=item)
        except Exception:  # noqa: BLE001 - an odd molecule goes to its own bucket
            return self.candidate_key(item)
        return scaffold or "acyclic"

    def featurise(self, items: Sequence[Any]) -> Batch:
        """Dense graphs of the molecules' heavy atoms (padded to the largest), as training
        batches are."""
        vocab = self.vocabulary
        n = max(1, max(m.GetNumHeavyAtoms() for m in items))
        graphs = [mol_to_graph(m, vocab, n) for m in items]
        atoms = torch.stack([g.atoms for g in graphs])
        bonds = torch.stack([g.bonds for g in graphs])
        mask = torch.stack([g.mask for g in graphs])
        return Batch(x=pack_graph(atoms, bonds), mask=slot_mask(mask))

    def design_oracles(self) -> dict[str, Any]:
        from domains.molecules.design_oracles import ORACLES

        return dict(ORACLES)

    # -------------------------------------------------------------- metrics
    def oracle(self, fit: bool = True, notice: Callable[[str], None] | None = None) -> PropertyOracle | None:
        """The random-forest property oracle on ECFP4 for the model's oracle-scored
        conditions (numeric ones and the file's categorical columns), trained on the train
        split only and scored on the validation split; cached on disk. With ``fit=False``
        only an already cached oracle is returned (else None); ``notice`` is told before a
        forest is fitted."""
        names = self.numeric_conditions + self.categorical_conditions
        if not names:
            return None
        splits = self._load()
        train, held = splits["train"], splits["val"] if len(splits["val"]) else splits["test"]

        def labels(graphs: MolecularGraphs) -> dict[str, Any]:
            out: dict[str, Any] = {n: graphs.numeric[n].numpy() for n in self.numeric_conditions}
            out.update({n: graphs.categorical[n] for n in self.categorical_conditions})
            return out

        if self.oracle_max_train is not None and len(train) > self.oracle_max_train:
            order = np.random.default_rng(self.seed).permutation(len(train))[: self.oracle_max_train]
            train = train.subset(np.sort(order))
        return fit_oracle(train.smiles, labels(train), held.smiles, labels(held), categorical=self.categorical_conditions,
                          fit=fit, n_estimators=self.oracle_trees, max_features=self.oracle_max_features, notice=notice)

    def figures(self, samples: GeneratedMolecules, stem: Path, split: str = "test") -> list[Path]:
        """``<stem>_properties.png`` (property histograms of the samples against the requested
        values and the ``split``'s molecules) and ``<stem>_molecules.png`` (depictions of the
        first valid samples); :mod:`domains.molecules.figures`."""
        from domains.molecules.figures import molecule_figures

        if split not in SPLITS:
            raise GensciError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
        return molecule_figures(samples, self, stem, split)

    def evaluate(self, samples: GeneratedMolecules, split: str = "test") -> dict[str, float]:
        """Validity (with and without correction), uniqueness, novelty (vs train), FCD, internal
        diversity, SNN, fragment / scaffold similarity (vs ``split``), atom-type coverage and
        property control: MAE (or accuracy) between requested and achieved values, achieved
        values from the oracle (its held-out error beside it) or computed exactly by RDKit."""
        if split not in SPLITS:
            raise GensciError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
        n = len(samples)
        requested = dict(samples.requested)
        derived = {k: requested.pop(k) for k in list(requested) if k in DERIVED_LABELS and k in self.derived_conditions}
        needs_oracle = [k for k in requested if k in self.numeric_conditions + self.categorical_conditions]
        metrics = evaluate_molecules(
            samples.corrected, samples.strict,
            train_smiles=self.smiles("train"), test_smiles=self.smiles(split),
            requested={k: [v] * n for k, v in requested.items()} or None,
            oracle=self.oracle(fit=True) if needs_oracle else None,
            reference_atom_types=self.vocabulary, train_is_canonical=True, progress=progress_enabled(),
        )
        for name, value in derived.items():  # labels RDKit computes: exact accuracy
            achieved = derived_labels(name, samples.smiles)
            valid = [a for a in achieved if a is not None]
            metrics[f"accuracy_{name}"] = sum(a == value for a in valid) / len(valid) if valid else math.nan
        return metrics


def _notice(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _renormalise(values: Sequence[float]) -> list[float]:
    total = float(sum(values))
    if total <= 0:
        raise GensciError("a distribution of the data statistics has no mass")
    return [float(v) / total for v in values]

