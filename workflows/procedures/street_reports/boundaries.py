"""Test and demo boundaries shipped with Guichet: simple rectangles of our own making, not real
survey data (``data/test_boundaries.geojson``).

- 69000 (test métropole): lon 4.70–5.00, lat 45.60–45.90; inside it, side by side, 69001
  (commune A, lon 4.75–4.85) and 69002 (commune B, lon 4.85–4.95), both lat 45.70–45.80. A point
  in neither commune but inside the métropole (e.g. 45.65, 4.80) is the métropole's.
- 99000 (demo métropole) and 99001 (Démoville) for ``guichet demo``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data" / "test_boundaries.geojson"

POINT_IN_A = (45.75, 4.80)
POINT_IN_B = (45.75, 4.90)
POINT_IN_METROPOLE_ONLY = (45.65, 4.80)
POINT_OUTSIDE = (48.85, 2.35)
"""(lat, lon) examples for tests and documentation (the last one is in Démoville, outside the
test métropole)."""


@lru_cache(maxsize=1)
def shipped_boundaries() -> dict[str, dict[str, Any]]:
    """INSEE code → GeoJSON geometry."""
    collection = json.loads(DATA.read_text(encoding="utf-8"))
    return {
        str(feature["properties"]["insee"]): feature["geometry"]
        for feature in collection["features"]
    }
