"""The cemetery documents (issue 9): contexts of the six kinds C2's procedures request.

Kinds (templates ``documents/templates/cemeteries/<kind>.html``):
``concession_title`` (titre de concession), ``burial_authorisation`` (autorisation d'inhumer),
``exhumation_authorisation`` (autorisation d'exhumer), ``renewal_information`` (information sur le
droit au renouvellement), ``abandonment_report`` (procès-verbal de constat d'abandon) and
``reprise_order`` (arrêté de reprise) — the last two in ``documents._cemeteries_abandon``.

Where the facts come from (the registry, written by the procedures' projector in the transaction
that requested the document):
- the titre: the concession whose ``case_id`` is the case (the new row of a renewal or conversion,
  the old one reached by ``previous_id``);
- the authorisations: the case's funeral operation (``funeral_operation.case_id``), its deceased and
  place; what only the request knows is in the operation's ``details``: ``pieces`` (list of
  attached pieces), ``requester`` ({name, capacity, relationship, address}), ``operator``
  ({name, habilitation}), ``derogation`` ({until, kind, reference}), ``start_event_on``,
  ``destination`` (text), ``attendant`` ({name, capacity});
- the renewal information: the concession named by the params or the case payload
  (``concession_id`` or ``concession_number``), else the one linked to the case.
Anything a document must state and the registry lacks raises ``MissingCemeteryData``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from datetime import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from documents import _cemeteries_common as fmt
from documents._cemeteries_abandon import abandonment_report_context, reprise_order_context
from documents._cemeteries_common import APPEAL_ROUTES as DECISION_APPEAL_ROUTES
from documents._cemeteries_operations import (
    burial_authorisation_context,
    exhumation_authorisation_context,
)
from documents.french import ContextBuilder, french_date, submitter_name
from documents.french import calendar_of as _calendar
from workflows.cases.models import Case
from workflows.engine.definitions import Definition
from workflows.procedures.cemeteries import rules, tariffs
from workflows.procedures.cemeteries.models import (
    CemeteryTariff,
    Concession,
)

CGCT = fmt.CGCT


async def _tariff(
    session: AsyncSession, concession: Concession, place_type: str, on: date
) -> CemeteryTariff | None:
    """The tariff line the registry applies to this concession on ``on`` (C1's lookup: category,
    duration, place type, area band)."""
    return await tariffs.find_tariff_on(
        session,
        concession.tenant_id,
        concession.category,
        concession.duration_kind,
        place_type,
        concession.area_m2,
        on,
        duration_years=concession.duration_years,
    )


def _beneficiaries(category: str, named: Sequence[str], document: str) -> str:
    if category == "family":
        family = (
            "la famille du concessionnaire (conjoint, ascendants, descendants et leurs conjoints)"
        )
        return f"{family}, ainsi que : {', '.join(named)}" if named else family
    if category == "collective":
        fmt.require(named or None, "la liste des personnes nommées dans l'acte", document)
        return ", ".join(named)
    return ", ".join(named) if named else "le concessionnaire lui-même"


# ----- titre de concession ------------------------------------------------------------------------


async def concession_title_context(
    session: AsyncSession, case: Case, definition: Definition, params: dict[str, Any], now: dt
) -> dict[str, Any]:
    """Titre de concession (L2223-13 to L2223-16 CGCT; mentions from practice, cemeteries.md §6):
    order number, location and plan, category and beneficiaries, duration and dates, area, grave
    type, places, price paid and receipt, cemetery rules, signatory. Renewals and conversions get
    their own titre, citing the previous one."""
    document = "le titre de concession"
    tenant = await fmt.load_tenant(session, case)
    concession = await fmt.case_concession(session, case, params, document, own=True)
    rows = await fmt.load_place(session, case.tenant_id, concession.place_id)
    location = fmt.location(rows, plan_required=True, document=document)
    holders = [fmt.person_name(p) for p in await fmt.parties(session, concession)]
    fmt.require(holders or None, "le nom du concessionnaire", document)
    named = [
        fmt.person_name(p) + (f" ({p.relationship})" if p.relationship else "")
        for p in await fmt.parties(session, concession, ("beneficiary",))
    ]
    price: Decimal = fmt.require(concession.price, "le prix payé", document)
    payment_ref = fmt.require(
        concession.payment_ref, "la référence du titre de recette ou de la quittance", document
    )
    area = fmt.require(concession.area_m2 or rows.place.area_m2, "la superficie concédée", document)
    capacity = fmt.require(rows.place.capacity, "le nombre de places", document)
    facts = {
        **fmt.concession_facts(concession),
        "area": fmt.area(area),
        "capacity": fmt.number(capacity),
        "price": fmt.money(price),
        "payment_ref": payment_ref
        + (f" du {french_date(concession.paid_on)}" if concession.paid_on else ""),
    }
    previous = (
        await session.get(Concession, concession.previous_id) if concession.previous_id else None
    )
    articles = "L2223-13 à L2223-15"
    subject = "Attribution d'une concession funéraire"
    deduction: dict[str, str] | None = None
    if previous is not None and previous.status == "convertie":
        articles = "L2223-13 à L2223-16"
        subject = (
            f"Conversion de la concession n° {previous.number} "
            f"({fmt.duration(previous.duration_kind, previous.duration_years)}) en concession "
            f"{fmt.duration(concession.duration_kind, concession.duration_years)}"
        )
        if previous.price is not None and previous.ends_on is not None:
            fraction = rules.time_left_fraction(
                previous.starts_on, previous.ends_on, concession.starts_on
            )
            credit = (previous.price * fraction).quantize(Decimal("0.01"), ROUND_HALF_UP)
            deduction = {
                "tariff": fmt.money(price + credit),
                "value": fmt.money(credit),
                "remaining": f"{fmt.number(fraction * 100)} % de {fmt.money(previous.price)}",
            }
    elif previous is not None:
        subject = (
            f"Renouvellement de la concession n° {previous.number}, à compter de son échéance "
            f"du {fmt.date_or(previous.ends_on, '—')}"
        )
    tariff_on = (
        previous.ends_on if previous is not None and previous.status != "convertie" else None
    )
    tariff = await _tariff(
        session, concession, rows.place.place_type, tariff_on or concession.starts_on
    )
    visas = [
        f"Vu le {CGCT}, notamment ses articles L2122-22 8° et {articles}",
        "Vu la délibération du conseil municipal fixant les tarifs des concessions"
        + (f" ({tariff.deliberation_ref})" if tariff and tariff.deliberation_ref else ""),
        f"Vu le règlement du cimetière ({fmt.rules_reference(params)})",
        f"Vu la demande présentée par {submitter_name(case.submitter)} le "
        f"{french_date(_calendar(case).local_date(case.received_at))} (dossier n° {case.reference})",
        f"Vu le paiement de la somme de {facts['price']} (titre de recette ou quittance "
        f"n° {facts['payment_ref']})",
    ]
    period = (
        f"à perpétuité, à compter du {facts['starts_on']}"
        if concession.ends_on is None
        else f"pour une durée de {concession.duration_years} ans, du {facts['starts_on']} au "
        f"{facts['ends_on']}"
    )
    name, title = fmt.signatory(params, document)
    return {
        "title": "Titre de concession funéraire",
        "authority": fmt.authority(tenant),
        "act_subject": subject,
        "visas": visas,
        "grant_sentence": (
            f"Il est accordé à {', '.join(holders)} une concession {facts['category']} "
            f"{facts['duration']} n° {concession.number} au {location['cemetery']}, emplacement "
            f"n° {location['number']}, {period}."
        ),
        "concession": facts,
        "location": location,
        "holders": holders,
        "beneficiaries_text": _beneficiaries(concession.category, named, document),
        "previous": ({**fmt.concession_facts(previous)} if previous is not None else None),
        "conversion_deduction": deduction,
        "rules_reference": fmt.rules_reference(params),
        "renewable": concession.ends_on is not None,
        "signatory_name": name,
        "signatory_title": title,
        "place": tenant.city,
        "appeal_routes": DECISION_APPEAL_ROUTES,
    }


# ----- information sur le droit au renouvellement ----------------------------------------------------


async def renewal_information_context(
    session: AsyncSession, case: Case, definition: Definition, params: dict[str, Any], now: dt
) -> dict[str, Any]:
    """L2223-15 CGCT as amended by loi 3DS: the holders (or ayants cause) are told of their right
    to renew: the term date, the last day of the 2-year window, the price (tariff in force on the
    term date, CE 21 May 2007 n°281615) and how to renew."""
    document = "l'information sur le droit au renouvellement"
    concession = await fmt.case_concession(session, case, params, document, own=False)
    term: date = fmt.require(
        concession.ends_on,
        "la date d'échéance (une concession perpétuelle ne s'échoit pas)",
        document,
    )
    rows = await fmt.load_place(session, case.tenant_id, concession.place_id)
    holders = await fmt.parties(session, concession)
    heirs = await fmt.parties(session, concession, ("ayant_droit",))
    recipients = holders or heirs
    fmt.require(recipients or None, "le nom d'un concessionnaire ou d'un ayant droit", document)
    recipient = recipients[0]
    tariff = await _tariff(session, concession, rows.place.place_type, term)
    if tariff is None:
        raise fmt.MissingCemeteryData(
            f"{document[:1].upper()}{document[1:]} ne peut pas être établie : aucun tarif voté "
            f"pour une concession {fmt.category(concession.category)} "
            f"{fmt.duration(concession.duration_kind, concession.duration_years)} n'est en "
            f"vigueur le {french_date(term)} (date d'échéance)."
        )
    today = _calendar(case).local_date(now)
    voted = f"Tarif voté par le conseil municipal{f' ({tariff.deliberation_ref})' if tariff.deliberation_ref else ''}"
    note = (
        f"{voted}, en vigueur à la date d'échéance."
        if term <= today
        else f"{voted}, applicable à ce jour à la date d'échéance ; s'il est modifié d'ici là, "
        f"le prix dû sera celui en vigueur le {french_date(term)}."
    )
    name, title = fmt.signatory(params, document)
    term_text = french_date(term)
    return {
        "title": "Information sur le droit au renouvellement",
        "recipient": {
            "name": fmt.person_name(recipient),
            "address": fmt.party_address(recipient),
            "capacity": "concessionnaire" if holders else "ayant droit",
        },
        "salutation": "Madame, Monsieur",
        "concession": fmt.concession_facts(concession),
        "location": fmt.location(rows),
        "holders": [fmt.person_name(p) for p in holders],
        "term_date": term_text,
        "term_sentence": (
            f"Votre concession est arrivée à échéance le {term_text}."
            if term <= today
            else f"Votre concession arrivera à échéance le {term_text}."
        ),
        "window_end": french_date(rules.renewal_window_end(term)),
        "tariff": {
            "duration": fmt.duration(concession.duration_kind, concession.duration_years),
            "price": fmt.money(tariff.price),
            "note": note,
        },
        "signatory_name": name,
        "signatory_title": title,
    }


CEMETERY_CONTEXTS: dict[str, ContextBuilder] = {
    "concession_title": concession_title_context,
    "burial_authorisation": burial_authorisation_context,
    "exhumation_authorisation": exhumation_authorisation_context,
    "renewal_information": renewal_information_context,
    "abandonment_report": abandonment_report_context,
    "reprise_order": reprise_order_context,
}
"""Registered in ``documents.contexts.CONTEXTS``."""
