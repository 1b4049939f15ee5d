"""`gensci data deepcad`: a local data.tar is extracted to its cad_json folder (nested or not);
offline, one line says what to do instead."""

import io
import json
import tarfile
from pathlib import Path
from urllib.error import URLError

import pytest

import gensci.download as dl
from domains.cad.deepcad import fetch_deepcad
from gensci.errors import GensciError


def _tar(path: Path, files: dict[str, bytes], mode: str = "w") -> Path:
    with tarfile.open(path, mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_a_local_archive_is_extracted_to_its_json_folder(tmp_path):
    doc = json.dumps({"entities": {}, "sequence": []}).encode()
    archive = _tar(tmp_path / "data.tar", {"data/cad_json/0000/00000007.json": doc, "data/train_val_test_split.json": b"{}"})
    folder = fetch_deepcad(cache_dir=tmp_path / "cache", archive=archive, progress=False)
    assert folder.name == "cad_json" and (folder / "0000" / "00000007.json").read_bytes() == doc
    assert archive.is_file()  # a given archive is left alone
    assert fetch_deepcad(cache_dir=tmp_path / "cache", progress=False) == folder  # found again without network


def test_a_nested_json_archive_is_unpacked(tmp_path):
    inner = _tar(tmp_path / "cad_json.tar.gz", {"cad_json/0001/00010001.json": b"{}"}, mode="w:gz")
    outer = _tar(tmp_path / "data.tar", {"data/cad_json.tar.gz": inner.read_bytes()})
    folder = fetch_deepcad(cache_dir=tmp_path / "cache", archive=outer, progress=False)
    assert (folder / "0001" / "00010001.json").is_file()


def test_offline_says_what_to_do_in_one_line(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(dl, "urlopen", refuse)
    with pytest.raises(GensciError) as err:
        fetch_deepcad(cache_dir=tmp_path, progress=False)
    assert "\n" not in str(err.value) and "--archive FILE" in str(err.value) and "domain.source" in str(err.value)


def test_an_archive_without_json_is_named(tmp_path):
    archive = _tar(tmp_path / "other.tar", {"something/else.txt": b"x"})
    with pytest.raises(GensciError, match="no cad_json"):
        fetch_deepcad(cache_dir=tmp_path / "cache", archive=archive, progress=False)
