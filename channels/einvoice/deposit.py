"""Direct deposit of an e-invoice by a supplier's software: check it, and open a case where the
tenant enables it.

``POST /espace-fournisseur/{insee}/depots`` (``deposit_controllers``) hands the document here:

1. the caller is an API client of an organisation (a business) whose home tenant is ``insee``;
2. the ``Idempotency-Key`` is required: the same key with the same document gives back the first
   deposit (nothing new is stored or opened), with another document it is a conflict (409);
3. the standards stages of ``channels.einvoice.validation.validate`` run (off the event loop),
   then the tenant's business checks (``channels.einvoice.business.check_document``: buyer
   SIRET, duplicate, code service, engagement, IBAN, credit note reference);
4. when the tenant is listed in ``GUICHET_SUPPLIER_INVOICES_DEPOSIT_TENANTS``, a readable invoice
   addressed to it and not already received becomes a ``supplier_invoices.invoice`` case
   (``intake.receive_invoice``: made available, or rejected with its notice); otherwise the
   deposit is a check before sending only (Chorus Pro is the legal channel, R2192-3 CCP).

Every answer keeps the findings per stage with the rule id, the flag (fatal / avertissement),
the location and the message, and one French sentence saying what happened.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from channels.attachments.service import UnsupportedFile
from channels.einvoice.business import check_document
from channels.einvoice.intake import EinvoiceIntakeSettings, receive_invoice
from channels.einvoice.models import EinvoiceDeposit
from channels.einvoice.validation import Finding, Stage, ValidationReport, validate
from identity.models import ApiClient, Tenant
from services.kernel.actor import Actor
from services.kernel.clock import Clock
from services.kernel.errors import (
    Conflict,
    Forbidden,
    GuichetError,
    HiddenDenial,
    NotFound,
    PayloadTooLarge,
)
from workflows.cases.models import Case
from workflows.engine.runner import Engine
from workflows.procedures.supplier_invoices.views import STATE_TITLES

MAX_FINDINGS = 500
MULTIPART_OVERHEAD = 64 * 1024
"""Room for the multipart framing (boundaries, part headers) around the invoice file."""
FORM_FIELD = "facture"
XML_TYPES = frozenset({"application/xml", "text/xml"})
PDF_TYPE = "application/pdf"
MULTIPART = "multipart/form-data"
TENANT_NOT_FOUND = "Commune introuvable."
DEPOSIT_NOT_FOUND = "Dépôt introuvable parmi les vôtres."
BUYER_RULES = frozenset(
    {
        "GUICHET-BUYER-OTHER-TENANT",
        "GUICHET-BUYER-UNKNOWN",
        "GUICHET-BUYER-SIRET-INVALID",
        "GUICHET-BUYER-SIRET-MISSING",
    }
)
DUPLICATE_RULE = "GUICHET-DUPLICATE"


class BadDeposit(GuichetError):
    """A request that cannot be a deposit (no key, empty body, no ``facture`` field): 400."""

    code = "bad-request"
    title = "Requête invalide"


# ----- what the API answers ------------------------------------------------------------------


class Constat(BaseModel):
    etape: str
    regle: str
    gravite: Literal["fatal", "avertissement"]
    emplacement: str
    message: str


class Dossier(BaseModel):
    reference: str
    etat: str
    libelle: str


class DepotRead(BaseModel):
    depot_id: uuid.UUID
    recu_le: datetime
    fichier: str | None
    taille: int
    valide: bool
    exploitable: bool
    """False when no structured invoice can be read (PDF only, MINIMUM or BASIC WL profile)."""
    syntaxe: str | None
    profil: str | None
    constats: list[Constat]
    dossier: Dossier | None
    message: str


class DepotPage(BaseModel):
    items: list[DepotRead]
    total: int
    limit: int
    offset: int


# ----- the request ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Upload:
    content: bytes
    media_type: str
    filename: str | None


def idempotency_key(value: str | None) -> str:
    """The ``Idempotency-Key`` header: required, 1 to 200 printable ASCII characters."""
    key = (value or "").strip()
    if not key:
        raise BadDeposit(
            "L'en-tête Idempotency-Key est obligatoire : envoyez une clé unique par facture "
            "(par exemple un UUID) ; la même clé renvoyée avec la même facture redonne le même "
            "dépôt, sans doublon."
        )
    if len(key) > 200 or not all(" " <= c <= "~" for c in key):
        raise BadDeposit(
            "L'en-tête Idempotency-Key doit compter de 1 à 200 caractères imprimables (ASCII, "
            "sans accent ni caractère de contrôle) : par exemple un UUID."
        )
    return key


def media_type_of(header: str | None) -> str:
    """The media type of a Content-Type header, lower case, without its parameters."""
    return (header or "").split(";", 1)[0].strip().lower()


def check_media_type(header: str | None) -> str:
    kind = media_type_of(header)
    if kind in XML_TYPES or kind in (PDF_TYPE, MULTIPART):
        return kind
    raise UnsupportedFile(
        f"Type de contenu « {kind or 'absent'} » refusé : envoyez la facture telle quelle "
        "(Content-Type application/xml ou text/xml pour une facture UBL 2.1 ou CII D16B, "
        "application/pdf pour une Factur-X) ou dans le champ « facture » d'un formulaire "
        "multipart/form-data.",
        errors=[{"field": "Content-Type", "message": "type refusé", "type": "media_type"}],
    )


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"Facture trop volumineuse : {limit // (1024 * 1024)} Mo au plus ({limit} octets). "
        "Allégez les pièces jointes de la facture (Chorus Pro : 10 Mo par pièce jointe)."
    )


async def read_body(
    chunks: AsyncIterator[bytes], *, declared_length: int | None, limit: int
) -> bytes:
    """The request body, refused (413) as soon as it is known to exceed ``limit``: on the
    declared Content-Length before anything is read, else while streaming."""
    if declared_length is not None and declared_length > limit:
        raise too_large(limit)
    data = bytearray()
    async for chunk in chunks:
        data.extend(chunk)
        if len(data) > limit:
            raise too_large(limit)
    return bytes(data)


def _form_error(detail: str) -> BadDeposit:
    return BadDeposit(detail)


def parse_form(body: bytes, content_type: str, *, limit: int) -> Upload:
    """The ``facture`` file of a multipart/form-data body (one such field)."""
    from multipart import (  # type: ignore[import-untyped]
        MultipartError,
        MultipartSegment,
        PushMultipartParser,
        parse_options_header,
    )

    _, options = parse_options_header(content_type)
    boundary = options.get("boundary")
    if not boundary:
        raise _form_error(
            "Formulaire multipart/form-data sans « boundary » dans le Content-Type : laissez "
            "votre bibliothèque HTTP construire le formulaire."
        )
    found: list[Upload] = []
    segment: Any = None
    data = bytearray()
    try:
        with PushMultipartParser(boundary, max_segment_count=20) as parser:
            for chunk in (body, b""):
                for event in parser.parse(chunk):
                    if isinstance(event, MultipartSegment):
                        segment, data = event, bytearray()
                    elif event:
                        data.extend(event)
                        if len(data) > limit:
                            raise too_large(limit)
                    elif segment is not None:
                        if segment.name == FORM_FIELD:
                            found.append(
                                Upload(
                                    bytes(data),
                                    media_type_of(segment.content_type)
                                    or "application/octet-stream",
                                    (segment.filename or None) and str(segment.filename)[:200],
                                )
                            )
                        segment = None
                if parser.closed:
                    break
    except MultipartError:
        raise _form_error(
            "Formulaire multipart/form-data illisible : renvoyez la facture dans le champ "
            "« facture »."
        ) from None
    if not found:
        raise _form_error(
            "Le champ « facture » manque dans le formulaire : joignez-y le fichier de la "
            "facture (XML UBL ou CII, ou PDF Factur-X)."
        )
    if len(found) > 1:
        raise _form_error("Un seul fichier « facture » par dépôt : déposez les factures une à une.")
    return found[0]


# ----- who deposits ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Depositor:
    tenant: Tenant
    api_client_id: uuid.UUID
    organisation_id: uuid.UUID


async def depositor(session: AsyncSession, actor: Actor, insee: str) -> Depositor:
    """The business's API client and the commune it deposits to (its own: others are 404)."""
    client = await session.get(ApiClient, actor.id)
    if client is None or client.organisation_id is None:
        raise Forbidden(
            "Ce client API n'est pas celui d'une entreprise : il ne peut pas déposer de factures. "
            "Demandez à la collectivité un client API rattaché à votre entreprise."
        )
    tenant = await session.scalar(select(Tenant).where(Tenant.insee_code == insee))
    if tenant is None:
        raise NotFound(TENANT_NOT_FOUND)
    if tenant.id != client.tenant_id or tenant.id != actor.home_tenant_id:
        raise HiddenDenial(TENANT_NOT_FOUND)
    return Depositor(tenant, client.id, client.organisation_id)


# ----- the deposit -----------------------------------------------------------------------------


def _constats(findings: Sequence[dict[str, Any]]) -> list[Constat]:
    return [
        Constat(
            etape=str(f.get("stage", "")),
            regle=str(f.get("rule_id", "")),
            gravite="fatal" if f.get("flag") == "fatal" else "avertissement",
            emplacement=str(f.get("location", "")),
            message=str(f.get("message", "")),
        )
        for f in findings
    ]


async def read_of(session: AsyncSession, row: EinvoiceDeposit) -> DepotRead:
    dossier = None
    if row.case_id is not None:
        case = await session.get(Case, row.case_id)
        if case is not None:
            dossier = Dossier(
                reference=case.reference,
                etat=case.state,
                libelle=STATE_TITLES.get(case.state, case.state),
            )
    return DepotRead(
        depot_id=row.id,
        recu_le=row.created_at,
        fichier=row.filename,
        taille=row.size,
        valide=row.valid,
        exploitable=row.verdict != "unprocessable",
        syntaxe=row.syntax,
        profil=row.profile,
        constats=_constats(row.report.get("findings") or []),
        dossier=dossier,
        message=row.message,
    )


def _fatal_count(report: ValidationReport) -> int:
    return sum(1 for f in report.findings if f.flag == "fatal")


def _check_only_message(tenant: Tenant, report: ValidationReport) -> str:
    if report.valid:
        outcome = "La facture est conforme : vous pouvez l'envoyer."
    elif report.verdict == "unprocessable":
        outcome = (
            "Le document ne contient pas de facture structurée exploitable (PDF seul, profil "
            "MINIMUM ou BASIC WL) : envoyez une facture UBL, CII ou Factur-X (profil BASIC ou "
            "supérieur)."
        )
    else:
        outcome = (
            f"La facture ne respecte pas {_fatal_count(report)} règle(s) bloquante(s) : "
            "corrigez-les avant de l'envoyer."
        )
    return (
        "Vérification avant envoi : déposez la facture sur Chorus Pro (R2192-3 du code de la "
        f"commande publique), {tenant.name} ne reçoit pas les factures par dépôt direct. "
        f"{outcome}"
    )


def _not_opened_message(tenant: Tenant, report: ValidationReport, fatal: set[str]) -> str:
    if DUPLICATE_RULE in fatal:
        return (
            f"Cette facture est un doublon d'une facture déjà reçue par {tenant.name} : aucun "
            "nouveau dossier n'est ouvert."
        )
    if fatal & BUYER_RULES:
        return (
            f"La facture n'est pas adressée à {tenant.name} (SIRET de l'acheteur) : aucun dossier "
            "n'est ouvert. Corrigez le destinataire puis déposez-la de nouveau."
        )
    return (
        "Le document n'a pas pu être lu comme une facture structurée : aucun dossier n'est "
        f"ouvert par {tenant.name}. Corrigez les constats puis déposez-la de nouveau."
    )


def _opened_message(tenant: Tenant, reference: str, state: str, created: bool) -> str:
    if not created:
        return (
            f"Ce document a déjà été reçu par {tenant.name} : dossier {reference} (état : "
            f"{STATE_TITLES.get(state, state)}). Aucun nouveau dossier n'est ouvert."
        )
    if state == "rejected":
        return (
            f"Facture reçue par {tenant.name} et rejetée : dossier {reference}, un avis de rejet "
            "vous est adressé. Corrigez les constats bloquants puis déposez la facture corrigée."
        )
    return (
        f"Facture reçue par {tenant.name} : dossier {reference} ouvert et mis à disposition ; le "
        "délai global de paiement court à partir d'aujourd'hui (R2192-12 du code de la commande "
        "publique)."
    )


async def _existing(
    session: AsyncSession, api_client_id: uuid.UUID, key: str
) -> EinvoiceDeposit | None:
    found: EinvoiceDeposit | None = await session.scalar(
        select(EinvoiceDeposit).where(
            EinvoiceDeposit.api_client_id == api_client_id,
            EinvoiceDeposit.idempotency_key == key,
        )
    )
    return found


def _replay(row: EinvoiceDeposit, sha256: str) -> EinvoiceDeposit:
    if row.body_sha256 != sha256:
        raise Conflict(
            "Cette clé Idempotency-Key a déjà servi pour une autre facture (contenu différent) : "
            "utilisez une nouvelle clé pour chaque facture, et la même clé seulement pour "
            "renvoyer exactement la même facture.",
            extra={"depot_id": str(row.id)},
        )
    return row


async def deposit(
    session: AsyncSession,
    engine: Engine,
    clock: Clock,
    who: Depositor,
    key: str,
    upload: Upload,
) -> tuple[DepotRead, bool]:
    """Check (and, where enabled, receive) one invoice. Returns (answer, created)."""
    if not upload.content.strip():
        raise BadDeposit(
            "La facture est vide : envoyez le fichier XML (UBL ou CII) ou PDF (Factur-X)."
        )
    sha256 = hashlib.sha256(upload.content).hexdigest()
    found = await _existing(session, who.api_client_id, key)
    if found is not None:
        return await read_of(session, _replay(found, sha256)), False

    # CPU-bound (XSD, compiled Schematron): off the event loop; the rules are compiled once.
    report, document = await asyncio.to_thread(validate, upload.content)
    now = clock.now()
    row = EinvoiceDeposit(
        tenant_id=who.tenant.id,
        api_client_id=who.api_client_id,
        organisation_id=who.organisation_id,
        idempotency_key=key,
        body_sha256=sha256,
        filename=upload.filename,
        media_type=upload.media_type[:100],
        size=len(upload.content),
        syntax=report.syntax,
        profile=(report.profile or None) and str(report.profile)[:200],
        verdict=report.verdict,
        valid=False,
        report={},
        message="",
        created_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        # The same key is being deposited at this very moment: the first one wins.
        found = await _existing(session, who.api_client_id, key)
        if found is None:  # pragma: no cover - the constraint just said it exists
            raise
        return await read_of(session, _replay(found, sha256)), False

    business = report.stage(Stage.BUSINESS)
    if document is not None:
        business.ran = True
        business.findings.extend(await check_document(session, document, who.tenant.insee_code))
    else:
        business.ran = False
        business.note = "document illisible : contrôles métier non exécutés"
    fatal = {f.rule_id for f in business.findings if f.flag == "fatal"}
    enabled = who.tenant.insee_code in EinvoiceIntakeSettings().deposit_tenants
    if not enabled:
        row.message = _check_only_message(who.tenant, report)
    elif document is None or DUPLICATE_RULE in fatal or fatal & BUYER_RULES:
        row.message = _not_opened_message(who.tenant, report, fatal)
    else:
        received = await receive_invoice(
            session,
            engine,
            clock,
            tenant=who.tenant.insee_code,
            source="deposit",
            raw=upload.content,
            report=report,
            document=document,
            made_available_at=now,
        )
        row.case_id = received.case_id
        row.message = _opened_message(
            who.tenant, received.reference, received.state, received.created
        )
    row.message = row.message[:600]
    row.valid = report.valid
    row.verdict = report.verdict
    row.report = _stored_report(report)
    await session.flush()
    return await read_of(session, row), True


def _stored_report(report: ValidationReport) -> dict[str, Any]:
    findings: list[Finding] = report.findings[:MAX_FINDINGS]
    return {
        "findings": [f.to_dict() for f in findings],
        "stages": [{"stage": str(s.stage), "ran": s.ran, "note": s.note} for s in report.stages],
        "rules": list(report.rules),
    }


async def get_deposit(session: AsyncSession, who: Depositor, deposit_id: uuid.UUID) -> DepotRead:
    row = await session.get(EinvoiceDeposit, deposit_id)
    if row is None or row.api_client_id != who.api_client_id or row.tenant_id != who.tenant.id:
        raise NotFound(DEPOSIT_NOT_FOUND)
    return await read_of(session, row)


async def list_deposits(
    session: AsyncSession, who: Depositor, *, limit: int, offset: int
) -> DepotPage:
    where = (
        EinvoiceDeposit.api_client_id == who.api_client_id,
        EinvoiceDeposit.tenant_id == who.tenant.id,
    )
    total = int(
        await session.scalar(select(func.count()).select_from(EinvoiceDeposit).where(*where)) or 0
    )
    rows = await session.scalars(
        select(EinvoiceDeposit)
        .where(*where)
        .order_by(EinvoiceDeposit.created_at.desc(), EinvoiceDeposit.id.desc())
        .limit(limit)
        .offset(offset)
    )
    items = [await read_of(session, row) for row in rows]
    return DepotPage(items=items, total=total, limit=limit, offset=offset)
