"""Downloading a file once, with a progress bar, atomically.

:func:`download` streams ``url`` into a temporary file beside ``path`` and renames it into
place only when every byte has arrived (and, when the server sends ``Content-Length``, the
byte count matches), so an interrupted download never leaves a truncated file under the
final name. Without network access it raises a one-line :class:`GensciError` that says
what to do instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.error import URLError
from urllib.request import Request, urlopen

from tqdm.auto import tqdm

from gensci.errors import GensciError
from gensci.io import atomic_path

__all__ = ["download", "CHUNK"]

#: bytes read per chunk
CHUNK = 1 << 20


def download(url: str, path: str | os.PathLike, progress: bool = True, offline_hint: str = "",
             timeout: float = 60.0) -> Path:
    """Fetch ``url`` into ``path`` (atomically); return ``path``.

    ``offline_hint`` is appended to the error raised when the server cannot be reached,
    e.g. how to get the file by other means.
    """
    path = Path(path)
    request = Request(url, headers={"User-Agent": "gensci"})
    try:
        with urlopen(request, timeout=timeout) as response, atomic_path(path) as tmp:
            size = response.headers.get("Content-Length")
            total = int(size) if size and size.isdigit() else None
            done = 0
            with open(tmp, "wb") as handle, tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                                                  desc=path.name, disable=not progress) as bar:
                while chunk := response.read(CHUNK):
                    handle.write(chunk)
                    done += len(chunk)
                    bar.update(len(chunk))
            if total is not None and done != total:
                raise GensciError(f"download of {url} stopped after {done} of {total} bytes; run it again")
    except (URLError, OSError, TimeoutError) as err:
        reason = getattr(err, "reason", None) or err
        hint = f"; {offline_hint}" if offline_hint else ""
        raise GensciError(f"cannot download {url}: this needs network access ({reason}){hint}") from None
    return path

