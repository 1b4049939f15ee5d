"""Downloading a file once, with a progress bar, atomically.

:func:`download` streams ``url`` into a temporary file beside ``path`` and renames it into
place only when every byte has arrived (and, when the server sends ``Content-Length``, the
byte count matches), so an interrupted download never leaves a truncated file under the
final name. Without network access it raises a one-line :class:`GensciError` that says
what to do instead.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.error import URLError
from urllib.request import Request, urlopen

from tqdm.auto import tqdm

from gensci.errors import GensciError
from gensci.io import atomic_path

__all__ = ["download", "extract_archive", "fetch_archive", "CHUNK"]

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


def extract_archive(archive: str | os.PathLike, dest: str | os.PathLike, progress: bool = True) -> Path:
    """Extract a ``.tgz`` into ``dest`` atomically (a temporary folder renamed into place).

    Members that would land outside ``dest`` (absolute paths, ``..``, links out) are refused
    (``tarfile``'s ``data`` filter). An existing ``dest`` is replaced only after success.
    """
    archive, dest = Path(archive), Path(dest)
    if not archive.is_file():
        raise GensciError(f"no such archive: {archive}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        try:
            with tarfile.open(archive, "r:*") as tar:
                members = tar.getmembers()
                for member in tqdm(members, desc=f"extracting {archive.name}", unit="file", disable=not progress):
                    tar.extract(member, tmp, filter="data")
        except (tarfile.TarError, EOFError, OSError) as err:
            raise GensciError(f"cannot extract {archive.name}: {err}; delete it and download again") from None
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return dest


def fetch_archive(url: str, archive_name: str, folder: str | os.PathLike, archive: str | os.PathLike | None = None,
                  force: bool = False, progress: bool = True, ready: Callable[[Path], bool] | None = None,
                  offline_hint: str = "") -> Path:
    """A public archive extracted into ``folder`` once: downloaded from ``url`` beside the
    folder as ``archive_name`` (deleted after a successful extraction), or extracted from a
    local copy ``archive`` (left alone). Nothing is done when ``ready(folder)`` holds (default:
    the folder exists), unless ``force`` or ``archive`` is given. Returns ``folder``.
    """
    folder = Path(folder)
    ready = ready or (lambda f: f.is_dir())
    if ready(folder) and not force and archive is None:
        return folder
    if archive is None:
        target = folder.parent / archive_name
        if force or not target.is_file():
            download(url, target, progress=progress, offline_hint=offline_hint)
        extract_archive(target, folder, progress=progress)
        target.unlink()
    else:
        extract_archive(archive, folder, progress=progress)
    return folder
