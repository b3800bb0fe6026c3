"""Urbanism files filed for real (web, counter) and driven through the legal calendar."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.kernel.clock import FrozenClock
from workflows.cases.jobs import fire_due_deadlines
from workflows.engine.runner import Engine
from workflows.procedures.urbanism.models import UrbanismFile

PARIS = ZoneInfo("Europe/Paris")
SM = async_sessionmaker[AsyncSession]

APPLICANT: dict[str, Any] = {
    "kind": "personne_physique",
    "civility": "Mme",
    "family_name": "Dupont",
    "given_name": "Jeanne",
    "address": {"street": "3 rue des Lilas", "postal_code": "69001", "city": "Lyon"},
    "email": "jeanne.dupont@example.fr",
    "electronic_consent": True,
}
COMPANY: dict[str, Any] = {
    "kind": "personne_morale",
    "name": "SCI Les Tilleuls",
    "siret": "73282932000074",
    "legal_form": "SCI",
    "representative": {"family_name": "Martin", "given_name": "Paul", "capacity": "gérant"},
    "address": {"street": "1 place Bellecour", "postal_code": "69002", "city": "Lyon"},
}
LAND: dict[str, Any] = {
    "address": {"street": "12 chemin du Moulin", "postal_code": "69001", "city": "Lyon"},
    "parcels": [{"section": "AB", "numero": "12", "area": 500}],
    "total_area": 500,
}
HOUSE: dict[str, Any] = {
    "nature_of_works": ["construction_nouvelle"],
    "description": "Maison de plain-pied avec garage",
    "floor_areas": [{"destination": "habitation", "created": 120.5}],
    "footprint": 140,
    "dwellings": 1,
    "height": 5.2,
}

PAYLOADS: dict[str, dict[str, Any]] = {
    "urbanism.dp": {
        "applicants": [APPLICANT],
        "land": LAND,
        "project": {
            "nature_of_works": ["abattage_arbres"],
            "description": "Abattage de trois peupliers",
            "maison_individuelle": True,
            "tree_felling": True,
        },
        "pieces": ["DPC1"],
    },
    "urbanism.pcmi": {
        "applicants": [APPLICANT],
        "land": LAND,
        "project": HOUSE,
        "pieces": ["PCMI1", "PCMI2", "PCMI3", "PCMI4"],
    },
    "urbanism.pc": {
        "applicants": [COMPANY],
        "architect": {
            "family_name": "Lefèvre",
            "given_name": "Anne",
            "registration_number": "S12345",
        },
        "land": LAND,
        "project": {**HOUSE, "dwellings": 12, "description": "Immeuble de 12 logements"},
        "pieces": ["PC1", "PC2", "PC3", "PC4", "PC5", "PC6", "PC7", "PC8"],
    },
}


def payload(key: str, **overrides: Any) -> dict[str, Any]:
    body = copy.deepcopy(PAYLOADS[key])
    body.update(overrides)
    return body


def paris(day: date, hour: int = 10) -> datetime:
    """``day`` at ``hour`` in Paris, as an aware UTC instant."""
    return datetime.combine(day, time(hour), tzinfo=PARIS).astimezone(UTC)


def at_midnight(day: date) -> datetime:
    """00:00 of ``day`` in Paris: the instant a tacit decision born that day exists."""
    return datetime.combine(day, time(0), tzinfo=PARIS).astimezone(UTC)


async def file_at_counter(
    client: AsyncTestClient[Any],
    headers: dict[str, str],
    key: str,
    *,
    tenant: str = "69001",
    received_at: datetime | None = None,
    body: dict[str, Any] | None = None,
) -> uuid.UUID:
    """A paper file registered at the counter (``received_at``: the day it was handed in)."""
    request: dict[str, Any] = {
        "tenant": tenant,
        "procedure": key,
        "channel": "counter",
        "payload": body if body is not None else payload(key),
        "submitter": {
            "given_name": "Jeanne",
            "family_name": "Dupont",
            "email": "jeanne.dupont@example.fr",
        },
        "identity_check": "document_seen",
    }
    if received_at is not None:
        request["received_at"] = received_at.isoformat()
        request["received_at_reason"] = "Dossier papier déposé en mairie"
    r = await client.post("/api/v1/guichet/demandes", headers=headers, json=request)
    assert r.status_code == 201, r.text
    return uuid.UUID(r.json()["case_id"])


async def file_on_the_web(
    client: AsyncTestClient[Any], headers: dict[str, str], key: str, *, tenant: str = "69001"
) -> uuid.UUID:
    r = await client.post(
        "/api/v1/drafts",
        json={"tenant": tenant, "procedure": key, "payload": payload(key)},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    r = await client.post(f"/api/v1/drafts/{r.json()['id']}/submit", headers=headers)
    assert r.status_code == 201, r.text
    return uuid.UUID(r.json()["case_id"])


async def urbanism_file(sm: SM, case_id: uuid.UUID) -> UrbanismFile:
    async with sm() as s:
        row = await s.scalar(select(UrbanismFile).where(UrbanismFile.case_id == case_id))
        assert row is not None
        return row


def legal_date(row: UrbanismFile, key: str) -> date | None:
    for item in row.timeline.get("dates", []):
        if item["key"] == key:
            return date.fromisoformat(item["on"])
    return None


async def move_to(sm: SM, engine: Engine, clock: FrozenClock, instant: datetime) -> int:
    """Set the clock and fire every deadline due by then, as the timer job does."""
    clock.set(instant)
    return await fire_due_deadlines(sm, engine, clock, batch=50)


async def fresh_token(sm: SM, agent_id: uuid.UUID, clock: FrozenClock) -> dict[str, str]:
    """Bearer headers of a token issued now (the seed's expire when a test jumps years ahead)."""
    from identity import service as ids
    from identity.models import Agent

    async with sm() as s, s.begin():
        agent = await s.get(Agent, agent_id)
        assert agent is not None
        token = await ids.issue_agent_token(s, agent, now=clock.now(), ttl=timedelta(days=2))
    return {"Authorization": f"Bearer {token.access_token}"}
