"""Contrastive image-CAD pretraining: a small CNN whose embedding of a render lands beside its part.

GenCAD's CCIP stage (Alam & Ahmed 2025, "GenCAD: Image-Conditioned Computer-Aided Design
Generation with Transformer-Based Contrastive Representation and Diffusion Priors", TMLR,
arXiv 2409.16294, §3.2), after CLIP (Radford et al. 2021, arXiv 2103.00020). For a batch of
``B`` parts with one grayscale image ``I_i`` each (a random view in a random style: a shaded
render or an edge sketch, :mod:`domains.cad.renders`) and the *frozen* autoencoder latent
``z_i`` of the same part (standardised by the domain's train statistics)::

    a_i = f(I_i) / |f(I_i)|,   b_i = g(z_i) / |g(z_i)|,   S_ij = exp(s) a_i . b_j
    L   = 1/2 [ CE_rows(S, i) + CE_columns(S, i) ]
        = -1/(2B) sum_i [ log softmax_j(S_ij)_i + log softmax_j(S_ji)_i ]

with ``f`` the CNN, ``g`` the CAD-side projection head (two linear layers, as GenCAD's) and
``s`` the learnable log inverse temperature (CLIP's: ``exp(s)`` starts at ``1/0.07`` and is
clipped at 100). The logged ``retrieval_top1`` is the fraction of rows whose largest ``S_ij``
is on the diagonal: image-to-CAD retrieval within the batch.

The CNN is ResNet-like (He et al. 2016) but small, so it trains on a CPU in minutes: a
stride-2 3x3 stem, four stages of residual blocks (two 3x3 convolutions, GroupNorm, SiLU; the
first block of stages 2-4 halves the resolution and doubles the width), global average
pooling and a linear map to the embedding. At ``width=16`` on 64x64 images it has 0.3 M
parameters and ~15 M multiply-adds an image. GenCAD uses ResNet-18 (11 M parameters,
~1.8 G multiply-adds at 224x224 and four times that at its 448x448 renders) with a linear
map and ``tanh``; here images are 64x64 (:mod:`domains.cad.renders`), GroupNorm replaces
BatchNorm (no batch statistics to keep in step with the weight average), and both
embeddings are L2-normalised as in CLIP. Images enter as ``1 - I / 255`` (white background
-> 0) and, in training, shifted by up to ``shift`` pixels with wrap-around (inside the
renders' white margin), so a photo that is not centred to the pixel still reads.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from domains.cad.sequence import CADError

__all__ = ["ImageEncoder", "ContrastiveImageCAD", "info_nce", "as_input"]


def info_nce(logits: Tensor) -> Tensor:
    """The symmetric InfoNCE loss of a ``(B, B)`` similarity matrix whose diagonal holds the pairs:
    the mean of the row-wise and column-wise cross-entropies with targets ``i``."""
    if logits.ndim != 2 or logits.shape[0] != logits.shape[1]:
        raise CADError(f"InfoNCE needs a square (B, B) similarity matrix, got {tuple(logits.shape)}")
    target = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def as_input(images: Tensor) -> Tensor:
    """uint8 grayscale images ``(B, H, W)`` (or floats in [0, 255]) as the CNN's input
    ``(B, 1, H, W)``: ``1 - I / 255``, so the white background is 0."""
    if images.ndim != 3:
        raise CADError(f"images must be (B, H, W) grayscale, got shape {tuple(images.shape)}")
    return (1.0 - images.float() / 255.0)[:, None]


def _groups(channels: int) -> int:
    return math.gcd(channels, 8)


class _Block(nn.Module):
    """``SiLU(x' + GN(conv(SiLU(GN(conv(x))))))`` with ``x'`` the input, or its 1x1 strided
    projection where the resolution or the width changes."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.norm1 = nn.GroupNorm(_groups(cout), cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.norm2 = nn.GroupNorm(_groups(cout), cout)
        self.skip = (nn.Identity() if stride == 1 and cin == cout else
                     nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.GroupNorm(_groups(cout), cout)))

    def forward(self, x: Tensor) -> Tensor:
        h = F.silu(self.norm1(self.conv1(x)))
        return F.silu(self.skip(x) + self.norm2(self.conv2(h)))


class ImageEncoder(nn.Module):
    """A small ResNet: ``(B, 1, H, W)`` floats -> ``(B, embed)`` (not normalised); any ``H, W``
    (global pooling). ``blocks[k]`` residual blocks in stage ``k`` of width ``width * 2**k``."""

    def __init__(self, embed: int = 128, width: int = 16, blocks: Sequence[int] = (1, 1, 1, 1)):
        super().__init__()
        if width < 1 or embed < 1 or not blocks or any(int(b) < 1 for b in blocks):
            raise CADError(f"the image encoder needs width, embed >= 1 and >= 1 block a stage, got width={width}, "
                           f"embed={embed}, blocks={list(blocks)}")
        self.stem = nn.Sequential(nn.Conv2d(1, width, 3, 2, 1, bias=False), nn.GroupNorm(_groups(width), width), nn.SiLU())
        layers, cin = [], width
        for k, n in enumerate(blocks):
            cout = width * 2 ** k
            for j in range(int(n)):
                layers.append(_Block(cin, cout, 2 if (j == 0 and k > 0) else 1))
                cin = cout
        self.stages = nn.Sequential(*layers)
        self.head = nn.Linear(cin, embed)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.stages(self.stem(x)).mean(dim=(2, 3)))


class ContrastiveImageCAD(nn.Module):
    """The image-encoder stage: a CNN for images, a projection head for CAD latents, a learnable
    temperature (module docstring). Trained by :class:`gensci.training.objective.ModuleLoss` on
    batches whose ``x`` is a :class:`~gensci.core.state.State` with ``images`` ``(B, K, H, W)``
    uint8 (``K`` views x styles of each part) and ``latent`` ``(B, latent)``.

    Args:
        latent: the autoencoder's latent size (the domain supplies it).
        embed: the shared embedding size.
        width, blocks: the CNN's first-stage width and residual blocks per stage.
        cad_hidden: the CAD head's hidden width.
        temperature: the initial temperature (``exp(s) = 1 / temperature``); max_scale clips ``exp(s)``.
        shift: the largest random shift (pixels) of a training image.
    """

    def __init__(self, latent: int, embed: int = 128, width: int = 16, blocks: Sequence[int] = (1, 1, 1, 1),
                 cad_hidden: int = 256, temperature: float = 0.07, max_scale: float = 100.0, shift: int = 2):
        super().__init__()
        if not (temperature > 0 and max_scale > 0):
            raise CADError(f"temperature and max_scale must be positive, got {temperature}, {max_scale}")
        self.latent, self.embed, self.shift = int(latent), int(embed), int(shift)
        self.image = ImageEncoder(embed, width, blocks)
        self.cad = nn.Sequential(nn.Linear(self.latent, cad_hidden), nn.SiLU(), nn.Linear(cad_hidden, embed))
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / temperature)))
        self.max_log_scale = math.log(max_scale)

    @property
    def scale(self) -> Tensor:
        """``exp(s)``, the inverse temperature, clipped at ``max_scale``."""
        return self.log_scale.clamp(max=self.max_log_scale).exp()

    def _device(self) -> torch.device:
        return self.log_scale.device

    def embed_images(self, images: Tensor) -> Tensor:
        """L2-normalised embeddings ``(B, embed)`` of grayscale images ``(B, H, W)`` (uint8 or 0..255)."""
        return F.normalize(self.image(as_input(images.to(self._device()))), dim=-1)

    def embed_cad(self, latent: Tensor) -> Tensor:
        """L2-normalised embeddings ``(B, embed)`` of standardised CAD latents ``(B, latent)``."""
        if latent.ndim != 2 or latent.shape[1] != self.latent:
            raise CADError(f"CAD latents must be (B, {self.latent}), got {tuple(latent.shape)}")
        return F.normalize(self.cad(latent.to(self._device()).float()), dim=-1)

    def forward(self, images: Tensor, mask: Any = None) -> Tensor:
        return self.embed_images(images)

    def pick(self, images: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One random image of each row's ``K`` ``(B, K, H, W) -> (B, H, W)``, shifted by up to
        :attr:`shift` pixels in training."""
        b, k, h, w = images.shape
        g_dev = generator.device if generator is not None else torch.device("cpu")
        choice = torch.randint(0, k, (b,), generator=generator, device=g_dev).to(images.device)
        out = images[torch.arange(b, device=images.device), choice]
        if self.training and self.shift > 0:
            dy, dx = torch.randint(-self.shift, self.shift + 1, (2, b), generator=generator, device=g_dev).to(images.device)
            rows = (torch.arange(h, device=images.device)[None, :] - dy[:, None]) % h
            cols = (torch.arange(w, device=images.device)[None, :] - dx[:, None]) % w
            out = out[torch.arange(b, device=images.device)[:, None, None], rows[:, :, None], cols[:, None, :]]
        return out

    def similarity(self, images: Tensor, latent: Tensor) -> Tensor:
        """``S = exp(s) a b^T`` ``(B, B)`` for images ``(B, H, W)`` and latents ``(B, latent)``."""
        return self.scale * self.embed_images(images) @ self.embed_cad(latent).T

    def loss(self, batch: Any, generator: torch.Generator | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """InfoNCE of one random image per part against its latent; logs the in-batch top-1
        image-to-CAD retrieval and the temperature."""
        x = batch.x
        logits = self.similarity(self.pick(x["images"], generator), x["latent"])
        loss = info_nce(logits)
        hits = (logits.argmax(dim=1) == torch.arange(len(logits), device=logits.device)).float().mean()
        return loss, {"retrieval_top1": hits.detach(), "temperature": (1.0 / self.scale).detach()}
