"""Test data for supplier invoices: the Factur-X EN 16931 sample (CII) re-addressed to a test
commune, the commune's SIRETs, departments, engagements and suppliers.

The sample (``../shared/data/einvoicing/facturx/factur-x-en16931.xml``, read by path, never
copied) is valid; ``invoice_xml`` changes identifiers only (numbers, SIRETs, codes), which keeps
every EN 16931 rule satisfied, so that each test breaks exactly the business rule it is about.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from stdnum import luhn

from workflows.procedures.supplier_invoices.models import (
    InvoiceBuyerSiret,
    InvoiceDepartment,
    PurchaseOrder,
    Supplier,
)

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "data" / "einvoicing"
FACTURX_XML = SAMPLES / "facturx" / "factur-x-en16931.xml"


def siret(prefix12: str) -> str:
    """A valid SIRET from 12 digits: 8 for the SIREN (its Luhn key added), 4 for the
    establishment (the SIRET's key added)."""
    siren = prefix12[:8] + luhn.calc_check_digit(prefix12[:8])
    body = siren + prefix12[8:12]
    return body + luhn.calc_check_digit(body)


SIRET_A = siret("216900010001")
"""Commune A (69001) receives its invoices under this SIRET."""
SIRET_B = siret("216900020001")
"""Commune B (69002)."""
SELLER_SIRET = "12345678200077"
"""The sample's seller ("LE FOURNISSEUR", SIREN 123456782)."""
SELLER_IBAN = "FR2012542547256985425874698"
SERVICE_CODE = "SERVEXEC"
ORDER = "PO201925478"
NUMBER = "F20260023"
PREVIOUS = "F20260003"
BAD_SIRET = "12345678200078"


def invoice_xml(
    *,
    number: str = NUMBER,
    buyer_siret: str | None = SIRET_A,
    seller_siret: str = SELLER_SIRET,
    service_code: str | None = SERVICE_CODE,
    order: str | None = ORDER,
    type_code: str = "380",
    reference: str | None = PREVIOUS,
    iban: str = "FR20 1254 2547 2569 8542 5874 698",
    seller_name: str = "LE FOURNISSEUR",
    issue_date: str = "20260131",
) -> bytes:
    from xml.sax.saxutils import escape

    number, seller_siret, order, reference = (
        escape(number),
        escape(seller_siret),
        None if order is None else escape(order),
        None if reference is None else escape(reference),
    )
    service_code = None if service_code is None else escape(service_code)
    seller_name = escape(seller_name)
    text = FACTURX_XML.read_bytes().decode("utf-8-sig")
    bt2 = '<udt:DateTimeString format="102">20260131</udt:DateTimeString>'
    text = text.replace(
        bt2, f'<udt:DateTimeString format="102">{issue_date}</udt:DateTimeString>', 1
    )
    text = text.replace(f"<ram:ID>{NUMBER}</ram:ID>", f"<ram:ID>{number}</ram:ID>", 1)
    text = text.replace("<ram:ID>123</ram:ID>", f"<ram:ID>{seller_siret}</ram:ID>", 1)
    text = text.replace(
        '<ram:GlobalID schemeID="0009">12345678200077</ram:GlobalID>',
        f'<ram:GlobalID schemeID="0009">{seller_siret}</ram:GlobalID>',
    )
    buyer = '<ram:GlobalID schemeID="0088">3654789851</ram:GlobalID>'
    if buyer_siret is None:
        text = text.replace(buyer, "")
    else:
        text = text.replace(buyer, f'<ram:GlobalID schemeID="0009">{buyer_siret}</ram:GlobalID>')
    service = "<ram:BuyerReference>SERVEXEC</ram:BuyerReference>"
    text = text.replace(
        service,
        "" if service_code is None else f"<ram:BuyerReference>{service_code}</ram:BuyerReference>",
    )
    order_tag = f"<ram:IssuerAssignedID>{ORDER}</ram:IssuerAssignedID>"
    if order is None:
        start = text.rindex("<ram:BuyerOrderReferencedDocument>", 0, text.index(order_tag))
        end = text.index("</ram:BuyerOrderReferencedDocument>", start) + len(
            "</ram:BuyerOrderReferencedDocument>"
        )
        text = text[:start] + text[end:]
    else:
        text = text.replace(order_tag, f"<ram:IssuerAssignedID>{order}</ram:IssuerAssignedID>")
    text = text.replace(
        "<ram:TypeCode>380</ram:TypeCode>", f"<ram:TypeCode>{type_code}</ram:TypeCode>", 1
    )
    if reference is None:
        start = text.index("<ram:InvoiceReferencedDocument>")
        end = text.index("</ram:InvoiceReferencedDocument>") + len(
            "</ram:InvoiceReferencedDocument>"
        )
        text = text[:start] + text[end:]
    else:
        text = text.replace(
            f"<ram:IssuerAssignedID>{PREVIOUS}</ram:IssuerAssignedID>",
            f"<ram:IssuerAssignedID>{reference}</ram:IssuerAssignedID>",
        )
    text = text.replace("FR20 1254 2547 2569 8542 5874 698</ram:IBANID>", f"{iban}</ram:IBANID>")
    text = text.replace(
        "<ram:Name>LE FOURNISSEUR</ram:Name>", f"<ram:Name>{seller_name}</ram:Name>"
    )
    return text.encode("utf-8")


async def seed_finance(
    session: AsyncSession,
    *,
    commune_id: uuid.UUID,
    other_commune_id: uuid.UUID,
    remaining: Decimal = Decimal("1000.00"),
    order_status: str = "open",
    supplier_iban: str | None = SELLER_IBAN,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Commune A's finance data: its SIRET, the SERVEXEC department, the PO201925478
    engagement, the sample's seller as supplier; commune B's SIRET; the 'finances' service."""
    from identity import service as ids
    from identity.models import Tenant

    at = now or datetime(2026, 2, 2, 9, 0, tzinfo=UTC)
    session.add_all(
        [
            InvoiceBuyerSiret(tenant_id=commune_id, siret=SIRET_A, label="Mairie A"),
            InvoiceBuyerSiret(tenant_id=other_commune_id, siret=SIRET_B, label="Mairie B"),
            InvoiceDepartment(
                tenant_id=commune_id, code=SERVICE_CODE, name="Services techniques", active=True
            ),
        ]
    )
    supplier = Supplier(
        tenant_id=commune_id,
        siren=SELLER_SIRET[:9],
        siret=SELLER_SIRET,
        name="LE FOURNISSEUR",
        iban=supplier_iban,
        contacts={"contacts": [{"name": "Compta", "email": "compta@fournisseur.invalid"}]},
        active=True,
        created_at=at,
        updated_at=at,
    )
    session.add(supplier)
    await session.flush()
    session.add(
        PurchaseOrder(
            tenant_id=commune_id,
            number=ORDER,
            department_code=SERVICE_CODE,
            supplier_id=supplier.id,
            amount=Decimal("1000.00"),
            remaining=remaining,
            status=order_status,
            created_at=at,
        )
    )
    for tenant_id in (commune_id, other_commune_id):
        tenant = await session.get(Tenant, tenant_id)
        assert tenant is not None
        await ids.add_tenant_service(
            session,
            tenant,
            code="finances",
            name="Service des finances",
            address="1 rue des Finances",
            phone="04 00 00 00 07",
            email="finances@test.invalid",
        )
    await session.flush()
    return {"supplier_id": supplier.id}


async def actor_of(sm: Any, email: str) -> Any:
    """The Actor of a seeded agent: ``admin@a.invalid`` (finance), ``instr@a.invalid``
    (ordering department), ``instr@b.invalid`` (commune B)."""
    from sqlalchemy import select

    from identity.models import Agent
    from identity.service import agent_actor

    async with sm() as s:
        agent = await s.scalar(select(Agent).where(Agent.email == email))
        assert agent is not None, email
        return await agent_actor(s, agent)


async def receive(
    sm: Any,
    engine: Any,
    clock: Any,
    xml: bytes,
    *,
    tenant: str = "69001",
    made_available_at: datetime = datetime(2026, 3, 2, 8, 0, tzinfo=UTC),
    chorus_id: str | None = None,
) -> Any:
    """Validate and receive one invoice as pulled from Chorus Pro (one transaction)."""
    from channels.einvoice.intake import receive_invoice
    from channels.einvoice.validation import validate

    report, document = validate(xml)
    async with sm() as s, s.begin():
        return await receive_invoice(
            s,
            engine,
            clock,
            tenant=tenant,
            source="chorus_pro",
            raw=xml,
            report=report,
            document=document,
            made_available_at=made_available_at,
            chorus_id=chorus_id or uuid.uuid4().hex[:12],
        )
