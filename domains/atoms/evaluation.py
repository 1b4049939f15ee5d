"""Every metric of generated 3D molecules as one flat dict (``gensci evaluate``).

* ``atom_stability``, ``molecule_stability`` — EDM's (Hoogeboom et al. 2022), on the
  molecules' own bonds when the model generates them, else on bonds inferred from distances;
  for a bond-explicit model also ``*_inferred``, the EDM protocol on its coordinates alone
  (the number comparable with EDM's and GeoLDM's rows);
* ``validity`` (RDKit sanitisation, largest fragment), ``validity_determine_bonds``
  (RDKit's xyz2mol on the bare coordinates), ``uniqueness`` (among valid), ``vu`` (valid and
  unique, over all samples), ``novelty`` (unique valid SMILES absent from the training split);
* ``posebusters_mol_fast`` — the PoseBusters ``mol_fast`` pass rate;
* ``strain_median`` / ``strain_mean`` (kcal/mol, MMFF94 pose minus relaxed) with
  ``strain_fraction`` (where MMFF applies);
* ``bond_length_w1`` (Å) and ``bond_angle_w1`` (degrees) to the reference split, weighted
  by the reference's counts per bond / angle type;
* ``fcd`` — the Fréchet ChemNet distance of the SMILES to the reference split's;
* for samples drawn under conditions, ``<p>_mae`` — EDM's protocol: a property predictor φ
  trained on one half of QM9's training split (:mod:`domains.atoms.property_predictor`,
  shipped as ``domains/atoms/assets/qm9_properties.pt``) scores each molecule, against
  the requested value — with ``<p>_mae_floor`` (φ's own error on real test molecules) and
  ``<p>_mae_ceiling`` (the error with the requests shuffled against the data).

The reference is the first ``reference_size`` molecules of the split (2000 by default).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from domains.atoms import metrics
from domains.atoms.property_predictor import PREDICTOR_PATH
from domains.atoms.stability import stability
from gensci.progress import stage

if TYPE_CHECKING:
    from domains.atoms.domain import AtomSamples, AtomsDomain

__all__ = ["evaluate_atoms", "reference_molecules", "training_smiles"]


def reference_molecules(domain: AtomsDomain, split: str, size: int = 2000) -> list[Any]:
    rows = domain.rows(split)[:size]
    return [domain.data.molecule(r) for r in rows]


def training_smiles(domain: AtomsDomain) -> set[str]:
    """The training split's SMILES in :func:`metrics.canonical_smiles` form (the stored ones are
    RDKit's canonical SMILES after ``RemoveHs``, which keeps the hydrogen of a few imines as
    ``[H]``; only those are recomputed)."""
    cached = domain.__dict__.get("_training_smiles")
    if cached is None:
        cached = {metrics.canonical_smiles(s) if "[H]" in s else s for s in (domain.data.smiles[r] for r in domain.rows("train"))}
        cached.discard(None)
        domain.__dict__["_training_smiles"] = cached
    return cached


#: the shipped property predictor of QM9 (EDM's protocol)
PREDICTOR = PREDICTOR_PATH


def evaluate_atoms(samples: AtomSamples, domain: AtomsDomain, split: str = "test", reference_size: int = 2000,
                   posebusters: bool = True, fcd: bool = True) -> dict[str, float]:
    molecules = list(samples.molecules)
    n = len(molecules)
    out: dict[str, float] = {"n_generated": float(n)}
    stage(f"stability and validity of {n} molecules")
    stab = stability(molecules, "auto")
    out["atom_stability"], out["molecule_stability"] = stab["atom_stability"], stab["molecule_stability"]
    out["atoms_over_bonded"], out["atoms_under_bonded"] = stab["atoms_over_bonded"], stab["atoms_under_bonded"]
    if any(m.bonds is not None for m in molecules):
        inferred = stability(molecules, "inferred")
        out["atom_stability_inferred"] = inferred["atom_stability"]
        out["molecule_stability_inferred"] = inferred["molecule_stability"]
    valid = metrics.validity(molecules)
    out["validity"] = valid.fraction
    out["validity_determine_bonds"] = metrics.validity_determine_bonds(molecules)
    smiles = [s for s in valid.smiles if s]
    out["uniqueness"] = metrics.uniqueness(valid.smiles)
    out["vu"] = len(set(smiles)) / n if n else float("nan")
    stage("novelty against the training molecules")
    train_smiles = training_smiles(domain)
    out["novelty"] = metrics.novelty(valid.smiles, train_smiles)
    if posebusters:
        stage("PoseBusters")
        out["posebusters_mol_fast"] = metrics.posebusters_pass_rate(molecules, "mol_fast")["all"]
    stage("MMFF strain")
    strain = metrics.mmff_strain(molecules)
    out.update({f"strain_{k}": v for k, v in strain.items()})
    stage(f"bond lengths and angles against the {split} split")
    reference = reference_molecules(domain, split, reference_size)
    out["bond_length_w1"] = metrics.bond_length_w1(molecules, reference)["mean"]
    out["bond_angle_w1"] = metrics.bond_angle_w1(molecules, reference)["mean"]
    if fcd:
        stage("FCD")
        out["fcd"] = metrics.fcd(smiles, [domain.data.smiles[r] for r in domain.rows(split)[:reference_size]])
    if samples.requested and domain.data_source == "qm9" and PREDICTOR.is_file():  # φ is a QM9 predictor
        from domains.atoms.property_predictor import PropertyPredictor, property_metrics

        out.update(property_metrics(PropertyPredictor.load(PREDICTOR), molecules, samples.requested))
    return {k: float(v) for k, v in out.items()}
