"""Whole cemetery flows over HTTP, as a town hall runs them.

The commune loads its existing registry (CSV import) and its voted tariffs, then: attributes a
concession (titre), renews an expired one inside the 2-year window (tariff of the term date, new
period from the old term, new titre), converts one (new tariff less the time left), authorises a
burial (R2213-33 window checked; outside it: 422) and an exhumation (refused for a relative who is
not the plus proche parent), and runs an abandon procedure to its end (notice, 1st PV, one year,
2nd PV, délibération, arrêté, remains to the ossuary, place free). Every document is rendered by
the outbox job (``tests.support.outbox.run_pending``, as the worker does), downloaded over HTTP and
read; legal timers fire through the deadline job as the clock moves.

The clock starts on Monday 2 March 2026, 10:00 in Paris.
"""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity import service as ids
from identity.models import Agent
from services.kernel.clock import FrozenClock
from tests.conftest import Seed
from tests.support.cemeteries import add_cemetery_service
from tests.support.http import assert_problem
from tests.support.outbox import run_pending
from workflows.cases.jobs import fire_due_deadlines
from workflows.engine.runner import Engine
from workflows.procedures.cemeteries._procedure_service import open_ex_officio
from workflows.procedures.cemeteries.models import CemeteryPlace, Concession, Deceased

pytestmark = pytest.mark.e2e

SM = async_sessionmaker[AsyncSession]
Client = AsyncTestClient[Any]
BASE = "/api/v1/cimetieres/69001"

COLUMNS = [
    "type",
    "cimetiere",
    "nom",
    "zone",
    "allee",
    "numero",
    "type_emplacement",
    "capacite",
    "surface_m2",
    "plan",
    "statut",
    "concession",
    "categorie",
    "duree",
    "date_acte",
    "prix",
    "reference_paiement",
    "role",
    "civilite",
    "prenoms",
    "adresse",
    "code_postal",
    "ville",
    "date_deces",
    "contenant",
    "date_inhumation",
]


def row(kind: str, **cells: str) -> str:
    assert not set(cells) - set(COLUMNS), set(cells) - set(COLUMNS)
    return ";".join([kind, *(cells.get(c, "") for c in COLUMNS[1:])])


def place(number: str, **cells: str) -> dict[str, str]:
    return {"cimetiere": "NORD", "zone": "A", "allee": "1", "numero": number, **cells}


REGISTRY = "\n".join(
    [
        ";".join(COLUMNS),
        row("cimetiere", cimetiere="NORD", nom="Cimetière du Nord"),
        *(
            row(
                "emplacement",
                **place(str(n)),
                type_emplacement="caveau",
                capacite="2",
                surface_m2="2,50",
                plan=f"A-1-{n}",
            )
            for n in range(1, 8)
        ),
        row(
            "emplacement",
            cimetiere="NORD",
            zone="OSS",
            allee="0",
            numero="1",
            type_emplacement="ossuaire",
        ),
        # expired on 10 June 2025: inside the renewal window
        row(
            "concession",
            **place("4"),
            concession="1995-00010",
            categorie="familiale",
            duree="30",
            date_acte="1995-06-10",
            statut="echue",
            prix="300",
            reference_paiement="R-1995",
        ),
        row("personne", concession="1995-00010", role="titulaire", nom="Leroy", prenoms="Anne"),
        # running 30 years since 2 March 2014 (paid 900 €): converted to 50 years
        row(
            "concession",
            **place("5"),
            concession="2014-00020",
            categorie="familiale",
            duree="30",
            date_acte="2014-03-02",
            statut="attribuee",
            prix="900",
            reference_paiement="R-2014",
        ),
        row("personne", concession="2014-00020", role="titulaire", nom="Petit", prenoms="Luc"),
        # perpetual since 1960, last burial 1975: abandoned
        row(
            "concession",
            **place("6"),
            concession="1960-00003",
            categorie="familiale",
            duree="perpetuelle",
            date_acte="1960-03-12",
            statut="attribuee",
        ),
        row(
            "personne",
            concession="1960-00003",
            role="titulaire",
            nom="Bernard",
            prenoms="Louis",
            adresse="4 rue Haute",
            code_postal="69001",
            ville="A",
        ),
        row(
            "defunt",
            **place("6"),
            concession="1960-00003",
            nom="Bernard",
            prenoms="Louis",
            date_deces="1975-08-28",
            contenant="cercueil",
            date_inhumation="1975-09-01",
        ),
        # the Durand family grave: one coffin in it
        row(
            "concession",
            **place("7"),
            concession="2010-00005",
            categorie="familiale",
            duree="50",
            date_acte="2010-01-04",
            statut="attribuee",
            prix="1500",
            reference_paiement="R-2010",
        ),
        row("personne", concession="2010-00005", role="titulaire", nom="Durand", prenoms="Marie"),
        row(
            "defunt",
            **place("7"),
            concession="2010-00005",
            civilite="M.",
            nom="Durand",
            prenoms="Louis",
            date_deces="2012-04-28",
            contenant="cercueil",
            date_inhumation="2012-05-03",
        ),
    ]
)
TARIFFS = [
    {
        "category": "family",
        "duration_kind": "30",
        "price": "800.00",
        "valid_from": "2020-01-01",
        "valid_to": "2025-12-31",
        "deliberation_ref": "DCM 2019-45",
    },
    {
        "category": "family",
        "duration_kind": "30",
        "price": "1000.00",
        "valid_from": "2026-01-01",
        "deliberation_ref": "DCM 2025-80",
    },
    {
        "category": "family",
        "duration_kind": "50",
        "price": "2000.00",
        "valid_from": "2020-01-01",
        "deliberation_ref": "DCM 2019-46",
    },
]
SUBMITTER = {
    "given_name": "Marie",
    "family_name": "Durand",
    "email": "marie.durand@example.org",
    "postal_address": "3 rue des Lilas, 69001 A",
}


class Town:
    """The town hall's agent at work over HTTP."""

    def __init__(self, client: Client, seed: Seed, sm: SM, engine: Engine, clock: FrozenClock):
        self.client, self.seed, self.sm, self.engine, self.clock = client, seed, sm, engine, clock
        self.headers = seed.auth(seed.instructor_token)

    async def file(self, procedure: str, payload: dict[str, Any]) -> str:
        r = await self.client.post(
            "/api/v1/intake/",
            json={
                "tenant": "69001",
                "procedure": procedure,
                "submitter": SUBMITTER,
                "payload": payload,
            },
            headers=self.headers,
        )
        assert r.status_code == 201, r.text
        return str(r.json()["case_id"])

    async def go(self, case_id: str, transition: str, payload: dict[str, Any] | None = None) -> Any:
        return await self.client.post(
            f"/api/v1/cases/{case_id}/transitions/{transition}",
            json={"payload": payload} if payload else {},
            headers=self.headers,
        )

    async def step(
        self, case_id: str, transition: str, payload: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        r = await self.go(case_id, transition, payload)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    async def documents(self, case_id: str) -> dict[str, list[str]]:
        """Render what is pending (as the worker), then list the case's documents over HTTP and
        download each: kind → texts, in order."""
        statuses = await run_pending(self.sm, self.engine, self.clock, kinds=["document.render"])
        assert all(s == "done" for s in statuses), statuses
        r = await self.client.get(f"/api/v1/cases/{case_id}/documents", headers=self.headers)
        assert r.status_code == 200, r.text
        found: dict[str, list[str]] = {}
        for d in sorted(r.json(), key=lambda d: d["seq"]):
            pdf = await self.client.get(d["download_url"], headers=self.headers)
            assert pdf.status_code == 200, pdf.text
            reader = PdfReader(io.BytesIO(pdf.content))
            text = " ".join(" ".join(p.extract_text() for p in reader.pages).split())
            found.setdefault(d["kind"], []).append(text)
        return found

    async def later(self, days: int) -> None:
        """Time passes; legal timers that fall due fire."""
        self.clock.advance(timedelta(days=days))
        await fire_due_deadlines(self.sm, self.engine, self.clock, batch=100)
        async with self.sm() as s, s.begin():  # the agent's year-long token is renewed
            agent = await s.get(Agent, self.seed.instructor_id)
            assert agent is not None
            token = await ids.issue_agent_token(
                s, agent, now=self.clock.now(), ttl=timedelta(days=30)
            )
        self.headers = self.seed.auth(token.access_token)

    async def place_id(self, number: str, zone: str = "A") -> str:
        async with self.sm() as s:
            found = await s.scalar(
                select(CemeteryPlace.id).where(
                    CemeteryPlace.tenant_id == self.seed.commune_id,
                    CemeteryPlace.plan_ref == f"{zone}-1-{number}",
                )
            )
        assert found is not None
        return str(found)

    async def concession(self, number: str) -> dict[str, Any]:
        r = await self.client.get(
            f"{BASE}/concessions", params={"numero": number}, headers=self.headers
        )
        assert r.status_code == 200, r.text
        items = r.json()
        items = items.get("items", items) if isinstance(items, dict) else items
        [found] = [c for c in items if c["number"] == number]
        return dict(found)


@pytest.fixture
async def town(
    app_client: Client, seed: Seed, sessionmaker: SM, engine: Engine, clock: FrozenClock
) -> Town:
    """Commune A has a cemetery service, its registry imported from CSV and its tariffs."""
    await add_cemetery_service(sessionmaker, "69001")
    t = Town(app_client, seed, sessionmaker, engine, clock)
    r = await app_client.post(
        f"{BASE}/registre/import", content=REGISTRY.encode(), headers=t.headers
    )
    assert r.status_code == 200, r.text
    for tariff in TARIFFS:
        r = await app_client.post(f"{BASE}/tarifs", json=tariff, headers=t.headers)
        assert r.status_code == 201, r.text
    return t


REQUESTER = {"capacity": "concessionnaire"}


async def test_attribution_gives_a_titre_at_todays_tariff(town: Town) -> None:
    """L2223-13: the maire chooses the place, the payment is recorded, the titre is signed and
    produced: 30 years from the signature (2 March 2026 → 2 March 2056) at 1 000 €."""
    case_id = await town.file(
        "cemeteries.concession",
        {"requester": REQUESTER, "category": "family", "duration_kind": "30"},
    )
    await town.step(case_id, "take")
    await town.step(case_id, "choose_place", {"place_id": await town.place_id("1")})
    r = await town.go(case_id, "record_payment", {"payment_ref": "Q-1", "amount": "800.00"})
    assert_problem(r, 422)  # not the tariff in force
    await town.step(case_id, "record_payment", {"payment_ref": "Q-2026-0042", "amount": "1000.00"})
    body = await town.step(case_id, "sign_title")
    assert body["state"] == "granted"

    [title] = (await town.documents(case_id))["concession_title"]

    assert "Attribution d'une concession funéraire" in title
    assert "Cimetière : Cimetière du Nord" in title and "Référence au plan : A-1-1" in title
    assert "Concessionnaire : Marie DURAND" in title
    assert "Date de début : 2 mars 2026" in title
    assert "Date d'échéance : 2 mars 2056" in title
    assert "Prix payé : 1 000,00 €" in title
    assert "Titre de recette ou quittance : n° Q-2026-0042" in title


async def test_renewal_in_the_window_at_the_term_date_tariff(town: Town) -> None:
    """L2223-15, CE 21 May 2007 n°281615: concession 1995-00010 ended on 10 June 2025; renewed
    in March 2026 (inside two years): 10 June 2025 → 10 June 2055, at 800 € (the tariff on
    10 June 2025), not 1 000 € (today's); a new titre."""
    old = await town.concession("1995-00010")
    case_id = await town.file(
        "cemeteries.renewal",
        {"requester": REQUESTER, "concession_id": old["id"], "duration_kind": "30"},
    )
    await town.step(case_id, "take")
    await town.step(case_id, "accept")
    r = await town.go(case_id, "record_payment", {"payment_ref": "Q-X", "amount": "1000.00"})
    assert_problem(r, 422)
    await town.step(case_id, "record_payment", {"payment_ref": "Q-2026-0050", "amount": "800.00"})
    await town.step(case_id, "sign_title")

    [title] = (await town.documents(case_id))["concession_title"]

    assert (
        "Renouvellement de la concession n° 1995-00010, à compter de son échéance du 10 juin 2025"
        in title
    )
    assert "Date de début : 10 juin 2025" in title
    assert "Date d'échéance : 10 juin 2055" in title
    assert "Prix payé : 800,00 €" in title
    assert "(DCM 2019-45)" in title
    assert "Concessionnaire : Anne LEROY" in title
    assert (await town.concession("1995-00010"))["status"] == "renouvelee"


async def test_conversion_pays_the_new_tariff_less_the_time_left(town: Town) -> None:
    """L2223-16: 2014-00020 (30 years from 2 March 2014, 900 €) converted on 2 March 2026 to 50
    years: 18 of 30 years left = 540 € off the 2 000 € tariff → 1 460 €; 2 March 2026 → 2076."""
    old = await town.concession("2014-00020")
    case_id = await town.file(
        "cemeteries.conversion",
        {"requester": REQUESTER, "concession_id": old["id"], "duration_kind": "50"},
    )
    await town.step(case_id, "take")
    await town.step(case_id, "accept")
    await town.step(case_id, "record_payment", {"payment_ref": "Q-2026-0051", "amount": "1460.00"})
    await town.step(case_id, "sign_title")

    [title] = (await town.documents(case_id))["concession_title"]

    assert (
        "Conversion de la concession n° 2014-00020 (trentenaire (30 ans)) en concession cinquantenaire (50 ans)"
        in title
    )
    assert (
        "Déduction de la valeur de la période restant à courir (60 % de 900,00 €) : 540,00 €"
        in title
    )
    assert "Prix payé : 1 460,00 €" in title
    assert "Date de début : 2 mars 2026" in title and "Date d'échéance : 2 mars 2076" in title


def burial(concession_id: str, planned_at: str) -> dict[str, Any]:
    return {
        "requester": {"capacity": "organisateur_obseques", "relationship": "spouse"},
        "deceased": {
            "title": "Mme",
            "family_name": "Durand",
            "given_names": "Louise",
            "death_at": "2026-02-27T23:00:00+01:00",
            "death_place": "A",
            "container": "coffin",
            "coffin_closing_ref": "FC-2026-017",
            "relationship_to_holder": "spouse",
        },
        "planned_at": planned_at,
        "concession_id": concession_id,
    }


async def test_burial_authorised_inside_the_r2213_33_window_refused_outside(town: Town) -> None:
    """R2213-33: death on 27 February 2026 at 23:00 → burial by Friday 13 March 2026. Planned on
    20 March: 422 with the article; planned on 4 March: authorised, the autorisation d'inhumer
    states the window."""
    concession = await town.concession("2010-00005")
    late = await town.file(
        "cemeteries.inhumation", burial(concession["id"], "2026-03-20T10:00:00+01:00")
    )
    await town.step(late, "take")
    problem = assert_problem(await town.go(late, "authorise"), 422)
    assert "R2213-33" in problem["detail"]

    case_id = await town.file(
        "cemeteries.inhumation", burial(concession["id"], "2026-03-04T14:30:00+01:00")
    )
    await town.step(case_id, "take")
    await town.step(case_id, "authorise")

    [doc] = (await town.documents(case_id))["burial_authorisation"]

    assert "est autorisée le 4 mars 2026 à 14 h 30 au Cimetière du Nord" in doc
    assert (
        "inhumation possible à partir du 28 février 2026 à 23 h 00 et au plus tard le 13 mars 2026"
        in doc
    )
    assert "(article R2213-31" in doc
    assert "Autorisation de fermeture du cercueil n° FC-2026-017" in doc


async def test_exhumation_refused_to_a_relative_who_is_not_the_closest(town: Town) -> None:
    """R2213-40: a nephew, while a child of the deceased lives, is not the plus proche parent:
    refused (422); the child's request is authorised with date, hour, destination, presence."""
    async with town.sm() as s:
        louis = await s.scalar(
            select(Deceased.id).where(
                Deceased.given_names == "Louis", Deceased.family_name == "Durand"
            )
        )
    request = {
        "requester": {"capacity": "plus_proche_parent", "relationship": "child"},
        "deceased_id": str(louis),
        "reason": "Transfert au caveau familial",
        "destination": "ossuary",
        "requester_relationship": "child",
        "living_relatives": ["child"],
        "sworn_statement": True,
        "attending_relative": "Marie Durand",
        "planned_at": "2026-03-20T08:00:00+01:00",
    }
    nephew = await town.file(
        "cemeteries.exhumation",
        {
            **request,
            "requester": {"capacity": "ayant_droit", "relationship": "nephew_niece"},
            "requester_relationship": "nephew_niece",
        },
    )
    await town.step(nephew, "take")
    problem = assert_problem(await town.go(nephew, "authorise"), 422)
    assert "R2213-40" in problem["detail"]

    case_id = await town.file("cemeteries.exhumation", request)
    await town.step(case_id, "take")
    await town.step(case_id, "authorise")

    [doc] = (await town.documents(case_id))["exhumation_authorisation"]

    assert "est autorisée le 20 mars 2026 à 8 h 00" in doc
    assert "Qualité : plus proche parent du défunt (enfant)" in doc
    assert "Destination des restes : dépôt à l'ossuaire communal" in doc
    assert "en présence de Marie Durand" in doc


async def test_abandon_procedure_to_its_end(town: Town) -> None:
    """L2223-17, R2223-12 to R2223-23 (loi 3DS): 1960-00003 (perpetual, last burial 1975).
    Notice on 2 March 2026 for a finding on 2 April 2026 (one month, R2223-13); 1st PV; one year
    of publicity; 2nd PV on 6 April 2027; one month; délibération on 10 May 2027; arrêté
    published on 11 May 2027; removal possible 30 days later (10 June 2027); remains to the
    ossuary, place free."""
    concession = await town.concession("1960-00003")
    async with town.sm() as s, s.begin():
        agent = await ids.authenticate(s, town.seed.instructor_token, now=town.clock.now())
        case = await open_ex_officio(
            s,
            town.engine,
            town.clock,
            tenant_id=town.seed.commune_id,
            procedure_key="cemeteries.abandon",
            payload={"concession_id": concession["id"]},
            actor=agent,
        )
    case_id = str(case.id)
    await town.step(
        case_id,
        "schedule_finding",
        {"notice_sent_on": "2026-03-02", "finding_on": "2026-04-02", "method": "lrar"},
    )
    await town.later(31)  # 2 April 2026
    finding = {
        "description": "Monument délabré, envahi par les ronces.",
        "present": ["Jean Petit, policier municipal"],
    }
    await town.step(case_id, "record_first_pv", {"finding_on": "2026-04-02", **finding})
    await town.later(200)
    r = await town.go(case_id, "record_second_pv", {"finding_on": "2026-10-19", **finding})
    assert_problem(r, 422)  # before the year of L2223-17
    await town.later(169)  # 6 April 2027: the publicity timer has fired
    body = await town.step(case_id, "record_second_pv", {"finding_on": "2027-04-06", **finding})
    assert body["state"] == "second_pv"
    await town.later(34)  # 10 May 2027
    await town.step(
        case_id,
        "record_deliberation",
        {"deliberation_on": "2027-05-10", "reference": "DCM 2027-21"},
    )
    await town.later(1)
    await town.step(
        case_id, "order_reprise", {"published_on": "2027-05-11", "reference": "ARR-2027-08"}
    )
    r = await town.go(case_id, "execute_reprise", {"executed_on": "2027-05-11"})
    assert_problem(r, 422)  # before the 30 days of R2223-20
    await town.later(30)  # 10 June 2027
    body = await town.step(case_id, "execute_reprise", {"executed_on": "2027-06-10"})
    assert body["state"] == "completed"

    docs = await town.documents(case_id)
    first, second = docs["abandonment_report"]
    [order] = docs["reprise_order"]

    assert "Premier constat — concession n° 1960-00003" in first
    assert "Le 2 avril 2026" in first and "avisés le 2 mars 2026 par lettre recommandée" in first
    assert "Date de l'acte de concession : 12 mars 1960" in first
    assert "Second constat — concession n° 1960-00003" in second and "Le 6 avril 2027" in second
    assert "Vu le procès-verbal du 2 avril 2026 constatant l'état d'abandon" in order
    assert "Vu le procès-verbal du 6 avril 2027" in order
    assert "Vu la délibération n° DCM 2027-21 du conseil municipal du 10 mai 2027" in order
    assert "le 11 mai 2027. Il est exécutoire" in order
    assert "soit à partir du 10 juin 2027" in order

    after = await town.concession("1960-00003")
    assert after["status"] == "reprise"
    r = await town.client.get(
        f"{BASE}/emplacements/{await town.place_id('6')}", headers=town.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "libre"
    async with town.sm() as s:
        bernard = await s.scalar(select(Deceased).where(Deceased.family_name == "Bernard"))
        ossuary = await s.scalar(
            select(CemeteryPlace).where(CemeteryPlace.place_type == "ossuaire")
        )
        assert bernard is not None and ossuary is not None
        assert bernard.place_id == ossuary.id and bernard.status == "in_ossuary"
        assert (
            await s.scalar(select(Concession.status).where(Concession.number == "1960-00003"))
            == "reprise"
        )
