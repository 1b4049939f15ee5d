"""Atomic file output: write to a temporary name beside the target, then rename.

A crash or an exception while writing never leaves a half-written file under the final
name: ``os.replace`` is atomic on POSIX and Windows when both names are on one filesystem.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_write", "atomic_path", "cache_root"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual permissions
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open a temporary file beside ``path`` for writing; rename it into place on success."""
    if not any(m in mode for m in "wa"):
        raise ValueError(f"atomic_write needs a write mode, got {mode!r}")
    with atomic_path(path) as tmp:
        with open(tmp, mode, **kwargs) as handle:
            yield handle


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where derived data (featurised sets, reference statistics) is cached:
    ``cache_dir`` if given, else ``$GENSCI_CACHE``, else ``~/.cache/gensci``."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("GENSCI_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "gensci"
