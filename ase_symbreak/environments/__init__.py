"""Local environments: e3nn invariants of neighbourhoods (power spectrum, bispectrum),
coordination polyhedra with a continuous shape measure, octahedral tilts in Glazer notation
and B-site distortions of perovskite children.
"""

from .invariants import (
    Invariants,
    NeighbourProjection,
    bispectrum,
    bispectrum_couplings,
    environment_distance,
    environment_distance_matrix,
    neighbour_projection,
    power_spectrum,
)
from .polyhedra import (
    REFERENCE_POLYHEDRA,
    PolyhedronMatch,
    classify_polyhedra,
    classify_site,
    polyhedron_scores,
    shape_measure,
)
from .tilted import tilted_perovskite
from .tilts import BondDistortion, TiltAnalysis, bond_distortion, expected_irreps, octahedral_tilts

__all__ = [
    "NeighbourProjection",
    "Invariants",
    "neighbour_projection",
    "power_spectrum",
    "bispectrum",
    "bispectrum_couplings",
    "environment_distance",
    "environment_distance_matrix",
    "REFERENCE_POLYHEDRA",
    "PolyhedronMatch",
    "shape_measure",
    "polyhedron_scores",
    "classify_site",
    "classify_polyhedra",
    "TiltAnalysis",
    "BondDistortion",
    "octahedral_tilts",
    "bond_distortion",
    "expected_irreps",
    "tilted_perovskite",
]
