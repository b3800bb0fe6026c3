"""The business checks of a received invoice, against the tenant's data (one session).

Each broken rule is a ``Finding`` of stage ``business`` with a ``GUICHET-*`` rule id, a flag and
a French message an agent or the supplier can act on. The location is the EN 16931 business term.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from channels.einvoice.validation import Finding, Stage
from identity.models import Tenant
from workflows.procedures.supplier_invoices.identifiers import (
    buyer_siret_candidates,
    is_credit_note,
    normal_iban,
    normal_siret,
)
from workflows.procedures.supplier_invoices.models import (
    InvoiceBuyerSiret,
    InvoiceDepartment,
    PurchaseOrder,
    Supplier,
    SupplierInvoice,
)
from workflows.procedures.supplier_invoices.projector import (
    amount,
    parse_date,
    seller_ids,
    seller_key,
)
from workflows.procedures.supplier_invoices.settings import get_supplier_invoice_settings

Data = Mapping[str, str | None]


def _f(rule: str, flag: str, where: str, message: str) -> Finding:
    return Finding(Stage.BUSINESS, rule, "fatal" if flag == "fatal" else "warning", where, message)


async def _buyer(session: AsyncSession, tenant: Tenant, data: Data) -> list[Finding]:
    sirets, bad = buyer_siret_candidates(data)
    out = [
        _f(
            "GUICHET-BUYER-SIRET-INVALID",
            "fatal",
            item.split("=")[0],
            f"Le SIRET de l'acheteur « {item.split('=', 1)[1]} » est invalide (clé de "
            "contrôle) : corrigez l'identifiant du destinataire.",
        )
        for item in bad
    ]
    if not sirets:
        if not bad:
            out.append(
                _f(
                    "GUICHET-BUYER-SIRET-MISSING",
                    "fatal",
                    "BT-46",
                    f"La facture ne donne pas le SIRET de l'acheteur ({tenant.name}) : "
                    "indiquez-le en BT-46 ou BT-47 (schéma 0009), mention obligatoire "
                    "(D2192-2 du code de la commande publique).",
                )
            )
        return out
    rows = (
        await session.execute(
            select(InvoiceBuyerSiret.siret, InvoiceBuyerSiret.tenant_id, Tenant.name)
            .join(Tenant, Tenant.id == InvoiceBuyerSiret.tenant_id)
            .where(InvoiceBuyerSiret.siret.in_(sirets))
        )
    ).all()
    owners = {siret: (tid, name) for siret, tid, name in rows}
    if any(owners.get(s, (None, ""))[0] == tenant.id for s in sirets):
        return out
    for siret in sirets:
        owner = owners.get(siret)
        if owner is not None:
            out.append(
                _f(
                    "GUICHET-BUYER-OTHER-TENANT",
                    "fatal",
                    "BT-46",
                    f"La facture est adressée au SIRET {siret}, qui est celui de {owner[1]}, "
                    f"pas de {tenant.name} : adressez-la au bon destinataire.",
                )
            )
        else:
            out.append(
                _f(
                    "GUICHET-BUYER-UNKNOWN",
                    "fatal",
                    "BT-46",
                    f"Le SIRET acheteur {siret} n'est pas un SIRET de {tenant.name} : "
                    "vérifiez le destinataire de la facture.",
                )
            )
    return out


async def _duplicate(
    session: AsyncSession, tenant_id: uuid.UUID, data: Data, key: str
) -> list[Finding]:
    number, issued = data.get("BT-1"), parse_date(data.get("BT-2"))
    if not number or issued is None:
        return []
    found = await session.scalar(
        select(SupplierInvoice.case_id).where(
            SupplierInvoice.tenant_id == tenant_id,
            SupplierInvoice.seller_key == key,
            SupplierInvoice.number == number[:200],
            SupplierInvoice.issue_date == issued,
            SupplierInvoice.live.is_not(None),
        )
    )
    if found is None:
        return []
    return [
        _f(
            "GUICHET-DUPLICATE",
            "fatal",
            "BT-1",
            f"La facture n° {number} du {issued.strftime('%d/%m/%Y')} de ce fournisseur a déjà "
            "été reçue : elle n'est pas enregistrée une seconde fois.",
        )
    ]


async def _department(session: AsyncSession, tenant_id: uuid.UUID, data: Data) -> list[Finding]:
    code = (data.get("BT-10") or "").strip()
    if not code:
        if get_supplier_invoice_settings().require_service_code:
            return [
                _f(
                    "GUICHET-SERVICE-CODE-MISSING",
                    "fatal",
                    "BT-10",
                    "La facture ne donne pas le code service (BT-10, référence acheteur) : "
                    "indiquez le code du service qui a passé la commande (D2192-2 du code de la "
                    "commande publique).",
                )
            ]
        return []
    department = await session.scalar(
        select(InvoiceDepartment).where(
            InvoiceDepartment.tenant_id == tenant_id, InvoiceDepartment.code == code[:100]
        )
    )
    if department is None or not department.active:
        return [
            _f(
                "GUICHET-SERVICE-CODE-UNKNOWN",
                "fatal",
                "BT-10",
                f"Le code service « {code} » n'est pas un service actif de la collectivité : "
                "reprenez le code indiqué sur le bon de commande.",
            )
        ]
    return []


async def _order(
    session: AsyncSession, tenant_id: uuid.UUID, data: Data, credit_note: bool
) -> list[Finding]:
    number = (data.get("BT-13") or "").strip()
    if not number:
        if get_supplier_invoice_settings().require_engagement and not credit_note:
            return [
                _f(
                    "GUICHET-ORDER-MISSING",
                    "fatal",
                    "BT-13",
                    "La facture ne donne pas le numéro d'engagement ou de bon de commande "
                    "(BT-13) : mention obligatoire (D2192-2 du code de la commande publique).",
                )
            ]
        return []
    order = await session.scalar(
        select(PurchaseOrder).where(
            PurchaseOrder.tenant_id == tenant_id, PurchaseOrder.number == number[:100]
        )
    )
    if order is None:
        return [
            _f(
                "GUICHET-ORDER-UNKNOWN",
                "fatal",
                "BT-13",
                f"L'engagement « {number} » est inconnu de la collectivité : reprenez le numéro "
                "du bon de commande reçu.",
            )
        ]
    if order.status != "open":
        return [
            _f(
                "GUICHET-ORDER-CLOSED",
                "fatal",
                "BT-13",
                f"L'engagement « {number} » est soldé : il ne peut plus être facturé.",
            )
        ]
    total = amount(data.get("BT-112"))
    if not credit_note and total is not None and total > Decimal(order.remaining):
        return [
            _f(
                "GUICHET-ORDER-INSUFFICIENT",
                "fatal",
                "BT-112",
                f"Le montant TTC {total} € dépasse le reste à facturer de l'engagement "
                f"« {number} » ({Decimal(order.remaining):.2f} €).",
            )
        ]
    return []


async def _supplier(session: AsyncSession, tenant_id: uuid.UUID, data: Data) -> list[Finding]:
    _siren, siret = seller_ids(data)
    for bt in ("BT-29", "BT-30"):
        value = data.get(bt) or ""
        scheme = data.get(f"{bt}-scheme") or ""
        if scheme == "0009" and normal_siret(value) is None:
            return [
                _f(
                    "GUICHET-SELLER-SIRET-INVALID",
                    "fatal",
                    bt,
                    f"Le SIRET du fournisseur « {value} » est invalide (clé de contrôle).",
                )
            ]
    if siret is None:
        return [
            _f(
                "GUICHET-SELLER-SIRET-MISSING",
                "warning",
                "BT-29",
                "La facture ne donne pas le SIRET du fournisseur (BT-29, schéma 0009) : le "
                "fournisseur ne peut pas être rapproché de la base fournisseurs.",
            )
        ]
    supplier = await session.scalar(
        select(Supplier).where(Supplier.tenant_id == tenant_id, Supplier.siret == siret)
    )
    if supplier is None or not supplier.active:
        return [
            _f(
                "GUICHET-SUPPLIER-UNKNOWN",
                "warning",
                "BT-29",
                f"Le fournisseur SIRET {siret} n'est pas (ou plus) dans la base fournisseurs : "
                "le service des finances doit le créer avant le paiement.",
            )
        ]
    sent = normal_iban(data.get("BT-84") or "") if data.get("BT-84") else None
    if data.get("BT-84") and supplier.iban and sent != supplier.iban:
        return [
            _f(
                "GUICHET-IBAN-MISMATCH",
                "warning",
                "BT-84",
                "L'IBAN de la facture diffère de celui du fournisseur dans la base "
                f"(se terminant par {supplier.iban[-4:]}) : vérifiez le changement de "
                "coordonnées bancaires auprès du fournisseur avant tout paiement.",
            )
        ]
    return []


async def _credit_note(
    session: AsyncSession, tenant_id: uuid.UUID, data: Data, key: str
) -> list[Finding]:
    reference = (data.get("BT-25") or "").strip()
    if not reference:
        return [
            _f(
                "GUICHET-CREDIT-NOTE-NO-REFERENCE",
                "fatal",
                "BT-25",
                "Cet avoir ne cite pas la facture qu'il corrige (BT-25) : indiquez son numéro.",
            )
        ]
    query = select(SupplierInvoice.case_id).where(
        SupplierInvoice.tenant_id == tenant_id,
        SupplierInvoice.seller_key == key,
        SupplierInvoice.number == reference[:200],
        SupplierInvoice.live.is_not(None),
    )
    issued = parse_date(data.get("BT-26"))
    if issued is not None:
        query = query.where(SupplierInvoice.issue_date == issued)
    if await session.scalar(query.limit(1)) is None:
        return [
            _f(
                "GUICHET-CREDIT-NOTE-UNKNOWN-INVOICE",
                "fatal",
                "BT-25",
                f"L'avoir cite la facture « {reference} », que la collectivité n'a pas reçue de "
                "ce fournisseur.",
            )
        ]
    return []


async def check_invoice(
    session: AsyncSession, tenant: Tenant, data: Data, syntax: str | None
) -> list[Finding]:
    """Every business finding for this invoice addressed to ``tenant``."""
    key = seller_key(data)
    credit_note = is_credit_note(data, syntax)
    findings = await _buyer(session, tenant, data)
    findings += await _supplier(session, tenant.id, data)
    findings += await _duplicate(session, tenant.id, data, key)
    findings += await _department(session, tenant.id, data)
    findings += await _order(session, tenant.id, data, credit_note)
    if credit_note:
        findings += await _credit_note(session, tenant.id, data, key)
    return findings
