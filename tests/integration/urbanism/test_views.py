"""Read side of urbanism (issue 7 §5, §6): the files of a commune by legal date for the mayor's
office and the métropole's instructors, the near-tacit flag, the CSV export, the monthly
register, the per-case legal timeline and the applicant's own files — and who may see them.

Files are inserted directly (case + urbanism_file as the projector leaves them). The frozen clock
is Monday 2 March 2026.
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity import service as ids
from identity.models import Tenant
from services.kernel.actor import Role
from services.kernel.clock import FrozenClock
from tests.conftest import Seed
from tests.support.citizens import as_person
from tests.support.http import assert_problem
from tests.support.people import create_person, sign_in
from tests.support.urbanism_files import (
    incomplete_timeline,
    insert_file,
    running_timeline,
)

pytestmark = pytest.mark.integration

SM = async_sessionmaker[AsyncSession]
TODAY = date(2026, 3, 2)
A_FILES = "/api/v1/urbanisme/69001/dossiers"


async def agent_token(
    sm: SM, clock: FrozenClock, email: str, role: str, tenant_id: uuid.UUID
) -> str:
    async with sm() as s, s.begin():
        tenant = await s.get(Tenant, tenant_id)
        assert tenant is not None
        agent = await ids.create_agent(
            s, now=clock.now(), email=email, given_name="Cabinet", family_name="Maire", title="DGS"
        )
        await ids.grant_role(s, agent, role, tenant, now=clock.now())
        issued = await ids.issue_agent_token(s, agent, now=clock.now(), ttl=timedelta(days=2))
        return issued.access_token


async def three_files_of_a_one_of_b(sm: SM, seed: Seed) -> dict[str, uuid.UUID]:
    """A's files due 10 April, 10 March and without next date; B's file due 5 March."""
    late = await insert_file(
        sm,
        tenant_id=seed.commune_id,
        number="PC0690012600012",
        filed_on=date(2026, 1, 9),
        tacit_on=date(2026, 4, 10),
        next_legal_on=date(2026, 4, 9),
        next_legal_key="instruction_deadline",
        applicant_name="Élodie Fabre",
        address="12 chemin des Écoliers, 69001 A",
        parcels="AB 12, AB 13",
    )
    soon = await insert_file(
        sm,
        tenant_id=seed.commune_id,
        number="DP0690012600003",
        permit_type="DP",
        filed_on=date(2026, 2, 9),
        tacit_on=date(2026, 3, 10),
        next_legal_on=date(2026, 3, 9),
        next_legal_key="instruction_deadline",
        timeline=running_timeline(
            date(2026, 2, 9), date(2026, 3, 9), outcome="non_opposition_tacite"
        ),
        applicant_name="SCI Les Tilleuls",
        parcels="AC 7",
    )
    none = await insert_file(
        sm,
        tenant_id=seed.commune_id,
        number="PC0690012500044",
        filed_on=date(2025, 6, 2),
        state="granted",
        decided_on=date(2025, 8, 20),
        decision="accord",
    )
    b = await insert_file(
        sm,
        tenant_id=seed.other_commune_id,
        number="PC0690022600001",
        filed_on=date(2026, 2, 4),
        tacit_on=date(2026, 3, 6),
        next_legal_on=date(2026, 3, 5),
        next_legal_key="instruction_deadline",
        applicant_name="Bernard de B",
        address="1 rue de B",
    )
    return {"late": late.case_id, "soon": soon.case_id, "none": none.case_id, "b": b.case_id}


async def test_the_commune_list_is_ordered_by_next_legal_date_with_rule_and_reference(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM
) -> None:
    """The mayor's office sees its commune's files by legal date (issue 7 §5); each next date
    carries the rule and the legal reference that produced it (R423-23)."""
    files = await three_files_of_a_one_of_b(sessionmaker, seed)
    r = await app_client.get(A_FILES, headers=seed.auth(seed.instructor_token))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 3
    assert [i["case_id"] for i in body["items"]] == [
        str(files["soon"]),
        str(files["late"]),
        str(files["none"]),
    ]
    soon, late, done = body["items"]
    assert soon["numero"] == "DP 069 001 26 00003"
    assert late["numero"] == "PC 069 001 26 00012"
    assert late["numero_brut"] == "PC0690012600012"
    assert late["etat_libelle"] == "En cours d'instruction"
    assert done["etat_libelle"] == "Permis accordé"
    assert soon["type"] == "DP" and soon["type_libelle"] == "Déclaration préalable"
    assert late["prochaine_echeance"] == {
        "cle": "instruction_deadline",
        "date": "2026-04-09",
        "libelle": "Fin du délai d'instruction",
        "regle": "3 mois à compter du dépôt (date à date)",
        "reference": "R423-23 c du code de l'urbanisme",
    }
    assert late["date_tacite"] == "2026-04-10"
    assert late["issue_du_silence"] == "accord_tacite"
    assert soon["issue_du_silence_libelle"] == "Non-opposition tacite"
    assert done["prochaine_echeance"] is None and done["date_tacite"] is None
    assert late["demandeur"] == "Élodie Fabre"
    assert str(files["b"]) not in r.text


async def test_near_tacit_flag_uses_the_rule_set_threshold(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM
) -> None:
    """R424-1: the tacit decision is born the day after the instruction deadline. A file is
    flagged when it is born within 15 days (default) or the rule set's ``tacit_alert_days``;
    a decision born today can no longer be prevented and is not flagged."""
    cases: dict[str, tuple[date, dict[str, Any]]] = {
        "j15": (TODAY + timedelta(days=15), {}),
        "j16": (TODAY + timedelta(days=16), {}),
        "j16_30": (TODAY + timedelta(days=16), {"rule_set": {"tacit_alert_days": 30}}),
        "j1": (TODAY + timedelta(days=1), {}),
        "j0": (TODAY, {}),
        "bad_setting": (TODAY + timedelta(days=10), {"rule_set": {"tacit_alert_days": "x"}}),
    }
    ids_: dict[str, str] = {}
    for n, (name, (tacit, facts)) in enumerate(cases.items()):
        inserted = await insert_file(
            sessionmaker,
            tenant_id=seed.commune_id,
            number=f"PC06900126{n:05d}",
            filed_on=date(2026, 1, 2),
            tacit_on=tacit,
            next_legal_on=tacit - timedelta(days=1),
            next_legal_key="instruction_deadline",
            facts=facts,
        )
        ids_[str(inserted.case_id)] = name
    r = await app_client.get(A_FILES, headers=seed.auth(seed.instructor_token))
    assert r.status_code == 200, r.text
    flags = {ids_[i["case_id"]]: i["alerte_tacite"] for i in r.json()["items"]}
    assert flags == {
        "j15": True,
        "j16": False,
        "j16_30": True,
        "j1": True,
        "j0": False,
        "bad_setting": True,  # an unreadable setting falls back to 15 days
    }
    days = {ids_[i["case_id"]]: i["jours_avant_tacite"] for i in r.json()["items"]}
    assert days["j15"] == 15 and days["j0"] == 0


async def test_filters_type_state_text_and_due_date(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM
) -> None:
    files = await three_files_of_a_one_of_b(sessionmaker, seed)
    auth = seed.auth(seed.instructor_token)

    async def found(**params: str) -> list[str]:
        r = await app_client.get(A_FILES, params=params, headers=auth)
        assert r.status_code == 200, r.text
        return [i["case_id"] for i in r.json()["items"]]

    assert await found(type="DP") == [str(files["soon"])]
    assert await found(etat="granted") == [str(files["none"])]
    assert await found(q="élodie") == [str(files["late"])]
    assert await found(q="ÉCOLIERS") == [str(files["late"])]
    assert await found(q="AB 13") == [str(files["late"])]
    assert await found(q="AC 7") == [str(files["soon"])]
    # The number as displayed (with spaces) or as stored.
    assert await found(q="PC 069 001 26 00012") == [str(files["late"])]
    assert await found(q="dp0690012600003") == [str(files["soon"])]
    # LIKE wildcards are searched as text, not as patterns.
    assert await found(q="%") == []
    assert await found(q="_") == []
    assert await found(echeance_avant="2026-04-08") == [str(files["soon"])]
    assert await found(echeance_avant="2026-04-09") == [str(files["soon"]), str(files["late"])]
    r = await app_client.get(A_FILES, params={"limit": "1", "offset": "1"}, headers=auth)
    assert r.json()["total"] == 3 and [i["case_id"] for i in r.json()["items"]] == [
        str(files["late"])
    ]


@pytest.mark.parametrize(
    "params",
    [
        {"type": "XX"},
        {"type": "dp'; drop table case;--"},
        {"etat": "inconnu"},
        {"etat": "DROP"},
        {"q": "x" * 201},
        {"q": "nul\x00byte"},
        {"echeance_avant": "31/12/2026"},
        {"echeance_avant": "2026-02-30"},
        {"limit": "0"},
        {"limit": "100000"},
        {"offset": "-1"},
        {"limit": "abc"},
    ],
    ids=lambda p: repr(p)[:40],
)
async def test_bad_filters_are_400_in_french(
    seed: Seed, app_client: AsyncTestClient[Any], params: dict[str, str]
) -> None:
    """Malformed filters: 400 (request syntax) or 422 (an unknown state), in French."""
    r = await app_client.get(A_FILES, params=params, headers=seed.auth(seed.instructor_token))
    assert_problem(r, (400, 422))
    if not {"limit", "offset"} & set(params):  # the CSV export has no pagination
        r = await app_client.get(
            A_FILES + ".csv", params=params, headers=seed.auth(seed.instructor_token)
        )
        assert_problem(r, (400, 422))


async def test_csv_export_in_french_spreadsheet_format(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM
) -> None:
    await three_files_of_a_one_of_b(sessionmaker, seed)
    await insert_file(
        sessionmaker,
        tenant_id=seed.commune_id,
        number="PA0690012600001",
        permit_type="PA",
        filed_on=date(2026, 2, 1),
        applicant_name='=HYPERLINK("http://x")',
    )
    r = await app_client.get(A_FILES + ".csv", headers=seed.auth(seed.instructor_token))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert "dossiers-urbanisme-69001.csv" in r.headers["content-disposition"]
    raw = r.content
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    header = rows[0]
    assert header[:3] == ["Numéro", "Type", "Demandeur"]
    by_number = {row[0]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    assert set(by_number) == {
        "DP 069 001 26 00003",
        "PC 069 001 26 00012",
        "PC 069 001 25 00044",
        "PA 069 001 26 00001",
    }
    late = by_number["PC 069 001 26 00012"]
    assert late["Déposé le"] == "09/01/2026"
    assert late["Prochaine échéance"] == "09/04/2026"
    assert late["Date de la décision tacite"] == "10/04/2026"
    assert late["Référence légale"] == "R423-23 c du code de l'urbanisme"
    assert late["Demandeur"] == "Élodie Fabre"
    assert late["État"] == "En cours d'instruction"
    assert late["Alerte tacite"] == "non"
    assert by_number["DP 069 001 26 00003"]["Alerte tacite"] == "oui"
    # A formula is never run by the spreadsheet.
    assert by_number["PA 069 001 26 00001"]["Demandeur"].startswith("'=")


async def test_metropole_instructors_see_their_communes_and_communes_only_their_own(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    """Roles granted on the métropole cover its communes: the métropole's code lists all of
    them; a commune's agents (instructor or mayor's office) see only their commune."""
    files = await three_files_of_a_one_of_b(sessionmaker, seed)
    metro = seed.auth(seed.metropole_instructor_token)
    r = await app_client.get(A_FILES, headers=metro)
    assert r.status_code == 200 and r.json()["total"] == 3
    r = await app_client.get("/api/v1/urbanisme/69000/dossiers", headers=metro)
    assert r.status_code == 200, r.text
    listed = [i["case_id"] for i in r.json()["items"]]
    assert listed[0] == str(files["b"])  # 5 March, first of all the communes' files
    assert set(listed) == {str(v) for v in files.values()}

    mayor_a = await agent_token(
        sessionmaker, clock, "cabinet@a.invalid", Role.MAYOR_OFFICE, seed.commune_id
    )
    mayor_b = await agent_token(
        sessionmaker, clock, "cabinet@b.invalid", Role.MAYOR_OFFICE, seed.other_commune_id
    )
    r = await app_client.get(A_FILES, headers=seed.auth(mayor_a))
    assert r.status_code == 200 and r.json()["total"] == 3
    for token in (mayor_b, seed.other_instructor_token, seed.other_admin_token):
        for url in (
            A_FILES,
            A_FILES + ".csv",
            "/api/v1/urbanisme/69001/registre?mois=2026-02",
            "/api/v1/urbanisme/69001/registre.csv?mois=2026-02",
            "/api/v1/urbanisme/69000/dossiers",
        ):
            r = await app_client.get(url, headers=seed.auth(token))
            body = assert_problem(r, 404)
            assert "Élodie" not in r.text and "PC 069 001" not in r.text
            twin = await app_client.get(
                url.replace("69001", "69999").replace("69000", "69999"),
                headers=seed.auth(token),
            )
            assert assert_problem(twin, 404)["detail"] == body["detail"]
    # Commune A's own instructor has no role on the métropole: not its list.
    r = await app_client.get(
        "/api/v1/urbanisme/69000/dossiers", headers=seed.auth(seed.instructor_token)
    )
    assert_problem(r, 404)


async def test_roles_without_access_and_people_are_refused(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    checker = await agent_token(
        sessionmaker, clock, "verif@a.invalid", Role.IDENTITY_CHECKER, seed.commune_id
    )
    r = await app_client.get(A_FILES, headers=seed.auth(checker))
    assert_problem(r, 403)
    r = await app_client.get(A_FILES, headers=seed.auth(seed.roleless_token))
    assert_problem(r, 403)
    person = await sign_in(
        sessionmaker, await create_person(sessionmaker, now=clock.now()), now=clock.now()
    )
    r = await app_client.get(A_FILES, headers=as_person(person))
    assert_problem(r, 403)
    r = await app_client.get(A_FILES)
    assert r.status_code == 401
    r = await app_client.get(
        "/api/v1/urbanisme/6900x/dossiers", headers=seed.auth(seed.instructor_token)
    )
    assert_problem(r, (400, 404))


async def test_monthly_register_of_filings_and_decisions(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM
) -> None:
    """The register lists the files filed in the month and the decisions of the month: an
    explicit decision on its notification date (R424-10), a tacit one on the day it was born
    (R424-1) — with the decision kind."""
    filed_in = await insert_file(
        sessionmaker,
        tenant_id=seed.commune_id,
        number="PC0690012600020",
        filed_on=date(2026, 11, 30),
        applicant_name="Zoé Durand",
    )
    filed_first = await insert_file(
        sessionmaker,
        tenant_id=seed.commune_id,
        number="DP0690012600021",
        permit_type="DP",
        filed_on=date(2026, 11, 1),
    )
    explicit = await insert_file(
        sessionmaker,
        tenant_id=seed.commune_id,
        number="PC0690012600002",
        filed_on=date(2026, 8, 3),
        state="refused",
        decided_on=date(2026, 11, 4),
        decision="refus",
    )
    tacit = await insert_file(
        sessionmaker,
        tenant_id=seed.commune_id,
        number="DP0690012600009",
        permit_type="DP",
        filed_on=date(2026, 10, 15),
        state="tacit_granted",
        decided_on=date(2026, 11, 16),
        decision="non_opposition_tacite",
    )
    await insert_file(  # October and December: outside
        sessionmaker,
        tenant_id=seed.commune_id,
        number="PC0690012600030",
        filed_on=date(2026, 10, 31),
        decided_on=date(2026, 12, 1),
        decision="accord",
    )
    await insert_file(  # commune B: outside
        sessionmaker,
        tenant_id=seed.other_commune_id,
        number="PC0690022600020",
        filed_on=date(2026, 11, 10),
    )
    auth = seed.auth(seed.instructor_token)
    r = await app_client.get("/api/v1/urbanisme/69001/registre?mois=2026-11", headers=auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["mois"] == "2026-11"
    assert body["collectivite"] == {"insee": "69001", "nom": "Commune A"}
    assert [d["case_id"] for d in body["depots"]] == [
        str(filed_first.case_id),
        str(filed_in.case_id),
    ]
    assert [
        (d["case_id"], d["decision"], d["decision_libelle"], d["decide_le"], d["tacite"])
        for d in body["decisions"]
    ] == [
        (str(explicit.case_id), "refus", "Refus", "2026-11-04", False),
        (
            str(tacit.case_id),
            "non_opposition_tacite",
            "Non-opposition tacite",
            "2026-11-16",
            True,
        ),
    ]

    r = await app_client.get("/api/v1/urbanisme/69001/registre.csv?mois=2026-11", headers=auth)
    assert r.status_code == 200, r.text
    assert r.content.startswith(b"\xef\xbb\xbf")
    assert "registre-urbanisme-69001-2026-11.csv" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][0] == "Inscription"
    assert [(row[0], row[1]) for row in rows[1:]] == [
        ("Dépôt", "DP 069 001 26 00021"),
        ("Dépôt", "PC 069 001 26 00020"),
        ("Décision", "PC 069 001 26 00002"),
        ("Décision", "DP 069 001 26 00009"),
    ]
    assert rows[2][2:7] == [
        "Permis de construire",
        "Zoé Durand",
        "3 rue des Lilas, 69001 A",
        "AB 12",
        "30/11/2026",
    ]
    assert rows[3][7:9] == ["Refus", "04/11/2026"]

    # December 2026 → January 2027 boundary: the month ends on the 31st.
    r = await app_client.get("/api/v1/urbanisme/69001/registre?mois=2026-12", headers=auth)
    assert [d["numero"] for d in r.json()["decisions"]] == ["PC 069 001 26 00030"]


@pytest.mark.parametrize(
    "mois", ["2026-13", "2026-00", "26-11", "abcd-ef", "2026-1x", "", "0000-01"]
)
async def test_register_month_is_validated(
    seed: Seed, app_client: AsyncTestClient[Any], mois: str
) -> None:
    r = await app_client.get(
        "/api/v1/urbanisme/69001/registre",
        params={"mois": mois},
        headers=seed.auth(seed.instructor_token),
    )
    assert "AAAA-MM" in assert_problem(r, (400, 422))["detail"] or r.status_code == 400


async def test_register_month_is_required(seed: Seed, app_client: AsyncTestClient[Any]) -> None:
    r = await app_client.get(
        "/api/v1/urbanisme/69001/registre", headers=seed.auth(seed.instructor_token)
    )
    assert_problem(r, 400)


async def test_legal_timeline_for_agents_and_for_the_applicant(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    """Each date with its rule, legal reference and rule set (issue 7 §5); the findings are for
    the agents; the applicant sees the dates and what silence will produce."""
    now = clock.now()
    owner = await sign_in(sessionmaker, await create_person(sessionmaker, now=now), now=now)
    stranger = await sign_in(sessionmaker, await create_person(sessionmaker, now=now), now=now)
    finding = {
        "code": "late_majoration",
        "message": "Majoration notifiée après le premier mois : sans effet sur le délai.",
        "reference": "R423-42 du code de l'urbanisme",
    }
    inserted = await insert_file(
        sessionmaker,
        tenant_id=seed.commune_id,
        number="PC0690012600012M01",
        file_kind="modificatif",
        filed_on=date(2026, 1, 9),
        tacit_on=date(2026, 4, 10),
        next_legal_on=date(2026, 4, 9),
        next_legal_key="instruction_deadline",
        timeline=running_timeline(date(2026, 1, 9), date(2026, 4, 9), findings=[finding]),
        facts={"rule_set": {"key": "ads-2025-12-31"}},
        submitter_id=owner.person_id,
    )
    url = f"/api/v1/urbanisme/dossiers/{inserted.case_id}/chronologie"

    r = await app_client.get(url, headers=seed.auth(seed.instructor_token))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["numero"] == "PC 069 001 26 00012 M01"
    assert [(d["cle"], d["date"]) for d in body["dates"]] == [
        ("filed", "2026-01-09"),
        ("instruction_deadline", "2026-04-09"),
        ("tacit_decision", "2026-04-10"),
    ]
    tacit = body["dates"][2]
    assert tacit["libelle"] == "Naissance de la décision tacite"
    assert tacit["reference"] == "R424-1 du code de l'urbanisme"
    assert tacit["regle"] == "Lendemain de la fin du délai d'instruction"
    assert tacit["jeu_de_regles"] == "ads-2025-12-31"
    assert tacit["note"] == "note interne de l'instructeur"
    assert body["issue_du_silence"] == "accord_tacite"
    assert body["date_tacite"] == "2026-04-10"
    assert body["delai_instruction"] == "2026-04-09"
    assert body["constats"] == [finding]
    assert body["jeu_de_regles"] == "ads-2025-12-31"

    metro = await app_client.get(url, headers=seed.auth(seed.metropole_instructor_token))
    assert metro.status_code == 200

    r = await app_client.get(url, headers=as_person(owner))
    assert r.status_code == 200, r.text
    mine = r.json()
    assert [d["date"] for d in mine["dates"]] == ["2026-01-09", "2026-04-09", "2026-04-10"]
    assert mine["dates"][1]["reference"] == "R423-23 c du code de l'urbanisme"
    assert "constats" not in mine and "note interne" not in r.text
    assert mine["issue_du_silence_libelle"] == "Permis tacite"

    mayor_b = await agent_token(
        sessionmaker, clock, "cabinet@b.invalid", Role.MAYOR_OFFICE, seed.other_commune_id
    )
    unknown = f"/api/v1/urbanisme/dossiers/{uuid.uuid4()}/chronologie"
    for headers in (
        as_person(stranger),
        seed.auth(seed.other_instructor_token),
        seed.auth(mayor_b),
    ):
        r = await app_client.get(url, headers=headers)
        body = assert_problem(r, 404)
        assert "2026-04-10" not in r.text
        twin = await app_client.get(unknown, headers=headers)
        assert assert_problem(twin, 404)["detail"] == body["detail"]
    r = await app_client.get(
        "/api/v1/urbanisme/dossiers/not-a-uuid/chronologie",
        headers=seed.auth(seed.instructor_token),
    )
    assert r.status_code in (400, 404)


async def test_timeline_of_a_case_that_is_not_an_urbanism_file_is_404(
    seed: Seed, app_client: AsyncTestClient[Any]
) -> None:
    from tests.conftest import permit_request

    r = await app_client.post(
        "/api/v1/intake/",
        json=permit_request(),
        headers=seed.auth(seed.counter_token),
    )
    if r.status_code != 201:  # the generic intake of the test procedure
        pytest.fail(r.text)
    r = await app_client.get(
        f"/api/v1/urbanisme/dossiers/{r.json()['case_id']}/chronologie",
        headers=seed.auth(seed.instructor_token),
    )
    assert "urbanisme" in assert_problem(r, 404)["detail"]


async def test_the_applicant_sees_state_expected_date_and_missing_pieces(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    """Issue 7 §6: the state, the expected decision date (the tacit date, R424-1; suspended
    while pieces are awaited, R423-39) and what is missing, with the pieces' titles."""
    now = clock.now()
    owner = await sign_in(sessionmaker, await create_person(sessionmaker, now=now), now=now)
    other = await sign_in(sessionmaker, await create_person(sessionmaker, now=now), now=now)
    running = await insert_file(
        sessionmaker,
        tenant_id=seed.commune_id,
        number="PC0690012600004",
        permit_type="PCMI",
        filed_on=date(2026, 1, 20),
        tacit_on=date(2026, 3, 21),
        next_legal_on=date(2026, 3, 20),
        submitter_id=owner.person_id,
    )
    incomplete = await insert_file(
        sessionmaker,
        tenant_id=seed.other_commune_id,
        number="DP0690022600007",
        permit_type="DP",
        filed_on=date(2026, 2, 2),
        state="incomplete",
        timeline=incomplete_timeline(date(2026, 2, 2), date(2026, 2, 20), ["DP3", "ZZ9"]),
        next_legal_on=date(2026, 5, 22),
        submitter_id=owner.person_id,
    )
    await insert_file(
        sessionmaker,
        tenant_id=seed.commune_id,
        number="PC0690012600099",
        filed_on=date(2026, 2, 2),
        tacit_on=date(2026, 5, 3),
        submitter_id=other.person_id,
    )
    r = await app_client.get("/api/v1/urbanisme/mes-dossiers", headers=as_person(owner))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 2
    by_case = {i["case_id"]: i for i in body["items"]}
    assert set(by_case) == {str(running.case_id), str(incomplete.case_id)}
    waiting = by_case[str(incomplete.case_id)]
    assert waiting["decision_attendue"] == "suspendu : pièces demandées"
    assert waiting["date_decision_attendue"] is None
    assert waiting["etat_libelle"] == "Incomplet : pièces demandées"
    assert waiting["pieces_manquantes"] == [
        {"code": "DP3", "titre": "Plan en coupe du terrain et de la construction"},
        {"code": "ZZ9", "titre": "ZZ9"},
    ]
    assert waiting["date_limite_pieces"] == "2026-05-22"
    going = by_case[str(running.case_id)]
    assert going["date_decision_attendue"] == "2026-03-21"
    assert "20/03/2026" in going["decision_attendue"]
    assert "permis tacite le 21/03/2026" in going["decision_attendue"]
    assert going["pieces_manquantes"] == []
    assert going["etat_libelle"] == "En cours d'instruction"

    r = await app_client.get("/api/v1/urbanisme/mes-dossiers", headers=as_person(other))
    assert [i["numero"] for i in r.json()["items"]] == ["PC 069 001 26 00099"]
    r = await app_client.get(
        "/api/v1/urbanisme/mes-dossiers", headers=seed.auth(seed.instructor_token)
    )
    assert_problem(r, 403)
    r = await app_client.get(
        "/api/v1/urbanisme/mes-dossiers", params={"limit": "0"}, headers=as_person(owner)
    )
    assert_problem(r, 400)


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("PC0690012600012", "PC 069 001 26 00012"),
        ("DP0690012600003M01", "DP 069 001 26 00003 M01"),
        ("PC0690012600012T02", "PC 069 001 26 00012 T02"),
        ("PC02A0042600001", "PC 02A 004 26 00001"),
        ("PC06900126A0012", "PC 069 001 26 A0012"),  # older format with a service letter
        ("n° inconnu", "n° inconnu"),
        ("", ""),
    ],
)
def test_number_display_form(stored: str, shown: str) -> None:
    """A423-1 to A423-4: nature, département, commune, year, sequence."""
    from workflows.procedures.urbanism.views import display_number

    assert display_number(stored) == shown


async def test_a_malformed_timeline_is_shown_without_its_bad_entries(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM
) -> None:
    inserted = await insert_file(
        sessionmaker,
        tenant_id=seed.commune_id,
        number="PC0690012600077",
        filed_on=date(2026, 2, 2),
        tacit_on=date(2026, 5, 3),
        next_legal_on=date(2026, 5, 2),
        next_legal_key="instruction_deadline",
        timeline={
            "dates": [
                "garbage",
                {"key": "filed", "on": "pas une date"},
                {"key": "instruction_deadline", "on": "2026-05-02", "label": 12},
            ],
            "findings": [1, {"code": "x", "message": None}],
            "missing_pieces": "DP1",
            "tacit_outcome": 42,
        },
        facts={"rule_set": "ads"},
    )
    auth = seed.auth(seed.instructor_token)
    r = await app_client.get(A_FILES, headers=auth)
    assert r.status_code == 200, r.text
    (item,) = r.json()["items"]
    assert item["prochaine_echeance"]["date"] == "2026-05-02"
    assert item["prochaine_echeance"]["libelle"] == "instruction_deadline"
    assert item["issue_du_silence"] is None
    r = await app_client.get(
        f"/api/v1/urbanisme/dossiers/{inserted.case_id}/chronologie", headers=auth
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert [d["cle"] for d in body["dates"]] == ["instruction_deadline"]
    assert body["constats"] == [{"code": "x", "message": "", "reference": ""}]
    assert body["pieces_manquantes"] == []
