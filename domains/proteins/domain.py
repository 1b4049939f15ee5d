"""The ``proteins`` domain: backbones as six angles per residue on the torus (FoldingDiff).

States are the angles of :mod:`domains.proteins.angles`, centred by their training-split
circular means (:mod:`domains.proteins.dataset`), shaped ``(B, L, 6)`` on
:class:`~gensci.core.spaces.Torus`. Masks are per angle, ``(B, L, 6)``: padded residues and
undefined angles (first ``phi``, the last residue's inter-residue angles) stay at 0 and do
not count in the loss. Decoding adds the means back, wraps, rebuilds N, CA, C with NeRF
and places the carbonyl O, giving :class:`~domains.proteins.samples.Backbones` (a list of
``(L, 4, 3)`` arrays with the requested conditions); :meth:`ProteinsDomain.write` gives
poly-glycine PDB files that record the conditions, and :meth:`ProteinsDomain.read` reads
both back.

Wu et al., "Protein structure generation via folding diffusion", Nat. Commun. 15:1059
(2024), arXiv 2209.15611.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from domains.proteins.angles import backbone_to_angles, defined_mask
from domains.proteins.clash_guidance import (RELAX_STEP, TORSION_COLUMNS, ClashGuidedNetwork, clash_descent,
                                             clash_masks)
from domains.proteins.dataset import AngleDataset, centre, circular_mean, collate_angles, split_counts, uncentre
from domains.proteins.evaluation import MAX_EVAL_RESIDUES, NO_REFERENCE, backbone_angles, evaluate_backbones, within_length_limit
from domains.proteins.nerf import angles_to_backbone, place_oxygen
from domains.proteins.pdb import write_pdb, write_pdb_models
from domains.proteins.plots import ramachandran_png
from domains.proteins.reference import ReferenceStats, reference_statistics
from domains.proteins.secondary import SS_NAMES, dssp_labels, ss_fractions
from domains.proteins.samples import Backbones
from domains.proteins.sample_files import read_samples, with_oxygen
from domains.proteins.ss_condition import encode_ss_conditions, ss_condition_specs
from domains.proteins.structures import read_chains
from gensci.core.flow import FlowMatching
from gensci.core.spaces import Space, Torus, wrap_angle
from gensci.domain import Batch, ConditionRequest, Domain, SamplePlan, parse_count_range
from gensci.errors import GensciError
from gensci.progress import stage, track
from gensci.skipped import METRIC, skip, skip_all

__all__ = ["ProteinsDomain", "default_data_path", "MIN_LENGTH", "MAX_LENGTH"]

SPLITS = ("train", "val", "test")
#: shortest and longest chain that can be sampled (3 residues; PDB residue numbers stop at 9999)
MIN_LENGTH, MAX_LENGTH = 3, 9999


def default_data_path() -> Path:
    """The chains MDAnalysisTests ships (``MDAnalysisTests/data/dssp``, about 50 PDB chains)."""
    spec = importlib.util.find_spec("MDAnalysisTests")
    roots = list(spec.submodule_search_locations or []) if spec is not None else []
    for root in roots:
        folder = Path(root) / "data" / "dssp"
        if folder.is_dir():
            return folder
    raise GensciError("the proteins domain needs structures: set domain.paths=[FOLDER or FILE, ...] (PDB/mmCIF/BinaryCIF) "
                      "or install MDAnalysisTests, whose chains the default configs read")


def clash_strength(value: Any) -> float:
    """A clash-guidance strength (radians per step) as a float; refuses anything but a number >= 0."""
    try:
        strength = float(value)
    except (TypeError, ValueError):
        raise GensciError(f"--clash-guidance must be a number, got {value!r}") from None
    if not strength >= 0:
        raise GensciError(f"--clash-guidance must be a non-negative number of radians, got {value!r}")
    return strength


def clash_count(value: Any, option: str, least: int) -> int:
    """A count of clash descent steps as an int; refuses anything but an integer ``>= least``."""
    try:
        count = int(str(value))
    except (TypeError, ValueError):
        raise GensciError(f"--{option} must be an integer, got {value!r}") from None
    if count < least:
        raise GensciError(f"--{option} must be at least {least}, got {value!r}")
    return count


class ProteinsDomain(Domain):
    """Protein backbones from PDB / mmCIF / BinaryCIF files.

    Args:
        paths: files or folders of structures (default: MDAnalysisTests' chains if installed).
        chains: chain IDs to keep (``"A"``, ``"A,B"`` or a list; default every protein chain).
        min_length / max_length: chains outside this many residues are skipped.
        crop_length: training items are random windows of at most this many residues
            (validation and test use fixed windows).
        split_fractions: train / val / test shares of the chains (seeded shuffle; val and
            test get at least one chain each).
        seed: seeds the split and the crops.
        clash_guidance: the default strength of clash guidance at sampling (see :meth:`plan`;
            0, off, unless the model's config sets it; ``--clash-guidance`` overrides it).
        clash_iterations: the default number of clash-guidance descent steps per network call
            (1 unless the model's config sets it; ``--clash-iterations`` overrides it).
        clash_relax: the default number of descent steps on the sampled angles once the
            sampler is done (0, none, unless the model's config sets it; ``--clash-relax``).
        ss_condition: condition on each crop's DSSP helix / strand / coil fractions
            (``--condition helix=0.6`` at sampling, with classifier-free guidance).
    """

    name = "proteins"
    suffix = ".pdb"
    outputs = ("", ".pdb")
    sampling_options = {
        "length": "residues per chain: N or LOW..HIGH (default: the training crop lengths)",
        "length-seed": "seed of the lengths drawn from a range (default 0)",
        "clash-guidance": "largest torsion change per step that steers away from clashes (0: off)",
        "clash-iterations": "clash-guidance descent steps per network call (default: the model's config, else 1)",
        "clash-relax": "descent steps on the clash energy of the final angles, 0.2 rad at most each (default: the model's config, else 0)",
    }

    def __init__(
        self,
        paths: str | list[str] | None = None,
        chains: str | list[str] | None = None,
        min_length: int = 40,
        max_length: int | None = 512,
        crop_length: int = 128,
        split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
        seed: int = 0,
        ss_condition: bool = False,
        clash_guidance: float = 0.0,
        clash_iterations: int = 1,
        clash_relax: int = 0,
    ):
        if crop_length < MIN_LENGTH:
            raise GensciError(f"crop_length must be at least {MIN_LENGTH}, got {crop_length}")
        self.paths = [paths] if isinstance(paths, (str, Path)) else (list(paths) if paths else None)
        self.chains = chains if chains is None or isinstance(chains, str) else list(chains)
        self.min_length, self.max_length = int(min_length), None if max_length is None else int(max_length)
        self.crop_length = int(crop_length)
        self.split_fractions = tuple(float(f) for f in split_fractions)
        self.seed = int(seed)
        self.ss_condition = bool(ss_condition)
        self.clash_guidance = clash_strength(clash_guidance)
        self.clash_iterations = clash_count(clash_iterations, "clash-iterations", 1)
        self.clash_relax = clash_count(clash_relax, "clash-relax", 0)
        self._angles: dict[str, list[Tensor]] | None = None
        self._labels: dict[str, list[np.ndarray | None]] | None = None
        self._backbones: dict[str, list[np.ndarray]] | None = None
        self._stats: dict[str, Any] | None = None
        self._reference: tuple[list[np.ndarray], list[Tensor]] | None = None  # --reference PATH
        self._reference_stats: dict[str, ReferenceStats] = {}  # of the data's splits, computed once

    # ----------------------------------------------------------------- data
    def _load(self) -> dict[str, list[Tensor]]:
        if self._angles is not None:
            return self._angles
        paths = self.paths or [default_data_path()]
        chains, _ = read_chains(paths, self.chains, self.min_length, self.max_length)
        angles, backbones, labels = [], [], []
        for chain in chains:
            a = backbone_to_angles(chain.coords)
            if torch.isfinite(a[defined_mask(len(a))]).all():  # skip degenerate geometry
                angles.append(a)
                backbones.append(with_oxygen(chain))
                labels.append(dssp_labels(backbones[-1], chain.sequence) if self.ss_condition else None)
        counts = split_counts(len(angles), self.split_fractions)
        order = torch.randperm(len(angles), generator=torch.Generator().manual_seed(self.seed)).tolist()
        bounds = np.cumsum((0,) + counts)
        self._angles = {s: [angles[i] for i in order[bounds[k] : bounds[k + 1]]] for k, s in enumerate(SPLITS)}
        self._backbones = {s: [backbones[i] for i in order[bounds[k] : bounds[k + 1]]] for k, s in enumerate(SPLITS)}
        self._labels = {s: [labels[i] for i in order[bounds[k] : bounds[k + 1]]] for k, s in enumerate(SPLITS)}
        return self._angles

    def prepare(self) -> None:
        train = self._load()["train"]
        lengths = [min(len(a), self.crop_length) for a in train]
        self._stats = {
            "mean": [float(v) for v in circular_mean(train)],
            "crop_length": self.crop_length,
            "length_range": [int(min(lengths)), int(max(lengths))],
            "train_chains": len(train),
            "conditions": ss_condition_specs(self._labels["train"], self.crop_length) if self.ss_condition else [],
        }

    def _mean(self) -> Tensor:
        return torch.tensor(self._require_stats()["mean"], dtype=torch.float64)

    def dataset(self, split: str) -> Dataset:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        mean = self._mean()
        items = [centre(a, mean) for a in self._load()[split]]
        labels = self._labels[split] if self.conditions else None
        return AngleDataset(items, self.crop_length, random_crop=split == "train", seed=self.seed + SPLITS.index(split),
                            labels=labels)

    def collate(self, items: list[dict[str, Any]]) -> Batch:
        return collate_angles(items)

    # ------------------------------------------------------------ network
    def space(self) -> Space:
        return Torus()

    def network_kwargs(self) -> dict[str, Any]:
        """The angle width and the condition specs (the helix / strand / coil fractions
        when trained with ``ss_condition``, else none)."""
        return {"dim": 6, "conditions": self.conditions}

    # ------------------------------------------------------------ sampling
    def plan(self, n: int, conditions: ConditionRequest | None = None, length: Any = None,
             length_seed: Any = 0, clash_guidance: Any = None, clash_iterations: Any = None,
             clash_relax: Any = None, **options: Any) -> SamplePlan:
        """Chain lengths and the per-angle mask ``(n, L_max, 6)`` (an element mask of the
        state's shape) for ``n`` backbones.

        ``length`` is ``80`` or ``"60..128"`` (default: the training crop lengths). Lengths
        of a range are drawn uniformly from ``torch.Generator().manual_seed(length_seed)``
        (default 0: the same lengths every run; ``--length-seed`` changes them).
        ``clash_guidance`` > 0 steers flow-matching samples away from backbone clashes
        (:mod:`domains.proteins.clash_guidance`; the value is the largest torsion change
        in radians per step; default: the domain's ``clash_guidance``, 0.2 for the bundled
        model and 0, off, otherwise; ``--clash-guidance 0`` turns it off). ``clash_iterations``
        descent steps are taken per network call (default: the domain's, 1 unless its config
        says otherwise), each chain stopping once it is clash-free. ``clash_relax`` more descent
        steps (of at most :data:`~domains.proteins.clash_guidance.RELAX_STEP` radians each) act on
        the sampled angles themselves once the sampler is done (:meth:`finish`; any process, no
        network call; default: the domain's, 0 unless its config says otherwise).
        """
        if options:
            raise GensciError(f"unknown sampling option(s) {', '.join('--' + k for k in options)}; "
                              "the proteins domain takes --length N or LOW..HIGH, --length-seed, --clash-guidance, "
                              "--clash-iterations and --clash-relax")
        strength = self.clash_guidance if clash_guidance is None else clash_strength(clash_guidance)
        iterations = (self.clash_iterations if clash_iterations is None
                      else clash_count(clash_iterations, "clash-iterations", 1))
        relax = self.clash_relax if clash_relax is None else clash_count(clash_relax, "clash-relax", 0)
        cond = encode_ss_conditions(conditions, self.conditions, n)
        lo, hi = (parse_count_range(length, MIN_LENGTH, MAX_LENGTH, what="--length", unit="residues")
                  or tuple(self._require_stats()["length_range"]))
        try:
            g = torch.Generator().manual_seed(int(length_seed))
        except (TypeError, ValueError):
            raise GensciError(f"--length-seed must be an integer, got {length_seed!r}") from None
        lengths = torch.randint(lo, hi + 1, (n,), generator=g)
        mask = defined_mask(lengths, int(lengths.max()))
        return SamplePlan(shape=tuple(mask.shape), mask=mask, cond=cond,
                          info={"lengths": lengths.tolist(), "clash_guidance": strength,
                                "clash_iterations": iterations, "clash_relax": relax,
                                "conditions": {name: float(value) for name, value in (conditions or {}).items()}})

    def wrap_network(self, network: torch.nn.Module, plan: SamplePlan, process: Any) -> torch.nn.Module:
        """With ``--clash-guidance`` > 0, the network under :class:`ClashGuidedNetwork`
        (flow matching only: it corrects a velocity)."""
        strength = float(plan.info.get("clash_guidance", 0.0))
        if strength == 0:
            return network
        if not isinstance(process, FlowMatching):
            raise GensciError(f"--clash-guidance corrects flow-matching velocities; this model's process is "
                              f"{type(process).__name__}")
        return ClashGuidedNetwork(network, self._mean(), strength,
                                  iterations=int(plan.info.get("clash_iterations", 1)))

    def finish(self, x: Tensor, plan: SamplePlan) -> Tensor:
        """With ``clash_relax`` > 0, the sampled angles after that many clash descent steps
        (:func:`~domains.proteins.clash_guidance.clash_descent` on phi and psi, at most
        ``RELAX_STEP`` radians each); chains without clashes are returned exactly as drawn."""
        steps = int(plan.info.get("clash_relax", 0))
        if steps == 0:
            return x
        residues, movable = clash_masks(plan.mask.to(x.device), x)
        moved = clash_descent(x, residues, self._mean().to(x.device), RELAX_STEP, steps, movable)
        out = x.clone()
        out[..., list(TORSION_COLUMNS)] = wrap_angle(out[..., list(TORSION_COLUMNS)] + moved.to(x.dtype))
        return torch.where(moved.abs().amax(dim=(1, 2)).view(-1, 1, 1) > 0, out, x)

    def decode(self, x: Tensor, plan: SamplePlan) -> Backbones:
        """Backbones ``(L_i, 4, 3)`` (N, CA, C, O in Å), one per sample, float64, carrying the
        requested conditions."""
        lengths = torch.as_tensor(plan.info["lengths"])
        residues = torch.arange(x.shape[1])[None] < lengths[:, None]
        angles = uncentre(x.detach().cpu().double(), self._mean())
        coords = angles_to_backbone(angles, residues)
        full = torch.cat([coords, place_oxygen(coords, residues).unsqueeze(2)], dim=2)
        return Backbones((full[i, : int(n)].numpy() for i, n in enumerate(lengths)), plan.info.get("conditions"))

    def write(self, samples: list[np.ndarray], path: str | Path) -> Path:
        """One PDB per structure in the folder ``path`` (``sample_000.pdb`` ...), or a single
        ``.pdb`` file when there is one structure. Each file is written atomically and
        records the samples' requested conditions as ``REMARK 250`` lines."""
        path = Path(path)
        conditions = _conditions_of(samples)
        if path.suffix.lower() == ".pdb":
            if len(samples) != 1:
                raise GensciError(f"{path.name} holds one structure but there are {len(samples)}; give a folder instead")
            return write_pdb(samples[0], path, conditions=conditions)
        if path.exists() and not path.is_dir():
            raise GensciError(f"{path} is a file; give a folder (or a .pdb path for one structure)")
        width = max(3, len(str(len(samples) - 1)))
        for i, bb in enumerate(samples):
            write_pdb(bb, path / f"sample_{i:0{width}d}.pdb", conditions=conditions)
        return path

    def write_trajectory(self, trajectory: list[list[np.ndarray]], path: str | Path) -> list[Path]:
        """One multi-model PDB per structure: its denoising path, source first, sample last.

        ``trajectory[k][i]`` is structure ``i`` at kept time ``k`` (as
        :meth:`gensci.model.GenerativeModel.sample` returns it). ``path`` is a folder
        (``sample_000_trajectory.pdb`` ...) or, for one structure, a ``.pdb`` file.
        """
        path = Path(path)
        if not trajectory:
            raise GensciError("the trajectory is empty; nothing written")
        n = len(trajectory[0])
        conditions = _conditions_of(trajectory[-1])
        if path.suffix.lower() == ".pdb":
            if n != 1:
                raise GensciError(f"{path.name} holds one trajectory but there are {n} structures; give a folder instead")
            return [write_pdb_models([frame[0] for frame in trajectory], path, conditions=conditions)]
        if path.exists() and not path.is_dir():
            raise GensciError(f"{path} is a file; give a folder (or a .pdb path for one structure)")
        width = max(3, len(str(n - 1)))
        return [write_pdb_models([frame[i] for frame in trajectory], path / f"sample_{i:0{width}d}_trajectory.pdb",
                                 conditions=conditions)
                for i in range(n)]

    def read(self, path: str | Path) -> Backbones:
        """Backbones read back from a PDB file or a folder of them, named by file and chain, with
        the requested conditions they record; what cannot be read is left out, each with its
        reason (:func:`domains.proteins.sample_files.read_samples`)."""
        return read_samples(path)

    # --------------------------------------------------------------- design
    def collect(self, items: Sequence[np.ndarray]) -> Backbones:
        return Backbones(items)

    def design_path(self, stem: Path, n: int) -> Path:
        """A folder of PDB files (``sample_000.pdb`` ...)."""
        return stem

    def candidate_key(self, item: np.ndarray) -> str | None:
        """The CA trace to 0.01 Å, hashed (None for an empty or non-finite backbone)."""
        ca = np.asarray(item, dtype=np.float64)[:, 1] if len(item) else np.zeros((0, 3))
        if len(ca) == 0 or not np.isfinite(ca).all():
            return None
        ca = ca - ca.mean(0)
        return f"{len(ca)}:" + hashlib.sha1(np.round(ca, 2).astype(np.float32).tobytes()).hexdigest()[:20]

    def candidate_bucket(self, item: np.ndarray) -> str | None:
        """The DSSP composition to tenths and the length to tens: ``"L80 H0.6 E0.1"``."""
        h, e, _ = ss_fractions(dssp_labels(np.asarray(item)))
        return f"L{10 * (len(item) // 10)} H{round(h, 1):.1f} E{round(e, 1):.1f}"

    def featurise(self, items: Sequence[np.ndarray]) -> Batch:
        """Centred angles of the backbones (cropped to the model's crop length)."""
        mean = self._mean()
        crop = int(self._require_stats()["crop_length"])
        rows = []
        for bb in items:
            a = centre(backbone_to_angles(torch.as_tensor(np.asarray(bb)[:crop, :3], dtype=torch.float64)), mean).float()
            mask = defined_mask(len(a))
            rows.append({"x": torch.where(mask, a, torch.zeros_like(a)), "mask": mask})
        return collate_angles(rows)

    def readout(self, x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """CA coordinates ``(B, L, 3)`` (Å) of centred angles, by NeRF, differentiably, with
        the real residues ``(B, L)`` (the tau column of the per-angle mask)."""
        residues = (mask[..., 3] > 0) if mask is not None else torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        angles = uncentre(x.double(), self._mean().to(x.device))
        return angles_to_backbone(angles, residues)[:, :, 1], residues

    def design_oracles(self) -> dict[str, Any]:
        from domains.proteins.design_oracles import ORACLES

        return dict(ORACLES)

    # -------------------------------------------------------------- metrics
    def use_reference(self, path: str | Path) -> None:
        """Compare samples with every chain in ``path`` (files or a folder, read as training data
        is, up to :data:`MAX_EVAL_RESIDUES` residues): it stands in for the held-out split and for
        the training chains (novelty, the baseline), whatever the ``split`` asked for."""
        stage(f"reading the reference set {path}")
        chains, report = read_chains(path, self.chains, min_length=3, max_length=MAX_EVAL_RESIDUES, allow_empty=True)
        skip_all(((f"reference {s.where}", s.why) for s in report.skipped), f"reference set: {report.summary()}")
        backbones, angles = [], []
        for chain in chains:
            a = backbone_to_angles(chain.coords)
            if torch.isfinite(a[defined_mask(len(a))]).all():
                backbones.append(with_oxygen(chain))
                angles.append(a)
        if not backbones:
            raise GensciError(f"--reference {path}: no usable protein chains ({report.summary()})")
        self._reference = (backbones, angles)

    def reference_statistics(self) -> dict[str, Any]:
        """:func:`domains.proteins.reference.reference_statistics` of every split of the data:
        compositions and angle histograms (about 1,400 numbers a split, and the training
        marginals), which let a bundled checkpoint score KLs and compositions without data."""
        self._load()
        return reference_statistics(self._backbones, self._angles, seed=self.seed)

    def _split_stats(self, split: str) -> ReferenceStats:
        if split not in self._reference_stats:
            self._reference_stats[split] = ReferenceStats.from_chains(self._backbones[split], self._angles[split], self.seed,
                                                                      what=f"{split} split")
        return self._reference_stats[split]

    def _comparison(self, split: str) -> dict[str, Any]:
        """What ``split`` is compared with, as :func:`evaluate_backbones` keywords: the
        ``--reference`` chains, else the data's chains (their statistics computed once), else
        the statistics the checkpoint carries, else nothing, with the reason."""
        if self._reference is not None:
            backbones, angles = self._reference
            return {"reference": backbones, "train": backbones, "reference_angles": angles, "train_angles": angles}
        try:
            self._load()
        except GensciError as err:
            why = str(err)
        else:
            return {"reference": self._split_stats(split), "train": self._backbones["train"],
                    "train_angles": self._angles["train"]}
        bundled = (self._stats or {}).get("reference") or {}
        if split in bundled:
            train = bundled.get("train") or {}
            return {"reference": ReferenceStats.from_plain(bundled[split]), "train_marginals":
                    ReferenceStats.from_plain(train).marginals if train else None,
                    "missing": f"the model's data are not on this machine ({why}); {NO_REFERENCE}"}
        held = f" (only of {', '.join(bundled)})" if bundled else ""
        return {"missing": f"the model's data are not on this machine ({why}) and its checkpoint holds no statistics "
                           f"of the {split} split{held}; {NO_REFERENCE}"}

    def evaluate(self, samples: list[np.ndarray], split: str = "test") -> dict[str, float]:
        """Geometry, Ramachandran regions, secondary structure and diversity of the samples
        themselves; against ``split`` (or the ``--reference`` chains): reference compositions,
        angle KLs and the independent-marginal baseline's, and novelty against the training
        chains; scTM when folding models are available (:mod:`domains.proteins.evaluation`).
        Without the data, the statistics a bundled checkpoint carries give the KLs and
        compositions; what cannot be computed is named by :func:`gensci.skipped.skip`, and so is
        every sample over :data:`MAX_EVAL_RESIDUES` residues. Samples drawn with ``--condition
        helix=...`` also get ``condition_<name>_target`` and ``condition_<name>_mae``, the mean
        absolute error of each sample's DSSP fraction (the conditions travel on
        :class:`~domains.proteins.samples.Backbones`, decoded or read back from PDB files; a
        plain list has none)."""
        if split not in SPLITS:
            raise GensciError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        requested = _conditions_of(samples)
        samples = within_length_limit(samples)
        out = evaluate_backbones(samples, seed=self.seed, **self._comparison(split))
        if requested and samples:
            labels = [ss_fractions(dssp_labels(s)) for s in track(samples, "DSSP of the conditions")]
            fractions = dict(zip(SS_NAMES, np.array(labels).T))
            for name, target in requested.items():
                out[f"condition_{name}_target"] = float(target)
                out[f"condition_{name}_mae"] = float(np.abs(fractions[name] - float(target)).mean())
        return out

    def figures(self, samples: list[np.ndarray], stem: Path, split: str = "test") -> list[Path]:
        """``<stem>_ramachandran.png``: (phi, psi) of the samples beside the ``split`` chains (or
        the ``--reference`` chains); the samples alone when neither is at hand."""
        if split not in SPLITS:
            raise GensciError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        samples = within_length_limit(samples)
        panels = {f"samples ({len(samples)})": backbone_angles(samples)}
        if self._reference is not None:
            panels[f"reference ({len(self._reference[1])})"] = self._reference[1]
        else:
            try:
                panels[f"{split} split ({len(self._load()[split])})"] = self._load()[split]
            except GensciError as err:
                skip(f"the {split} panel of {stem.name}_ramachandran.png", f"no reference chains to draw ({err})", METRIC)
        return [ramachandran_png(panels, Path(f"{stem}_ramachandran.png"))]


def _conditions_of(samples: Any) -> dict[str, float]:
    """The requested conditions ``samples`` carry (none for a plain list of arrays)."""
    return dict(getattr(samples, "conditions", None) or {})
