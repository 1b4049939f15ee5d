"""Generated backbones read back from PDB files for evaluation, leaving out what cannot be read.

:func:`read_samples` reads a PDB file or a folder of them (sorted by name) into
:class:`~domains.proteins.samples.Backbones` ``(L, 4, 3)`` named ``file:chain``, with the
requested conditions their ``REMARK 250`` lines record (those every file that gave a chain
records with the same value). It leaves out, each with a one-line reason
(:func:`gensci.skipped.skip`: listed by ``gensci evaluate``, a warning elsewhere):

* files biotite cannot parse, and chains with what no angle can explain (non-finite
  coordinates, bond lengths, chain breaks: the ``"bonds"`` level of
  :mod:`domains.proteins.structures`); a generated backbone's angles and clashes are for its
  evaluation to judge;
* denoising paths (``*_trajectory.pdb``, which ``gensci sample --trajectory`` writes beside
  the samples: their first model is the noise, not a sample);
* files of more than :data:`MAX_SAMPLE_FILE_BYTES` of text (for ``.gz``, inflated, counted
  without inflating further), which would fill memory as atoms before any check could run.

A folder in which nothing is left is a one-line :class:`GensciError`.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import torch

from domains.proteins.nerf import place_oxygen
from domains.proteins.pdb import read_condition_remarks
from domains.proteins.samples import Backbones
from domains.proteins.structures import BackboneChain, ReadReport, read_chains, structure_files
from gensci.errors import GensciError
from gensci.progress import stage, track
from gensci.skipped import skip, skip_all

__all__ = ["MAX_SAMPLE_FILE_BYTES", "read_samples", "text_bytes", "with_oxygen"]

#: a sample file with more text than this is not parsed (16 MiB: about 200,000 atom lines)
MAX_SAMPLE_FILE_BYTES = 16 << 20


def text_bytes(path: Path, limit: int = MAX_SAMPLE_FILE_BYTES) -> int:
    """The size of a file's text: its size, or for ``.gz`` the bytes it inflates to, counted up
    to just past ``limit`` and no further (a broken archive gives its own size: the reader then
    names what is wrong with it)."""
    if not path.name.lower().endswith(".gz"):
        return path.stat().st_size
    total = 0
    try:
        with gzip.open(path, "rb") as handle:
            while total <= limit and (chunk := handle.read(1 << 20)):
                total += len(chunk)
    except (OSError, EOFError, zlib.error):
        return path.stat().st_size
    return total


def with_oxygen(chain: BackboneChain) -> np.ndarray:
    """``(L, 4, 3)`` N, CA, C, O of a chain; ideal O where the file has none."""
    o = torch.from_numpy(chain.oxygen)
    if not torch.isfinite(o).all():
        o = place_oxygen(torch.from_numpy(chain.coords))
    return np.concatenate([chain.coords, o.numpy()[:, None]], axis=1)


def read_samples(path: str | Path) -> Backbones:
    """The backbones of a PDB file or folder of them, each named, with their common requested
    conditions; what is left out is named with its reason (module docstring)."""
    files = structure_files(path)
    stage(f"reading {len(files)} structure files")
    readable = []
    for f in files:
        if f.name.lower().removesuffix(".gz").endswith("_trajectory.pdb"):
            skip(f.name, "a denoising trajectory (gensci sample --trajectory), not a sample")
        elif text_bytes(f) > MAX_SAMPLE_FILE_BYTES:
            skip(f.name, f"more than {MAX_SAMPLE_FILE_BYTES:,} bytes of text, far more than a generated sample holds")
        else:
            readable.append(f)
    if not readable:
        raise GensciError(f"no sample files to read in {path}: every structure file there was left out")
    chains: list[BackboneChain] = []
    report = ReadReport(files=len(readable))
    for f in track(readable, "reading", unit="file"):
        kept, one = read_chains(f, min_length=1, geometry="bonds", allow_empty=True)
        chains += kept
        report.skipped += one.skipped
    report.kept = len(chains)
    if not chains:
        raise GensciError(f"no usable protein chains in {path}: {report.summary()}")
    skip_all(((s.where, s.why) for s in report.skipped),
             f"{report.summary()}; first: {report.skipped[0]}" if report.skipped else "")
    sources = {chain.source for chain in chains}
    recorded = [read_condition_remarks(f) for f in readable if str(f) in sources]
    common = dict(recorded[0]) if recorded else {}
    for other in recorded[1:]:
        common = {k: v for k, v in common.items() if other.get(k) == v}
    return Backbones((with_oxygen(chain) for chain in chains), common, [chain.name for chain in chains])
