"""gensci.download: whole files or nothing, and one clear line without network."""

from pathlib import Path
from urllib.error import URLError

import pytest

import gensci.download as dl
from gensci.errors import GensciError


def test_download_copies_every_byte(tmp_path: Path):
    source = tmp_path / "src.bin"
    data = bytes(range(256)) * 9000  # a little over two chunks
    source.write_bytes(data)
    out = dl.download(source.as_uri(), tmp_path / "sub" / "copy.bin", progress=False)
    assert out.read_bytes() == data
    assert sorted(p.name for p in out.parent.iterdir()) == ["copy.bin"]  # no temporary left behind


def test_offline_is_one_line_with_the_hint(tmp_path: Path, monkeypatch):
    def refuse(*args, **kwargs):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(dl, "urlopen", refuse)
    with pytest.raises(GensciError) as err:
        dl.download("https://example.org/x.tgz", tmp_path / "x.tgz", offline_hint="use --archive FILE")
    message = str(err.value)
    assert "\n" not in message and "needs network access" in message and message.endswith("use --archive FILE")
    assert not (tmp_path / "x.tgz").exists()


def test_truncated_download_leaves_nothing(tmp_path: Path, monkeypatch):
    class Short:
        headers = {"Content-Length": "10"}

        def __init__(self):
            self.parts = [b"12345", b""]

        def read(self, n):
            return self.parts.pop(0)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(dl, "urlopen", lambda *a, **k: Short())
    with pytest.raises(GensciError, match="5 of 10 bytes"):
        dl.download("https://example.org/x", tmp_path / "x", progress=False)
    assert list(tmp_path.iterdir()) == []
