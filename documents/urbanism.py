"""The urbanism documents (issue 7): récépissé / ARE, avis de dépôt, demande de pièces, majoration,
demande d'avis, arrêté and certificat de décision tacite (urbanism.md §9).

Kinds (templates ``documents/templates/urbanism/<kind>.html``): ``urbanism_are`` (the variant of
``are`` for ``urbanism.*`` cases, see ``documents.contexts.KIND_VARIANTS``),
``urbanism_filing_notice``, ``urbanism_incompleteness``, ``urbanism_majoration``,
``urbanism_consultation``, ``urbanism_decision`` (in ``documents._urbanism_decision``) and
``urbanism_tacit_certificate``.

Where the facts come from: the case's ``urbanism_file`` row (A423 number, type, filing date,
applicant, land, the recorded facts and the legal timeline computed from them), the case payload
(the CERFA blocks: applicants, land, project), and the document request's params (the transition's
payload: ``request_pieces`` gives {pieces, notified_on, comment}). Every date a document states is
the timeline's (its rule and reference next to it when useful): documents never recompute the law.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from documents import _urbanism_common as u
from documents._urbanism_decision import file_summary, urbanism_decision_context
from documents.french import ContextBuilder, calendar_of, french_date
from workflows.cases.models import Case
from workflows.engine.calendar import add_months
from workflows.engine.definitions import Definition
from workflows.procedures.urbanism import codec
from workflows.procedures.urbanism import timeline as rules
from workflows.procedures.urbanism.facts import MajorationGround, PermitType, TacitOutcome

PIECES_MONTHS = 3
"""R423-39 a: three months from receipt of the letter to supply all the missing pieces."""

MAJORATION_GROUNDS: dict[MajorationGround, tuple[str, str]] = {
    MajorationGround.R423_24: (
        "article R423-24 du code de l'urbanisme",
        "le projet est soumis à un régime d'autorisation ou à des prescriptions prévus par une "
        "autre législation ou réglementation, ou situé dans le périmètre d'un site patrimonial "
        "remarquable ou dans les abords d'un monument historique, ou appelle une dérogation ou "
        "la consultation d'une commission (CDPENAF) ou une participation du public : le délai "
        "d'instruction de droit commun est majoré d'un mois",
    ),
    MajorationGround.R423_25: (
        "article R423-25 du code de l'urbanisme",
        "le projet doit être soumis à l'avis d'une commission départementale ou régionale, à la "
        "commission départementale d'aménagement commercial ou à une procédure de participation "
        "du public par voie électronique : le délai d'instruction de droit commun est majoré de "
        "deux mois (cette majoration ne se cumule pas avec celle de l'article R423-24)",
    ),
    MajorationGround.R423_28: (
        "article R423-28 du code de l'urbanisme",
        "le projet porte sur un immeuble inscrit au titre des monuments historiques, un "
        "établissement recevant du public soumis à l'autorisation du code de la construction et "
        "de l'habitation ou un immeuble de grande hauteur : le délai d'instruction est porté à "
        "cinq mois",
    ),
    MajorationGround.ARCHAEOLOGY: (
        "article R425-31 du code de l'urbanisme",
        "le projet est susceptible de donner lieu à des prescriptions d'archéologie préventive "
        "(saisine du préfet de région) : le délai d'instruction est majoré d'un mois",
    ),
    MajorationGround.R423_35: (
        "article R423-35 du code de l'urbanisme",
        "un recours a été formé devant le préfet de région contre l'avis de l'architecte des "
        "Bâtiments de France : le délai d'instruction est majoré de deux mois",
    ),
}


def _params_date(params: Mapping[str, Any], name: str) -> Any:
    value = params.get(name)
    return u.as_date(value, name) if value not in (None, "") else None


# ----- récépissé de dépôt / ARE (R423-3 à R423-5 + R112-11-1 CRPA) -----------------------------


async def urbanism_are_context(
    session: AsyncSession, case: Case, definition: Definition, params: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """Récépissé (paper) or ARE (electronic filing): the CRPA mentions of ``are_context`` plus the
    R423-4 and R423-5 ones — number, date of receipt, the day the tacit decision is born (for a DP
    the day works may start), what the authority may still notify within the first month, DOC,
    display, certificate on request (R424-13), recours des tiers (R600-1, R600-2)."""
    from documents.contexts import are_context  # contexts registers this module's builders

    document = "le récépissé de dépôt"
    crpa = await are_context(session, case, definition, {}, now)
    file = await u.load_file(session, case, document)
    ptype = u.permit_type_of(file)
    timeline = u.TimelineView(file.timeline)
    outcome: TacitOutcome = u.require(
        timeline.tacit_outcome, "ce que vaudra le silence de l'administration", document
    )
    tacit_on = u.require(timeline.tacit_on, "la date de la décision tacite", document)
    deadline = timeline.get("instruction_deadline")
    completeness_limit = timeline.on("completeness_limit") or add_months(file.filed_on, 1)
    ack = definition.acknowledgement
    delay_rule = (
        deadline.rule
        if deadline is not None and deadline.rule
        else f"{ack.decision_delay.describe()} à compter du dépôt"
        if ack is not None and ack.decision_delay is not None
        else ""
    )
    works_from = tacit_on
    tree_felling = timeline.on("executory_tree_felling")
    if ptype is PermitType.DP and tree_felling is not None:
        works_from = tree_felling
    paper = bool(crpa["paper"])
    words = u.TYPE_WORDS[ptype]
    return {
        **crpa,
        **file_summary(case, file, ptype, require_project=False),
        "title": "Récépissé de dépôt" if paper else "Accusé de réception électronique",
        "legal_articles": (
            "articles R423-3 à R423-5 du code de l'urbanisme ; articles L112-3 et R112-5 du "
            + u.CRPA
            if paper
            else "articles R423-4 et R423-5 du code de l'urbanisme ; articles L112-11, "
            "R112-11-1 et R112-11-2 du " + u.CRPA
        ),
        "request_words": words.request,
        "act_words": words.act,
        "is_declaration": ptype is PermitType.DP,
        "is_cu": ptype in u.CU_TYPES,
        "works_with_doc": ptype in u.WORKS_TYPES,
        "favourable": outcome in u.FAVOURABLE_OUTCOMES,
        "outcome": outcome.value,
        "outcome_words": u.OUTCOME_WORDS[outcome],
        "tacit_on": french_date(tacit_on),
        "instruction_deadline": french_date(deadline.on) if deadline is not None else None,
        "delay_rule": delay_rule,
        "delay_reference": deadline.reference if deadline is not None else "R423-23",
        "works_from": french_date(works_from),
        "tree_felling": tree_felling is not None,
        "completeness_limit": french_date(completeness_limit),
        "decision_date": french_date(tacit_on),
    }


# ----- avis de dépôt (R423-6) -----------------------------------------------------------------------


async def urbanism_filing_notice_context(
    session: AsyncSession, case: Case, definition: Definition, params: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """Avis de dépôt posted in the mairie within 15 days of the filing, for the whole instruction
    (R423-6): number, applicant, land (address, parcels, area), nature of the project, floor area
    created, filing date, display date."""
    document = "l'avis de dépôt"
    file = await u.load_file(session, case, document)
    ptype = u.permit_type_of(file)
    timeline = u.TimelineView(file.timeline)
    displayed_on = _params_date(params, "displayed_on") or calendar_of(case).local_date(now)
    limit = timeline.on("filing_notice_display_limit") or file.filed_on.fromordinal(
        file.filed_on.toordinal() + 15
    )
    summary = file_summary(case, file, ptype, require_project=ptype not in u.CU_TYPES)
    if ptype not in u.CU_TYPES:
        u.require(
            summary["floor_area_created"],
            "la surface de plancher créée (0 s'il n'en est pas créé)",
            document,
        )
    return {
        **summary,
        "title": "Avis de dépôt",
        "heading": f"Avis de dépôt — {u.TYPE_WORDS[ptype].short}",
        "request_words": u.TYPE_WORDS[ptype].request,
        "displayed_on": french_date(displayed_on),
        "display_limit": french_date(limit),
        "displayed_late": displayed_on > limit,
    }


# ----- lettre de demande de pièces (R423-38, R423-39) ---------------------------------------------


def _letter_common(
    case: Case, file: Any, ptype: PermitType, params: Mapping[str, Any], document: str
) -> dict[str, Any]:
    from documents.contexts import is_paper_request  # contexts registers this module

    name, title = u.signatory(params, document, "article L111-2 du " + u.CRPA)
    paper = is_paper_request(case)
    return {
        "recipient_name": file.applicant_name
        or u.applicant_name((u.applicants(case.payload) or [{}])[0]),
        "recipient_address": u.recipient_address(case, case.payload),
        "delivery": (
            "Lettre recommandée avec demande d'avis de réception"
            if paper
            else "Notification par voie électronique (article L112-15 du " + u.CRPA + ")"
        ),
        "agent_name": name,
        "agent_title": title,
        "request_words": u.TYPE_WORDS[ptype].request,
    }


async def urbanism_incompleteness_context(
    session: AsyncSession, case: Case, definition: Definition, params: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """Demande de pièces (R423-38, R423-39): the exhaustive list (code and title), three months
    from receipt of the letter to supply them all, what silence then means (tacit rejection, or
    tacit opposition for a DP), and the instruction deadline restarting on receipt of all."""
    document = "la lettre de demande de pièces"
    file = await u.load_file(session, case, document)
    ptype = u.permit_type_of(file)
    raw = params.get("pieces")
    if raw is None:
        raw = u.TimelineView(file.timeline).missing_pieces
    if isinstance(raw, str) or not isinstance(raw, list | tuple):
        raise u.MissingUrbanismData(
            "Paramètre « pieces » invalide : la liste des codes des pièces manquantes est attendue."
        )
    codes = list(dict.fromkeys(str(p).strip().upper() for p in raw if str(p).strip()))
    u.require(codes, "la liste exhaustive des pièces manquantes (R423-38)", document)
    notified_on = _params_date(params, "notified_on")
    comment = params.get("comment")
    return {
        **file_summary(case, file, ptype, require_project=False),
        **_letter_common(case, file, ptype, params, document),
        "title": "Demande de pièces complémentaires",
        "pieces": u.pieces_with_titles(codes),
        "pieces_months": PIECES_MONTHS,
        "notified_on": french_date(notified_on) if notified_on else None,
        "pieces_deadline": (
            french_date(add_months(notified_on, PIECES_MONTHS)) if notified_on else None
        ),
        "consequence": (
            "une décision tacite d'opposition"
            if ptype is PermitType.DP
            else "une décision tacite de rejet"
        ),
        "comment": str(comment).strip() if comment and str(comment).strip() else None,
    }


# ----- lettre de majoration (R423-42 à R423-45) ------------------------------------------------------


async def urbanism_majoration_context(
    session: AsyncSession, case: Case, definition: Definition, params: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """Majoration letter, notified within the first month (R423-42): its legal ground, the new
    deadline (the timeline's), and whether a tacit decision remains possible (R423-43, R424-2).
    A majoration notified after the first month has no effect: no letter claims otherwise."""
    document = "la lettre de majoration du délai"
    file = await u.load_file(session, case, document)
    ptype = u.permit_type_of(file)
    timeline = u.TimelineView(file.timeline)
    raw_ground = u.require(params.get("ground"), "le fondement de la majoration", document)
    try:
        ground = MajorationGround(str(raw_ground))
    except ValueError:
        known = ", ".join(g.value for g in MajorationGround)
        raise u.MissingUrbanismData(
            f"Paramètre « ground » invalide : {raw_ground!r} n'est pas un fondement de majoration "
            f"connu ({known})."
        ) from None
    if ground is MajorationGround.ARCHAEOLOGY and ptype is PermitType.DP:
        raise u.MissingUrbanismData(
            "La majoration pour archéologie préventive ne s'applique pas à une déclaration "
            "préalable : la lettre ne peut pas être établie."
        )
    notified_on = _params_date(params, "notified_on")
    limit = timeline.on("completeness_limit") or add_months(file.filed_on, 1)
    if notified_on is not None and notified_on > limit and ground is not MajorationGround.R423_35:
        raise u.MissingUrbanismData(
            f"Notifiée le {french_date(notified_on)}, après le premier mois suivant le dépôt "
            f"(qui expirait le {french_date(limit)}), la majoration est sans effet (R423-42) : "
            "le délai d'instruction initial reste acquis et la lettre n'est pas établie."
        )
    reference, reason = MAJORATION_GROUNDS[ground]
    legal = timeline.get("instruction_deadline")
    pending: str | None = None
    if timeline.instruction_deadline is None and timeline.missing_pieces:
        # Pieces awaited (R423-39): the majorated delay will run from the receipt of the last
        # one; no date can be given yet, the letter says so.
        facts = codec.facts_from_json(file.facts)
        pending = f"{rules.instruction_months(facts, calendar=calendar_of(case))} mois"
        deadline = None
        tacit_on = None
        outcome = timeline.tacit_outcome
    else:
        deadline = u.require(
            timeline.instruction_deadline,
            "la nouvelle date limite d'instruction (calendrier légal)",
            document,
        )
        tacit_on = u.require(timeline.tacit_on, "la date de la décision tacite", document)
        outcome = timeline.tacit_outcome
    outcome = u.require(outcome, "ce que vaudra le silence", document)
    return {
        **file_summary(case, file, ptype, require_project=False),
        **_letter_common(case, file, ptype, params, document),
        "title": "Majoration du délai d'instruction",
        "ground": ground.value,
        "ground_reference": reference,
        "ground_text": reason,
        "notified_on": french_date(notified_on) if notified_on else None,
        "completeness_limit": french_date(limit),
        "new_deadline": french_date(deadline) if deadline else None,
        "pending_delay": pending,
        "deadline_rule": legal.rule if legal is not None else "",
        "favourable": outcome in u.FAVOURABLE_OUTCOMES,
        "outcome_words": u.OUTCOME_WORDS[outcome],
        "tacit_on": french_date(tacit_on) if tacit_on else None,
        "is_declaration": ptype is PermitType.DP,
    }


# ----- demande d'avis à un service consulté (R423-50, R423-59) -----------------------------------

SERVICE_NAMES = {
    "ABF": "Architecte des Bâtiments de France (unité départementale de l'architecture et du "
    "patrimoine)",
    "UDAP": "Unité départementale de l'architecture et du patrimoine",
    "SDIS": "Service départemental d'incendie et de secours",
    "DDT": "Direction départementale des territoires",
    "DDTM": "Direction départementale des territoires et de la mer",
    "DRAC": "Direction régionale des affaires culturelles (service régional de l'archéologie)",
    "ENEDIS": "Enedis (gestionnaire du réseau public de distribution d'électricité)",
    "GRDF": "GRDF (gestionnaire du réseau de distribution de gaz)",
    "EAU": "Service gestionnaire des réseaux d'eau et d'assainissement",
}


def _int_param(params: Mapping[str, Any], name: str, high: int) -> int | None:
    value = params.get(name)
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise u.MissingUrbanismData(
            f"Paramètre « {name} » invalide : un nombre entier est attendu."
        )
    try:
        number = int(value)
    except ValueError:
        raise u.MissingUrbanismData(
            f"Paramètre « {name} » invalide : un nombre entier est attendu, reçu {value!r}."
        ) from None
    if not 1 <= number <= high:
        raise u.MissingUrbanismData(
            f"Paramètre « {name} » invalide : une valeur entre 1 et {high} est attendue."
        )
    return number


async def urbanism_consultation_context(
    session: AsyncSession, case: Case, definition: Definition, params: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """Request for a service's opinion: file summary, the deadline (one month by default) and
    « à défaut de réponse dans ce délai, votre avis est réputé favorable » (R423-59)."""
    document = "la demande d'avis"
    file = await u.load_file(session, case, document)
    ptype = u.permit_type_of(file)
    service = str(u.require(params.get("service"), "le service consulté", document)).strip()
    if len(service) > 200:
        raise u.MissingUrbanismData(
            "Paramètre « service » invalide : 200 caractères au plus sont attendus."
        )
    sent_on = u.require(
        _params_date(params, "sent_on"), "la date d'envoi de la demande d'avis", document
    )
    months = _int_param(params, "delay_months", 24)
    days = _int_param(params, "delay_days", 730)
    if months is not None and days is not None:
        raise u.MissingUrbanismData(
            "Paramètres « delay_months » et « delay_days » incompatibles : indiquez le délai de "
            "réponse en mois ou en jours, pas les deux."
        )
    if days is not None:
        due = sent_on.fromordinal(sent_on.toordinal() + days)
        delay = f"{days} jour{'s' if days > 1 else ''}"
    else:
        months = months or 1
        due = add_months(sent_on, months)
        delay = f"{months} mois"
    name, title = u.signatory(params, document, "article L111-2 du " + u.CRPA)
    timeline = u.TimelineView(file.timeline)
    return {
        **file_summary(case, file, ptype, require_project=ptype not in u.CU_TYPES),
        "title": "Demande d'avis",
        "service_code": service,
        "service_full": SERVICE_NAMES.get(service.upper(), service),
        "sent_on": french_date(sent_on),
        "delay": delay,
        "answer_by": french_date(due),
        "instruction_deadline": u.date_text(timeline.instruction_deadline),
        "request_words": u.TYPE_WORDS[ptype].request,
        "agent_name": name,
        "agent_title": title,
    }


# ----- certificat de décision tacite (R424-13) --------------------------------------------------


async def urbanism_tacit_certificate_context(
    session: AsyncSession, case: Case, definition: Definition, params: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """On simple request (R424-13): the authority certifies the date on which the tacit decision
    was born. Refused while none is born (deadline not over, or a decision notified in time)."""
    document = "le certificat de décision tacite"
    file = await u.load_file(session, case, document)
    ptype = u.permit_type_of(file)
    timeline = u.TimelineView(file.timeline)
    today = calendar_of(case).local_date(now)
    outcome = timeline.tacit_outcome
    tacit_on = timeline.tacit_on
    decision = u.facts_of(file).get("decision")
    notified = (
        u.optional_date(decision.get("notified_on")) if isinstance(decision, Mapping) else None
    )
    if outcome is None or tacit_on is None or tacit_on > today:
        when = (
            f" (elle naîtra le {french_date(tacit_on)} à défaut de décision notifiée)"
            if (outcome is not None and tacit_on is not None)
            else ""
        )
        raise u.MissingUrbanismData(
            f"Aucune décision tacite n'est née sur le dossier {u.display_number(file.number)}"
            f"{when} : le certificat de l'article R424-13 ne peut pas être délivré."
        )
    if notified is not None and notified < tacit_on:
        raise u.MissingUrbanismData(
            f"Une décision expresse a été notifiée le {french_date(notified)}, avant la date à "
            f"laquelle une décision tacite serait née ({french_date(tacit_on)}) : le certificat "
            "de l'article R424-13 ne peut pas être délivré."
        )
    tenant = await u.load_tenant(session, case)
    name, title = u.signatory(params, document, "article L212-2 du " + u.CRPA)
    deadline = timeline.instruction_deadline
    return {
        **file_summary(case, file, ptype, require_project=False),
        "title": "Certificat de décision tacite",
        "authority": f"Le Maire {u.of(tenant.city)}",
        "request_words": u.TYPE_WORDS[ptype].request,
        "favourable": outcome in u.FAVOURABLE_OUTCOMES,
        "outcome": outcome.value,
        "outcome_words": u.OUTCOME_WORDS[outcome],
        "outcome_born": u.OUTCOME_BORN[outcome],
        "tacit_on": french_date(tacit_on),
        "instruction_deadline": u.date_text(deadline),
        "withdrawal_limit": u.date_text(timeline.on("withdrawal_limit")),
        "validity_end": u.date_text(
            timeline.on("cu_validity_end") if ptype in u.CU_TYPES else timeline.on("validity_end")
        ),
        "tree_felling_from": u.date_text(timeline.on("executory_tree_felling")),
        "is_cu": ptype in u.CU_TYPES,
        "is_declaration": ptype is PermitType.DP,
        "signatory_name": name,
        "signatory_title": title,
        "place": tenant.city,
    }


URBANISM_CONTEXTS: dict[str, ContextBuilder] = {
    "urbanism_are": urbanism_are_context,
    "urbanism_filing_notice": urbanism_filing_notice_context,
    "urbanism_incompleteness": urbanism_incompleteness_context,
    "urbanism_majoration": urbanism_majoration_context,
    "urbanism_consultation": urbanism_consultation_context,
    "urbanism_decision": urbanism_decision_context,
    "urbanism_tacit_certificate": urbanism_tacit_certificate_context,
}
"""Registered in ``documents.contexts.CONTEXTS``."""
