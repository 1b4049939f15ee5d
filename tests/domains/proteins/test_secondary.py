"""Secondary structure: pydssp against the reference DSSP strings, P-SEA as a cross-check."""

from pathlib import Path

import numpy as np
import pytest

from domains.proteins.secondary import dssp_labels, psea_labels, ss_composition, ss_fractions
from gensci.errors import GensciError


def _reference(data_dir: Path, chain) -> np.ndarray | None:
    path = data_dir / (Path(chain.source).name.removesuffix(".gz") + ".dssp")
    return np.array(list(path.read_text().split()[0])) if path.exists() else None


def _full(chain) -> np.ndarray:
    return np.concatenate([chain.coords, chain.oxygen[:, None]], axis=1)


def test_dssp_labels_match_the_reference_with_real_or_placed_oxygen(data_dir, real_chains):
    checked = 0
    for chain in real_chains:
        ref = _reference(data_dir, chain)
        if ref is None:
            continue
        for labels in (dssp_labels(_full(chain)), dssp_labels(chain.coords), dssp_labels(_full(chain), chain.sequence)):
            assert labels.shape == ref.shape and set(labels) <= {"H", "E", "-"}
            assert np.mean(labels == ref) >= 0.95, chain.name
        checked += 1
    assert checked == 4


def test_psea_agrees_with_dssp_on_real_chains(real_chains):
    """P-SEA reads CA only; on real chains it agrees with DSSP on roughly 80% of residues
    (79% on the 50 MDAnalysisTests chains), most on the all-helical 4GCN."""
    agreement = {c.name: float(np.mean(psea_labels(c.coords) == dssp_labels(_full(c)))) for c in real_chains}
    assert min(agreement.values()) > 0.65, agreement
    assert np.mean(list(agreement.values())) > 0.75, agreement
    assert agreement["4gcnA.pdb.gz:A"] > 0.9


def test_fractions_are_label_counts_over_length():
    assert ss_fractions("HHHHEE----") == pytest.approx((0.4, 0.2, 0.4))
    assert ss_fractions(np.array(["-", "-"])) == (0.0, 0.0, 1.0)
    assert all(np.isnan(ss_fractions("")))


def test_composition_is_the_mean_of_per_chain_fractions(real_chains):
    backbones = [_full(c) for c in real_chains]
    for method, assign in (("dssp", dssp_labels), ("psea", psea_labels)):
        per_chain = np.array([ss_fractions(assign(bb)) for bb in backbones])
        comp = ss_composition(backbones, method)
        assert list(comp) == ["helix", "strand", "coil"]
        np.testing.assert_allclose([comp["helix"], comp["strand"], comp["coil"]], per_chain.mean(0))
        assert sum(comp.values()) == pytest.approx(1.0)
    # the all-helical chain is mostly helix by both methods, the beta chain mostly strand or coil
    by_name = {c.name: _full(c) for c in real_chains}
    assert ss_composition([by_name["4gcnA.pdb.gz:A"]])["helix"] > 0.75
    assert ss_composition([by_name["4gcnA.pdb.gz:A"]], "psea")["helix"] > 0.75
    assert ss_composition([by_name["1ahsA.pdb.gz:A"]])["strand"] > 0.35


def test_an_ideal_alpha_helix_is_helix_and_bad_input_is_refused():
    """A helix built from ideal angles (phi, psi = -57, -47 degrees) is all H inside."""
    import torch

    from domains.proteins.nerf import angles_to_backbone

    n = 30
    angles = torch.tensor([np.radians(a) for a in (-57.0, -47.0, 180.0, 111.0, 116.0, 122.0)]).repeat(n, 1)
    bb = angles_to_backbone(angles).numpy()
    for labels in (dssp_labels(bb), psea_labels(bb)):
        assert np.mean(labels[2:-2] == "H") > 0.9
    with pytest.raises(GensciError, match="shaped"):
        dssp_labels(np.zeros((5, 2, 3)))
    with pytest.raises(GensciError, match="method"):
        ss_composition([bb], "stride")


def test_psea_is_invariant_to_rotation_and_bounded_in_memory(real_chains):
    """P-SEA runs on the CA atoms' principal axes: a rotated chain gets the same labels, a chain
    with one CA at 9999 Å no longer asks for a 80 GiB grid, and a cloud spread in all three
    directions is refused in one line before anything is allocated."""
    from scipy.spatial.transform import Rotation

    from domains.proteins.secondary import MAX_PSEA_GRID_BYTES, psea_grid_bytes

    chain = real_chains[0].coords
    turned = Rotation.from_euler("xyz", [40, -70, 125], degrees=True).apply(chain.reshape(-1, 3)).reshape(chain.shape)
    assert (psea_labels(turned) == psea_labels(chain)).all()
    far = chain.copy()
    far[5, 1] = 9999.0
    assert psea_grid_bytes(far[:, 1]) > 50 * 2**30
    assert psea_labels(far).shape == (len(chain),)
    cloud = np.zeros((4, 3, 3))
    cloud[1:, :, :] = 5000.0 * np.eye(3)[:, None, :]
    with pytest.raises(GensciError, match=r"^P-SEA refuses a backbone of 4 residues .* GiB") as err:
        psea_labels(cloud)
    assert "\n" not in str(err.value) and psea_grid_bytes(cloud[:, 1]) > MAX_PSEA_GRID_BYTES


def test_every_length_gets_labels(real_chains):
    """pydssp itself fails on 3 to 5 residues (found by fuzzing the reader: a 5-residue chain
    read from a PDB file); both methods label chains of any length."""
    chain = real_chains[0].coords
    for n in range(8):
        for assign in (dssp_labels, psea_labels):
            labels = assign(chain[:n])
            assert labels.shape == (n,) and set(labels) <= {"H", "E", "-"}, (assign.__name__, n)
