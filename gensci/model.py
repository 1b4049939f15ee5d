"""Trained models as Python objects: build from a config, load from a checkpoint, sample.

>>> import gensci
>>> model = gensci.load("points/labelled_moons")
>>> pts = model.sample(500, conditions={"label": "1"}, guidance=2.0, seed=0)
>>> model.write(pts, "moons.csv")
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import yaml
from omegaconf import OmegaConf
from torch import nn

from gensci.checkpoint import GENERATIVE, load_checkpoint
from gensci.config import config_dir, instantiate, list_group
from gensci.core import state
from gensci.core.guidance import Guidance
from gensci.core.process import Process
from gensci.core.product import ProductSpace
from gensci.domain import ConditionRequest, Domain
from gensci.errors import GensciError
from gensci.nn.precision import PRECISIONS, with_precision
from gensci.precision_auto import PrecisionChoice, read_precision_check, resolve_precision

__all__ = ["GenerativeModel", "thin_indices", "build", "build_process", "build_stage", "attach_stages", "frozen", "bundled_models", "resolve_model", "load", "make_sampler", "sampler_choice", "sampler_config"]


#: the most samples one call draws (a typo such as -n 10**30 is refused, not run for ever)
MAX_SAMPLES = 10_000_000


def bundled_dir() -> Path:
    return Path(__file__).resolve().parent / "checkpoints"


def bundled_models() -> dict[str, Path]:
    """Bundled checkpoints by name, e.g. ``{"points/moons": Path(...)}``."""
    root = bundled_dir()
    return {str(p.relative_to(root).with_suffix("")): p for p in sorted(root.rglob("*.pt"))}


def resolve_model(name_or_path: str | os.PathLike) -> Path:
    """A checkpoint path from a file path or a bundled model name."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    bundled = bundled_models()
    key = str(name_or_path).removesuffix(".pt")
    if key in bundled:
        return bundled[key]
    if path.exists():
        raise GensciError(f"{str(path)!r} is not a checkpoint file")
    names = ", ".join(bundled) or "none"
    raise GensciError(f"no checkpoint {str(name_or_path)!r}: no such file and no bundled model of that name (bundled: {names})")


def build_process(node: dict[str, Any], domain: Domain) -> Process:
    """The process a config node describes, on the domain's space.

    A product process (a node with ``fields``) builds each field's process on the domain's
    space of that field (``domain.space()`` is then a dict or :class:`ProductSpace`) with
    that field's entry of ``domain.process_kwargs()``."""
    space, kwargs = domain.space(), domain.process_kwargs()
    if "fields" not in node:
        return instantiate(node, space=space, **kwargs)
    spaces = space.spaces if isinstance(space, ProductSpace) else space
    if not isinstance(spaces, dict) or set(spaces) != set(node["fields"]):
        have = list(spaces) if isinstance(spaces, dict) else "one field"
        raise GensciError(f"the process names fields {list(node['fields'])} but the {domain.name} domain's states "
                          f"have {have}")
    fields = {name: instantiate(sub, space=spaces[name], **kwargs.get(name, {})) for name, sub in node["fields"].items()}
    return instantiate({k: v for k, v in node.items() if k != "fields"}, fields=fields)


def build_stage(node: dict[str, Any] | None, domain: Domain, stage: str) -> nn.Module:
    """The untrained module of an earlier ``stage`` from its config node (``stages.<stage>``)."""
    if not node or "model" not in node:
        raise GensciError(f"the {domain.name} domain trains a {stage!r} stage first; the config needs "
                          f"stages.{stage}.model and stages.{stage}.objective")
    return instantiate(node["model"], **domain.stage_kwargs(stage))


def frozen(module: nn.Module) -> nn.Module:
    """``module`` in eval mode with no gradients (a trained stage read by later ones)."""
    return module.eval().requires_grad_(False)


def attach_stages(domain: Domain, stages: dict[str, dict[str, Any]], where: str) -> None:
    """Build each earlier stage ``stages`` holds from its own config, load its weights and
    attach it to the domain, frozen and in eval mode, in the domain's order."""
    for stage in domain.stages:
        if stage not in stages:
            continue
        module = build_stage(stages[stage]["config"], domain, stage)
        try:
            module.load_state_dict(stages[stage]["state_dict"])
        except RuntimeError as err:
            raise GensciError(f"{where}: the {stage!r} weights do not fit its config ({str(err).splitlines()[0]})") from None
        domain.attach(stage, frozen(module))


def build(config: dict[str, Any], domain: Domain) -> tuple[Process, nn.Module]:
    """The process and the network for a prepared (or stats-loaded) domain."""
    process = build_process(config["process"], domain)
    network = instantiate(config["model"], **domain.network_kwargs(), heads=process.heads)
    return process, network


def sampler_config(chosen: str | dict[str, Any] | None, default: dict[str, Any] | None = None) -> dict[str, Any]:
    """The sampler config a sampling call runs: a config-group name (``euler``, ``heun``,
    ``ctmc`` ...), a whole config (with ``_target_``), ``default`` (the model's own) for None,
    or ``default`` with some constructor arguments replaced for a dict without ``_target_``
    (``{"distortion": "polydec"}``); ``{"name": "heun", "final_euler": True}`` replaces them
    in a named sampler's config. The arguments are checked against the sampler's constructor."""
    if isinstance(chosen, str):
        known = list_group("sampler")
        if chosen not in known:
            raise GensciError(f"unknown sampler {chosen!r}; choose one of {', '.join(known)}")
        return dict(OmegaConf.to_container(OmegaConf.load(config_dir() / "sampler" / f"{chosen}.yaml")))
    if chosen is None or "_target_" in chosen:
        config = dict(chosen if chosen is not None else default or {})
    else:
        options = dict(chosen)
        name = options.pop("name", None)
        config = {**(sampler_config(name) if name is not None else dict(default or {})), **options}
    if "_target_" not in config:
        raise GensciError("a sampler config needs a _target_ (or a sampler name)")
    from hydra.utils import get_class

    try:
        target = get_class(config["_target_"])
    except Exception as err:  # hydra wraps the import error in several kinds
        raise GensciError(f"no sampler class {config['_target_']!r}: {' '.join(str(err).split())}") from None
    accepted = sorted(set(inspect.signature(target.__init__).parameters) - {"self", "progress", "args", "kwargs"})
    unknown = sorted(set(config) - set(accepted) - {"_target_"})
    if unknown:
        raise GensciError(f"sampler {target.__name__} takes no option {unknown[0]!r}; it takes {', '.join(accepted)}")
    return config


def split_setting(text: str, what: str = "--setting") -> tuple[str, int | None, list[str]]:
    """``"SAMPLER:STEPS[:KEY=VALUE,...]"`` -> ``(SAMPLER, STEPS, ["KEY=VALUE", ...])``: the
    compact sampling setting the benchmark and bundling scripts take (an empty SAMPLER or STEPS
    is ``""`` or ``None``; option values may hold colons, ``distortion=power:2``)."""
    name, _, rest = text.partition(":")
    steps, _, extra = rest.partition(":")
    try:
        count = int(steps) if steps else None
    except ValueError:
        raise GensciError(f"{what} {text}: STEPS must be an integer (SAMPLER:STEPS[:KEY=VALUE,...])") from None
    return name, count, [item for item in extra.split(",") if item]


def sampler_choice(name: str | None, items: Sequence[str], what: str = "--sampler-option") -> str | dict[str, Any] | None:
    """A sampler ``name`` with ``KEY=VALUE`` constructor arguments on top (values read as YAML:
    ``true``, ``0.2``, ``power:6``), as :meth:`GenerativeModel.sample` takes it: the name alone
    when there are no options, options over the model's own sampler when there is no name.
    ``what`` names the option in errors."""
    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise GensciError(f"{what} takes KEY=VALUE, got {item!r}")
        if key in ("name", "_target_", "progress"):
            raise GensciError(f"{what} {key}: choose the sampler by its name instead")
        options[key] = yaml.safe_load(value)
    if not options:
        return name
    return {"name": name, **options} if name else options


def make_sampler(name_or_config: str | dict[str, Any], steps: int | None = None, progress: bool = True,
                 default: dict[str, Any] | None = None):
    """A sampler from a config-group name (``euler``, ``heun``, ``ddpm`` ...) or a config dict
    (:func:`sampler_config`; ``default`` completes a dict of options only)."""
    node = OmegaConf.create(sampler_config(name_or_config, default))
    kwargs: dict[str, Any] = {"progress": progress}
    if steps is not None:
        kwargs["steps"] = steps
    return instantiate(node, **kwargs)


def thin_indices(total: int, frames: int) -> list[int]:
    """At most ``frames`` (>= 2) of ``range(total)``, evenly spaced, first and last included:
    ``round(k (total - 1) / (frames - 1))`` for ``k = 0 .. frames - 1``, duplicates dropped."""
    if int(frames) < 2:
        raise GensciError(f"a trajectory keeps at least 2 frames (the source and the samples), got {frames}")
    if total <= frames:
        return list(range(total))
    return sorted({round(k * (total - 1) / (frames - 1)) for k in range(int(frames))})


class GenerativeModel:
    """A domain, a process and a trained network, ready to sample."""

    def __init__(self, domain: Domain, process: Process, network: nn.Module, config: dict[str, Any],
                 metrics: dict[str, Any] | None = None, name: str | None = None,
                 precision_check: dict[str, Any] | None = None):
        self.domain = domain
        self.process = process
        self.network = network.eval()
        self.config = config
        self.metrics = dict(metrics or {})
        self.name = name or config.get("name", "model")
        #: the recorded bf16 check (:mod:`gensci.precision_check`) that lets ``precision="auto"`` pick bf16
        self.precision_check = precision_check
        #: the precision the last :meth:`sample` / :meth:`refine` call ran in, and why
        self.last_precision: PrecisionChoice | None = None

    @classmethod
    def from_checkpoint(cls, name_or_path: str | os.PathLike) -> GenerativeModel:
        path = resolve_model(name_or_path)
        payload = load_checkpoint(path)
        config = payload["config"]
        domain = instantiate(config["domain"])
        domain.load_stats(payload["stats"])
        attach_stages(domain, payload["stages"], where=str(path))
        if GENERATIVE not in payload["trained"]:
            held = ", ".join(payload["trained"]) or "nothing"
            raise GensciError(f"{path} holds only the stage(s) {held}; train the generative stage with "
                              f"`gensci train ... stage={GENERATIVE} stages_from={path}`")
        process, network = build(config, domain)
        try:
            network.load_state_dict(payload["state_dict"])
        except RuntimeError as err:
            raise GensciError(f"{path}: the weights do not fit the network its config describes ({str(err).splitlines()[0]})") from None
        check = read_precision_check(path, payload, bundled=path.resolve().is_relative_to(bundled_dir()))
        return cls(domain, process, network, config, payload.get("metrics"), name=str(name_or_path),
                   precision_check=check)

    @property
    def device(self) -> torch.device:
        """Where the network (and every stage module) runs."""
        return next(self.network.parameters()).device

    def to(self, device: torch.device | str) -> GenerativeModel:
        """Move the network and the domain's stage modules (e.g. a learned decoder) to ``device``."""
        self.network.to(device)
        for module in self.domain.attached().values():
            module.to(device)
        return self

    def resolve_precision(self, precision: str = "auto") -> PrecisionChoice:
        """The precision ``precision`` (auto, fp32 or bf16) means for this model on its device
        (:func:`gensci.precision_auto.resolve_precision`)."""
        return resolve_precision(precision, self.device.type, self.precision_check, self.name)

    @property
    def conditions(self) -> list[dict[str, Any]]:
        """What the model can be conditioned on (names, kinds, ranges or classes)."""
        return self.domain.conditions

    @torch.no_grad()
    def sample(
        self,
        n: int,
        conditions: ConditionRequest | None = None,
        steps: int | None = None,
        guidance: float | Guidance | None = None,
        sampler: str | dict[str, Any] | None = None,
        seed: int | None = None,
        batch_size: int = 4096,
        progress: bool = True,
        return_trajectory: bool = False,
        trajectory_frames: int | None = None,
        precision: str = "auto",
        network_wrapper: Any = None,
        redraws: int | None = None,
        **options: Any,
    ) -> Any:
        """Draw ``n`` samples as domain objects (and their decoded trajectory if asked).

        With ``return_trajectory`` the result is ``(samples, trajectory)``: the states at the
        sampler's grid times, decoded, from the source (first) to the samples (last).
        ``trajectory_frames`` keeps at most that many of them, evenly spaced in step number,
        always the first and the last (:func:`thin_indices`); None keeps every step.
        ``precision="bf16"`` runs the network under bfloat16 autocast
        (:class:`~gensci.nn.precision.Bfloat16Network`; the states and the sampler's
        arithmetic stay float32): about 1.5-2.3x faster on CPUs with AVX-512 BF16 or AMX, at
        about 3 significant digits per network call. ``"auto"`` (the default) picks bf16 only
        on such hardware (or a GPU with bfloat16) and only for a model whose recorded precision
        check found its metrics unchanged in bf16, else fp32 (:mod:`gensci.precision_auto`);
        :attr:`last_precision` says which it ran in and why.

        ``sampler`` is a sampler name, a config, or constructor arguments over the model's own
        sampler (``{"distortion": "polydec"}``; :func:`sampler_config`).

        ``guidance`` is the classifier-free guidance scale ``s`` (0 unconditional, 1
        conditional, >1 stronger); it defaults to 1 when conditions are given.

        ``network_wrapper(network, plan, process)`` returns the module the sampler calls
        instead of the network (after the domain's own wrapping), e.g. the gradient
        guidance of a design loop (:class:`gensci.inverse.gradient.RewardGradientNetwork`).

        ``redraws`` (default: the domain's ``default_redraws``) is how many times the samples
        the domain rejects (:meth:`~gensci.domain.Domain.rejected`: e.g. CAD vectors that build
        no valid solid) are drawn again, with fresh seeds; the domain records which were redrawn
        (:meth:`~gensci.domain.Domain.replace`) and keeps those still rejected after the last
        attempt, so nothing is dropped silently. Trajectories are not redrawn.
        """
        try:
            count = int(n)
        except (TypeError, ValueError):
            raise GensciError(f"the number of samples must be a whole number, got {n!r}") from None
        if count < 1 or count != n:
            raise GensciError(f"the number of samples must be positive (a whole number), got {n!r}")
        if count > MAX_SAMPLES:
            raise GensciError(f"{count:,} samples is more than one call draws (at most {MAX_SAMPLES:,}); "
                              "draw in several calls with different seeds")
        n = count
        _check_steps(steps, batch_size)
        choice = self.resolve_precision(precision)
        scale = guidance.scale if isinstance(guidance, Guidance) else guidance
        if scale is not None and not float(scale) >= 0:
            raise GensciError(f"the guidance scale must be 0 (unconditional) or more, got {scale}")
        plan = self.domain.plan(n, conditions, **options)
        if guidance is not None and not isinstance(guidance, Guidance):
            guidance = Guidance(scale=float(guidance))
        if guidance is not None and plan.cond is None:
            raise GensciError("guidance needs at least one --condition")
        if seed is None:
            seed = int.from_bytes(os.urandom(4), "little")
        if not -(2**63) <= int(seed) < 2**64:  # what torch.Generator.manual_seed takes
            raise GensciError(f"the seed must be a whole number in -2**63 .. 2**64-1, got {seed}")
        redraws = self.domain.default_redraws if redraws is None else int(redraws)
        if redraws < 0:
            raise GensciError(f"redraws must be 0 or more, got {redraws}")
        samples, trajectory = self._draw(plan, steps=steps, guidance=guidance, sampler=sampler, seed=seed,
                                         batch_size=batch_size, progress=progress, return_trajectory=return_trajectory,
                                         trajectory_frames=trajectory_frames, precision=choice.precision,
                                         network_wrapper=network_wrapper)
        self.last_precision = choice
        if return_trajectory:
            return samples, trajectory
        for attempt in range(1, redraws + 1):
            rows = list(self.domain.rejected(samples))
            if not rows:
                break
            fresh = self.sample(len(rows), conditions, steps=steps, guidance=guidance, sampler=sampler,
                                seed=(int(seed) + 7919 * attempt) % (2 ** 31), batch_size=batch_size,
                                progress=progress, precision=choice.precision, network_wrapper=network_wrapper,
                                redraws=0, **options)
            samples = self.domain.replace(samples, rows, fresh, attempt)
        self.last_precision = choice
        return samples

    def refine(
        self,
        inputs: Any,
        steps: int | None = None,
        sampler: str | dict[str, Any] | None = None,
        seed: int | None = None,
        batch_size: int = 4096,
        progress: bool = True,
        return_trajectory: bool = False,
        trajectory_frames: int | None = None,
        precision: str = "auto",
        **options: Any,
    ) -> Any:
        """Carry given inputs from ``t = 0`` to ``t = 1``: a bridge model's refinement of
        objects it is handed (e.g. force-field conformers toward DFT geometries), one output per
        input, in order.

        ``inputs`` are whatever the domain's :meth:`~gensci.domain.Domain.start` reads (a path,
        or domain objects); the start state of each sample is the input's own
        (``SamplePlan.x0``), not a prior draw. Other arguments as in :meth:`sample`.
        """
        _check_steps(steps, batch_size)
        choice = self.resolve_precision(precision)
        plan = self.domain.start(inputs, **options)
        if plan.x0 is None:
            raise GensciError(f"the {self.domain.name} domain's start() gave no start states to refine")
        if seed is None:
            seed = int.from_bytes(os.urandom(4), "little")
        samples, trajectory = self._draw(plan, steps=steps, guidance=None, sampler=sampler, seed=seed,
                                         batch_size=batch_size, progress=progress, return_trajectory=return_trajectory,
                                         trajectory_frames=trajectory_frames, precision=choice.precision,
                                         network_wrapper=None)
        self.last_precision = choice
        return (samples, trajectory) if return_trajectory else samples

    def _draw(self, plan: Any, *, steps: int | None, guidance: Guidance | None, sampler: str | dict[str, Any] | None, seed: int,
              batch_size: int, progress: bool, return_trajectory: bool, trajectory_frames: int | None,
              precision: str, network_wrapper: Any) -> tuple[Any, list[Any] | None]:
        """Run the sampler over ``plan`` in batches from the plan's start states (or source /
        prior draws) and decode; the decoded trajectory too when asked."""
        smp = make_sampler(sampler, steps=steps, progress=progress, default=self.config["sampler"])
        smp.check(self.process)  # IncompatibleSampler names the samplers that can
        if precision not in PRECISIONS:
            raise GensciError(f"precision must be fp32 or bf16, got {precision!r}")
        network = self.domain.wrap_network(with_precision(self.network, precision), plan, self.process)
        if network_wrapper is not None:
            network = network_wrapper(network, plan, self.process)
        device = self.device
        generator = torch.Generator(device=device).manual_seed(int(seed))
        to_device = lambda v: v.to(device)  # noqa: E731
        n = state.batch_size(plan.x0) if plan.x0 is not None else _planned(plan.shape)
        xs, paths = [], []
        for start in range(0, n, batch_size):
            m = min(batch_size, n - start)
            rows = slice(start, start + m)
            if plan.x0 is not None:
                x_init = state.batch_map(to_device, state.take(plan.x0, rows))
            else:
                x_init = state.batch_map(to_device, self.domain.source(m, generator=generator))
            result = smp.sample(network, self.process, state.with_batch(plan.shape, m),
                                cond=state.batch_map(to_device, state.take(plan.cond, rows)),
                                mask=state.batch_map(to_device, state.take(plan.mask, rows)), guidance=guidance,
                                generator=generator, return_trajectory=return_trajectory, x_init=x_init, device=device)
            xs.append(result.x)
            if return_trajectory:
                paths.append(state.stack(result.trajectory))
        samples = self.domain.decode(self.domain.finish(state.cat(xs), plan), plan)
        if not return_trajectory:
            return samples, None
        traj = state.cat(paths, dim=1)
        if trajectory_frames is not None:
            traj = traj[thin_indices(len(traj), trajectory_frames)]
        # the last frame is the sampler's final state (thinning keeps it): shown as finished
        return samples, [self.domain.decode(step, plan) for step in traj[:-1]] + [samples]

    def write(self, samples: Any, path: str | os.PathLike) -> Path:
        """Write samples with the domain's writer (atomically); the samples carry their
        requested conditions and writing options."""
        return self.domain.write(samples, path)

    def evaluate(self, samples: Any, split: str = "test") -> dict[str, float]:
        """The domain's metrics of ``samples`` (drawn by :meth:`sample` or read back by
        ``domain.read``) against its held-out ``split``, condition errors included."""
        return self.domain.evaluate(samples, split=split)


def _check_steps(steps: Any, batch_size: Any) -> None:
    """Refuse a step count or batch size a sampler cannot run, before any work."""
    if steps is not None and (not float(steps).is_integer() or int(steps) < 1):
        raise GensciError(f"steps must be a whole number of at least 1, got {steps}")
    if int(batch_size) < 1:
        raise GensciError(f"batch_size must be at least 1, got {batch_size}")


def _planned(shape: Any) -> int:
    """The sample count of a plan's shape (a tuple, or a dict field -> tuple)."""
    first = next(iter(shape.values())) if isinstance(shape, dict) else shape
    return int(first[0])


def load(name_or_path: str | os.PathLike) -> GenerativeModel:
    """Load a bundled model by name (``gensci models`` lists them) or a checkpoint file."""
    return GenerativeModel.from_checkpoint(name_or_path)
