"""The cemetery registry over HTTP: agents of the commune, isolation, hostile input, import,
export, views, tariffs, the public ossuary register, and the command line."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from services.cli import main
from tests.conftest import Seed
from tests.support.cemeteries import SM
from tests.support.http import PROBLEM, assert_problem
from workflows.procedures.cemeteries.models import Cemetery, CemeteryPlace

pytestmark = pytest.mark.e2e

A = "/api/v1/cimetieres/69001"
B = "/api/v1/cimetieres/69002"
Client = AsyncTestClient[Any]


async def setup_places(client: Client, seed: Seed) -> dict[str, str]:
    auth = seed.auth(seed.instructor_token)
    r = await client.post(A, json={"code": "NORD", "name": "Cimetière du Nord 🌿"}, headers=auth)
    assert r.status_code == 201, r.text
    cem = r.json()["id"]
    ids = {"cemetery": cem}
    for number, ptype, cap in (("1", "caveau", "2"), ("2", "caveau", "2"), ("O", "ossuaire", None)):
        r = await client.post(
            f"{A}/emplacements",
            json={
                "cemetery_id": cem,
                "zone": "A",
                "alley": "1",
                "number": number,
                "place_type": ptype,
                "capacity": cap,
                "area_m2": "2.5" if cap else None,
            },
            headers=auth,
        )
        assert r.status_code == 201, r.text
        ids[number] = r.json()["id"]
    return ids


def concession_body(place: str, **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "place_id": place,
        "category": "family",
        "duration_kind": "30",
        "granted_on": "2026-03-02",
        "price": "850.00",
        "parties": [{"role": "holder", "family_name": "Martin", "given_names": "Jeanne"}],
    }
    body.update(kw)
    return body


async def test_agents_keep_the_registry_of_their_commune_only(
    app_client: Client, seed: Seed
) -> None:
    ids = await setup_places(app_client, seed)
    mine = seed.auth(seed.counter_token)
    r = await app_client.post(f"{A}/concessions", json=concession_body(ids["1"]), headers=mine)
    assert r.status_code == 201, r.text
    concession = r.json()
    assert (concession["number"], concession["ends_on"]) == ("2026-00001", "2056-03-02")
    r = await app_client.post(f"{A}/concessions", json=concession_body(ids["1"]), headers=mine)
    assert "pas libre" in assert_problem(r, 409)["detail"]
    r = await app_client.get(f"{A}/emplacements/{ids['1']}", headers=mine)
    assert r.json()["status"] == "attribuee" and r.json()["location"].endswith("n° 1")
    # the métropole's instructor covers the commune
    r = await app_client.get(
        f"{A}/emplacements/{ids['1']}", headers=seed.auth(seed.metropole_instructor_token)
    )
    assert r.status_code == 200
    # commune B's agents: 404 through either commune's path, same words as a missing id
    other = seed.auth(seed.other_instructor_token)
    missing = assert_problem(
        await app_client.get(f"{B}/emplacements/{uuid.uuid4()}", headers=other), 404
    )
    for url in (
        f"{A}/emplacements/{ids['1']}",
        f"{A}/emplacements/{ids['1']}/historique",
        f"{A}/concessions/{concession['id']}",
        f"{A}/vues/echeances",
        f"{A}/registre/export",
    ):
        assert_problem(await app_client.get(url, headers=other), 404)
    for url in (f"{B}/emplacements/{ids['1']}", f"{B}/concessions/{concession['id']}"):
        assert assert_problem(await app_client.get(url, headers=other), 404)["detail"] in {
            missing["detail"],
            "Concession introuvable dans cette commune.",
        }
    r = await app_client.post(f"{B}/concessions", json=concession_body(ids["2"]), headers=other)
    assert "Emplacement introuvable" in assert_problem(r, 404)["detail"]
    r = await app_client.post(
        f"{A}/concessions/{concession['id']}/personnes",
        json={"role": "ayant_droit", "family_name": "Martin", "given_names": "Luc"},
        headers=other,
    )
    assert_problem(r, 404)
    # an agent without any role, and anonymous: refused by the policy
    assert_problem(await app_client.get(A, headers=seed.auth(seed.roleless_token)), 403)
    assert_problem(await app_client.get(A), 401)
    assert_problem(await app_client.get("/api/v1/cimetieres/99999/", headers=mine), 404)
    async with asyncio.timeout(30):
        r = await app_client.get(f"{A}/emplacements?type=caveau&statut=libre", headers=mine)
    assert [p["number"] for p in r.json()["items"]] == ["2"]


@pytest.mark.parametrize(
    "body",
    [
        {"code": "X\u0000", "name": "Nul"},
        {"code": "", "name": "Vide"},
        {"code": "X" * 41, "name": "Long"},
        {"code": 12, "name": "Nombre"},
        {"code": "X", "name": "Y", "admin": True},
        [],
    ],
)
async def test_hostile_bodies_get_a_400_problem(app_client: Client, seed: Seed, body: Any) -> None:
    r = await app_client.post(A, json=body, headers=seed.auth(seed.instructor_token))
    assert_problem(r, 400)


async def test_operations_refuse_a_burial_beyond_capacity_over_http(
    app_client: Client, seed: Seed
) -> None:
    ids = await setup_places(app_client, seed)
    auth = seed.auth(seed.instructor_token)
    await app_client.post(f"{A}/concessions", json=concession_body(ids["1"]), headers=auth)

    def burial(given: str) -> dict[str, Any]:
        return {
            "kind": "inhumation",
            "place_id": ids["1"],
            "at": "2026-03-04T10:00:00+01:00",
            "deceased": {"family_name": "Martin", "given_names": given, "death_date": "2026-02-28"},
        }

    for given in ("Paul", "Anne"):
        r = await app_client.post(f"{A}/operations", json=burial(given), headers=auth)
        assert r.status_code == 201, r.text
    r = await app_client.post(f"{A}/operations", json=burial("Léo"), headers=auth)
    assert "complet" in assert_problem(r, 409)["detail"]
    r = await app_client.post(
        f"{A}/operations", json={**burial("X"), "at": "2026-03-04T10:00:00"}, headers=auth
    )
    assert_problem(r, (400, 422))  # a naive datetime is refused, never a 500
    history = (await app_client.get(f"{A}/emplacements/{ids['1']}/historique", headers=auth)).json()
    assert [d["given_names"] for d in history["deceased"]] == ["Paul", "Anne"]
    assert [o["kind"] for o in history["operations"]] == ["inhumation", "inhumation"]


def _csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    cols = [
        "type",
        "cimetiere",
        "zone",
        "allee",
        "numero",
        "type_emplacement",
        "nom",
        "prenoms",
        "concession",
        "categorie",
        "duree",
        "date_acte",
        "role",
        "contenant",
    ]
    w = csv.DictWriter(out, fieldnames=cols, delimiter=";")
    w.writeheader()
    w.writerows(rows)
    return ("\ufeff" + out.getvalue()).encode()


GOOD = [
    {"type": "cimetiere", "cimetiere": "SUD", "nom": "Cimetière du Sud"},
    {
        "type": "emplacement",
        "cimetiere": "SUD",
        "zone": "A",
        "allee": "1",
        "numero": "1",
        "type_emplacement": "caveau",
    },
    {
        "type": "concession",
        "cimetiere": "SUD",
        "zone": "A",
        "allee": "1",
        "numero": "1",
        "concession": "1990-1",
        "categorie": "familiale",
        "duree": "perpetuelle",
        "date_acte": "1990-01-02",
    },
    {
        "type": "personne",
        "concession": "1990-1",
        "role": "titulaire",
        "nom": "Roux",
        "prenoms": "Anne",
    },
]


async def _count(sm: SM, model: Any) -> int:
    async with sm() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def test_import_over_http_reports_every_broken_line_and_writes_nothing(
    app_client: Client, seed: Seed, sessionmaker: SM
) -> None:
    auth = {**seed.auth(seed.instructor_token), "Content-Type": "text/csv"}
    broken = [
        *GOOD,
        {
            "type": "emplacement",
            "cimetiere": "SUD",
            "zone": "A",
            "allee": "1",
            "numero": "2",
            "type_emplacement": "mausolée",
        },
        {
            "type": "concession",
            "cimetiere": "SUD",
            "zone": "A",
            "allee": "1",
            "numero": "9",
            "concession": "1990-2",
            "categorie": "familiale",
            "duree": "30",
            "date_acte": "hier",
        },
    ]
    r = await app_client.post(f"{A}/registre/import", content=_csv(broken), headers=auth)
    body = assert_problem(r, 422)
    assert "rien n'a été importé" in body["detail"]
    assert [(e["line"], e["column"]) for e in body["errors"]] == [
        (6, "type_emplacement"),
        (7, "date_acte"),
        (7, "numero"),
    ]
    assert await _count(sessionmaker, CemeteryPlace) == 0
    r = await app_client.post(f"{A}/registre/import?essai=true", content=_csv(broken), headers=auth)
    assert r.status_code == 200 and not r.json()["valid"] and len(r.json()["errors"]) == 3
    r = await app_client.post(f"{A}/registre/import?essai=true", content=_csv(GOOD), headers=auth)
    assert r.json() | {"errors": []} == r.json() and r.json()["written"] is False
    assert await _count(sessionmaker, Cemetery) == 0
    r = await app_client.post(f"{A}/registre/import", content=_csv(GOOD), headers=auth)
    assert r.status_code == 200 and r.json()["written"], r.text
    r = await app_client.get(f"{A}/registre/export", headers=auth)
    assert r.headers["content-type"].startswith("text/csv")
    assert "concession;SUD;A;1;1;" in r.text and "1990-1;familiale;perpetuelle" in r.text
    # counter agents record, but do not import; commune B cannot import into A
    r = await app_client.post(
        f"{A}/registre/import", content=_csv(GOOD), headers=seed.auth(seed.counter_token)
    )
    assert_problem(r, 403)
    r = await app_client.post(
        f"{A}/registre/import", content=_csv(GOOD), headers=seed.auth(seed.other_admin_token)
    )
    assert_problem(r, 404)


async def test_views_tariffs_and_the_public_ossuary_register(
    app_client: Client, seed: Seed
) -> None:
    ids = await setup_places(app_client, seed)
    auth = seed.auth(seed.instructor_token)
    r = await app_client.post(
        f"{A}/concessions",
        json=concession_body(
            ids["1"],
            granted_on="1996-06-01",
            parties=[
                {
                    "role": "holder",
                    "family_name": "Martin",
                    "given_names": "Jeanne",
                    "email": "j@example.org",
                }
            ],
        ),
        headers=auth,
    )
    number = r.json()["number"]
    r = await app_client.get(f"{A}/vues/echeances?mois=6", headers=auth)
    assert [x["number"] for x in r.json()] == [number]
    r = await app_client.get(f"{A}/vues/echeances?mois=6&format=csv", headers=auth)
    assert r.headers["content-type"].startswith("text/csv") and number in r.text
    r = await app_client.get(f"{A}/vues/places-libres", headers=auth)
    assert r.json() == [
        {
            "cemetery_id": ids["cemetery"],
            "cemetery": "Cimetière du Nord 🌿",
            "place_type": "caveau",
            "free": 1,
        }
    ]
    assert_problem(await app_client.get(f"{A}/vues/echeances?mois=0", headers=auth), 400)
    # tariffs: voted by period; the one in force on a date
    for price, start in (("700.00", "2022-01-01"), ("900.00", "2025-01-01")):
        r = await app_client.post(
            f"{A}/tarifs",
            json={"category": "family", "duration_kind": "30", "price": price, "valid_from": start},
            headers=seed.auth(seed.admin_token),
        )
        assert r.status_code == 201, r.text
    r = await app_client.get(
        f"{A}/tarifs/en-vigueur?categorie=family&duree=30&date=2024-04-15", headers=auth
    )
    assert r.json()["price"] == "700.00" and r.json()["ccas_share_percent"] is None
    r = await app_client.get(f"{A}/tarifs/en-vigueur?categorie=family&duree=30", headers=auth)
    assert r.json()["price"] == "900.00"  # the clock says 2 March 2026
    r = await app_client.get(f"{A}/tarifs/en-vigueur?categorie=family&duree=50", headers=auth)
    assert "Aucun tarif" in assert_problem(r, 404)["detail"]
    r = await app_client.post(
        f"{A}/tarifs",
        json={
            "category": "family",
            "duration_kind": "30",
            "price": "1",
            "valid_from": "2025-01-01",
        },
        headers=seed.auth(seed.counter_token),
    )
    assert_problem(r, 403)
    # the public register: no authentication, names and dates only
    r = await app_client.post(
        f"{A}/operations",
        json={
            "kind": "inhumation",
            "place_id": ids["1"],
            "at": "2001-05-04T10:00:00Z",
            "deceased": {
                "family_name": "Blanc",
                "given_names": "Odile",
                "death_date": "2001-05-01",
                "refused_cremation": True,
                "last_domicile": "3 rue secrète",
            },
        },
        headers=auth,
    )
    assert r.status_code == 201, r.text
    r = await app_client.post(
        f"{A}/operations",
        json={
            "kind": "transfer",
            "place_id": ids["1"],
            "target_place_id": ids["O"],
            "deceased_id": r.json()["deceased"]["id"],
            "at": "2026-03-01T10:00:00Z",
        },
        headers=auth,
    )
    assert r.status_code == 201, r.text
    r = await app_client.get(f"{A}/ossuaire/registre")
    assert r.status_code == 200
    assert r.json() == [
        {
            "family_name": "Blanc",
            "usage_name": None,
            "given_names": "Odile",
            "death_date": "2001-05-01",
            "deposited_on": "2026-03-01",
            "kept_apart": True,
        }
    ]
    assert (await app_client.get(f"{B}/ossuaire/registre")).json() == []
    assert_problem(await app_client.get("/api/v1/cimetieres/00000/ossuaire/registre"), 404)
    r = await app_client.get("/api/v1/cimetieres/6900%00/ossuaire/registre")
    assert r.status_code in (400, 404) and r.headers["content-type"].startswith(PROBLEM)


def test_import_and_export_from_the_command_line(
    seed: Seed, database_url: str, tmp_path: Path
) -> None:
    env = {"GUICHET_DATABASE_URL": database_url}
    good = tmp_path / "registre.csv"
    good.write_bytes(_csv(GOOD))
    bad = tmp_path / "casse.csv"
    bad.write_bytes(
        _csv(
            [
                *GOOD,
                {
                    "type": "personne",
                    "concession": "inconnue",
                    "nom": "X",
                    "prenoms": "Y",
                    "role": "titulaire",
                },
            ]
        )
    )
    runner = CliRunner()
    result = runner.invoke(main, ["cemeteries", "import", str(bad), "--tenant", "69001"], env=env)
    assert result.exit_code == 1
    assert "ligne 6, colonne concession : Concession n° inconnue inconnue." in result.output
    assert "rien n'a été importé" in result.output
    result = runner.invoke(main, ["cemeteries", "import", str(good), "--tenant", "69001"], env=env)
    assert result.exit_code == 0, result.output
    assert "Import du registre" in result.output and "Registre importé" in result.output
    result = runner.invoke(main, ["cemeteries", "export", "--tenant", "69001"], env=env)
    assert result.exit_code == 0, result.output
    assert "personne;;;;;;;;;;;1990-1;" in result.output and ";titulaire;;Roux;" in result.output
    result = runner.invoke(main, ["cemeteries", "import", str(good), "--tenant", "12345"], env=env)
    assert result.exit_code == 2 and "Commune introuvable" in result.output
