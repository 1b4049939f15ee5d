"""The design loop: propose -> score -> select -> adapt, round after round, on disk.

:func:`design` runs rounds until the oracle budget, the round limit or the wall time is
spent. Each round the strategy proposes samples; they are written with the domain's
writer (``DIR/rounds/round_003/batch_00.sdf`` ...) and read back, so what is scored is
what the files hold. Each candidate then passes, in order: decoding (a key,
:meth:`gensci.domain.Domain.candidate_key`), deduplication against every earlier
candidate, the hard constraints, the oracle budget, and the objectives
(:mod:`gensci.inverse.objectives`). One scored candidate costs one oracle call, as
sample efficiency is counted in PMO (Gao et al., "Sample Efficiency Matters: A Benchmark
for Practical Molecular Optimization", NeurIPS 2022).

Selection keeps the elites: scored candidates by combined score (or by Pareto rank, then
score), at most ``bucket_size`` per diversity bucket (:meth:`Domain.candidate_bucket`,
REINVENT's diversity filter). The strategy learns from them (:mod:`gensci.inverse.strategies`).

After every round the whole state — candidates, history, the strategy's state and any
adapted weights — is written to ``DIR/state.json`` (atomically), so an interrupted run
resumes at the next round and gives the same history as an uninterrupted one (each
round's randomness derives from the seed and the round number only).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gensci.inverse.candidates import Candidate
from gensci.inverse.objectives import Constraint, Objective, as_constraint, as_objective, call_oracle, combine
from gensci.inverse.pareto import pareto_ranks
from gensci.inverse.strategies import BestOfN, Strategy
from gensci.domain import Batch
from gensci.errors import GensciError
from gensci.io import atomic_write

__all__ = ["DesignContext", "design", "select_elites", "STATE_FILE"]

STATE_FILE = "state.json"
STATE_VERSION = 1


@dataclass
class DesignContext:
    """What strategies and oracles see of a running loop."""

    model: Any
    objectives: list[Objective]
    constraints: list[Constraint]
    workdir: Path
    seed: int
    sample_options: dict[str, Any] = field(default_factory=dict)
    progress: bool = True
    candidates: list[Candidate] = field(default_factory=list)
    _items: dict[int, Any] = field(default_factory=dict)
    _files: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def domain(self) -> Any:
        return self.model.domain

    @property
    def suffix(self) -> str:
        return self.model.domain.suffix

    def round_seed(self, round: int) -> int:
        return int(self.seed) * 1_000_003 + 7_919 * int(round)

    def sample(self, n: int, seed: int, conditions: dict[str, Any] | None = None, guidance: float | None = None,
               network_wrapper: Any = None) -> Any:
        """``n`` samples from the (possibly adapted) model with the loop's sampling options."""
        return self.model.sample(n, conditions=conditions, guidance=guidance, seed=int(seed) % (2**63), progress=False,
                                 network_wrapper=network_wrapper, **self.sample_options)

    def write_items(self, items: Sequence[Any], path: str | Path) -> Path:
        """Write candidates' objects with the domain's writer."""
        return self.domain.write(self.domain.collect(list(items)), path)

    def read_file(self, relative: str) -> list[Any]:
        if relative not in self._files:
            self._files[relative] = self.domain.items(self.domain.read(self.workdir / relative))
        return self._files[relative]

    def item(self, c: Candidate) -> Any:
        """The object of candidate ``c``, as its file holds it."""
        if c.id not in self._items:
            self._items[c.id] = self.read_file(c.file)[c.index]
        return self._items[c.id]

    def training_batch(self, cands: Sequence[Candidate]) -> Batch:
        """Clean states of ``cands`` with the conditions each was drawn with (NaN = none)."""
        batch = self.domain.featurise([self.item(c) for c in cands])
        specs = self.model.conditions
        if not specs:
            return batch
        n = len(cands)
        cond = {s["name"]: torch.full((n, int(s["dim"])) if s["kind"] == "vector" else (n,), math.nan) for s in specs}
        groups: dict[str, list[int]] = {}
        for i, c in enumerate(cands):
            groups.setdefault(json.dumps(c.conditions, sort_keys=True), []).append(i)
        for text, rows in groups.items():
            request = json.loads(text)
            if not request:
                continue
            encoded = self.domain.plan(len(rows), request).cond or {}
            for name, values in encoded.items():
                cond[name][torch.as_tensor(rows)] = values.float().cpu()
        return Batch(x=batch.x, cond=cond, mask=batch.mask)

    def progress_range(self, n: int, desc: str):
        if not self.progress:
            return range(n)
        from tqdm.auto import trange

        return trange(n, desc=desc, leave=False)


def select_elites(candidates: Sequence[Candidate], k: int, bucket_size: int | None = None, pareto: bool = False,
                  objectives: Sequence[Objective] = ()) -> list[Candidate]:
    """The ``k`` best scored candidates, at most ``bucket_size`` from one diversity bucket:
    by combined score, or (``pareto``) by non-domination rank of the objectives' oriented
    values, then by score. Ties keep the earlier candidate first."""
    scored = [c for c in candidates if c.scored]
    if not scored:
        return []
    score = np.asarray([c.score for c in scored])
    if pareto and len(objectives) > 1:
        values = np.asarray([[o.oriented(np.asarray([c.values[o.name]]))[0] for o in objectives] for c in scored])
        ranks = pareto_ranks(values)
        order = sorted(range(len(scored)), key=lambda i: (ranks[i], -score[i], scored[i].id))
    else:
        order = sorted(range(len(scored)), key=lambda i: (-score[i], scored[i].id))
    out, per_bucket = [], {}
    for i in order:
        c = scored[i]
        if bucket_size is not None:
            used = per_bucket.get(c.bucket, 0)
            if used >= bucket_size:
                continue
            per_bucket[c.bucket] = used + 1
        out.append(c)
        if len(out) >= k:
            break
    return out


def _top_mean(candidates: Sequence[Candidate], k: int = 10) -> float:
    """Mean of the ``k`` best scores, missing ones counted as 0 (as PMO's top-10 average)."""
    scores = sorted((c.score for c in candidates if c.scored), reverse=True)[:k]
    return float(sum(scores) / k)


def _settings(objectives: Sequence[Objective], constraints: Sequence[Constraint], strategy: Strategy, batch: int,
              seed: int, sample_options: dict[str, Any], model_name: str) -> dict[str, Any]:
    return {"model": model_name, "objectives": [o.describe() for o in objectives], "constraints": [c.name for c in constraints],
            "strategy": strategy.name, "batch": int(batch), "seed": int(seed), "sample": dict(sample_options)}


def design(model: Any, objectives: Sequence[Objective | dict], strategy: Strategy | None = None, budget: int = 1000,
           batch: int = 100, rounds: int | None = None, constraints: Sequence[Constraint | dict] = (),
           out: str | Path | None = None, seed: int = 0, elites: int = 64, bucket_size: int | None = 10,
           pareto: bool = False, max_seconds: float | None = None, sample: dict[str, Any] | None = None,
           resume: bool = True, progress: bool = True) -> Any:
    """Run a design loop (module docstring) and return its :class:`~gensci.inverse.result.DesignResult`.

    Args:
        model: a :class:`~gensci.model.GenerativeModel` or a bundled name / checkpoint path.
        objectives: :class:`Objective` s (or dicts of their fields); several combine by the
            weighted geometric mean of their desirabilities.
        strategy: how candidates are proposed (default :class:`BestOfN`).
        budget: oracle calls (scored candidates) in all.
        batch: samples proposed per round.
        rounds / max_seconds: optional limits on rounds and on wall time (seconds).
        constraints: hard filters applied before scoring (they cost no oracle calls).
        out: the run's folder (default a new temporary folder); an existing run there is
            resumed when ``resume`` (its settings must match).
        elites / bucket_size / pareto: the selection (module docstring).
        sample: options of every sampling call (``steps``, ``atoms``, ``length`` ...).
    """
    from gensci.inverse.result import DesignResult

    if isinstance(model, (str, Path)):
        import gensci

        model = gensci.load(str(model))
    objectives = [as_objective(o) for o in objectives]
    if not objectives:
        raise GensciError("a design loop needs at least one objective")
    names = [o.name for o in objectives]
    if len(set(names)) != len(names):
        raise GensciError(f"objective names must differ, got {names}")
    constraints = [as_constraint(c) for c in constraints]
    strategy = strategy if strategy is not None else BestOfN()
    if int(budget) < 1 or int(batch) < 1:
        raise GensciError(f"budget and batch must be positive, got budget={budget}, batch={batch}")
    if out is None:
        import tempfile

        out = tempfile.mkdtemp(prefix="gensci-design-")
    workdir = Path(out).expanduser()
    workdir.mkdir(parents=True, exist_ok=True)
    sample_options = dict(sample or {})
    ctx = DesignContext(model, objectives, constraints, workdir, int(seed), sample_options, progress)
    settings = _settings(objectives, constraints, strategy, batch, seed, sample_options, getattr(model, "name", "model"))
    history: list[dict[str, Any]] = []
    elapsed = 0.0
    state_path = workdir / STATE_FILE
    if state_path.exists() and resume:
        state = json.loads(state_path.read_text())
        if state.get("settings") != settings:
            raise GensciError(f"{workdir} holds a design run with other settings ({state_path.name}); give another "
                              "folder, or resume=False (--restart) to start again there")
        ctx.candidates = [Candidate.from_dict(c) for c in state["candidates"]]
        history = list(state["history"])
        elapsed = float(state.get("seconds", 0.0))
        strategy.load_state_dict(state.get("strategy") or {})
        strategy.load(ctx, workdir)
    for o in [*objectives, *constraints]:
        if callable(getattr(o.oracle, "bind", None)):
            o.oracle.bind(ctx)
    strategy.setup(ctx)
    seen = {c.key: c.id for c in ctx.candidates if c.key is not None and c.status != "duplicate"}
    calls = sum(1 for c in ctx.candidates if c.status in ("scored", "failed"))
    stalled = 0
    while calls < budget and (rounds is None or len(history) < rounds) and (max_seconds is None or elapsed < max_seconds):
        r = len(history)
        start = time.perf_counter()
        n = int(min(batch, budget - calls))
        proposals = strategy.propose(ctx, n, r, ctx.round_seed(r))
        new: list[Candidate] = []
        for j, proposal in enumerate(proposals):
            target = ctx.domain.design_path(workdir / "rounds" / f"round_{r:03d}" / f"batch_{j:02d}", len(proposal.samples))
            written = ctx.domain.write(proposal.samples, target)
            relative = str(Path(written).relative_to(workdir))
            ctx._files.pop(relative, None)
            for i, item in enumerate(ctx.read_file(relative)):
                key = ctx.domain.candidate_key(item)
                c = Candidate(id=len(ctx.candidates), round=r, strategy=strategy.name, file=relative, index=i, key=key,
                              conditions=dict(proposal.conditions))
                ctx._items[c.id] = item
                if key is None:
                    c.status = "invalid"
                elif key in seen:
                    c.status, c.duplicate_of = "duplicate", seen[key]
                else:
                    seen[key] = c.id
                    c.status = "pending"
                ctx.candidates.append(c)
                new.append(c)
        pending = [c for c in new if c.status == "pending"]
        for con in constraints:
            result = call_oracle(con.oracle, [ctx.item(c) for c in pending], con.name)
            keep = []
            for c, v in zip(pending, result.values):
                if np.isfinite(v) and v:
                    keep.append(c)
                else:
                    c.status = "infeasible"
                    c.failures.append(result.error or f"constraint {con.name}")
            pending = keep
        room = int(budget - calls)
        for c in pending[room:]:
            c.status = "over_budget"
        pending = pending[:room]
        items = [ctx.item(c) for c in pending]
        values, desir, hits = [], [], []
        for o in objectives:
            result = call_oracle(o.oracle, items, o.name)
            values.append(result.values)
            desir.append(o.desirability(result.values))
            hits.append(o.hit(result.values))
            if result.error:
                for c in pending:
                    c.failures.append(result.error)
        calls += len(pending)
        if pending:
            v, d, h = np.stack(values, 1), np.stack(desir, 1), np.stack(hits, 1)
            score = combine(d, [o.weight for o in objectives])
            for row, c in enumerate(pending):
                c.values = {o.name: float(v[row, k]) for k, o in enumerate(objectives)}
                c.desirability = {o.name: float(d[row, k]) for k, o in enumerate(objectives)}
                if np.isnan(score[row]):
                    c.status = "failed"
                    for k, o in enumerate(objectives):
                        if np.isnan(v[row, k]) and not any(f.startswith(o.name + ":") for f in c.failures):
                            c.failures.append(f"{o.name}: no value")
                else:
                    c.status, c.score, c.hit = "scored", float(score[row]), bool(h[row].all())
                    c.bucket = ctx.domain.candidate_bucket(ctx.item(c))
        chosen = select_elites(ctx.candidates, elites, bucket_size, pareto, objectives)
        strategy.update(ctx, r, chosen)
        elapsed += time.perf_counter() - start
        history.append(_round_entry(ctx.candidates, new, r, strategy, calls, elapsed, objectives))
        stalled = stalled + 1 if not any(c.status in ("scored", "failed") for c in new) else 0
        strategy.save(ctx, workdir)
        _save(state_path, settings, ctx, history, strategy, elapsed)
        strategy.committed(workdir)
        if progress:
            h = history[-1]
            print(f"round {r}: {h['scored']} scored, {h['round_hits']} hits, best {h['best']:.3f}, "
                  f"top-10 mean {h['top10_mean']:.3f}, oracle calls {calls}/{budget}", flush=True)
        if stalled >= 3:
            print("three rounds in a row gave no new candidate to score; stopping", flush=True)
            break
    result = DesignResult(ctx, history, budget=int(budget), strategy=strategy, settings=settings)
    result.write(workdir)
    return result


def _round_entry(everything: list[Candidate], new: list[Candidate], r: int, strategy: Strategy, calls: int, elapsed: float,
                 objectives: Sequence[Objective]) -> dict[str, Any]:
    scored = [c for c in everything if c.scored]
    status = {s: sum(1 for c in new if c.status == s) for s in ("invalid", "duplicate", "infeasible", "over_budget", "failed", "scored")}
    round_scores = [c.score for c in new if c.scored]
    entry = {
        "round": r,
        "strategy": strategy.name,
        "proposed": len(new),
        **status,
        "oracle_calls": calls,
        "best": max((c.score for c in scored), default=0.0),
        "top10_mean": _top_mean(everything, 10),
        "hits": sum(1 for c in scored if c.hit),
        "round_hits": sum(1 for c in new if c.hit),
        "round_best": max(round_scores, default=0.0),
        "round_mean": float(np.mean(round_scores)) if round_scores else 0.0,
        "conditions": sorted({json.dumps(c.conditions, sort_keys=True) for c in new}),
        "seconds": round(elapsed, 3),
    }
    return entry


def _save(path: Path, settings: dict[str, Any], ctx: DesignContext, history: list[dict[str, Any]], strategy: Strategy,
          elapsed: float) -> None:
    state = {"version": STATE_VERSION, "settings": settings, "history": history, "seconds": elapsed,
             "strategy": strategy.state_dict(), "candidates": [c.to_dict() for c in ctx.candidates]}
    with atomic_write(path) as handle:
        json.dump(state, handle, indent=1, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON data")
