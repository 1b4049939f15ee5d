"""The CAD domain's image side: which parts are rendered, the image stage's data, the image condition.

* Rendered parts: at most ``image_parts[split]`` parts of each split, a seeded subset
  (:func:`render_rows`), rendered once and cached (:mod:`domains.cad.renders`).
* Stage ``image_encoder`` (:class:`~domains.cad.image_encoder.ContrastiveImageCAD`) trains on
  :class:`~gensci.core.state.State` rows ``images (K, S, S)`` uint8 and ``latent`` (the frozen
  autoencoder's latent, standardised by the train statistics) of the parts that rendered.
* The prior's ``image`` condition (a ``"vector"`` condition, :mod:`gensci.nn.conditions`): the
  normalised image embedding of one view of the part, drawn once per part with the domain's
  seed (a style and a view); parts without renders carry NaN (missing), so the prior trains
  on every part and learns the unconditional branch from those too.
* Sampling with ``image=PATH``: the file is read with Pillow, prepared like a render
  (:func:`domains.cad.renders.load_image`) and embedded.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from domains.cad.renders import RenderSet, load_image, render_vectors
from domains.cad.sequence import CADError
from gensci.core.state import State
from gensci.domain import BatchDataset
from gensci.errors import GensciError

__all__ = ["IMAGE_STAGE", "render_rows", "image_caps", "split_renders", "standardised_latents", "stage_dataset",
           "attach", "image_spec", "condition", "embed_file", "embed_images"]

IMAGE_STAGE = "image_encoder"


def image_caps(image_parts: int | Mapping[str, int]) -> dict[str, int]:
    """``{"train": n, "val": n, "test": n}`` from one number (every split) or a mapping."""
    if isinstance(image_parts, Mapping):
        caps = {k: int(image_parts.get(k, 0)) for k in ("train", "val", "test")}
    else:
        caps = dict.fromkeys(("train", "val", "test"), int(image_parts))
    if any(v < 0 for v in caps.values()):
        raise GensciError(f"image_parts must be non-negative, got {caps}")
    return caps


def render_rows(n: int, cap: int, seed: int) -> np.ndarray:
    """The rows of a split of ``n`` parts that are rendered: a seeded subset of ``min(n, cap)``, sorted."""
    return np.sort(np.random.default_rng(seed).permutation(n)[:min(int(n), int(cap))])


def split_renders(domain: Any, split: str) -> tuple[np.ndarray, RenderSet | None]:
    """The rendered rows of ``split`` and their renders (None when the split renders no part)."""
    cache = domain.__dict__.setdefault("_renders", {})
    if split not in cache:
        part = domain.split(split)
        rows = render_rows(len(part), domain.image_caps[split], domain.seed + 17)
        rs = None if len(rows) == 0 else render_vectors(
            part.vectors[rows], views=domain.image_views, size=domain.image_size, cache_dir=domain.cache_dir,
            progress=domain.progress, timeout=domain.build_timeout)
        cache[split] = (rows, rs)
    return cache[split]


def standardised_latents(domain: Any, vectors: np.ndarray) -> Tensor:
    """The frozen autoencoder's latents of ``vectors``, standardised by the train statistics."""
    stats = domain.stats()
    return (domain._encode(vectors) - torch.tensor(stats["latent_mean"])) / torch.tensor(stats["latent_std"])


def stage_dataset(domain: Any, split: str) -> BatchDataset:
    """The image stage's rows: every rendered part's images and its standardised latent."""
    rows, rs = split_renders(domain, split)
    if rs is None or not rs.ok.any():
        why = "renders no part (image_parts)" if rs is None else f"rendered no part ({rs.causes})"
        raise GensciError(f"the {split} split {why}; the image encoder needs renders to train on")
    vectors = domain.split(split).vectors[rows[rs.ok]]
    return BatchDataset(State(images=torch.from_numpy(rs.images[rs.ok]), latent=standardised_latents(domain, vectors)))


def image_spec(embed: int) -> dict[str, Any]:
    return {"name": "image", "kind": "vector", "dim": int(embed),
            "description": "the image encoder's embedding of a render, sketch or photo (sampling option image=PATH)"}


def attach(domain: Any, module: nn.Module) -> None:
    """Record what sampling needs of the image stage (render size, views, embedding size) and, when
    the domain is guided on ``image``, add its condition spec (once: a loaded checkpoint has it)."""
    stats = domain._require_stats()
    if "image" not in stats:
        stats["image"] = {"size": int(domain.image_size), "views": list(domain.image_views), "embed": int(module.embed)}
    if "image" in domain.condition_names and not any(c["name"] == "image" for c in stats["conditions"]):
        stats["conditions"] = [*stats["conditions"], image_spec(module.embed)]


@torch.no_grad()
def embed_images(domain: Any, images: np.ndarray | Tensor, batch: int = 512) -> Tensor:
    """Normalised embeddings ``(N, E)`` of images ``(N, S, S)`` by the attached image encoder."""
    encoder = domain.module(IMAGE_STAGE)
    images = torch.tensor(np.asarray(images))  # a copy: cached and PIL arrays are read-only
    return torch.cat([encoder.embed_images(images[i:i + batch]).float().cpu() for i in range(0, len(images), batch)])


def condition(domain: Any, split: str, n: int) -> Tensor:
    """The ``image`` condition of the ``n`` parts of ``split``: one seeded view's embedding per
    rendered part, NaN rows elsewhere."""
    embed = int(domain.stats()["image"]["embed"])
    out = torch.full((n, embed), math.nan)
    rows, rs = split_renders(domain, split)
    if rs is None or not rs.ok.any():
        return out
    kept = np.flatnonzero(rs.ok)
    view = np.random.default_rng(domain.seed + 29).integers(0, rs.images.shape[1], len(kept))
    out[torch.as_tensor(rows[kept])] = embed_images(domain, rs.images[kept, view])
    return out


def embed_file(domain: Any, path: str | os.PathLike) -> Tensor:
    """The normalised embedding ``(E,)`` of an image file (sampling option ``image=PATH``)."""
    stats = domain.stats()
    if IMAGE_STAGE not in domain.attached() or "image" not in stats:
        raise GensciError("this model has no image encoder (it was trained without the image_encoder stage); "
                          "sample without an image")
    if not any(c["name"] == "image" for c in stats["conditions"]):
        raise GensciError("this model's prior is not guided on images (its domain.conditions leave out image); "
                          "sample without an image")
    try:
        image = load_image(path, int(stats["image"]["size"]))
    except CADError as err:
        raise GensciError(f"image={os.fspath(path)}: {err}") from None
    return embed_images(domain, image[None])[0]
