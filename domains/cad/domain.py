"""The CAD domain: sketch-and-extrude parts generated in two stages, written as STEP files.

GenCAD's recipe (Alam & Ahmed 2025, "GenCAD: Image-conditioned CAD generation with
transformer-based contrastive representation and diffusion priors", TMLR) on the shared cores:

1. stage ``autoencoder``: a transformer autoencoder of DeepCAD vectors
   (:class:`~domains.cad.autoencoder.CommandAutoencoder`, latent ``z ∈ R^256``);
2. the generative stage: a prior over ``[standardised z, standardised log size]`` trained with
   any of the shared processes (flow matching, W-CFM, DDPM by config), with classifier-free
   guidance on the part's family and its box sides ``width, depth, height`` (mm) -- which
   GenCAD lacks. The size rides in the state because the vector is scale-free (every part is
   normalised to a unit box), so the prior must say how large the decoded part is.
   With the stage ``image_encoder`` (:class:`~domains.cad.image_encoder.ContrastiveImageCAD`,
   GenCAD's CCIP: a small CNN trained contrastively against the frozen latents on renders and
   edge sketches, :mod:`domains.cad.images`), the prior is also guided on ``image``, a vector
   condition: the image encoder's embedding of a view of the part, so ``gensci sample MODEL
   --image photo.png`` generates parts that look like the picture;
3. decoding: the frozen decoder gives a vector, :func:`~domains.cad.vector.decode` a history,
   scaled to the sampled size; :meth:`CADDomain.write` builds every part in a crash-contained
   worker (:mod:`domains.cad.worker`) and writes ``part_000.step`` (+ ``.stl`` and the ``.json``
   history) into a folder with ``summary.json``, which names every part that failed to decode
   or build and why.
"""

from __future__ import annotations

import itertools
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from domains.cad.data import SPLITS, PartSet, json_parts, procedural_parts, split_indices
from domains.cad.sequence import CADError, CADSequence
from domains.cad.sizing import fitted_scale, scale_for_sides
from domains.cad.vector import EOS, PART_SIZE, decode as decode_vector
from gensci.domain import BatchDataset, ConditionRequest, Domain, SamplePlan, check_conditions
from gensci.errors import GensciError
from gensci.io import atomic_write

__all__ = ["CADDomain", "GeneratedPart", "CADSamples", "DIMENSIONS"]

#: the numeric conditions: the part's box sides along x, y, z (mm)
DIMENSIONS = ("width", "depth", "height")


@dataclass
class GeneratedPart:
    """One sample: its vector, the history it decodes to (in mm; None when it does not decode)
    and why not, and the conditions it was asked for."""

    vector: np.ndarray
    sequence: CADSequence | None
    error: str | None = None
    requested: dict[str, Any] = field(default_factory=dict)
    size: float = float("nan")
    #: 0 for a first draw, k for the k-th redraw of a rejected sample
    attempt: int = 0


@dataclass
class CADSamples:
    """Generated (or read-back) parts, in order; ``builds`` once :meth:`CADDomain.write` or
    :meth:`CADDomain.evaluate` has built them."""

    parts: list[GeneratedPart]
    builds: list[Any] | None = None

    def __len__(self) -> int:
        return len(self.parts)

    def __iter__(self):
        return iter(self.parts)


def _rows_text(vector: np.ndarray) -> list[str]:
    """A vector's rows up to its first EOS as text lines (``"0 224 128 -1 ..."``), for summaries."""
    rows = []
    for row in np.asarray(vector):
        rows.append(" ".join(str(int(v)) for v in row))
        if int(row[0]) == EOS:
            break
    return rows


class CADDomain(Domain):
    """Sketch-and-extrude parts (module docstring).

    Args:
        source: ``"procedural"`` (the families of :mod:`domains.cad.families`) or a folder of
            DeepCAD JSON files (``gensci data deepcad`` fetches DeepCAD's).
        n_parts: how many procedural parts to generate (before deduplication).
        seed: seeds the procedural generator and the split.
        families: restrict the procedural families (None: all).
        conditions: which of ``family``, ``width``, ``depth``, ``height``, ``image`` the prior is guided on.
        image_parts: how many parts of each split are rendered for the image encoder (one number,
            or ``{"train": n, "val": n, "test": n}``; default 4000 / 200 / 1000).
        image_size, image_views: the renders' side (pixels) and views (:mod:`domains.cad.renders`).
        build_timeout: seconds one part may take to build before it is called a failure.
        eval_refs: held-out parts the samples' shapes are compared with (COV / MMD / JSD).
        cache_dir: the gensci cache root (default ``$GENSCI_CACHE`` or ``~/.cache/gensci``).
        fit_requested_size: where box sides are requested, size each part so they are met
            (:mod:`domains.cad.sizing`: exactly for one side, least squares in log for several);
            False: the size the prior drew.
        constrained_decoding: decode latents to the most likely vector that follows DeepCAD's
            grammar, with no zero-length curve (:mod:`domains.cad.constrained`); False: the plain
            argmax of each row, as DeepCAD and GenCAD decode.
        simple_loops: with constrained decoding, move the arguments of loops that cross
            themselves or each other to likely ones that do not (:mod:`domains.cad.loop_repair`).
        sketch_axes: how procedural sketches take their x axis: ``"normal"`` (from the normal, as a
            CAD tool sets it; the config's default) or ``"drawn"`` (at random, as before generator
            version 3: the default here, so a model whose config predates the option reads the
            parts it was trained on), :mod:`domains.cad.families._part`.
    """

    name = "cad"
    suffix = ""
    outputs = ("",)
    sampling_options = {
        "image": "a picture of the part (PNG / JPG: a render, an edge sketch or a photo on a plain background) to condition on; needs the image stage",
    }
    stages = ("autoencoder", "image_encoder")
    default_redraws = 3

    def __init__(self, source: str = "procedural", n_parts: int = 20000, seed: int = 0, families: list[str] | None = None,
                 conditions: list[str] | None = None, build_timeout: float = 20.0, cache_dir: str | None = None,
                 image_parts: Any = None, image_size: int = 64, image_views: list[str] | None = None,
                 progress: bool = True, eval_refs: int = 200, constrained_decoding: bool = True,
                 fit_requested_size: bool = True, simple_loops: bool = True, sketch_axes: str = "drawn"):
        self.source_name = str(source)
        self.n_parts, self.seed = int(n_parts), int(seed)
        self.families = list(families) if families else None
        self.condition_names = list(conditions) if conditions is not None else ["family", *DIMENSIONS, "image"]
        unknown = set(self.condition_names) - {"family", *DIMENSIONS, "image"}
        if unknown:
            raise GensciError(f"unknown CAD conditions {sorted(unknown)}; choose from family, {', '.join(DIMENSIONS)}, image")
        from domains.cad.families import SKETCH_AXES

        if sketch_axes not in SKETCH_AXES:
            raise GensciError(f"domain.sketch_axes must be one of {', '.join(SKETCH_AXES)}, got {sketch_axes!r}")
        self.sketch_axes = str(sketch_axes)
        self.build_timeout = float(build_timeout)
        self.eval_refs = int(eval_refs)
        self.constrained_decoding = bool(constrained_decoding)
        self.simple_loops = bool(simple_loops)
        self.fit_requested_size = bool(fit_requested_size)
        self.cache_dir = cache_dir
        self.progress = progress
        from domains.cad.images import image_caps
        from domains.cad.renders import DEFAULT_VIEWS

        self.image_caps = image_caps({"train": 4000, "val": 200, "test": 1000} if image_parts is None else image_parts)
        self.image_size = int(image_size)
        self.image_views = list(image_views) if image_views else list(DEFAULT_VIEWS)
        self._parts: PartSet | None = None
        self._splits: dict[str, np.ndarray] | None = None
        self._stats = None

    # ----------------------------------------------------------------- data
    def parts(self) -> PartSet:
        if self._parts is None:
            if self.source_name == "procedural":
                self._parts = procedural_parts(self.n_parts, self.seed, self.families, self.cache_dir, self.progress,
                                               axes=self.sketch_axes)
            else:
                self._parts = json_parts(self.source_name, progress=self.progress)
            self._splits = split_indices(len(self._parts), self.seed)
        return self._parts

    def split(self, split: str) -> PartSet:
        if split not in SPLITS:
            raise GensciError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        parts = self.parts()
        return parts.take(self._splits[split])

    def prepare(self) -> None:
        """Statistics of the train split, once (the latent statistics :meth:`attach` adds stay)."""
        if self._stats is not None:
            return
        train = self.split("train")
        specs = []
        if "family" in self.condition_names and train.family is not None:
            classes = sorted(set(train.family.tolist()))
            specs.append({"name": "family", "kind": "categorical", "num_classes": len(classes), "classes": classes})
        for k, name in enumerate(DIMENSIONS):
            if name in self.condition_names:
                v = train.dims[:, k]  # 0.8 mm to 2 m: on a log scale, so that requests are judged relatively
                specs.append({"name": name, "kind": "numeric", "low": float(v.min()), "high": float(v.max()),
                              "mean": float(np.log(v).mean()), "std": float(np.log(v).std() or 1.0), "scale": "log",
                              "unit": "mm"})
        log_size = np.log(train.size)
        self._stats = {"conditions": specs, "log_size_mean": float(log_size.mean()),
                       "log_size_std": float(log_size.std() or 1.0), "source": self.source_name,
                       "n_train": len(train), "skipped": dict(train.skipped)}

    def encode_conditions(self, family: np.ndarray | None, dims: np.ndarray | None, n: int) -> dict[str, Tensor]:
        """Classes as indices, sides as raw mm (the network normalises); missing -> NaN."""
        out = {}
        for spec in self._require_stats()["conditions"]:
            if spec["name"] == "family":
                lookup = {c: float(i) for i, c in enumerate(spec["classes"])}
                vals = [math.nan] * n if family is None else [lookup.get(str(f), math.nan) for f in family]
                out["family"] = torch.tensor(vals, dtype=torch.float32)
            elif spec["name"] in DIMENSIONS:  # the image condition is added where there is one
                k = DIMENSIONS.index(spec["name"])
                out[spec["name"]] = torch.full((n,), math.nan) if dims is None else \
                    torch.as_tensor(dims[:, k], dtype=torch.float32)
        return out

    # -------------------------------------------------------------- stages
    def stage_kwargs(self, stage: str) -> dict[str, Any]:
        """The image encoder's CAD head reads the autoencoder's latent: its size."""
        if stage != "image_encoder":
            return {}
        stats = self._require_stats()
        if "latent_mean" not in stats:
            raise GensciError("the CAD image encoder needs the autoencoder stage first")
        return {"latent": len(stats["latent_mean"])}

    def stage_dataset(self, stage: str, split: str) -> Dataset:
        if stage == "image_encoder":  # renders and standardised latents (domains/cad/images.py)
            from domains.cad.images import stage_dataset

            return stage_dataset(self, split)
        # the autoencoder's vectors, with their lengths (rows to the first EOS) as ``sizes``: training
        # batches group parts of similar length, and the autoencoder runs only to the batch's longest
        vectors = torch.as_tensor(self.split(split).vectors, dtype=torch.long)
        data = BatchDataset(vectors)
        data.sizes = (vectors[:, :, 0] != EOS).sum(1) + 1
        return data

    def attach(self, stage: str, module: nn.Module) -> None:
        """The trained autoencoder: the latent mean and spread come from the train split once.
        The image encoder: its settings, and the ``image`` condition of the prior."""
        super().attach(stage, module)
        if stage == "image_encoder":
            from domains.cad.images import attach

            attach(self, module)
            return
        stats = self._require_stats()
        if "latent_mean" not in stats:
            z = self._encode(self.split("train").vectors)
            stats.update(latent_mean=z.mean(0).tolist(), latent_std=z.std(0).clamp_min(1e-4).tolist())

    @torch.no_grad()
    def _encode(self, vectors: np.ndarray, batch: int = 512) -> Tensor:
        from domains.cad.evaluation import encode_vectors

        return encode_vectors(self.module("autoencoder"), vectors, batch)

    def dataset(self, split: str) -> Dataset:
        """The prior's states ``[standardised z, standardised log size]`` with the conditions."""
        stats = self._require_stats()
        if "latent_mean" not in stats:
            raise GensciError("the CAD prior needs the autoencoder stage first (gensci train ... stage=autoencoder)")
        part = self.split(split)
        z = (self._encode(part.vectors) - torch.tensor(stats["latent_mean"])) / torch.tensor(stats["latent_std"])
        s = (torch.as_tensor(np.log(part.size), dtype=torch.float32) - stats["log_size_mean"]) / stats["log_size_std"]
        cond = self.encode_conditions(part.family, part.dims, len(part))
        if any(c["name"] == "image" for c in stats["conditions"]):
            from domains.cad.images import condition

            cond["image"] = condition(self, split, len(part))
        return BatchDataset(torch.cat([z, s[:, None]], dim=1), cond)

    # ------------------------------------------------------------ network
    def network_kwargs(self) -> dict[str, Any]:
        stats = self._require_stats()
        if "latent_mean" not in stats:
            raise GensciError("the CAD prior needs the autoencoder stage first (gensci train ... stage=autoencoder)")
        return {"dim": len(stats["latent_mean"]) + 1, "conditions": stats["conditions"]}

    # ------------------------------------------------------------ sampling
    def plan(self, n: int, conditions: ConditionRequest | None = None, **options: Any) -> SamplePlan:
        """Conditions as requested; the option ``image=PATH`` (``--image photo.png``) guides the
        prior on the image encoder's embedding of that picture (a render, sketch or photo)."""
        unknown = sorted(set(options) - {"image"})
        if unknown:
            raise GensciError(f"the cad domain takes one sampling option, image=PATH; got {', '.join(unknown)}")
        image = options.get("image")
        if image is not None and (image is True or not str(image).strip()):
            raise GensciError("--image needs an image file: --image photo.png")
        stats = self._require_stats()
        checked = check_conditions(stats["conditions"], conditions)
        family = np.array([checked["family"]] * n, dtype=object) if "family" in checked else None
        dims = None
        if any(d in checked for d in DIMENSIONS):
            dims = np.array([[checked.get(d, math.nan) for d in DIMENSIONS]] * n, dtype=np.float64)
        cond = self.encode_conditions(family, dims, n) if checked else None
        if image is not None:
            from domains.cad.images import embed_file

            cond = {**(cond or {}), "image": embed_file(self, str(image)).expand(n, -1).clone()}
            checked["image"] = str(image)
        return SamplePlan(shape=(n, len(stats["latent_mean"]) + 1), cond=cond, info={"requested": checked})

    @torch.no_grad()
    def decode(self, x: Tensor, plan: SamplePlan) -> CADSamples:
        """Latents through the frozen decoder to vectors, histories and real sizes (mm): the size
        the prior drew, or, with requested box sides and ``fit_requested_size``, the size that
        meets them (:mod:`domains.cad.sizing`)."""
        stats = self._require_stats()
        ae = self.module("autoencoder")
        device = next(ae.parameters()).device
        mean, std = (torch.tensor(stats[k], device=x.device) for k in ("latent_mean", "latent_std"))
        z = x[:, :-1].float() * std + mean
        sizes = torch.exp(x[:, -1].double().cpu() * stats["log_size_std"] + stats["log_size_mean"]).numpy()
        vectors = ae.decode(z.to(device), constrained=self.constrained_decoding,
                            simple_loops=self.simple_loops).cpu().numpy()
        requested = dict(plan.info.get("requested", {}))
        sides = {k: float(requested[k]) for k in DIMENSIONS if k in requested} if self.fit_requested_size else {}
        parts = []
        for vec, size in zip(vectors, sizes):
            try:
                seq = decode_vector(vec)
                scale = (fitted_scale(seq, sides) if sides else None) or float(size) / PART_SIZE
                seq = seq.transformed(scale, np.zeros(3))
                parts.append(GeneratedPart(vec, seq, None, requested, scale * PART_SIZE))
            except CADError as err:
                parts.append(GeneratedPart(vec, None, str(err), requested, float(size)))
        return CADSamples(parts)

    def build(self, samples: CADSamples, folder: Path | None = None, points: int = 0) -> list[Any]:
        """Build every decoded part in the worker (writing STEP and STL into ``folder`` if given,
        sampling ``points`` surface points per part if asked). With ``fit_requested_size``, a
        part whose solid misses the requested box sides is resized on the solid's box and built
        again (:mod:`domains.cad.sizing`)."""
        from domains.cad.worker import BuildResult, build_many

        todo = [i for i, p in enumerate(samples.parts) if p.sequence is not None]
        if not todo:
            samples.builds = [BuildResult(ok=False, cause=f"decode: {p.error}") for p in samples.parts]
            return samples.builds
        steps = [folder / f"part_{i:03d}.step" for i in todo] if folder else None
        stls = [folder / f"part_{i:03d}.stl" for i in todo] if folder else None
        done = list(build_many([samples.parts[i].sequence for i in todo], steps, stls, timeout=self.build_timeout,
                               progress=self.progress, points=points))
        if self.fit_requested_size:  # where the estimated box missed the solid's, size the part on the solid's box
            redo = []
            for k, (i, r) in enumerate(zip(todo, done)):
                part = samples.parts[i]
                sides = {d: float(part.requested[d]) for d in DIMENSIONS if d in part.requested}
                if sides and r.ok and r.bbox is not None:
                    f = scale_for_sides(np.subtract(r.bbox[1], r.bbox[0]), sides)
                    if f is not None and abs(f - 1.0) > 1e-6:
                        part.sequence = part.sequence.transformed(f, np.zeros(3))
                        part.size *= f
                        redo.append(k)
            if redo:
                again = build_many([samples.parts[todo[k]].sequence for k in redo],
                                   [steps[k] for k in redo] if steps else None, [stls[k] for k in redo] if stls else None,
                                   timeout=self.build_timeout, progress=False, points=points)
                for k, r in zip(redo, again):
                    done[k] = r
        results: list[Any] = [BuildResult(ok=False, cause=f"decode: {p.error}") for p in samples.parts]
        for i, r in zip(todo, done):
            results[i] = r
        samples.builds = results
        return results

    def rejected(self, samples: CADSamples) -> list[int]:
        """Parts that do not decode, do not build or are not strictly valid (built here, in the
        worker; the results stay on ``samples`` so :meth:`write` does not build them again)."""
        results = samples.builds if samples.builds is not None else self.build(samples)
        return [i for i, r in enumerate(results) if not (r.ok and r.strict_valid)]

    def replace(self, samples: CADSamples, rows, fresh: CADSamples, attempt: int) -> CADSamples:
        """The redrawn parts in place of the rejected ones, marked with their attempt."""
        parts, builds = list(samples.parts), None if samples.builds is None else list(samples.builds)
        fresh_builds = fresh.builds if fresh.builds is not None else self.build(fresh)
        for row, part, result in zip(rows, fresh.parts, fresh_builds):
            part.attempt = attempt
            parts[row] = part
            if builds is not None:
                builds[row] = result
        return CADSamples(parts, builds)

    def write(self, samples: CADSamples, path: str | Path) -> Path:
        """A folder with ``part_XXX.step``, ``.stl``, ``.json`` and an isometric ``.png`` render per part that builds (the
        ``.json`` history also for parts that decode but fail to build), and ``summary.json``:
        counts, the requested conditions, and every failure with its stage and cause."""
        from domains.cad.json_codec import write_json

        folder = Path(path)
        if folder.suffix.lower() in (".step", ".stp", ".stl", ".json"):
            raise GensciError(f"-o {path}: the cad domain writes a folder of parts (part_000.step, ...), not one file")
        if folder.exists() and not folder.is_dir():
            raise GensciError(f"-o {path} exists and is not a folder")
        folder.mkdir(parents=True, exist_ok=True)
        results = self.build(samples, folder)
        failures = []
        from domains.cad.render import render_stl, write_png

        for i, (part, result) in enumerate(zip(samples.parts, results)):
            if part.sequence is not None:
                write_json(part.sequence, folder / f"part_{i:03d}.json")
            if result.ok and result.stl_path:
                write_png(render_stl(result.stl_path, views=("iso",), size=256)[0], folder / f"part_{i:03d}.png")
            if not (result.ok and result.strict_valid):
                cause = result.cause or "; ".join(result.strict_reasons) or "not strictly valid"
                failures.append({"part": i, "stage": "decode" if part.sequence is None else
                                 ("build" if not result.ok else "validity"), "cause": cause,
                                 "vector": _rows_text(part.vector) if part.sequence is None else None})
        summary = {"n": len(samples), "decoded": sum(p.sequence is not None for p in samples.parts),
                   "redrawn": sum(p.attempt > 0 for p in samples.parts),
                   "attempts": [p.attempt for p in samples.parts],
                   "built": sum(bool(r.ok) for r in results), "strict_valid": sum(bool(r.strict_valid) for r in results),
                   "requested": samples.parts[0].requested if samples.parts else {},
                   "sizes_mm": [p.size for p in samples.parts], "failures": failures}
        with atomic_write(folder / "summary.json") as handle:
            json.dump(summary, handle, indent=1)
        if self.progress:
            print(f"{summary['strict_valid']} of {summary['n']} parts strictly valid ({summary['redrawn']} redrawn, "
                  f"{summary['n'] - summary['decoded']} undecodable, {summary['decoded'] - summary['built']} failed "
                  f"to build); causes in {folder / 'summary.json'}", file=sys.stderr)
        return folder

    def read(self, path: str | Path) -> CADSamples:
        """The parts of a folder :meth:`write` produced (their ``.json`` histories), with the
        requested conditions of its ``summary.json``."""
        from domains.cad.json_codec import read_json
        from domains.cad.vector import encode

        folder = Path(path)
        if not folder.is_dir():
            raise GensciError(f"{path} is not a folder of generated parts")
        summary_path = folder / "summary.json"
        summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
        n = int(summary.get("n", 0)) or 1 + max((int(p.stem.split("_")[1]) for p in folder.glob("part_*.json")), default=-1)
        parts = []
        for i in range(n):
            f = folder / f"part_{i:03d}.json"
            if f.is_file():
                seq = read_json(f)
                parts.append(GeneratedPart(encode(seq), seq, None, dict(summary.get("requested", {}))))
            else:
                cause = next((x["cause"] for x in summary.get("failures", []) if x["part"] == i), "no file")
                parts.append(GeneratedPart(np.zeros((0, 17), dtype=np.int64), None, cause, dict(summary.get("requested", {}))))
        if not parts:
            raise GensciError(f"{path} holds no part_XXX.json files")
        return CADSamples(parts)

    # -------------------------------------------------------------- metrics
    def evaluate(self, samples: CADSamples, split: str = "test") -> dict[str, float]:
        """Validity (strict and DeepCAD's), COV / MMD / JSD against ``eval_refs`` parts of
        ``split``, the requested conditions' errors, the autoencoder's reconstruction of ``split``
        and GenCAD's image-to-CAD retrieval among its renders, shaded and as edge sketches, each
        queried by any view and by the isometric view alone (computed once per split) --
        :mod:`domains.cad.evaluation`, :mod:`domains.cad.retrieval`."""
        from domains.cad.evaluation import (POINTS, family_accuracy, generation_metrics, reconstruction_metrics,
                                            reference_clouds)

        results = self.build(samples, points=POINTS)
        n = len(samples)
        out = {"n": float(n), "decoded": sum(p.sequence is not None for p in samples.parts) / n,
               "strict_validity": sum(bool(r.strict_valid) for r in results) / n,
               "invalid_ratio_deepcad": 1.0 - sum(bool(r.deepcad_valid) for r in results) / n,
               "redrawn": sum(p.attempt > 0 for p in samples.parts) / n}
        held = self.split(split)
        cache = self.__dict__.setdefault("_eval_cache", {})
        if ("refs", split) not in cache:
            cache[("refs", split)] = reference_clouds(held.vectors, self.eval_refs, progress=self.progress,
                                                      timeout=self.build_timeout)
        out.update(generation_metrics([r.points if r.ok and r.strict_valid else None for r in results],
                                      cache[("refs", split)]))
        requested = samples.parts[0].requested if samples.parts else {}
        for k, name in enumerate(DIMENSIONS):
            if name in requested:
                errs = [abs((r.bbox[1][k] - r.bbox[0][k]) - requested[name]) / requested[name]
                        for r in results if r.ok and r.bbox is not None]
                if errs:
                    out[f"{name}_relative_error"] = float(np.median(errs))
                    out[f"{name}_within_5pct"] = float(np.mean(np.asarray(errs) <= 0.05))
        ae = self.attached().get("autoencoder")
        decoded = [p.vector for p in samples.parts if p.sequence is not None]
        if ae is not None and "family" in requested and decoded:
            train = self.split("train")
            if train.family is not None:
                rows = np.random.default_rng(0).permutation(len(train))[:5000]
                out["family_accuracy"] = family_accuracy(ae, train.vectors[rows], train.family[rows], np.stack(decoded),
                                                         str(requested["family"]))
        if "image_encoder" in self.attached():
            if ("retrieval", split) not in cache:
                from domains.cad.retrieval import evaluate_retrieval

                found: dict[str, float] = {}
                for style, view in itertools.product(("shaded", "edges"), (None, "iso")):
                    if view is not None and view not in self.image_views:
                        continue
                    try:
                        got = evaluate_retrieval(self, split, style=style, view=view)
                    except CADError:  # fewer than two rendered parts in the split: nothing to rank
                        break
                    tag = style if view is None else f"{style}_{view}"
                    found.update({f"retrieval_{tag}_{k}": float(v) for k, v in got.items() if k.startswith("top1@")})
                cache[("retrieval", split)] = found
            out.update(cache[("retrieval", split)])
        if ae is not None:
            if ("recon", split) not in cache:
                cache[("recon", split)] = reconstruction_metrics(ae, held.vectors[:2000], progress=self.progress,
                                                                 timeout=self.build_timeout,
                                                                 simple_loops=self.simple_loops)
            out.update(cache[("recon", split)])
        return out
