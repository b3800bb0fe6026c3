"""Open data over HTTP, as a re-user or a mayor's office would fetch it (issue 6, item 8): the
daily GeoJSON export (no personal data, no free text, rounded positions), the public statistics
and their CSV, per commune or for all."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from channels.opendata._export import PROPERTIES
from channels.opendata.jobs import opendata_export
from channels.opendata.settings import opendata_settings
from documents.jobs import JobDeps
from documents.storage import storage_from_settings
from services.kernel.clock import FrozenClock
from tests.conftest import Seed
from tests.support.cases import apply
from tests.support.http import assert_problem
from tests.support.street_public import PERSONAL
from tests.support.street_reports import (
    POINT_IN_A,
    POINT_IN_B,
    actor_of,
    enable_territory,
    report,
)
from workflows.engine.runner import Engine

pytestmark = pytest.mark.e2e

GEOJSON = "/api/v1/opendata/signalements.geojson"
STATS = "/api/v1/opendata/signalements/statistiques"
PRECISE_A = (POINT_IN_A[0] + 0.001_234, POINT_IN_A[1] + 0.001_987)
"""A point inside commune A given to the metre, as a phone's GPS does."""


async def _personal_report(sm: Any, engine: Engine, clock: FrozenClock, **kw: Any) -> Any:
    """A report by someone who gave everything: name (public too), e-mail, phone, a description
    and an address that name them."""
    return await report(
        sm,
        engine,
        clock,
        point=kw.pop("point", PRECISE_A),
        description=PERSONAL["description"],
        address=PERSONAL["address"],
        public_name=PERSONAL["name"],
        submitter={
            "given_name": "Camille",
            "family_name": "Martin",
            "email": PERSONAL["email"],
            "phone": PERSONAL["phone"],
        },
        **kw,
    )


async def test_geojson_export_has_no_personal_data_and_rounded_points(
    seed: Seed,
    app_client: AsyncTestClient[Any],
    sessionmaker: Any,
    engine: Engine,
    clock: FrozenClock,
) -> None:
    await enable_territory(sessionmaker, clock)
    done = await _personal_report(sessionmaker, engine, clock)
    await _personal_report(sessionmaker, engine, clock, point=POINT_IN_B, category="graffiti")
    r = await app_client.get(GEOJSON)  # no export yet: made on demand
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/geo+json")
    assert r.headers["access-control-allow-origin"] == "*"
    raw = r.content.decode()
    for value in PERSONAL.values():
        assert value not in raw
    for fragment in ("Camille", "Martin", "@example.org", "06 12", "Lilas", "rappelez"):
        assert fragment not in raw
    body = json.loads(raw)
    assert body["type"] == "FeatureCollection"
    assert body["coordinate_decimals"] == 3
    assert "Licence Ouverte" in body["licence"]
    assert len(body["features"]) == 2
    mine = next(f for f in body["features"] if f["properties"]["reference"] == done.reference)
    assert set(mine["properties"]) == set(PROPERTIES)
    assert mine["properties"] == {
        "reference": done.reference,
        "category_code": "chaussee",
        "category_name": mine["properties"]["category_name"],
        "state": "submitted",
        "state_label": "À qualifier",
        "status": "open",
        "submitted_on": "2026-03-02",
        "fixed_on": None,
        "closed_on": None,
        "commune_insee": "69001",
    }
    assert mine["properties"]["category_name"]
    # 45.751234, 4.801987 → on the 3-decimal grid (lon first, RFC 7946).
    assert mine["geometry"] == {"type": "Point", "coordinates": [4.802, 45.751]}


async def test_rounding_is_configurable(
    seed: Seed,
    app_client: AsyncTestClient[Any],
    sessionmaker: Any,
    engine: Engine,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GUICHET_OPENDATA_DECIMALS", "2")
    opendata_settings.cache_clear()
    try:
        await enable_territory(sessionmaker, clock)
        await _personal_report(sessionmaker, engine, clock)
        body = (await app_client.get(GEOJSON)).json()
    finally:
        opendata_settings.cache_clear()
    assert body["coordinate_decimals"] == 2
    assert body["features"][0]["geometry"]["coordinates"] == [4.8, 45.75]


async def test_export_is_the_daily_one_with_cache_validators(
    seed: Seed,
    app_client: AsyncTestClient[Any],
    sessionmaker: Any,
    engine: Engine,
    clock: FrozenClock,
) -> None:
    """Served as made by the last run (not live), with ETag and Last-Modified; the cron job
    makes the next one."""
    await enable_territory(sessionmaker, clock)
    await _personal_report(sessionmaker, engine, clock)
    first = await app_client.get(GEOJSON)
    assert first.status_code == 200
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert modified == "Mon, 02 Mar 2026 09:00:00 GMT"
    again = await app_client.get(GEOJSON, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    since = await app_client.get(GEOJSON, headers={"If-Modified-Since": modified})
    assert since.status_code == 304
    # A report filed later is in the next export, not in this one.
    clock.advance(timedelta(hours=5))
    await _personal_report(sessionmaker, engine, clock, point=POINT_IN_B)
    still = await app_client.get(GEOJSON)
    assert still.headers["etag"] == etag and len(still.json()["features"]) == 1
    clock.advance(timedelta(hours=20))
    deps = JobDeps(engine=engine, storage=storage_from_settings(), clock=clock)
    assert await opendata_export({"sessionmaker": sessionmaker, "deps": deps}) == 2
    fresh = await app_client.get(GEOJSON, headers={"If-None-Match": etag})
    assert fresh.status_code == 200
    assert fresh.headers["etag"] != etag
    assert fresh.headers["last-modified"] == "Tue, 03 Mar 2026 10:00:00 GMT"
    assert len(fresh.json()["features"]) == 2
    b_only = (await app_client.get(GEOJSON, params={"commune": "69002"})).json()
    assert [f["properties"]["commune_insee"] for f in b_only["features"]] == ["69002"]
    assert b_only["commune_insee"] == "69002"


async def test_commune_filter_and_wrong_communes(
    seed: Seed,
    app_client: AsyncTestClient[Any],
    sessionmaker: Any,
    engine: Engine,
    clock: FrozenClock,
) -> None:
    await enable_territory(sessionmaker, clock)
    await _personal_report(sessionmaker, engine, clock)
    a_only = await app_client.get(GEOJSON, params={"commune": "69001"})
    assert a_only.status_code == 200
    assert len(a_only.json()["features"]) == 1
    metro = await app_client.get(GEOJSON, params={"commune": "69000"})
    assert metro.json()["features"] == []  # a tenant without reports: empty, not 404
    everything = await app_client.get(GEOJSON, params={"commune": ""})
    assert len(everything.json()["features"]) == 1  # empty = absent
    for wrong in ("99999", "6900", "69001' OR '1'='1", "📍", "../../etc/passwd", "69001\x00"):
        for path in (GEOJSON, STATS, STATS + ".csv"):
            r = await app_client.get(path, params={"commune": wrong})
            body = assert_problem(r, (400, 404))
            if wrong in ("99999", "6900"):
                assert r.status_code == 404
                assert "Commune inconnue" in body["detail"]


async def test_statistics_worked_example_median_time_to_fix(
    seed: Seed,
    app_client: AsyncTestClient[Any],
    sessionmaker: Any,
    engine: Engine,
    clock: FrozenClock,
) -> None:
    """Three reports on Monday 2 March 2026; one fixed 2 days later, one 4 days later, one
    still open: median time to fix (3 days) over the two fixed."""
    await enable_territory(sessionmaker, clock)
    agent = await actor_of(sessionmaker, "instr@a.invalid")
    first = await _personal_report(sessionmaker, engine, clock)
    second = await _personal_report(sessionmaker, engine, clock, category="eclairage")
    await _personal_report(sessionmaker, engine, clock, point=POINT_IN_B)
    start = clock.now()
    clock.set(start + timedelta(days=2))
    await apply(sessionmaker, engine, clock, first.case_id, "fix", agent, {})
    clock.set(start + timedelta(days=4))
    await apply(sessionmaker, engine, clock, second.case_id, "fix", agent, {})
    r = await app_client.get(STATS)
    assert r.status_code == 200, r.text
    stats = r.json()
    assert stats["commune_insee"] is None
    assert stats["total"] == 3 and stats["fixed"] == 2
    assert stats["median_days_to_fix"] == 3.0
    assert {s["state"]: s["count"] for s in stats["by_state"]} == {"submitted": 1, "fixed": 2}
    fixed = next(s for s in stats["by_state"] if s["state"] == "fixed")
    assert fixed == {"state": "fixed", "label": "Résolu", "status": "closed", "count": 2}
    assert {c["code"]: c["count"] for c in stats["by_category"]} == {
        "chaussee": 2,
        "eclairage": 1,
    }
    assert stats["by_month"] == [{"month": "2026-03", "count": 3}]
    a = (await app_client.get(STATS, params={"commune": "69001"})).json()
    assert (a["commune_insee"], a["total"], a["fixed"], a["median_days_to_fix"]) == (
        "69001",
        2,
        2,
        3.0,
    )
    b = (await app_client.get(STATS, params={"commune": "69002"})).json()
    assert (b["total"], b["fixed"], b["median_days_to_fix"]) == (1, 0, None)
    # The CSV for a mayor's office says the same, as a French spreadsheet reads it.
    r = await app_client.get(STATS + ".csv", params={"commune": "69001"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert 'filename="statistiques-signalements-69001.csv"' in r.headers["content-disposition"]
    assert r.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["rubrique", "code", "libelle", "valeur"]
    table = {(row[0], row[1]): row[3] for row in rows[1:]}
    assert table[("total", "")] == "2"
    assert table[("delai_median_resolution", "")] == "3,0"
    assert table[("etat", "fixed")] == "2"
    assert table[("mois", "2026-03")] == "2"
    assert "Camille" not in r.content.decode("utf-8-sig")
