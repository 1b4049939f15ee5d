r"""Conformer refinement: a bridge from force-field geometries to DFT ones, :class:`ConformerDomain`.

A molecule's ETKDG + MMFF conformer is cheap and close to, but not at, its DFT geometry. This
domain trains a Schrödinger bridge / bridge matching model (``process=conformer_bridge``;
Shi et al. 2023, arXiv 2303.16852; Liu et al. 2023, arXiv 2302.05872; Tong et al. 2023,
arXiv 2307.03672) between the two, on pairs built by :mod:`domains.atoms.pairs`:

* ``pos`` (B, N, 3) on :class:`~gensci.core.spaces.ZeroCoM`, in Å / ``position_scale``: at
  ``t = 0`` the force-field conformer, at ``t = 1`` the DFT geometry (paired per molecule,
  ``Batch.x0``; or, for the unpaired bridge, coupled by the process's own plan);
* ``types``, ``charges``, ``bonds``: the molecule's graph, given as context
  (:class:`~gensci.core.context.Context`) — the same at both ends and never generated.

Refinement (:meth:`ConformerDomain.start`): input molecules (SDF with hydrogens, or SMILES
embedded by ETKDG + MMFF on the fly, :mod:`domains.atoms.refine_inputs`) become the start
states; the sampler carries them to ``t = 1``; each output keeps its input's atom order and
frame (the input's centroid is added back) and carries the predicted displacement as tags.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from domains.atoms.domain import AtomsDataset, AtomsDomain, AtomSamples
from domains.atoms.molecule import BOND_CLASSES, CHARGES, Molecule3D
from domains.atoms.pairs import ConformerPairs, load_pairs
from gensci.core.state import State
from gensci.domain import Batch, ConditionRequest, SamplePlan
from gensci.errors import GensciError

__all__ = ["ConformerDomain"]

_SPLITS = ("train", "val", "test")


class ConformerDomain(AtomsDomain):
    """Args:
        source: ``"qm9"`` (the DFT geometries; pairs are built from it).
        limits: pairs per split, e.g. ``{"train": 20000, "val": 500, "test": 500}`` (None: all),
            a seeded draw over the whole split (QM9's rows are ordered by size).
        pair_seed: the ETKDG seed base of the pairs.
        max_displacement: Å; training and validation keep only the pairs whose atoms all lie
            within this of their DFT positions (None: every pair). A larger move is a change of
            torsional basin (a rotated hydroxyl, another ring pucker) that the start does not
            determine; its squared-error target is the mean over basins, which shortens bonds and
            blurs the local corrections a refiner can learn. Evaluation always uses every pair.
        geometry_loss_weight: weight of :meth:`clean_loss`, the squared error of the bonded
            (1-2) and angle (1-3) distances of the predicted DFT geometry, added to the process's
            per-coordinate loss (0: none). Bond corrections are ~0.01 Å, a small part of a
            per-coordinate error that torsional moves dominate; this term weighs them directly.
        Other arguments as :class:`~domains.atoms.domain.AtomsDomain`.
    """

    name = "atoms"
    suffix = ".sdf"
    outputs = (".sdf", ".xyz")
    sampling_options = {
        "input": "molecules to refine: an SDF file (all hydrogens) or a .smi / .txt file of SMILES (embedded by ETKDG + MMFF)",
        "embed-seed": "seed of the ETKDG embedding of SMILES inputs (default 0)",
    }
    default_redraws = 0

    def __init__(self, source: str = "qm9", limits: dict[str, int | None] | None = None, pair_seed: int = 0,
                 max_displacement: float | None = None, geometry_loss_weight: float = 0.0,
                 position_scale: float = 1.0, seed: int = 0, cache_dir: str | None = None, progress: bool = True,
                 limit: int | None = None):
        super().__init__(source=source, family="flow", conditions=(), limit=limit, position_scale=position_scale,
                         seed=seed, cache_dir=cache_dir, progress=progress)
        self.limits = dict(limits or {})
        self.pair_seed = int(pair_seed)
        if max_displacement is not None and not float(max_displacement) > 0:
            raise GensciError(f"max_displacement must be a positive distance in Å or null, got {max_displacement!r}")
        self.max_displacement = None if max_displacement is None else float(max_displacement)
        if not float(geometry_loss_weight) >= 0:
            raise GensciError(f"geometry_loss_weight must be >= 0, got {geometry_loss_weight!r}")
        self.clean_loss_weight = float(geometry_loss_weight)
        self._pairs: dict[str, ConformerPairs] = {}

    # ----------------------------------------------------------------- data
    def pairs(self, split: str) -> ConformerPairs:
        """The aligned (force field, DFT) pairs of ``split``, built once and cached."""
        if split not in self._pairs:
            rows = self.rows(split)
            limit = self.limits.get(split)
            if limit is not None and int(limit) < len(rows):
                # a seeded draw over the whole split: QM9's rows run from small molecules to large ones
                pick = np.random.default_rng([self.seed, _SPLITS.index(split)]).choice(len(rows), int(limit), replace=False)
                rows = [rows[i] for i in np.sort(pick)]
            if not rows:
                raise GensciError(f"the conformer data has no {split} molecules")
            self._pairs[split] = load_pairs(self.data, rows, seed=self.pair_seed, cache_dir=self.cache_dir,
                                            progress=self.progress)
        return self._pairs[split]

    def training_rows(self, split: str) -> list[int]:
        """The pairs of ``split`` that training and validation use: all, or those whose largest
        atom displacement is at most ``max_displacement``."""
        pairs = self.pairs(split)
        if self.max_displacement is None:
            return list(range(len(pairs)))
        largest = pair_max_displacement(pairs)
        rows = torch.nonzero(largest <= self.max_displacement).flatten().tolist()
        if not rows:
            raise GensciError(f"no {split} pair moves less than max_displacement={self.max_displacement} Å")
        return rows

    def prepare(self) -> None:
        if self._stats is not None:
            return
        pairs = self.pairs("train")
        rows = self.training_rows("train")
        keep = torch.cat([torch.arange(int(pairs.target.atom_ptr[r]), int(pairs.target.atom_ptr[r + 1])) for r in rows])
        start, target = pairs.start[keep].double(), pairs.target.positions[keep].double()
        self._stats = {
            "family": "conformers", "elements": list(self.elements), "charges": list(CHARGES),
            "bond_classes": list(BOND_CLASSES), "position_scale": self.position_scale, "onehot_scale": self.onehot_scale,
            "atom_count_histogram": torch.bincount(pairs.target.num_atoms).tolist(), "conditions": [],
            "source": self.data_source, "train_size": len(rows), "pairs_built": len(pairs),
            "max_displacement": self.max_displacement, "pairs_failed": pairs.failed,
            # the root-mean-square displacement the bridge learns to undo, Å
            "displacement_rms": float((start - target).pow(2).sum(-1).mean().sqrt()),
        }

    def load_stats(self, stats: dict[str, Any]) -> None:
        self._stats = dict(stats)
        self.elements = list(stats["elements"])
        self.position_scale, self.onehot_scale = float(stats["position_scale"]), float(stats["onehot_scale"])
        self.condition_names = []

    def dataset(self, split: str) -> Dataset:
        self.prepare()
        pairs = self.pairs(split)
        return AtomsDataset(pairs.target, self.training_rows(split), _PairFeatures(self, pairs))

    def featurise_pairs(self, rows: Sequence[int], pairs: ConformerPairs) -> Batch:
        """Padded records of pairs ``rows``: the DFT state as ``x``, the force-field state as ``x0``."""
        batch = AtomsDomain.featurise(self, rows, pairs.target)
        start = batch.x["pos"].clone()
        for k, r in enumerate(rows):
            a0, a1 = int(pairs.target.atom_ptr[r]), int(pairs.target.atom_ptr[r + 1])
            p = pairs.start[a0:a1]
            start[k, : a1 - a0] = (p - p.mean(0)) / self.position_scale
        x0 = State(pos=start, **{k: batch.x[k] for k in ("types", "charges", "bonds")})
        return Batch(x=batch.x, cond=None, mask=batch.mask, x0=x0)

    def clean_loss(self, x1_hat: State, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        r"""``mean_{(i,j) in 1-2, 1-3} (|x̂_i - x̂_j| - |x_i - x_j|)^2`` over each molecule's bonded
        pairs and pairs two bonds apart (which fix the bond angles), in squared position units;
        logs the bond-length MAE of the prediction (``bond_mae``, position units)."""
        return local_distance_loss(x1_hat["pos"], batch.x["pos"], batch.x["bonds"])

    # ------------------------------------------------------------ network
    def process_kwargs(self) -> dict[str, Any]:
        return {}

    def network_kwargs(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"pos": {"kind": "positions"},
                                  "types": {"kind": "categorical", "classes": len(self.elements), "given": True},
                                  "charges": {"kind": "categorical", "classes": len(CHARGES), "given": True},
                                  "bonds": {"kind": "categorical", "classes": len(BOND_CLASSES), "given": True}}
        return {"fields": fields, "conditions": []}

    # ------------------------------------------------------------ refining
    def plan(self, n: int, conditions: ConditionRequest | None = None, input: Any = None, embed_seed: Any = 0,
             **options: Any) -> SamplePlan:
        """Sampling means refining: ``--input FILE`` names the molecules (one output each, so
        ``n`` must not exceed their number; the first ``n`` are refined)."""
        if input is None:
            raise GensciError("a conformer model refines given molecules: pass --input FILE (SDF or SMILES), or use "
                              "gensci refine MODEL FILE -o OUT")
        if conditions:
            raise GensciError("a conformer model takes no conditions")
        plan = self.start(input, embed_seed=embed_seed, **options)
        count = len(plan.info["inputs"])
        if n > count:
            raise GensciError(f"-n {n} asks for more molecules than the {count} in {input}: pass -n {count}, or "
                              f"refine them all with gensci refine MODEL {input} -o OUT")
        if n < count:
            plan = self.start(plan.info["inputs"][:n])
        return plan

    def start(self, inputs: Any, embed_seed: Any = 0, **options: Any) -> SamplePlan:
        """Start states from ``inputs``: a path (SDF, or SMILES in .smi / .txt / .csv), a
        SMILES string, or :class:`Molecule3D` objects (all hydrogens explicit)."""
        if options:
            raise GensciError(f"unknown option(s) {', '.join('--' + k for k in options)}; a conformer model takes "
                              "--input and --embed-seed")
        from domains.atoms.refine_inputs import read_refine_inputs

        molecules = read_refine_inputs(inputs, seed=int(embed_seed)) if not _is_molecules(inputs) else list(inputs)
        if not molecules:
            raise GensciError(f"no molecules to refine in {inputs!r}")
        for i, m in enumerate(molecules):
            bad = sorted({int(z) for z in m.numbers} - set(self.atomic_numbers))
            if bad:
                raise GensciError(f"molecule {i + 1}: elements with atomic numbers {bad} are outside this model's "
                                  f"vocabulary {', '.join(self.elements)}")
            if m.bonds is None:
                raise GensciError(f"molecule {i + 1} has no bonds: a conformer model needs the molecular graph")
            if not np.isfinite(m.positions).all():
                raise GensciError(f"molecule {i + 1} has non-finite coordinates")
        b, n = len(molecules), max(len(m) for m in molecules)
        pos = torch.zeros(b, n, 3)
        types = torch.zeros(b, n, dtype=torch.long)
        charges = torch.ones(b, n, dtype=torch.long)
        bonds = torch.zeros(b, n, n, dtype=torch.long)
        centroids = []
        for k, m in enumerate(molecules):
            c = m.positions.mean(0)
            centroids.append(c)
            pos[k, : len(m)] = torch.from_numpy((m.positions - c) / self.position_scale).float()
            types[k, : len(m)] = self.type_index(torch.as_tensor(m.numbers))
            charges[k, : len(m)] = torch.as_tensor(m.charges) + 1
            bonds[k, : len(m), : len(m)] = torch.as_tensor(m.bonds)
        atoms = torch.arange(n)[None] < torch.tensor([len(m) for m in molecules])[:, None]
        x0 = State(pos=pos, types=types, charges=charges * atoms, bonds=bonds)
        shape = {"pos": (b, n, 3), "types": (b, n), "charges": (b, n), "bonds": (b, n, n)}
        return SamplePlan(shape=shape, mask=self._masks(atoms), x0=x0,
                          info={"inputs": molecules, "centroids": centroids, "num_atoms": [len(m) for m in molecules]})

    def decode(self, x: State, plan: SamplePlan) -> AtomSamples:
        """Refined molecules: the inputs' graphs at the new positions, in the inputs' frames,
        tagged with the predicted displacement (Å): ``displacement_rms``, ``displacement_max``."""
        inputs = plan.info.get("inputs")
        if inputs is None:  # a trajectory frame of a plan without inputs cannot happen; keep decode total
            return super().decode(x, plan)
        pos = (x["pos"].detach().double().cpu() * self.position_scale).numpy()
        out = []
        for k, (m, c) in enumerate(zip(inputs, plan.info["centroids"])):
            new = pos[k, : len(m)] + c
            step = np.linalg.norm(new - m.positions, axis=1)
            props = dict(m.properties)
            props.update({"displacement_rms": float(np.sqrt((step ** 2).mean())), "displacement_max": float(step.max()),
                          "bonds_source": "input"})
            out.append(Molecule3D(m.numbers, new, m.charges, m.bonds, props))
        return AtomSamples(out, {}, "given")

    def evaluation_inputs(self, split: str, n: int) -> list[Molecule3D]:
        """The force-field starts of ``n`` pairs of ``split`` (all of them, or a seeded draw over
        the split: pairs run by QM9 row, small molecules first, so the first ``n`` would be the
        smallest), each tagged with its pair (``pair_split``, ``pair_index``) so :meth:`evaluate`
        finds its DFT reference."""
        pairs = self.pairs(split)
        out = []
        for k in evaluation_rows(len(pairs), int(n)):
            m = pairs.molecule(k, "start")
            m.properties = {"pair_split": split, "pair_index": k}
            out.append(m)
        return out

    def evaluate(self, samples: AtomSamples, split: str = "test") -> dict[str, float]:
        """Against the DFT references when the samples carry their pair (refined
        :meth:`evaluation_inputs`): RMSDs, bond-length / angle errors and stability
        (:func:`~domains.atoms.conformer_metrics.compare_geometries`), with the same numbers of
        the unrefined starts as ``start_*``; else EDM stability alone."""
        from domains.atoms.conformer_metrics import compare_geometries, reference_symmetries, stability_rates

        tags = [(m.properties.get("pair_split"), m.properties.get("pair_index")) for m in samples.molecules]
        if not tags or any(s is None or k is None for s, k in tags):
            return stability_rates(samples.molecules)
        refs = [self.pairs(str(s)).molecule(int(k)) for s, k in tags]
        starts = [self.pairs(str(s)).molecule(int(k), "start") for s, k in tags]
        symmetries = [reference_symmetries(r) for r in refs]  # once for both comparisons
        out = compare_geometries(samples.molecules, refs, symmetries)
        out.update({f"start_{k}": v for k, v in compare_geometries(starts, refs, symmetries).items()
                    if k != "n_molecules"})
        return out

    def figures(self, samples: AtomSamples, stem: Path, split: str = "test") -> list[Path]:
        return []


def evaluation_rows(total: int, n: int, seed: int = 0) -> list[int]:
    """``n`` of ``range(total)`` (all when ``n >= total``): a seeded draw, in increasing order."""
    if n >= total:
        return list(range(total))
    return sorted(int(k) for k in np.random.default_rng(seed).choice(total, max(int(n), 0), replace=False))


def local_distance_loss(pred: torch.Tensor, target: torch.Tensor, bonds: torch.Tensor
                        ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """:meth:`ConformerDomain.clean_loss` on padded ``(B, N, 3)`` positions and ``(B, N, N)``
    bond classes (0: no bond; padding has none)."""
    bonded = (bonds > 0).to(pred.dtype)
    eye = torch.eye(bonds.shape[-1], dtype=pred.dtype, device=pred.device)
    two_apart = ((bonded @ bonded) > 0).to(pred.dtype) * (1 - bonded) * (1 - eye)
    err = _distances(pred) - _distances(target)
    pairs = bonded + two_apart
    loss = (err.pow(2) * pairs).sum() / pairs.sum().clamp(min=1)
    bond_mae = (err.abs() * bonded).sum() / bonded.sum().clamp(min=1)
    return loss, {"geometry_loss": loss.detach(), "bond_mae": bond_mae.detach()}


def _distances(x: torch.Tensor) -> torch.Tensor:
    """(B, N, N) distances of (B, N, 3) positions, with a gradient at zero."""
    return ((x[:, :, None] - x[:, None]).pow(2).sum(-1) + 1e-12).sqrt()


def pair_max_displacement(pairs: ConformerPairs) -> torch.Tensor:
    """(pairs,) the largest distance, Å, between an atom's start and DFT positions in each pair."""
    dist = (pairs.start - pairs.target.positions).norm(dim=-1)
    owner = torch.repeat_interleave(torch.arange(len(pairs)), torch.diff(pairs.target.atom_ptr))
    return torch.zeros(len(pairs), dtype=dist.dtype).scatter_reduce(0, owner, dist, "amax", include_self=True)


def _is_molecules(inputs: Any) -> bool:
    return isinstance(inputs, (list, tuple)) and bool(inputs) and all(isinstance(m, Molecule3D) for m in inputs)


class _PairFeatures:
    """What :class:`AtomsDataset` calls to featurise rows: pairs with their starts."""

    def __init__(self, domain: ConformerDomain, pairs: ConformerPairs):
        self.domain, self.pairs = domain, pairs

    def featurise(self, rows: Sequence[int], data: Any = None) -> Batch:
        return self.domain.featurise_pairs(rows, self.pairs)
