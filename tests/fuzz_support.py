"""What the reader fuzzers share: run a reader on fuzzed bytes and hold it to the contract.

The contract: a reader returns its objects or raises a :class:`GensciError` whose message is
one line; nothing else escapes, and the traced memory peak stays under a bound.
"""

from __future__ import annotations

import tempfile
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path

from hypothesis import event

from gensci.errors import GensciError

__all__ = ["one_line", "read_fuzzed"]


def one_line(text: str) -> bool:
    return bool(text) and "\n" not in text and "\r" not in text


def read_fuzzed(data: bytes, suffix: str, reader: Callable[[Path], object], max_bytes: int) -> object | None:
    """``reader(path)`` on ``data`` written to a ``suffix`` file: its result, or None after a
    one-line GensciError; the traced peak is checked against ``max_bytes`` either way."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"fuzz{suffix}"
        path.write_bytes(data)
        tracemalloc.start()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # skipped rows / dropped molecules are counted in a warning
                return reader(path)
        except GensciError as err:
            assert one_line(str(err)), str(err)
            event("GensciError")
            return None
        finally:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            assert peak < max_bytes, f"{peak / 2**20:.0f} MiB"
