"""Projector handlers of the concession procedures (attribution, renewal, conversion) and of the
ex officio reprise and abandon procedures."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.errors import Conflict
from workflows.cases.models import Case
from workflows.procedures.cemeteries import registry, rules, tariffs
from workflows.procedures.cemeteries._projector_common import (
    Handler,
    day,
    invalid,
    last_input,
    not_in_future,
    received_on,
    today,
    uid,
)
from workflows.procedures.cemeteries._registry_schemas import ConcessionIn, PartyIn
from workflows.procedures.cemeteries.models import (
    Concession,
    ConcessionStatus,
    Deceased,
    PartyRole,
    PlaceStatus,
)
from workflows.procedures.cemeteries.settings import cemetery_settings

# ----- attribution --------------------------------------------------------------------------------


async def _attribution_price(
    session: AsyncSession, case: Case, choice: Mapping[str, Any]
) -> Decimal:
    p = case.payload
    place = await registry.get_place(session, case.tenant_id, uid(choice["place_id"]))
    area = Decimal(str(p["area_m2"])) if p.get("area_m2") else place.area_m2
    starts_on = day(choice["starts_on"]) if choice.get("starts_on") else received_on(case)
    tariff = await tariffs.tariff_on(
        session,
        case.tenant_id,
        p["category"],
        p["duration_kind"],
        place.place_type,
        area,
        starts_on,
        duration_years=p.get("duration_years"),
    )
    return Decimal(tariff.price)


async def choose_place(session: AsyncSession, case: Case, data: Mapping[str, Any]) -> None:
    """CE 1925 Valès: the maire chooses the place; it must be the tenant's, free, and priced."""
    place = await registry.get_place(session, case.tenant_id, uid(data["place_id"]))
    if place.status != PlaceStatus.LIBRE or await registry.holding_concession(session, place.id):
        raise Conflict(f"L'emplacement n° {place.number} n'est pas libre : choisissez-en un autre.")
    await _attribution_price(session, case, data)


async def _check_amount(expected: Decimal, data: Mapping[str, Any]) -> None:
    paid = Decimal(str(data["amount"]))
    if paid != expected:
        raise invalid(
            "amount",
            f"Le montant payé ({paid} €) ne correspond pas au prix calculé ({expected} €).",
        )


async def attribution_payment(session: AsyncSession, case: Case, data: Mapping[str, Any]) -> None:
    choice = await last_input(session, case.id, "change_place") or await last_input(
        session, case.id, "choose_place"
    )
    await _check_amount(await _attribution_price(session, case, choice), data)


def _parties(case: Case) -> list[PartyIn]:
    p, s = case.payload, case.submitter
    holder = p.get("holder") or {
        "family_name": s.get("family_name") or s.get("organisation_name") or "",
        "given_names": s.get("given_name") or "-",
        "email": s.get("email"),
        "phone": s.get("phone"),
        "address": s.get("postal_address"),
    }
    parties = [PartyIn(role=PartyRole.HOLDER, **{k: v for k, v in holder.items() if v})]
    for b in p.get("beneficiaries") or []:
        parties.append(
            PartyIn(
                role=PartyRole.BENEFICIARY,
                family_name=b["family_name"],
                given_names=b["given_names"],
                relationship=b.get("relationship"),
            )
        )
    return parties


async def sign_attribution(session: AsyncSession, case: Case, data: Mapping[str, Any]) -> None:
    choice = await last_input(session, case.id, "change_place") or await last_input(
        session, case.id, "choose_place"
    )
    payment = await last_input(session, case.id, "record_payment")
    p = case.payload
    price = await _attribution_price(session, case, choice)
    signed_on = today(case)
    await registry.attribute_concession(
        session,
        case.tenant_id,
        ConcessionIn(
            place_id=uid(choice["place_id"]),
            category=p["category"],
            duration_kind=p["duration_kind"],
            duration_years=p.get("duration_years"),
            granted_on=signed_on,
            starts_on=day(choice["starts_on"]) if choice.get("starts_on") else signed_on,
            price=price,
            payment_ref=payment.get("payment_ref"),
            paid_on=day(payment["paid_on"]) if payment.get("paid_on") else signed_on,
            area_m2=Decimal(str(p["area_m2"])) if p.get("area_m2") else None,
            parties=_parties(case),
        ),
        now=case.updated_at,
        case_id=case.id,
    )


# ----- renewal and conversion -------------------------------------------------------------------


def _new_years(p: Mapping[str, Any]) -> int | None:
    kind = p["duration_kind"]
    if kind == "perpetual":
        return None
    return int(p["duration_years"]) if kind == "temporary" else int(kind)


async def _concession(session: AsyncSession, case: Case) -> Concession:
    return await registry.get_concession(
        session, case.tenant_id, uid(case.payload["concession_id"])
    )


async def concession_exists(session: AsyncSession, case: Case) -> None:
    await _concession(session, case)


async def _renewal(session: AsyncSession, case: Case) -> tuple[Concession, Decimal]:
    c = await _concession(session, case)
    verdict = rules.check_renewal(
        term_on=c.ends_on,
        current_years=c.duration_years,
        new_years=_new_years(case.payload),
        asked_on=received_on(case),
    )
    verdict.require("concession_id")
    place = await registry.get_place(session, case.tenant_id, c.place_id)
    tariff = await tariffs.tariff_on(
        session,
        case.tenant_id,
        c.category,
        case.payload["duration_kind"],
        place.place_type,
        c.area_m2,
        day(verdict.details["tariff_on"]),  # the tariff in force on the term date (CE 2007)
        duration_years=case.payload.get("duration_years"),
    )
    return c, Decimal(tariff.price)


async def accept_renewal(session: AsyncSession, case: Case, data: Mapping[str, Any]) -> None:
    await _renewal(session, case)


async def renewal_payment(session: AsyncSession, case: Case, data: Mapping[str, Any]) -> None:
    await _check_amount((await _renewal(session, case))[1], data)


async def sign_renewal(session: AsyncSession, case: Case, data: Mapping[str, Any]) -> None:
    c, price = await _renewal(session, case)
    payment = await last_input(session, case.id, "record_payment")
    await registry.renew_concession(
        session,
        case.tenant_id,
        c.id,
        duration_kind=case.payload["duration_kind"],
        duration_years=case.payload.get("duration_years"),
        price=price,
        payment_ref=payment.get("payment_ref"),
        paid_on=day(payment["paid_on"]) if payment.get("paid_on") else today(case),
        granted_on=today(case),
        now=case.updated_at,
        case_id=case.id,
    )


async def _conversion(session: AsyncSession, case: Case) -> tuple[Concession, Decimal]:
    """L2223-16: valued on the day the request was received, which the new period starts from."""
    c = await _concession(session, case)
    on = received_on(case)
    place = await registry.get_place(session, case.tenant_id, c.place_id)
    new_tariff = await tariffs.tariff_on(
        session,
        case.tenant_id,
        c.category,
        case.payload["duration_kind"],
        place.place_type,
        c.area_m2,
        on,
        duration_years=case.payload.get("duration_years"),
    )
    verdict = rules.check_conversion(
        starts_on=c.starts_on,
        ends_on=c.ends_on,
        current_years=c.duration_years,
        new_years=_new_years(case.payload),
        old_price=Decimal(c.price or 0),
        new_price=Decimal(new_tariff.price),
        on=on,
    )
    verdict.require("duration_kind")
    return c, Decimal(verdict.details["price"])


async def accept_conversion(session: AsyncSession, case: Case, data: Mapping[str, Any]) -> None:
    await _conversion(session, case)


async def conversion_payment(session: AsyncSession, case: Case, data: Mapping[str, Any]) -> None:
    await _check_amount((await _conversion(session, case))[1], data)


async def sign_conversion(session: AsyncSession, case: Case, data: Mapping[str, Any]) -> None:
    c, price = await _conversion(session, case)
    payment = await last_input(session, case.id, "record_payment")
    await registry.convert_concession(
        session,
        case.tenant_id,
        c.id,
        duration_kind=case.payload["duration_kind"],
        duration_years=case.payload.get("duration_years"),
        on_date=received_on(case),
        price=price,
        payment_ref=payment.get("payment_ref"),
        paid_on=day(payment["paid_on"]) if payment.get("paid_on") else today(case),
        now=case.updated_at,
        case_id=case.id,
    )


# ----- reprise of a concession not renewed ----------------------------------------------------


async def reprise_opened(session: AsyncSession, case: Case) -> None:
    c = await _concession(session, case)
    if c.ends_on is None or c.ends_on > received_on(case):
        raise Conflict(
            f"La concession n° {c.number} n'est pas échue : il n'y a pas de reprise à engager."
        )
    if c.status not in {ConcessionStatus.ATTRIBUEE, ConcessionStatus.ECHUE}:
        raise Conflict(f"La concession n° {c.number} n'est plus en cours ({c.status}).")


async def renewal_information_sent(
    session: AsyncSession, case: Case, data: Mapping[str, Any]
) -> None:
    await registry.record_renewal_info_sent(
        session, case.tenant_id, uid(case.payload["concession_id"]), at=case.updated_at
    )


async def order_reprise_after_term(
    session: AsyncSession, case: Case, data: Mapping[str, Any]
) -> None:
    c = await _concession(session, case)
    published_on = day(data["published_on"])
    not_in_future(published_on, today(case), "published_on")
    sent = registry.local_date(c.renewal_info_sent_at) if c.renewal_info_sent_at else None
    rules.check_reprise_after_term(
        term_on=c.ends_on,
        renewal_info_sent_on=sent,
        on=published_on,
        renewed=c.status in {ConcessionStatus.RENOUVELEE, ConcessionStatus.CONVERTIE},
    ).require("published_on")
    if c.status == ConcessionStatus.ATTRIBUEE:
        await registry.set_concession_status(
            session, case.tenant_id, c.id, ConcessionStatus.ECHUE, now=case.updated_at
        )
    await registry.set_concession_status(
        session, case.tenant_id, c.id, ConcessionStatus.REPRISE_DELIBEREE, now=case.updated_at
    )


async def execute(session: AsyncSession, case: Case, data: Mapping[str, Any]) -> None:
    """R2223-19, R2223-20: after the removal delay, remains to the ossuary, place free."""
    order = await last_input(session, case.id, "order_reprise")
    executed_on = day(data["executed_on"])
    not_in_future(executed_on, today(case), "executed_on")
    rules.check_removal(order_published_on=day(order["published_on"]), on=executed_on).require(
        "executed_on"
    )
    await registry.execute_reprise(
        session,
        case.tenant_id,
        uid(case.payload["concession_id"]),
        on=executed_on,
        now=case.updated_at,
        case_id=case.id,
    )


# ----- abandon --------------------------------------------------------------------------------


async def abandon_opened(session: AsyncSession, case: Case) -> None:
    """L2223-17, R2223-12: ≥ 30 years, last burial ≥ 10 years ago, not kept up by the commune."""
    c = await _concession(session, case)
    if c.status != ConcessionStatus.ATTRIBUEE:
        raise Conflict(
            f"La concession n° {c.number} n'est pas en cours ({c.status}) : pas de procédure "
            "d'abandon possible."
        )
    last_burial = await session.scalar(
        select(func.max(Deceased.inhumed_on)).where(Deceased.place_id == c.place_id)
    )
    rules.check_abandon_eligibility(
        concession_starts_on=c.starts_on,
        last_burial_on=last_burial,
        commune_upkeep=c.commune_upkeep,
        on=received_on(case),
    ).require("concession_id")


async def schedule_finding(session: AsyncSession, case: Case, data: Mapping[str, Any]) -> None:
    not_in_future(day(data["notice_sent_on"]), today(case), "notice_sent_on")
    rules.check_abandon_notice(
        notice_sent_on=day(data["notice_sent_on"]), finding_on=day(data["finding_on"])
    ).require("finding_on")


async def first_pv(session: AsyncSession, case: Case, data: Mapping[str, Any]) -> None:
    notice = await last_input(session, case.id, "schedule_finding")
    finding_on = day(data["finding_on"])
    not_in_future(finding_on, today(case), "finding_on")
    rules.check_abandon_notice(
        notice_sent_on=day(notice["notice_sent_on"]), finding_on=finding_on
    ).require("finding_on")
    await registry.set_concession_status(
        session,
        case.tenant_id,
        uid(case.payload["concession_id"]),
        ConcessionStatus.EN_PROCEDURE_ABANDON,
        now=case.updated_at,
    )


async def pre_3ds_rule(session: AsyncSession, case: Case, data: Mapping[str, Any]) -> None:
    first = day((await last_input(session, case.id, "record_first_pv"))["finding_on"])
    if rules.abandon_wait_years(first) == cemetery_settings().abandon_wait_years:
        raise invalid(
            "transition",
            f"Le 1er procès-verbal (du {first:%d/%m/%Y}) relève de la loi 3DS : le délai est d'un "
            "an (article L2223-17 du CGCT).",
        )


async def second_pv(session: AsyncSession, case: Case, data: Mapping[str, Any]) -> None:
    first = day((await last_input(session, case.id, "record_first_pv"))["finding_on"])
    second = day(data["finding_on"])
    not_in_future(second, today(case), "finding_on")
    rules.check_second_finding(first_pv_on=first, second_pv_on=second).require("finding_on")


async def deliberation(session: AsyncSession, case: Case, data: Mapping[str, Any]) -> None:
    second = await last_input(session, case.id, "record_second_pv")
    notified = day(second.get("notified_on") or second["finding_on"])
    deliberated = day(data["deliberation_on"])
    not_in_future(deliberated, today(case), "deliberation_on")
    rules.check_council_referral(
        second_pv_notified_on=notified, deliberation_on=deliberated
    ).require("deliberation_on")
    await registry.set_concession_status(
        session,
        case.tenant_id,
        uid(case.payload["concession_id"]),
        ConcessionStatus.REPRISE_DELIBEREE,
        now=case.updated_at,
    )


async def order_after_deliberation(
    session: AsyncSession, case: Case, data: Mapping[str, Any]
) -> None:
    deliberated = day(
        (await last_input(session, case.id, "record_deliberation"))["deliberation_on"]
    )
    published_on = day(data["published_on"])
    not_in_future(published_on, today(case), "published_on")
    if published_on < deliberated:
        raise invalid(
            "published_on", "L'arrêté de reprise suit la délibération du conseil municipal."
        )


async def end_abandon(session: AsyncSession, case: Case, data: Mapping[str, Any]) -> None:
    """The grave restored (or the procedure dropped): the concession runs on as before."""
    c = await _concession(session, case)
    if c.status == ConcessionStatus.EN_PROCEDURE_ABANDON:
        await registry.set_concession_status(
            session, case.tenant_id, c.id, ConcessionStatus.ATTRIBUEE, now=case.updated_at
        )


HANDLERS: dict[tuple[str, str], Handler] = {
    ("cemeteries.concession", "choose_place"): choose_place,
    ("cemeteries.concession", "change_place"): choose_place,
    ("cemeteries.concession", "record_payment"): attribution_payment,
    ("cemeteries.concession", "sign_title"): sign_attribution,
    ("cemeteries.renewal", "accept"): accept_renewal,
    ("cemeteries.renewal", "record_payment"): renewal_payment,
    ("cemeteries.renewal", "sign_title"): sign_renewal,
    ("cemeteries.conversion", "accept"): accept_conversion,
    ("cemeteries.conversion", "record_payment"): conversion_payment,
    ("cemeteries.conversion", "sign_title"): sign_conversion,
    ("cemeteries.reprise", "send_renewal_information"): renewal_information_sent,
    ("cemeteries.reprise", "order_reprise"): order_reprise_after_term,
    ("cemeteries.reprise", "execute_reprise"): execute,
    ("cemeteries.abandon", "schedule_finding"): schedule_finding,
    ("cemeteries.abandon", "record_first_pv"): first_pv,
    ("cemeteries.abandon", "apply_pre_3ds_rule"): pre_3ds_rule,
    ("cemeteries.abandon", "record_second_pv"): second_pv,
    ("cemeteries.abandon", "record_deliberation"): deliberation,
    ("cemeteries.abandon", "order_reprise"): order_after_deliberation,
    ("cemeteries.abandon", "execute_reprise"): execute,
    ("cemeteries.abandon", "restore"): end_abandon,
    ("cemeteries.abandon", "cancel"): end_abandon,
}
