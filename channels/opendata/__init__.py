"""Public outputs of the street reports: open data GeoJSON export and statistics; report photos."""
