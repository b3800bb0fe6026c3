"""What each document kind says: one context function per kind (plus its template).

Adding a kind = two things, nothing else:

1. a template ``documents/templates/<kind>.html`` that extends ``_layout.html`` (letterhead, footer
   with the page numbers and the reference) and fills its ``content`` block;
2. an ``async def <kind>_context(session, case, definition, params, now) -> dict`` registered in
   ``CONTEXTS`` below. It returns what the template needs on top of ``base_context`` (tenant
   letterhead, service in charge, case reference, procedure, dates in French). ``params`` are the
   ones given with the request for the document (the outbox payload); a missing required param
   raises ``ValueError`` with a French message: a document is never produced blank.

A kind without its own template is rendered with ``generic.html``; a kind without a context
function gets ``base_context`` only. ``build_context`` is what the render job (and the e-mail
notifications, for the ``aee`` texts) call.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from documents.cemeteries import CEMETERY_CONTEXTS
from documents.french import (
    ContextBuilder,
    calendar_of,
    french_date,
    french_datetime,
    submitter_name,
)
from documents.supplier_invoices import INVOICE_CONTEXTS
from documents.urbanism import URBANISM_CONTEXTS
from identity.models import Tenant, TenantService
from workflows.cases.models import Case
from workflows.engine.definitions import Acknowledgement, Definition, SilenceRule

CRPA = "code des relations entre le public et l'administration"
PAPER_CHANNELS = frozenset({"counter", "phone"})
"""Requests keyed in by an agent for a caller: not an electronic submission by the person (the
paper-world acknowledgement of R112-5 CRPA applies). ``mail`` is the e-mail channel: electronic."""
BACKDATING_TOLERANCE = timedelta(minutes=5)
"""A receipt dated earlier than its registration by more than this (intake's clock-skew allowance)
is a paper request keyed in later (counter, post)."""


# ----- the base every document starts from ------------------------------------------------------


async def _service(
    session: AsyncSession, case: Case, definition: Definition
) -> TenantService | None:
    ack = definition.acknowledgement
    if ack is None:
        return None
    found: TenantService | None = await session.scalar(
        select(TenantService).where(
            TenantService.tenant_id == case.tenant_id,
            TenantService.code == ack.service_code,
        )
    )
    return found


async def base_context(
    session: AsyncSession, case: Case, definition: Definition, kind: str, now: datetime
) -> dict[str, Any]:
    tenant = await session.get(Tenant, case.tenant_id)
    if tenant is None:
        raise LookupError(f"tenant {case.tenant_id} not found")
    service = await _service(session, case, definition)
    calendar = calendar_of(case)
    timezone = str(calendar.tz)
    title = next((d.title for d in definition.documents if d.kind == kind), kind)
    return {
        "title": title,
        "reference": case.reference,
        "procedure_title": definition.title,
        "tenant": {
            "name": tenant.name,
            "kind": tenant.kind,
            "insee_code": tenant.insee_code,
            "address": tenant.address,
            "postal_code": tenant.postal_code,
            "city": tenant.city,
            "phone": tenant.phone,
            "email": tenant.email,
            "logo": tenant.logo,
        },
        "tenant_name": tenant.name,
        "service": (
            {
                "name": service.name,
                "address": service.address,
                "postal_code": tenant.postal_code,
                "city": tenant.city,
                "phone": service.phone,
                "email": service.email,
                "opening_hours": service.opening_hours,
            }
            if service is not None
            else None
        ),
        "received_at": french_datetime(case.received_at, timezone),
        "received_on": french_date(calendar.local_date(case.received_at)),
        "state_title": definition.state(case.state).title,
        "issued_at": french_date(calendar.local_date(now)),
        "submitter": case.submitter,
        "submitter_name": submitter_name(case.submitter),
    }


# ----- AEE: accusé d'enregistrement électronique (L112-11 CRPA) ---------------------------------


async def aee_context(
    session: AsyncSession,
    case: Case,
    definition: Definition,
    params: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """Date and time of receipt, reference, procedure (also the body of the AEE e-mail)."""
    timezone = str(calendar_of(case).tz)
    return {
        "title": "Accusé d'enregistrement électronique",
        "received_at_text": f"le {french_datetime(case.received_at, timezone)}",
        "registered_at_text": f"le {french_datetime(case.registered_at, timezone)}",
        "message": (
            f"Votre demande « {definition.title} » a été enregistrée sous la référence "
            f"{case.reference}. Un accusé de réception vous sera adressé : il indiquera le "
            "service chargé de votre dossier et les délais qui s'appliquent à votre demande."
        ),
    }


# ----- ARE: accusé de réception (électronique) — R112-11-1 CRPA, R112-5 for paper --------------


def is_paper_request(case: Case) -> bool:
    """Keyed in by an agent (counter, phone) or received before it was registered (post)."""
    return (
        case.channel in PAPER_CHANNELS
        or case.received_at < case.registered_at - BACKDATING_TOLERANCE
    )


def _as_date(value: Any, name: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(
            f"Paramètre « {name} » invalide : une date AAAA-MM-JJ est attendue, reçu {value!r}."
        ) from None


def _missing_pieces(params: Mapping[str, Any]) -> tuple[list[str], date | None]:
    pieces = params.get("missing_pieces")
    if not pieces:
        return [], None
    if isinstance(pieces, str) or not isinstance(pieces, list | tuple):
        raise ValueError(
            "Paramètre « missing_pieces » invalide : une liste de pièces est attendue."
        )
    if "pieces_deadline" not in params or not params["pieces_deadline"]:
        raise ValueError(
            "Paramètre « pieces_deadline » manquant : l'accusé de réception d'un dossier "
            "incomplet fixe le délai de production des pièces (L114-5 CRPA)."
        )
    return [str(p) for p in pieces], _as_date(params["pieces_deadline"], "pieces_deadline")


async def are_context(
    session: AsyncSession,
    case: Case,
    definition: Definition,
    params: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """Every mention of R112-11-1 CRPA (R112-5 for a paper request), from data: the procedure's
    acknowledgement rules, the tenant's service, the case; plus L114-5 when pieces are missing."""
    ack: Acknowledgement | None = definition.acknowledgement
    if ack is None:
        raise ValueError(
            f"La démarche « {definition.title} » n'a pas de règles d'accusé de réception "
            "(service, règle de silence, délai) : l'accusé de réception ne peut pas être établi "
            "(R112-11-1 CRPA)."
        )
    if await _service(session, case, definition) is None:
        raise ValueError(
            f"Le service « {ack.service_code} » chargé de la démarche n'est pas déclaré pour "
            "cette collectivité : l'accusé de réception doit en donner les coordonnées "
            "(R112-11-1 CRPA)."
        )
    calendar = calendar_of(case)
    paper = is_paper_request(case)
    received_on = calendar.local_date(case.received_at)
    silence = ack.silence
    decision_on: date | None = None
    delay_text = ""
    if silence is not SilenceRule.NONE:
        if ack.decision_delay is None:
            raise ValueError(
                f"La démarche « {definition.title} » n'indique pas son délai de décision : "
                "la date de la décision implicite ne peut pas être calculée (R112-11-1 CRPA)."
            )
        decision_on = calendar.due_date(received_on, ack.decision_delay)
        delay_text = ack.decision_delay.describe()
    pieces, pieces_deadline = _missing_pieces(params)
    noun = {
        "demande": "votre demande",
        "declaration": "votre déclaration",
        "information": "votre demande d'information",
    }[ack.request_kind]
    return {
        "title": "Accusé de réception" if paper else "Accusé de réception électronique",
        "paper": paper,
        "legal_articles": (
            f"articles L112-3 et R112-5 du {CRPA}"
            if paper
            else f"articles L112-11, R112-11-1 et R112-11-2 du {CRPA}"
        ),
        "request_kind": ack.request_kind,
        "request_noun": noun,
        "received_how": (
            {"counter": "au guichet ", "phone": "par téléphone "}.get(case.channel, "")
            if paper
            else "par voie électronique "
        ),
        "received_at_text": f"le {french_datetime(case.received_at, str(calendar.tz))}",
        "silence": silence.value,
        "decision_delay": delay_text,
        "decision_date": french_date(decision_on) if decision_on else None,
        "legal_basis": ack.legal_basis,
        "appeal_routes": ack.appeal_routes,
        "missing_pieces": pieces,
        "pieces_deadline": french_date(pieces_deadline) if pieces_deadline else None,
        "crpa": CRPA,
    }


# ----- courrier (L111-2 CRPA) and arrêté (L212-2 CRPA) ------------------------------------------


def _required_text(params: Mapping[str, Any], name: str, what: str, document: str) -> str:
    value = params.get(name)
    if value is None or not str(value).strip():
        raise ValueError(f"Paramètre « {name} » manquant : {document} doit indiquer {what}.")
    return str(value).strip()


def _required_list(params: Mapping[str, Any], name: str, what: str, document: str) -> list[str]:
    value = params.get(name)
    if isinstance(value, str):
        items = [p.strip() for p in value.split("\n\n")]
    elif isinstance(value, list | tuple):
        items = [str(p).strip() for p in value]
    else:
        items = []
    items = [p for p in items if p]
    if not items:
        raise ValueError(f"Paramètre « {name} » manquant : {document} doit comporter {what}.")
    return items


def _with_requester(params: dict[str, Any], *, name: str, title: str) -> dict[str, Any]:
    """The agent whose transition asked for the document signs it, unless params name someone."""
    requester = params.get("requested_by")
    if not isinstance(requester, dict):
        return params
    return {
        name: requester.get("name"),
        title: requester.get("title"),
        **{k: v for k, v in params.items() if v not in (None, "")},
    }


async def letter_context(
    session: AsyncSession,
    case: Case,
    definition: Definition,
    params: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """A courrier: the handling agent's name and title are printed (L111-2 CRPA)."""
    document = "le courrier"
    params = _with_requester(params, name="agent_name", title="agent_title")
    service = params.get("service")
    if not service:
        found = await _service(session, case, definition)
        service = found.name if found is not None else None
    return {
        "agent_name": _required_text(
            params, "agent_name", "le nom de l'agent qui le signe (L111-2 CRPA)", document
        ),
        "agent_title": _required_text(
            params, "agent_title", "la qualité de l'agent qui le signe (L111-2 CRPA)", document
        ),
        "agent_service": _required_text(
            {"service": service}, "service", "le service de l'agent (L111-2 CRPA)", document
        ),
        "subject": _required_text(params, "subject", "son objet", document),
        "paragraphs": _required_list(params, "body", "au moins un paragraphe", document),
    }


DECISION_APPEAL_ROUTES = (
    "La présente décision peut faire l'objet, dans un délai de deux mois à compter de sa "
    "notification ou de sa publication, d'un recours gracieux auprès de son auteur ou d'un recours "
    "contentieux devant le tribunal administratif territorialement compétent, y compris par "
    "l'application Télérecours citoyens (www.telerecours.fr). Le recours gracieux prolonge le "
    "délai du recours contentieux."
)
"""Appeal mention printed on an arrêté unless the request gives its own (``appeal_routes``)."""


def _of(name: str) -> str:
    """French elision: ``de Lyon``, ``d'Anse``."""
    return f"d'{name}" if name[:1].lower() in "aeiouyhàâäéèêëîïôöûüÿ" else f"de {name}"


async def decision_context(
    session: AsyncSession,
    case: Case,
    definition: Definition,
    params: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """An arrêté: authority, visas, ARRÊTE, articles, place and date, signatory's name and title
    (L212-2 CRPA: a decision shows its author's name, first name and title)."""
    document = "l'arrêté"
    params = _with_requester(params, name="signatory_name", title="signatory_title")
    tenant = await session.get(Tenant, case.tenant_id)
    if tenant is None:
        raise LookupError(f"tenant {case.tenant_id} not found")
    authority = params.get("authority") or (
        f"Le Maire {_of(tenant.city)}"
        if tenant.kind == "commune"
        else f"Le Président {_of(tenant.name)}"
    )
    visas = [
        v if v.lower().startswith("vu ") else f"Vu {v}"
        for v in _required_list(params, "visas", "ses visas (« Vu … »)", document)
    ]
    return {
        "authority": str(authority),
        "decision_title": str(params.get("decision_title") or "Arrêté"),
        "decision_number": str(params.get("number") or ""),
        "decision_subject": str(params.get("subject") or definition.title),
        "visas": visas,
        "articles": _required_list(params, "articles", "au moins un article", document),
        "signatory_name": _required_text(
            params,
            "signatory_name",
            "le nom et le prénom de son signataire (L212-2 CRPA)",
            document,
        ),
        "signatory_title": _required_text(
            params, "signatory_title", "la qualité de son signataire (L212-2 CRPA)", document
        ),
        "place": str(params.get("place") or tenant.city),
        "appeal_routes": str(params.get("appeal_routes") or DECISION_APPEAL_ROUTES),
    }


CONTEXTS: dict[str, ContextBuilder] = {
    "aee": aee_context,
    "are": are_context,
    "letter": letter_context,
    "decision": decision_context,
    **CEMETERY_CONTEXTS,
    **INVOICE_CONTEXTS,
    **URBANISM_CONTEXTS,
}

KIND_VARIANTS: dict[tuple[str, str], str] = {("urbanism.", "are"): "urbanism_are"}
"""(procedure key prefix, kind) → the family's own version of a common kind: its context builder
and its template replace the common ones; the stored document keeps the common kind (its
notifications, its place among the case's documents)."""


def variant_of(kind: str, procedure_key: str) -> str:
    return next(
        (
            v
            for (prefix, k), v in KIND_VARIANTS.items()
            if k == kind and procedure_key.startswith(prefix)
        ),
        kind,
    )


async def build_context(
    kind: str,
    session: AsyncSession,
    case: Case,
    definition: Definition,
    params: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    context = await base_context(session, case, definition, kind, now)
    variant = variant_of(kind, case.procedure_key)
    builder = CONTEXTS.get(variant)
    if builder is not None:
        context.update(await builder(session, case, definition, params, now))
    if variant != kind:
        context["template_kind"] = variant
    return context
