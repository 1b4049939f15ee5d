"""`gensci data cath`: extraction of a CATH-style archive, reading its extensionless files,
and a clear one-line error without network (no test touches the network)."""

import gzip
import tarfile
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest

import gensci.download as dl
from domains.proteins.cath import fetch_cath
from gensci.download import extract_archive
from domains.proteins.structures import read_chains
from gensci.cli import main
from gensci.errors import GensciError

DSSP_FILES = ("2xcjA", "2va0A", "1ahsA", "4gcnA")


@pytest.fixture(scope="module")
def archive(tmp_path_factory, data_dir) -> Path:
    """A small ``.pdb.tgz`` shaped like CATH's: ``dompdb/<id>`` PDB files without extension."""
    root = tmp_path_factory.mktemp("cath")
    with tarfile.open(root / "cath-dataset-nonredundant-S40.pdb.tgz", "w:gz") as tar:
        for k, name in enumerate(DSSP_FILES):
            text = gzip.decompress((data_dir / f"{name}.pdb.gz").read_bytes())
            member = root / f"{name[:4]}A0{k}"
            member.write_bytes(text)
            tar.add(member, arcname=f"dompdb/{member.name}")
    return root / "cath-dataset-nonredundant-S40.pdb.tgz"


def test_extracted_domains_read_as_the_original_chains(archive, tmp_path, data_dir):
    folder = fetch_cath(cache_dir=tmp_path, archive=archive, progress=False)
    assert folder == tmp_path / "proteins" / "cath-s40" / "dompdb"
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{n[:4]}A0{k}" for k, n in enumerate(DSSP_FILES))
    chains, report = read_chains(folder, min_length=1)
    assert report.files == 4 and report.kept == 4
    originals = {Path(c.source).name.split(".")[0][:4]: c for c in read_chains(data_dir, min_length=40)[0]}
    for chain in chains:
        ref = originals[Path(chain.source).name[:4]]
        assert chain.sequence == ref.sequence
        np.testing.assert_allclose(chain.coords, ref.coords)


def test_extraction_is_atomic_and_refuses_paths_outside(tmp_path):
    evil = tmp_path / "evil.tgz"
    payload = tmp_path / "payload"
    payload.write_text("ATOM\n")
    with tarfile.open(evil, "w:gz") as tar:
        tar.add(payload, arcname="../outside")
    with pytest.raises(GensciError, match="cannot extract"):
        extract_archive(evil, tmp_path / "dest", progress=False)
    assert not (tmp_path / "dest").exists() and not (tmp_path.parent / "outside").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".dest")] == []


def test_non_pdb_extensionless_files_are_ignored(tmp_path, data_dir):
    (tmp_path / "README").write_text("not a structure\n")
    (tmp_path / ".hidden").write_text("ATOM\n")
    (tmp_path / "1abcA00").write_bytes(gzip.decompress((data_dir / "2xcjA.pdb.gz").read_bytes()))
    chains, report = read_chains(tmp_path)
    assert report.files == 1 and len(chains) == 1


def test_cli_prints_the_override(archive, tmp_path, capsys):
    assert main(["data", "cath", "--archive", str(archive), "--cache-dir", str(tmp_path), "-q"]) == 0
    out = capsys.readouterr().out
    folder = tmp_path / "proteins" / "cath-s40" / "dompdb"
    assert f"domain.paths=[{folder}]" in out
    # a second call finds the set without downloading
    assert main(["data", "cath", "--cache-dir", str(tmp_path), "-q"]) == 0


def test_offline_prints_one_line_and_exits_2(tmp_path, monkeypatch, capsys):
    def refuse(*args, **kwargs):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(dl, "urlopen", refuse)
    assert main(["data", "cath", "--cache-dir", str(tmp_path), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: cannot download https://download.cathdb.info/")
    assert "needs network access" in err and "--archive FILE" in err and "domain.paths=[FOLDER]" in err
    assert not any(tmp_path.rglob("*.tgz"))
