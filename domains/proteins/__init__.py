"""The ``proteins`` domain: protein backbones as internal angles (FoldingDiff, arXiv 2209.15611).

The pieces:

* :mod:`~domains.proteins.angles` — N, CA, C coordinates to six angles per residue
  (phi, psi, omega, N-CA-C, CA-C-N, C-N-CA) measured with biotite; the row convention.
* :mod:`~domains.proteins.nerf` — the inverse: a batched, differentiable NeRF rebuild
  with Engh & Huber bond lengths, and ideal carbonyl O placement.
* :mod:`~domains.proteins.structures` — PDB / mmCIF / BinaryCIF readers with chain
  selection, skipping of broken chains (with reasons), length filters and random crops.
* :mod:`~domains.proteins.pdb` — poly-glycine PDB writers (one structure, a batch, or a
  multi-model trajectory), written atomically.

* :mod:`~domains.proteins.dataset` — circular-mean centring, seeded splits, crops, padding.
* :mod:`~domains.proteins.network` — :class:`AngleTransformer`, the denoiser of the angles.
* :mod:`~domains.proteins.metrics` — geometric sanity metrics (CA-CA, clashes, Rg).
* :mod:`~domains.proteins.secondary` — DSSP (pydssp) and P-SEA (biotite) secondary structure.
* :mod:`~domains.proteins.distributions` — circular histogram KLs and the independent-marginal baseline.
* :mod:`~domains.proteins.similarity` — TM-align novelty and diversity; :mod:`~domains.proteins.sctm`
  the optional scTM hook; :mod:`~domains.proteins.plots` the Ramachandran PNG.
* :mod:`~domains.proteins.evaluation` — all of the above against a split, for ``gensci evaluate``.
* :mod:`~domains.proteins.ss_condition` — helix / strand / coil fractions as a condition.
* :mod:`~domains.proteins.domain` — :class:`ProteinsDomain`, the engine's adapter.

biotite is imported only inside the functions that need it.
"""

from domains.proteins.angles import (
    ANGLE_NAMES,
    BOND_ANGLES,
    DIHEDRALS,
    backbone_atom_array,
    backbone_to_angles,
    defined_mask,
    mask_lengths,
)
from domains.proteins.nerf import (
    C_O_LENGTH,
    CA_C_O_ANGLE,
    IDEAL_BOND_LENGTHS,
    BondLengths,
    angles_to_backbone,
    place_atom,
    place_oxygen,
)
from domains.proteins.domain import ProteinsDomain
from domains.proteins.secondary import dssp_labels, psea_labels, ss_composition, ss_fractions
from domains.proteins.network import AngleTransformer
from domains.proteins.pdb import backbone_atoms, pdb_text, write_pdb, write_pdb_models, write_pdbs
from domains.proteins.structures import (
    STANDARD_RESIDUES,
    STRUCTURE_SUFFIXES,
    BackboneChain,
    ReadReport,
    SkippedChain,
    crop_start,
    extract_chains,
    random_crop,
    read_chains,
    read_structure,
    structure_files,
)

__all__ = [
    "ProteinsDomain",
    "dssp_labels",
    "psea_labels",
    "ss_composition",
    "ss_fractions",
    "AngleTransformer",
    "ANGLE_NAMES",
    "BOND_ANGLES",
    "DIHEDRALS",
    "backbone_atom_array",
    "backbone_to_angles",
    "defined_mask",
    "mask_lengths",
    "C_O_LENGTH",
    "CA_C_O_ANGLE",
    "IDEAL_BOND_LENGTHS",
    "BondLengths",
    "angles_to_backbone",
    "place_atom",
    "place_oxygen",
    "backbone_atoms",
    "pdb_text",
    "write_pdb",
    "write_pdb_models",
    "write_pdbs",
    "STANDARD_RESIDUES",
    "STRUCTURE_SUFFIXES",
    "BackboneChain",
    "ReadReport",
    "SkippedChain",
    "crop_start",
    "extract_chains",
    "random_crop",
    "read_chains",
    "read_structure",
    "structure_files",
]
