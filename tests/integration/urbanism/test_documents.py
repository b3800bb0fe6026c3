"""The urbanism documents, rendered by the real outbox job into a real PDF/A and read back.

Each test opens an urbanism case through ``channels.intake.submit`` (at the counter), writes the
case's ``urbanism_file`` row with handcrafted facts and timeline (the projector's job, not relied
on here), queues the ``document.render`` row a transition (or the service) would queue, performs it
with the worker's handlers, and checks the mandatory mentions in the text extracted from the stored
PDF — each with its article (urbanism.md §9, crpa.md §2). The clock stands on Monday 2 March 2026,
10:00 in Paris; the files are filed that day unless said otherwise.
"""

from __future__ import annotations

import io
import uuid
from datetime import date
from pathlib import Path
from typing import Any, Literal

import pytest
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.intake import IntakeRequest, submit
from documents import _urbanism_common
from documents.contexts import variant_of
from documents.jobs import JobDeps
from documents.render import template_for
from documents.storage import FileStorage
from identity import service as ids
from services.kernel.actor import Actor
from services.kernel.clock import FrozenClock
from services.kernel.ids import new_id
from tests.conftest import Seed
from tests.support import rendering
from tests.support.rendering import Doc
from workflows.cases.models import Case
from workflows.engine.runner import Engine
from workflows.procedures.urbanism.models import UrbanismFile

pytestmark = pytest.mark.integration

SM = async_sessionmaker[AsyncSession]
SIGNED_BY = {"name": "Claire Martin", "title": "Instructrice du droit des sols"}
SUBMITTER = {
    "given_name": "Marie",
    "family_name": "Durand",
    "email": "marie.durand@example.org",
    "postal_address": "3 rue des Lilas, 69001 A",
}
PAYLOAD: dict[str, Any] = {
    "cerfa": "13406",
    "applicants": [
        {
            "kind": "personne_physique",
            "civility": "Mme",
            "family_name": "Durand",
            "given_name": "Marie",
            "address": {"street": "3 rue des Lilas", "postal_code": "69001", "city": "A"},
        }
    ],
    "land": {
        "address": {"street": "12 chemin des Vignes", "postal_code": "69001", "city": "A"},
        "parcels": [
            {"section": "AB", "numero": "12", "area": 600},
            {"section": "AB", "numero": "13", "area": 250},
        ],
        "total_area": 850,
    },
    "project": {
        "nature_of_works": ["construction_nouvelle"],
        "description": "Maison de plain-pied avec garage",
        "floor_areas": [
            {"destination": "habitation", "created": 112},
            {"destination": "autres_activites_secondaire_tertiaire", "created": 8},
        ],
    },
    "pieces": ["PCMI1", "PCMI3", "PCMI4"],
}
DP_PAYLOAD: dict[str, Any] = {
    **PAYLOAD,
    "cerfa": "13703",
    "project": {
        "nature_of_works": ["cloture"],
        "description": "Clôture en grillage de 1,80 m",
        "maison_individuelle": True,
    },
    "pieces": ["DP1", "DP2"],
}


@pytest.fixture
def deps(engine: Engine, tmp_path: Path, clock: FrozenClock) -> JobDeps:
    return JobDeps(engine=engine, storage=FileStorage(tmp_path / "documents"), clock=clock)


@pytest.fixture
async def agent(sessionmaker: SM, seed: Seed, clock: FrozenClock) -> Actor:
    async with sessionmaker() as s:
        return await ids.authenticate(s, seed.instructor_token, now=clock.now())


def legal_date(key: str, on: str, rule: str = "", reference: str = "") -> dict[str, Any]:
    return {
        "key": key,
        "on": on,
        "label": key,
        "rule": rule,
        "reference": reference,
        "rule_set": "ads-2025-12-31",
        "note": "",
    }


def timeline(
    deadline: str | None,
    tacit: str | None,
    outcome: str | None,
    *extra: dict[str, Any],
    rule: str = "2 mois à compter du dépôt (date à date)",
    missing: tuple[str, ...] = (),
) -> dict[str, Any]:
    dates = [
        legal_date("filed", "2026-03-02"),
        legal_date("filing_notice_display_limit", "2026-03-17", reference="R423-6"),
        legal_date("completeness_limit", "2026-04-02", reference="R423-38"),
        *extra,
    ]
    if deadline:
        dates.append(legal_date("instruction_deadline", deadline, rule, "R423-23 b"))
    if tacit:
        dates.append(legal_date("tacit_decision", tacit, reference="R424-1"))
    return {
        "dates": dates,
        "findings": [],
        "timers": [],
        "instruction_deadline": deadline,
        "tacit_outcome": outcome,
        "complete": not missing,
        "missing_pieces": list(missing),
        "next_legal_date": None,
    }


PCMI_TIMELINE = timeline("2026-05-02", "2026-05-03", "accord_tacite")


async def open_file(
    sm: SM,
    engine: Engine,
    clock: FrozenClock,
    actor: Actor,
    *,
    procedure: str = "urbanism.pcmi",
    permit_type: str = "PCMI",
    number: str = "PC0690012600012",
    tl: dict[str, Any] | None = None,
    facts: dict[str, Any] | None = None,
    payload: dict[str, Any] | None = None,
    filed_on: date = date(2026, 3, 2),
    channel: Literal["web", "counter"] = "counter",
    with_file: bool = True,
) -> uuid.UUID:
    """A case filed at the counter, and its ``urbanism_file`` row (written, or overwritten when
    the projector already wrote one) with the given facts and timeline."""
    payload = PAYLOAD if payload is None else payload
    async with sm() as s, s.begin():
        result = await submit(
            s,
            engine,
            clock,
            IntakeRequest(
                tenant="69001",
                procedure_key=procedure,
                channel=channel,
                submitter=SUBMITTER,
                payload=payload,
                actor=actor,
            ),
        )
        case_id = result.case_id
    if not with_file:
        return case_id
    async with sm() as s, s.begin():
        case = await s.get(Case, case_id)
        assert case is not None
        case.payload = payload  # exactly the CERFA blocks the test states
        row = await s.scalar(select(UrbanismFile).where(UrbanismFile.case_id == case_id))
        if row is None:
            row = UrbanismFile(id=new_id(), case_id=case_id, tenant_id=case.tenant_id)
            s.add(row)
        row.number = number
        row.permit_type = permit_type
        row.file_kind = "initial"
        row.filed_on = filed_on
        row.applicant_name = "Mme Marie Durand"
        row.address = "12 chemin des Vignes, 69001 A"
        row.parcels = "AB 12, AB 13"
        row.state = "deposited"
        row.facts = facts or {"permit_type": permit_type, "filed_on": filed_on.isoformat()}
        row.timeline = tl or PCMI_TIMELINE
        row.updated_at = clock.now()
    return case_id


async def render(
    sm: SM,
    deps: JobDeps,
    clock: FrozenClock,
    case_id: uuid.UUID,
    document_kind: str,
    **params: Any,
) -> Doc:
    return await rendering.render(
        sm, deps, clock, case_id, document_kind, params, requested_by=SIGNED_BY
    )


async def fails(
    sm: SM,
    deps: JobDeps,
    clock: FrozenClock,
    case_id: uuid.UUID,
    document_kind: str,
    **params: Any,
) -> str:
    return await rendering.fails(
        sm, deps, clock, case_id, document_kind, params, requested_by=SIGNED_BY
    )


# ----- the seam: an urbanism case's ARE is the récépissé -----------------------------------------


def test_are_of_an_urbanism_case_uses_the_urbanism_receipt() -> None:
    assert variant_of("are", "urbanism.pcmi") == "urbanism_are"
    assert variant_of("are", "cemeteries.concession") == "are"
    assert variant_of("letter", "urbanism.dp") == "letter"
    assert template_for("urbanism_are") == "urbanism/urbanism_are.html"
    assert template_for("urbanism_decision") == "urbanism/urbanism_decision.html"


def test_number_is_printed_in_the_a423_3_form() -> None:
    assert _urbanism_common.display_number("PC0690012600012") == "PC 069 001 26 00012"
    assert _urbanism_common.display_number("DP0690012600003M01") == "DP 069 001 26 00003 M01"


# ----- récépissé / ARE (R423-3 to R423-5; R112-5, R112-11-1 CRPA) -----------------------------


async def test_recepisse_pcmi_states_every_r423_4_and_r423_5_mention(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, agent: Actor, deps: JobDeps
) -> None:
    """PCMI filed at the counter on 2 March 2026: 2 months (R423-23 b) → deadline 2 May, tacit
    permit born 3 May 2026 (R424-1); the one-month window ends 2 April (R423-38, R423-42)."""
    case_id = await open_file(sessionmaker, engine, clock, agent)

    doc = await render(sessionmaker, deps, clock, case_id, "are")

    t = doc.text
    assert doc.document.kind == "are"  # stored under the common kind: its e-mail goes out
    assert doc.document.title == "Récépissé de dépôt"
    assert "Récépissé de dépôt d'une demande de permis" in t
    assert "PC 069 001 26 00012" in t
    assert "articles R423-3 à R423-5 du code de l'urbanisme" in t
    assert "reçue au guichet le 2 mars 2026 à 10 h 00" in t
    assert "Date de dépôt : 2 mars 2026" in t
    assert "il expire le 2 mai 2026" in t
    assert "permis tacite le 3 mai 2026" in t
    # R423-5: what may still come within one month
    assert "jusqu'au 2 avril 2026" in t
    assert "votre dossier est incomplet et vous demander les pièces manquantes" in t
    assert "R423-24 à R423-33" in t
    assert "R424-2, R424-2-1 et R424-3" in t
    assert "le délai indiqué ci-dessus est fixé et ne pourra plus être modifié" in t
    # CERFA template text
    assert "en trois exemplaires, une déclaration d'ouverture de chantier" in t
    assert "R424-16" in t
    assert "revêtu du cachet de la mairie" in t
    assert "un panneau visible de la voie publique" in t
    assert "certificat sur simple demande, article R424-13" in t
    assert "article R600-2" in t and "article R600-1" in t
    assert "sous réserve du droit des tiers" in t
    # CRPA mentions, from are_context
    assert "Service urbanisme" in t
    assert "1 rue A" in t  # the seed's « urbanisme » service of commune A
    assert "04 00 00 00 09" in t
    assert "Mme Marie Durand" in t
    assert "12 chemin des Vignes" in t and "AB 12, AB 13" in t


async def test_are_of_a_dp_gives_the_day_works_may_start_r423_4(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, agent: Actor, deps: JobDeps
) -> None:
    """DP filed online on 2 March 2026: 1 month → tacit non-opposition born 3 April 2026; the
    ARE says works may start that day; no DOC for a DP (R424-16 concerns PC and PA)."""
    case_id = await open_file(
        sessionmaker,
        engine,
        clock,
        agent,
        procedure="urbanism.dp",
        permit_type="DP",
        payload=DP_PAYLOAD,
        number="DP0690012600003",
        channel="web",
        tl=timeline("2026-04-02", "2026-04-03", "non_opposition_tacite", rule="1 mois"),
    )

    t = (await render(sessionmaker, deps, clock, case_id, "are")).text

    assert "Accusé de réception électronique d'une déclaration préalable" in t
    assert "R423-4 et R423-5 du code de l'urbanisme" in t
    assert "R112-11-1" in t
    assert "DP 069 001 26 00003" in t
    assert "décision tacite de non-opposition le 3 avril 2026" in t
    assert "vous pourrez commencer les travaux à partir du 3 avril 2026" in t
    assert "déclaration d'ouverture de chantier" not in t
    assert "un panneau visible de la voie publique" in t


async def test_are_when_silence_means_rejection_r424_2(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, agent: Actor, deps: JobDeps
) -> None:
    """Immeuble inscrit MH (R424-2): no tacit permit; the ARE says silence is a rejection and
    gives the appeal routes (R112-11-1 5° CRPA)."""
    case_id = await open_file(
        sessionmaker,
        engine,
        clock,
        agent,
        tl=timeline("2026-05-02", "2026-05-03", "rejet_tacite"),
    )

    t = (await render(sessionmaker, deps, clock, case_id, "are")).text

    assert "décision implicite de rejet le 3 mai 2026" in t
    assert "permis tacite le" not in t
    assert "tribunal administratif" in t


# ----- avis de dépôt (R423-6) ------------------------------------------------------------------


async def test_filing_notice_r423_6(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, agent: Actor, deps: JobDeps
) -> None:
    """Posted in the mairie within 15 days of the filing: displayed 2 March, limit 17 March."""
    case_id = await open_file(sessionmaker, engine, clock, agent)

    t = (await render(sessionmaker, deps, clock, case_id, "urbanism_filing_notice")).text

    assert "Avis de dépôt — permis de construire (maison individuelle)" in t
    assert "article R423-6" in t
    assert "Dossier n° : PC 069 001 26 00012" in t
    assert "Demandeur : Mme Marie Durand" in t
    assert "Adresse du terrain : 12 chemin des Vignes, 69001 A" in t
    assert "Références cadastrales : AB 12, AB 13" in t
    assert "Superficie du terrain : 850 m²" in t
    assert "Construction nouvelle — Maison de plain-pied avec garage" in t
    assert "Surface de plancher créée : 120 m²" in t  # 112 + 8, by destination
    assert "Date de dépôt : 2 mars 2026" in t
    assert "Affiché en mairie le 2 mars 2026, dans les quinze jours du dépôt" in t
    assert "au plus tard le 17 mars 2026" in t


async def test_no_filing_notice_without_the_floor_area_created(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, agent: Actor, deps: JobDeps
) -> None:
    payload = {**PAYLOAD, "project": {"nature_of_works": ["extension"], "description": "Véranda"}}
    case_id = await open_file(sessionmaker, engine, clock, agent, payload=payload)

    error = await fails(sessionmaker, deps, clock, case_id, "urbanism_filing_notice")

    assert "la surface de plancher créée" in error


# ----- demande de pièces (R423-38, R423-39) ---------------------------------------------------------


async def test_incompleteness_letter_lists_pieces_and_three_months_r423_39(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, agent: Actor, deps: JobDeps
) -> None:
    """Letter notified on 10 March 2026: all pieces by 10 June 2026 (R423-39 a), otherwise tacit
    rejection for a permit (R423-39 b); the deadline restarts on receipt of all (R423-39 c)."""
    case_id = await open_file(sessionmaker, engine, clock, agent)

    doc = await render(
        sessionmaker,
        deps,
        clock,
        case_id,
        "urbanism_incompleteness",
        pieces=["PCMI2", "pcmi5"],
        notified_on="2026-03-10",
        comment="Le plan de masse doit être coté en trois dimensions.",
    )

    t = doc.text
    assert doc.document.title == "Demande de pièces complémentaires"
    assert "R423-38 et R423-39" in t
    assert "PCMI2 — Plan de masse des constructions à édifier ou à modifier" in t
    assert "PCMI5 — Plan des façades et des toitures" in t
    assert "trois mois à compter de la réception de la présente lettre" in t
    assert "notifiée le 10 mars 2026, au plus tard le 10 juin 2026" in t
    assert "l'ensemble des pièces manquantes" in t
    assert "une décision tacite de rejet" in t
    assert "la totalité des pièces manquantes (article R423-39 c)" in t
    assert "Le plan de masse doit être coté en trois dimensions." in t
    assert "Lettre recommandée avec demande d'avis de réception" in t
    assert "Claire Martin" in t and "Instructrice du droit des sols" in t  # L111-2 CRPA
    assert "3 rue des Lilas, 69001 A" in t


async def test_incompleteness_of_a_dp_means_tacit_opposition_and_no_date_without_notification(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, agent: Actor, deps: JobDeps
) -> None:
    """R423-39 b: for a DP the sanction is a tacit opposition. Not yet notified: the three months
    run from receipt of the letter, no date is invented."""
    case_id = await open_file(
        sessionmaker,
        engine,
        clock,
        agent,
        procedure="urbanism.dp",
        permit_type="DP",
        payload=DP_PAYLOAD,
        number="DP0690012600003",
        tl=timeline("2026-04-02", "2026-04-03", "non_opposition_tacite"),
    )

    t = (
        await render(sessionmaker, deps, clock, case_id, "urbanism_incompleteness", pieces=["DP3"])
    ).text

    assert "une décision tacite d'opposition" in t
    assert "trois mois à compter de la réception de la présente lettre" in t
    assert "au plus tard le" not in t


async def test_no_incompleteness_letter_without_the_list(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, agent: Actor, deps: JobDeps
) -> None:
    case_id = await open_file(sessionmaker, engine, clock, agent)

    error = await fails(sessionmaker, deps, clock, case_id, "urbanism_incompleteness", pieces=[])

    assert "la liste exhaustive des pièces manquantes (R423-38)" in error


# ----- majoration (R423-24, R423-42) ------------------------------------------------------------


async def test_majoration_letter_r423_24_new_deadline_and_tacit_still_possible(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, agent: Actor, deps: JobDeps
) -> None:
    """PCMI in the abords of a MH: +1 month (R423-24) notified on 20 March (within the month) →
    deadline 2 June 2026, tacit permit born 3 June 2026."""
    case_id = await open_file(
        sessionmaker,
        engine,
        clock,
        agent,
        tl=timeline("2026-06-02", "2026-06-03", "accord_tacite", rule="2 mois + 1 mois (R423-24)"),
    )

    t = (
        await render(
            sessionmaker,
            deps,
            clock,
            case_id,
            "urbanism_majoration",
            ground="R423-24",
            notified_on="2026-03-20",
        )
    ).text

    assert "article R423-24 du code de l'urbanisme" in t
    assert "dans les abords d'un monument historique" in t
    assert "majoré d'un mois" in t
    assert "la nouvelle date limite d'instruction de votre dossier est le 2 juin 2026" in t
    assert "permis tacite le 3 juin 2026 : une décision tacite reste possible" in t
    assert "expirait le 2 avril 2026 (article R423-42)" in t


async def test_majoration_r423_28_says_no_tacit_permit_when_silence_means_rejection(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, agent: Actor, deps: JobDeps
) -> None:
    """Immeuble inscrit MH: 5 months (R423-28), and silence is a rejection (R424-2)."""
    case_id = await open_file(
        sessionmaker,
        engine,
        clock,
        agent,
        tl=timeline("2026-08-02", "2026-08-03", "rejet_tacite"),
    )

    t = (
        await render(
            sessionmaker,
            deps,
            clock,
            case_id,
            "urbanism_majoration",
            ground="R423-28",
            notified_on="2026-03-15",
        )
    ).text

    assert "porté à cinq mois" in t
    assert "le 2 août 2026" in t
    assert "aucune décision tacite favorable ne peut naître" in t
    assert "décision implicite de rejet le 3 août 2026" in t


async def test_late_majoration_is_refused_r423_42(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, agent: Actor, deps: JobDeps
) -> None:
    """Notified on 3 April, after the month that ended on 2 April: no effect, no letter."""
    case_id = await open_file(sessionmaker, engine, clock, agent)

    error = await fails(
        sessionmaker,
        deps,
        clock,
        case_id,
        "urbanism_majoration",
        ground="R423-24",
        notified_on="2026-04-03",
    )

    assert "la majoration est sans effet (R423-42)" in error


async def test_majoration_with_an_unknown_ground_is_refused(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, agent: Actor, deps: JobDeps
) -> None:
    case_id = await open_file(sessionmaker, engine, clock, agent)

    error = await fails(
        sessionmaker, deps, clock, case_id, "urbanism_majoration", ground="<b>R999</b>"
    )

    assert "n'est pas un fondement de majoration connu" in error


# ----- demande d'avis (R423-59) -------------------------------------------------------------------


async def test_consultation_request_deemed_favourable_after_one_month_r423_59(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, agent: Actor, deps: JobDeps
) -> None:
    case_id = await open_file(sessionmaker, engine, clock, agent)

    t = (
        await render(
            sessionmaker,
            deps,
            clock,
            case_id,
            "urbanism_consultation",
            service="ABF",
            sent_on="2026-03-05",
        )
    ).text

    assert "Architecte des Bâtiments de France" in t
    assert "PC 069 001 26 00012" in t
    assert "Construction nouvelle — Maison de plain-pied avec garage" in t
    assert "un délai de 1 mois pour rendre votre avis, soit jusqu'au 5 avril 2026" in t
    assert "À défaut de réponse dans ce délai, votre avis est réputé favorable" in t
    assert "R423-59" in t
    assert "Date limite d'instruction : 2 mai 2026" in t


async def test_consultation_with_a_delay_in_days(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, agent: Actor, deps: JobDeps
) -> None:
    case_id = await open_file(sessionmaker, engine, clock, agent)

    t = (
        await render(
            sessionmaker,
            deps,
            clock,
            case_id,
            "urbanism_consultation",
            service="SDIS",
            sent_on="2026-03-05",
            delay_days=15,
        )
    ).text

    assert "Service départemental d'incendie et de secours" in t
    assert "15 jours pour rendre votre avis, soit jusqu'au 20 mars 2026" in t


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"sent_on": "2026-03-05"}, "le service consulté"),
        ({"service": "ABF"}, "la date d'envoi"),
        ({"service": "ABF", "sent_on": "5 mars"}, "une date AAAA-MM-JJ est attendue"),
        ({"service": "ABF", "sent_on": "2026-03-05", "delay_days": "x"}, "nombre entier"),
        (
            {"service": "ABF", "sent_on": "2026-03-05", "delay_days": 10, "delay_months": 1},
            "pas les deux",
        ),
        ({"service": "A" * 300, "sent_on": "2026-03-05"}, "200 caractères"),
    ],
)
async def test_consultation_with_bad_params_is_refused(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    agent: Actor,
    deps: JobDeps,
    params: dict[str, Any],
    expected: str,
) -> None:
    case_id = await open_file(sessionmaker, engine, clock, agent)

    error = await fails(sessionmaker, deps, clock, case_id, "urbanism_consultation", **params)

    assert expected in error


# ----- arrêté (L424-3, R424-17, R600-1, R600-2, L212-2 CRPA) ----------------------------------------

CONSULTED = {
    "permit_type": "PCMI",
    "filed_on": "2026-03-02",
    "rule_set": {"key": "ads-2025-12-31", "consultation_months": 1},
    "consultations": [
        {
            "service": "ABF",
            "sent_on": "2026-03-05",
            "answered_on": "2026-03-20",
            "opinion": "favorable_avec_prescriptions",
        },
        {"service": "SDIS", "sent_on": "2026-03-05", "answered_on": None, "opinion": None},
    ],
}


async def test_arrete_of_accord_with_prescriptions_visas_articles_and_mentions(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, agent: Actor, deps: JobDeps
) -> None:
    """Visas per consultation (answered; unanswered after its month → deemed favourable, R423-59),
    reasons for the prescriptions (L424-3), validity 3 years (R424-17), DOC (R424-16), display
    (R424-15), appeals (R600-1, R600-2, recours gracieux), préfet, signatory (L212-2 CRPA)."""
    case_id = await open_file(sessionmaker, engine, clock, agent, facts=CONSULTED)

    doc = await render(
        sessionmaker,
        deps,
        clock,
        case_id,
        "urbanism_decision",
        kind="accord_avec_prescriptions",
        reasons=["que le projet est situé dans les abords de l'église Saint-Martin"],
        prescriptions=["Les menuiseries seront en bois peint."],
        signatory_name="Jean Dupont",
        signatory_title="Maire",
        signed_on="2026-04-20",
    )

    t = doc.text
    assert doc.document.title == "Arrêté"
    assert "LE MAIRE D'A" in t
    assert "ARRÊTÉ ACCORDANT AVEC PRESCRIPTIONS LE PERMIS DE CONSTRUIRE N° PC 069 001 26 00012" in t
    assert "Vu le code de l'urbanisme" in t
    assert (
        "Vu la demande de permis de construire une maison individuelle n° PC 069 001 26 00012 "
        "déposée le 2 mars 2026 par Mme Marie Durand" in t
    )
    assert "Vu l'avis favorable assorti de prescriptions de ABF du 20 mars 2026" in t
    assert "Vu l'avis réputé favorable de SDIS, consulté le 5 mars 2026" in t
    assert "R423-59" in t
    assert "Considérant que le projet est situé dans les abords de l'église Saint-Martin" in t
    assert "ARRÊTE" in t
    assert "ARTICLE 1 : Le permis de construire est ACCORDÉ" in t
    assert "ARTICLE 2 : Prescriptions : Les menuiseries seront en bois peint." in t
    assert "trois ans" in t and "R424-17" in t
    assert "déclaration d'ouverture de chantier en trois exemplaires (article R424-16)" in t
    assert "A424-15 à A424-19" in t and "R424-15" in t
    assert "article R600-2" in t and "article R600-1" in t
    assert "recours gracieux" in t
    assert "L2131-1 et L2131-2 du code général des collectivités territoriales" in t
    assert "sous réserve du droit des tiers" in t
    assert "Fait à A, le 20 avril 2026" in t
    assert "Jean Dupont" in t and "Maire" in t


async def test_refusal_without_reasons_is_not_produced_l424_3(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, agent: Actor, deps: JobDeps
) -> None:
    case_id = await open_file(sessionmaker, engine, clock, agent)

    error = await fails(
        sessionmaker,
        deps,
        clock,
        case_id,
        "urbanism_decision",
        kind="refus",
        signed_on="2026-04-20",
    )

    assert "doit être motivé (article L424-3" in error


async def test_refusal_states_its_reasons_and_no_validity(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, agent: Actor, deps: JobDeps
) -> None:
    case_id = await open_file(sessionmaker, engine, clock, agent)

    t = (
        await render(
            sessionmaker,
            deps,
            clock,
            case_id,
            "urbanism_decision",
            kind="refus",
            reasons="que la hauteur du projet (12 m) excède les 9 m de l'article UA 10 du PLU",
            signed_on="2026-04-20",
        )
    ).text

    assert "ARRÊTÉ REFUSANT LE PERMIS DE CONSTRUIRE" in t
    assert "Considérant que la hauteur du projet (12 m) excède les 9 m" in t
    assert "ARTICLE 1 : Le permis de construire est REFUSÉ pour les motifs exposés ci-dessus." in t
    assert "R424-17" not in t
    assert "recours gracieux" in t
    assert "Claire Martin" in t  # the requesting agent signs when no signatory is given


async def test_dp_opposition_and_non_opposition(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, agent: Actor, deps: JobDeps
) -> None:
    """A DP gets an opposition (reasoned) or a non-opposition, never an « accord »."""
    case_id = await open_file(
        sessionmaker,
        engine,
        clock,
        agent,
        procedure="urbanism.dp",
        permit_type="DP",
        payload=DP_PAYLOAD,
        number="DP0690012600003",
        tl=timeline("2026-04-02", "2026-04-03", "non_opposition_tacite"),
    )

    t = (
        await render(
            sessionmaker,
            deps,
            clock,
            case_id,
            "urbanism_decision",
            kind="opposition",
            reasons=["que la clôture projetée dépasse 2 m"],
            signed_on="2026-03-20",
        )
    ).text
    assert "ARRÊTÉ S'OPPOSANT À LA DÉCLARATION PRÉALABLE N° DP 069 001 26 00003" in t
    assert "Il est fait OPPOSITION à la déclaration préalable susvisée" in t
    assert "R424-17" not in t


async def test_dp_never_gets_an_accord(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, agent: Actor, deps: JobDeps
) -> None:
    case_id = await open_file(
        sessionmaker,
        engine,
        clock,
        agent,
        procedure="urbanism.dp",
        permit_type="DP",
        payload=DP_PAYLOAD,
        number="DP0690012600003",
        tl=timeline("2026-04-02", "2026-04-03", "non_opposition_tacite"),
    )

    error = await fails(
        sessionmaker,
        deps,
        clock,
        case_id,
        "urbanism_decision",
        kind="accord",
        signed_on="2026-03-20",
    )

    assert "ne peut pas être prise sur la déclaration préalable" in error
    assert "non_opposition, opposition, sursis_a_statuer" in error


async def test_dp_non_opposition_with_prescriptions_is_reasoned_and_valid_three_years(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, agent: Actor, deps: JobDeps
) -> None:
    """Non-opposition with prescriptions: reasons required (L424-3), validity (R424-17), no DOC
    for a DP (R424-16 concerns PC and PA)."""
    case_id = await open_file(
        sessionmaker,
        engine,
        clock,
        agent,
        procedure="urbanism.dp",
        permit_type="DP",
        payload=DP_PAYLOAD,
        number="DP0690012600003",
        tl=timeline("2026-04-02", "2026-04-03", "non_opposition_tacite"),
    )

    t = (
        await render(
            sessionmaker,
            deps,
            clock,
            case_id,
            "urbanism_decision",
            kind="non_opposition",
            reasons=["que le terrain est en zone UA du PLU"],
            prescriptions=["La clôture sera doublée d'une haie vive."],
            signed_on="2026-03-20",
        )
    ).text

    assert "ARRÊTÉ NE S'OPPOSANT PAS À LA DÉCLARATION PRÉALABLE N° DP 069 001 26 00003" in t
    assert "Il n'est PAS FAIT OPPOSITION à la déclaration préalable susvisée, sous réserve" in t
    assert "ARTICLE 2 : Prescriptions : La clôture sera doublée d'une haie vive." in t
    assert "R424-17" in t
    assert "déclaration d'ouverture de chantier" not in t


async def test_no_arrete_while_a_consulted_service_may_still_answer_r423_59(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, agent: Actor, deps: JobDeps
) -> None:
    """SDIS consulted on 5 March has until 5 April: an arrêté signed on 1 April cannot say its
    opinion is deemed favourable."""
    case_id = await open_file(sessionmaker, engine, clock, agent, facts=CONSULTED)

    error = await fails(
        sessionmaker,
        deps,
        clock,
        case_id,
        "urbanism_decision",
        kind="accord",
        signed_on="2026-04-01",
    )

    assert (
        "SDIS, consulté le 5 mars 2026, peut encore rendre son avis jusqu'au 5 avril 2026" in error
    )


async def test_sursis_a_statuer_needs_reasons_and_states_l424_1(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, agent: Actor, deps: JobDeps
) -> None:
    case_id = await open_file(sessionmaker, engine, clock, agent)

    t = (
        await render(
            sessionmaker,
            deps,
            clock,
            case_id,
            "urbanism_decision",
            kind="sursis_a_statuer",
            reasons=["que le PLU en cours de révision classe le terrain en zone naturelle"],
            signed_on="2026-04-20",
        )
    ).text

    assert "Il est SURSIS À STATUER" in t
    assert "L424-1" in t


# ----- certificat de décision tacite (R424-13) ----------------------------------------------------------


async def test_tacit_certificate_states_the_day_the_permit_was_born_r424_13(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, agent: Actor, deps: JobDeps
) -> None:
    """PCMI filed 9 Dec 2025, deadline 9 Feb 2026, permit born 10 Feb 2026 (before today)."""
    case_id = await open_file(
        sessionmaker,
        engine,
        clock,
        agent,
        filed_on=date(2025, 12, 9),
        tl=timeline(
            "2026-02-09",
            "2026-02-10",
            "accord_tacite",
            legal_date("withdrawal_limit", "2026-05-10", reference="L424-5"),
            legal_date("validity_end", "2029-02-10", reference="R424-17"),
        ),
    )

    doc = await render(
        sessionmaker,
        deps,
        clock,
        case_id,
        "urbanism_tacit_certificate",
        signatory_name="Jean Dupont",
        signatory_title="Maire",
    )

    t = doc.text
    assert doc.document.title == "Certificat de décision tacite"
    assert "CERTIFICAT DE PERMIS TACITE" in t
    assert "R424-13" in t
    assert "n° PC 069 001 26 00012, déposée le 9 décembre 2025 par Mme Marie Durand" in t
    assert "qui expirait le 9 février 2026" in t
    assert "et qu'un permis tacite est né le 10 février 2026" in t
    assert "jusqu'au 10 mai 2026 (article L424-5)" in t
    assert "avant le 10 février 2029 (article R424-17)" in t
    assert "Jean Dupont" in t


async def test_no_tacit_certificate_before_the_tacit_date(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, agent: Actor, deps: JobDeps
) -> None:
    case_id = await open_file(sessionmaker, engine, clock, agent)

    error = await fails(sessionmaker, deps, clock, case_id, "urbanism_tacit_certificate")

    assert "Aucune décision tacite n'est née" in error
    assert "elle naîtra le 3 mai 2026" in error


async def test_no_tacit_certificate_when_a_decision_was_notified_in_time(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, agent: Actor, deps: JobDeps
) -> None:
    case_id = await open_file(
        sessionmaker,
        engine,
        clock,
        agent,
        filed_on=date(2025, 12, 9),
        tl=timeline("2026-02-09", "2026-02-10", "accord_tacite"),
        facts={
            "permit_type": "PCMI",
            "decision": {"kind": "refus", "signed_on": "2026-02-01", "notified_on": "2026-02-05"},
        },
    )

    error = await fails(sessionmaker, deps, clock, case_id, "urbanism_tacit_certificate")

    assert "Une décision expresse a été notifiée le 5 février 2026" in error


# ----- format and hostile text ----------------------------------------------------------------------


async def test_urbanism_documents_are_pdf_a_3b_in_french_and_escape_text(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, agent: Actor, deps: JobDeps
) -> None:
    case_id = await open_file(sessionmaker, engine, clock, agent)
    hostile = '<b>non</b> <link rel="stylesheet" href="http://evil.invalid/x.css"> « & »'

    doc = await render(
        sessionmaker,
        deps,
        clock,
        case_id,
        "urbanism_decision",
        kind="refus",
        reasons=[hostile],
        signed_on="2026-04-20",
    )

    reader = PdfReader(io.BytesIO(doc.pdf))
    xmp = reader.xmp_metadata
    assert xmp is not None and xmp.pdfaid_part == "3" and xmp.pdfaid_conformance == "B"
    root: Any = reader.trailer["/Root"]
    assert root["/Lang"] == "fr"
    assert hostile in doc.text
