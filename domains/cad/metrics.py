"""Reconstruction accuracy of DeepCAD vectors: ACC_cmd and ACC_param.

DeepCAD (Wu, Xiao & Zheng 2021, ICCV, §4.1; its ``evaluation/evaluate_ae_acc.py``), also
reported by GenCAD (Alam & Ahmed 2025). For a true vector with ``L`` rows before its first EOS
(the EOS and the padding are not scored) and a reconstruction ``pred`` compared row by row:

    ACC_cmd   = mean_i 1[pred_cmd_i = true_cmd_i],                            i < L
    ACC_param = mean over (i, j) of 1[|pred_ij - true_ij| < tolerance],
                i < L with pred_cmd_i = true_cmd_i, j an argument true_cmd_i uses

(``tolerance = 3`` grid units of 256; the arc flag f, the boolean b and the extent type u
must match exactly). Each is a mean over a sequence's rows (or arguments) first, then over
sequences, as DeepCAD averages its per-file accuracies. A sequence with nothing to score
(``L = 0``; for ACC_param, no matched command with arguments) is left out of the mean, where
DeepCAD's script would turn the average into NaN; the result is NaN only when no sequence of
the batch has anything to score.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from domains.cad.sequence import CADError
from domains.cad.vector import ARG_COLUMNS, ARG_MASK, EOS, N_ARGS

__all__ = ["EXACT_COLUMNS", "TOLERANCE", "argument_hits", "command_accuracy", "parameter_accuracy"]

#: argument indices (0-based, column - 1) that must match exactly: the arc flag, boolean, extent type
EXACT_COLUMNS = tuple(ARG_COLUMNS.index(name) for name in ("f", "b", "u"))
#: DeepCAD's tolerance in grid units: a parameter counts as right when |Δ| < 3
TOLERANCE = 3

_EXACT = np.zeros(N_ARGS, dtype=bool)
_EXACT[list(EXACT_COLUMNS)] = True


def argument_hits(pred: Any, true: Any, tolerance: int = TOLERANCE, exact: Any = None) -> Any:
    """Elementwise ``|pred - true| < tolerance`` over ``(..., 16)`` argument arrays (numpy or
    torch), with exact equality in the columns ``exact`` marks (default f, b and u)."""
    if exact is None:
        exact = torch.as_tensor(_EXACT, device=pred.device) if isinstance(pred, torch.Tensor) else _EXACT
    diff = abs(pred - true)
    return ((diff < tolerance) & ~exact) | ((diff == 0) & exact)


def _pair(pred: Any, true: Any) -> tuple[np.ndarray, np.ndarray]:
    arrays = []
    for name, v in (("pred", pred), ("true", true)):
        a = v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)
        if a.ndim == 2:
            a = a[None]
        if a.ndim != 3 or a.shape[-1] != N_ARGS + 1:
            raise CADError(f"{name} must be DeepCAD vectors of shape ([B,] rows, {N_ARGS + 1}), got {a.shape}")
        if not np.issubdtype(a.dtype, np.integer):
            raise CADError(f"{name} must hold integers, got {a.dtype}")
        arrays.append(a.astype(np.int64))
    if np.any((arrays[1][..., 0] < 0) | (arrays[1][..., 0] >= len(ARG_MASK))):
        raise CADError(f"true holds a command outside 0..{len(ARG_MASK) - 1}")
    if arrays[0].shape != arrays[1].shape:
        raise CADError(f"pred and true differ in shape: {arrays[0].shape} vs {arrays[1].shape}")
    return arrays[0], arrays[1]


def _scored_rows(true_cmd: np.ndarray) -> np.ndarray:
    """``(B, N)`` True for the rows before each sequence's first EOS."""
    return np.cumsum(true_cmd == EOS, axis=1) == 0


def _mean_of_means(hits: np.ndarray, counted: np.ndarray) -> float:
    n = counted.reshape(len(counted), -1).sum(1)
    k = (hits & counted).reshape(len(counted), -1).sum(1)
    keep = n > 0
    return float(np.mean(k[keep] / n[keep])) if keep.any() else float("nan")


def command_accuracy(pred: Any, true: Any) -> float:
    """ACC_cmd of ``pred`` against ``true``, both ``(B, rows, 17)`` or ``(rows, 17)``."""
    pred, true = _pair(pred, true)
    return _mean_of_means(pred[..., 0] == true[..., 0], _scored_rows(true[..., 0]))


def parameter_accuracy(pred: Any, true: Any, tolerance: int = TOLERANCE) -> float:
    """ACC_param of ``pred`` against ``true``: arguments of the rows whose command matches,
    right within ``|Δ| < tolerance`` (f, b and u exactly)."""
    pred, true = _pair(pred, true)
    cmd = true[..., 0]
    rows = _scored_rows(cmd) & (pred[..., 0] == cmd)
    counted = rows[..., None] & ARG_MASK[cmd]
    return _mean_of_means(argument_hits(pred[..., 1:], true[..., 1:], tolerance), counted)
