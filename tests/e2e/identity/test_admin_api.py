"""The administration API over HTTP: invitations, roles, organisations, mandates, API clients,
journal (JSON and CSV) — and who may touch what.

Rules checked everywhere: an administrator acts only in the tenants where they hold ``admin``
(a métropole administrator covers its communes); another tenant's objects answer 404; a caller
without the role answers 403; bad input answers a French problem+json, never a 500.
"""

from __future__ import annotations

import csv
import email
import email.policy
import io
import json
import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity import service as ids
from identity.admin import accept_invitation
from identity.models import AccessToken, Agent, Mandate, OneTimeToken, Tenant, WebSession
from identity.organisations import active_mandate, mandate_settings
from identity.sessions import start_session
from services.api.app import AppConfig, create_app
from services.kernel.actor import Role
from services.kernel.clock import FrozenClock
from services.kernel.errors import Forbidden, Unavailable, ValidationFailed
from services.kernel.journal import JournalEntry, JournalEvent, record
from tests.conftest import T0, Seed
from tests.support.http import assert_problem, client_token
from tests.support.people import create_person
from workflows.engine.runner import Engine

pytestmark = pytest.mark.e2e

SM = async_sessionmaker[AsyncSession]
Client = AsyncTestClient[Any]
ADMIN = "/api/v1/admin"
UNKNOWN = uuid.UUID("00000000-0000-7000-8000-00000000dead")  # no such object
IP = "testclient"  # the peer address litestar's test client reports


# ----- helpers --------------------------------------------------------------------------------------


async def agent_with(
    sm: SM, clock: FrozenClock, roles: list[tuple[str, uuid.UUID]], *, email_: str | None = None
) -> tuple[uuid.UUID, str]:
    """An active agent with these (role, tenant) pairs, and a bearer token."""
    async with sm() as s, s.begin():
        agent = await ids.create_agent(
            s,
            now=clock.now(),
            email=email_ or f"agent-{uuid.uuid4().hex[:8]}@test.invalid",
            given_name="Camille",
            family_name="Martin",
            title="Agent",
        )
        for role, tenant_id in roles:
            tenant = await s.get(Tenant, tenant_id)
            assert tenant is not None
            await ids.grant_role(s, agent, role, tenant, now=clock.now())
        issued = await ids.issue_agent_token(s, agent, now=clock.now(), ttl=timedelta(days=1))
        return agent.id, issued.access_token


async def metro_admin(sm: SM, clock: FrozenClock, seed: Seed) -> tuple[uuid.UUID, str]:
    return await agent_with(sm, clock, [(Role.ADMIN, seed.metropole_id)])


async def journal(sm: SM, event: str) -> list[JournalEntry]:
    async with sm() as s:
        return list(
            await s.scalars(
                select(JournalEntry).where(JournalEntry.event == event).order_by(JournalEntry.id)
            )
        )


def mails(tmp_path: Path) -> list[email.message.EmailMessage]:
    folder = tmp_path / "data" / "mail"
    found = []
    for path in sorted(folder.glob("*.eml")) if folder.exists() else []:
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(msg, email.message.EmailMessage)
        found.append(msg)
    return found


def invitation_token(msg: email.message.EmailMessage) -> str:
    body = str(msg.get_content())
    [link] = re.findall(r"https?://\S+/api/v1/auth/proconnect/login\?invitation=\S+", body)
    return str(parse_qs(urlsplit(link).query)["invitation"][0])


def invitation(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "email": "Nouvelle.Agente@Commune-A.fr",
        "given_name": "Zoë",
        "family_name": "Ångström-Nguyễn",
        "title": "Instructrice urbanisme",
        "roles": [{"tenant": "69001", "role": "instructor"}],
    }
    body.update(overrides)
    return body


async def invite(client: Client, token: str, **overrides: Any) -> Any:
    return await client.post(
        f"{ADMIN}/agents/invitations", json=invitation(**overrides), headers=Seed.auth(token)
    )


# ----- (1) who may call at all --------------------------------------------------------------------

ENDPOINTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/agents", None),
    ("POST", "/agents/invitations", invitation()),
    ("POST", f"/agents/{UNKNOWN}/deactivate", None),
    ("POST", f"/agents/{UNKNOWN}/roles", {"tenant": "69001", "role": "instructor"}),
    ("DELETE", f"/agents/{UNKNOWN}/roles/instructor?tenant=69001", None),
    ("POST", "/organisations", {"siret": "73282932000074", "name": "ACME"}),
    ("GET", "/organisations", None),
    ("GET", f"/organisations/{UNKNOWN}", None),
    ("POST", "/mandates", {"tenant": "69001"}),
    ("GET", "/mandates", None),
    ("POST", f"/mandates/{UNKNOWN}/revoke", {"reason": "x"}),
    ("GET", "/api-clients", None),
    ("POST", "/api-clients", {"tenant": "69001", "name": "x", "scopes": ["cases:read"]}),
    ("POST", "/api-clients/commune-a-x/rotate", {}),
    ("POST", "/api-clients/commune-a-x/revoke", None),
    ("GET", "/journal", None),
    ("GET", "/journal.csv", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
async def test_only_administrators_may_call_the_admin_api(
    seed: Seed, app_client: Client, method: str, path: str, body: dict[str, Any] | None
) -> None:
    api_token = await client_token(app_client, seed.client_id, seed.client_secret)
    for token in (seed.instructor_token, seed.counter_token, seed.roleless_token, api_token):
        r = await app_client.request(method, ADMIN + path, json=body, headers=seed.auth(token))
        assert_problem(r, 403)
    r = await app_client.request(method, ADMIN + path, json=body)
    assert_problem(r, 401)


async def test_every_admin_endpoint_is_in_the_openapi_document(app_client: Client) -> None:
    r = await app_client.get("/schema/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    expected = [
        ("get", "/agents"),
        ("post", "/agents/invitations"),
        ("post", "/agents/{agent_id}/deactivate"),
        ("post", "/agents/{agent_id}/roles"),
        ("delete", "/agents/{agent_id}/roles/{role}"),
        ("post", "/organisations"),
        ("get", "/organisations"),
        ("get", "/organisations/{organisation_id}"),
        ("post", "/mandates"),
        ("get", "/mandates"),
        ("post", "/mandates/{mandate_id}/revoke"),
        ("get", "/api-clients"),
        ("post", "/api-clients"),
        ("post", "/api-clients/{client_id}/rotate"),
        ("post", "/api-clients/{client_id}/revoke"),
        ("get", "/journal"),
        ("get", "/journal.csv"),
    ]
    assert len(expected) == len(ENDPOINTS)
    for method, path in expected:
        operation = paths[ADMIN + path][method]
        assert operation["tags"] == ["Administration"], path
        assert operation["summary"], path


# ----- (2) invitations --------------------------------------------------------------------------


async def test_an_invitation_is_mailed_and_its_link_activates_the_agent_once(
    seed: Seed, app_client: Client, sessionmaker: SM, clock: FrozenClock, tmp_path: Path
) -> None:
    r = await invite(app_client, seed.admin_token)

    assert r.status_code == 201, r.text
    body = r.json()
    agent = body["agent"]
    assert agent["email"] == "nouvelle.agente@commune-a.fr"
    assert agent["family_name"] == "Ångström-Nguyễn"
    assert agent["status"] == "invited"
    assert agent["roles"] == [
        {"tenant_id": str(seed.commune_id), "tenant": "69001", "role": "instructor"}
    ]
    assert body["expires_at"].startswith("2026-03-09T09:00")
    assert body["reinvited"] is False
    assert "invitation=" not in r.text  # the link goes to the agent's mailbox only

    [msg] = mails(tmp_path)
    assert msg["To"].addresses[0].addr_spec == "nouvelle.agente@commune-a.fr"
    assert "Invitation" in msg["Subject"]
    token = invitation_token(msg)
    assert "instructor (69001)" in msg.get_content()

    async with sessionmaker() as s:
        row = await s.scalar(
            select(OneTimeToken).where(OneTimeToken.agent_id == uuid.UUID(agent["id"]))
        )
        assert row is not None
        assert token not in row.token_hash and row.purpose == "agent_invitation"

    # The lead's ProConnect callback calls this with the token of the pending login.
    async with sessionmaker() as s, s.begin():
        accepted = await accept_invitation(s, token=token, now=clock.now())
        assert accepted.active is True and accepted.invited_at is None
    async with sessionmaker() as s, s.begin():
        with pytest.raises(Forbidden, match="déjà été utilisée"):
            await accept_invitation(s, token=token, now=clock.now())
    async with sessionmaker() as s, s.begin():
        with pytest.raises(Forbidden, match="pas valable"):
            await accept_invitation(s, token=token[:-2] + "xx", now=clock.now())
        with pytest.raises(ValidationFailed):
            await accept_invitation(s, token="", now=clock.now())

    r = await app_client.get(f"{ADMIN}/agents?q=nguy", headers=seed.auth(seed.admin_token))
    [listed] = r.json()["items"]
    assert listed["status"] == "active"

    [invited] = await journal(sessionmaker, "admin.agent.invited")
    assert invited.actor_id == seed.admin_id
    assert invited.ip == IP
    assert invited.tenant_id == seed.commune_id
    [accepted_entry] = await journal(sessionmaker, "identity.invitation.accepted")
    assert accepted_entry.actor_id == uuid.UUID(agent["id"])
    granted = [e for e in await journal(sessionmaker, "admin.role.granted") if e.ip == IP]
    assert [(e.actor_id, e.data["role"]) for e in granted] == [(seed.admin_id, "instructor")]


async def test_an_expired_invitation_is_refused(
    seed: Seed, app_client: Client, sessionmaker: SM, clock: FrozenClock, tmp_path: Path
) -> None:
    assert (await invite(app_client, seed.admin_token)).status_code == 201
    token = invitation_token(mails(tmp_path)[0])

    clock.advance(timedelta(days=7, seconds=1))

    async with sessionmaker() as s, s.begin():
        with pytest.raises(Forbidden, match="expiré"):
            await accept_invitation(s, token=token, now=clock.now())
    async with sessionmaker() as s:
        agent = await s.scalar(select(Agent).where(Agent.email == "nouvelle.agente@commune-a.fr"))
        assert agent is not None and agent.active is False


async def test_reinviting_a_pending_agent_sends_a_new_link_and_voids_the_old_one(
    seed: Seed, app_client: Client, sessionmaker: SM, clock: FrozenClock, tmp_path: Path
) -> None:
    assert (await invite(app_client, seed.admin_token)).status_code == 201
    first = invitation_token(mails(tmp_path)[0])
    clock.advance(timedelta(hours=1))

    r = await invite(
        app_client, seed.admin_token, roles=[{"tenant": "69001", "role": "counter_agent"}]
    )

    assert r.status_code == 201, r.text
    assert r.json()["reinvited"] is True
    assert sorted(x["role"] for x in r.json()["agent"]["roles"]) == ["counter_agent"]
    second = next(t for t in map(invitation_token, mails(tmp_path)) if t != first)
    async with sessionmaker() as s, s.begin():
        with pytest.raises(Forbidden, match="remplacée"):
            await accept_invitation(s, token=first, now=clock.now())
    async with sessionmaker() as s, s.begin():
        agent = await accept_invitation(s, token=second, now=clock.now())
        assert agent.active
    r = await app_client.get(f"{ADMIN}/agents?q=nouvelle", headers=seed.auth(seed.admin_token))
    [listed] = r.json()["items"]
    assert sorted(x["role"] for x in listed["roles"]) == ["counter_agent", "instructor"]


async def test_an_address_of_an_active_agent_cannot_be_invited_again(
    seed: Seed, app_client: Client, tmp_path: Path
) -> None:
    r = await invite(app_client, seed.admin_token, email="INSTR@a.invalid")

    body = assert_problem(r, 409)
    assert "actif" in body["detail"]
    assert mails(tmp_path) == []


async def test_an_admin_cannot_invite_into_another_tenant(
    seed: Seed, app_client: Client, sessionmaker: SM, clock: FrozenClock, tmp_path: Path
) -> None:
    roles = [{"tenant": "69001", "role": "instructor"}, {"tenant": "69002", "role": "instructor"}]

    assert_problem(await invite(app_client, seed.admin_token, roles=roles), 404)
    assert_problem(await invite(app_client, seed.other_admin_token, roles=roles[:1]), 404)  # B → A
    assert_problem(
        await invite(app_client, seed.admin_token, roles=[{"tenant": "99999", "role": "admin"}]),
        404,
    )

    assert mails(tmp_path) == []
    async with sessionmaker() as s:
        assert await s.scalar(select(Agent).where(Agent.email.like("nouvelle%"))) is None
    _, metro_token = await metro_admin(sessionmaker, clock, seed)
    r = await invite(app_client, metro_token, roles=roles)
    assert r.status_code == 201, r.text
    assert {x["tenant"] for x in r.json()["agent"]["roles"]} == {"69001", "69002"}


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({"roles": [{"tenant": "69001", "role": "overlord"}]}, 422),
        ({"roles": []}, 400),
        ({"email": "pas-une-adresse"}, 422),
        ({"email": "a b@c.fr"}, 422),
        ({"given_name": "x" * 121}, 400),
        ({"family_name": "Nul\u0000Part"}, 400),
        ({"given_name": 42}, 400),
        ({"roles": "instructor"}, 400),
        ({"roles": [{"tenant": "69001\u0000", "role": "instructor"}]}, 400),
        ({"roles": [{"tenant": "x" * 65, "role": "instructor"}]}, 400),
        ({"surprise": True}, 400),
    ],
)
async def test_bad_invitations_are_refused_clearly(
    seed: Seed, app_client: Client, tmp_path: Path, overrides: dict[str, Any], status: int
) -> None:
    r = await invite(app_client, seed.admin_token, **overrides)

    assert_problem(r, status)
    assert mails(tmp_path) == []


async def test_a_huge_body_is_refused(seed: Seed, app_client: Client) -> None:
    r = await invite(app_client, seed.admin_token, title="é" * 2_000_000)

    assert_problem(r, (400, 413))


async def test_an_invitation_whose_mail_fails_leaves_nothing_behind(
    seed: Seed, database_url: str, clock: FrozenClock, engine: Engine, sessionmaker: SM
) -> None:
    class DownMailer:
        async def send(self, *, to: str, to_name: str, subject: str, text: str) -> None:
            raise Unavailable("Le message n'a pas pu être envoyé pour le moment.")

    app = create_app(
        AppConfig(database_url=database_url, clock=clock, engine=engine, mailer=DownMailer())
    )
    async with AsyncTestClient(app) as client:
        r = await invite(client, seed.admin_token)

    assert_problem(r, 503)
    async with sessionmaker() as s:
        assert await s.scalar(select(Agent).where(Agent.email.like("nouvelle%"))) is None
        assert list(await s.scalars(select(OneTimeToken))) == []


async def test_deactivating_an_invited_agent_cancels_the_invitation(
    seed: Seed, app_client: Client, sessionmaker: SM, clock: FrozenClock, tmp_path: Path
) -> None:
    r = await invite(app_client, seed.admin_token)
    token = invitation_token(mails(tmp_path)[0])

    d = await app_client.post(
        f"{ADMIN}/agents/{r.json()['agent']['id']}/deactivate", headers=seed.auth(seed.admin_token)
    )

    assert d.status_code == 200, d.text
    async with sessionmaker() as s, s.begin():
        with pytest.raises(Forbidden, match="annulée"):
            await accept_invitation(s, token=token, now=clock.now())


# ----- (3) listing and deactivating agents -------------------------------------------------------


async def test_admins_list_the_agents_of_their_tenants_only(
    seed: Seed, app_client: Client, sessionmaker: SM, clock: FrozenClock
) -> None:
    r = await app_client.get(f"{ADMIN}/agents", headers=seed.auth(seed.admin_token))

    assert r.status_code == 200, r.text
    emails = {a["email"] for a in r.json()["items"]}
    assert {"instr@a.invalid", "counter@a.invalid", "admin@a.invalid"} <= emails
    assert "instr@b.invalid" not in emails and "admin@b.invalid" not in emails
    assert r.json()["total"] == len(emails)

    r = await app_client.get(
        f"{ADMIN}/agents?tenant=69001&q=COUNTER", headers=seed.auth(seed.admin_token)
    )
    [counter] = r.json()["items"]
    assert counter["roles"] == [
        {"tenant_id": str(seed.commune_id), "tenant": "69001", "role": "counter_agent"}
    ]
    assert counter["status"] == "active"
    r = await app_client.get(f"{ADMIN}/agents?q=%25", headers=seed.auth(seed.admin_token))
    assert r.status_code == 200 and r.json()["items"] == []  # LIKE wildcards are literal

    assert_problem(
        await app_client.get(f"{ADMIN}/agents?tenant=69002", headers=seed.auth(seed.admin_token)),
        404,
    )
    _, metro_token = await metro_admin(sessionmaker, clock, seed)
    r = await app_client.get(f"{ADMIN}/agents?tenant=commune-b", headers=seed.auth(metro_token))
    assert {a["email"] for a in r.json()["items"]} == {"instr@b.invalid", "admin@b.invalid"}
    r = await app_client.get(f"{ADMIN}/agents?limit=2&offset=1", headers=seed.auth(metro_token))
    assert len(r.json()["items"]) == 2 and r.json()["total"] >= 8


@pytest.mark.parametrize(
    "query", ["q=a%00b", "limit=0", "limit=abc", "offset=-1", "q=" + "x" * 201]
)
async def test_bad_agent_queries_are_refused(seed: Seed, app_client: Client, query: str) -> None:
    r = await app_client.get(f"{ADMIN}/agents?{query}", headers=seed.auth(seed.admin_token))

    assert_problem(r, (400, 422))


async def test_a_deactivated_agent_loses_sessions_and_bearer_tokens_at_once(
    seed: Seed, app_client: Client, sessionmaker: SM, clock: FrozenClock
) -> None:
    async with sessionmaker() as s, s.begin():
        started = await start_session(s, now=clock.now(), agent_id=seed.instructor_id)
    me = await app_client.get("/api/v1/auth/me", headers=seed.auth(seed.instructor_token))
    assert me.status_code == 200  # the token is now in the app's cache

    r = await app_client.post(
        f"{ADMIN}/agents/{seed.instructor_id}/deactivate", headers=seed.auth(seed.admin_token)
    )

    assert r.status_code == 200, r.text
    assert r.json()["status"] == "inactive"
    assert_problem(
        await app_client.get("/api/v1/auth/me", headers=seed.auth(seed.instructor_token)), 401
    )
    async with sessionmaker() as s:
        session_row = await s.get(WebSession, started.record.id)
        assert session_row is not None and session_row.ended_at == clock.now()
        tokens = list(
            await s.scalars(select(AccessToken).where(AccessToken.agent_id == seed.instructor_id))
        )
        assert tokens and all(t.revoked for t in tokens)
    [entry] = await journal(sessionmaker, "admin.agent.deactivated")
    assert (entry.actor_id, entry.ip, entry.tenant_id) == (seed.admin_id, IP, seed.commune_id)


async def test_deactivation_stays_within_the_admins_tenants(
    seed: Seed, app_client: Client, sessionmaker: SM, clock: FrozenClock
) -> None:
    both, _ = await agent_with(
        sessionmaker,
        clock,
        [(Role.INSTRUCTOR, seed.commune_id), (Role.INSTRUCTOR, seed.other_commune_id)],
    )

    r = await app_client.post(
        f"{ADMIN}/agents/{seed.instructor_id}/deactivate", headers=seed.auth(seed.other_admin_token)
    )
    assert_problem(r, 404)
    r = await app_client.post(
        f"{ADMIN}/agents/{uuid.uuid4()}/deactivate", headers=seed.auth(seed.admin_token)
    )
    assert_problem(r, 404)
    r = await app_client.post(
        f"{ADMIN}/agents/{both}/deactivate", headers=seed.auth(seed.admin_token)
    )
    assert "retirez-lui plutôt ses rôles" in assert_problem(r, 409)["detail"]
    r = await app_client.post(
        f"{ADMIN}/agents/{seed.admin_id}/deactivate", headers=seed.auth(seed.admin_token)
    )
    assert_problem(r, 409)

    _, metro_token = await metro_admin(sessionmaker, clock, seed)
    r = await app_client.post(f"{ADMIN}/agents/{both}/deactivate", headers=seed.auth(metro_token))
    assert r.status_code == 200, r.text
    r = await app_client.post(
        f"{ADMIN}/agents/not-a-uuid/deactivate", headers=seed.auth(metro_token)
    )
    assert r.status_code in (400, 404) and r.status_code != 500


# ----- (4) roles ---------------------------------------------------------------------------------


async def test_an_admin_grants_and_revokes_roles_in_their_tenant(
    seed: Seed, app_client: Client, sessionmaker: SM
) -> None:
    url = f"{ADMIN}/agents/{seed.counter_id}/roles"

    r = await app_client.post(
        url,
        json={"tenant": "commune-a", "role": "phone_agent"},
        headers=seed.auth(seed.admin_token),
    )

    assert r.status_code == 201, r.text
    assert r.json()["roles"] == ["counter_agent", "phone_agent"]
    assert r.json()["tenant"] == "69001"
    me = await app_client.get("/api/v1/auth/me", headers=seed.auth(seed.counter_token))
    assert sorted(me.json()["roles"][str(seed.commune_id)]) == ["counter_agent", "phone_agent"]

    r = await app_client.delete(
        f"{url}/counter_agent?tenant=69001", headers=seed.auth(seed.admin_token)
    )
    assert r.status_code == 204, r.text
    me = await app_client.get("/api/v1/auth/me", headers=seed.auth(seed.counter_token))
    assert me.json()["roles"][str(seed.commune_id)] == ["phone_agent"]
    r = await app_client.delete(
        f"{url}/counter_agent?tenant=69001", headers=seed.auth(seed.admin_token)
    )
    assert_problem(r, 404)

    [granted] = [e for e in await journal(sessionmaker, "admin.role.granted") if e.ip]
    assert (granted.actor_id, granted.ip, granted.data["role"]) == (
        seed.admin_id,
        IP,
        "phone_agent",
    )
    [revoked] = await journal(sessionmaker, "admin.role.revoked")
    assert (revoked.actor_id, revoked.ip, revoked.tenant_id) == (seed.admin_id, IP, seed.commune_id)
    assert revoked.data == {"agent_id": str(seed.counter_id), "role": "counter_agent"}


async def test_roles_in_another_tenant_are_out_of_reach(
    seed: Seed, app_client: Client, sessionmaker: SM, clock: FrozenClock
) -> None:
    url = f"{ADMIN}/agents/{seed.counter_id}/roles"
    body = {"tenant": "69001", "role": "instructor"}

    assert_problem(
        await app_client.post(url, json=body, headers=seed.auth(seed.other_admin_token)), 404
    )
    r = await app_client.delete(
        f"{url}/counter_agent?tenant=69001", headers=seed.auth(seed.other_admin_token)
    )
    assert_problem(r, 404)
    assert_problem(
        await app_client.post(
            f"{ADMIN}/agents/{uuid.uuid4()}/roles", json=body, headers=seed.auth(seed.admin_token)
        ),
        404,
    )

    _, metro_token = await metro_admin(sessionmaker, clock, seed)
    r = await app_client.post(
        url, json={"tenant": "69002", "role": "instructor"}, headers=seed.auth(metro_token)
    )
    assert r.status_code == 201, r.text
    assert r.json()["roles"] == ["instructor"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"tenant": "69001", "role": "overlord"}, 422),
        ({"tenant": "69001", "role": "admin\u0000"}, 400),
        ({"tenant": "69001"}, 400),
        ({"tenant": 69001, "role": "instructor"}, 400),
        ({"tenant": "69001", "role": "instructor", "until": "demain"}, 400),
        ([], 400),
    ],
)
async def test_bad_role_requests_are_refused(
    seed: Seed, app_client: Client, body: Any, status: int
) -> None:
    r = await app_client.post(
        f"{ADMIN}/agents/{seed.counter_id}/roles", json=body, headers=seed.auth(seed.admin_token)
    )

    assert_problem(r, status)
    r = await app_client.delete(
        f"{ADMIN}/agents/{seed.counter_id}/roles/overlord?tenant=69001",
        headers=seed.auth(seed.admin_token),
    )
    assert_problem(r, 422)


async def test_an_admin_cannot_remove_their_own_last_admin_role(
    seed: Seed, app_client: Client, sessionmaker: SM, clock: FrozenClock
) -> None:
    own = f"{ADMIN}/agents/{seed.admin_id}/roles/admin?tenant=69001"

    r = await app_client.delete(own, headers=seed.auth(seed.admin_token))

    assert "dernier rôle d'administrateur" in assert_problem(r, 409)["detail"]
    me = await app_client.get(f"{ADMIN}/agents", headers=seed.auth(seed.admin_token))
    assert me.status_code == 200
    _, metro_token = await metro_admin(sessionmaker, clock, seed)
    assert (await app_client.delete(own, headers=seed.auth(metro_token))).status_code == 204
    assert_problem(
        await app_client.get(f"{ADMIN}/agents", headers=seed.auth(seed.admin_token)), 403
    )


# ----- (5) organisations -------------------------------------------------------------------------


async def test_an_organisation_is_recorded_by_siret_and_found_again(
    seed: Seed, app_client: Client, sessionmaker: SM
) -> None:
    r = await app_client.post(
        f"{ADMIN}/organisations",
        json={"siret": "732 829 320 00074", "name": "Boulangerie « Les Délices »"},
        headers=seed.auth(seed.admin_token),
    )

    assert r.status_code == 201, r.text
    org = r.json()
    assert (org["siren"], org["siret"]) == ("732829320", "73282932000074")
    assert org["source"] == "agent" and org["diffusible"] is True
    for query in ("q=d%C3%A9lices", "q=732829", "q=73282932000074", "q=boulangerie%20les"):
        r = await app_client.get(
            f"{ADMIN}/organisations?{query}", headers=seed.auth(seed.admin_token)
        )
        assert [o["id"] for o in r.json()["items"]] == [org["id"]], query
    r = await app_client.get(f"{ADMIN}/organisations?q=999", headers=seed.auth(seed.admin_token))
    assert r.json()["items"] == []
    r = await app_client.get(
        f"{ADMIN}/organisations/{org['id']}", headers=seed.auth(seed.other_admin_token)
    )
    assert r.json()["name"] == "Boulangerie « Les Délices »"
    assert_problem(
        await app_client.get(
            f"{ADMIN}/organisations/{uuid.uuid4()}", headers=seed.auth(seed.admin_token)
        ),
        404,
    )

    [entry] = await journal(sessionmaker, "admin.organisation.created")
    assert (entry.actor_id, entry.ip) == (seed.admin_id, IP)
    assert entry.data["siret"] == "73282932000074"

    again = await app_client.post(
        f"{ADMIN}/organisations",
        json={"siren": "732829320", "siret": "73282932000074", "name": "Doublon"},
        headers=seed.auth(seed.other_admin_token),
    )
    assert assert_problem(again, 409)["organisation_id"] == org["id"]
    legal_unit = await app_client.post(
        f"{ADMIN}/organisations",
        json={"siren": "732829320", "name": "Siège", "diffusible": False},
        headers=seed.auth(seed.admin_token),
    )
    assert legal_unit.status_code == 201, legal_unit.text
    assert legal_unit.json()["siret"] is None and legal_unit.json()["diffusible"] is False


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"siret": "73282932000075", "name": "x"}, 422, "siret"),  # Luhn
        ({"siren": "732829321", "name": "x"}, 422, "siren"),
        ({"siren": "552100554", "siret": "73282932000074", "name": "x"}, 422, "siret"),
        ({"name": "Sans numéro"}, 422, "siren"),
        ({"siret": "７３２８２９３２０００７４", "name": "x"}, 422, "siret"),  # full-width digits
        ({"siret": "7328293200007A", "name": "x"}, 422, "siret"),
        ({"siret": "35600000010001", "name": "La Poste"}, 422, "siret"),
        ({"siret": "73282932000074", "name": ""}, 400, None),
        ({"siret": "73282932000074", "name": "x" * 201}, 400, None),
        ({"siret": "73282932000074", "name": "A\u0000B"}, 400, None),
        ({"siret": 73282932000074, "name": "x"}, 400, None),
        ({"siret": "73282932000074", "name": "x", "diffusible": "peut-être"}, 400, None),
        ({"siret": "7" * 21, "name": "x"}, 400, None),
    ],
)
async def test_bad_organisations_are_refused(
    seed: Seed, app_client: Client, body: dict[str, Any], status: int, field: str | None
) -> None:
    r = await app_client.post(
        f"{ADMIN}/organisations", json=body, headers=seed.auth(seed.admin_token)
    )

    problem = assert_problem(r, status)
    if field:
        assert problem["errors"][0]["field"] == field


async def test_la_poste_establishments_follow_their_own_rule(
    seed: Seed, app_client: Client
) -> None:
    r = await app_client.post(
        f"{ADMIN}/organisations",
        json={"siret": "35600000010000", "name": "La Poste — bureau"},
        headers=seed.auth(seed.admin_token),
    )

    assert r.status_code == 201, r.text
    assert r.json()["siren"] == "356000000"


async def test_identity_checkers_read_organisations_but_do_not_create_them(
    seed: Seed, app_client: Client, sessionmaker: SM, clock: FrozenClock
) -> None:
    _, checker = await agent_with(sessionmaker, clock, [(Role.IDENTITY_CHECKER, seed.commune_id)])

    assert (
        await app_client.get(f"{ADMIN}/organisations", headers=seed.auth(checker))
    ).status_code == 200
    r = await app_client.post(
        f"{ADMIN}/organisations",
        json={"siret": "73282932000074", "name": "x"},
        headers=seed.auth(checker),
    )
    assert_problem(r, 403)


# ----- (6) mandates --------------------------------------------------------------------------------


async def organisation(client: Client, seed: Seed) -> str:
    r = await client.post(
        f"{ADMIN}/organisations",
        json={"siret": "73282932000074", "name": "ACME"},
        headers=seed.auth(seed.admin_token),
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def helper_mandate(helper: uuid.UUID, helped: uuid.UUID, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "tenant": "69001",
        "holder_person_id": str(helper),
        "represented_person_id": str(helped),
        "role": "aidant",
        "basis": "agent_validated",
        "scope": {"procedures": ["test.permit"]},
        "evidence": "Mandat papier signé, pièce d'identité vue au guichet (CNI n° 12AB34567)",
        "valid_until": "2026-06-30T22:00:00Z",
    }
    body.update(overrides)
    return body


async def test_a_helper_mandate_is_recorded_listed_used_and_revoked(
    seed: Seed, app_client: Client, sessionmaker: SM, clock: FrozenClock
) -> None:
    helper = await create_person(sessionmaker, now=clock.now(), given_name="Paul")
    helped = await create_person(sessionmaker, now=clock.now(), given_name="Jeanne")

    r = await app_client.post(
        f"{ADMIN}/mandates",
        json=helper_mandate(helper, helped),
        headers=seed.auth(seed.admin_token),
    )

    assert r.status_code == 201, r.text
    mandate = r.json()
    assert mandate["verified_by_agent_id"] == str(seed.admin_id)
    assert mandate["tenant_id"] == str(seed.commune_id)
    assert mandate["procedures"] == ["test.permit"]
    assert mandate["status"] == "active"
    assert mandate["valid_from"].startswith("2026-03-02T09:00")
    for query in (f"person={helped}", f"person={helper}", ""):
        r = await app_client.get(f"{ADMIN}/mandates?{query}", headers=seed.auth(seed.admin_token))
        assert [m["id"] for m in r.json()["items"]] == [mandate["id"]]
    async with sessionmaker() as s:
        found = await active_mandate(
            s,
            holder_person_id=helper,
            represented_id=helped,
            procedure_key="test.permit",
            action="act",
            now=clock.now(),
        )
        assert found is not None and str(found.id) == mandate["id"]
        assert (
            await active_mandate(
                s,
                holder_person_id=helper,
                represented_id=helped,
                procedure_key="urbanism.pcmi",
                action="read",
                now=clock.now(),
            )
            is None
        )
    [created] = await journal(sessionmaker, "identity.mandate.created")
    assert (created.actor_id, created.ip, created.tenant_id) == (seed.admin_id, IP, seed.commune_id)

    r = await app_client.post(
        f"{ADMIN}/mandates/{mandate['id']}/revoke",
        json={"reason": "Fin de l'accompagnement"},
        headers=seed.auth(seed.admin_token),
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "revoked"
    assert r.json()["revoked_reason"] == "Fin de l'accompagnement"
    again = await app_client.post(
        f"{ADMIN}/mandates/{mandate['id']}/revoke",
        json={"reason": "encore"},
        headers=seed.auth(seed.admin_token),
    )
    assert_problem(again, 409)
    async with sessionmaker() as s:
        assert (
            await active_mandate(
                s,
                holder_person_id=helper,
                represented_id=helped,
                procedure_key="test.permit",
                action="act",
                now=clock.now(),
            )
            is None
        )
    [revoked] = await journal(sessionmaker, "identity.mandate.revoked")
    assert (revoked.actor_id, revoked.ip) == (seed.admin_id, IP)


async def test_a_helper_mandate_ends_on_its_expiry(
    seed: Seed, app_client: Client, sessionmaker: SM, clock: FrozenClock
) -> None:
    helper = await create_person(sessionmaker, now=clock.now())
    helped = await create_person(sessionmaker, now=clock.now())
    body = helper_mandate(helper, helped, valid_until="2026-03-03T09:00:00+00:00")
    r = await app_client.post(f"{ADMIN}/mandates", json=body, headers=seed.auth(seed.admin_token))
    assert r.status_code == 201, r.text

    clock.advance(timedelta(days=1))

    async with sessionmaker() as s:
        found = await active_mandate(
            s,
            holder_person_id=helper,
            represented_id=helped,
            procedure_key="test.permit",
            action="read",
            now=clock.now(),
        )
    assert found is None
    r = await app_client.get(
        f"{ADMIN}/mandates?person={helped}", headers=seed.auth(seed.admin_token)
    )
    assert r.json()["items"][0]["status"] == "expired"


async def test_company_membership_lets_read_but_not_act(
    seed: Seed, app_client: Client, sessionmaker: SM, clock: FrozenClock
) -> None:
    org_id = await organisation(app_client, seed)
    employee = await create_person(sessionmaker, now=clock.now())
    body = {
        "tenant": "69001",
        "holder_person_id": str(employee),
        "organisation_id": org_id,
        "role": "comptable",
        "basis": "proconnect_siret_membership",
    }
    r = await app_client.post(f"{ADMIN}/mandates", json=body, headers=seed.auth(seed.admin_token))
    assert r.status_code == 201, r.text
    assert r.json()["valid_until"] is None and r.json()["procedures"] == []

    async with sessionmaker() as s:
        kwargs: dict[str, Any] = {
            "holder_person_id": employee,
            "represented_id": uuid.UUID(org_id),
            "procedure_key": "test.permit",
            "now": clock.now(),
        }
        assert await active_mandate(s, action="read", **kwargs) is not None
        assert await active_mandate(s, action="act", **kwargs) is None

    r = await app_client.post(
        f"{ADMIN}/mandates",
        json={**body, "role": "gérant", "basis": "certification_dirigeant"},
        headers=seed.auth(seed.admin_token),
    )
    assert r.status_code == 201, r.text
    async with sessionmaker() as s:
        acting = await active_mandate(s, action="act", **kwargs)
        assert acting is not None and acting.basis == "certification_dirigeant"
    r = await app_client.get(
        f"{ADMIN}/mandates?organisation={org_id}", headers=seed.auth(seed.admin_token)
    )
    assert r.json()["total"] == 2
    dup = await app_client.post(f"{ADMIN}/mandates", json=body, headers=seed.auth(seed.admin_token))
    assert_problem(dup, 409)


async def test_mandates_stay_within_the_tenants_of_the_agent(
    seed: Seed, app_client: Client, sessionmaker: SM, clock: FrozenClock
) -> None:
    helper = await create_person(sessionmaker, now=clock.now())
    helped = await create_person(sessionmaker, now=clock.now())
    _, checker = await agent_with(sessionmaker, clock, [(Role.IDENTITY_CHECKER, seed.commune_id)])
    r = await app_client.post(
        f"{ADMIN}/mandates", json=helper_mandate(helper, helped), headers=seed.auth(checker)
    )
    assert r.status_code == 201, r.text
    mandate_id = r.json()["id"]

    other = seed.auth(seed.other_admin_token)
    assert_problem(
        await app_client.post(
            f"{ADMIN}/mandates", json=helper_mandate(helper, helped), headers=other
        ),
        404,
    )
    r = await app_client.get(f"{ADMIN}/mandates?person={helped}", headers=other)
    assert r.status_code == 200 and r.json()["items"] == []
    r = await app_client.post(
        f"{ADMIN}/mandates/{mandate_id}/revoke", json={"reason": "x"}, headers=other
    )
    assert_problem(r, 404)
    r = await app_client.post(
        f"{ADMIN}/mandates",
        json=helper_mandate(helper, helped),
        headers=seed.auth(seed.instructor_token),
    )
    assert_problem(r, 403)

    _, metro_token = await metro_admin(sessionmaker, clock, seed)
    r = await app_client.get(f"{ADMIN}/mandates?person={helped}", headers=seed.auth(metro_token))
    assert [m["id"] for m in r.json()["items"]] == [mandate_id]
    r = await app_client.post(
        f"{ADMIN}/mandates/{mandate_id}/revoke",
        json={"reason": "Erreur de saisie"},
        headers=seed.auth(metro_token),
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("overrides", "status", "field"),
    [
        ({"valid_until": None}, 422, "valid_until"),
        ({"valid_until": "2027-03-03T09:00:00Z"}, 422, "valid_until"),  # > 365 days
        ({"valid_until": "2026-03-01T09:00:00Z"}, 422, "valid_until"),  # past
        ({"valid_until": "2026-06-30T22:00:00"}, 400, None),  # no time zone
        ({"valid_until": "demain"}, 400, None),
        ({"basis": "parce_que"}, 422, "basis"),
        ({"basis": "certification_dirigeant"}, 422, "basis"),  # a company basis for a person
        ({"scope": {"procedures": ["test.nope"]}}, 422, "scope.procedures.0"),
        ({"scope": {"procedures": ["Tout"]}}, 422, "scope.procedures.0"),
        ({"scope": {"procedures": "test.permit"}}, 400, None),
        ({"scope": {"everything": True}}, 400, None),
        ({"organisation_id": str(UNKNOWN)}, 422, "represented_person_id"),  # both
        ({"represented_person_id": None}, 422, "represented_person_id"),  # neither
        ({"holder_person_id": str(UNKNOWN)}, 422, "holder_person_id"),
        ({"holder_person_id": "pas-un-uuid"}, 400, None),
        ({"role": ""}, 400, None),
        ({"role": "aidant\u0000"}, 400, None),
        ({"evidence": "x" * 2001}, 400, None),
        ({"tenant": "69002"}, 404, None),
    ],
)
async def test_bad_mandates_are_refused(
    seed: Seed,
    app_client: Client,
    sessionmaker: SM,
    clock: FrozenClock,
    overrides: dict[str, Any],
    status: int,
    field: str | None,
) -> None:
    helper = await create_person(sessionmaker, now=clock.now())
    helped = await create_person(sessionmaker, now=clock.now())

    r = await app_client.post(
        f"{ADMIN}/mandates",
        json=helper_mandate(helper, helped, **overrides),
        headers=seed.auth(seed.admin_token),
    )

    problem = assert_problem(r, status)
    if field:
        assert problem["errors"][0]["field"] == field
    async with sessionmaker() as s:
        assert list(await s.scalars(select(Mandate))) == []


async def test_the_longest_helper_mandate_is_a_setting(
    seed: Seed,
    app_client: Client,
    sessionmaker: SM,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    helper = await create_person(sessionmaker, now=clock.now())
    helped = await create_person(sessionmaker, now=clock.now())
    monkeypatch.setenv("GUICHET_MANDATE_PERSON_MAX_DAYS", "30")
    mandate_settings.cache_clear()
    try:
        long = helper_mandate(helper, helped, valid_until="2026-04-01T09:00:01Z")
        r = await app_client.post(
            f"{ADMIN}/mandates", json=long, headers=seed.auth(seed.admin_token)
        )
        assert "30 jours" in assert_problem(r, 422)["detail"]
        short = helper_mandate(helper, helped, valid_until="2026-04-01T09:00:00Z")
        r = await app_client.post(
            f"{ADMIN}/mandates", json=short, headers=seed.auth(seed.admin_token)
        )
        assert r.status_code == 201, r.text
    finally:
        mandate_settings.cache_clear()


async def test_a_person_cannot_hold_a_mandate_for_themselves(
    seed: Seed, app_client: Client, sessionmaker: SM, clock: FrozenClock
) -> None:
    person = await create_person(sessionmaker, now=clock.now())

    r = await app_client.post(
        f"{ADMIN}/mandates",
        json=helper_mandate(person, person),
        headers=seed.auth(seed.admin_token),
    )

    assert_problem(r, 422)


# ----- (7) API clients (rotation has its own module) --------------------------------------------


async def test_admins_create_list_and_revoke_api_clients_of_their_tenant(
    seed: Seed, app_client: Client, sessionmaker: SM, clock: FrozenClock
) -> None:
    org_id = await organisation(app_client, seed)
    r = await app_client.post(
        f"{ADMIN}/api-clients",
        json={
            "tenant": "69001",
            "name": "Logiciel de facturation ACME",
            "scopes": ["intake:write"],
            "organisation_id": org_id,
        },
        headers=seed.auth(seed.admin_token),
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["organisation_id"] == org_id and created["scopes"] == ["intake:write"]
    token = await client_token(app_client, created["client_id"], created["client_secret"])
    me = await app_client.get("/api/v1/auth/me", headers=seed.auth(token))
    assert me.json()["kind"] == "api_client"

    r = await app_client.get(f"{ADMIN}/api-clients", headers=seed.auth(seed.admin_token))
    listed = {c["client_id"]: c for c in r.json()["items"]}
    assert set(listed) == {seed.client_id, created["client_id"]}
    assert "client_secret" not in r.text and created["client_secret"] not in r.text
    r = await app_client.get(
        f"{ADMIN}/api-clients?tenant=69002", headers=seed.auth(seed.admin_token)
    )
    assert_problem(r, 404)

    revoke = f"{ADMIN}/api-clients/{created['client_id']}/revoke"
    assert_problem(await app_client.post(revoke, headers=seed.auth(seed.other_admin_token)), 404)
    r = await app_client.post(revoke, headers=seed.auth(seed.admin_token))
    assert r.status_code == 200, r.text
    assert r.json()["active"] is False
    assert_problem(await app_client.get("/api/v1/auth/me", headers=seed.auth(token)), 401)
    r = await app_client.post(
        "/api/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": created["client_id"],
            "client_secret": created["client_secret"],
        },
    )
    assert_problem(r, 401)
    assert_problem(await app_client.post(revoke, headers=seed.auth(seed.admin_token)), 409)

    [made] = [e for e in await journal(sessionmaker, "admin.api_client.created") if e.ip]
    assert (made.actor_id, made.ip) == (seed.admin_id, IP)
    [gone] = await journal(sessionmaker, "admin.api_client.revoked")
    assert (gone.actor_id, gone.ip, gone.data["tokens_revoked"]) == (seed.admin_id, IP, 1)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"tenant": "69001", "name": "x", "scopes": ["everything"]}, 422),
        ({"tenant": "69001", "name": "x", "scopes": []}, 400),
        ({"tenant": "69001", "name": "x\u0000", "scopes": ["cases:read"]}, 400),
        ({"tenant": "69001", "name": "x" * 201, "scopes": ["cases:read"]}, 400),
        ({"tenant": "69001", "name": "x", "scopes": "cases:read"}, 400),
        (
            {
                "tenant": "69001",
                "name": "x",
                "scopes": ["cases:read"],
                "organisation_id": str(UNKNOWN),
            },
            422,
        ),
        ({"tenant": "69002", "name": "x", "scopes": ["cases:read"]}, 404),
    ],
)
async def test_bad_api_clients_are_refused(
    seed: Seed, app_client: Client, body: dict[str, Any], status: int
) -> None:
    r = await app_client.post(
        f"{ADMIN}/api-clients", json=body, headers=seed.auth(seed.admin_token)
    )

    assert_problem(r, status)


# ----- (8) journal -----------------------------------------------------------------------------------


async def test_the_journal_shows_the_admins_tenants_with_actor_and_ip(
    seed: Seed, app_client: Client, sessionmaker: SM, clock: FrozenClock
) -> None:
    await app_client.post(
        f"{ADMIN}/agents/{seed.counter_id}/roles",
        json={"tenant": "69001", "role": "phone_agent"},
        headers=seed.auth(seed.admin_token),
    )
    clock.advance(timedelta(minutes=5))
    await organisation(app_client, seed)
    await app_client.post(
        "/api/v1/auth/token",
        data={"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"},
    )

    r = await app_client.get(
        f"{ADMIN}/journal?event=admin.role", headers=seed.auth(seed.admin_token)
    )

    assert r.status_code == 200, r.text
    [entry] = [e for e in r.json()["items"] if e["ip"]]
    assert entry["event"] == "admin.role.granted"
    assert entry["actor_id"] == str(seed.admin_id) and entry["actor_kind"] == "agent"
    assert entry["ip"] == IP and entry["tenant_id"] == str(seed.commune_id)
    assert entry["data"] == {"agent_id": str(seed.counter_id), "role": "phone_agent"}

    r = await app_client.get(f"{ADMIN}/journal?limit=500", headers=seed.auth(seed.admin_token))
    items = r.json()["items"]
    assert {e["tenant_id"] for e in items} == {str(seed.commune_id)}
    assert [e["at"] for e in items] == sorted((e["at"] for e in items), reverse=True)
    r = await app_client.get(
        f"{ADMIN}/journal?actor={seed.admin_id}&since=2026-03-02T09:01:00%2B00:00",
        headers=seed.auth(seed.admin_token),
    )
    assert r.json()["items"] == []  # the organisation is tenant-less: métropole only
    r = await app_client.get(
        f"{ADMIN}/journal?actor={seed.admin_id}&until=2026-03-02T09:01:00Z",
        headers=seed.auth(seed.admin_token),
    )
    assert {e["event"] for e in r.json()["items"]} == {"admin.role.granted"}

    r = await app_client.get(
        f"{ADMIN}/journal?limit=500", headers=seed.auth(seed.other_admin_token)
    )
    assert {e["tenant_id"] for e in r.json()["items"]} == {str(seed.other_commune_id)}

    _, metro_token = await metro_admin(sessionmaker, clock, seed)
    r = await app_client.get(f"{ADMIN}/journal?limit=500", headers=seed.auth(metro_token))
    seen = {e["tenant_id"] for e in r.json()["items"]}
    assert {str(seed.commune_id), str(seed.other_commune_id), None} <= seen
    events = {e["event"] for e in r.json()["items"]}
    assert {"admin.organisation.created", "auth.token.refused"} <= events


async def test_the_journal_exports_as_csv_with_french_headers(
    seed: Seed, app_client: Client, sessionmaker: SM
) -> None:
    await app_client.post(
        f"{ADMIN}/agents/{seed.counter_id}/roles",
        json={"tenant": "69001", "role": "phone_agent"},
        headers=seed.auth(seed.admin_token),
    )
    async with sessionmaker() as s, s.begin():
        record(
            s,
            JournalEvent.LOGIN_FAILED,
            at=T0,
            tenant_id=seed.commune_id,
            data={"login": '=HYPERLINK("http://evil")', "note": 'virgule, "guillemets"\nligne'},
        )

    r = await app_client.get(f"{ADMIN}/journal.csv", headers=seed.auth(seed.admin_token))

    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert "journal.csv" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == [
        "Date (UTC)",
        "Événement",
        "Acteur",
        "Type d'acteur",
        "Collectivité (INSEE)",
        "Adresse IP",
        "Détails",
    ]
    assert all(len(row) == 7 for row in rows)
    granted = [row for row in rows if row[1] == "admin.role.granted" and row[5] == IP]
    assert granted == [
        [
            "2026-03-02T09:00:00+00:00",
            "admin.role.granted",
            str(seed.admin_id),
            "agent",
            "69001",
            IP,
            f'{{"agent_id": "{seed.counter_id}", "role": "phone_agent"}}',
        ]
    ]
    [failed] = [row for row in rows if row[1] == "identity.login.failed"]
    assert json.loads(failed[6])["note"] == 'virgule, "guillemets"\nligne'

    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    assert int(r.headers["x-total-count"]) == len(rows) - 1

    r = await app_client.get(
        f"{ADMIN}/journal.csv?event=identity.login.failed",
        headers=seed.auth(seed.other_admin_token),
    )
    assert list(csv.reader(io.StringIO(r.text)))[1:] == []


@pytest.mark.parametrize(
    "query",
    [
        "since=2026-03-02T09:00:00",  # no time zone
        "since=hier",
        "event=DROP%20TABLE",
        "event=" + "a" * 81,
        "limit=0",
        "limit=501",
        "actor=moi",
        "since=2026-03-03T00:00:00Z&until=2026-03-02T00:00:00Z",
        "event=a%00b",
    ],
)
async def test_bad_journal_queries_are_refused(seed: Seed, app_client: Client, query: str) -> None:
    for path in ("/journal", "/journal.csv"):
        if path.endswith(".csv") and query == "limit=501":
            continue  # the export allows larger pages
        r = await app_client.get(f"{ADMIN}{path}?{query}", headers=seed.auth(seed.admin_token))
        assert_problem(r, (400, 422))
