"""From a validated e-invoice to a ``supplier_invoices.invoice`` case: ``receive_invoice``.

The Chorus Pro connector and the deposit API (other helpers) call this one function with the
raw bytes and the standards report of ``channels.einvoice.validation.validate``. It runs the
business checks in the caller's transaction, opens the case through ``channels.intake.submit``
(channel ``einvoice``) and then, as Guichet itself:

- an invoice without a fatal finding is made available (``make_available``): its DGP starts at
  ``made_available_at`` (the Chorus Pro notification date; now for a deposit);
- any other is rejected (``reject``) with its fatal findings, which queues the rejection
  notice (``invoice_rejection`` PDF) for the supplier;
- except a document Chorus Pro made available without a processable structured invoice (PDF
  only, MINIMUM or BASIC WL profile: "the PDF is the invoice"): it stays ``deposited`` for
  manual keying by finance, who then makes it available (its DGP runs from the Chorus Pro date
  recorded on the case) or rejects it. Guichet never pretends to have data it does not have.

Who the supplier is on the case (CRPA R112-9-1 identification): the seller's name with its SIREN
/ SIRET, reached by post at the address printed on the invoice (or the master data contact
e-mail). A seller without a valid SIREN (foreign supplier, broken document) is recorded without
identification: the invoice data still names it. **Decision**, written here.

Direct deposits open a case only for tenants listed in
``GUICHET_SUPPLIER_INVOICES_DEPOSIT_TENANTS`` (off by default: einvoicing.md §1, an invoice that
only arrived that way is not legally received; the reading is unverified).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from channels.einvoice.business import check_document
from channels.einvoice.validation import ParsedInvoice, Stage, ValidationReport
from channels.intake import IntakeRequest, submit
from identity.service import TenantCache
from services.kernel.actor import SYSTEM_ACTOR, Actor
from services.kernel.clock import Clock
from services.kernel.errors import Forbidden
from workflows.cases.service import CaseService
from workflows.engine.runner import Engine
from workflows.procedures.supplier_invoices.definition import KEY
from workflows.procedures.supplier_invoices.models import Supplier
from workflows.procedures.supplier_invoices.projector import seller_ids

Source = Literal["chorus_pro", "deposit"]
MAX_FINDINGS = 500


class EinvoiceIntakeSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GUICHET_SUPPLIER_INVOICES_", extra="ignore", env_file=None
    )

    deposit_tenants: tuple[str, ...] = Field(
        default=(),
        description="INSEE codes of the tenants where a direct deposit opens a case and starts "
        "the payment clock (off by default: Chorus Pro is the legal channel, R2192-3 CCP).",
    )


@dataclass(frozen=True, slots=True)
class ReceivedInvoice:
    case_id: uuid.UUID
    reference: str
    state: str
    created: bool
    verdict: str
    report: ValidationReport


def _findings(report: ValidationReport) -> list[dict[str, str]]:
    return [f.to_dict() for f in report.findings][:MAX_FINDINGS]


async def _submitter(
    session: AsyncSession, tenant_id: uuid.UUID, data: dict[str, str | None]
) -> dict[str, Any]:
    siren, siret = seller_ids(data)
    if siren is None:
        return {"kind": "anonymous", "notification": "postal"}
    name = (data.get("BT-27") or "").strip()[:200] or f"Fournisseur SIREN {siren}"
    submitter: dict[str, Any] = {"kind": "organisation", "organisation_name": name, "siren": siren}
    if siret:
        submitter["siret"] = siret
    email = None
    if siret:
        supplier = await session.scalar(
            select(Supplier).where(Supplier.tenant_id == tenant_id, Supplier.siret == siret)
        )
        contacts = (supplier.contacts.get("contacts") if supplier else None) or []
        email = next((c.get("email") for c in contacts if c.get("email")), None)
    if email:
        submitter["email"] = email
    else:
        submitter["postal_address"] = f"Adresse du vendeur portée sur la facture ({name})"[:300]
        submitter["notification"] = "postal"
    return submitter


async def receive_invoice(
    session: AsyncSession,
    engine: Engine,
    clock: Clock,
    *,
    tenant: str,
    source: Source,
    raw: bytes,
    report: ValidationReport,
    document: ParsedInvoice | None = None,
    made_available_at: datetime | None = None,
    actor: Actor | None = None,
    external_ref: str | None = None,
    chorus_id: str | None = None,
) -> ReceivedInvoice:
    """Turn one validated document into a case (module doc). Idempotent on ``external_ref``
    (default: ``chorus:<chorus_id>`` for Chorus Pro, the document's SHA-256 for a deposit)."""
    now = clock.now()
    info = await TenantCache(ttl=timedelta(0)).get(session, tenant, now=now)
    if source == "deposit" and info.insee_code not in EinvoiceIntakeSettings().deposit_tenants:
        raise Forbidden(
            f"{info.name} ne reçoit pas les factures par dépôt direct : déposez-la sur Chorus Pro "
            "(R2192-3 du code de la commande publique). Le dépôt reste possible pour contrôler "
            "une facture avant de l'envoyer."
        )
    business = report.stage(Stage.BUSINESS)
    if document is not None and not business.findings and business.note == "":
        business.ran = True
        business.findings.extend(await check_document(session, document, info.insee_code))
    elif document is None:
        business.ran = False
        business.note = "document illisible : contrôles métier non exécutés"
    sha256 = hashlib.sha256(raw).hexdigest()
    if external_ref is None:
        external_ref = f"chorus:{chorus_id}" if chorus_id else f"sha256:{sha256}"
    data = dict(report.data)
    payload = {
        "source": source,
        "syntax": report.syntax,
        "profile": (report.profile or None) and str(report.profile)[:200],
        "verdict": report.verdict,
        "data": data,
        "findings": _findings(report),
        "made_available_at": (made_available_at or now).isoformat(),
        "chorus_id": chorus_id,
        "document_sha256": sha256,
    }
    result = await submit(
        session,
        engine,
        clock,
        IntakeRequest(
            tenant=info.insee_code,
            procedure_key=KEY,
            channel="einvoice",
            submitter=await _submitter(session, info.id, data),
            payload=payload,
            actor=actor or SYSTEM_ACTOR,
            external_ref=external_ref[:200],
            channel_data={"source": source, "chorus_id": chorus_id, "sha256": sha256},
        ),
    )
    state = result.state
    manual = report.verdict == "unprocessable" and source == "chorus_pro"
    if result.created and not manual:
        service = CaseService(session, engine, clock)
        if report.valid:
            case, _ = await service.apply(
                result.case_id,
                "make_available",
                SYSTEM_ACTOR,
                {"made_available_at": (made_available_at or now).isoformat()},
                channel="einvoice",
            )
        else:
            fatal = [f.to_dict() for f in report.findings if f.flag == "fatal"][:MAX_FINDINGS]
            reason = (
                "Le document ne contient pas de facture structurée exploitable (PDF seul, profil "
                "MINIMUM ou BASIC WL) : déposez-la sur Chorus Pro."
                if report.verdict == "unprocessable"
                else f"La facture ne respecte pas {len(fatal)} règle(s) : voir le détail."
            )
            case, _ = await service.apply(
                result.case_id,
                "reject",
                SYSTEM_ACTOR,
                {"reason": reason, "findings": fatal},
                channel="einvoice",
            )
        state = case.state
    return ReceivedInvoice(
        case_id=result.case_id,
        reference=result.reference,
        state=state,
        created=result.created,
        verdict=report.verdict,
        report=report,
    )
