"""States of named fields: one record that batches like a tensor and reads like a dict.

A 3D molecule is positions (continuous, translation-free) *and* atom types and bonds
(categorical); a CAD model is a latent and its decoded command sequence. Such a state is a
:class:`State`: named tensors sharing the leading batch axis ``B``, each field of its own
shape and dtype (``pos (B, N, 3)`` float, ``types (B, N)`` long, ``bonds (B, N, N)`` long).

Batch operations act on every field, so engine code written for tensors works unchanged::

    x = State(pos=torch.randn(4, 9, 3), types=torch.zeros(4, 9, dtype=torch.long))
    x.shape          # torch.Size([4])   the batch shape
    len(x)           # 4                 like a tensor: the batch size, not the field count
    x[1:3]           # a State of 2      (slice, index tensor or boolean mask; x[i] drops the axis)
    x["pos"]         # the field tensor
    cat([x, x])      # a State of 8      (gensci.core.state.cat also takes tensors)

A one-field model keeps plain tensors: every helper here (:func:`cat`, :func:`stack`,
:func:`take`, :func:`batch_map`) takes a tensor, a :class:`State`, a dict of tensors
(conditions, per-field masks) or None alike.

Masks of a multi-field state are a plain dict ``field name -> mask or None`` (a token mask
``(B, N)`` for per-node fields, a pair mask ``(B, N, N)`` for bonds, or ``None``);
:func:`field_mask` reads one field's mask from either form.

Why not ``tensordict.TensorDict``: it does the batching above and more, but each release
pins a narrow range of torch versions (0.15 needs torch >= 2.11, where gensci runs on any
torch >= 2.2), it adds about 2 s to ``import gensci`` on a CPU, and it holds no ``None``
entries, which per-field masks need. The record here is the small subset gensci uses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Union

import torch
from torch import Tensor

__all__ = ["State", "Tensors", "Mask", "cat", "stack", "take", "batch_map", "field_mask", "batch_size", "fields_of",
           "with_batch"]


class State:
    """Named tensors sharing the leading batch axis (see the module docstring)."""

    __slots__ = ("_fields",)

    def __init__(self, fields: Mapping[str, Tensor] | None = None, /, **named: Tensor):
        items = dict(fields or {}, **named)
        if not items:
            raise ValueError("a State needs at least one field")
        sizes = {name: (tuple(v.shape[:1]) if isinstance(v, Tensor) else None) for name, v in items.items()}
        bad = [name for name, size in sizes.items() if size is None or len(size) == 0]
        if bad:
            raise ValueError(f"State fields must be tensors with a batch axis; {', '.join(bad)} is not")
        if len(set(sizes.values())) > 1:
            raise ValueError("State fields must share the batch size: "
                             + ", ".join(f"{k} {v[0]}" for k, v in sizes.items()))
        self._fields: dict[str, Tensor] = items

    # ------------------------------------------------------------ as a dict
    def keys(self):
        return self._fields.keys()

    def values(self):
        return self._fields.values()

    def items(self):
        return self._fields.items()

    def get(self, name: str, default: Any = None) -> Any:
        return self._fields.get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in self._fields

    def as_dict(self) -> dict[str, Tensor]:
        """The fields as a plain dict (a shallow copy)."""
        return dict(self._fields)

    # ------------------------------------------------------- as a tensor
    @property
    def shape(self) -> torch.Size:
        """The batch shape ``(B,)`` (with :func:`stack`: ``(T, B)``)."""
        return torch.Size(next(iter(self._fields.values())).shape[:1])

    @property
    def device(self) -> torch.device:
        return next(iter(self._fields.values())).device

    def __len__(self) -> int:
        return self.shape[0]

    def __iter__(self) -> Iterator[State]:
        """Iterate over the batch axis, like a tensor (field names: :meth:`keys`)."""
        for i in range(len(self)):
            yield self[i]

    def __getitem__(self, key: str | int | slice | Tensor | Sequence[int]) -> Any:
        if isinstance(key, str):
            return self._fields[key]
        if isinstance(key, (list, tuple)):
            key = torch.as_tensor(key, dtype=torch.long)
        return State({k: v[key.to(v.device) if isinstance(key, Tensor) else key] for k, v in self._fields.items()})

    def map(self, fn: Callable[[Tensor], Tensor]) -> State:
        """``fn`` applied to every field."""
        return State({k: fn(v) for k, v in self._fields.items()})

    def to(self, *args: Any, **kwargs: Any) -> State:
        """Every field moved like ``Tensor.to``; a dtype argument converts floating fields only
        (class indices stay integers)."""
        def move(v: Tensor) -> Tensor:
            if v.is_floating_point():
                return v.to(*args, **kwargs)
            keep = {k: a for k, a in kwargs.items() if k != "dtype"}
            pos = [a for a in args if not isinstance(a, torch.dtype)]
            return v.to(*pos, **keep)

        return self.map(move)

    def clone(self) -> State:
        return self.map(Tensor.clone)

    def detach(self) -> State:
        return self.map(Tensor.detach)

    def cpu(self) -> State:
        return self.map(Tensor.cpu)

    def __eq__(self, other: object) -> bool:
        """Same field names, shapes and values (``torch.equal`` per field)."""
        if not isinstance(other, State) or self.keys() != other.keys():
            return False
        return all(torch.equal(v, other[k]) for k, v in self.items())

    __hash__ = None  # mutable contents, like a tensor compared by value

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}: {tuple(v.shape)} {str(v.dtype).removeprefix('torch.')}" for k, v in self.items())
        return f"State({parts})"


#: a one-field state (a tensor) or a multi-field one
Tensors = Union[Tensor, State]
#: a mask of a state: one tensor (one-field states), a dict field -> mask or None, or None
Mask = Union[Tensor, Mapping[str, Union[Tensor, None]], None]


def fields_of(x: Tensors) -> dict[str | None, Tensor]:
    """``{name: tensor}`` of a State, ``{None: x}`` of a tensor."""
    return x.as_dict() if isinstance(x, State) else {None: x}


def field_mask(mask: Mask, name: str | None) -> Tensor | None:
    """The mask of field ``name``: the dict's entry, or the one mask every field shares."""
    if mask is None or isinstance(mask, Tensor):
        return mask
    return mask.get(name)


def batch_size(x: Tensors) -> int:
    return int(x.shape[0])


def batch_map(fn: Callable[[Tensor], Tensor], x: Any) -> Any:
    """``fn`` applied to every tensor of a tensor, State, dict of tensors / None, or None."""
    if x is None:
        return None
    if isinstance(x, Tensor):
        return fn(x)
    if isinstance(x, State):
        return x.map(fn)
    if isinstance(x, Mapping):
        return {k: batch_map(fn, v) for k, v in x.items()}
    raise TypeError(f"cannot map over {type(x).__name__}")


def take(x: Any, index: slice | Tensor) -> Any:
    """Rows ``index`` of the batch axis of a tensor, State, dict of tensors / None, or None."""
    return batch_map(lambda v: v[index.to(v.device) if isinstance(index, Tensor) else index], x)


def _join(items: Sequence[Any], join: Callable[[list[Tensor]], Tensor]) -> Any:
    first = items[0]
    if first is None:
        return None
    if isinstance(first, Tensor):
        return join(list(items))
    if isinstance(first, (State, Mapping)):
        keys = list(first.keys())
        joined = {k: _join([it[k] for it in items], join) for k in keys}
        return State(joined) if isinstance(first, State) else joined
    raise TypeError(f"cannot join {type(first).__name__}")


def cat(items: Sequence[Any], dim: int = 0) -> Any:
    """``torch.cat`` along ``dim`` of tensors, States (field by field) or dicts of them."""
    if not items:
        raise ValueError("nothing to concatenate")
    return _join(items, lambda vs: torch.cat(vs, dim=dim))


def stack(items: Sequence[Any]) -> Any:
    """``torch.stack`` of tensors or States along a new leading axis (``(T, B, ...)``)."""
    if not items:
        raise ValueError("nothing to stack")
    return _join(items, lambda vs: torch.stack(vs))


def with_batch(shape: tuple[int, ...] | Mapping[str, tuple[int, ...]], n: int) -> Any:
    """A state shape (a tuple, or a dict field -> tuple) with its batch size set to ``n``."""
    if isinstance(shape, Mapping):
        return {k: (int(n),) + tuple(v[1:]) for k, v in shape.items()}
    return (int(n),) + tuple(shape[1:])
