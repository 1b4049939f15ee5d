"""Image-to-CAD retrieval: GenCAD's protocol for the contrastive image encoder.

GenCAD (Alam & Ahmed 2025, TMLR, arXiv 2409.16294, §4.2, Table 3): draw ``B`` (image, CAD) pairs
of the test set; each image's embedding queries the ``B`` CAD embeddings (the frozen
autoencoder's latents through the contrastive model's CAD head), ranked by cosine similarity;
the top-1 accuracy is the fraction of queries whose own part ranks first::

    acc(B) = 1/B sum_i [ argmax_j cos(a_i, b_j) = i ],   chance = 1/B

averaged over independent draws of the ``B`` pairs (seeded): ``draws`` of them, or by default
enough that about ``queries`` = 1000 queries are scored at every ``B`` (100 draws at B = 10), so
the standard error of a figure near 0.9 is about 0.01 (ten draws at B = 10, 100 queries, leave
it at 0.03). GenCAD reports
B = 10, 128, 1024, 2048 (98.5 / 91.4 / 70.3 / 60.8 % for its image model). A ``B`` larger than
the number of pairs is replaced by that number (and the result says so, ``capped``): a set of
N pairs gives one draw of all N.

Ties (an untrained encoder can embed every image alike) go to the lowest index, so a constant
encoder scores exactly ``1/B``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from domains.cad.sequence import CADError

__all__ = ["top1_accuracy", "retrieval", "embed_pairs", "evaluate_retrieval", "BATCH_SIZES"]

BATCH_SIZES = (10, 128, 1024)


def top1_accuracy(image: Tensor, cad: Tensor) -> float:
    """The fraction of rows ``i`` whose cosine similarity to ``cad`` is largest at ``i``."""
    a = torch.nn.functional.normalize(image.double(), dim=-1)
    b = torch.nn.functional.normalize(cad.double(), dim=-1)
    return float((torch.argmax(a @ b.T, dim=1) == torch.arange(len(a))).double().mean())


def retrieval(image: Tensor, cad: Tensor, batch_sizes: Sequence[int] = BATCH_SIZES, draws: int | None = None,
              seed: int = 0, queries: int = 1000) -> dict[str, Any]:
    """Top-1 accuracy among ``B`` candidates for each ``B`` (module docstring), from paired
    embeddings ``image (N, E)`` and ``cad (N, E)``: ``{"top1@B": acc, "chance@B": 1/B, ...}``,
    with ``capped`` naming the requested sizes replaced by ``N``."""
    if image.shape != cad.shape or image.ndim != 2 or len(image) < 2:
        raise CADError(f"retrieval needs paired embeddings (N, E) with N >= 2, got {tuple(image.shape)} and "
                       f"{tuple(cad.shape)}")
    n = len(image)
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {"pairs": n, "capped": []}
    for want in batch_sizes:
        b = min(int(want), n)
        if b < 2:
            raise CADError(f"a retrieval batch needs at least 2 candidates, got {want}")
        if b < int(want):
            out["capped"].append(int(want))
        k = 1 if b == n else int(draws) if draws is not None else max(1, math.ceil(queries / b))
        accs = [top1_accuracy(image[idx], cad[idx]) for idx in (torch.as_tensor(rng.choice(n, b, replace=False))
                                                               for _ in range(k))]
        out[f"top1@{b}"] = float(np.mean(accs))
        out[f"chance@{b}"] = 1.0 / b
    return out


@torch.no_grad()
def embed_pairs(model: Any, images: np.ndarray | Tensor, latents: Tensor, batch: int = 512) -> tuple[Tensor, Tensor]:
    """Image and CAD embeddings ``(N, E)`` of ``N`` images ``(N, S, S)`` and their standardised
    latents ``(N, L)`` by a :class:`~domains.cad.image_encoder.ContrastiveImageCAD`."""
    images = torch.tensor(np.asarray(images))  # a copy: cached and PIL arrays are read-only
    a = torch.cat([model.embed_images(images[i:i + batch]).cpu() for i in range(0, len(images), batch)])
    b = torch.cat([model.embed_cad(latents[i:i + batch]).cpu() for i in range(0, len(latents), batch)])
    return a, b


def evaluate_retrieval(domain: Any, split: str = "test", style: str | None = None, view: str | None = None,
                       batch_sizes: Sequence[int] = BATCH_SIZES, draws: int | None = None, seed: int = 0) -> dict[str, Any]:
    """GenCAD's retrieval on the rendered parts of ``split`` of a domain with both stages attached:
    each part's query is one of its renders drawn with ``seed`` (of ``style``, ``"shaded"`` or
    ``"edges"``, and ``view``, e.g. ``"iso"``; None: any)."""
    from domains.cad.images import IMAGE_STAGE, split_renders, standardised_latents

    rows, rs = split_renders(domain, split)
    if rs is None or int(rs.ok.sum()) < 2:
        raise CADError(f"the {split} split has fewer than 2 rendered parts to retrieve among")
    keys = [k for k, (s, v) in enumerate(rs.keys) if style in (None, s) and view in (None, v)]
    if not keys:
        raise CADError(f"no renders of style {style!r} and view {view!r}; the set has styles "
                       f"{', '.join(rs.styles)} and views {', '.join(rs.views)}")
    kept = np.flatnonzero(rs.ok)
    pick = np.asarray(keys)[np.random.default_rng(seed).integers(0, len(keys), len(kept))]
    latents = standardised_latents(domain, domain.split(split).vectors[rows[kept]])
    a, b = embed_pairs(domain.module(IMAGE_STAGE), rs.images[kept, pick], latents)
    return retrieval(a, b, batch_sizes, draws, seed)
