"""Domain adapters: one package per field (points, molecules, proteins, atoms, cad)."""
