"""Tenant isolation on every case endpoint: outsiders get 404 for a case of commune A.

The routes are read from the app itself (every path with a ``{case_id}``, ``{document_id}`` or
``{notification_id}`` parameter), so that a new case route fails here until it is given a sample
request below — and then proves it hides commune A's cases from:

- an instructor and an administrator of commune B (bearer tokens),
- commune B's portal, with and without ``cases:read`` (OAuth client credentials),
- a signed-in citizen who has cases of their own (session cookie + CSRF token).

Each must get 404 with the same body as for a case id that does not exist — never 200, never
500. The one exception: when the route's declared policy does not admit that kind of account at
all (a portal on an agents-only route), the guard answers 403 before any case is looked at; that
answer is then checked to be the very same for a non-existent id, so it says nothing about the
case. Finally the case is unchanged, and the tenant's own instructor gets a real answer on the same
request (the 404s are not a broken route).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from litestar.handlers.http_handlers import HTTPRouteHandler
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from documents.models import Notification
from identity import service as ids
from identity.guards import check_policy
from identity.models import Tenant
from identity.organisations import create_organisation
from services.api.app import AppConfig, create_app
from services.kernel.actor import Actor, ActorKind, Role, Scope
from services.kernel.clock import FrozenClock
from services.kernel.errors import Forbidden
from services.kernel.policy import POLICY_KEY, Policy
from tests.conftest import TEST_EXTENSION, Seed
from tests.support.citizens import INTAKE, as_person, store_document, web_request
from tests.support.http import assert_problem, client_token
from tests.support.people import SignedIn, create_person, sign_in
from tests.support.supplier_invoices import SELLER_SIRET, invoice_xml, receive, seed_finance
from tests.support.urbanism import file_at_counter
from workflows.cases.models import Outbox
from workflows.procedures import build_engine
from workflows.procedures.supplier_invoices.models import Supplier

pytestmark = pytest.mark.e2e

SM = async_sessionmaker[AsyncSession]
CASE_PARAMETERS = ("{case_id", "{document_id", "{notification_id")


@dataclass(frozen=True)
class Sample:
    """A request that the tenant's own instructor may make (``owner_status``)."""

    body: Any = None
    params: dict[str, str] = field(default_factory=dict)
    owner_status: int = 200
    content: bytes | None = None
    """A raw body (uploads), sent with ``headers``."""
    headers: dict[str, str] = field(default_factory=dict)
    owner: str = "instructor_token"
    """The Seed token of the tenant's agent for whom the route works (``supplier``: the invoice's
    supplier's software)."""
    case: str = "general"
    """Which case of commune A the route is tried on: ``general`` (a request filed on the web)
    or ``invoice`` (a supplier invoice received from Chorus Pro: routes of that procedure)
    or ``urbanism`` (a permit file with its ``urbanism_file`` row)."""

    def request_kwargs(self, headers: dict[str, str]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"headers": {**headers, **self.headers}}
        if self.body is not None:
            kwargs["json"] = self.body
        if self.content is not None:
            kwargs["content"] = self.content
        return kwargs


SAMPLES: dict[tuple[str, str], Sample] = {
    ("GET", "/api/v1/cases/{case_id:uuid}"): Sample(),
    ("POST", "/api/v1/cases/{case_id:uuid}/transitions/{name:str}"): Sample(
        body={}, params={"name": "start"}
    ),
    ("POST", "/api/v1/cases/{case_id:uuid}/messages"): Sample(
        body={"text": "Bonjour", "public": True}, owner_status=201
    ),
    ("POST", "/api/v1/cases/{case_id:uuid}/assignment"): Sample(body={"assignee_id": None}),
    ("GET", "/api/v1/cases/{case_id:uuid}/documents"): Sample(),
    ("GET", "/api/v1/documents/{document_id:uuid}"): Sample(),
    ("POST", "/api/v1/notifications/{notification_id:uuid}/printed"): Sample(body=None),
    ("GET", "/api/v1/cases/{case_id:uuid}/attachments"): Sample(),
    ("POST", "/api/v1/cases/{case_id:uuid}/attachments"): Sample(
        content=b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
        headers={"X-Filename": "piece.pdf"},
        owner_status=201,
    ),
    ("POST", "/api/v1/guichet/dossiers/{case_id:uuid}/notes"): Sample(
        body={"text": "Appel de l'usager"}, owner_status=201, owner="counter_token"
    ),
    ("GET", "/api/v1/factures-fournisseurs/{insee:str}/factures/{case_id:uuid}"): Sample(
        params={"insee": "69001"}, case="invoice"
    ),
    ("GET", "/api/v1/urbanisme/dossiers/{case_id:uuid}/chronologie"): Sample(case="urbanism"),
    ("GET", "/api/v1/urbanisme/dossiers/{case_id:uuid}/pieces"): Sample(case="urbanism"),
    # Urbanism instruction on a DP deposited today: each fact recorded, or a 409 naming the rule.
    ("POST", "/api/v1/urbanisme/dossiers/{case_id:uuid}/majorations"): Sample(
        body={"ground": "R423-24", "notified_on": "2026-03-02"}, case="urbanism"
    ),
    ("POST", "/api/v1/urbanisme/dossiers/{case_id:uuid}/pieces-demandees"): Sample(
        body={"pieces": ["DP2"], "notified_on": "2026-03-02"}, case="urbanism"
    ),
    ("POST", "/api/v1/urbanisme/dossiers/{case_id:uuid}/consultations"): Sample(
        body={"service": "ABF", "sent_on": "2026-03-02"}, case="urbanism"
    ),
    (
        "POST",
        "/api/v1/urbanisme/dossiers/{case_id:uuid}/consultations/{service_code:str}/avis",
    ): Sample(
        body={"answered_on": "2026-03-02", "opinion": "favorable"},
        params={"service_code": "SDIS"},
        owner_status=409,
        case="urbanism",
    ),
    ("POST", "/api/v1/urbanisme/dossiers/{case_id:uuid}/exceptions"): Sample(
        body={"exceptions": [], "reason": "Aucun cas de rejet tacite"}, case="urbanism"
    ),
    ("POST", "/api/v1/urbanisme/dossiers/{case_id:uuid}/arrete"): Sample(
        body={
            "kind": "non_opposition",
            "signatory_name": "Marie Curie",
            "signatory_title": "Maire",
        },
        case="urbanism",
    ),
    ("POST", "/api/v1/urbanisme/dossiers/{case_id:uuid}/notification-decision"): Sample(
        body={"notified_on": "2026-03-02"}, owner_status=409, case="urbanism"
    ),
    ("POST", "/api/v1/urbanisme/dossiers/{case_id:uuid}/retrait"): Sample(
        body={"notified_on": "2026-03-02", "reasons": ["Illégalité"]},
        owner_status=409,
        case="urbanism",
    ),
    ("POST", "/api/v1/urbanisme/dossiers/{case_id:uuid}/affichage"): Sample(
        body={"started_on": "2026-03-02"}, case="urbanism"
    ),
    ("POST", "/api/v1/urbanisme/dossiers/{case_id:uuid}/interruptions"): Sample(
        body={"from_on": "2026-03-02"}, case="urbanism"
    ),
    ("POST", "/api/v1/urbanisme/dossiers/{case_id:uuid}/prorogations"): Sample(
        body={"requested_on": "2026-03-02"}, owner_status=409, case="urbanism"
    ),
    ("POST", "/api/v1/urbanisme/dossiers/{case_id:uuid}/recours"): Sample(
        body={"since": None}, case="urbanism"
    ),
    ("POST", "/api/v1/urbanisme/dossiers/{case_id:uuid}/doc"): Sample(
        body={"opened_on": "2026-03-02"}, owner_status=409, case="urbanism"
    ),
    ("POST", "/api/v1/urbanisme/dossiers/{case_id:uuid}/daact"): Sample(
        body={"completed_on": "2026-03-02"}, owner_status=409, case="urbanism"
    ),
    ("POST", "/api/v1/urbanisme/dossiers/{case_id:uuid}/attestation-conformite"): Sample(
        owner_status=409, case="urbanism"
    ),
    ("POST", "/api/v1/urbanisme/dossiers/{case_id:uuid}/certificat-tacite"): Sample(
        owner_status=409, case="urbanism"
    ),
    ("POST", "/api/v1/urbanisme/dossiers/{case_id:uuid}/pieces"): Sample(
        body={"pieces": [{"code": "DP2"}], "received_on": "2026-03-02"}, case="urbanism"
    ),
    # The supplier completes an invoice that is not suspended: 409 says it found it.
    ("POST", "/api/v1/espace-fournisseur/factures/{case_id:uuid}/complement"): Sample(
        body={"note": "Voici le bon de livraison"},
        owner_status=409,
        owner="supplier",
        case="invoice",
    ),
}
"""Every case route, with a request its owner may make. A route missing here fails the test."""


def _is_litestar_auto_options(handler: Any) -> bool:
    return (
        isinstance(handler, HTTPRouteHandler)
        and handler.fn.__module__ == "litestar.routes.http"
        and handler.http_methods == {"OPTIONS"}
    )


def case_routes() -> dict[tuple[str, str], Policy]:
    """(method, path) → declared policy, for every route of the app that names a case."""
    app = create_app(
        AppConfig(
            database_url="sqlite+aiosqlite:///:memory:", engine=build_engine([TEST_EXTENSION])
        )
    )
    found: dict[tuple[str, str], Policy] = {}
    for route in app.routes:
        if not any(p in route.path for p in CASE_PARAMETERS):
            continue
        for handler in route.route_handlers:
            if _is_litestar_auto_options(handler):
                continue
            policy = handler.opt.get(POLICY_KEY)
            assert isinstance(policy, Policy), route.path
            for method in sorted(getattr(handler, "http_methods", ())):
                found[(method, route.path)] = policy
    return found


ROUTES = case_routes()


@dataclass(frozen=True)
class Outsider:
    name: str
    headers: dict[str, str]
    actor: Actor
    """What the guard will see: checked against the route's policy to know if it admits it."""


def admitted(policy: Policy, actor: Actor) -> bool:
    try:
        check_policy(policy, actor)
    except Forbidden:
        return False
    return True


def url_of(path: str, ids_: dict[str, str], sample: Sample) -> str:
    url = path
    for name, value in {**ids_, **sample.params}.items():
        for kind in ("uuid", "str", "int"):
            url = url.replace(f"{{{name}:{kind}}}", value)
    assert "{" not in url, f"no value for a parameter of {path}: add it to the sample's params"
    return url


async def setup(
    client: AsyncTestClient[Any], seed: Seed, sm: SM, clock: FrozenClock
) -> tuple[dict[str, str], list[Outsider], SignedIn]:
    """Commune A's case (filed on the web by its citizen), its document and letter; the
    outsiders."""
    now = clock.now()
    owner = await sign_in(sm, await create_person(sm, now=now, email="a@example.org"), now=now)
    r = await client.post(INTAKE, json=web_request(), headers=as_person(owner))
    assert r.status_code == 201, r.text
    case_id = r.json()["case_id"]
    document_id = await store_document(sm, case_id, now=now)
    async with sm() as s, s.begin():
        outbox = Outbox(
            case_id=uuid.UUID(case_id),
            kind="notification.send",
            payload={},
            dedupe_key=f"test-letter:{case_id}",
            status="done",
            created_at=now,
        )
        s.add(outbox)
        await s.flush()
        letter = Notification(
            outbox_id=outbox.id,
            case_id=uuid.UUID(case_id),
            channel="postal",
            template="are",
            to_address="1 rue A, 69001 A",
            subject="Accusé de réception",
            message_id=f"<{uuid.uuid4()}@test.invalid>",
            status="to_print",
            document_ids={"documents": [str(document_id)]},
            created_at=now,
        )
        s.add(letter)
        await s.flush()
        notification_id = letter.id
        commune_b = await s.get(Tenant, seed.other_commune_id)
        assert commune_b is not None
        reader, reader_secret = await ids.create_api_client(
            s,
            now=now,
            tenant=commune_b,
            name="Portail B (lecture)",
            scopes=[Scope.INTAKE_WRITE, Scope.CASES_READ],
        )
    stranger = await sign_in(sm, await create_person(sm, now=now, email="b@example.org"), now=now)
    r = await client.post(INTAKE, json=web_request(), headers=as_person(stranger))
    assert r.status_code == 201, r.text

    b = seed.other_commune_id
    outsiders = [
        Outsider(
            "instructeur de B",
            seed.auth(seed.other_instructor_token),
            Actor(uuid.uuid4(), ActorKind.AGENT, "B", roles={b: frozenset({Role.INSTRUCTOR})}),
        ),
        Outsider(
            "administrateur de B",
            seed.auth(seed.other_admin_token),
            Actor(uuid.uuid4(), ActorKind.AGENT, "B", roles={b: frozenset({Role.ADMIN})}),
        ),
        Outsider(
            "portail de B (cases:read)",
            seed.auth(await client_token(client, reader.client_id, reader_secret)),
            Actor(
                uuid.uuid4(),
                ActorKind.API_CLIENT,
                "B",
                scopes=frozenset({Scope.INTAKE_WRITE, Scope.CASES_READ}),
                home_tenant_id=b,
            ),
        ),
        Outsider(
            "portail de B (intake:write)",
            seed.auth(await client_token(client, seed.other_client_id, seed.other_client_secret)),
            Actor(
                uuid.uuid4(),
                ActorKind.API_CLIENT,
                "B",
                scopes=frozenset({Scope.INTAKE_WRITE}),
                home_tenant_id=b,
            ),
        ),
        Outsider(
            "usager sans lien",
            as_person(stranger),
            Actor(stranger.person_id, ActorKind.PERSON, "Usager"),
        ),
    ]
    ids_ = {"case_id": case_id, "document_id": str(document_id)}
    ids_["notification_id"] = str(notification_id)
    return ids_, outsiders, owner


async def invoice_case(
    client: AsyncTestClient[Any], seed: Seed, sm: SM, clock: FrozenClock
) -> tuple[str, dict[str, str]]:
    """A supplier invoice of commune A, received from Chorus Pro and made available, and the
    headers of its supplier's software (an API client of the supplier's organisation)."""
    async with sm() as s, s.begin():
        await seed_finance(s, commune_id=seed.commune_id, other_commune_id=seed.other_commune_id)
        organisation = await create_organisation(
            s, now=clock.now(), name="LE FOURNISSEUR", siret=SELLER_SIRET
        )
        supplier = await s.scalar(select(Supplier).where(Supplier.siret == SELLER_SIRET))
        assert supplier is not None
        supplier.organisation_id = organisation.id
        tenant = await s.get(Tenant, seed.commune_id)
        assert tenant is not None
        software, secret = await ids.create_api_client(
            s,
            now=clock.now(),
            tenant=tenant,
            name="Logiciel du fournisseur",
            scopes=[Scope.CASES_READ, Scope.INTAKE_WRITE],
            organisation_id=organisation.id,
        )
    received = await receive(sm, build_engine([TEST_EXTENSION]), clock, invoice_xml())
    token = await client_token(client, software.client_id, secret)
    return str(received.case_id), {"Authorization": f"Bearer {token}"}


async def urbanism_case(client: AsyncTestClient[Any], seed: Seed) -> uuid.UUID:
    """A DP of commune A registered at the counter today (its ``urbanism_file`` kept by the
    projector)."""
    return await file_at_counter(client, seed.auth(seed.counter_token), "urbanism.dp")


def test_the_walk_finds_the_case_routes() -> None:
    """The parametrisation below is not empty, and no sample is left for a route that is gone."""
    assert len(ROUTES) >= 6
    assert set(SAMPLES) <= set(ROUTES), sorted(set(SAMPLES) - set(ROUTES))


@pytest.mark.parametrize("route", sorted(ROUTES), ids=lambda r: f"{r[0]} {r[1]}")
async def test_outsiders_get_404_on_every_case_route(
    seed: Seed,
    app_client: AsyncTestClient[Any],
    sessionmaker: SM,
    clock: FrozenClock,
    route: tuple[str, str],
) -> None:
    method, path = route
    sample = SAMPLES.get(route)
    if sample is None:
        pytest.fail(
            f"New case route {method} {path}: add a sample request to SAMPLES in "
            "tests/e2e/test_tenant_isolation.py so that its tenant isolation is tested."
        )
    policy = ROUTES[route]
    ids_, outsiders, _owner = await setup(app_client, seed, sessionmaker, clock)
    owner_headers = seed.auth(getattr(seed, sample.owner)) if sample.owner != "supplier" else {}
    if sample.case == "invoice":
        ids_["case_id"], supplier_headers = await invoice_case(
            app_client, seed, sessionmaker, clock
        )
        if sample.owner == "supplier":
            owner_headers = supplier_headers
    if sample.case == "urbanism":
        ids_["case_id"] = str(await urbanism_case(app_client, seed))
    unknown = {name: str(uuid.uuid4()) for name in ids_}
    before = (
        await app_client.get(
            f"/api/v1/cases/{ids_['case_id']}", headers=seed.auth(seed.instructor_token)
        )
    ).json()

    for outsider in outsiders:
        expected = 404 if admitted(policy, outsider.actor) else 403
        kwargs = sample.request_kwargs(outsider.headers)
        r = await app_client.request(method, url_of(path, ids_, sample), **kwargs)
        label = f"{outsider.name}: {method} {path}"
        if expected == 404 and r.status_code == 403 and outsider.actor.kind is ActorKind.API_CLIENT:
            # A handler may refuse a kind of account the policy cannot name (a portal on the
            # suppliers' space): allowed only if it says so whatever the case (twin below).
            expected = 403
        assert r.status_code == expected, f"{label} → {r.status_code} {r.text}"
        body = assert_problem(r, expected)
        assert before["reference"] not in r.text, label
        assert b"%PDF" not in r.content, label
        # The same answer as for a case that does not exist: nothing to learn from it.
        twin = await app_client.request(method, url_of(path, unknown, sample), **kwargs)
        assert twin.status_code == r.status_code, f"{label}: {twin.status_code} for an unknown id"
        assert assert_problem(twin, expected)["detail"] == body["detail"], label

    # Nothing changed on the case.
    after = (
        await app_client.get(
            f"/api/v1/cases/{ids_['case_id']}", headers=seed.auth(seed.instructor_token)
        )
    ).json()
    assert after["version"] == before["version"]
    assert after["timeline"] == before["timeline"]
    assert (after["state"], after["assignee_id"]) == (before["state"], before["assignee_id"])

    # The route works for the tenant's own instructor (the 404s above are not a broken route).
    kwargs = sample.request_kwargs(owner_headers)
    r = await app_client.request(method, url_of(path, ids_, sample), **kwargs)
    assert r.status_code == sample.owner_status, r.text


async def test_a_person_sees_neither_in_the_list_nor_by_id_another_persons_case(
    seed: Seed, app_client: AsyncTestClient[Any], sessionmaker: SM, clock: FrozenClock
) -> None:
    ids_, outsiders, owner = await setup(app_client, seed, sessionmaker, clock)
    stranger = outsiders[-1]
    r = await app_client.get("/api/v1/cases/", headers=as_person(owner))
    mine = {c["id"] for c in r.json()["items"]}
    assert mine == {ids_["case_id"]}
    r = await app_client.get("/api/v1/cases/", headers=stranger.headers)
    assert r.status_code == 200, r.text
    theirs = {c["id"] for c in r.json()["items"]}
    assert len(theirs) == 1 and ids_["case_id"] not in theirs
    r = await app_client.get(f"/api/v1/cases/{ids_['case_id']}", headers=stranger.headers)
    assert_problem(r, 404)
    # Commune B's agents do not list commune A's cases either.
    r = await app_client.get("/api/v1/cases/", headers=seed.auth(seed.other_instructor_token))
    assert ids_["case_id"] not in {c["id"] for c in r.json()["items"]}
