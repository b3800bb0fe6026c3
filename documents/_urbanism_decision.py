"""The arrêté of an urbanism file (urbanism.md §9.5) and the file summary every urbanism document
prints.

The arrêté: visas (the code, the application with its number and filing date, one « Vu l'avis »
per answered consultation, « Vu l'avis réputé favorable » for each unanswered one whose delay is
over — R423-59), the reasons (« Considérant que… », REQUIRED for a refusal, an opposition, a sursis
à statuer and any prescriptions — L424-3), the articles per decision kind, the validity (R424-17),
DOC and display mentions, the appeal routes (R600-1, R600-2, recours gracieux), the transmission to
the préfet (L2131-1, L2131-2 CGCT) and the signatory's name and title (L212-2 CRPA).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from documents import _urbanism_common as u
from documents.french import calendar_of, french_date
from workflows.cases.models import Case
from workflows.engine.calendar import add_months
from workflows.engine.definitions import Definition
from workflows.procedures.urbanism.facts import DecisionKind, Opinion, PermitType
from workflows.procedures.urbanism.models import UrbanismFile

OPINION_WORDS = {
    Opinion.FAVOURABLE.value: "favorable",
    Opinion.WITH_PRESCRIPTIONS.value: "favorable assorti de prescriptions",
    Opinion.UNFAVOURABLE.value: "défavorable",
    Opinion.NONE.value: "sans observation",
}

ALLOWED: dict[PermitType, frozenset[DecisionKind]] = {
    PermitType.DP: frozenset(
        {DecisionKind.NON_OPPOSITION, DecisionKind.OPPOSITION, DecisionKind.DEFERRED}
    ),
    PermitType.CUA: frozenset({DecisionKind.CU_ISSUED, DecisionKind.REFUSED}),
    PermitType.CUB: frozenset({DecisionKind.CU_ISSUED, DecisionKind.REFUSED}),
}
PERMIT_DECISIONS = frozenset(
    {
        DecisionKind.GRANTED,
        DecisionKind.GRANTED_WITH_PRESCRIPTIONS,
        DecisionKind.REFUSED,
        DecisionKind.DEFERRED,
    }
)
FAVOURABLE = frozenset(
    {DecisionKind.GRANTED, DecisionKind.GRANTED_WITH_PRESCRIPTIONS, DecisionKind.NON_OPPOSITION}
)
REASONED = frozenset(
    {
        DecisionKind.REFUSED,
        DecisionKind.OPPOSITION,
        DecisionKind.DEFERRED,
        DecisionKind.GRANTED_WITH_PRESCRIPTIONS,
    }
)
KIND_WORDS = {
    DecisionKind.GRANTED: "accordant",
    DecisionKind.GRANTED_WITH_PRESCRIPTIONS: "accordant avec prescriptions",
    DecisionKind.REFUSED: "refusant",
    DecisionKind.DEFERRED: "opposant un sursis à statuer à",
    DecisionKind.OPPOSITION: "s'opposant à",
    DecisionKind.NON_OPPOSITION: "ne s'opposant pas à",
    DecisionKind.CU_ISSUED: "délivrant",
}


def file_summary(
    case: Case, file: UrbanismFile, ptype: PermitType, *, require_project: bool
) -> dict[str, Any]:
    """What identifies the file on every document: number (A423-3 display), type, applicant,
    land, project, floor area created, filing date."""
    payload: Mapping[str, Any] = case.payload if isinstance(case.payload, Mapping) else {}
    document = "le document"
    nature = u.project_nature(payload)
    if require_project:
        u.require(nature, "la nature du projet (bloc « projet » de la demande)", document)
    applicant = file.applicant_name.strip() or None
    if applicant is None:
        names = [u.applicant_name(a) for a in u.applicants(payload)]
        applicant = ", ".join(n for n in names if n) or None
    created = u.created_floor_area(u.block(payload, "project"))
    land_area = u.land_area(payload)
    return {
        "number": u.display_number(file.number),
        "number_compact": file.number,
        "type_short": u.TYPE_WORDS[ptype].short,
        "applicant": u.require(applicant, "le nom du demandeur", document),
        "land_address": u.require(u.land_address(file, payload), "l'adresse du terrain", document),
        "parcels": u.require(
            u.parcels_text(file, payload), "les références cadastrales du terrain", document
        ),
        "land_area": u.area_text(land_area) if land_area is not None else None,
        "project_nature": nature,
        "floor_area_created": u.area_text(created) if created is not None else None,
        "filed_on": french_date(file.filed_on),
        "architect": _architect(payload),
    }


def _architect(payload: Mapping[str, Any]) -> str | None:
    architect = u.block(payload, "architect")
    name = u.applicant_name(architect) if architect else None
    return name


def _text_list(params: Mapping[str, Any], name: str) -> list[str]:
    value = params.get(name)
    if isinstance(value, str):
        items = [p.strip() for p in value.split("\n\n")]
    elif isinstance(value, list | tuple):
        items = [str(p).strip() for p in value if p is not None]
    elif value is None:
        items = []
    else:
        raise u.MissingUrbanismData(
            f"Paramètre « {name} » invalide : une liste de paragraphes est attendue."
        )
    return [p for p in items if p]


def _consultation_visas(
    facts: Mapping[str, Any], signed_on: date, default_months: int
) -> list[str]:
    visas: list[str] = []
    for item in facts.get("consultations") or ():
        if not isinstance(item, Mapping) or not item.get("service"):
            continue
        service = str(item["service"])
        sent_on = u.optional_date(item.get("sent_on"))
        answered_on = u.optional_date(item.get("answered_on"))
        opinion = item.get("opinion")
        if answered_on is not None:
            words = OPINION_WORDS.get(str(opinion), "") if opinion else ""
            visas.append(
                f"Vu l'avis {words + ' ' if words else ''}de {service} du "
                f"{french_date(answered_on)}".replace("  ", " ")
            )
            continue
        if sent_on is None:
            continue
        days = item.get("delay_days")
        months = item.get("delay_months")
        due = (
            sent_on.fromordinal(sent_on.toordinal() + int(days))
            if isinstance(days, int) and days > 0
            else add_months(
                sent_on, int(months) if isinstance(months, int) and months > 0 else default_months
            )
        )
        if signed_on <= due:
            raise u.MissingUrbanismData(
                f"L'arrêté ne peut pas être établi : {service}, consulté le "
                f"{french_date(sent_on)}, peut encore rendre son avis jusqu'au "
                f"{french_date(due)} (R423-59)."
            )
        visas.append(
            f"Vu l'avis réputé favorable de {service}, consulté le {french_date(sent_on)}, "
            f"faute de réponse dans le délai qui expirait le {french_date(due)} "
            "(article R423-59 du code de l'urbanisme)"
        )
    return visas


def _articles(
    kind: DecisionKind, ptype: PermitType, words: u.TypeWords, prescriptions: list[str]
) -> list[str]:
    if kind is DecisionKind.GRANTED:
        return [
            f"{words.act[:1].upper()}{words.act[1:]} est ACCORDÉ pour le projet décrit dans "
            "la demande susvisée."
        ]
    if kind is DecisionKind.GRANTED_WITH_PRESCRIPTIONS:
        return [
            f"{words.act[:1].upper()}{words.act[1:]} est ACCORDÉ pour le projet décrit dans la "
            "demande susvisée, sous réserve du respect des prescriptions de l'article 2.",
            "Prescriptions : " + " ".join(prescriptions),
        ]
    if kind is DecisionKind.REFUSED and ptype in u.CU_TYPES:
        return [
            "Le certificat d'urbanisme est délivré dans les conditions suivantes : l'opération "
            "projetée sur le terrain susvisé ne peut pas être réalisée, pour les motifs exposés "
            "ci-dessus (certificat d'urbanisme négatif)."
        ]
    if kind is DecisionKind.REFUSED:
        return [
            f"{words.act[:1].upper()}{words.act[1:]} est REFUSÉ pour les motifs exposés ci-dessus."
        ]
    if kind is DecisionKind.DEFERRED:
        return [
            f"Il est SURSIS À STATUER sur {words.request} susvisée, pour les motifs exposés "
            "ci-dessus.",
            "Le sursis à statuer est prononcé pour une durée de deux ans au plus. À son "
            "expiration, le demandeur peut confirmer sa demande ; l'autorité compétente statue "
            "alors dans les deux mois de cette confirmation, à défaut de quoi l'autorisation est "
            "réputée accordée (article L424-1 du code de l'urbanisme).",
        ]
    if kind is DecisionKind.OPPOSITION:
        return [
            "Il est fait OPPOSITION à la déclaration préalable susvisée, pour les motifs "
            "exposés ci-dessus."
        ]
    if kind is DecisionKind.NON_OPPOSITION:
        out = [
            "Il n'est PAS FAIT OPPOSITION à la déclaration préalable susvisée"
            + (
                ", sous réserve du respect des prescriptions de l'article 2."
                if prescriptions
                else "."
            )
        ]
        if prescriptions:
            out.append("Prescriptions : " + " ".join(prescriptions))
        return out
    out = [
        "Le certificat d'urbanisme est DÉLIVRÉ pour le terrain susvisé. Les dispositions "
        "d'urbanisme, le régime des taxes et participations d'urbanisme et les limitations "
        "administratives au droit de propriété applicables au terrain à la date du présent "
        "certificat sont maintenus pendant sa durée de validité (article L410-1 du code de "
        "l'urbanisme)."
    ]
    if prescriptions:
        out.append("Informations et observations : " + " ".join(prescriptions))
    return out


async def urbanism_decision_context(
    session: AsyncSession, case: Case, definition: Definition, params: dict[str, Any], now: datetime
) -> dict[str, Any]:
    document = "l'arrêté"
    file = await u.load_file(session, case, document)
    ptype = u.permit_type_of(file)
    facts = u.facts_of(file)
    recorded = facts.get("decision")
    raw_kind = params.get("kind") or (
        recorded.get("kind") if isinstance(recorded, Mapping) else None
    )
    raw_kind = u.require(raw_kind, "la nature de la décision (paramètre « kind »)", document)
    try:
        kind = DecisionKind(str(raw_kind))
    except ValueError:
        known = ", ".join(k.value for k in DecisionKind)
        raise u.MissingUrbanismData(
            f"Paramètre « kind » invalide : {raw_kind!r} n'est pas une décision connue ({known})."
        ) from None
    allowed = ALLOWED.get(ptype, PERMIT_DECISIONS)
    words = u.TYPE_WORDS[ptype]
    if kind not in allowed:
        raise u.MissingUrbanismData(
            f"La décision « {kind.value} » ne peut pas être prise sur {words.request} : "
            f"décisions possibles : {', '.join(sorted(k.value for k in allowed))}."
        )
    reasons = _text_list(params, "reasons")
    prescriptions = _text_list(params, "prescriptions")
    if kind is DecisionKind.GRANTED_WITH_PRESCRIPTIONS and not prescriptions:
        raise u.MissingUrbanismData(
            "L'arrêté ne peut pas être établi : un accord avec prescriptions doit énoncer ses "
            "prescriptions (paramètre « prescriptions »)."
        )
    if (kind in REASONED or prescriptions) and not reasons and ptype not in u.CU_TYPES:
        raise u.MissingUrbanismData(
            "L'arrêté ne peut pas être établi : un refus, une opposition, un sursis à statuer ou "
            "une décision assortie de prescriptions doit être motivé (article L424-3 du code de "
            "l'urbanisme). Indiquez les motifs (paramètre « reasons »)."
        )
    if kind is DecisionKind.REFUSED and ptype in u.CU_TYPES and not reasons:
        raise u.MissingUrbanismData(
            "L'arrêté ne peut pas être établi : un certificat d'urbanisme négatif doit être "
            "motivé (article A410-5 du code de l'urbanisme). Indiquez les motifs (« reasons »)."
        )
    signed_raw = params.get("signed_on") or (
        recorded.get("signed_on") if isinstance(recorded, Mapping) else None
    )
    signed_on = (
        u.as_date(signed_raw, "signed_on") if signed_raw else calendar_of(case).local_date(now)
    )
    name, title = u.signatory(params, document, "article L212-2 du " + u.CRPA)
    tenant = await u.load_tenant(session, case)
    summary = file_summary(case, file, ptype, require_project=ptype not in u.CU_TYPES)
    rule_set = facts.get("rule_set")
    default_months = (
        int(rule_set.get("consultation_months") or 1) if isinstance(rule_set, Mapping) else 1
    )
    visas = [
        "Vu le code de l'urbanisme, notamment ses articles L410-1, R410-1 et suivants"
        if ptype in u.CU_TYPES
        else "Vu le code de l'urbanisme, notamment ses articles L421-1 et suivants, L424-1 et "
        "suivants, R421-1 et suivants et R423-1 et suivants",
        f"Vu {words.request} n° {summary['number']} déposée le {summary['filed_on']} par "
        f"{summary['applicant']}"
        + (f", pour {summary['project_nature']}" if summary["project_nature"] else "")
        + f", sur un terrain situé {summary['land_address']} (parcelles {summary['parcels']})"
        + (
            f", surface de plancher créée : {summary['floor_area_created']}"
            if summary["floor_area_created"]
            else ""
        ),
    ]
    for receipt in facts.get("pieces_receipts") or ():
        received = (
            u.optional_date(receipt.get("received_on")) if isinstance(receipt, Mapping) else None
        )
        if received is not None:
            visas.append(f"Vu les pièces complémentaires reçues le {french_date(received)}")
    visas += [v if v.lower().startswith("vu ") else f"Vu {v}" for v in _text_list(params, "visas")]
    visas += _consultation_visas(facts, signed_on, default_months)
    favourable = kind in FAVOURABLE
    timeline = u.TimelineView(file.timeline)
    decision_title = (
        "Certificat d'urbanisme"
        if ptype in u.CU_TYPES
        else f"Arrêté {KIND_WORDS[kind]} "
        + ("la déclaration préalable" if ptype is PermitType.DP else words.act)
    )
    return {
        **summary,
        "title": "Arrêté" if ptype not in u.CU_TYPES else "Certificat d'urbanisme",
        "authority": f"Le Maire {u.of(tenant.city)}",
        "decision_title": decision_title,
        "decision_kind": kind.value,
        "visas": visas,
        "reasons": [
            r if r.lower().startswith("considérant") else f"Considérant {r}" for r in reasons
        ],
        "articles": _articles(kind, ptype, words, prescriptions),
        "favourable": favourable,
        "is_cu": ptype in u.CU_TYPES,
        "is_declaration": ptype is PermitType.DP,
        "works_with_doc": ptype in u.WORKS_TYPES,
        "tacit_on": u.date_text(timeline.tacit_on),
        "signatory_name": name,
        "signatory_title": title,
        "signed_on": french_date(signed_on),
        "place": tenant.city,
    }
