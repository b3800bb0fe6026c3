"""The direct deposit API over HTTP: a supplier's software checks an invoice before sending it
to Chorus Pro, or — where the commune enables it — files it as a case at once.

Every answer is what the supplier's software reads: the deposit id, the verdict, the findings
(stage, rule id, fatal / avertissement, location, message), the case if one was opened and a
French sentence saying which it was.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.einvoice.models import EinvoiceDeposit
from services.kernel.clock import FrozenClock
from tests.conftest import Seed
from tests.integration.einvoice_deposit._invoices import (
    UBL_NUMBER,
    latin1_invoice,
    ubl_invoice,
    wrong_vat_total,
)
from tests.integration.einvoice_deposit.conftest import Software, new_client
from tests.support import supplier_invoices as si
from tests.support.http import assert_problem, client_token
from tests.unit.einvoice import _samples as s
from workflows.cases.models import Case, Outbox
from workflows.procedures.supplier_invoices.models import SupplierInvoice

pytestmark = pytest.mark.integration
SM = async_sessionmaker[AsyncSession]
URL = "/api/v1/espace-fournisseur/69001/depots"
XML = {"Content-Type": "application/xml"}
CHECK_ONLY = "vérification avant envoi : déposez la facture sur chorus pro"


def rules(body: dict[str, Any]) -> dict[str, str]:
    return {c["regle"]: c["gravite"] for c in body["constats"]}


async def count(sm: SM, model: Any) -> int:
    async with sm() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def post_xml(
    client: AsyncTestClient[Any], who: Software, body: bytes, key: str | None = None
) -> Any:
    return await client.post(URL, content=body, headers=who.key(key or uuid.uuid4().hex, **XML))


# ----- a commune that enables deposits: a case at once ------------------------------------------


@pytest.mark.usefixtures("enable_deposits")
async def test_valid_ubl_opens_a_case_visible_in_the_supplier_space(
    app_client: AsyncTestClient[Any], supplier: Software, sessionmaker: SM
) -> None:
    """R2192-12: the case is made available now and its DGP (30 days) starts today."""
    r = await post_xml(app_client, supplier, ubl_invoice(), key="ubl-1")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["valide"] is True and body["exploitable"] is True
    assert body["syntaxe"] == "UBL-Invoice-2.1"
    assert body["constats"] == []
    assert body["dossier"]["etat"] == "made_available"
    assert body["dossier"]["libelle"] == "Mise à disposition"
    assert body["dossier"]["reference"] in body["message"]
    assert "délai global de paiement" in body["message"]

    async with sessionmaker() as s:
        row = await s.scalar(select(SupplierInvoice))
        assert row is not None
        case = await s.get(Case, row.case_id)
    assert case is not None and case.procedure_key == "supplier_invoices.invoice"
    assert case.reference == body["dossier"]["reference"]
    assert (row.source, row.number, row.state) == ("deposit", UBL_NUMBER, "made_available")
    assert row.dgp_due is not None and row.dgp_due.isoformat() == "2026-04-01"

    mine = await app_client.get("/api/v1/espace-fournisseur/factures", headers=supplier.headers)
    assert mine.status_code == 200, mine.text
    assert [(i["number"], i["state_title"]) for i in mine.json()["items"]] == [
        (UBL_NUMBER, "Mise à disposition")
    ]


@pytest.mark.usefixtures("enable_deposits")
async def test_same_key_same_body_is_the_same_deposit_other_body_is_409(
    app_client: AsyncTestClient[Any], supplier: Software, sessionmaker: SM
) -> None:
    first = await post_xml(app_client, supplier, si.invoice_xml(), key="cle-1")
    assert first.status_code == 201, first.text
    again = await post_xml(app_client, supplier, si.invoice_xml(), key="cle-1")
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert await count(sessionmaker, EinvoiceDeposit) == 1
    assert await count(sessionmaker, SupplierInvoice) == 1

    other = await post_xml(app_client, supplier, si.invoice_xml(number="F-AUTRE"), key="cle-1")
    problem = assert_problem(other, 409)
    assert "Idempotency-Key" in problem["detail"] and "autre facture" in problem["detail"]
    assert problem["depot_id"] == first.json()["depot_id"]
    assert await count(sessionmaker, EinvoiceDeposit) == 1
    assert await count(sessionmaker, SupplierInvoice) == 1


@pytest.mark.usefixtures("enable_deposits")
async def test_duplicate_invoice_with_another_key_is_a_doublon_and_opens_no_case(
    app_client: AsyncTestClient[Any], supplier: Software, sessionmaker: SM
) -> None:
    first = await post_xml(app_client, supplier, si.invoice_xml(), key="a")
    assert first.json()["dossier"]["etat"] == "made_available"
    # the same invoice number and date from the same seller, sent again (another IBAN layout)
    twice = si.invoice_xml(iban="FR2012542547256985425874698")
    second = await post_xml(app_client, supplier, twice, key="b")
    assert second.status_code == 201, second.text
    body = second.json()
    assert rules(body) == {"GUICHET-DUPLICATE": "fatal"}
    assert body["valide"] is False and body["dossier"] is None
    assert "doublon" in body["message"]
    assert await count(sessionmaker, SupplierInvoice) == 1


@pytest.mark.usefixtures("enable_deposits")
async def test_invoice_to_another_communes_siret_opens_no_case(
    app_client: AsyncTestClient[Any], supplier: Software, sessionmaker: SM
) -> None:
    r = await post_xml(app_client, supplier, si.invoice_xml(buyer_siret=si.SIRET_B))
    body = r.json()
    assert rules(body) == {"GUICHET-BUYER-OTHER-TENANT": "fatal"}
    finding = body["constats"][0]
    assert finding["etape"] == "business" and finding["emplacement"] == "BT-46"
    assert si.SIRET_B in finding["message"] and "Commune B" in finding["message"]
    assert body["dossier"] is None and "n'est pas adressée à Commune A" in body["message"]
    assert await count(sessionmaker, SupplierInvoice) == 0


@pytest.mark.usefixtures("enable_deposits")
async def test_wrong_vat_total_is_br_co_15_and_the_case_is_rejected_with_a_notice(
    app_client: AsyncTestClient[Any], supplier: Software, sessionmaker: SM
) -> None:
    """EN 16931 BR-CO-15 (BT-112 = BT-109 + BT-110): the supplier learns it at once."""
    r = await post_xml(app_client, supplier, wrong_vat_total())
    body = r.json()
    assert body["valide"] is False
    assert rules(body)["BR-CO-15"] == "fatal"
    br = next(c for c in body["constats"] if c["regle"] == "BR-CO-15")
    assert br["etape"] == "en16931" and br["emplacement"].startswith("/")
    assert body["dossier"]["etat"] == "rejected" and "avis de rejet" in body["message"]
    async with sessionmaker() as s:
        kinds = [o.payload.get("kind") for o in await s.scalars(select(Outbox))]
    assert "invoice_rejection" in kinds


@pytest.mark.usefixtures("enable_deposits")
async def test_cii_declared_iso_8859_1_is_read_from_its_bytes(
    app_client: AsyncTestClient[Any], supplier: Software, sessionmaker: SM
) -> None:
    r = await post_xml(app_client, supplier, latin1_invoice())
    body = r.json()
    assert rules(body) == {"GUICHET-XML-ENCODING": "avertissement"}
    assert body["valide"] is True and body["dossier"]["etat"] == "made_available"
    async with sessionmaker() as s:
        row = await s.scalar(select(SupplierInvoice))
    assert row is not None and row.seller_name == "Société Générale des Eaux"


# ----- a commune that does not: a check before sending ------------------------------------------


async def test_check_only_says_to_send_it_on_chorus_pro(
    app_client: AsyncTestClient[Any], supplier: Software, sessionmaker: SM
) -> None:
    r = await app_client.post(
        URL, content=si.invoice_xml(), headers=supplier.key("k", **{"Content-Type": "text/xml"})
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["valide"] is True and body["dossier"] is None and body["constats"] == []
    assert body["syntaxe"] == "CII-D16B"
    assert CHECK_ONLY in body["message"].lower() and "conforme" in body["message"]
    assert await count(sessionmaker, Case) == 0
    assert await count(sessionmaker, EinvoiceDeposit) == 1


async def test_factur_x_pdf_is_read_and_checked(
    app_client: AsyncTestClient[Any], supplier: Software
) -> None:
    """The shared Factur-X PDF/A-3 (EN 16931 profile): addressed to another buyer."""
    pdf = s.sample("facturx/invoice_EN16931.pdf")
    r = await app_client.post(
        URL, content=pdf, headers=supplier.key("pdf", **{"Content-Type": "application/pdf"})
    )
    body = r.json()
    assert (body["syntaxe"], body["profil"]) == ("CII-D16B", "EN 16931")
    assert {c["etape"] for c in body["constats"]} == {"business"}
    assert any(c["regle"].startswith("GUICHET-BUYER") for c in body["constats"])
    assert body["valide"] is False and body["exploitable"] is True


async def test_multipart_form_with_the_facture_field(
    app_client: AsyncTestClient[Any], supplier: Software
) -> None:
    r = await app_client.post(
        URL,
        files={"facture": ("facture-été.xml", si.invoice_xml(), "application/xml")},
        data={"commentaire": "test"},
        headers=supplier.key("form"),
    )
    assert r.status_code == 201, r.text
    assert r.json()["fichier"] == "facture-été.xml" and r.json()["valide"] is True
    missing = await app_client.post(
        URL,
        files={"piece": ("facture.xml", si.invoice_xml(), "application/xml")},
        headers=supplier.key("form-2"),
    )
    assert "« facture »" in assert_problem(missing, 400)["detail"]


async def test_a_bom_is_stripped(app_client: AsyncTestClient[Any], supplier: Software) -> None:
    r = await post_xml(app_client, supplier, b"\xef\xbb\xbf" + si.invoice_xml())
    assert r.status_code == 201 and r.json()["valide"] is True, r.text


async def test_credit_note_without_reference(
    app_client: AsyncTestClient[Any], supplier: Software
) -> None:
    r = await post_xml(app_client, supplier, si.invoice_xml(type_code="381", reference=None))
    assert rules(r.json()) == {"GUICHET-CREDIT-NOTE-NO-REFERENCE": "fatal"}


async def test_minimum_profile_is_not_a_processable_invoice(
    app_client: AsyncTestClient[Any], supplier: Software
) -> None:
    r = await post_xml(app_client, supplier, s.sample("facturx/factur-x-minimum.xml"))
    body = r.json()
    assert rules(body) == {"GUICHET-PROFILE-NOT-PROCESSABLE": "fatal"}
    assert body["exploitable"] is False and body["valide"] is False
    assert "MINIMUM" in body["message"]


# ----- listing and reading ---------------------------------------------------------------------


async def test_list_newest_first_and_only_the_depositing_client_sees_a_deposit(
    app_client: AsyncTestClient[Any],
    seed: Seed,
    supplier: Software,
    sessionmaker: SM,
    clock: FrozenClock,
) -> None:
    ids_ = []
    for n in range(3):
        r = await post_xml(app_client, supplier, si.invoice_xml(number=f"L{n}"), key=f"l{n}")
        ids_.append(r.json()["depot_id"])
    page = (await app_client.get(URL, headers=supplier.headers)).json()
    assert page["total"] == 3 and [i["depot_id"] for i in page["items"]] == ids_[::-1]
    one = await app_client.get(f"{URL}/{ids_[0]}", headers=supplier.headers)
    assert one.status_code == 200 and one.json()["depot_id"] == ids_[0]
    assert (await app_client.get(f"{URL}?limit=1&offset=1", headers=supplier.headers)).json()[
        "items"
    ][0]["depot_id"] == ids_[1]

    # another client of the same business, in the same commune: not its deposit
    colleague = await new_client(
        app_client,
        sessionmaker,
        clock,
        tenant_id=seed.commune_id,
        organisation_id=supplier.organisation_id,
        name="Autre logiciel",
    )
    assert_problem(await app_client.get(f"{URL}/{ids_[0]}", headers=colleague), 404)
    assert (await app_client.get(URL, headers=colleague)).json()["total"] == 0
    # a business's client in commune B: neither commune A nor A's deposit ids
    other = await new_client(
        app_client,
        sessionmaker,
        clock,
        tenant_id=seed.other_commune_id,
        organisation_id=supplier.organisation_id,
    )
    b_url = "/api/v1/espace-fournisseur/69002/depots"
    assert_problem(await app_client.get(f"{b_url}/{ids_[0]}", headers=other), 404)
    assert_problem(await app_client.get(f"{URL}/{ids_[0]}", headers=other), 404)
    denied = await app_client.post(
        URL, content=si.invoice_xml(), headers={**other, "Idempotency-Key": "x", **XML}
    )
    assert_problem(denied, 404)
    assert_problem(await app_client.get(f"{URL}/{uuid.uuid4()}", headers=supplier.headers), 404)
    assert (await app_client.get(f"{URL}/pas-un-uuid", headers=supplier.headers)).status_code in (
        400,
        404,
    )


async def test_only_a_business_client_deposits(
    app_client: AsyncTestClient[Any], seed: Seed, supplier: Software
) -> None:
    portal = await client_token(app_client, seed.client_id, seed.client_secret)
    r = await app_client.post(
        URL,
        content=si.invoice_xml(),
        headers={"Authorization": f"Bearer {portal}", "Idempotency-Key": "p", **XML},
    )
    assert "entreprise" in assert_problem(r, 403)["detail"]
    anonymous = await app_client.post(URL, content=si.invoice_xml(), headers=XML)
    assert anonymous.status_code == 401
    agent = await app_client.get(URL, headers=seed.auth(seed.instructor_token))
    assert_problem(agent, 403)


async def test_ubl_credit_note_is_recognised(
    app_client: AsyncTestClient[Any], supplier: Software
) -> None:
    """The CEN UBL credit note sample: read as such, checked against commune A's data."""
    r = await post_xml(app_client, supplier, s.sample("ubl/ubl-tc434-creditnote1.xml"))
    body = r.json()
    assert body["syntaxe"] == "UBL-CreditNote-2.1" and body["exploitable"] is True
    assert {c["etape"] for c in body["constats"]} == {"business"}
    assert "GUICHET-CREDIT-NOTE-NO-REFERENCE" in rules(body)


@pytest.mark.usefixtures("enable_deposits")
async def test_a_deposited_invoice_is_followed_to_payment_and_the_supplier_sees_each_state(
    app_client: AsyncTestClient[Any], supplier: Software, seed: Seed, sessionmaker: SM
) -> None:
    """Issue 8, done when: deposited on a commune that enables it, certified (service fait),
    mandated, paid — the supplier's software reads each state in its space."""
    r = await post_xml(app_client, supplier, ubl_invoice(), key="pay-1")
    assert r.status_code == 201, r.text
    reference = r.json()["dossier"]["reference"]
    async with sessionmaker() as db:
        case_id = await db.scalar(select(Case.id).where(Case.reference == reference))

    seen = []
    for token, name, payload in (
        (seed.instructor_token, "certify_service", {"note": "Travaux réceptionnés"}),
        (seed.admin_token, "mandate", {"mandate_number": "M-2026-7"}),
        (seed.admin_token, "pay", {}),
    ):
        r = await app_client.post(
            f"/api/v1/cases/{case_id}/transitions/{name}",
            json={"payload": payload},
            headers=Seed.auth(token),
        )
        assert r.status_code == 200, r.text
        mine = await app_client.get("/api/v1/espace-fournisseur/factures", headers=supplier.headers)
        (item,) = mine.json()["items"]
        seen.append(item["state_title"])
    assert seen == ["Service fait", "Mandatée", "Mise en paiement"], (reference, seen)
