"""The demo data set: a métropole, a commune with its services, an agent and an API client."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from channels.open311.keys import create_key as create_open311_key
from channels.street.setup import enable_shipped_territories
from identity.models import Agent, Tenant
from identity.service import (
    add_tenant_service,
    create_agent,
    create_api_client,
    create_tenant,
    grant_role,
    issue_agent_token,
)
from services.kernel.actor import Role, Scope
from services.kernel.clock import Clock
from services.kernel.journal import JournalEvent, record

DEMO_COMMUNE = "99001"
DEMO_AGENT_EMAIL = "camille.martin@demo.guichet.invalid"


@dataclass(frozen=True, slots=True)
class DemoCredentials:
    tenant_insee: str
    tenant_name: str
    agent_email: str
    agent_token: str
    client_id: str
    client_secret: str
    created: bool
    open311_key: str = ""
    """An Open311 api_key valid for every tenant (shown once)."""


async def load_demo(
    session: AsyncSession, clock: Clock, *, agent_token_days: int = 30
) -> DemoCredentials:
    now = clock.now()
    commune = await session.scalar(select(Tenant).where(Tenant.insee_code == DEMO_COMMUNE))
    created = commune is None
    if commune is None:
        metropole = await create_tenant(
            session,
            now=now,
            insee_code="99000",
            slug="metropole-demo",
            name="Métropole de démonstration",
            kind="metropole",
            address="1 place de la Métropole",
            postal_code="99000",
            city="Démoville",
            phone="01 00 00 00 00",
            email="contact@metropole-demo.invalid",
        )
        commune = await create_tenant(
            session,
            now=now,
            insee_code=DEMO_COMMUNE,
            slug="demoville",
            name="Commune de Démoville",
            kind="commune",
            parent=metropole,
            address="2 rue de la Mairie",
            postal_code="99001",
            city="Démoville",
            phone="01 00 00 00 01",
            email="mairie@demoville.invalid",
        )
        await add_tenant_service(
            session,
            commune,
            code="accueil",
            name="Accueil de la mairie",
            address="2 rue de la Mairie, 99001 Démoville",
            phone="01 00 00 00 02",
            email="accueil@demoville.invalid",
            opening_hours="du lundi au vendredi, 8 h 30 – 17 h",
        )
        await add_tenant_service(
            session,
            commune,
            code="urbanisme",
            name="Service urbanisme",
            address="4 rue de la Mairie, 99001 Démoville",
            phone="01 00 00 00 03",
            email="urbanisme@demoville.invalid",
            opening_hours="mardi et jeudi, 9 h – 12 h",
        )
        await add_tenant_service(
            session,
            commune,
            code="cimetieres",
            name="Service des cimetières",
            address="2 rue de la Mairie, 99001 Démoville",
            phone="01 00 00 00 04",
            email="cimetieres@demoville.invalid",
            opening_hours="du lundi au samedi, 9 h – 12 h",
        )
        agent = await create_agent(
            session,
            now=now,
            email=DEMO_AGENT_EMAIL,
            given_name="Camille",
            family_name="Martin",
            title="Agente d'accueil et d'instruction",
        )
        for role in (Role.COUNTER_AGENT, Role.INSTRUCTOR):
            await grant_role(session, agent, role.value, commune, now=now)
    else:
        found = await session.scalar(select(Agent).where(Agent.email == DEMO_AGENT_EMAIL))
        if found is None:
            raise RuntimeError("the demo commune exists but its demo agent is gone")
        agent = found
    token = await issue_agent_token(session, agent, now=now, ttl=timedelta(days=agent_token_days))
    client, secret = await create_api_client(
        session,
        now=now,
        tenant=commune,
        name="Application de démonstration",
        scopes=[Scope.INTAKE_WRITE, Scope.CASES_READ],
    )
    # Street reports: the demo tenants' test boundaries, departments and default categories
    # (idempotent), and an Open311 key for trying the GeoReport v2 server.
    await enable_shipped_territories(session, now)
    _, open311_key = await create_open311_key(
        session, name="Application Open311 de démonstration", tenant_id=None, now=now
    )
    record(session, JournalEvent.DEMO_LOADED, at=now, tenant_id=commune.id)
    return DemoCredentials(
        tenant_insee=commune.insee_code,
        tenant_name=commune.name,
        agent_email=agent.email,
        agent_token=token.access_token,
        client_id=client.client_id,
        client_secret=secret,
        created=created,
        open311_key=open311_key,
    )


def demo_instructions(creds: DemoCredentials, base_url: str) -> str:
    return f"""
Démo chargée : {creds.tenant_name} (INSEE {creds.tenant_insee})
  Agent       : {creds.agent_email}
  Jeton agent : {creds.agent_token}
  Client API  : {creds.client_id}
  Secret      : {creds.client_secret}   (affiché une seule fois)

Essayer (ouvrir un dossier avec le client API) :
  TOKEN=$(curl -s -X POST {base_url}/api/v1/auth/token \\
      -d grant_type=client_credentials -d client_id={creds.client_id} \\
      -d client_secret={creds.client_secret} | python3 -c 'import sys,json;print(json.load(sys.stdin)["access_token"])')
  curl -s -X POST {base_url}/api/v1/intake/ -H "Authorization: Bearer $TOKEN" \\
      -H 'Content-Type: application/json' -d '{{"tenant": "{creds.tenant_insee}",
      "procedure": "general.request",
      "submitter": {{"given_name": "Alex", "family_name": "Dupont", "email": "alex@example.org"}},
      "payload": {{"subject": "Horaires de la déchetterie", "message": "Bonjour, quels sont les horaires ?"}}}}'

Puis, en agent :
  curl -s {base_url}/api/v1/cases/ -H "Authorization: Bearer {creds.agent_token}"

Open311 GeoReport v2 (signalements) :
  Découverte  : {base_url}/api/v1/open311/v2/discovery.xml   (ou .json)
  api_key     : {creds.open311_key}   (affichée une seule fois)
  curl -s -X POST {base_url}/api/v1/open311/v2/requests.json -d api_key={creds.open311_key} \\
      -d jurisdiction_id={creds.tenant_insee} -d service_code=chaussee -d lat=48.85 -d long=2.35 \\
      --data-urlencode "description=Nid-de-poule devant la mairie"
"""
