"""The atoms domain end to end on a small real slice of QM9: records, masks, the product
process, ZeroCoM everywhere, sampler-level equivariance, SDF out and back."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from rdkit import Chem

from domains.atoms import AtomsDomain
from domains.atoms.network import AtomsNetwork
from gensci.config import compose
from gensci.core.state import State
from gensci.errors import GensciError
from gensci.model import build_process, make_sampler

LIMIT = 400


@pytest.fixture(scope="module")
def domain(tmp_path_factory) -> AtomsDomain:
    d = AtomsDomain(limit=LIMIT, conditions=["gap", "mu"], cache_dir=str(tmp_path_factory.mktemp("cache")), progress=False)
    d.prepare()
    return d


def _process(domain: AtomsDomain, experiment: str = "atoms/tiny"):
    cfg = compose(experiment, [])
    return build_process(OmegaConf.to_container(cfg.process, resolve=True), domain)


def test_qm9_slice_is_read_with_hydrogens_bonds_and_charges(domain: AtomsDomain):
    data = domain.data
    assert len(data) + data.dropped == LIMIT and data.dropped < 0.1 * LIMIT
    first = data.molecule(0)  # QM9 #1 is methane: C + 4 H, four single bonds
    assert sorted(first.numbers.tolist()) == [1, 1, 1, 1, 6] and len(first.bond_list()) == 4
    # every stored molecule round-trips to its SMILES through RDKit with its own bonds and charges
    from domains.atoms.molecule import to_rdkit
    for i in range(0, len(data), 37):
        mol = to_rdkit(data.molecule(i), sanitize=True)
        assert Chem.MolToSmiles(Chem.RemoveHs(mol), isomericSmiles=False) == data.smiles[i]
    s = domain.stats()
    assert s["elements"] == ["H", "C", "N", "O", "F"] and abs(sum(s["bond_marginal"]) - 1) < 1e-9
    assert sum(s["atom_count_histogram"]) == len(domain.rows("train"))


def test_batches_are_records_with_masks_and_zero_centre_of_mass(domain: AtomsDomain):
    batch = domain.dataset("train").__getitems__(list(range(8)))
    x, mask = batch.x, batch.mask
    assert set(x.keys()) == {"pos", "types", "charges", "bonds"}
    atoms = mask["pos"]
    n = atoms.sum(1)
    assert (x["pos"].sum(1).abs() < 1e-4).all()  # zero CoM over real atoms, pads zero
    assert (x["pos"][~atoms] == 0).all() and (x["bonds"][~mask["bonds"]] == 0).all()
    assert (x["bonds"] == x["bonds"].transpose(1, 2)).all()
    assert int(atoms.shape[1]) == int(n.max())  # padded to the batch's largest molecule
    assert set(batch.cond) == {"gap", "mu"}


def test_the_product_process_keeps_zero_com_and_symmetric_bonds(domain: AtomsDomain):
    process = _process(domain)
    batch = domain.dataset("train").__getitems__(list(range(16)))
    g = torch.Generator().manual_seed(0)
    c = process.corrupt(batch.x, generator=g, mask=batch.mask)
    atoms = batch.mask["pos"]
    assert c.x_t["pos"].sum(1).abs().max() < 1e-4 and (c.x_t["pos"][~atoms] == 0).all()
    assert (c.x_t["bonds"] == c.x_t["bonds"].transpose(1, 2)).all()
    assert (c.x_t["bonds"].diagonal(dim1=1, dim2=2) == 0).all()
    # the OT alignment pairs noise with data more closely than the draw did
    assert c.logs["pos/coupling/cost"] < c.logs["pos/coupling/cost_before"]
    prior = process.prior({k: tuple(v.shape) for k, v in batch.x.items()}, generator=g, mask=batch.mask)
    assert prior["pos"].sum(1).abs().max() < 1e-4 and (prior["bonds"] == prior["bonds"].transpose(1, 2)).all()


def _rotation(seed: int) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    return q if torch.det(q) > 0 else -q


@pytest.mark.parametrize("experiment", ["atoms/tiny", "atoms/edm_tiny"])
def test_a_rotated_source_gives_the_rotated_sample(tmp_path, experiment: str):
    """Sampler-level equivariance: same seed, source positions rotated by R -> samples rotated by R."""
    d = AtomsDomain(limit=LIMIT, family="edm" if "edm" in experiment else "flow", cache_dir=str(tmp_path), progress=False)
    d.prepare()
    process = _process(d, experiment)
    torch.manual_seed(0)
    net = AtomsNetwork(**d.network_kwargs(), hidden=32, edge_dim=8, trunk_kwargs={"layers": 2}).double().eval()
    plan = d.plan(6, atoms_seed=3)
    prior = process.prior(plan.shape, generator=torch.Generator().manual_seed(1), mask=plan.mask, dtype=torch.float64)
    prior = State({k: v.double() if v.is_floating_point() else v for k, v in prior.items()})
    rot = _rotation(5)
    turned = State({k: (v @ rot.T if k == "pos" else v) for k, v in prior.items()})
    # deterministic samplers: a stochastic step draws fresh, unrotated noise
    sampler = make_sampler("euler" if "edm" not in experiment else "ddim", steps=8, progress=False)
    a = sampler.sample(net, process, plan.shape, mask=plan.mask, generator=torch.Generator().manual_seed(2), x_init=prior).x
    b = sampler.sample(net, process, plan.shape, mask=plan.mask, generator=torch.Generator().manual_seed(2), x_init=turned).x
    err = (a["pos"] @ rot.T - b["pos"]).abs().max() / a["pos"].abs().max()
    assert err < 1e-9, err
    for k in a.keys():
        if k != "pos":
            assert torch.allclose(a[k], b[k], atol=1e-9), k
    assert a["pos"].sum(1).abs().max() < 1e-9  # the sampler keeps zero CoM


def test_plan_draws_atom_counts_and_checks_its_options(domain: AtomsDomain):
    plan = domain.plan(50, atoms="12..14")
    counts = plan.info["num_atoms"]
    assert min(counts) >= 12 and max(counts) <= 14
    assert plan.shape["bonds"] == (50, max(counts), max(counts))
    assert (plan.mask["pos"].sum(1) == torch.tensor(counts)).all()
    with pytest.raises(GensciError, match="--atoms"):
        domain.plan(2, atoms="40")
    with pytest.raises(GensciError, match="unknown condition"):
        domain.plan(2, conditions={"homo": 0.1})
    with pytest.raises(GensciError, match="outside the training range"):
        domain.plan(2, conditions={"gap": 10.0})
    with pytest.raises(GensciError, match="unknown sampling option"):
        domain.plan(2, colour="red")


def test_decoded_data_writes_sdf_that_rdkit_reads_with_hydrogens(domain: AtomsDomain, tmp_path):
    """Decode real molecules (a data batch as if sampled), write, and read back with RDKit."""
    rows = list(range(10))
    batch = domain.dataset("train").__getitems__(rows)
    plan = domain.plan(10)
    plan.info["num_atoms"] = batch.mask["pos"].sum(1).tolist()
    plan.info["requested"] = {"gap": 0.25}
    samples = domain.decode(batch.x, plan)
    path = domain.write(samples, tmp_path / "mols.sdf")
    supplier = Chem.SDMolSupplier(str(path), removeHs=False, sanitize=True)
    mols = list(supplier)
    assert len(mols) == 10 and all(m is not None for m in mols)
    train = domain.rows("train")
    for m, r, sample in zip(mols, train[:10], samples.molecules):
        assert m.GetNumAtoms() == len(sample) and m.GetConformer().Is3D()
        assert Chem.MolToSmiles(Chem.RemoveHs(m), isomericSmiles=False) == domain.data.smiles[r]
        assert np.abs(m.GetConformer().GetPositions() - sample.positions).max() < 1e-4
        assert float(m.GetProp("requested_gap")) == 0.25
    back = domain.read(path)
    assert back.requested == {"gap": 0.25} and len(back) == 10
    metrics = domain.evaluate(back, split="val")
    assert metrics["validity"] == 1.0 and metrics["molecule_stability"] > 0.8


def test_a_fragment_is_kept_exactly_and_the_rest_generated(domain: AtomsDomain, tmp_path):
    """--fragment: the first atoms of every sample are the fragment (classes, bonds, internal
    distances), even with an untrained network; the other atoms are generated around it."""
    from domains.atoms.files import write_sdf

    fragment = domain.data.molecule(domain.rows("train")[5])
    path = write_sdf([fragment], tmp_path / "fragment.sdf")
    process = _process(domain)
    torch.manual_seed(0)
    net = AtomsNetwork(**domain.network_kwargs(), hidden=32, edge_dim=8, trunk_kwargs={"layers": 2}).eval()
    plan = domain.plan(4, fragment=str(path))
    assert min(plan.info["num_atoms"]) > len(fragment)
    wrapped = domain.wrap_network(net, plan, process)
    sampler = make_sampler("euler", steps=12, progress=False)
    x = sampler.sample(wrapped, process, plan.shape, mask=plan.mask, generator=torch.Generator().manual_seed(0)).x
    samples = domain.decode(x, plan)
    f = len(fragment)
    want = np.linalg.norm(fragment.positions[:, None] - fragment.positions[None], axis=-1)
    for m in samples.molecules:
        assert (m.numbers[:f] == fragment.numbers).all() and (m.charges[:f] == fragment.charges).all()
        assert (m.bonds[:f, :f] == fragment.bonds).all()
        got = np.linalg.norm(m.positions[:f, None] - m.positions[None, :f], axis=-1)
        assert np.abs(got - want).max() < 1e-3
        assert m.properties["fragment_atoms"] == f
    with pytest.raises(GensciError, match="fragment alone"):
        domain.plan(2, fragment=str(path), atoms=str(f))


def test_users_sdf_folders_are_split_by_molecule(tmp_path):
    """Conformers of one molecule land in one split; the splits are 80 / 10 / 10 % of molecules."""
    from rdkit.Chem import AllChem

    from domains.atoms.files import write_sdf
    from domains.atoms.molecule import from_rdkit

    records = []
    for i, smi in enumerate(["CCO", "CCN", "CCC", "OCCO", "NCCO", "CC(C)O", "CCOC", "C1CC1", "CC=O", "CC#N",
                             "OC=O", "CNC", "COC", "CCCl"]):
        mol = Chem.AddHs(Chem.MolFromSmiles(smi))
        AllChem.EmbedMultipleConfs(mol, 3, randomSeed=i)
        records += [from_rdkit(mol, conformer=c) for c in range(mol.GetNumConformers())]
    folder = tmp_path / "mine"
    write_sdf(records, folder / "part_0.sdf")
    d = AtomsDomain(source=str(folder), elements=["H", "C", "N", "O", "Cl"], cache_dir=str(tmp_path), progress=False)
    split_of: dict[str, set[str]] = {}
    for s, where in zip(d.data.smiles, d.data.split):
        split_of.setdefault(s, set()).add(where)
    assert all(len(v) == 1 for v in split_of.values())
    per = {k: sum(1 for v in split_of.values() if k in v) for k in ("train", "val", "test")}
    assert per["train"] >= 10 and per["val"] >= 1 and per["test"] >= 1


def test_plan_draws_atom_counts_given_the_requested_property(tmp_path):
    """alpha grows with the molecule: a large requested alpha draws large molecules (the
    training pairs' p(n | alpha)), a small one small molecules; --atoms still wins."""
    d = AtomsDomain(limit=LIMIT, conditions=["alpha"], cache_dir=str(tmp_path), progress=False)
    d.prepare()
    alpha, sizes = d.data.properties["alpha"].double(), d.data.num_atoms.double()
    assert float(torch.corrcoef(torch.stack([alpha, sizes]))[0, 1]) > 0.5  # the premise, on the data
    low, high = torch.quantile(alpha, torch.tensor([0.1, 0.9], dtype=torch.float64)).tolist()
    small = torch.tensor(d.plan(400, conditions={"alpha": low}).info["num_atoms"], dtype=torch.float64)
    large = torch.tensor(d.plan(400, conditions={"alpha": high}).info["num_atoms"], dtype=torch.float64)
    free = torch.tensor(d.plan(400).info["num_atoms"], dtype=torch.float64)
    near_low = sizes[(alpha - low).abs() <= (alpha - low).abs().quantile(0.1)].mean()
    near_high = sizes[(alpha - high).abs() <= (alpha - high).abs().quantile(0.1)].mean()
    assert small.mean() < free.mean() - 1 < large.mean() - 2
    assert abs(float(small.mean() - near_low)) < 1.5 and abs(float(large.mean() - near_high)) < 1.5
    fixed = d.plan(20, conditions={"alpha": high}, atoms="8").info["num_atoms"]
    assert fixed == [8] * 20
