"""The six cemetery documents, rendered by the real outbox job into a real PDF/A and read back.

Each test opens a case of the real cemetery procedure through ``channels.intake.submit`` (its
payload validated by the procedure's schema), writes the registry rows with the registry service,
queues the ``document.render`` row the procedure's transition would queue (the transition's data
plus the action's params and who asked), performs it with the worker's handlers, and checks the
mentions in the text extracted from the stored PDF — each with its article. The clock stands on
Monday 2 March 2026, 10:00 in Paris.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.intake import IntakeRequest, submit
from documents.jobs import JobDeps
from documents.storage import FileStorage
from identity import service as ids
from services.kernel.actor import Actor
from services.kernel.clock import FrozenClock
from services.kernel.ids import new_id
from tests.conftest import Seed
from tests.support import rendering
from tests.support.cemeteries import (
    add_cemetery_service,
    grant,
    holder,
    make_cemetery,
    make_place,
)
from tests.support.rendering import Doc
from workflows.cases.models import CaseEvent
from workflows.engine.runner import Engine
from workflows.procedures.cemeteries import registry
from workflows.procedures.cemeteries._procedure_service import open_ex_officio
from workflows.procedures.cemeteries.definitions import EX_OFFICIO_KEYS
from workflows.procedures.cemeteries.models import (
    CemeteryTariff,
    ConcessionCategory,
    DurationKind,
    OperationKind,
    PartyRole,
    PlaceType,
)

pytestmark = pytest.mark.integration

SM = async_sessionmaker[AsyncSession]
SIGNED_BY = {"name": "Agent instr", "title": "Instructeur"}
SUBMITTER = {
    "given_name": "Marie",
    "family_name": "Durand",
    "email": "marie.durand@example.org",
    "postal_address": "3 rue des Lilas, 69001 A",
}


@dataclass
class Places:
    cemetery_id: uuid.UUID
    caveaux: list[uuid.UUID]
    garden_id: uuid.UUID


@pytest.fixture
def deps(engine: Engine, tmp_path: Path, clock: FrozenClock) -> JobDeps:
    return JobDeps(engine=engine, storage=FileStorage(tmp_path / "documents"), clock=clock)


@pytest.fixture
async def agent(sessionmaker: SM, seed: Seed, clock: FrozenClock) -> Actor:
    async with sessionmaker() as s:
        return await ids.authenticate(s, seed.instructor_token, now=clock.now())


@pytest.fixture
async def places(sessionmaker: SM, seed: Seed, clock: FrozenClock) -> Places:
    """Cimetière du Nord: caveaux A/1/1 to A/1/3 (2 places, 2.5 m², plan refs), a dispersion
    garden; the commune's cemetery service."""
    await add_cemetery_service(sessionmaker, "69001")
    async with sessionmaker() as s, s.begin():
        cem = await make_cemetery(s, seed.commune_id, now=clock.now())
        caveaux = [
            (
                await make_place(
                    s, seed.commune_id, cem.id, now=clock.now(), number=n, plan_ref=f"A-1-{n}"
                )
            ).id
            for n in ("1", "2", "3")
        ]
        garden = await make_place(
            s,
            seed.commune_id,
            cem.id,
            now=clock.now(),
            zone="JS",
            alley="1",
            number="JARDIN",
            place_type=PlaceType.TERRAIN_COMMUN,
            capacity=None,
            area_m2=None,
        )
        return Places(cem.id, caveaux, garden.id)


async def tariff(
    sm: SM,
    tenant_id: uuid.UUID,
    clock: FrozenClock,
    kind: str,
    price: str,
    valid: tuple[date, date | None],
    ref: str,
) -> None:
    async with sm() as s, s.begin():
        s.add(
            CemeteryTariff(
                tenant_id=tenant_id,
                category="family",
                duration_kind=kind,
                duration_years=None,
                price=Decimal(price),
                valid_from=valid[0],
                valid_to=valid[1],
                deliberation_ref=ref,
                created_at=clock.now(),
            )
        )


async def open_case(
    sm: SM,
    engine: Engine,
    clock: FrozenClock,
    actor: Actor,
    procedure: str,
    payload: dict[str, Any],
) -> uuid.UUID:
    if procedure in EX_OFFICIO_KEYS:
        async with sm() as s, s.begin():
            case = await open_ex_officio(
                s,
                engine,
                clock,
                tenant_id=next(iter(actor.roles)),
                procedure_key=procedure,
                payload=payload,
                actor=actor,
            )
            return case.id
    async with sm() as s, s.begin():
        result = await submit(
            s,
            engine,
            clock,
            IntakeRequest(
                tenant="69001",
                procedure_key=procedure,
                channel="counter",
                submitter=SUBMITTER,
                payload=payload,
                actor=actor,
            ),
        )
        return result.case_id


async def render(
    sm: SM, deps: JobDeps, clock: FrozenClock, case_id: uuid.UUID, kind: str, **params: Any
) -> Doc:
    return await rendering.render(sm, deps, clock, case_id, kind, params, requested_by=SIGNED_BY)


async def fails(
    sm: SM, deps: JobDeps, clock: FrozenClock, case_id: uuid.UUID, kind: str, **params: Any
) -> str:
    return await rendering.fails(sm, deps, clock, case_id, kind, params, requested_by=SIGNED_BY)


REQUESTER = {"capacity": "concessionnaire"}


# ----- titre de concession ----------------------------------------------------------------------


async def test_concession_title_states_every_mention_of_the_act(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    agent: Actor,
    deps: JobDeps,
    seed: Seed,
    places: Places,
) -> None:
    """Titre de concession (L2223-13, L2223-14 CGCT; content from practice, cemeteries.md §6):
    order number; cemetery, carré, allée, number, plan; category and beneficiaries; duration,
    start and end; area; grave type; places; price and receipt; rules; signatory."""
    case_id = await open_case(
        sessionmaker,
        engine,
        clock,
        agent,
        "cemeteries.concession",
        {"requester": REQUESTER, "category": "family", "duration_kind": "30"},
    )
    async with sessionmaker() as s, s.begin():
        concession = await registry.attribute_concession(
            s,
            seed.commune_id,
            registry.ConcessionIn(
                place_id=places.caveaux[0],
                category=ConcessionCategory.FAMILY,
                duration_kind=DurationKind.THIRTY,
                granted_on=date(2026, 3, 2),
                price=Decimal("1200.00"),
                payment_ref="Q-2026-0042",
                paid_on=date(2026, 3, 2),
                parties=[
                    holder(family_name="Martin", given_names="Jeanne", civility="Mme"),
                    registry.PartyIn(
                        role=PartyRole.BENEFICIARY,
                        family_name="Martin",
                        given_names="Paul",
                        relationship="neveu",
                    ),
                ],
            ),
            now=clock.now(),
            case_id=case_id,
        )
        number = concession.number

    doc = await render(sessionmaker, deps, clock, case_id, "concession_title")

    t = doc.text
    assert doc.document.title == "Titre de concession funéraire"
    assert f"TITRE DE CONCESSION FUNÉRAIRE N° {number}" in t
    assert "LE MAIRE D'A" in t  # French elision before a vowel
    assert "Attribution d'une concession funéraire" in t
    assert "notamment ses articles L2122-22 8° et L2223-13 à L2223-15" in t
    assert f"Numéro d'ordre : {number}" in t
    assert "Cimetière : Cimetière du Nord" in t
    assert "Zone ou carré : A" in t
    assert "Allée : 1" in t
    assert "Emplacement n° : 1" in t
    assert "Référence au plan : A-1-1" in t
    assert "Type de sépulture : caveau" in t
    assert "Superficie concédée : 2,5 m²" in t
    assert "Nombre de places : 2" in t
    assert "Catégorie : concession familiale" in t
    assert "Concessionnaire : Mme Jeanne MARTIN" in t
    assert (
        "Bénéficiaires : la famille du concessionnaire (conjoint, ascendants, descendants et "
        "leurs conjoints), ainsi que : Paul MARTIN (neveu)" in t
    )
    assert "Durée : trentenaire (30 ans)" in t
    assert "Date de début : 2 mars 2026" in t
    assert "Date d'échéance : 2 mars 2056" in t
    assert "pour une durée de 30 ans, du 2 mars 2026 au 2 mars 2056" in t
    assert "Prix payé : 1 200,00 €" in t
    assert "Titre de recette ou quittance : n° Q-2026-0042 du 2 mars 2026" in t
    assert "règlement du cimetière (règlement municipal des cimetières en vigueur)" in t
    assert "dans les deux années qui suivent" in t and "(article L2223-15" in t
    assert "Fait à A, le 2 mars 2026" in t
    assert "Pour le Maire et par délégation, Instructeur Agent instr" in t


async def test_renewal_title_starts_at_the_old_term_and_cites_the_tariff_of_that_date(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    agent: Actor,
    deps: JobDeps,
    seed: Seed,
    places: Places,
) -> None:
    """L2223-15 and CE 21 May 2007 n°281615: a 30-year concession that ended on 10 June 2025,
    renewed in March 2026, runs from 10 June 2025 to 10 June 2055, at the tariff in force on
    10 June 2025 (the 2019 deliberation), not today's; the renewal gets a new titre."""
    await tariff(
        sessionmaker,
        seed.commune_id,
        clock,
        "30",
        "800",
        (date(2020, 1, 1), date(2025, 12, 31)),
        "DCM 2019-45",
    )
    await tariff(
        sessionmaker, seed.commune_id, clock, "30", "1000", (date(2026, 1, 1), None), "DCM 2025-80"
    )
    async with sessionmaker() as s, s.begin():
        old = await grant(
            s,
            seed.commune_id,
            places.caveaux[1],
            now=clock.now(),
            granted_on=date(1995, 6, 10),
            price=Decimal("300"),
            payment_ref="R-1995",
        )
        old_id, old_number = old.id, old.number
    case_id = await open_case(
        sessionmaker,
        engine,
        clock,
        agent,
        "cemeteries.renewal",
        {"requester": REQUESTER, "concession_id": str(old_id), "duration_kind": "30"},
    )
    async with sessionmaker() as s, s.begin():
        new = await registry.renew_concession(
            s,
            seed.commune_id,
            old_id,
            duration_kind=DurationKind.THIRTY,
            price=Decimal("800.00"),
            payment_ref="Q-2026-0050",
            granted_on=date(2026, 3, 2),
            now=clock.now(),
            case_id=case_id,
        )
        number = new.number

    t = (await render(sessionmaker, deps, clock, case_id, "concession_title")).text

    assert f"TITRE DE CONCESSION FUNÉRAIRE N° {number}" in t
    assert (
        f"Renouvellement de la concession n° {old_number}, à compter de son échéance du 10 juin 2025"
        in t
    )
    assert "Date de début : 10 juin 2025" in t
    assert "Date d'échéance : 10 juin 2055" in t
    assert (
        f"Titre précédent : concession n° {old_number} (trentenaire (30 ans), du 10 juin 1995 au 10 juin 2025)"
        in t
    )
    assert "fixant les tarifs des concessions (DCM 2019-45)" in t
    assert "DCM 2025-80" not in t
    assert "Prix payé : 800,00 €" in t
    assert "Concessionnaire : Jeanne MARTIN" in t


async def test_conversion_title_shows_the_new_tariff_less_the_time_left(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    agent: Actor,
    deps: JobDeps,
    seed: Seed,
    places: Places,
) -> None:
    """L2223-16: 30 → 50 years on 2 March 2026 for a concession of 2 March 2014 paid 900 €:
    18 of 30 years left (60 %) = 540 € deducted from the 50-year tariff of 2 000 €: 1 460 €."""
    async with sessionmaker() as s, s.begin():
        old = await grant(
            s,
            seed.commune_id,
            places.caveaux[2],
            now=clock.now(),
            granted_on=date(2014, 3, 2),
            price=Decimal("900"),
            payment_ref="R-2014",
        )
        old_id, old_number = old.id, old.number
    case_id = await open_case(
        sessionmaker,
        engine,
        clock,
        agent,
        "cemeteries.conversion",
        {"requester": REQUESTER, "concession_id": str(old_id), "duration_kind": "50"},
    )
    async with sessionmaker() as s, s.begin():
        await registry.convert_concession(
            s,
            seed.commune_id,
            old_id,
            duration_kind=DurationKind.FIFTY,
            on_date=date(2026, 3, 2),
            price=Decimal("1460.00"),
            payment_ref="Q-2026-0051",
            now=clock.now(),
            case_id=case_id,
        )

    t = (await render(sessionmaker, deps, clock, case_id, "concession_title")).text

    assert (
        f"Conversion de la concession n° {old_number} (trentenaire (30 ans)) en concession cinquantenaire (50 ans)"
        in t
    )
    assert "notamment ses articles L2122-22 8° et L2223-13 à L2223-16" in t
    assert "Tarif de la nouvelle durée : 2 000,00 €" in t
    assert (
        "Déduction de la valeur de la période restant à courir (60 % de 900,00 €) : 540,00 €" in t
    )
    assert "Prix payé : 1 460,00 €" in t
    assert "Date de début : 2 mars 2026" in t
    assert "Date d'échéance : 2 mars 2076" in t


async def test_no_title_without_the_receipt_reference(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    agent: Actor,
    deps: JobDeps,
    seed: Seed,
    places: Places,
) -> None:
    """A titre states the price paid and its receipt: without them, no document with a hole —
    the job fails and agents read why, in French."""
    case_id = await open_case(
        sessionmaker,
        engine,
        clock,
        agent,
        "cemeteries.concession",
        {"requester": REQUESTER, "category": "family", "duration_kind": "30"},
    )
    async with sessionmaker() as s, s.begin():
        await registry.attribute_concession(
            s,
            seed.commune_id,
            registry.ConcessionIn(
                place_id=places.caveaux[0],
                category=ConcessionCategory.FAMILY,
                duration_kind=DurationKind.THIRTY,
                granted_on=date(2026, 3, 2),
                price=Decimal("1200.00"),
                parties=[holder()],
            ),
            now=clock.now(),
            case_id=case_id,
        )

    error = await fails(sessionmaker, deps, clock, case_id, "concession_title")

    assert "la référence du titre de recette ou de la quittance manque" in error


# ----- autorisation d'inhumer ---------------------------------------------------------------------


def burial_payload(concession_id: uuid.UUID, **deceased: Any) -> dict[str, Any]:
    return {
        "requester": {"capacity": "organisateur_obseques", "relationship": "child"},
        "deceased": {
            "title": "M.",
            "family_name": "Durand",
            "given_names": "Paul",
            "birth_date": "1940-05-01",
            "birth_place": "Lyon",
            "death_at": "2026-02-27T23:00:00+01:00",
            "death_place": "A",
            "last_domicile": "3 rue des Lilas, 69001 A",
            "container": "coffin",
            "coffin_closing_ref": "FC-2026-017",
            "relationship_to_holder": "spouse",
            **deceased,
        },
        "planned_at": "2026-03-04T14:30:00+01:00",
        "concession_id": str(concession_id),
        "funeral_operator": "Pompes funèbres du Rhône",
    }


@pytest.fixture
async def family_concession(
    sessionmaker: SM, clock: FrozenClock, seed: Seed, places: Places
) -> tuple[uuid.UUID, str]:
    async with sessionmaker() as s, s.begin():
        c = await grant(
            s, seed.commune_id, places.caveaux[1], now=clock.now(), granted_on=date(2010, 1, 4)
        )
        return c.id, c.number


async def test_burial_authorisation_mentions_r2213_31_and_r2213_33_with_the_dates(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    agent: Actor,
    deps: JobDeps,
    family_concession: tuple[uuid.UUID, str],
) -> None:
    """R2213-33 (décret 2024-790): death on Friday 27 February 2026 at 23:00 → burial from
    Saturday 28 February at 23:00 and at the latest on the 14th calendar day, Friday 13 March
    2026; R2213-31: the maire of the place of burial authorises; pieces attached listed."""
    concession_id, number = family_concession
    case_id = await open_case(
        sessionmaker, engine, clock, agent, "cemeteries.inhumation", burial_payload(concession_id)
    )

    t = (
        await render(
            sessionmaker, deps, clock, case_id, "burial_authorisation", operation="inhumation"
        )
    ).text

    assert "AUTORISATION D'INHUMER" in t
    assert (
        "L'inhumation du corps, en cercueil, de M. Paul DURAND est autorisée le 4 mars 2026 à 14 h 30 au Cimetière du Nord"
        in t
    )
    assert f"dans la concession n° {number}, l'emplacement n° 2 (caveau, A)" in t
    assert "Naissance : né(e) le 1er mai 1940 à Lyon" in t
    assert "Décès : décédé(e) le 27 février 2026 à 23 h 00 à A" in t
    assert "Dernier domicile : 3 rue des Lilas, 69001 A" in t
    assert "Mode de sépulture : en cercueil" in t
    assert "Conformément à l'article R2213-33 du code général des collectivités territoriales" in t
    assert "le quatorzième jour calendaire suivant le décès" in t
    assert (
        "inhumation possible à partir du 28 février 2026 à 23 h 00 et au plus tard le 13 mars 2026"
        in t
    )
    assert "délivrée par le maire de la commune du lieu d'inhumation (article R2213-31" in t
    assert "Acte de décès de M. Paul DURAND" in t
    assert "Autorisation de fermeture du cercueil n° FC-2026-017 (article R2213-17" in t
    assert (
        "Demande présentée par : Marie Durand, personne ayant qualité pour pourvoir aux funérailles (enfant)"
        in t
    )
    assert "Opérateur funéraire : Pompes funèbres du Rhône" in t
    assert "Voies et délais de recours" in t


async def test_burial_of_a_death_before_12_july_2024_keeps_the_six_day_rule(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    agent: Actor,
    deps: JobDeps,
    family_concession: tuple[uuid.UUID, str],
) -> None:
    """R2213-33 before décret 2024-790: death on Wednesday 10 July 2024 → six days, Sundays and
    holidays not counted (Sunday 14 July is both): at the latest on Wednesday 17 July 2024."""
    concession_id, _ = family_concession
    payload = burial_payload(concession_id, death_at="2024-07-10T08:00:00+02:00")
    payload["planned_at"] = "2024-07-12T10:00:00+02:00"
    case_id = await open_case(sessionmaker, engine, clock, agent, "cemeteries.inhumation", payload)

    t = (
        await render(
            sessionmaker, deps, clock, case_id, "burial_authorisation", operation="inhumation"
        )
    ).text

    assert "pour un décès antérieur au 12 juillet 2024" in t
    assert "six jours au plus tard après celui-ci, dimanches et jours fériés non compris" in t
    assert "à partir du 11 juillet 2024 à 8 h 00 et au plus tard le 17 juillet 2024" in t
    assert "quatorzième jour" not in t


async def test_no_burial_authorisation_without_the_coffin_closing_authorisation(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    agent: Actor,
    deps: JobDeps,
    family_concession: tuple[uuid.UUID, str],
) -> None:
    """R2213-17: a coffin is buried only once its closing was authorised; the authorisation
    cites it, so without its reference the document is not produced."""
    concession_id, _ = family_concession
    case_id = await open_case(
        sessionmaker,
        engine,
        clock,
        agent,
        "cemeteries.inhumation",
        burial_payload(concession_id, coffin_closing_ref=None),
    )

    error = await fails(
        sessionmaker, deps, clock, case_id, "burial_authorisation", operation="inhumation"
    )

    assert "l'autorisation de fermeture du cercueil (R2213-17) manque" in error


# ----- autorisation d'exhumer ----------------------------------------------------------------------


async def test_exhumation_authorisation_r2213_40(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    agent: Actor,
    deps: JobDeps,
    seed: Seed,
    places: Places,
    family_concession: tuple[uuid.UUID, str],
) -> None:
    """R2213-40: requested by the plus proche parent (here a child) with the sworn statement;
    date and hour; destination (reburial in caveau 3); presence of a relative, without whom the
    operation does not take place; R2213-42 conditions."""
    _, number = family_concession
    async with sessionmaker() as s, s.begin():
        op = await registry.record_operation(
            s,
            seed.commune_id,
            registry.OperationIn(
                kind=OperationKind.INHUMATION,
                place_id=places.caveaux[1],
                at=datetime.fromisoformat("2012-05-03T10:00:00+02:00"),
                deceased=registry.DeceasedIn(
                    civility="M.",
                    family_name="Durand",
                    given_names="Louis",
                    death_date=date(2012, 4, 28),
                    death_place="A",
                ),
            ),
            now=clock.now(),
        )
        deceased_id = op.deceased_id
    case_id = await open_case(
        sessionmaker,
        engine,
        clock,
        agent,
        "cemeteries.exhumation",
        {
            "requester": {"capacity": "plus_proche_parent", "relationship": "child"},
            "operation": "exhumation",
            "deceased_id": str(deceased_id),
            "reason": "Réunion de la famille dans le caveau acquis en 2026",
            "destination": "other_place",
            "destination_place_id": str(places.caveaux[2]),
            "requester_relationship": "child",
            "living_relatives": ["child"],
            "sworn_statement": True,
            "attending_relative": "Marie Durand",
        },
    )

    t = (
        await render(
            sessionmaker,
            deps,
            clock,
            case_id,
            "exhumation_authorisation",
            operation="exhumation",
            planned_at="2026-03-20T08:00:00+01:00",
        )
    ).text

    assert "AUTORISATION D'EXHUMER" in t
    assert "L'exhumation du corps de M. Louis DURAND, décédé(e) le 28 avril 2012 à A" in t
    assert "est autorisée le 20 mars 2026 à 8 h 00" in t
    assert "notamment ses articles L2213-8, L2213-9, R2213-40 à R2213-42" in t
    assert "Demande présentée par : Marie Durand" in t
    assert "Qualité : plus proche parent du défunt (enfant)" in t
    assert (
        "a déclaré sur l'honneur qu'à sa connaissance aucun parent au même degré que lui ne s'oppose à l'exhumation (article R2213-40"
        in t
    )
    assert (
        "Destination des restes : réinhumation au Cimetière du Nord, emplacement n° 3 (caveau, A, allée 1)"
        in t
    )
    assert (
        "L'exhumation a lieu en présence de Marie Durand, parent ou mandataire de la famille" in t
    )
    assert (
        "En l'absence d'un parent ou d'un mandataire de la famille, l'opération n'a pas lieu (article R2213-40"
        in t
    )
    assert (
        "ne peut être ouvert que s'il s'est écoulé cinq ans depuis le décès (article R2213-42" in t
    )
    assert f"Concession : n° {number}" in t


# ----- information sur le droit au renouvellement -----------------------------------------------


async def test_renewal_information_l2223_15_loi_3ds(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    agent: Actor,
    deps: JobDeps,
    seed: Seed,
    places: Places,
) -> None:
    """L2223-15 (loi 3DS): a 30-year concession that ended on 10 June 2025: renewable until
    10 June 2027; price = tariff in force on the term date (800 €, not today's 1 000 €, CE 21 May
    2007 n°281615); how to renew."""
    await tariff(
        sessionmaker,
        seed.commune_id,
        clock,
        "30",
        "800",
        (date(2020, 1, 1), date(2025, 12, 31)),
        "DCM 2019-45",
    )
    await tariff(
        sessionmaker, seed.commune_id, clock, "30", "1000", (date(2026, 1, 1), None), "DCM 2025-80"
    )
    async with sessionmaker() as s, s.begin():
        c = await grant(
            s,
            seed.commune_id,
            places.caveaux[0],
            now=clock.now(),
            granted_on=date(1995, 6, 10),
            parties=[
                holder(address="8 avenue Foch", postal_code="69006", city="Lyon", civility="Mme")
            ],
        )
        concession_id, number = c.id, c.number
    case_id = await open_case(
        sessionmaker,
        engine,
        clock,
        agent,
        "cemeteries.reprise",
        {"concession_id": str(concession_id)},
    )

    t = (await render(sessionmaker, deps, clock, case_id, "renewal_information")).text

    assert f"Objet : information sur le droit au renouvellement de la concession n° {number}" in t
    assert "Mme Jeanne MARTIN 8 avenue Foch, 69006 Lyon" in t
    assert (
        "(article L2223-15 du code général des collectivités territoriales, dans sa rédaction issue de la loi n° 2022-217 du 21 février 2022, dite « 3DS »)"
        in t
    )
    assert "Date d'échéance : 10 juin 2025" in t
    assert "Votre concession est arrivée à échéance le 10 juin 2025." in t
    assert "soit jusqu'au 10 juin 2027 inclus" in t
    assert "La nouvelle période court à compter de la date d'échéance (10 juin 2025)" in t
    assert "Prix du renouvellement pour trentenaire (30 ans) : 800,00 €" in t
    assert "(DCM 2019-45), en vigueur à la date d'échéance" in t
    assert "1 000,00 €" not in t
    assert "Comment demander le renouvellement" in t
    assert "le terrain concédé fait retour à la commune" in t


async def test_no_renewal_information_without_a_tariff_for_the_term_date(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    agent: Actor,
    deps: JobDeps,
    seed: Seed,
    places: Places,
) -> None:
    async with sessionmaker() as s, s.begin():
        c = await grant(
            s, seed.commune_id, places.caveaux[0], now=clock.now(), granted_on=date(1995, 6, 10)
        )
        concession_id = c.id
    case_id = await open_case(
        sessionmaker,
        engine,
        clock,
        agent,
        "cemeteries.reprise",
        {"concession_id": str(concession_id)},
    )

    error = await fails(sessionmaker, deps, clock, case_id, "renewal_information")

    assert (
        "aucun tarif voté pour une concession familiale trentenaire (30 ans) n'est en vigueur le 10 juin 2025"
        in error
    )


# ----- procès-verbal de constat d'abandon and arrêté de reprise -------------------------------------


@pytest.fixture
async def old_concession(
    sessionmaker: SM, clock: FrozenClock, seed: Seed, places: Places
) -> tuple[uuid.UUID, str]:
    """A perpetual concession of 12 March 1960, last burial in 1975."""
    async with sessionmaker() as s, s.begin():
        c = await grant(
            s,
            seed.commune_id,
            places.caveaux[2],
            now=clock.now(),
            granted_on=date(1960, 3, 12),
            duration_kind=DurationKind.PERPETUAL,
            parties=[holder(family_name="Bernard", given_names="Louis")],
        )
        await registry.record_operation(
            s,
            seed.commune_id,
            registry.OperationIn(
                kind=OperationKind.INHUMATION,
                place_id=places.caveaux[2],
                at=datetime.fromisoformat("1975-09-01T10:00:00+02:00"),
                deceased=registry.DeceasedIn(
                    family_name="Bernard", given_names="Louis", death_date=date(1975, 8, 28)
                ),
            ),
            now=clock.now(),
        )
        return c.id, c.number


async def event(
    sm: SM, clock: FrozenClock, case_id: uuid.UUID, seq: int, data: dict[str, Any]
) -> None:
    """A transition's data in the case's history, as the engine records it."""
    async with sm() as s, s.begin():
        s.add(
            CaseEvent(
                id=new_id(),
                case_id=case_id,
                seq=seq,
                at=clock.now(),
                actor_id=None,
                actor_kind="agent",
                actor_name="Agent instr",
                channel="counter",
                kind="case.transitioned",
                from_state="x",
                to_state="y",
                public=True,
                data={"transition": "recorded", "input": data},
                prev_hash="0" * 64,
                hash=f"{seq:064d}",
            )
        )


PV = {
    "description": "Monument délabré, stèle renversée.\n\nSépulture envahie par les ronces et les herbes.",
    "present": ["Agent instr, adjoint délégué", "Jean Petit, policier municipal"],
}


async def test_first_abandonment_report_r2223_14(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    agent: Actor,
    deps: JobDeps,
    old_concession: tuple[uuid.UUID, str],
) -> None:
    """R2223-14: exact location, description of the state, date of the act, persons present,
    signatures; R2223-13: heirs told a month before by registered letter; what follows (8 days,
    posting, one year of L2223-17 after loi 3DS)."""
    concession_id, number = old_concession
    case_id = await open_case(
        sessionmaker,
        engine,
        clock,
        agent,
        "cemeteries.abandon",
        {"concession_id": str(concession_id)},
    )
    await event(
        sessionmaker,
        clock,
        case_id,
        50,
        {"notice_sent_on": "2026-01-15", "finding_on": "2026-02-20", "method": "lrar"},
    )
    await event(sessionmaker, clock, case_id, 51, {"finding_on": "2026-02-20", **PV})

    t = (
        await render(
            sessionmaker,
            deps,
            clock,
            case_id,
            "abandonment_report",
            finding="first",
            finding_on="2026-02-20",
            **PV,
        )
    ).text

    assert "PROCÈS-VERBAL DE CONSTAT D'ABANDON" in t
    assert f"Premier constat — concession n° {number}" in t
    assert "(articles L2223-17 et R2223-13 à R2223-14" in t
    assert (
        "Le 20 février 2026, nous, Agent instr, Pour le Maire et par délégation, Instructeur" in t
    )
    assert "avisés le 15 janvier 2026 par lettre recommandée avec demande d'avis de réception" in t
    assert "(article R2223-13" in t
    assert "Cimetière : Cimetière du Nord" in t and "Emplacement n° : 3" in t
    assert "Date de l'acte de concession : 12 mars 1960" in t
    assert "Concessionnaire : Jeanne MARTIN" not in t
    assert "Concessionnaire : Louis BERNARD" in t
    assert "Dernière inhumation connue : 1er septembre 1975" in t
    assert "Monument délabré, stèle renversée." in t
    assert "Sépulture envahie par les ronces et les herbes." in t
    assert "Jean Petit, policier municipal" in t
    assert "Dans les huit jours" in t and "(articles R2223-15 et R2223-16" in t
    assert "Si, 1 an(s) après l'accomplissement de ces formalités de publicité" in t
    assert "Signatures" in t


async def test_reprise_order_after_abandon_vu_lines_articles_and_dates(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    agent: Actor,
    deps: JobDeps,
    old_concession: tuple[uuid.UUID, str],
) -> None:
    """The arrêté de reprise: Vu L2223-17 and R2223-12 to R2223-23, both PVs (20 February 2025
    and 2 March 2026, more than one year apart), the délibération; published and notified on
    2 March 2026 (R2223-19); monuments removed from 1 April 2026 (30 days, R2223-20); remains to
    the ossuary with the public register (L2223-4, R2223-6)."""
    concession_id, number = old_concession
    case_id = await open_case(
        sessionmaker,
        engine,
        clock,
        agent,
        "cemeteries.abandon",
        {"concession_id": str(concession_id)},
    )
    await event(
        sessionmaker,
        clock,
        case_id,
        50,
        {"notice_sent_on": "2025-01-15", "finding_on": "2025-02-20", "method": "lrar"},
    )
    await event(sessionmaker, clock, case_id, 51, {"finding_on": "2025-02-20", **PV})
    await event(sessionmaker, clock, case_id, 52, {"finding_on": "2026-02-23", **PV})
    await event(
        sessionmaker,
        clock,
        case_id,
        53,
        {"deliberation_on": "2026-02-26", "reference": "DCM 2026-12"},
    )

    t = (
        await render(
            sessionmaker,
            deps,
            clock,
            case_id,
            "reprise_order",
            published_on="2026-03-02",
            reference="ARR-2026-031",
        )
    ).text

    assert "ARRÊTÉ DE REPRISE N° ARR-2026-031" in t
    assert f"Reprise de la concession n° {number} en état d'abandon" in t
    assert "notamment ses articles L2223-4, L2223-17, L2223-18 et R2223-12 à R2223-23" in t
    assert "Vu le procès-verbal du 20 février 2025 constatant l'état d'abandon" in t
    assert (
        "Vu le procès-verbal du 23 février 2026 constatant que, plus de 1 an(s) après ces formalités"
        in t
    )
    assert (
        "Vu la délibération n° DCM 2026-12 du conseil municipal du 26 février 2026 décidant la reprise"
        in t
    )
    assert (
        f"La concession n° {number}, située au Cimetière du Nord, A, allée 1, emplacement n° 3, accordée le 12 mars 1960 à Louis BERNARD, en état d'abandon constaté par procès-verbaux des 20 février 2025 et 23 février 2026, est reprise par la commune."
        in t
    )
    assert (
        "notifié aux descendants ou successeurs du concessionnaire s'ils sont connus, le 2 mars 2026"
        in t
    )
    assert "(article R2223-19" in t
    assert "soit à partir du 1er avril 2026" in t and "(article R2223-20" in t
    assert "déposés à l'ossuaire" in t and "(articles L2223-4 et R2223-6" in t
    assert "Voies et délais de recours" in t


async def test_no_reprise_order_without_the_deliberation(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    agent: Actor,
    deps: JobDeps,
    old_concession: tuple[uuid.UUID, str],
) -> None:
    """L2223-17: the reprise is decided by the conseil municipal; an arrêté without it is not
    produced."""
    concession_id, _ = old_concession
    case_id = await open_case(
        sessionmaker,
        engine,
        clock,
        agent,
        "cemeteries.abandon",
        {"concession_id": str(concession_id)},
    )
    await event(sessionmaker, clock, case_id, 51, {"finding_on": "2025-02-20", **PV})
    await event(sessionmaker, clock, case_id, 52, {"finding_on": "2026-02-23", **PV})

    error = await fails(
        sessionmaker,
        deps,
        clock,
        case_id,
        "reprise_order",
        published_on="2026-03-02",
        reference="ARR-1",
    )

    assert "la date de la délibération du conseil municipal manque" in error


async def test_cemetery_documents_are_pdf_a_3b_in_french(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    agent: Actor,
    deps: JobDeps,
    family_concession: tuple[uuid.UUID, str],
) -> None:
    concession_id, _ = family_concession
    case_id = await open_case(
        sessionmaker, engine, clock, agent, "cemeteries.inhumation", burial_payload(concession_id)
    )
    doc = await render(
        sessionmaker, deps, clock, case_id, "burial_authorisation", operation="inhumation"
    )
    reader = PdfReader(io.BytesIO(doc.pdf))
    xmp = reader.xmp_metadata
    assert xmp is not None and xmp.pdfaid_part == "3" and xmp.pdfaid_conformance == "B"
    assert reader.trailer["/Root"]["/Lang"] == "fr"


async def test_recorded_text_is_printed_as_text_never_as_markup(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    agent: Actor,
    deps: JobDeps,
    old_concession: tuple[uuid.UUID, str],
) -> None:
    """What an agent types (a PV's description, the persons present) is escaped: markup or a
    stylesheet link shows as typed and fetches nothing."""
    concession_id, _ = old_concession
    case_id = await open_case(
        sessionmaker,
        engine,
        clock,
        agent,
        "cemeteries.abandon",
        {"concession_id": str(concession_id)},
    )
    await event(
        sessionmaker, clock, case_id, 50, {"notice_sent_on": "2026-01-15", "method": "lrar"}
    )
    hostile = '<b>ronces</b> <link rel="stylesheet" href="http://evil.invalid/x.css"> « & »'

    t = (
        await render(
            sessionmaker,
            deps,
            clock,
            case_id,
            "abandonment_report",
            finding="first",
            finding_on="2026-02-20",
            description=hostile,
            present=["<i>Jean</i> Petit"],
        )
    ).text

    assert '<b>ronces</b> <link rel="stylesheet" href="http://evil.invalid/x.css"> « & »' in t
    assert "<i>Jean</i> Petit" in t
