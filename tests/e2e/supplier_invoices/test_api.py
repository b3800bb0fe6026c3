"""The supplier invoices API over HTTP: master data (finance), CSV import, finance views and
export, the supplier's own view, tenant isolation and hostile input."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity import service as ids
from identity.models import Tenant
from identity.organisations import create_organisation
from services.kernel.actor import Scope
from services.kernel.clock import FrozenClock
from tests.conftest import Seed
from tests.support import supplier_invoices as si
from tests.support.http import assert_problem, client_token
from workflows.engine.runner import Engine
from workflows.procedures.supplier_invoices.models import Supplier

pytestmark = pytest.mark.e2e
SM = async_sessionmaker[AsyncSession]
BASE = "/api/v1/factures-fournisseurs/69001"
SUPPLIER = {
    "siret": "123 456 782 00077",
    "name": "LE FOURNISSEUR — Société 🚚",
    "iban": "fr20 1254 2547 2569 8542 5874 698",
    "contacts": [{"name": "Compta", "email": "compta@fournisseur.invalid"}],
}


async def test_finance_creates_reads_and_updates_a_supplier(
    app_client: AsyncTestClient[Any], seed: Seed
) -> None:
    admin = seed.auth(seed.admin_token)
    r = await app_client.post(f"{BASE}/fournisseurs", json=SUPPLIER, headers=admin)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["siret"] == si.SELLER_SIRET and created["siren"] == "123456782"
    assert created["iban"] == si.SELLER_IBAN
    again = await app_client.post(f"{BASE}/fournisseurs", json=SUPPLIER, headers=admin)
    assert "existe déjà" in assert_problem(again, 409)["detail"]
    r = await app_client.put(
        f"{BASE}/fournisseurs/{created['id']}",
        json={**SUPPLIER, "iban": None, "active": False},
        headers=admin,
    )
    assert r.status_code == 200 and r.json()["active"] is False and r.json()["iban"] is None
    page = (await app_client.get(f"{BASE}/fournisseurs?q=fourn", headers=admin)).json()
    assert page["total"] == 1 and page["items"][0]["name"].endswith("🚚")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**SUPPLIER, "siret": si.BAD_SIRET}, "siret"),
        ({**SUPPLIER, "siret": "1234567820007\u0000"}, "siret"),
        ({**SUPPLIER, "iban": "FR20 1254 2547 2569 8542 5874 699"}, "iban"),
        ({**SUPPLIER, "name": ""}, "name"),
        ({**SUPPLIER, "contacts": [{"email": "pas-un-mail"}]}, "contacts"),
        ({**SUPPLIER, "siret": 12345678200077}, "siret"),
        ({**SUPPLIER, "admin": True}, "admin"),
    ],
)
async def test_bad_supplier_input_is_a_422_naming_the_field(
    app_client: AsyncTestClient[Any], seed: Seed, body: dict[str, Any], field: str
) -> None:
    r = await app_client.post(
        f"{BASE}/fournisseurs", json=body, headers=seed.auth(seed.admin_token)
    )
    problem = assert_problem(r, (400, 422))
    assert field in r.text, problem


async def test_only_finance_manages_suppliers_and_other_communes_see_nothing(
    app_client: AsyncTestClient[Any], seed: Seed
) -> None:
    r = await app_client.post(
        f"{BASE}/fournisseurs", json=SUPPLIER, headers=seed.auth(seed.instructor_token)
    )
    assert_problem(r, 403)
    r = await app_client.get(f"{BASE}/fournisseurs", headers=seed.auth(seed.other_admin_token))
    assert_problem(r, 404)
    r = await app_client.get(f"{BASE}/factures", headers=seed.auth(seed.other_instructor_token))
    assert_problem(r, 404)
    r = await app_client.get(f"{BASE}/factures", headers=seed.auth(seed.counter_token))
    assert_problem(r, 403)
    r = await app_client.get(f"{BASE}/factures")
    assert r.status_code == 401


async def test_csv_import_all_or_nothing(
    app_client: AsyncTestClient[Any], seed: Seed, sessionmaker: SM
) -> None:
    admin = seed.auth(seed.admin_token)
    header = "siret;nom;iban;contact_nom;contact_email;contact_telephone;actif\n"
    bad = header + f"{si.SELLER_SIRET};Bon;;;;;\n{si.BAD_SIRET};Mauvais;;;;;\n"
    r = await app_client.post(f"{BASE}/fournisseurs/import", content=bad.encode(), headers=admin)
    body = assert_problem(r, 422)
    assert [e["field"] for e in body["errors"]] == ["ligne 3.siret"]
    async with sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(Supplier)) == 0
    good = header + f"{si.SELLER_SIRET};Bon;{si.SELLER_IBAN};;;;\n{si.SIRET_B};Autre;;;;;non\n"
    r = await app_client.post(f"{BASE}/fournisseurs/import", content=good.encode(), headers=admin)
    assert r.status_code == 200, r.text
    assert r.json() == {"created": 2, "updated": 0, "lines": 2}


async def test_finance_views_export_and_supplier_portal(
    app_client: AsyncTestClient[Any],
    seed: Seed,
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
) -> None:
    async with sessionmaker() as s, s.begin():
        await si.seed_finance(s, commune_id=seed.commune_id, other_commune_id=seed.other_commune_id)
    ok = await si.receive(sessionmaker, engine, clock, si.invoice_xml())
    rejected = await si.receive(sessionmaker, engine, clock, si.invoice_xml(order="INCONNU"))
    assert (ok.state, rejected.state) == ("made_available", "rejected")
    agent = seed.auth(seed.instructor_token)

    page = (await app_client.get(f"{BASE}/factures?service=SERVEXEC", headers=agent)).json()
    assert page["total"] == 2
    assert {i["state_title"] for i in page["items"]} == {"Mise à disposition", "Rejetée"}
    only = (await app_client.get(f"{BASE}/factures?etat=rejected", headers=agent)).json()
    assert [i["case_id"] for i in only["items"]] == [str(rejected.case_id)]
    bad = await app_client.get(f"{BASE}/factures?etat=perdue", headers=agent)
    assert bad.status_code == 400

    summary = (await app_client.get(f"{BASE}/factures/synthese", headers=agent)).json()
    assert {(x["department_name"], x["state"], x["count"]) for x in summary} == {
        ("Services techniques", "made_available", 1),
        ("Services techniques", "rejected", 1),
    }
    # T0 is 2 March 2026; made available 2 March → due 1 April: 30 days left
    near = (await app_client.get(f"{BASE}/factures/echeances?jours=30", headers=agent)).json()
    assert [(i["case_id"], i["days_left"]) for i in near["items"]] == [(str(ok.case_id), 30)]
    assert (await app_client.get(f"{BASE}/factures/echeances?jours=29", headers=agent)).json()[
        "total"
    ] == 0

    detail = (await app_client.get(f"{BASE}/factures/{rejected.case_id}", headers=agent)).json()
    assert "GUICHET-ORDER-UNKNOWN" in {f["rule_id"] for f in detail["findings"]}
    other = await app_client.get(
        f"/api/v1/factures-fournisseurs/69002/factures/{ok.case_id}",
        headers=seed.auth(seed.other_instructor_token),
    )
    assert_problem(other, 404)

    export = await app_client.get(f"{BASE}/factures/export", headers=agent)
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(export.text.lstrip("\ufeff")), delimiter=";"))
    assert rows[0][:3] == ["Référence", "N° facture", "Date"]
    assert len(rows) == 3 and {r[1] for r in rows[1:]} == {si.NUMBER}

    # the supplier's software: an API client of the organisation linked to the supplier
    async with sessionmaker() as s, s.begin():
        organisation = await create_organisation(
            s, now=clock.now(), name="LE FOURNISSEUR", siret=si.SELLER_SIRET
        )
        supplier = await s.scalar(select(Supplier).where(Supplier.siret == si.SELLER_SIRET))
        assert supplier is not None
        supplier.organisation_id = organisation.id
        tenant = await s.get(Tenant, seed.commune_id)
        assert tenant is not None
        client, secret = await ids.create_api_client(
            s,
            now=clock.now(),
            tenant=tenant,
            name="Logiciel du fournisseur",
            scopes=[Scope.CASES_READ],
            organisation_id=organisation.id,
        )
    token = await client_token(app_client, client.client_id, secret)
    mine = await app_client.get(
        "/api/v1/espace-fournisseur/factures", headers={"Authorization": f"Bearer {token}"}
    )
    assert mine.status_code == 200, mine.text
    items = mine.json()["items"]
    assert {i["state_title"] for i in items} == {"Mise à disposition", "Rejetée"}
    assert "department_code" not in items[0]
    portal_token = await client_token(app_client, seed.client_id, seed.client_secret)
    portal = await app_client.get(
        "/api/v1/espace-fournisseur/factures", headers={"Authorization": f"Bearer {portal_token}"}
    )
    assert "entreprise" in assert_problem(portal, 403)["detail"]


async def test_finance_declares_its_sirets_services_and_engagements(
    app_client: AsyncTestClient[Any], seed: Seed
) -> None:
    admin = seed.auth(seed.admin_token)
    r = await app_client.post(
        f"{BASE}/siret", json={"siret": si.SIRET_A, "label": "Mairie"}, headers=admin
    )
    assert r.status_code == 201, r.text
    r = await app_client.post(
        "/api/v1/factures-fournisseurs/69002/siret",
        json={"siret": si.SIRET_A, "label": "Volé"},
        headers=seed.auth(seed.other_admin_token),
    )
    assert "déjà déclaré" in assert_problem(r, 409)["detail"]
    r = await app_client.post(
        f"{BASE}/siret", json={"siret": si.BAD_SIRET, "label": "X"}, headers=admin
    )
    assert "SIRET invalide" in r.text and r.status_code in (400, 422)

    r = await app_client.post(
        f"{BASE}/engagements",
        json={"number": "PO-1", "department_code": "VOIRIE", "amount": "500.00"},
        headers=admin,
    )
    assert "Code service « VOIRIE » inconnu" in assert_problem(r, 404)["detail"]
    r = await app_client.post(
        f"{BASE}/services", json={"code": "VOIRIE", "name": "Voirie ✨"}, headers=admin
    )
    assert r.status_code == 200, r.text
    r = await app_client.post(
        f"{BASE}/engagements",
        json={"number": "PO-1", "department_code": "VOIRIE", "amount": "500.00"},
        headers=admin,
    )
    assert r.status_code == 201 and r.json()["remaining"] == "500.00"
    for amount in ("-1", "1e400", "12.345", "abc"):
        bad = await app_client.post(
            f"{BASE}/engagements",
            json={"number": "PO-2", "department_code": "VOIRIE", "amount": amount},
            headers=admin,
        )
        assert bad.status_code in (400, 422), (amount, bad.text)
    r = await app_client.post(f"{BASE}/engagements/PO-1/cloture", headers=admin)
    assert r.status_code == 200 and r.json()["status"] == "closed"
    r = await app_client.post(f"{BASE}/engagements/INCONNU/cloture", headers=admin)
    assert_problem(r, 404)
    agent = seed.auth(seed.instructor_token)
    listed = (await app_client.get(f"{BASE}/engagements", headers=agent)).json()
    assert [(o["number"], o["status"]) for o in listed] == [("PO-1", "closed")]
    r = await app_client.post(f"{BASE}/services", json={"code": "X", "name": "Y"}, headers=agent)
    assert_problem(r, 403)
    r = await app_client.get(f"{BASE}/services", headers=seed.auth(seed.other_instructor_token))
    assert_problem(r, 404)


async def test_supplier_completes_its_suspended_invoice(
    app_client: AsyncTestClient[Any],
    seed: Seed,
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
) -> None:
    """R2192-29: the supplier sends the missing pieces; a new 30-day period runs from then."""
    from datetime import UTC, datetime

    from tests.support.cases import apply

    async with sessionmaker() as s, s.begin():
        await si.seed_finance(s, commune_id=seed.commune_id, other_commune_id=seed.other_commune_id)
        organisation = await create_organisation(
            s, now=clock.now(), name="LE FOURNISSEUR", siret=si.SELLER_SIRET
        )
        supplier = await s.scalar(select(Supplier).where(Supplier.siret == si.SELLER_SIRET))
        assert supplier is not None
        supplier.organisation_id = organisation.id
        tenant = await s.get(Tenant, seed.commune_id)
        assert tenant is not None
        client, secret = await ids.create_api_client(
            s,
            now=clock.now(),
            tenant=tenant,
            name="Logiciel du fournisseur",
            scopes=[Scope.CASES_READ, Scope.INTAKE_WRITE],
            organisation_id=organisation.id,
        )
    got = await si.receive(sessionmaker, engine, clock, si.invoice_xml())
    headers = {
        "Authorization": f"Bearer {await client_token(app_client, client.client_id, secret)}"
    }
    url = f"/api/v1/espace-fournisseur/factures/{got.case_id}/complement"
    early = await app_client.post(url, json={"note": "Voici le bon"}, headers=headers)
    assert "n'est pas suspendue" in assert_problem(early, 409)["detail"]

    finance = await si.actor_of(sessionmaker, "admin@a.invalid")
    await apply(
        sessionmaker,
        engine,
        clock,
        got.case_id,
        "suspend",
        finance,
        {"reason": "Bon de livraison manquant", "missing_pieces": ["bon de livraison"]},
    )
    clock.set(datetime(2026, 3, 12, 9, 0, tzinfo=UTC))
    headers = {
        "Authorization": f"Bearer {await client_token(app_client, client.client_id, secret)}"
    }
    r = await app_client.post(
        url,
        json={"note": "Bon de livraison signé 📎", "completed_at": "2020-01-01T00:00:00Z"},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    # the supplier cannot backdate: the period runs from the reception (12 March) → 11 April
    assert r.json() == {"state": "completed", "dgp_due": "2026-04-11"}
    stranger = await app_client.post(
        f"/api/v1/espace-fournisseur/factures/{uuid.uuid4()}/complement",
        json={"note": "x"},
        headers=headers,
    )
    assert_problem(stranger, 404)
    portal = await client_token(app_client, seed.client_id, seed.client_secret)
    r = await app_client.post(
        url, json={"note": "x"}, headers={"Authorization": f"Bearer {portal}"}
    )
    assert_problem(r, 403)
