"""The ARE of real cases: opened through intake, rendered by the outbox job, read from storage.

Each test opens a case through ``channels.intake.submit`` (as the API client of Commune A, or as
its counter agent), performs the ``document.render`` outbox row queued by the intake with the real
handlers and a real FileStorage, then reads the stored PDF's text with pypdf and checks one legal
mention. Dates are computed by hand: received Monday 2 March 2026 at 10:00 in Paris; 2 months
later is Saturday 2 May 2026.
"""

from __future__ import annotations

import base64
import http.server
import io
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2
import pytest
from arq import Retry
from pydantic import BaseModel, ConfigDict
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.intake import IntakeRequest, submit
from documents import render as render_module
from documents.jobs import JobDeps
from documents.models import StoredDocument
from documents.storage import FileStorage
from identity import service as ids
from identity.models import AccessToken, ApiClient, Tenant, TenantService
from services.kernel.actor import Actor
from services.kernel.clock import FrozenClock
from services.worker.outbox import perform
from services.worker.settings import all_handlers
from tests.conftest import Seed
from workflows.cases.models import Outbox
from workflows.engine.calendar import DelaySpec, DelayUnit
from workflows.engine.definitions import (
    DEFAULT_APPEAL_ROUTES,
    Acknowledgement,
    Definition,
    DocumentKind,
    Guard,
    SilenceRule,
    State,
    Transition,
)
from workflows.engine.runner import Engine

pytestmark = pytest.mark.integration

SM = async_sessionmaker[AsyncSession]
CRPA = "code des relations entre le public et l'administration"


class BurialPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    deceased: str


# Silence means rejection after 2 months (like the CGCT requests of décret 2015-1459's annex).
REJECTION = Definition(
    key="test.silence_rejection",
    version=1,
    title="Autorisation de test (silence vaut rejet)",
    states=(
        State(name="submitted", title="Déposée"),
        State(name="granted", title="Accordée", terminal=True),
        State(name="refused", title="Refusée", terminal=True),
    ),
    initial_state="submitted",
    transitions=(
        Transition(
            name="grant",
            title="Accorder",
            sources=("submitted",),
            target="granted",
            guard=Guard(roles=("instructor",)),
        ),
        Transition(
            name="refuse",
            title="Refuser",
            sources=("submitted",),
            target="refused",
            guard=Guard(roles=("instructor",), system=True),
        ),
    ),
    documents=(DocumentKind(kind="are", title="Accusé de réception"),),
    payload_schema=BurialPayload,
    public=True,
    acknowledgement=Acknowledgement(
        request_kind="demande",
        service_code="urbanisme",
        silence=SilenceRule.REJECTION,
        decision_delay=DelaySpec(amount=2, unit=DelayUnit.MONTHS),
        legal_basis="test : décret n° 2015-1459 du 10 novembre 2015, annexe",
    ),
    intake_roles=("counter_agent", "instructor"),
)

PERMIT_PAYLOAD = {"title": "Abri de jardin", "area_m2": 12}
GENERAL_PAYLOAD = {"subject": "Horaires de la déchetterie", "message": "Quels sont les horaires ?"}
SUBMITTER = {
    "given_name": "Alex",
    "family_name": "Dupont",
    "email": "alex@example.org",
    "postal_address": "5 chemin des Vignes, 69001 A",
}


# ----- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def storage(tmp_path: Path) -> FileStorage:
    return FileStorage(tmp_path / "documents")


@pytest.fixture
def deps(engine: Engine, storage: FileStorage, clock: FrozenClock) -> JobDeps:
    engine.load(REJECTION)
    return JobDeps(engine=engine, storage=storage, clock=clock)


@pytest.fixture
async def portal(sessionmaker: SM, seed: Seed, clock: FrozenClock) -> Actor:
    """Commune A's web portal (an API client): electronic submissions. Its bearer token is
    written directly (checking the client secret costs half a second of argon2)."""
    token = f"gch_test_{uuid.uuid4().hex}"
    async with sessionmaker() as s, s.begin():
        client = await s.scalar(select(ApiClient).where(ApiClient.client_id == seed.client_id))
        assert client is not None
        s.add(
            AccessToken(
                token_hash=ids.hash_token(token),
                api_client_id=client.id,
                issued_at=clock.now(),
                expires_at=clock.now() + timedelta(hours=1),
            )
        )
        await s.flush()
        return await ids.authenticate(s, token, now=clock.now())


@pytest.fixture
async def counter_agent(sessionmaker: SM, seed: Seed, clock: FrozenClock) -> Actor:
    async with sessionmaker() as s:
        return await ids.authenticate(s, seed.counter_token, now=clock.now())


@pytest.fixture
async def accueil(sessionmaker: SM, seed: Seed) -> dict[str, str]:
    """general.request is handled by the « accueil » service of Commune A (added if the seed
    lacks it): its coordinates as stored."""
    async with sessionmaker() as s, s.begin():
        existing = await s.scalar(
            select(TenantService).where(
                TenantService.tenant_id == seed.commune_id, TenantService.code == "accueil"
            )
        )
        if existing is None:
            commune = await s.get(Tenant, seed.commune_id)
            assert commune is not None
            await ids.add_tenant_service(
                s,
                commune,
                code="accueil",
                name="Accueil de la mairie",
                address="1 rue A",
                phone="04 00 00 00 10",
                email="accueil@a.invalid",
            )
        row = await s.scalar(
            select(TenantService).where(
                TenantService.tenant_id == seed.commune_id, TenantService.code == "accueil"
            )
        )
        assert row is not None
        return {"name": row.name, "phone": row.phone, "email": row.email}


# ----- helpers ------------------------------------------------------------------------------------


@dataclass
class Are:
    pdf: bytes
    text: str
    document: StoredDocument


async def open_case(
    sm: SM,
    engine: Engine,
    clock: FrozenClock,
    actor: Actor,
    *,
    procedure: str = "test.permit",
    payload: dict[str, Any] | None = None,
    channel: str = "web",
    **extra: Any,
) -> uuid.UUID:
    async with sm() as s, s.begin():
        result = await submit(
            s,
            engine,
            clock,
            IntakeRequest(
                tenant="69001",
                procedure_key=procedure,
                channel=channel,  # type: ignore[arg-type]
                submitter=SUBMITTER,
                payload=payload or PERMIT_PAYLOAD,
                actor=actor,
                **extra,
            ),
        )
        return result.case_id


async def are_row(sm: SM, case_id: uuid.UUID) -> Outbox:
    async with sm() as s:
        rows = list(
            await s.scalars(
                select(Outbox).where(Outbox.case_id == case_id, Outbox.kind == "document.render")
            )
        )
    [row] = [r for r in rows if r.payload["kind"] == "are"]
    return row


async def render_are(
    sm: SM, deps: JobDeps, case_id: uuid.UUID, params: dict[str, Any] | None = None
) -> Are:
    """Perform the ARE row queued by the intake (with ``params`` if given), read the PDF back."""
    row = await are_row(sm, case_id)
    if params is not None:
        async with sm() as s, s.begin():
            pending = await s.get(Outbox, row.id)
            assert pending is not None
            pending.payload = {**pending.payload, "params": params}
    assert await perform(sm, all_handlers(), deps, row.id) == "done"
    async with sm() as s:
        document = await s.scalar(
            select(StoredDocument).where(
                StoredDocument.case_id == case_id, StoredDocument.kind == "are"
            )
        )
    assert document is not None
    pdf = await deps.storage.get(document.storage_key, sha256=document.sha256)
    return Are(pdf=pdf, text=text_of(pdf), document=document)


def figures(pdf: bytes) -> list[str]:
    """Text alternatives of the images in the PDF's structure tree."""
    found: list[str] = []

    def walk(node: Any) -> None:
        node = node.get_object()
        if isinstance(node, dict):
            if node.get("/S") == "/Figure":
                found.append(str(node.get("/Alt")))
            if node.get("/K") is not None:
                walk(node["/K"])
        elif isinstance(node, list):
            for kid in node:
                walk(kid)

    walk(PdfReader(io.BytesIO(pdf)).trailer["/Root"]["/StructTreeRoot"]["/K"])
    return found


def text_of(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


@pytest.fixture
async def sva(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, portal: Actor, deps: JobDeps
) -> Are:
    """test.permit (silence means acceptance, 2 months), filed on the web portal on Monday
    2 March 2026 at 10:00; the ARE is issued the next day."""
    case_id = await open_case(sessionmaker, engine, clock, portal)
    clock.advance(timedelta(days=1))
    return await render_are(sessionmaker, deps, case_id)


@pytest.fixture
async def svr(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, portal: Actor, deps: JobDeps
) -> Are:
    case_id = await open_case(
        sessionmaker,
        engine,
        clock,
        portal,
        procedure=REJECTION.key,
        payload={"deceased": "Jean Martin"},
    )
    return await render_are(sessionmaker, deps, case_id)


@pytest.fixture
async def information(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    portal: Actor,
    deps: JobDeps,
    accueil: dict[str, str],
) -> Are:
    case_id = await open_case(
        sessionmaker, engine, clock, portal, procedure="general.request", payload=GENERAL_PAYLOAD
    )
    return await render_are(sessionmaker, deps, case_id)


# ----- the electronic ARE of a demande (silence means acceptance) ---------------------------------


async def test_title_reference_procedure_and_submitter(sva: Are) -> None:
    """L112-11 CRPA: an electronic submission gets an accusé de réception électronique that
    identifies the file: reference, procedure, submitter."""
    assert sva.document.title == "Accusé de réception électronique"
    assert "Accusé de réception électronique" in sva.text
    assert "Référence du dossier : 69001-2026-000001" in sva.text
    assert "Démarche : Permis de test" in sva.text
    assert "Demandeur : Alex Dupont" in sva.text


async def test_1_date_of_receipt(sva: Are) -> None:
    """R112-11-1 1° CRPA: the date of receipt of the electronic submission (Paris time)."""
    assert (
        "Votre demande a été reçue par voie électronique le 2 mars 2026 à 10 h 00 (heure de Paris)"
        in sva.text
    )


async def test_date_of_the_are_itself(sva: Are) -> None:
    """R112-11-2 CRPA: the ARE is dated (here issued the day after the receipt)."""
    assert "Date du présent accusé de réception : 3 mars 2026" in sva.text


async def test_2_service_in_charge_with_address_email_and_phone(sva: Are) -> None:
    """R112-11-1 2° CRPA: the service handling the file, its postal or e-mail address, its
    phone — from the tenant's service row."""
    assert "Service chargé de votre dossier" in sva.text
    assert "Service urbanisme — Commune A" in sva.text
    assert "Adresse postale : 1 rue A, 69001 A" in sva.text
    assert "Courriel : urba@a.invalid" in sva.text
    assert "Téléphone : 04 00 00 00 09" in sva.text


async def test_3_silence_means_acceptance_and_the_date(sva: Are) -> None:
    """R112-11-1 3° CRPA: a demande may give rise to an implicit acceptance, on 2 May 2026
    (received 2 March 2026 + 2 months) if the file is complete, with its legal basis."""
    assert "le silence gardé par l'administration vaut décision d'acceptation" in sva.text
    assert (
        "Si votre dossier est complet, et à défaut de réponse de l'administration dans un délai "
        "de 2 mois à compter de sa réception, votre demande sera réputée acceptée le 2 mai 2026."
        in sva.text
    )
    assert f"Fondement : test : article L231-1 du {CRPA}." in sva.text
    assert "réputée rejetée" not in sva.text


async def test_4_acceptance_attestation_of_l232_3(sva: Are) -> None:
    """R112-11-1 4° CRPA: if acceptance, the possibility of the L232-3 attestation."""
    assert (
        "vous pourrez obtenir, sur simple demande adressée au service mentionné ci-dessus, une "
        f"attestation de cette décision implicite d'acceptation (article L232-3 du {CRPA})"
        in sva.text
    )


async def test_incomplete_file_will_be_notified(sva: Are) -> None:
    """L114-5 CRPA: in every ARE, an incomplete file will be notified with the missing pieces and
    a deadline; for SVA the delay then runs from their receipt."""
    assert (
        "Si l'examen de votre dossier fait apparaître qu'il est incomplet, le service vous "
        "indiquera par écrit les pièces et informations manquantes ainsi que le délai fixé pour "
        f"les produire (article L114-5 du {CRPA}) ; le délai de décision implicite ne courra "
        "qu'à compter de leur réception." in sva.text
    )
    assert "Pièces et informations manquantes" not in sva.text


async def test_the_are_is_pdf_a_3b(sva: Are) -> None:
    """Archival: PDF/A-3b (XMP pdfaid:part=3, conformance B), tagged, in French."""
    reader = PdfReader(io.BytesIO(sva.pdf))
    xmp = reader.xmp_metadata
    assert xmp is not None
    assert xmp.pdfaid_part == "3"
    assert xmp.pdfaid_conformance == "B"
    catalog = reader.trailer["/Root"]
    assert catalog["/Lang"] == "fr"
    assert "/StructTreeRoot" in catalog
    assert "/OutputIntents" in catalog


# ----- silence means rejection ---------------------------------------------------------------------


async def test_3_silence_means_rejection_and_the_date(svr: Are) -> None:
    """R112-11-1 3° CRPA: implicit rejection on 2 May 2026 (2 March + 2 months), legal basis."""
    assert "le silence gardé par l'administration vaut décision de rejet" in svr.text
    assert "votre demande sera réputée rejetée le 2 mai 2026." in svr.text
    assert "Fondement : test : décret n° 2015-1459 du 10 novembre 2015, annexe." in svr.text
    assert "réputée acceptée" not in svr.text


async def test_5_rejection_appeal_deadlines_and_routes(svr: Are) -> None:
    """R112-11-1 5° CRPA: if rejection, the appeal deadlines and routes (from the definition)."""
    assert "Voies et délais de recours" in svr.text
    assert " ".join(DEFAULT_APPEAL_ROUTES.split()) in svr.text
    assert "L232-3" not in svr.text


async def test_2_service_of_the_rejection_procedure(svr: Are) -> None:
    """R112-11-1 2° CRPA."""
    assert "Téléphone : 04 00 00 00 09" in svr.text
    assert "Courriel : urba@a.invalid" in svr.text


# ----- information request -------------------------------------------------------------------------


async def test_information_request_gives_rise_to_no_implicit_decision(information: Are) -> None:
    """R112-11-1 3° CRPA applies to a demande only: an information request says that silence
    makes no decision, and gives neither date nor L232-3 nor appeal mention."""
    assert (
        "Votre demande d'information n'appelle pas de décision administrative : le silence gardé "
        "par l'administration ne fait naître aucune décision implicite, ni d'acceptation ni de "
        "rejet." in information.text
    )
    assert "réputée" not in information.text
    assert "L232-3" not in information.text


async def test_information_request_names_its_own_service(
    information: Are, accueil: dict[str, str]
) -> None:
    """R112-11-1 1° and 2° CRPA: date of receipt and the « accueil » service's coordinates."""
    assert "reçue par voie électronique le 2 mars 2026 à 10 h 00" in information.text
    assert "Démarche : Demande écrite au guichet" in information.text
    assert f"{accueil['name']} — Commune A" in information.text
    assert f"Téléphone : {accueil['phone']}" in information.text
    assert f"Courriel : {accueil['email']}" in information.text


# ----- missing pieces (L114-5) ---------------------------------------------------------------------


async def test_missing_pieces_sva_delay_starts_on_their_receipt(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, portal: Actor, deps: JobDeps
) -> None:
    """L114-5 CRPA: the ARE lists the missing pieces and the deadline; an SVA delay starts only
    when they are received."""
    case_id = await open_case(sessionmaker, engine, clock, portal)
    are = await render_are(
        sessionmaker,
        deps,
        case_id,
        {
            "missing_pieces": ["Plan de masse", "Notice descriptive"],
            "pieces_deadline": "2026-04-02",
        },
    )
    assert "Pièces et informations manquantes" in are.text
    assert (
        "veuillez transmettre au service mentionné ci-dessus, au plus tard le 2 avril 2026, les "
        "pièces et informations suivantes : Plan de masse Notice descriptive" in are.text
    )
    assert (
        f"Conformément à l'article L114-5 du {CRPA}, le délai de 2 mois au terme duquel votre "
        "demande sera réputée acceptée ne commence à courir qu'à compter de la réception de ces "
        "pièces et informations" in are.text
    )


async def test_missing_pieces_svr_delay_is_suspended(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, portal: Actor, deps: JobDeps
) -> None:
    """L114-5 CRPA: an SVR delay is suspended until the pieces arrive, at most until the
    deadline set."""
    case_id = await open_case(
        sessionmaker, engine, clock, portal, procedure=REJECTION.key, payload={"deceased": "X"}
    )
    are = await render_are(
        sessionmaker,
        deps,
        case_id,
        {"missing_pieces": ["Acte de décès"], "pieces_deadline": "2026-03-16"},
    )
    assert "au plus tard le 16 mars 2026" in are.text
    assert "Acte de décès" in are.text
    assert (
        "le délai au terme duquel votre demande sera réputée rejetée est suspendu jusqu'à la "
        "réception de ces pièces et informations, et au plus tard jusqu'au 16 mars 2026" in are.text
    )


# ----- paper world (R112-5) ------------------------------------------------------------------------


async def test_counter_request_received_earlier_gets_a_paper_acknowledgement(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, counter_agent: Actor, deps: JobDeps
) -> None:
    """R112-5 CRPA: a request filed on paper at the counter on Friday 27 February 2026 at 16:30
    and keyed in on Monday gets an « Accusé de réception » (not electronic) dated from the
    receipt: implicit acceptance on 27 April 2026 (27 February + 2 months)."""
    received = datetime(2026, 2, 27, 15, 30, tzinfo=UTC)  # 16:30 in Paris
    case_id = await open_case(
        sessionmaker,
        engine,
        clock,
        counter_agent,
        channel="counter",
        received_at=received,
        received_at_reason="dépôt papier au guichet le vendredi, saisi le lundi",
    )
    are = await render_are(sessionmaker, deps, case_id)

    assert are.document.title == "Accusé de réception"
    assert "Accusé de réception électronique" not in are.text
    assert f"Accusé de réception (articles L112-3 et R112-5 du {CRPA})" in are.text
    assert "reçue au guichet le 27 février 2026 à 16 h 30" in are.text
    assert "votre demande sera réputée acceptée le 27 avril 2026." in are.text
    assert "Date du présent accusé de réception : 2 mars 2026" in are.text


async def test_backdated_letter_sent_by_the_portal_is_a_paper_request(
    sessionmaker: SM, engine: Engine, clock: FrozenClock, portal: Actor, deps: JobDeps
) -> None:
    """R112-5 CRPA: a postal letter keyed in later through the API is not an electronic
    submission."""
    case_id = await open_case(
        sessionmaker,
        engine,
        clock,
        portal,
        received_at=datetime(2026, 2, 26, 8, 0, tzinfo=UTC),
        received_at_reason="courrier reçu le 26 février",
    )
    are = await render_are(sessionmaker, deps, case_id)
    assert are.document.title == "Accusé de réception"
    assert "reçue le 26 février 2026 à 9 h 00" in are.text
    assert "votre demande sera réputée acceptée le 26 avril 2026." in are.text


# ----- no network ----------------------------------------------------------------------------------


class _CountingHandler(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/css")
        self.end_headers()
        self.wfile.write(b"p { color: red; }")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[tuple[str, list[str]]]:
    hits: list[str] = []
    handler = type("Handler", (_CountingHandler,), {"hits": hits})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()
    thread.join()


async def test_only_the_data_uri_logo_is_loaded_never_the_network(
    sessionmaker: SM,
    engine: Engine,
    clock: FrozenClock,
    portal: Actor,
    deps: JobDeps,
    seed: Seed,
    http_server: tuple[str, list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fonts and images never come from the network: the tenant's data: logo is printed; a
    template pointing at an http:// stylesheet or image fails the job (retried, error recorded),
    and the server sees no request."""
    url, hits = http_server
    logo = (
        "data:image/svg+xml;base64,"
        + base64.b64encode(
            b'<svg xmlns="http://www.w3.org/2000/svg" width="50" height="30">'
            b'<rect width="50" height="30" fill="#000091"/></svg>'
        ).decode()
    )
    async with sessionmaker() as s, s.begin():
        commune = await s.get(Tenant, seed.commune_id)
        assert commune is not None
        commune.logo = logo
    first = await open_case(sessionmaker, engine, clock, portal)
    are = await render_are(sessionmaker, deps, first)
    assert figures(are.pdf) == ["Logo de Commune A"]  # the logo, with its text alternative

    evil = (
        '{% extends "_layout.html" %}{% block content %}'
        f'<link rel="stylesheet" href="{url}/style.css"><img src="{url}/tracker.png" alt="x">'
        "<p>{{ reference }}</p>{% endblock %}"
    )
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [
                jinja2.DictLoader({"are.html": evil}),
                jinja2.FileSystemLoader(render_module.TEMPLATES),
            ]
        ),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    monkeypatch.setattr(render_module, "_env", lambda: env)
    second = await open_case(
        sessionmaker, engine, clock, portal, external_ref="second", payload=PERMIT_PAYLOAD
    )
    row = await are_row(sessionmaker, second)
    with pytest.raises(Retry):
        await perform(sessionmaker, all_handlers(), deps, row.id)

    async with sessionmaker() as s:
        failed = await s.get(Outbox, row.id)
        assert failed is not None
        documents = list(
            await s.scalars(select(StoredDocument).where(StoredDocument.case_id == second))
        )
    assert failed.status != "done"
    assert failed.last_error is not None and "ressource externe refusée" in failed.last_error
    assert documents == []
    assert hits == []
