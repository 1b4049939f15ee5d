"""The contract between the engine and a domain adapter.

A domain owns everything that knows about its objects: reading data, featurising it into
tensors, the network's input/output sizes, decoding tensors back into objects, metrics and
file output. The engine (training, checkpoints, CLI, :func:`gensci.load`) only calls the
methods below, so writing a domain means subclassing :class:`Domain` and naming it in a
config (``domain._target_``). ``domains/points`` is the smallest complete example.

Data travel as :class:`Batch` records: ``x`` the clean state (``t = 1``), ``cond`` the
named conditions (float tensors ``(B,)``, NaN = missing), ``mask`` for variable-size states.

Masks. A mask marks the real entries of a padded state (True / 1 = real); the space's
``project`` holds padded entries fixed (so they take no noise and no update) and the losses
leave them out (:func:`gensci.core.process.masked_mean`). A domain may use one of three
shapes:

* a token mask ``(B, N)`` for per-node states ``(B, N, ...)`` (points of a cloud, residues);
* a pair mask ``(B, N, N)`` for per-pair states ``(B, N, N, ...)`` (bonds, distances);
* an element mask of the state's own shape ``(B, ...)`` when entries of one node differ
  (undefined torsion angles, the bond row of a padded atom).

A space broadcasts a mask against a state by covering its leading axes:
:func:`gensci.core.spaces.expand_mask` appends trailing unit axes until the ranks match,
so ``mask`` applies to ``x.shape[:mask.ndim]`` and is shared by the remaining axes
(``mask.shape`` must equal ``x.shape[:mask.ndim]``). A state of several named fields
(:class:`gensci.core.state.State`) has one mask per field: a dict field name -> mask (any
of the shapes above, for that field) or None (every entry of that field is real).

Samples travel one way: :meth:`Domain.decode` returns objects that carry what
:meth:`Domain.write` and :meth:`Domain.evaluate` need (the requested conditions, per-sample
sizes, writing options), and :meth:`Domain.read` recovers them from a written file, so a
file evaluated with ``gensci evaluate --samples FILE`` gets the same condition metrics as
fresh samples.
"""

from __future__ import annotations

import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from gensci.core.process import Condition
from gensci.core.spaces import Euclidean, Space
from gensci.core.state import Mask, Tensors, batch_map, take
from gensci.errors import GensciError

__all__ = ["Batch", "BatchDataset", "Domain", "SamplePlan", "ConditionRequest", "parse_condition_values", "check_conditions",
           "describe_condition", "parse_count_range", "draw_counts"]


@dataclass
class Batch:
    """A collated minibatch of clean data.

    ``x`` is the clean state ``(B, ...)``; ``x0`` (optional) the start state paired with each
    row (a conformer's force-field geometry for its DFT one), which training uses instead of
    :meth:`Domain.source`; ``cond`` maps condition names to float tensors
    ``(B,)`` (NaN = missing); ``mask`` is None (every entry real), a token mask ``(B, N)``, a
    pair mask ``(B, N, N)`` or an element mask of ``x``'s shape, covering the leading axes
    ``x.shape[:mask.ndim]`` (module docstring); for a multi-field state, a dict field name ->
    mask or None.
    """

    x: Tensors
    cond: Condition | None = None
    mask: Mask = None
    #: the t = 0 state paired with each clean sample (bridge matching), or None to draw it
    x0: Tensors | None = None

    def to(self, device: torch.device | str) -> Batch:
        move = lambda v: v.to(device)  # noqa: E731
        return Batch(batch_map(move, self.x), batch_map(move, self.cond), batch_map(move, self.mask),
                     batch_map(move, self.x0))

    def __len__(self) -> int:
        return self.x.shape[0]


class BatchDataset(Dataset):
    """Rows of clean states (a tensor or a :class:`~gensci.core.state.State`) with their
    conditions and masks, served a whole batch at a time: a DataLoader with a batch size
    calls :meth:`__getitems__` with the batch's indices and :meth:`Domain.collate` passes
    the :class:`Batch` through."""

    def __init__(self, x: Tensors, cond: Condition | None = None, mask: Mask = None, x0: Tensors | None = None):
        self.x, self.cond, self.mask, self.x0 = x, (cond or None), mask, x0

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __getitems__(self, indices: list[int]) -> Batch:
        rows = torch.as_tensor(indices, dtype=torch.long)
        return Batch(x=take(self.x, rows), cond=take(self.cond, rows), mask=take(self.mask, rows),
                     x0=take(self.x0, rows))

    def __getitem__(self, i: int) -> Batch:
        return self.__getitems__([i])


#: conditions requested by a user at sampling time: name -> number or class name
ConditionRequest = dict[str, Any]


def parse_condition_values(pairs: Sequence[str]) -> ConditionRequest:
    """Parse ``["gap=0.25", "label=1"]`` into ``{"gap": "0.25", "label": "1"}``."""
    out: ConditionRequest = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise GensciError(f"condition {pair!r} must look like name=value")
        out[name.strip()] = value.strip()
    return out


def parse_count_range(value: Any, low: int, high: int, what: str = "--atoms", unit: str = "heavy atoms") -> tuple[int, int] | None:
    """A sampling option ``N`` or ``LO..HI`` (a size, or a range of sizes drawn from) as
    ``(lo, hi)``: ``None`` -> None (the caller's default); ``9`` or ``"9"`` -> (9, 9);
    ``"5..9"`` -> (5, 9).

    Raises :class:`GensciError` naming the option ``what`` and the ``unit`` unless the text is
    a whole number or two joined by ``..`` with ``low <= lo <= hi <= high``.
    """
    if value is None:
        return None
    text = str(value).strip()
    lo_text, sep, hi_text = text.partition("..")
    try:
        lo = int(lo_text)
        hi = int(hi_text) if sep else lo
    except ValueError:
        raise GensciError(f"{what} must be a number of {unit} (N) or a range (LO..HI), got {text!r}") from None
    if lo > hi:
        raise GensciError(f"{what} {text!r}: the range is empty (its low end exceeds its high end)")
    if lo < low or hi > high:
        raise GensciError(f"{what} {text!r}: the model makes {low} to {high} {unit}")
    return lo, hi


def draw_counts(histogram: Sequence[float] | Tensor, n: int, window: tuple[int, int] | None = None, seed: Any = 0,
                what: str = "--atoms-seed") -> Tensor:
    """``n`` sizes (atoms, residues) drawn from a training ``histogram`` (``histogram[k]`` =
    examples of size ``k``), restricted to the inclusive ``window`` ``(lo, hi)`` when given; a
    window holding no training size is drawn uniformly. ``seed`` seeds the draw (``what`` names
    the option in the error for a non-integer seed)."""
    hist = torch.as_tensor(histogram, dtype=torch.float64)
    if window is not None:
        keep = torch.zeros_like(hist)
        keep[window[0]: window[1] + 1] = 1.0
        hist = hist * keep
        if hist.sum() == 0:  # no training example of those sizes: uniform over the window
            hist = keep
    try:
        g = torch.Generator().manual_seed(int(seed))
    except (TypeError, ValueError):
        raise GensciError(f"{what} must be an integer, got {seed!r}") from None
    return torch.multinomial(hist / hist.sum(), n, replacement=True, generator=g)


def describe_condition(spec: dict[str, Any]) -> str:
    """``gap (numeric, trained on [0.1, 0.6] Ha)`` or ``label (one of 0, 1)``."""
    if spec["kind"] == "numeric":
        unit = f" {spec['unit']}" if spec.get("unit") else ""
        return f"{spec['name']} (numeric, trained on [{spec['low']:g}, {spec['high']:g}]{unit})"
    if spec["kind"] == "vector":
        return f"{spec['name']} (a vector of {spec['dim']} numbers, given through a sampling option)"
    return f"{spec['name']} (one of {', '.join(spec['classes'])})"


def check_conditions(specs: Sequence[dict[str, Any]], conditions: ConditionRequest | None) -> dict[str, Any]:
    """Requested values checked against condition specs (dicts with ``name``, ``kind`` and
    ``low`` / ``high`` or ``classes``): numbers as floats, classes as strings.

    Raises :class:`GensciError` for an unknown name (listing what the model knows), a
    non-number, a value outside the training range, an unknown class or a vector condition
    (which a domain takes through a sampling option of its own, e.g. an image file, not as
    ``name=value``).
    """
    by_name = {spec["name"]: spec for spec in specs}
    out: dict[str, Any] = {}
    for name, value in (conditions or {}).items():
        if name not in by_name:
            known = ", ".join(describe_condition(spec) for spec in by_name.values()) or "none (this model is unconditional)"
            raise GensciError(f"unknown condition {name!r}; this model knows: {known}")
        spec = by_name[name]
        if spec["kind"] == "vector":
            raise GensciError(f"condition {name!r} is a vector of {spec['dim']} numbers: the domain takes it through a "
                              f"sampling option of its own, not as {name}=value")
        if spec["kind"] == "numeric":
            try:
                v = float(value)
            except (TypeError, ValueError):
                raise GensciError(f"condition {name!r} needs a number, got {value!r}") from None
            if not spec["low"] <= v <= spec["high"]:
                unit = f" {spec['unit']}" if spec.get("unit") else ""
                raise GensciError(f"condition {name}={v:g} is outside the training range [{spec['low']:g}, {spec['high']:g}]{unit}")
            out[name] = v
        else:
            if str(value) not in spec["classes"]:
                raise GensciError(f"condition {name}={value} is not a known class; choose one of {', '.join(spec['classes'])}")
            out[name] = str(value)
    return out


@dataclass
class SamplePlan:
    """What the engine needs to draw ``n`` samples: state shape, mask, encoded conditions.

    ``shape`` is the state shape ``(n, ...)`` (for a multi-field state, a dict field name ->
    shape); ``mask`` is None, a token mask ``(n, N)``, a pair mask ``(n, N, N)`` or an
    element mask of ``shape`` (covering the leading axes of the state, as in :class:`Batch`;
    for a multi-field state, a dict field name -> mask or None); ``cond`` the encoded
    conditions ``{name: (n,)}``. ``info`` is the domain's own record for :meth:`Domain.decode`
    (per-sample sizes, requested values, sampling options); the engine never reads it, and
    whatever :meth:`Domain.write` or :meth:`Domain.evaluate` needs of it must travel on the
    decoded samples.
    """

    shape: tuple[int, ...]
    mask: Tensor | None = None
    cond: Condition | None = None
    info: dict[str, Any] = field(default_factory=dict)
    #: the start state of each sample (refining given inputs, :meth:`Domain.start`), or None
    #: to draw it from :meth:`Domain.source` / the process prior
    x0: Tensors | None = None


class Domain(ABC):
    """Base class of domain adapters. Subclasses fill in data, decoding, metrics and files.

    Statistics: :meth:`prepare` computes them from the train split and stores the dict in
    ``self._stats``; :meth:`stats`, :meth:`load_stats`, :attr:`conditions` and
    :meth:`_require_stats` (which calls :meth:`prepare` on first use) are defaults over it,
    so a domain overrides them only to keep its statistics elsewhere.

    Masks (module docstring): a domain's :meth:`collate` and :meth:`plan` give None, a token
    mask ``(B, N)`` for per-node states, a pair mask ``(B, N, N)`` for per-pair states or an
    element mask of the state's own shape ``(B, ...)``; the space broadcasts it over
    ``x.shape[:mask.ndim]`` (:func:`gensci.core.spaces.expand_mask`). A multi-field state has
    one mask per field (a dict field name -> mask or None).
    """

    #: short name, e.g. "points"
    name: str = "domain"
    #: the default file suffix :meth:`write` produces, e.g. ".csv"
    suffix: str = ".txt"

    # ----------------------------------------------------------------- data
    @abstractmethod
    def prepare(self) -> None:
        """Read or build the data and compute the statistics (from the train split only)."""

    @abstractmethod
    def dataset(self, split: str) -> Dataset:
        """The ``"train"``, ``"val"`` or ``"test"`` split as a torch Dataset of items."""

    def collate(self, items: list[Any] | Batch) -> Batch:
        """Collate dataset items into a :class:`Batch` (default: a :class:`BatchDataset`'s
        batch as it is, or dicts of fixed-size tensors stacked)."""
        if isinstance(items, Batch):
            return items
        x = torch.stack([it["x"] for it in items])
        cond = None
        if items and items[0].get("cond"):
            cond = {k: torch.stack([torch.as_tensor(it["cond"][k], dtype=torch.float32) for it in items]) for k in items[0]["cond"]}
        return Batch(x=x, cond=cond)

    def source(self, n: int, generator: torch.Generator | None = None) -> Tensor | None:
        """Draws from a non-Gaussian source distribution at ``t = 0``, or None for the process prior."""
        return None

    # ------------------------------------------------------------ network
    def space(self) -> Space:
        """The space clean states live in."""
        return Euclidean()

    def process_kwargs(self) -> dict[str, Any]:
        """Extra keyword arguments for the process beyond ``space`` (e.g. data marginals)."""
        return {}

    @abstractmethod
    def network_kwargs(self) -> dict[str, Any]:
        """Keyword arguments the network factory needs (sizes, condition specs)."""

    #: weight of :meth:`clean_loss` in the training loss (0: the process's loss alone)
    clean_loss_weight: float = 0.0

    def clean_loss(self, x1_hat: Any, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        """A loss on the clean sample the network's prediction points at
        (:meth:`gensci.core.process.Process.clean_estimate`), against ``batch.x``, added to the
        process's loss with weight :attr:`clean_loss_weight` — for what the data's own geometry
        says and a per-coordinate loss weighs poorly (e.g. bond lengths of a 3D molecule;
        AlphaFold's and GeoDiff's structure losses are of this kind). Returns the scalar and
        detached logs."""
        raise NotImplementedError(f"{type(self).__name__} has clean_loss_weight > 0 but no clean_loss")

    # -------------------------------------------------------------- stages
    #: names of the stages trained before the generative one, in order (e.g.
    #: ``("autoencoder",)``); each is trained from ``config.stages.<name>`` (a module and an
    #: objective) and handed to :meth:`attach`, frozen, before the next stage
    stages: tuple[str, ...] = ()

    def stage_kwargs(self, stage: str) -> dict[str, Any]:
        """Keyword arguments the module of ``stage`` needs besides its config (sizes)."""
        return {}

    def stage_dataset(self, stage: str, split: str) -> Dataset:
        """The data ``stage`` trains on (default: :meth:`dataset`)."""
        return self.dataset(split)

    def attach(self, stage: str, module: torch.nn.Module) -> None:
        """Receive the trained, frozen module of ``stage`` (after its training, and when a
        checkpoint is loaded); later stages' data and :meth:`decode` use it through
        :meth:`module`. A domain that derives statistics from it (e.g. latent scales)
        extends this and records them in :meth:`stats`."""
        self.__dict__.setdefault("_stage_modules", {})[stage] = module

    def module(self, stage: str) -> torch.nn.Module:
        """The attached module of ``stage``."""
        modules = self.__dict__.get("_stage_modules", {})
        if stage not in modules:
            raise GensciError(f"the {self.name} domain needs its {stage!r} stage first: train it "
                              f"(gensci train ... stage={stage}) or load a checkpoint that holds it")
        return modules[stage]

    def attached(self) -> dict[str, torch.nn.Module]:
        """Every attached stage module by name."""
        return dict(self.__dict__.get("_stage_modules", {}))

    @property
    def conditions(self) -> list[dict[str, Any]]:
        """Condition specs as plain dicts: ``stats()["conditions"]``, or none when the
        statistics hold no such entry. Each has ``name``, ``kind`` and ``low`` / ``high`` or
        ``classes``; networks take them as they are (see
        :class:`gensci.nn.conditions.ConditionSpec`, which ignores the descriptive keys)."""
        return [dict(spec) for spec in self.stats().get("conditions") or []]

    # ---------------------------------------------------------- statistics
    #: the statistics :meth:`prepare` computed (or :meth:`load_stats` restored); None before
    _stats: dict[str, Any] | None = None

    def _require_stats(self) -> dict[str, Any]:
        """The statistics, computed by :meth:`prepare` on first use."""
        if self._stats is None:
            self.prepare()
        if self._stats is None:
            raise GensciError(f"{type(self).__name__}.prepare() computed no statistics (it must set self._stats)")
        return self._stats

    def stats(self) -> dict[str, Any]:
        """Everything decoding needs after training (plain types / tensors): saved in
        checkpoints. Default: a shallow copy of ``self._stats`` (computed lazily)."""
        return dict(self._require_stats())

    def load_stats(self, stats: dict[str, Any]) -> None:
        """Restore :meth:`stats` from a checkpoint, without reading any data. Default: store
        a shallow copy as ``self._stats``."""
        self._stats = dict(stats)

    # ------------------------------------------------------------ sampling
    @abstractmethod
    def plan(self, n: int, conditions: ConditionRequest | None = None, **options: Any) -> SamplePlan:
        """Shapes, masks and encoded conditions for ``n`` samples.

        Must raise :class:`GensciError` for unknown condition names (listing the known
        ones) and for values the model cannot honour (giving the training range).
        """

    def evaluation_inputs(self, split: str, n: int) -> Any:
        """Held-out inputs a refining model is evaluated on (starts whose references
        :meth:`evaluate` knows), at most ``n``; None for models that draw their samples."""
        return None

    def start(self, inputs: Any, **options: Any) -> SamplePlan:
        """A plan whose start states (``SamplePlan.x0``) are the given ``inputs`` (a path or the
        domain's objects), for models that carry inputs to outputs (bridges, refinement:
        :meth:`gensci.model.GenerativeModel.refine`); one sample per input, in order."""
        raise GensciError(f"the {self.name} domain does not refine given inputs; draw new samples with sample()")

    def finish(self, x: Tensor, plan: SamplePlan) -> Tensor:
        """The sampler's final states, corrected before they are decoded (a projection onto
        the domain's constraints, a relaxation); the states as they are by default. It runs
        once, on the last states only: a trajectory's earlier frames are the sampler's own,
        its last frame is the finished state."""
        return x

    @abstractmethod
    def decode(self, x: Tensor, plan: SamplePlan) -> Any:
        """Turn sampled states into domain objects that carry everything :meth:`write` and
        :meth:`evaluate` need: the requested conditions, per-sample sizes and the writing
        options :meth:`plan` was given."""

    @abstractmethod
    def write(self, samples: Any, path: str | Path) -> Path:
        """Write samples to ``path`` atomically, with their requested conditions (so that
        :meth:`read` recovers them); return the path written."""

    #: the domain's own sampling options (``--name VALUE`` on the command line, ``name=`` in
    #: :meth:`gensci.model.GenerativeModel.sample`) and their help, which ``gensci sample MODEL
    #: --help`` lists
    sampling_options: dict[str, str] = {}

    #: the output suffixes :meth:`write` accepts (``""``: a folder); default: :attr:`suffix` alone
    outputs: tuple[str, ...] | None = None

    def check_output(self, path: str | Path) -> Path:
        """Refuse, before any sampling, an output :meth:`write` could not honour: a suffix it does
        not write (:attr:`outputs`), a folder where a file is meant or a file where a folder is
        meant, or a place that cannot be written. Returns ``path``."""
        if "\x00" in str(path):  # the OS refuses it, but only when the samples are written
            raise GensciError(f"-o {str(path)!r}: a path cannot hold a NUL character")
        if any(ord(c) < 32 or ord(c) == 127 for c in str(path)):  # newlines, tabs, escapes: a name no one means
            raise GensciError(f"-o {str(path)!r}: a path cannot hold control characters (line breaks, tabs)")
        path = Path(path)
        accepted = self.outputs if self.outputs is not None else (self.suffix,)
        suffix = path.suffix.lower()
        if suffix not in accepted and not ("" in accepted and not suffix):
            kinds = ", ".join("a folder" if a == "" else a for a in accepted)
            raise GensciError(f"-o {path}: the {self.name} domain writes {kinds}, not {path.suffix or 'a folder'}")
        if suffix and path.is_dir():
            raise GensciError(f"-o {path} is a folder; give a file name ending in {suffix}")
        if not suffix and path.exists() and not path.is_dir():
            raise GensciError(f"-o {path} is a file; the {self.name} domain writes a folder there")
        folder = path if not suffix else path.parent
        blocking = next((p for p in [folder, *folder.parents] if p.exists()), None)
        if blocking is not None and not blocking.is_dir():
            raise GensciError(f"-o {path}: {blocking} is a file, so nothing can be written below it")
        try:  # the folder is made now (writing would make it anyway) and probed with a scratch file
            folder.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".gensci-probe-", dir=folder)
            os.close(fd)
            os.unlink(probe)
        except OSError as err:
            raise GensciError(f"-o {path} cannot be written: {err.strerror or err}") from None
        return path

    #: how many times :meth:`gensci.model.GenerativeModel.sample` redraws the samples
    #: :meth:`rejected` names, unless the caller says otherwise (0: never)
    default_redraws: int = 0

    def rejected(self, samples: Any) -> list[int]:
        """Positions of decoded samples that are not usable objects (a vector that decodes to no
        part, a part the kernel cannot build), which sampling draws again up to its redraw
        limit; none by default."""
        return []

    def replace(self, samples: Any, rows: Sequence[int], fresh: Any, attempt: int) -> Any:
        """``samples`` with the entries at ``rows`` replaced by the redrawn ``fresh`` samples (in
        order), the ``attempt``-th redraw (1, 2, ...), which the domain records so its files and
        metrics can count redraws. Default: through :meth:`items` and :meth:`collect`."""
        items = self.items(samples)
        for row, item in zip(rows, self.items(fresh)):
            items[row] = item
        return self.collect(items)

    def wrap_network(self, network: torch.nn.Module, plan: SamplePlan, process: Any) -> torch.nn.Module:
        """The network the sampler calls for ``plan`` under ``process``: ``network`` itself
        by default; a domain may wrap it, e.g. to correct predictions with a physical
        potential that a sampling option of :meth:`plan` switched on."""
        return network

    def write_trajectory(self, trajectory: Sequence[Any], path: str | Path) -> list[Path]:
        """Write a decoded denoising path (one entry per kept time, each holding every
        sample, as :meth:`gensci.model.GenerativeModel.sample` returns it) atomically;
        return the files written."""
        raise GensciError(f"the {self.name} domain cannot write trajectories")

    def read(self, path: str | Path) -> Any:
        """Read samples back from a file :meth:`write` produced (for ``gensci evaluate``),
        with the requested conditions it records."""
        raise GensciError(f"the {self.name} domain cannot read sample files")

    # --------------------------------------------------------------- design
    def items(self, samples: Any) -> list[Any]:
        """The individual candidates of decoded (or read-back) ``samples``, in order, as the
        design loop's oracles receive them (:mod:`gensci.design`): ``list(samples)`` by
        default; a domain whose samples object is not a sequence of objects overrides it."""
        return list(samples)

    def collect(self, items: Sequence[Any]) -> Any:
        """The samples object of ``items`` (the inverse of :meth:`items`), which
        :meth:`write` accepts: ``list(items)`` by default."""
        return list(items)

    def design_path(self, stem: Path, n: int) -> Path:
        """Where :meth:`write` puts ``n`` samples of a design round named ``stem`` (no
        suffix): ``stem`` + :attr:`suffix` by default; a domain that writes one file per
        sample gives a folder."""
        return stem.with_suffix(self.suffix)

    def candidate_key(self, item: Any) -> str | None:
        """A canonical text that is equal for two candidates that are the same object (a
        canonical SMILES, rounded coordinates), used to skip duplicates across rounds; None
        marks a candidate that failed to decode (it is never scored). Default: ``repr``."""
        return None if item is None else repr(item)

    def candidate_bucket(self, item: Any) -> str | None:
        """The diversity-filter bucket of a candidate (a scaffold, a grid cell, a fold
        class): the loop caps how many candidates of one bucket count as elites. Default:
        the candidate's key (every distinct object is its own bucket)."""
        return self.candidate_key(item)

    def featurise(self, items: Sequence[Any]) -> Batch:
        """Clean training states of ``items`` (as :meth:`collate` gives data), so that a
        design loop can fine-tune the model on its best candidates with the process's own
        loss. The ``cond`` of the batch holds NaN (dropped) conditions unless the items
        carry them."""
        raise GensciError(f"the {self.name} domain cannot turn candidates back into training states, "
                          "so a design loop cannot fine-tune on them")

    def readout(self, x: Tensor, mask: Tensor | None = None) -> Any:
        """A differentiable view of predicted clean states ``x`` (the sampler's state, e.g.
        normalised vectors or centred angles, with the sampler's ``mask``) in the domain's
        own units (vectors, backbone coordinates), on which a differentiable oracle guides
        sampling by its gradient."""
        raise GensciError(f"the {self.name} domain has no differentiable read-out of its states, "
                          "so it cannot be guided by an oracle's gradient")

    def design_oracles(self) -> dict[str, Any]:
        """Built-in design oracles by name: each a factory (called with its keyword options)
        returning a callable ``oracle(items) -> sequence of floats``."""
        return {}

    # -------------------------------------------------------------- metrics
    @abstractmethod
    def evaluate(self, samples: Any, split: str = "test") -> dict[str, float]:
        """Metrics of ``samples`` against the held-out ``split``, with the condition errors of
        the conditions the samples carry. Metrics that need no data are always given; a metric
        the domain cannot compute (no reference data, an input too large) is left out with
        :func:`gensci.skipped.skip` (kind ``"metric"``) rather than failing the whole call;
        :func:`gensci.progress.stage` / :func:`~gensci.progress.track` announce long steps."""

    def use_reference(self, path: str | Path) -> None:
        """Compare samples with the objects in ``path`` (``gensci evaluate --reference PATH``)
        instead of the data the domain's config names: the whole set stands in for the held-out
        split and the training set. Default: refused (the domain reads its data from its config)."""
        raise GensciError(f"the {self.name} domain takes no --reference; it compares with the data its config names")

    def reference_statistics(self) -> dict[str, Any]:
        """Compact statistics of the data :meth:`evaluate` compares with (histograms,
        compositions), which bundling stores in the checkpoint's statistics under
        ``"reference"`` so that a bundled model scores samples without its data. Default: none."""
        return {}

    def figures(self, samples: Any, stem: Path, split: str = "test") -> list[Path]:
        """Optional plots of ``samples`` against ``split``, written as ``<stem>_<what>.png``;
        returns the files written (none by default)."""
        return []
