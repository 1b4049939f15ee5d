"""Design oracles for vectors: any function of the vector, in numpy and in torch.

:class:`VectorExpression` evaluates an arithmetic expression of the columns (``x0``,
``x1`` ... or the data's own column names), e.g. ``"-(x0 - 1)**2 - (x1 + 0.5)**2"``, on
candidates (numpy) and, for gradient guidance, differentiably on tensors (torch). Only
arithmetic, the columns and the functions in :data:`FUNCTIONS` are allowed: the
expression is parsed, checked and compiled once, never run as free Python.
:class:`VectorFunction` wraps any Python callable of a ``(n, d)`` array.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from gensci.errors import GensciError

__all__ = ["VectorExpression", "VectorFunction", "FUNCTIONS"]

#: functions an expression may call, by name: (numpy, torch)
FUNCTIONS: dict[str, tuple[Callable, Callable]] = {
    "exp": (np.exp, torch.exp), "log": (np.log, torch.log), "sqrt": (np.sqrt, torch.sqrt), "abs": (np.abs, torch.abs),
    "sin": (np.sin, torch.sin), "cos": (np.cos, torch.cos), "tanh": (np.tanh, torch.tanh),
    "minimum": (np.minimum, torch.minimum), "maximum": (np.maximum, torch.maximum),
}
_NODES = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Call, ast.Name, ast.Load, ast.Constant, ast.Add, ast.Sub, ast.Mult,
          ast.Div, ast.Pow, ast.USub, ast.UAdd, ast.Mod)


class VectorExpression:
    """An arithmetic expression of a vector's columns (module docstring)."""

    def __init__(self, expression: str, columns: Sequence[str] | None = None):
        self.expression = str(expression)
        try:
            tree = ast.parse(self.expression, mode="eval")
        except SyntaxError as err:
            raise GensciError(f"oracle expression {self.expression!r} does not parse: {err.msg}") from None
        for node in ast.walk(tree):
            if not isinstance(node, _NODES):
                raise GensciError(f"oracle expression {self.expression!r}: {type(node).__name__} is not allowed "
                                  f"(arithmetic, column names and {', '.join(FUNCTIONS)} only)")
            if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS):
                raise GensciError(f"oracle expression {self.expression!r}: only {', '.join(FUNCTIONS)} may be called")
        self.names = sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - set(FUNCTIONS))
        self.code = compile(tree, "<oracle>", "eval")
        self.columns = list(columns) if columns is not None else None

    def bind(self, ctx: Any) -> None:
        """Take the column names of the model's data."""
        if self.columns is None:
            self.columns = list(ctx.model.domain.stats().get("columns") or [])

    def _env(self, columns_of: Callable[[int], Any], d: int, functions: dict[str, Callable]) -> dict[str, Any]:
        columns = self.columns or [f"x{i}" for i in range(d)]
        env: dict[str, Any] = {"__builtins__": {}}
        for i in range(d):
            env[f"x{i}"] = columns_of(i)
            if i < len(columns):
                env[columns[i]] = columns_of(i)
        missing = [n for n in self.names if n not in env]
        if missing:
            raise GensciError(f"oracle expression {self.expression!r} names {', '.join(missing)}; the columns are "
                              f"{', '.join(columns)} (or x0 .. x{d - 1})")
        env.update(functions)
        return env

    def __call__(self, items: Sequence[np.ndarray]) -> np.ndarray:
        x = np.asarray(np.stack([np.asarray(v, dtype=np.float64) for v in items]))
        env = self._env(lambda i: x[:, i], x.shape[1], {k: v[0] for k, v in FUNCTIONS.items()})
        with np.errstate(all="ignore"):
            out = eval(self.code, env)  # noqa: S307 - the tree was checked above
        return np.broadcast_to(np.asarray(out, dtype=np.float64), (len(x),)).copy()

    def differentiable(self, x: torch.Tensor) -> torch.Tensor:
        """The expression on a ``(B, d)`` tensor in the data's units, differentiably."""
        env = self._env(lambda i: x[:, i], x.shape[1], {k: v[1] for k, v in FUNCTIONS.items()})
        out = eval(self.code, env)  # noqa: S307
        return out if isinstance(out, torch.Tensor) else torch.full((x.shape[0],), float(out), dtype=x.dtype)

    def __repr__(self) -> str:
        return f"VectorExpression({self.expression!r})"


class VectorFunction:
    """Any Python callable ``f(x) -> (n,)`` of the candidates stacked as ``(n, d)``; with
    ``torch_fn`` (the same function on tensors) it can guide sampling by its gradient."""

    def __init__(self, fn: Callable[[np.ndarray], Any], torch_fn: Callable[[torch.Tensor], torch.Tensor] | None = None):
        self.fn, self.torch_fn = fn, torch_fn
        if torch_fn is None:
            self.differentiable = None  # type: ignore[assignment]

    def __call__(self, items: Sequence[np.ndarray]) -> np.ndarray:
        return np.asarray(self.fn(np.stack([np.asarray(v, dtype=np.float64) for v in items])), dtype=np.float64)

    def differentiable(self, x: torch.Tensor) -> torch.Tensor:
        return self.torch_fn(x)
