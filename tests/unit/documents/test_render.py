"""Document kinds, their contexts and the PDF rendering (real weasyprint, no database).

The context builders run against a fake session (the tenant and its service in memory); the PDFs
are real, and read back with pypdf the way a person would read them: text, title, metadata.
"""

from __future__ import annotations

import base64
import io
import uuid
from datetime import UTC, date, datetime
from typing import Any

import jinja2
import pytest
from pypdf import PdfReader

from documents import render as render_module
from documents.contexts import (
    CONTEXTS,
    build_context,
    french_date,
    french_datetime,
    is_paper_request,
)
from documents.render import render, render_html
from identity.models import Tenant, TenantService
from tests.support.procedures import DEFINITION as PERMIT
from workflows.cases.models import Case
from workflows.engine.calendar import DelaySpec, DelayUnit
from workflows.engine.definitions import Acknowledgement, Definition, SilenceRule
from workflows.procedures.general import DEFINITION as GENERAL

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # Monday 2 March 2026, 10:00 in Paris
REFERENCE = "69001-2026-000042"
LOGO = (
    "data:image/svg+xml;base64,"
    + base64.b64encode(
        b'<svg xmlns="http://www.w3.org/2000/svg" width="60" height="40">'
        b'<rect width="60" height="40" fill="#003189"/></svg>'
    ).decode()
)

REJECTION = PERMIT.model_copy(
    update={
        "key": "test.rejection",
        "title": "Autorisation de test",
        "acknowledgement": Acknowledgement(
            request_kind="demande",
            service_code="urbanisme",
            silence=SilenceRule.REJECTION,
            decision_delay=DelaySpec(amount=2, unit=DelayUnit.MONTHS),
            legal_basis="test : décret n° 2015-1459, annexe",
        ),
    }
)


class FakeSession:
    """What the context builders ask of a session: the tenant, and its service in charge."""

    def __init__(self, tenant: Tenant, service: TenantService | None) -> None:
        self.tenant = tenant
        self.service = service

    async def get(self, model: type[Any], ident: Any) -> Any:
        assert model is Tenant and ident == self.tenant.id
        return self.tenant

    async def scalar(self, stmt: Any) -> Any:
        return self.service


def tenant(**overrides: Any) -> Tenant:
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "insee_code": "69123",
        "slug": "lyon",
        "name": "Ville de Lyon",
        "kind": "commune",
        "address": "1 place de la Comédie",
        "postal_code": "69001",
        "city": "Lyon",
        "phone": "04 72 10 30 30",
        "email": "mairie@lyon.invalid",
        "alsace_moselle": False,
        "logo": LOGO,
        "created_at": T0,
    }
    values.update(overrides)
    return Tenant(**values)


def service(owner: Tenant, code: str = "urbanisme") -> TenantService:
    return TenantService(
        id=uuid.uuid4(),
        tenant_id=owner.id,
        code=code,
        name="Service de l'urbanisme",
        address="198 avenue Jean Jaurès",
        phone="04 72 10 30 99",
        email="urbanisme@lyon.invalid",
        opening_hours="du lundi au vendredi, de 8 h 30 à 16 h 45",
    )


def case(owner: Tenant, definition: Definition, **overrides: Any) -> Case:
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "tenant_id": owner.id,
        "procedure_key": definition.key,
        "definition_version": definition.version,
        "reference": REFERENCE,
        "state": definition.initial_state,
        "channel": "web",
        "submitter": {
            "kind": "person",
            "given_name": "Camille",
            "family_name": "Martin",
            "email": "camille@example.org",
            "postal_address": "3 rue des Lilas, 69003 Lyon",
        },
        "received_at": T0,
        "registered_at": T0,
        "payload": {},
        "calendar_options": {"alsace_moselle": False, "timezone": "Europe/Paris"},
        "version": 1,
        "updated_at": T0,
    }
    values.update(overrides)
    return Case(**values)


async def context_for(
    kind: str,
    definition: Definition = PERMIT,
    params: dict[str, Any] | None = None,
    *,
    now: datetime = T0,
    owner: Tenant | None = None,
    with_service: bool = True,
    **case_overrides: Any,
) -> dict[str, Any]:
    owner = owner or tenant()
    code = definition.acknowledgement.service_code if definition.acknowledgement else "x"
    session = FakeSession(owner, service(owner, code) if with_service else None)
    return await build_context(
        kind,
        session,  # type: ignore[arg-type]
        case(owner, definition, **case_overrides),
        definition,
        params or {},
        now,
    )


def read(pdf: bytes) -> PdfReader:
    assert pdf.startswith(b"%PDF-")
    return PdfReader(io.BytesIO(pdf))


def text_of(pdf: bytes) -> str:
    """The words of the PDF, in reading order, whitespace collapsed (lines wrap anywhere)."""
    return " ".join(" ".join(page.extract_text() for page in read(pdf).pages).split())


LETTER_PARAMS: dict[str, Any] = {
    "agent_name": "Claire Dubois",
    "agent_title": "Instructrice des autorisations d'urbanisme",
    "service": "Service de l'urbanisme",
    "subject": "Votre demande de permis de test",
    "body": [
        "Madame, Monsieur,",
        "Nous avons bien reçu votre demande et l'instruisons.",
        "Veuillez agréer l'expression de nos salutations distinguées.",
    ],
}
DECISION_PARAMS: dict[str, Any] = {
    "number": "2026-URB-017",
    "subject": "portant accord du permis de test",
    "visas": [
        "le code général des collectivités territoriales",
        "Vu le code de l'urbanisme",
        "la demande déposée le 2 mars 2026",
    ],
    "articles": [
        "Le permis de test est accordé.",
        "Le présent arrêté sera notifié au demandeur.",
    ],
    "signatory_name": "Jean Dupuis",
    "signatory_title": "Adjoint au maire délégué à l'urbanisme",
}


# ----- French dates -------------------------------------------------------------------------------


def test_dates_are_written_in_french_in_paris_time() -> None:
    assert french_date(date(2026, 3, 2)) == "2 mars 2026"
    assert french_date(date(2026, 5, 1)) == "1er mai 2026"
    assert french_date(date(2026, 8, 15)) == "15 août 2026"
    assert french_datetime(T0) == "2 mars 2026 à 10 h 00"
    # Summer time: UTC+2.
    assert french_datetime(datetime(2026, 7, 1, 7, 5, tzinfo=UTC)) == "1er juillet 2026 à 9 h 05"
    # Late evening in UTC is already the next day in Paris.
    assert french_datetime(datetime(2026, 3, 28, 23, 30, tzinfo=UTC)) == "29 mars 2026 à 0 h 30"


# ----- every kind renders -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "definition", "params", "expected"),
    [
        ("aee", PERMIT, {}, "Accusé d'enregistrement électronique"),
        ("are", PERMIT, {}, "Accusé de réception électronique"),
        ("letter", GENERAL, LETTER_PARAMS, "Objet : Votre demande de permis de test"),
        ("decision", PERMIT, DECISION_PARAMS, "ARRÊTE"),
        ("recepisse", PERMIT, {}, "Récépissé de dépôt"),  # no template of its own: generic.html
    ],
)
async def test_each_kind_renders_a_tagged_pdf_a_3b(
    kind: str, definition: Definition, params: dict[str, Any], expected: str
) -> None:
    pdf = render(kind, await context_for(kind, definition, params))

    reader = read(pdf)
    text = text_of(pdf)
    assert expected in text
    assert REFERENCE in text
    xmp = reader.xmp_metadata
    assert xmp is not None
    assert (xmp.pdfaid_part, xmp.pdfaid_conformance) == ("3", "B")
    catalog = reader.trailer["/Root"]
    assert catalog["/Lang"] == "fr"
    assert "/StructTreeRoot" in catalog  # tagged: headings, paragraphs, lists for screen readers
    assert bool(catalog["/MarkInfo"]["/Marked"])
    assert reader.metadata is not None
    assert reader.metadata.title is not None and REFERENCE in reader.metadata.title


def test_every_kind_with_a_template_has_a_context_builder() -> None:
    paths = [
        *render_module.TEMPLATES.glob("*.html"),
        *(
            p
            for family in render_module.TEMPLATE_FAMILIES
            for p in (render_module.TEMPLATES / family).glob("*.html")
        ),
    ]
    templates = {p.stem for p in paths if not p.stem.startswith("_") and p.stem != "generic"}
    assert templates == set(CONTEXTS)


async def test_the_letterhead_shows_the_tenant_its_logo_and_the_footer_the_reference() -> None:
    pdf = render("aee", await context_for("aee"))

    reader = read(pdf)
    text = text_of(pdf)
    assert "Ville de Lyon" in text
    assert "1 place de la Comédie 69001 Lyon" in text
    assert "Tél. 04 72 10 30 30" in text
    assert f"Dossier n° {REFERENCE}" in text  # page footer
    assert "Page 1 / 1" in text
    figures = _struct_elements(reader, "/Figure")
    assert [f.get("/Alt") for f in figures] == ["Logo de Ville de Lyon"]
    page = reader.pages[0]
    assert round(float(page.mediabox.width)) == 595  # A4 in points
    assert round(float(page.mediabox.height)) == 842


async def test_a_logo_that_is_not_a_data_uri_is_left_out_not_fetched() -> None:
    owner = tenant(logo="https://cdn.example.org/logo.png")
    pdf = render("aee", await context_for("aee", owner=owner))

    assert _struct_elements(read(pdf), "/Figure") == []
    assert "Ville de Lyon" in text_of(pdf)


def test_a_template_referencing_the_network_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only data: URIs are served: a stylesheet or an image on the network stops the rendering
    with an ordinary error (the job retries and reports it), never a silent fetch."""
    for html in (
        '<html lang="fr"><head><link rel="stylesheet" href="http://127.0.0.1:9/x.css"></head>'
        "<body><p>x</p></body></html>",
        '<html lang="fr"><body><img src="https://example.org/x.png" alt="x"></body></html>',
        '<html lang="fr"><body><img src="file:///etc/hostname" alt="x"></body></html>',
    ):
        env = jinja2.Environment(loader=jinja2.DictLoader({"generic.html": html}), autoescape=True)
        monkeypatch.setattr(render_module, "_env", lambda env=env: env)
        with pytest.raises(ValueError, match="ressource externe refusée"):
            render("unknown_kind", {})


async def test_rendering_is_pure_same_context_same_bytes() -> None:
    context = await context_for("are")
    assert render("are", context) == render("are", context)


async def test_stylesheet_and_fonts_are_loaded_once_per_process() -> None:
    context = await context_for("aee")
    render("aee", context)
    first = render_module._assets()
    render("aee", context)
    assert render_module._assets() is first
    assert render_module._assets.cache_info().currsize == 1


# ----- AEE ----------------------------------------------------------------------------------------


async def test_aee_gives_date_and_time_of_receipt_reference_and_procedure() -> None:
    """L112-11 CRPA: the AEE carries the date of receipt."""
    context = await context_for("aee")
    assert context["received_at_text"] == "le 2 mars 2026 à 10 h 00"
    text = text_of(render("aee", context))
    assert "Date et heure de réception : le 2 mars 2026 à 10 h 00 (heure de Paris)" in text
    assert f"Référence du dossier : {REFERENCE}" in text
    assert "Démarche : Permis de test" in text


# ----- ARE ----------------------------------------------------------------------------------------


async def test_are_electronic_for_a_web_request_paper_for_a_counter_one() -> None:
    """R112-11-1 CRPA for electronic submissions; R112-5 (accusé de réception) for requests an
    agent keys in at the counter or on the phone."""
    web = text_of(render("are", await context_for("are")))
    counter = text_of(render("are", await context_for("are", channel="counter")))
    phone = text_of(render("are", await context_for("are", channel="phone")))

    assert "Accusé de réception électronique" in web
    assert "R112-11-1" in web
    assert "reçue par voie électronique le 2 mars 2026 à 10 h 00" in web
    for paper in (counter, phone):
        assert "Accusé de réception électronique" not in paper
        assert "Accusé de réception (articles L112-3 et R112-5" in paper
    assert "reçue au guichet le 2 mars 2026" in counter
    assert "reçue par téléphone le 2 mars 2026" in phone


def test_a_request_received_before_it_was_registered_is_a_paper_request() -> None:
    """R112-5 CRPA: a letter keyed in days later is acknowledged as paper; a few seconds of
    difference between the two timestamps of a web request is not."""
    owner = tenant()
    later = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)
    assert is_paper_request(case(owner, PERMIT, channel="api", registered_at=later))
    seconds = datetime(2026, 3, 2, 9, 0, 30, tzinfo=UTC)
    assert not is_paper_request(case(owner, PERMIT, channel="api", registered_at=seconds))
    assert not is_paper_request(case(owner, PERMIT, channel="mail"))  # e-mail is electronic


async def test_are_acceptance_gives_the_date_of_implicit_acceptance_and_l232_3() -> None:
    """R112-11-1 3° and 4° CRPA: silence means acceptance on 2 May 2026 (2 March + 2 months);
    the L232-3 attestation can be obtained."""
    text = text_of(render("are", await context_for("are")))
    assert "le silence gardé par l'administration vaut décision d'acceptation" in text
    assert "votre demande sera réputée acceptée le 2 mai 2026" in text
    assert "L232-3" in text
    assert "réputée rejetée" not in text
    assert "Voies et délais de recours" not in text


async def test_are_rejection_gives_the_date_and_the_appeal_routes() -> None:
    """R112-11-1 3° and 5° CRPA."""
    text = text_of(render("are", await context_for("are", REJECTION)))
    assert "votre demande sera réputée rejetée le 2 mai 2026" in text
    assert "Fondement : test : décret n° 2015-1459, annexe." in text
    assert "Voies et délais de recours" in text
    assert "tribunal administratif" in text
    assert "L232-3" not in text


async def test_are_counts_the_delay_on_the_legal_calendar_from_the_paris_date() -> None:
    """R112-11-1 3° CRPA: received on 31 January 2026 at 23:30 in Paris (22:30 UTC) + 1 month =
    the last day of February, 28 February 2026."""
    one_month = PERMIT.model_copy(
        update={
            "acknowledgement": PERMIT.acknowledgement.model_copy(  # type: ignore[union-attr]
                update={"decision_delay": DelaySpec(amount=1, unit=DelayUnit.MONTHS)}
            )
        }
    )
    received = datetime(2026, 1, 31, 22, 30, tzinfo=UTC)
    context = await context_for("are", one_month, received_at=received, registered_at=received)
    assert context["decision_date"] == "28 février 2026"
    assert context["received_at_text"] == "le 31 janvier 2026 à 23 h 30"


async def test_are_for_an_information_request_says_no_implicit_decision_arises() -> None:
    text = text_of(render("are", await context_for("are", GENERAL)))
    assert "Votre demande d'information n'appelle pas de décision administrative" in text
    assert "ne fait naître aucune décision implicite" in text
    assert "réputée" not in text


async def test_are_lists_missing_pieces_with_their_deadline_and_effect() -> None:
    """L114-5 CRPA: SVA delay starts on receipt of the pieces; SVR delay is suspended."""
    params = {
        "missing_pieces": ["Plan de situation", "Photographie du terrain"],
        "pieces_deadline": "2026-04-02",
    }
    sva = text_of(render("are", await context_for("are", PERMIT, params)))
    svr = text_of(render("are", await context_for("are", REJECTION, params)))

    for text in (sva, svr):
        assert "Pièces et informations manquantes" in text
        assert "au plus tard le 2 avril 2026" in text
        assert "Plan de situation" in text and "Photographie du terrain" in text
    assert "ne commence à courir qu'à compter de la réception de ces pièces" in sva
    assert "est suspendu jusqu'à la réception de ces pièces et informations" in svr
    assert "au plus tard jusqu'au 2 avril 2026" in svr


async def test_are_without_a_deadline_for_the_missing_pieces_is_refused() -> None:
    """L114-5 CRPA: the administration sets the deadline to provide the pieces."""
    with pytest.raises(ValueError, match="« pieces_deadline » manquant"):
        await context_for("are", params={"missing_pieces": ["Plan"]})


async def test_are_without_the_service_of_the_tenant_is_refused() -> None:
    """R112-11-1 2° CRPA: the ARE names the service; no service, no (incomplete) ARE."""
    with pytest.raises(ValueError, match="service « urbanisme »"):
        await context_for("are", with_service=False)


# ----- letter and decision ------------------------------------------------------------------------


async def test_letter_prints_the_agent_name_title_and_service() -> None:
    """L111-2 CRPA: the agent's first and last name, title and administrative address."""
    text = text_of(render("letter", await context_for("letter", GENERAL, LETTER_PARAMS)))
    assert "Affaire suivie par : Claire Dubois, Instructrice des autorisations d'urbanisme" in text
    assert "Lyon, le 2 mars 2026" in text
    assert "Objet : Votre demande de permis de test" in text
    assert "Nous avons bien reçu votre demande et l'instruisons." in text
    body = text.index("Madame, Monsieur,")
    signature = text.rindex("Claire Dubois")
    assert body < signature


async def test_decision_has_the_arrete_layout_and_its_signatory() -> None:
    """L212-2 CRPA: the decision shows its author's name, first name and title."""
    text = text_of(render("decision", await context_for("decision", PERMIT, DECISION_PARAMS)))
    order = [
        "Le Maire de Lyon",
        "Arrêté n° 2026-URB-017",
        "portant accord du permis de test",
        "Vu le code général des collectivités territoriales ;",
        "Vu le code de l'urbanisme ;",
        "Vu la demande déposée le 2 mars 2026,",
        "ARRÊTE",
        "Article 1 : Le permis de test est accordé.",
        "Article 2 : Le présent arrêté sera notifié au demandeur.",
        "Fait à Lyon, le 2 mars 2026",
        "Adjoint au maire délégué à l'urbanisme",
        "Jean Dupuis",
        "Voies et délais de recours",
        "dans un délai de deux mois à compter de sa notification ou de sa publication",
    ]
    positions = [text.upper().find(part.upper()) for part in order]
    assert -1 not in positions, [p for p, i in zip(order, positions, strict=True) if i < 0]
    assert positions == sorted(positions)


async def test_decision_names_the_mayor_with_french_elision() -> None:
    owner = tenant(city="Anse", name="Commune d'Anse")
    context = await context_for("decision", PERMIT, DECISION_PARAMS, owner=owner)
    assert context["authority"] == "Le Maire d'Anse"


@pytest.mark.parametrize(
    ("kind", "missing", "message"),
    [
        ("letter", "agent_name", "« agent_name » manquant : le courrier doit indiquer le nom"),
        (
            "letter",
            "agent_title",
            "« agent_title » manquant : le courrier doit indiquer la qualité",
        ),
        ("letter", "body", "« body » manquant : le courrier doit comporter au moins un paragraphe"),
        ("decision", "visas", "« visas » manquant : l'arrêté doit comporter ses visas"),
        ("decision", "articles", "« articles » manquant : l'arrêté doit comporter au moins"),
        ("decision", "signatory_name", "« signatory_name » manquant : l'arrêté doit indiquer"),
        ("decision", "signatory_title", "« signatory_title » manquant"),
    ],
)
async def test_a_missing_required_param_is_a_clear_french_error(
    kind: str, missing: str, message: str
) -> None:
    params = dict(LETTER_PARAMS if kind == "letter" else DECISION_PARAMS)
    del params[missing]
    with pytest.raises(ValueError, match=message):
        await context_for(kind, GENERAL if kind == "letter" else PERMIT, params)


async def test_render_refuses_a_context_without_what_the_template_needs() -> None:
    """A document is never produced blank: the template's missing values are an error."""
    context = await context_for("aee")  # no visas, articles, signatory
    with pytest.raises(ValueError, match="Le document « decision » ne peut pas être établi"):
        render_html("decision", context)


# ----- helpers ------------------------------------------------------------------------------------


def _struct_elements(reader: PdfReader, role: str) -> list[Any]:
    found: list[Any] = []

    def walk(node: Any) -> None:
        node = node.get_object()
        if isinstance(node, dict):
            if node.get("/S") == role:
                found.append(node)
            kids = node.get("/K")
            if kids is not None:
                walk(kids)
        elif isinstance(node, list):
            for kid in node:
                walk(kid)

    walk(reader.trailer["/Root"]["/StructTreeRoot"]["/K"])
    return found


def test_kinds_map_to_their_template_or_the_generic_one() -> None:
    assert render_module.template_for("are") == "are.html"
    assert render_module.template_for("pieces_letter") == "generic.html"
    assert render_module.template_for("_layout") == "generic.html"
    assert render_module.template_for("../render") == "generic.html"
