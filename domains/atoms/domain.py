"""The engine's adapter for whole 3D molecules: :class:`AtomsDomain`.

A molecule is a record of fields, each with its space and mask (``(B, N)`` atoms, ``(B, N, N)``
pairs with ``i != j``):

* ``pos`` (B, N, 3) on :class:`~gensci.core.spaces.ZeroCoM`, in Å divided by
  ``position_scale``;
* family ``"flow"`` (bond-explicit, MiDi / SemlaFlow style; the default): ``types`` (B, N)
  over H C N O F and ``charges`` (B, N) over −1, 0, +1 as :class:`Categorical`, ``bonds``
  (B, N, N) over none / single / double / triple / aromatic as
  :class:`~domains.atoms.space.BondSpace`;
* family ``"edm"`` (Hoogeboom et al. 2022): ``types`` and ``charges`` as one-hot vectors
  times ``onehot_scale`` (EDM's 1/4) on :class:`Euclidean`, diffused with the positions as
  Gaussians; bonds are inferred from distances after sampling (EDM's lookup).

The atom count of each sample is drawn from the training histogram (given the requested
properties, :mod:`gensci.conditional_sizes`: a large alpha needs a large molecule) or given
(``--atoms 19`` / ``15..20``). Conditions are QM9 properties (EDM's set: ``alpha``, ``gap``,
``mu``, ``cv``) with classifier-free guidance.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from domains.atoms.data import QM9_PROPERTIES, Molecules3D, load_molecules
from domains.atoms.molecule import BOND_CLASSES, CHARGES, ELEMENTS, Molecule3D
from domains.atoms.space import BondSpace, pair_mask
from gensci.core.product import ProductSpace
from gensci.core.spaces import Categorical, Euclidean, ZeroCoM
from gensci.core.state import State
from gensci.conditional_sizes import size_histogram_given, size_table
from gensci.domain import Batch, ConditionRequest, Domain, SamplePlan, check_conditions, draw_counts, parse_count_range
from gensci.errors import GensciError
from gensci.nn.conditions import ConditionSpec

__all__ = ["AtomsDomain", "AtomSamples", "AtomsDataset", "FAMILIES"]

FAMILIES = ("flow", "edm")


@dataclass
class AtomSamples:
    """Decoded samples: one :class:`Molecule3D` each (``bonds`` None for the EDM family), the
    conditions they were sampled under, and where their bonds came from."""

    molecules: list[Molecule3D]
    requested: dict[str, Any] = field(default_factory=dict)
    bonds_source: str = "generated"

    def __len__(self) -> int:
        return len(self.molecules)

    def __getitem__(self, i: int) -> Molecule3D:
        return self.molecules[i]


class AtomsDataset(Dataset):
    """Rows of a :class:`Molecules3D` served a batch at a time, padded to the batch's largest
    molecule (``__getitems__`` returns a :class:`Batch` of records)."""

    def __init__(self, data: Molecules3D, rows: Sequence[int], domain: AtomsDomain):
        self.data, self.rows, self.domain = data, torch.as_tensor(list(rows), dtype=torch.long), domain
        #: atoms per item: the engine batches molecules of similar size together
        self.sizes = data.num_atoms[self.rows]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitems__(self, indices: list[int]) -> Batch:
        return self.domain.featurise([int(self.rows[i]) for i in indices], self.data)

    def __getitem__(self, i: int) -> Batch:
        return self.__getitems__([i])


class AtomsDomain(Domain):
    """Args:
        source: ``"qm9"`` or a path to SDF / XYZ / SMILES files (:func:`load_molecules`).
        family: ``"flow"`` (bond-explicit) or ``"edm"`` (bonds inferred).
        conditions: QM9 properties to condition on (``alpha``, ``gap``, ``mu``, ``cv``, ...).
        elements: the atom-type vocabulary (default QM9's H C N O F); molecules with other
            elements are left out of the splits, with a warning that counts them.
        limit: read only the first molecules (tests, tiny configs).
        position_scale: Å per unit of the ``pos`` field.
        onehot_scale: factor of the one-hot vectors of the EDM family.
        kekulize: store bonds kekulised (no aromatic class) — the default, as MiDi and SemlaFlow do.
        seed: the split's seed; cache_dir: where perceived molecules are cached.
    """

    name = "atoms"
    suffix = ".sdf"
    outputs = (".sdf", ".xyz")
    sampling_options = {
        "atoms": "atoms per molecule, hydrogens included: N or LOW..HIGH (default: drawn from the training histogram, "
                 "given the requested conditions)",
        "atoms-seed": "seed of the atom counts drawn from a range (default 0)",
        "fragment": "an SDF / XYZ file whose first molecule is kept fixed while the rest is generated",
    }

    def __init__(self, source: str = "qm9", family: str = "flow", conditions: Sequence[str] = (),
                 elements: Sequence[str] = ELEMENTS,
                 limit: int | None = None, position_scale: float = 1.0, onehot_scale: float = 0.25,
                 kekulize: bool = True, seed: int = 0, cache_dir: str | None = None, progress: bool = True):
        if family not in FAMILIES:
            raise GensciError(f"atoms family must be one of {', '.join(FAMILIES)}, got {family!r}")
        unknown = [c for c in conditions if c not in QM9_PROPERTIES]
        if unknown:
            raise GensciError(f"unknown atoms conditions {unknown}; choose from {', '.join(QM9_PROPERTIES)}")
        if not position_scale > 0:
            raise GensciError(f"position_scale must be positive, got {position_scale}")
        self.data_source, self.family, self.condition_names = source, family, list(conditions)
        self.limit, self.position_scale, self.onehot_scale = limit, float(position_scale), float(onehot_scale)
        self.kekulize, self.seed, self.cache_dir, self.progress = kekulize, seed, cache_dir, progress
        self.elements = list(elements)
        self._data: Molecules3D | None = None
        self._rows: dict[str, list[int]] | None = None

    # ----------------------------------------------------------------- data
    @property
    def atomic_numbers(self) -> list[int]:
        from rdkit import Chem

        table = Chem.GetPeriodicTable()
        try:
            return [table.GetAtomicNumber(e) for e in self.elements]
        except RuntimeError:
            raise GensciError(f"unknown element in the atoms vocabulary {self.elements}") from None

    def type_index(self, numbers: Tensor) -> Tensor:
        """Atom-type class of each atomic number (all must be in the vocabulary)."""
        lookup = torch.full((119,), -1, dtype=torch.long)
        lookup[torch.tensor(self.atomic_numbers)] = torch.arange(len(self.elements))
        out = lookup[numbers.long()]
        if (out < 0).any():
            raise GensciError(f"atomic numbers {sorted(set(numbers[out < 0].tolist()))} are outside the vocabulary "
                              f"{', '.join(self.elements)}")
        return out

    @property
    def data(self) -> Molecules3D:
        if self._data is None:
            self._data = load_molecules(self.data_source, limit=self.limit, seed=self.seed, kekulize=self.kekulize,
                                        cache_dir=self.cache_dir, progress=self.progress)
            split = self._data.split or ["train"] * len(self._data)
            known = torch.tensor(self.atomic_numbers)
            inside = torch.isin(self._data.numbers.long(), known).long()
            counts = torch.zeros(len(self._data), dtype=torch.long).index_add_(
                0, torch.repeat_interleave(torch.arange(len(self._data)), self._data.num_atoms), 1 - inside)
            outside = int((counts > 0).sum())
            if outside:
                warnings.warn(f"atoms data {self.data_source!r}: left out {outside} molecules with elements outside "
                              f"{', '.join(self.elements)}", stacklevel=2)
            self._rows = {s: [i for i, v in enumerate(split) if v == s and counts[i] == 0] for s in ("train", "val", "test")}
            missing = [c for c in self.condition_names if c not in self._data.properties]
            if missing:
                raise GensciError(f"the atoms source {self.data_source!r} has no properties {missing} to condition on")
        return self._data

    def rows(self, split: str) -> list[int]:
        if split not in ("train", "val", "test"):
            raise GensciError(f"unknown split {split!r}; choose train, val or test")
        self.data  # noqa: B018 - loads the rows
        assert self._rows is not None
        return self._rows[split]

    def prepare(self) -> None:
        if self._stats is not None:
            return
        data, train = self.data, self.rows("train")
        if not train:
            raise GensciError(f"the atoms source {self.data_source!r} has no training molecules")
        sub = data.subset(train)
        counts = sub.num_atoms
        hist = torch.bincount(counts, minlength=int(counts.max()) + 1).tolist()
        types = self.type_index(sub.numbers)
        charges = sub.charges.long() + 1
        n_pairs = float((counts * (counts - 1)).sum())
        bond_counts = torch.bincount(sub.bonds[:, 2].long(), minlength=len(BOND_CLASSES)).double() * 2
        bond_counts[0] = n_pairs - bond_counts[1:].sum()
        specs = []
        for name in self.condition_names:
            values = sub.properties[name].float()
            spec = ConditionSpec.from_values(name, values).to_dict()
            spec["unit"] = data.units.get(name, "")
            specs.append(spec)
        self._stats = {
            "family": self.family, "elements": list(self.elements), "charges": list(CHARGES), "bond_classes": list(BOND_CLASSES),
            "atom_count_histogram": hist, "position_scale": self.position_scale, "onehot_scale": self.onehot_scale,
            "type_marginal": (torch.bincount(types, minlength=len(self.elements)).double() / len(types)).tolist(),
            "charge_marginal": (torch.bincount(charges, minlength=len(CHARGES)).double() / len(charges)).tolist(),
            "bond_marginal": (bond_counts / bond_counts.sum()).tolist(),
            "conditions": specs, "source": self.data_source, "train_size": len(train),
            "size_given_conditions": size_table(counts, {name: sub.properties[name] for name in self.condition_names}),
        }

    def load_stats(self, stats: dict[str, Any]) -> None:
        super().load_stats(stats)
        self.family, self.elements = stats["family"], list(stats["elements"])
        self.position_scale, self.onehot_scale = float(stats["position_scale"]), float(stats["onehot_scale"])
        self.condition_names = [c["name"] for c in stats.get("conditions") or []]

    def dataset(self, split: str) -> Dataset:
        self.prepare()
        return AtomsDataset(self.data, self.rows(split), self)

    def featurise(self, rows: Sequence[int], data: Molecules3D | None = None) -> Batch:
        """Padded records of molecules ``rows`` (to the largest of them), with masks and conditions."""
        data = data if data is not None else self.data
        b = len(rows)
        counts = [int(data.atom_ptr[r + 1] - data.atom_ptr[r]) for r in rows]
        n = max(counts)
        pos = torch.zeros(b, n, 3)
        types = torch.zeros(b, n, dtype=torch.long)
        charges = torch.full((b, n), 1, dtype=torch.long)
        bonds = torch.zeros(b, n, n, dtype=torch.long)
        for k, r in enumerate(rows):
            a0, a1 = int(data.atom_ptr[r]), int(data.atom_ptr[r + 1])
            p = data.positions[a0:a1]
            pos[k, : a1 - a0] = (p - p.mean(0)) / self.position_scale
            types[k, : a1 - a0] = self.type_index(data.numbers[a0:a1])
            charges[k, : a1 - a0] = data.charges[a0:a1].long() + 1
            e = data.bonds[int(data.bond_ptr[r]):int(data.bond_ptr[r + 1])].long()
            if len(e):
                bonds[k, e[:, 0], e[:, 1]] = e[:, 2]
                bonds[k, e[:, 1], e[:, 0]] = e[:, 2]
        atoms = torch.arange(n)[None] < torch.tensor(counts)[:, None]
        charges = charges * atoms
        cond = {c: data.properties[c][torch.tensor(rows)].float() for c in self.condition_names} or None
        return Batch(x=self._state(pos, types, charges, bonds, atoms), cond=cond, mask=self._masks(atoms))

    def _state(self, pos: Tensor, types: Tensor, charges: Tensor, bonds: Tensor, atoms: Tensor) -> State:
        if self.family == "flow":
            return State(pos=pos, types=types, charges=charges, bonds=bonds)
        am = atoms[..., None].float()
        return State(pos=pos, types=torch.nn.functional.one_hot(types, len(self.elements)).float() * self.onehot_scale * am,
                     charges=torch.nn.functional.one_hot(charges, len(CHARGES)).float() * self.onehot_scale * am)

    def _masks(self, atoms: Tensor) -> dict[str, Tensor]:
        masks = {"pos": atoms, "types": atoms, "charges": atoms}
        if self.family == "flow":
            masks["bonds"] = pair_mask(atoms)
        return masks

    # ------------------------------------------------------------ network
    def space(self) -> ProductSpace:
        if self.family == "flow":
            return ProductSpace({"pos": ZeroCoM(), "types": Categorical(len(self.elements)), "charges": Categorical(len(CHARGES)),
                                 "bonds": BondSpace(len(BOND_CLASSES))})
        return ProductSpace({"pos": ZeroCoM(), "types": Euclidean(), "charges": Euclidean()})

    def process_kwargs(self) -> dict[str, Any]:
        if self.family != "flow":
            return {}
        s = self._require_stats()
        return {"types": {"marginal": torch.tensor(s["type_marginal"])},
                "charges": {"marginal": torch.tensor(s["charge_marginal"])},
                "bonds": {"marginal": torch.tensor(s["bond_marginal"])}}

    def network_kwargs(self) -> dict[str, Any]:
        kind = "categorical" if self.family == "flow" else "continuous"
        fields: dict[str, Any] = {"pos": {"kind": "positions"}, "types": {"kind": kind, "classes": len(self.elements)},
                                  "charges": {"kind": kind, "classes": len(CHARGES)}}
        if self.family == "flow":
            fields["bonds"] = {"kind": "categorical", "classes": len(BOND_CLASSES)}
        return {"fields": fields, "conditions": self.conditions}

    # ------------------------------------------------------------ sampling
    def plan(self, n: int, conditions: ConditionRequest | None = None, atoms: Any = None, atoms_seed: Any = 0,
             **options: Any) -> SamplePlan:
        """Atom counts (drawn from the training histogram given the requested conditions, or
        ``--atoms 19`` / ``15..20``, all hydrogens included), the masks and the encoded conditions."""
        fragment_path = options.pop("fragment", None)
        if options:
            raise GensciError(f"unknown sampling option(s) {', '.join('--' + k for k in options)}; the atoms domain "
                              "takes --atoms N or LOW..HIGH, --atoms-seed and --fragment FILE")
        s = self._require_stats()
        requested = check_conditions(s.get("conditions") or [], conditions)
        fragment = self._read_fragment(fragment_path) if fragment_path else None
        hist = torch.tensor(s["atom_count_histogram"], dtype=torch.float64)
        sizes = torch.nonzero(hist > 0).flatten()
        window = parse_count_range(atoms, 1, int(sizes.max()), what="--atoms", unit="atoms (hydrogens included)")
        if fragment is not None:
            low = len(fragment) + 1
            if window is not None and window[1] < low:
                raise GensciError(f"--atoms {atoms}: the fragment alone has {len(fragment)} atoms")
            window = (max(low, window[0]) if window else low, window[1] if window else int(sizes.max()))
            if window[0] > window[1]:
                raise GensciError(f"the fragment has {len(fragment)} atoms; this model makes at most {int(sizes.max())}")
        counts = draw_counts(size_histogram_given(hist, s.get("size_given_conditions"), requested), n, window, atoms_seed)
        n_max = int(counts.max())
        atom_mask = torch.arange(n_max)[None] < counts[:, None]
        cond = None
        if requested:
            cond = {spec["name"]: torch.full((n,), float(requested.get(spec["name"], math.nan)))
                    for spec in s["conditions"]}
        k = len(self.elements)
        if self.family == "flow":
            shape = {"pos": (n, n_max, 3), "types": (n, n_max), "charges": (n, n_max), "bonds": (n, n_max, n_max)}
        else:
            shape = {"pos": (n, n_max, 3), "types": (n, n_max, k), "charges": (n, n_max, len(CHARGES))}
        return SamplePlan(shape=shape, mask=self._masks(atom_mask), cond=cond,
                          info={"requested": requested, "num_atoms": counts.tolist(), "fragment": fragment})

    def _read_fragment(self, path: Any) -> Molecule3D:
        """The first molecule of an SDF / XYZ file, checked against the model's vocabulary."""
        from domains.atoms.files import read_molecules

        if self.family != "flow":
            raise GensciError("--fragment needs a model of the flow family (its velocity is replaced for the fixed atoms)")
        molecules = read_molecules(path)
        if not molecules or not len(molecules[0]):
            raise GensciError(f"--fragment {path}: no atoms found")
        fragment = molecules[0]
        self.type_index(torch.as_tensor(fragment.numbers))  # raises for elements outside the vocabulary
        bad = sorted({int(q) for q in fragment.charges} - set(CHARGES))
        if bad:
            raise GensciError(f"--fragment {path}: formal charges {bad} are outside {list(CHARGES)}")
        return fragment

    def wrap_network(self, network: torch.nn.Module, plan: SamplePlan, process: Any) -> torch.nn.Module:
        """With ``--fragment``, the network whose prediction holds the fragment's atoms
        (:class:`~domains.atoms.inpainting.FragmentInpainting`); else ``network``."""
        fragment = plan.info.get("fragment")
        if fragment is None:
            return network
        from domains.atoms.inpainting import FragmentInpainting, fragment_tensors

        tensors = fragment_tensors(fragment, self.type_index, CHARGES, self.position_scale)
        classes = {"types": len(self.elements), "charges": len(CHARGES), "bonds": len(BOND_CLASSES)}
        return FragmentInpainting(network, *tensors, classes=classes)

    def decode(self, x: State, plan: SamplePlan) -> AtomSamples:
        counts = plan.info.get("num_atoms") or [x["pos"].shape[1]] * x["pos"].shape[0]
        pos = (x["pos"].detach().double().cpu() * self.position_scale).numpy()
        if self.family == "flow":
            types, charges = x["types"].cpu().long().numpy(), x["charges"].cpu().long().numpy()
            bonds = x["bonds"].cpu().long().numpy()
        else:
            types, charges = x["types"].cpu().argmax(-1).numpy(), x["charges"].cpu().argmax(-1).numpy()
            bonds = None
        z = np.array(self.atomic_numbers)
        q = np.array(CHARGES)
        requested = dict(plan.info.get("requested", {}))
        molecules = []
        fragment = plan.info.get("fragment")
        for i, c in enumerate(counts):
            props = {f"requested_{k}": v for k, v in requested.items()}
            if fragment is not None:
                props["fragment_atoms"] = len(fragment)
            molecules.append(Molecule3D(z[types[i, :c]], pos[i, :c], q[charges[i, :c]],
                                        None if bonds is None else bonds[i, :c, :c], props))
        return AtomSamples(molecules, requested, "generated" if self.family == "flow" else "inferred (EDM lookup)")

    # ------------------------------------------------------------ files
    def write(self, samples: AtomSamples, path: str | Path) -> Path:
        from domains.atoms.output import write_samples

        return write_samples(samples, path)

    def write_trajectory(self, trajectory: Sequence[AtomSamples], path: str | Path) -> list[Path]:
        from domains.atoms.output import write_trajectory

        return write_trajectory(trajectory, path)

    def read(self, path: str | Path) -> AtomSamples:
        from domains.atoms.output import read_samples

        return read_samples(path)

    # ------------------------------------------------------------ metrics
    def evaluate(self, samples: AtomSamples, split: str = "test") -> dict[str, float]:
        from domains.atoms.evaluation import evaluate_atoms

        return evaluate_atoms(samples, self, split)

    def figures(self, samples: AtomSamples, stem: Path, split: str = "test") -> list[Path]:
        from domains.atoms.plots import atom_figures

        return atom_figures(samples, self, stem, split)
