r"""A property predictor φ that scores conditionally generated 3D molecules (EDM's protocol).

Generated molecules have no DFT labels, so EDM (Hoogeboom et al. 2022, §5.2, after the
E(n) normalizing flows of Satorras et al. 2021) splits the training set in halves
:math:`D_a, D_b`, trains an E(3)-invariant regressor φ on :math:`D_a` and reports, for
molecules :math:`x_i` generated under requested values :math:`c_i`,

.. math::
    \mathrm{MAE} = \tfrac1m \textstyle\sum_i |φ(x_i) - c_i|,

between a floor — φ's own error on held-out real molecules, :math:`\tfrac1m\sum_j|φ(x_j) -
y_j|` — and a ceiling — the error when the labels are shuffled, :math:`\tfrac1m\sum_j
|φ(x_j) - y_{π(j)}|` (EDM's "Naive (upper bound)"). For a request :math:`c` the ceiling is
:math:`\tfrac1{m'}\sum_j |φ(x_j) - c|` over held-out real molecules: what a generator that
ignores the condition would reach (its mean over :math:`c \sim` data is the shuffled error).

φ here: per atom :math:`i`, invariant descriptors :math:`d_i` of its neighbourhood
(element-resolved radial sums and three-body moment invariants within 5 Å,
:mod:`domains.atoms.atom_descriptors`) with Z / 9 (optionally the formal charge), standardised,
go through an MLP to :math:`z_i`; then

.. math::
    \hat y = \mathrm{MLP}_{out}\big(\textstyle\sum_{i\ \mathrm{real}} \mathrm{MLP}_{node}(z_i)\big)
    \cdot σ + μ + \text{two-body},

where the two-body term, for the extensive properties (α, Cv), is a linear expansion (element
counts and pair-type × distance Gaussians, :mod:`domains.atoms.pair_expansion`) fitted by
ridge least squares first and then frozen, so the network learns what it leaves. The dipole
moment μ is read instead from per-atom charges, as in charge-equilibrating regressors
(PhysNet, Unke & Meuwly, J. Chem. Theory Comput. 2019): :math:`q_i = w^\top z_i + b`, shifted to sum to zero, and
:math:`\hat μ = |\sum_i q_i x_i|` (e·Å, reported in debye). One output per property, trained
with an L1 loss on targets standardised by the training half's mean and standard deviation.
Inputs see positions only through distances and angles (the dipole through a norm), so φ is
invariant to rotations, reflections, translations and atom permutations.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from domains.atoms.atom_descriptors import AtomDescriptors
from domains.atoms.molecule import CHARGES, Molecule3D
from domains.atoms.pair_expansion import PAIR_BASIS, PairExpansion
from gensci.io import atomic_path

__all__ = ["PREDICTOR_PATH", "PropertyNet", "PropertyPredictor", "halves", "featurise", "train_predictor",
           "property_mae", "property_metrics"]

#: the closest two atoms may be (Å) for the predictor to score a geometry (QM9's closest pair,
#: an O-H or N-H bond, is about 0.96 Å)
MIN_DISTANCE = 0.75

#: e·Å in debye
DEBYE_PER_E_ANGSTROM = 4.80320

#: the bundled QM9 predictor (alpha, gap, mu, cv), written by scripts/train_property_predictor.py
PREDICTOR_PATH = Path(__file__).resolve().parent / "assets" / "qm9_properties.pt"


def halves(train_rows: Sequence[int], seed: int = 0) -> dict[str, list[int]]:
    """EDM's halves ``a`` / ``b`` of the training rows from a seeded permutation."""
    perm = np.random.default_rng(seed).permutation(len(train_rows))
    rows = np.asarray(list(train_rows), dtype=np.int64)[perm]
    half = len(rows) // 2
    return {"a": sorted(rows[:half].tolist()), "b": sorted(rows[half:].tolist())}


def featurise(molecules: Sequence[Molecule3D], config: Mapping[str, Any], dtype: torch.dtype = torch.float32):
    """Padded inputs ``(h, pos, atoms, pairs, known)``: one-hot element, Z / 9 (and formal
    charge, if the config reads it) per atom, centred positions, masks of atoms and of pairs
    ``i != j``; ``known`` (B,) is False for a molecule with an element (or formal charge)
    outside the vocabulary, non-finite positions, or no atoms."""
    z_vocab = list(config["atomic_numbers"])
    k = len(z_vocab)
    b, n = len(molecules), max([len(m) for m in molecules] + [1])
    node_dim = k + 1 + (len(CHARGES) if config["formal_charges"] else 0)
    h, pos = torch.zeros(b, n, node_dim, dtype=dtype), torch.zeros(b, n, 3, dtype=dtype)
    atoms, known = torch.zeros(b, n, dtype=torch.bool), torch.ones(b, dtype=torch.bool)
    lookup = {z: i for i, z in enumerate(z_vocab)}
    for r, m in enumerate(molecules):
        c = len(m)
        types = [lookup.get(int(z), -1) for z in m.numbers]
        charge_idx = [CHARGES.index(int(q)) if int(q) in CHARGES else -1 for q in m.charges]
        if c == 0 or min(types) < 0 or (config["formal_charges"] and min(charge_idx) < 0) or \
                not np.isfinite(m.positions).all():
            known[r] = False
            continue
        atoms[r, :c] = True
        h[r, torch.arange(c), torch.tensor(types)] = 1.0
        h[r, :c, k] = torch.as_tensor(m.numbers, dtype=dtype) / 9.0
        if config["formal_charges"]:
            h[r, torch.arange(c), k + 1 + torch.tensor(charge_idx)] = 1.0
        p = torch.as_tensor(m.positions, dtype=dtype)
        pos[r, :c] = p - p.mean(0)
    pairs = atoms[:, :, None] & atoms[:, None, :] & ~torch.eye(n, dtype=torch.bool)[None]
    return h, pos, atoms, pairs, known


class PropertyNet(nn.Module):
    """Atom descriptors (:class:`~domains.atoms.atom_descriptors.AtomDescriptors`,
    standardised) → per-atom MLP → sum over real atoms → MLP, plus the two-body expansion
    :class:`~domains.atoms.pair_expansion.PairExpansion` (ridge-fitted, then frozen). Output
    ``dipole`` (an index, or None) is instead the norm of the dipole of per-atom charges,
    ``4.8032 |sum_i q_i x_i|`` D with the charges ``q`` shifted to sum to zero, standardised by
    ``dipole_shift`` and ``dipole_scale`` (D) like the other outputs."""

    def __init__(self, node_dim: int, outputs: int, types: int, hidden: int = 128, layers: int = 2,
                 radial: int = 16, angular: int = 6, r_cut: float = 5.0,
                 pair_basis: Sequence[Sequence[float]] = PAIR_BASIS, dipole: int | None = None,
                 dipole_shift: float = 0.0, dipole_scale: float = 1.0):
        super().__init__()
        self.types, self.dipole = types, dipole
        self.descriptors = AtomDescriptors(types, radial, angular, r_cut)
        width = self.descriptors.size + node_dim - types
        self.register_buffer("feature_shift", torch.zeros(width))
        self.register_buffer("feature_scale", torch.ones(width))
        self.register_buffer("dipole_norm", torch.tensor([dipole_shift, dipole_scale]))
        mlp: list[nn.Module] = []
        for i in range(layers):
            mlp += [nn.Linear(width if i == 0 else hidden, hidden), nn.SiLU()]
        self.atom = nn.Sequential(*mlp)
        self.node = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.out = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, outputs))
        self.charge = nn.Linear(hidden, 1)
        self.pairs = PairExpansion(types, outputs, pair_basis)
        nn.init.zeros_(self.out[-1].weight)  # starts from the two-body fit
        nn.init.zeros_(self.out[-1].bias)

    def features(self, h: Tensor, pos: Tensor, atoms: Tensor, pairs: Tensor) -> Tensor:
        """Raw per-atom inputs (B, N, F): the descriptors, then ``h``'s columns past the one-hot."""
        return torch.cat([self.descriptors(h[..., :self.types], pos, atoms, pairs), h[..., self.types:]], -1)

    @torch.no_grad()
    def fit_scale(self, features: Tensor) -> None:
        """Centre and scale the per-atom inputs by their mean and standard deviation over real
        atoms ``features`` (n, F); a scale is floored at a twentieth of the median one, so a
        rare feature (an F-F angle) is not blown up."""
        std = features.std(0)
        self.feature_shift.copy_(features.mean(0))
        self.feature_scale.copy_(std.clamp_min(0.05 * float(std.median())).clamp_min(1e-6))

    def forward(self, h: Tensor, pos: Tensor, atoms: Tensor, pairs: Tensor, network: bool = True) -> Tensor:
        base = self.pairs(h[..., :self.types], pos, atoms, pairs)
        if not network:
            return base
        mask = atoms[..., None].to(h.dtype)
        z = self.atom((self.features(h, pos, atoms, pairs) - self.feature_shift) / self.feature_scale) * mask
        y = self.out((self.node(z) * mask).sum(1)) + base
        if self.dipole is None:
            return y
        q = self.charge(z)[..., 0] * mask[..., 0]
        q = (q - q.sum(1, keepdim=True) / mask[..., 0].sum(1, keepdim=True).clamp_min(1)) * mask[..., 0]
        debye = DEBYE_PER_E_ANGSTROM * (q[..., None] * pos).sum(1).pow(2).sum(-1).add(1e-12).sqrt()
        y = y.clone()
        y[:, self.dipole] = (debye - self.dipole_norm[0]) / self.dipole_norm[1]
        return y


class PropertyPredictor:
    """φ with its normaliser, config, held-out metrics and held-out predictions (for ceilings)."""

    def __init__(self, config: dict[str, Any], state_dict: Mapping[str, Tensor] | None = None,
                 mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                 metrics: dict[str, Any] | None = None, reference: Tensor | None = None):
        self.config = dict(config)
        self.properties: list[str] = list(config["properties"])
        k = len(config["atomic_numbers"])
        node_dim = k + 1 + (len(CHARGES) if config["formal_charges"] else 0)
        self.mean = torch.as_tensor(mean if mean is not None else [0.0] * len(self.properties), dtype=torch.float64)
        self.std = torch.as_tensor(std if std is not None else [1.0] * len(self.properties), dtype=torch.float64)
        dipole = self.properties.index(config["dipole"]) if config.get("dipole") in self.properties else None
        self.net = PropertyNet(node_dim, len(self.properties), k, config["hidden"], config["layers"],
                               config["radial"], config["angular"], config["r_cut"],
                               config.get("pair_basis", PAIR_BASIS), dipole,
                               float(self.mean[dipole]) if dipole is not None else 0.0,
                               float(self.std[dipole]) if dipole is not None else 1.0)
        if state_dict is not None:
            self.net.load_state_dict(state_dict)
        self.metrics: dict[str, Any] = dict(metrics or {})
        self.reference = reference  # (m', P) φ on held-out real molecules

    @torch.no_grad()
    def predict(self, molecules: Sequence[Molecule3D], batch_size: int = 256, network: bool = True
                ) -> dict[str, np.ndarray]:
        """Property values (data units) per molecule; NaN for molecules outside the vocabulary
        and for geometries outside the predictor's domain: two atoms closer than
        :data:`MIN_DISTANCE` (real molecules have none; there the two-body expansion would
        extrapolate without bound). ``property_predictor_coverage`` reports the share scored."""
        self.net.eval()
        dtype = next(self.net.parameters()).dtype
        out = np.full((len(molecules), len(self.properties)), np.nan)
        order = np.argsort([len(m) for m in molecules], kind="stable")  # similar sizes pad less
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            h, pos, atoms, pairs, known = featurise([molecules[i] for i in idx], self.config, dtype)
            y = self.net(h, pos, atoms, pairs, network).double() * self.std + self.mean
            y[~known] = math.nan
            out[idx] = y.numpy()
        for i, m in enumerate(molecules):
            if len(m) > 1:
                d = np.linalg.norm(m.positions[:, None] - m.positions[None], axis=-1)
                if d[np.triu_indices(len(m), 1)].min() < MIN_DISTANCE:
                    out[i] = math.nan
        return {p: out[:, j] for j, p in enumerate(self.properties)}

    def floor(self, name: str) -> float:
        """φ's MAE on held-out real molecules."""
        return float(self.metrics[name]["floor"])

    def ceiling(self, name: str, requested: float | Sequence[float] | np.ndarray) -> float:
        """Mean over requests ``c_i`` and held-out molecules ``x_j`` of ``|φ(x_j) - c_i|``."""
        if self.reference is None:
            return float(self.metrics[name]["ceiling"])
        ref = self.reference[:, self.properties.index(name)].double().numpy()
        c = np.unique(np.asarray(requested, dtype=np.float64).reshape(-1), return_counts=True)
        return float(sum(w * np.abs(ref - v).mean() for v, w in zip(*c)) / c[1].sum())

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"config": self.config, "state_dict": {k: v.float() for k, v in self.net.state_dict().items()},
                   "mean": self.mean.tolist(), "std": self.std.tolist(), "metrics": self.metrics,
                   "reference": None if self.reference is None else self.reference.float()}
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)
        return path

    @classmethod
    def load(cls, path: str | Path) -> PropertyPredictor:
        d = torch.load(path, weights_only=True, map_location="cpu")
        return cls(d["config"], d["state_dict"], d["mean"], d["std"], d["metrics"], d["reference"])


@torch.no_grad()
def _fit_linear_parts(net: PropertyNet, molecules: Sequence[Molecule3D], config: Mapping[str, Any], target: Tensor,
                      ridge: float, scale_rows: int = 4000, seed: int = 0, chunk: int = 512) -> None:
    """Ridge-fit the two-body expansion to the standardised targets of the properties in
    ``config["two_body"]`` (the others get none) and freeze it; centre and scale the atom
    descriptors on the atoms of ``scale_rows`` seeded molecules."""
    order = np.argsort([len(m) for m in molecules], kind="stable")
    dtype = net.pairs.linear.weight.dtype
    feats = torch.zeros(len(molecules), net.pairs.linear.in_features, dtype=torch.float64)
    subset = set(np.random.default_rng(seed).permutation(len(molecules))[:scale_rows].tolist())
    per_atom = []
    for s in range(0, len(order), chunk):
        idx = order[s:s + chunk]
        h, pos, atoms, pairs, _ = featurise([molecules[i] for i in idx], config, dtype)
        feats[torch.as_tensor(idx)] = net.pairs.features(h[..., :net.types], pos, atoms, pairs).double()
        pick = torch.tensor([i in subset for i in idx.tolist()])
        if pick.any():
            per_atom.append(net.features(h[pick], pos[pick], atoms[pick], pairs[pick])[atoms[pick]])
    net.pairs.fit(feats, target, ridge)
    keep = torch.tensor([p in config["two_body"] for p in config["properties"]])
    net.pairs.linear.weight[~keep] = 0.0  # these start from the standardised mean, 0
    net.pairs.linear.bias[~keep] = 0.0
    net.pairs.requires_grad_(False)
    net.fit_scale(torch.cat(per_atom).double())


def _bucketed(sizes: np.ndarray, batch_size: int, rng: np.random.Generator, pool: int = 50) -> Iterator[np.ndarray]:
    """Endless epochs of batches of similar-sized molecules (less padding, ~1.7x faster on QM9):
    each epoch is shuffled, cut into pools of ``pool`` batches, sorted by size within a pool."""
    while True:
        perm = rng.permutation(len(sizes))
        batches = []
        for s in range(0, len(perm), batch_size * pool):
            chunk = perm[s:s + batch_size * pool]
            chunk = chunk[np.argsort(sizes[chunk], kind="stable")]
            batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
        for i in rng.permutation(len(batches)):
            yield batches[i]


def train_predictor(domain: Any, properties: Sequence[str], half: str = "a", steps: int = 2000, batch_size: int = 64,
                    lr: float = 1e-3, seed: int = 0, hidden: int = 128, layers: int = 2, radial: int = 16,
                    angular: int = 6, r_cut: float = 5.0, dipole: str | None = "mu",
                    two_body: Sequence[str] = ("alpha", "cv"), formal_charges: bool = False,
                    half_seed: int = 0, weight_decay: float = 1e-4, warmup: int = 100, ridge: float = 1e-5,
                    time_budget: float | None = None, log_every: int = 0,
                    dtype: torch.dtype = torch.float32) -> PropertyPredictor:
    """Train φ on half ``half`` (``"a"``, ``"b"``, or ``"all"``) of ``domain``'s train rows
    (:func:`halves` with ``half_seed``): AdamW, linear warm-up then cosine decay, L1 loss on
    standardised targets (rows with a NaN label skip that property), size-bucketed batches,
    after the ridge fit (``ridge``) of the two-body expansion for the properties in
    ``two_body`` (extensive ones; on top of it the network learned the HOMO-LUMO gap worse
    than from zero: 302 against 250 meV on a 12,000-molecule slice). ``dipole`` names the
    property read as the dipole of per-atom charges (:class:`PropertyNet`). With
    ``time_budget`` (seconds) the
    schedule runs on ``max(step / steps, elapsed / budget)`` and stops at 1, so a run on a
    busy machine ends in time; ``config["steps_done"]`` says how many steps ran."""
    data = domain.data
    train = domain.rows("train")
    rows = list(train) if half == "all" else halves(train, half_seed)[half]
    config = {"properties": list(properties), "atomic_numbers": list(domain.atomic_numbers), "hidden": hidden,
              "layers": layers, "radial": radial, "angular": angular, "r_cut": r_cut, "dipole": dipole,
              "two_body": [p for p in properties if p in two_body], "formal_charges": formal_charges,
              "half": half, "half_seed": half_seed, "seed": seed, "steps": steps,
              "batch_size": batch_size, "lr": lr, "ridge": ridge, "pair_basis": [list(b) for b in PAIR_BASIS],
              "source": getattr(domain, "data_source", "")}
    y = torch.stack([data.properties[p][torch.tensor(rows)].double() for p in properties], 1)
    mean, std = y.nanmean(0), torch.from_numpy(np.nanstd(y.numpy(), 0)).clamp_min(1e-12)
    with torch.random.fork_rng(devices=[]):  # a seeded initialisation that leaves the global RNG alone
        torch.manual_seed(seed)
        predictor = PropertyPredictor(config, mean=mean.tolist(), std=std.tolist())
    net = predictor.net.to(dtype).train()
    molecules = [data.molecule(r) for r in rows]
    target = ((y - mean) / std).to(dtype)
    _fit_linear_parts(net, molecules, config, target, ridge, seed=seed)
    opt = torch.optim.AdamW([q for q in net.parameters() if q.requires_grad], lr=lr, weight_decay=weight_decay)
    batches = _bucketed(np.array([len(m) for m in molecules]), batch_size, np.random.default_rng(seed))
    running, start, step = 0.0, time.monotonic(), 0
    while True:
        done = step / max(steps, 1)
        if time_budget is not None:
            done = max(done, (time.monotonic() - start) / time_budget)
        if done >= 1.0:
            break
        for group in opt.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / max(warmup, 1)) * 0.5 * (1 + math.cos(math.pi * done))
        idx = torch.as_tensor(next(batches))
        h, pos, atoms, pairs, _ = featurise([molecules[i] for i in idx.tolist()], config, dtype)
        t = target[idx]
        err = (net(h, pos, atoms, pairs) - t.nan_to_num()).abs() * ~t.isnan()
        loss = err.sum() / (~t.isnan()).sum().clamp_min(1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        running = 0.98 * running + 0.02 * loss.item() if step else loss.item()
        step += 1
        if log_every and step % log_every == 0:
            print(f"step {step}: {done:.0%} done, {time.monotonic() - start:.0f} s, L1 (standardised) {running:.4f}",
                  flush=True)
    predictor.config.update(steps_done=step, train_loss=running)
    net.eval()
    return predictor


def _requested_array(molecules: Sequence[Molecule3D], name: str, value: Any) -> np.ndarray:
    if value is None:
        return np.array([float(m.properties.get(f"requested_{name}", math.nan)) for m in molecules])
    return np.broadcast_to(np.asarray(value, dtype=np.float64), (len(molecules),))


def property_mae(predictor: PropertyPredictor, molecules: Sequence[Molecule3D],
                 requested: Mapping[str, Any], predictions: Mapping[str, np.ndarray] | None = None) -> dict[str, float]:
    """``(1/m) Σ_i |φ(x_i) - c_i|`` per requested property that φ predicts; ``c`` a value for
    all molecules, one per molecule, or None (each molecule's ``requested_<name>``). Molecules
    φ cannot read (NaN) or with no request are left out; NaN when none is left."""
    names = [p for p in requested if p in predictor.properties]
    pred = predictions if predictions is not None else predictor.predict(molecules)
    out = {}
    for p in names:
        diff = np.abs(pred[p] - _requested_array(molecules, p, requested[p]))
        ok = np.isfinite(diff)
        out[p] = float(diff[ok].mean()) if ok.any() else math.nan
    return out


def property_metrics(predictor: PropertyPredictor, molecules: Sequence[Molecule3D],
                     requested: Mapping[str, Any]) -> dict[str, float]:
    """``<p>_mae``, ``<p>_mae_floor`` and ``<p>_mae_ceiling`` (module docstring) per requested
    property φ predicts, in the data's units, plus ``property_predictor_coverage``."""
    pred = predictor.predict(molecules)
    out: dict[str, float] = {}
    for p, mae in property_mae(predictor, molecules, requested, pred).items():
        c = _requested_array(molecules, p, requested[p])
        out[f"{p}_mae"], out[f"{p}_mae_floor"] = mae, predictor.floor(p)
        out[f"{p}_mae_ceiling"] = predictor.ceiling(p, c[np.isfinite(c)]) if np.isfinite(c).any() else math.nan
    if out:
        readable = np.isfinite(next(iter(pred.values())))
        out["property_predictor_coverage"] = float(readable.mean()) if molecules else math.nan
    return out
