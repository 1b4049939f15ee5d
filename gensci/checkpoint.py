"""gensci checkpoint files: one file with the weights, the resolved config and the domain's
statistics, loadable with ``torch.load(weights_only=True)`` (no code is ever unpickled).

Layout::

    {"format": "gensci-checkpoint", "version": 2, "gensci_version": str,
     "config": dict,            # the resolved Hydra config (plain types)
     "state_dict": dict,        # generative network weights (the EMA average); {} until trained
     "stats": dict,             # the domain's statistics (plain types / tensors)
     "metrics": dict,           # what the model reached, when recorded
     "stages": {name: {"state_dict": dict, "config": dict, "metrics": dict}},  # earlier stages
     "trained": [str]}          # the stages the file holds, in order ("generative" last)

Version 1 files (one network, no stages) load as version 2 files with no stages.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import torch

from gensci.errors import GensciError
from gensci.io import atomic_path

__all__ = ["save_checkpoint", "load_checkpoint", "FORMAT", "VERSION", "GENERATIVE"]

FORMAT = "gensci-checkpoint"
VERSION = 2

#: the name of the last stage of every model: the process and its network
GENERATIVE = "generative"


def save_checkpoint(
    path: str | Path,
    config: dict[str, Any],
    state_dict: dict[str, torch.Tensor],
    stats: dict[str, Any],
    metrics: dict[str, Any] | None = None,
    stages: dict[str, dict[str, Any]] | None = None,
) -> Path:
    """Write a checkpoint atomically and return its path.

    ``stages`` maps each earlier stage to ``{"state_dict", "config", "metrics"}``; an empty
    ``state_dict`` means the generative stage is not trained yet."""
    from gensci import __version__

    stages = {name: {"state_dict": _cpu(entry["state_dict"]), "config": dict(entry.get("config") or {}),
                     "metrics": dict(entry.get("metrics") or {})} for name, entry in (stages or {}).items()}
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "gensci_version": __version__,
        "config": config,
        "state_dict": _cpu(state_dict),
        "stats": stats,
        "metrics": dict(metrics or {}),
        "stages": stages,
        "trained": list(stages) + ([GENERATIVE] if state_dict else []),
    }
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def _cpu(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in state_dict.items()}


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; raise :class:`GensciError` with the reason
    if the file is missing, truncated, not a gensci checkpoint, or from a newer format."""
    path = Path(path)
    if not path.is_file():
        raise GensciError(f"checkpoint {str(path)!r} does not exist")
    if not zipfile.is_zipfile(path):  # every checkpoint torch.save writes is a zip archive
        raise GensciError(f"{path} is not a readable checkpoint (corrupt or truncated, or not a torch file)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as err:
        raise GensciError(f"{path} is not a readable checkpoint (corrupt or truncated): {str(err).splitlines()[0]}") from None
    except Exception as err:  # the unpickler refuses code objects with UnpicklingError and others
        if "weights only" in str(err).lower():
            raise GensciError(f"{path} cannot be loaded safely ({type(err).__name__}): it holds code, and gensci "
                              "loads weights only") from None
        raise GensciError(f"{path} is not a readable checkpoint (corrupt: {type(err).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise GensciError(f"{path} is not a gensci checkpoint (a Lightning .ckpt resumes training with resume=PATH)")
    if int(payload.get("version", 0)) > VERSION:
        raise GensciError(f"{path} was written by a newer gensci (format {payload['version']}); upgrade gensci")
    for key in ("config", "state_dict", "stats"):
        if key not in payload:
            raise GensciError(f"{path} lacks its {key!r} entry; the file is incomplete")
    payload.setdefault("stages", {})
    payload.setdefault("trained", list(payload["stages"]) + ([GENERATIVE] if payload["state_dict"] else []))
    return payload
