"""Coordinates (lenient, never ambiguous) and the tenant boundaries (validation, specificity)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.kernel.errors import ValidationFailed
from workflows.procedures.street_reports.boundaries import shipped_boundaries
from workflows.procedures.street_reports.location import (
    bounding_box,
    distance_m,
    parse_coordinate,
    validate_boundary,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("value", "field", "expected"),
    [
        ("45.764", "lat", 45.764),
        (" 4.835 ", "long", 4.835),
        ("+4.8", "lon", 4.8),
        (-90, "lat", -90.0),
        (180, "long", 180.0),
        ("45.123456789", "lat", 45.123456789),  # more than 6 decimals: accepted
    ],
)
def test_lenient_numbers(value: object, field: str, expected: float) -> None:
    assert parse_coordinate(value, field) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "field", "kind"),
    [
        ("48,85", "lat", "decimal_comma"),
        ("abc", "lat", "number"),
        ("NaN", "lat", "finite"),
        ("-Infinity", "long", "finite"),
        ("1e400", "lat", "finite"),
        (float("nan"), "lat", "finite"),
        (91, "lat", "range"),
        (-90.0001, "lat", "range"),
        (181, "long", "range"),
        ("", "lat", "missing"),
        (None, "lat", "missing"),
        (True, "lat", "number"),
        ("4\x00", "lat", "number"),
        ("1" * 50, "lat", "number"),
    ],
)
def test_refused_with_the_reason(value: object, field: str, kind: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_coordinate(value, field)  # type: ignore[arg-type]
    assert caught.value.errors[0]["type"] == kind
    assert caught.value.errors[0]["field"] == field


def test_decimal_comma_message_tells_what_to_write() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_coordinate("48,85", "lat")
    assert "point" in caught.value.detail


@given(st.floats(min_value=-90, max_value=90, allow_nan=False))
def test_every_valid_latitude_round_trips_as_text(value: float) -> None:
    assert parse_coordinate(repr(value), "lat") == value


def test_distance_of_one_thousandth_of_a_degree_of_latitude() -> None:
    # 0.001° of latitude is about 111.2 m anywhere on Earth.
    assert distance_m(45.0, 4.8, 45.001, 4.8) == pytest.approx(111.2, abs=0.2)


def test_bounding_box_contains_the_radius() -> None:
    min_lat, max_lat, min_lon, max_lon = bounding_box(45.75, 4.80, 250)
    assert distance_m(45.75, 4.80, max_lat, 4.80) > 250
    assert distance_m(45.75, 4.80, 45.75, max_lon) > 250
    assert min_lat < 45.75 < max_lat and min_lon < 4.80 < max_lon


def test_shipped_boundaries_are_valid_and_nested() -> None:
    from shapely.geometry import shape

    shapes = {k: shape(validate_boundary(v)) for k, v in shipped_boundaries().items()}
    assert shapes["69000"].contains(shapes["69001"]) and shapes["69000"].contains(shapes["69002"])
    assert not shapes["69001"].overlaps(shapes["69002"])  # side by side, sharing an edge


@pytest.mark.parametrize(
    ("geojson", "words"),
    [
        ({"type": "Point", "coordinates": [4.8, 45.7]}, "Polygon"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}, "valide"),
        ({"type": "Polygon", "coordinates": [[[200, 0], [201, 0], [201, 1], [200, 0]]]}, "WGS84"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0]]]}, "illisible"),
        ({"type": "Polygon", "coordinates": "nope"}, "mal formées"),
        ({"type": "Polygon", "coordinates": [[[math.nan, 0], [1, 0], [1, 1], [0, 0]]]}, "finie"),
        ([1, 2], "objet"),
        ({"type": "Feature", "geometry": None}, "géométrie"),
    ],
)
def test_bad_boundaries_are_refused_with_a_reason(geojson: object, words: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_boundary(geojson)
    assert words in caught.value.detail


def test_feature_and_multipolygon_accepted() -> None:
    square = [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]
    assert (
        validate_boundary(
            {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": square}}
        )["type"]
        == "Polygon"
    )
    multi = validate_boundary({"type": "MultiPolygon", "coordinates": [square]})
    assert multi["type"] == "MultiPolygon"
