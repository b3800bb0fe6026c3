"""Procès-verbal de constat d'abandon (R2223-13, R2223-14 CGCT) and arrêté de reprise (L2223-17,
R2223-12 to R2223-23; or L2223-15 for a concession not renewed).

The engine hands a ``document.request`` action the transition's data merged with the action's own
params, so what the agent recorded with the transition is in ``params``. Facts recorded by earlier
transitions of the same case (the notice to the heirs, the first PV, the délibération) are read
from the case's history (``case_event.data``), oldest first. Keys (``workflows.procedures.cemeteries.schemas``):

- ``AbandonNotice``: ``notice_sent_on``, ``finding_on``, ``method`` (``lrar`` or ``affichage``):
  the R2223-13 notice to the heirs;
- ``FindingReport`` (a PV): ``finding_on``, ``description``, ``present``; the action's own param
  ``finding`` (``first`` or ``second``); ``ImportedFirstPv``: ``first_pv_on``;
- ``Deliberation``: ``deliberation_on``, ``reference``;
- ``RepriseOrder``: ``published_on``, ``reference`` (the arrêté's number).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from documents import _cemeteries_common as fmt
from documents._cemeteries_common import APPEAL_ROUTES as DECISION_APPEAL_ROUTES
from documents.french import calendar_of as _calendar
from documents.french import french_date
from workflows.cases.models import Case, CaseEvent
from workflows.engine.definitions import Definition
from workflows.procedures.cemeteries import rules
from workflows.procedures.cemeteries.models import Concession, Deceased
from workflows.procedures.cemeteries.settings import cemetery_settings

CGCT = fmt.CGCT
NOTICE_MODES = {
    "lrar": "par lettre recommandée avec demande d'avis de réception",
    "affichage": "par un avis affiché à la mairie et à la porte du cimetière, faute d'adresse "
    "connue",
}


async def _history(session: AsyncSession, case: Case) -> list[dict[str, Any]]:
    """The data given with the case's transitions, oldest first."""
    rows = await session.scalars(
        select(CaseEvent.data)
        .where(CaseEvent.case_id == case.id, CaseEvent.kind == "case.transitioned")
        .order_by(CaseEvent.seq)
    )
    found = []
    for data in rows:
        if isinstance(data, Mapping):
            given = data.get("input")  # the engine records a step's data under « input »
            found.append(dict(given) if isinstance(given, Mapping) else {})
    return found


def _as_date(value: Any, what: str, document: str) -> date:
    fmt.require(value, what, document)
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise fmt.MissingCemeteryData(f"{what} est invalide : {value!r}.") from None


def _people(value: Any) -> list[str]:
    people = value if isinstance(value, list) else []
    found = []
    for person in people:
        if isinstance(person, Mapping):
            name = str(person.get("name") or "").strip()
            capacity = str(person.get("capacity") or "").strip()
            if name:
                found.append(f"{name}, {capacity}" if capacity else name)
        elif str(person).strip():
            found.append(str(person).strip())
    return found


async def _last_burial(session: AsyncSession, concession: Concession) -> date | None:
    found: date | None = await session.scalar(
        select(func.max(Deceased.inhumed_on)).where(Deceased.place_id == concession.place_id)
    )
    return found


def _is_finding(data: Mapping[str, Any]) -> bool:
    """A PV's data (FindingReport), not the notice's (which also has ``finding_on``)."""
    return bool(data.get("finding_on")) and "description" in data


def _findings(history: list[dict[str, Any]], params: Mapping[str, Any]) -> list[Any]:
    """The dates of the PVs, oldest first (an imported 1st PV's date first)."""
    found = [d["first_pv_on"] for d in history if d.get("first_pv_on")][:1]
    found += [d["finding_on"] for d in history if _is_finding(d)]
    if _is_finding(params) and (not found or found[-1] != params["finding_on"]):
        found.append(params["finding_on"])
    return found


def _data_with(history: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The latest transition data carrying ``key`` (empty if none)."""
    return next((d for d in reversed(history) if d.get(key) not in (None, "")), {})


# ----- procès-verbal de constat d'abandon -----------------------------------------------------------


async def abandonment_report_context(
    session: AsyncSession, case: Case, definition: Definition, params: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """R2223-14: exact location, precise description of the state, date of the concession act (if
    known), persons present, signatures; the notice given to the heirs a month before (R2223-13);
    what follows (notification within 8 days, posting, the one-year wait of L2223-17)."""
    document = "le procès-verbal de constat d'abandon"
    tenant = await fmt.load_tenant(session, case)
    concession = await fmt.case_concession(session, case, params, document, own=False)
    history = await _history(session, case)
    found_on = _as_date(params.get("finding_on"), "la date du constat", document)
    description = params.get("description")
    fmt.require(description, "la description précise de l'état de la concession", document)
    present = _people(params.get("present"))
    fmt.require(present or None, "le nom des personnes présentes au constat", document)
    finding = params.get("finding")
    rank = {"first": 1, "second": 2}.get(str(finding)) or min(len(_findings(history, params)), 2)
    notice = _data_with(history, "notice_sent_on")
    notice_on = notice.get("notice_sent_on")
    notice_mode = NOTICE_MODES.get(str(notice.get("method") or "lrar"), NOTICE_MODES["lrar"])
    if rank == 1:
        fmt.require(
            notice_on, "la date de l'avis donné aux descendants ou successeurs (R2223-13)", document
        )
    notice_day = _as_date(notice_on, "la date de l'avis", document) if notice_on else None
    notice_sentence = (
        f"les descendants ou successeurs du concessionnaire ayant été avisés le "
        f"{french_date(notice_day)} {notice_mode}, "
        "un mois au moins avant la date du constat, d'avoir à y assister ou à s'y faire "
        "représenter (article R2223-13 du code général des collectivités territoriales)."
        if notice_day
        else "dans les mêmes formes que le premier constat (article L2223-17 du code général des "
        "collectivités territoriales)."
    )
    wait = rules.abandon_wait_years(
        _as_date(_findings(history, params)[0], "la date du premier constat", document)
    )
    if rank == 1:
        follow_up = [
            "Dans les huit jours, le présent procès-verbal sera notifié aux descendants ou "
            "successeurs du concessionnaire, s'ils sont connus, avec mise en demeure de rétablir "
            "la concession en bon état d'entretien ; des extraits en seront affichés pendant un "
            "mois à la porte de la mairie et à celle du cimetière, à deux reprises à quinze jours "
            "d'intervalle (articles R2223-15 et R2223-16 du code général des collectivités "
            "territoriales).",
            f"Si, {wait} an(s) après l'accomplissement de ces formalités de publicité, la "
            "concession est toujours en état d'abandon, un nouveau procès-verbal sera dressé et "
            "notifié, et le conseil municipal pourra être appelé à décider de sa reprise "
            "(article L2223-17 du code général des collectivités territoriales).",
        ]
    else:
        follow_up = [
            f"Plus de {wait} an(s) après la publicité régulière du premier procès-verbal, la "
            "concession est toujours en état d'abandon (article L2223-17 du code général des "
            "collectivités territoriales).",
            "Le présent procès-verbal sera notifié aux intéressés avec indication de la mesure de "
            "reprise envisagée ; à l'expiration d'un délai d'un mois, le maire pourra saisir le "
            "conseil municipal, qui décidera si la reprise de la concession est prononcée "
            "(article R2223-18 du code général des collectivités territoriales).",
        ]
    name, title = fmt.signatory(params, document)
    last = await _last_burial(session, concession)
    return {
        "title": "Procès-verbal de constat d'abandon",
        "authority": fmt.authority(tenant),
        "report_subject": (
            f"{'Premier' if rank == 1 else 'Second'} constat — concession n° {concession.number}"
        ),
        "found_on": french_date(found_on),
        "notice_sentence": notice_sentence,
        "location": fmt.location(
            await fmt.load_place(session, case.tenant_id, concession.place_id)
        ),
        "concession": {
            **fmt.concession_facts(concession),
            "act_date": fmt.date_or(concession.granted_on, "non connue"),
        },
        "holders": [fmt.person_name(p) for p in await fmt.parties(session, concession)],
        "last_burial": french_date(last) if last else None,
        "state_description": [p.strip() for p in str(description).split("\n\n") if p.strip()],
        "present": present,
        "follow_up": follow_up,
        "signers": [f"{name}, {title}", *present],
        "signatory_name": name,
        "signatory_title": title,
        "place": tenant.city,
    }


# ----- arrêté de reprise ------------------------------------------------------------------------------


async def reprise_order_context(
    session: AsyncSession, case: Case, definition: Definition, params: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """The arrêté de reprise: Vu lines (L2223-17, R2223-12 to R2223-23, both PVs, the
    délibération; or L2223-15 and the renewal information for a concession not renewed), the
    articles, publication and notification (R2223-19), removal after the delay (R2223-20), remains
    to the ossuary (L2223-4, R2223-6)."""
    document = "l'arrêté de reprise"
    tenant = await fmt.load_tenant(session, case)
    concession = await fmt.case_concession(session, case, params, document, own=False)
    history = await _history(session, case)
    findings = _findings(history, params)
    rows = await fmt.load_place(session, case.tenant_id, concession.place_id)
    location = fmt.location(rows)
    holders = [fmt.person_name(p) for p in await fmt.parties(session, concession)]
    facts = {**fmt.concession_facts(concession), "act_date": french_date(concession.granted_on)}
    where = (
        f"au {location['cemetery']}, {location['zone']}, allée {location['alley']}, emplacement "
        f"n° {location['number']}"
    )
    if findings:
        first = _as_date(findings[0], "la date du premier procès-verbal", document)
        second = _as_date(findings[-1], "la date du second procès-verbal", document)
        if len(findings) < 2:
            raise fmt.MissingCemeteryData(
                "L'arrêté de reprise ne peut pas être établi : le second procès-verbal de constat "
                "d'abandon n'est pas au dossier (article L2223-17)."
            )
        deliberation = _data_with(history, "deliberation_on")
        deliberation_on = _as_date(
            deliberation.get("deliberation_on"),
            "la date de la délibération du conseil municipal",
            document,
        )
        deliberation_ref = fmt.require(
            deliberation.get("reference"),
            "la référence de la délibération du conseil municipal",
            document,
        )
        subject = f"Reprise de la concession n° {concession.number} en état d'abandon"
        visas = [
            f"Vu le {CGCT}, notamment ses articles L2223-4, L2223-17, L2223-18 et R2223-12 à "
            "R2223-23",
            f"Vu le procès-verbal du {french_date(first)} constatant l'état d'abandon de la "
            f"concession n° {concession.number}, notifié et publié conformément aux articles "
            "R2223-15 et R2223-16",
            f"Vu le procès-verbal du {french_date(second)} constatant que, plus de "
            f"{rules.abandon_wait_years(first)} an(s) après ces formalités, la concession est "
            "toujours en état d'abandon",
            f"Vu la délibération n° {deliberation_ref} du conseil municipal du "
            f"{french_date(deliberation_on)} décidant la reprise de la concession",
        ]
        grounds = (
            f"en état d'abandon constaté par procès-verbaux des {french_date(first)} et "
            f"{french_date(second)}"
        )
    else:
        term = fmt.require(concession.ends_on, "la date d'échéance de la concession", document)
        sent = fmt.require(
            concession.renewal_info_sent_at,
            "la date de l'information sur le droit au renouvellement (L2223-15, loi 3DS)",
            document,
        )
        window_end = rules.renewal_window_end(term)
        subject = f"Reprise de la concession n° {concession.number} non renouvelée"
        visas = [
            f"Vu le {CGCT}, notamment ses articles L2223-4 et L2223-15",
            f"Vu l'acte de concession n° {concession.number} du {facts['act_date']}, arrivée à "
            f"échéance le {french_date(term)}",
            "Vu l'information sur le droit au renouvellement adressée le "
            f"{french_date(_calendar(case).local_date(sent))} (article L2223-15, loi n° 2022-217 "
            "du 21 février 2022)",
            "Considérant que la concession n'a pas été renouvelée dans les deux années qui ont "
            f"suivi son échéance, soit au plus tard le {french_date(window_end)}",
        ]
        grounds = f"non renouvelée dans les deux ans suivant son échéance du {french_date(term)}"
    delay = cemetery_settings().reprise_removal_delay_days
    published_on = _as_date(
        params.get("published_on"), "la date de publication et de notification", document
    )
    articles = [
        f"La concession n° {concession.number}, située {where}, accordée le {facts['act_date']}"
        + (f" à {', '.join(holders)}" if holders else "")
        + f", {grounds}, est reprise par la commune.",
        "Le présent arrêté est publié par affichage à la porte de la mairie et à celle du "
        "cimetière, et notifié aux descendants ou successeurs du concessionnaire s'ils sont "
        f"connus, le {french_date(published_on)}. Il est exécutoire à compter de sa publication "
        f"et de sa notification (article R2223-19 du {CGCT}).",
        f"À l'expiration d'un délai de {delay} jours à compter de la publication et de la "
        "notification du présent arrêté, soit à partir du "
        f"{french_date(rules.removal_earliest(published_on))}, la commune fera enlever les "
        "monuments et emblèmes funéraires restés sur la concession (article R2223-20 du "
        f"{CGCT}).",
        "Les restes mortels qui s'y trouvent seront exhumés, réunis dans un cercueil de "
        "dimensions appropriées et déposés à l'ossuaire, ou crématisés en l'absence d'opposition "
        "connue ou attestée du défunt ; les restes des personnes ayant manifesté leur opposition "
        "à la crémation seront déposés à l'ossuaire, à part. Leurs noms seront inscrits au "
        "registre de l'ossuaire, tenu à la disposition du public (articles L2223-4 et R2223-6 "
        f"du {CGCT}).",
        "L'emplacement libéré pourra faire l'objet d'une nouvelle concession.",
    ]
    name, title = fmt.signatory(params, document)
    return {
        "title": "Arrêté de reprise de concession",
        "authority": fmt.authority(tenant),
        "order_number": str(params.get("reference") or ""),
        "order_subject": subject,
        "visas": visas,
        "articles": articles,
        "location": location,
        "concession": facts,
        "holders": holders,
        "signatory_name": name,
        "signatory_title": title,
        "place": tenant.city,
        "appeal_routes": DECISION_APPEAL_ROUTES,
    }
