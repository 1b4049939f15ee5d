"""``gensci models``: the bundled models, their conditions and headline metrics, from their records.

Each bundled checkpoint ``gensci/checkpoints/<name>.pt`` has a JSON record beside it
(``<name>.json``, written by ``scripts/train_bundled.py``) holding its conditions, its training
time and the metrics it reached. The listing reads those records only, so it imports neither
torch nor any domain and answers at once; a checkpoint without a usable record is read itself
(slow: it loads the weights).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["HEADLINE", "ModelRecord", "bundled_records", "model_lines"]

#: metrics shown first by ``gensci models`` (the rest with ``--full``), in this order
HEADLINE = ("validity", "validity_nc", "uniqueness", "novelty", "fcd", "w2", "molecule_stability", "atom_stability",
            "clash_free_fraction", "kl_ramachandran", "strict_validity", "ae_acc_cmd", "ae_acc_param", "cov", "mmd_x1e3",
            "retrieval_shaded_top1@10", "heavy_rmsd_median", "start_heavy_rmsd_median", "bond_length_mae",
            "train_seconds")

#: counts, not qualities: left out of the listing
_NOT_SHOWN = ("n_samples", "finite_fraction")


class ModelRecord:
    """A bundled model's name, condition names and numeric metrics (unconditional draws)."""

    def __init__(self, name: str, conditions: list[str], metrics: dict[str, float]):
        self.name = name
        self.conditions = conditions
        self.metrics = metrics


def _checkpoints_dir() -> Path:
    return Path(__file__).resolve().parent / "checkpoints"


def _numbers(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in _NOT_SHOWN}


def _from_json(path: Path, name: str) -> ModelRecord | None:
    """The record at ``path``; None when absent or without conditions or unconditional metrics."""
    try:
        record = json.loads(path.read_text())
        conditions = [str(c) for c in record["conditions"]]
        metrics = {"train_seconds": record.get("train_seconds"), **record["metrics"]["unconditional"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return ModelRecord(name, conditions, _numbers(metrics))


def _from_checkpoint(path: Path, name: str) -> ModelRecord:
    from gensci.checkpoint import load_checkpoint

    payload = load_checkpoint(path)
    conditions = [c["name"] for c in payload["stats"].get("conditions", [])]
    return ModelRecord(name, conditions, _numbers(payload.get("metrics", {})))


def bundled_records(root: Path | None = None) -> list[ModelRecord]:
    """A record per bundled checkpoint under ``root`` (default: the package's), by name."""
    root = root or _checkpoints_dir()
    out = []
    for path in sorted(root.rglob("*.pt")):
        name = str(path.relative_to(root).with_suffix(""))
        out.append(_from_json(path.with_suffix(".json"), name) or _from_checkpoint(path, name))
    return out


def _number(v: float) -> str:
    return f"{int(v)}" if float(v).is_integer() else f"{v:.3g}"


def model_lines(records: list[ModelRecord], full: bool = False) -> list[str]:
    """One line per model (headline metrics), or with ``full`` a heading and every metric."""
    if not records:
        return ["no bundled models"]
    lines = []
    for r in records:
        desc = ", ".join(r.conditions) or "unconditional"
        if full:
            lines.append(f"{r.name}  (conditions: {desc})")
            lines.extend(f"    {k:<32} {_number(v)}" for k, v in r.metrics.items())
            continue
        head = [k for k in HEADLINE if k in r.metrics]
        rest = len(r.metrics) - len(head)
        text = "  ".join(f"{k}={_number(r.metrics[k])}" for k in head)
        more = f"  (+{rest} more: gensci models --full)" if rest else ""
        lines.append(f"{r.name:<22} conditions: {desc:<26} {text}{more}")
    return lines
