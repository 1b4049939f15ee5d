"""What the CAD domain reports: validity, shape-distribution metrics, condition errors and the
autoencoder's reconstruction, as DeepCAD and GenCAD measure them.

* **Generation** (DeepCAD §4.2, after Achlioptas et al. 2018): the surface points of every built
  sample and of ``n_refs`` held-out parts, each cloud normalised (:func:`normalize_cloud`);
  COV (share of references that are some sample's nearest neighbour by chamfer distance), MMD
  (mean over references of the nearest sample's CD) and JSD of the 28³ occupancy grids
  (base 2, as DeepCAD's tables). Failed builds count against validity, not here.
* **Conditions**: the relative error of each requested box side on the built solid, and the
  family a k-nearest-neighbour classifier on the autoencoder's latents gives the sample (trained
  on the train split's latents and families), against the requested one.
* **Reconstruction** (DeepCAD's ``evaluate_ae_acc`` / ``evaluate_ae_cd``): ACC_cmd and
  ACC_param of ``decode(encode(v))`` on held-out vectors; the share of reconstructions that build
  strictly valid; the median CD between reconstructed and true parts with the metric's noise
  floor (two samplings of the true part) beside it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from domains.cad.metrics import command_accuracy, parameter_accuracy
from domains.cad.sequence import CADError
from domains.cad.shape_metrics import chamfer, coverage_mmd, jsd, normalize_cloud
from domains.cad.vector import decode as decode_vector

__all__ = ["POINTS", "part_clouds", "encode_vectors", "reference_clouds", "generation_metrics", "family_accuracy", "reconstruction_metrics"]

#: surface points per part for every point-cloud metric (DeepCAD's 2000)
POINTS = 2000


def part_clouds(vectors: np.ndarray, seed: int, progress: bool, timeout: float) -> tuple[list[np.ndarray], list[Any]]:
    """Normalised surface clouds of the parts ``vectors`` decode to (None where they fail)."""
    from domains.cad.worker import build_many

    seqs, where = [], []
    for i, v in enumerate(vectors):
        try:
            seqs.append(decode_vector(v))
            where.append(i)
        except CADError:
            pass
    results = build_many(seqs, points=POINTS, seed=seed, progress=progress, timeout=timeout)
    clouds: list[Any] = [None] * len(vectors)
    built: list[Any] = [None] * len(vectors)
    for i, r in zip(where, results):
        built[i] = r
        if r.ok and r.points is not None:
            clouds[i] = normalize_cloud(r.points)
    return clouds, built


def reference_clouds(vectors: np.ndarray, n_refs: int, seed: int = 0, progress: bool = True,
                     timeout: float = 20.0) -> list[np.ndarray]:
    """Normalised clouds of (at most) ``n_refs`` held-out parts, drawn by ``seed``."""
    rows = np.random.default_rng(seed).permutation(len(vectors))[:n_refs]
    clouds, _ = part_clouds(vectors[np.sort(rows)], seed, progress, timeout)
    return [c for c in clouds if c is not None]


def generation_metrics(sample_points: Sequence[np.ndarray | None], refs: Sequence[np.ndarray]) -> dict[str, float]:
    """COV (%), MMD (x10³) and JSD (x10², base 2) of the built samples' clouds against ``refs``."""
    clouds = [normalize_cloud(p) for p in sample_points if p is not None]
    if not clouds or not refs:
        return {}
    cm = coverage_mmd(clouds, refs)
    return {"cov": 100.0 * cm.cov, "mmd_x1e3": 1e3 * cm.mmd, "jsd_x1e2": 1e2 * jsd(clouds, refs, base=2.0),
            "n_refs": float(len(refs))}


@torch.no_grad()
def encode_vectors(ae: torch.nn.Module, vectors: np.ndarray, batch: int = 512) -> torch.Tensor:
    """The autoencoder's latents of ``vectors`` ``(N, 60, 17)``, ``batch`` at a time on its
    device, as a float32 CPU tensor ``(N, latent)``."""
    device = next(ae.parameters()).device
    return torch.cat([ae.encode(torch.as_tensor(vectors[i:i + batch], dtype=torch.long, device=device)).float().cpu()
                      for i in range(0, len(vectors), batch)])


def family_accuracy(ae: torch.nn.Module, train_vectors: np.ndarray, train_family: np.ndarray,
                    sample_vectors: np.ndarray, requested: str, k: int = 5) -> float:
    """Share of samples whose k-NN family (cosine on autoencoder latents) is ``requested``."""
    reference = encode_vectors(ae, train_vectors).numpy()
    query = encode_vectors(ae, sample_vectors).numpy()
    reference /= np.linalg.norm(reference, axis=1, keepdims=True) + 1e-12
    query /= np.linalg.norm(query, axis=1, keepdims=True) + 1e-12
    hits = 0
    for row in query @ reference.T:
        nearest = np.argpartition(-row, min(k, len(row) - 1))[:k]
        labels, counts = np.unique(train_family[nearest], return_counts=True)
        hits += labels[np.argmax(counts)] == requested
    return hits / len(query)


def reconstruction_metrics(ae: torch.nn.Module, vectors: np.ndarray, n_built: int = 100, seed: int = 0,
                           progress: bool = True, timeout: float = 20.0, simple_loops: bool = True) -> dict[str, float]:
    """ACC_cmd, ACC_param (%) of the plain argmax (DeepCAD's definition), strict validity of
    ``n_built`` reconstructions decoded as sampling decodes them (constrained,
    :mod:`domains.cad.constrained`, with simple loops when ``simple_loops``,
    :mod:`domains.cad.loop_repair`; ``ae_strict_validity``) and by the plain argmax
    (``ae_strict_validity_argmax``), and their median CD (x10³) against the true parts with its
    noise floor, on held-out ``vectors``."""
    ae_device = next(ae.parameters()).device

    def reconstruct(held: np.ndarray, constrained: bool) -> np.ndarray:
        with torch.no_grad():
            return torch.cat([ae.decode(ae.encode(torch.as_tensor(held[i:i + 512], dtype=torch.long, device=ae_device)),
                                        constrained=constrained, simple_loops=simple_loops).cpu()
                              for i in range(0, len(held), 512)]).numpy()

    rows = np.sort(np.random.default_rng(seed).permutation(len(vectors))[:n_built])
    argmax = reconstruct(vectors, False)  # DeepCAD's accuracies score the plain argmax
    out = {"ae_acc_cmd": 100.0 * command_accuracy(argmax, vectors), "ae_acc_param": 100.0 * parameter_accuracy(argmax, vectors)}
    _, built_argmax = part_clouds(argmax[rows], seed, progress, timeout)
    recon = reconstruct(vectors[rows], True)  # the decoding that sampling uses, on the parts built
    true_a, _ = part_clouds(vectors[rows], seed, progress, timeout)
    true_b, _ = part_clouds(vectors[rows], seed + 1, progress, timeout)
    pred, built = part_clouds(recon, seed, progress, timeout)
    strict = lambda results: float(np.mean([b is not None and b.ok and b.strict_valid for b in results]))  # noqa: E731
    out["ae_strict_validity"] = strict(built)
    out["ae_strict_validity_argmax"] = strict(built_argmax)
    cds = [chamfer(p, t) for p, t in zip(pred, true_a) if p is not None and t is not None]
    floors = [chamfer(a, b) for a, b in zip(true_a, true_b) if a is not None and b is not None]
    out["ae_median_cd_x1e3"] = 1e3 * float(np.median(cds)) if cds else math.nan
    out["ae_cd_noise_floor_x1e3"] = 1e3 * float(np.median(floors)) if floors else math.nan
    out["ae_n_built"] = float(len(rows))
    return out
