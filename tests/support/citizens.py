"""Helpers for the citizens' HTTP tests: a person's request headers, a FranceConnect identity as a
login would leave it, mandates, a stored document, and filing on the web."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from documents.models import StoredDocument
from documents.storage import storage_from_settings
from identity.models import FederatedIdentity, Mandate, Organisation
from identity.sessions import session_settings
from tests.support.people import SignedIn

FC_ISSUER = "https://fc.test.invalid/api/v2"
INTAKE = "/api/v1/intake/"


def as_person(person: SignedIn, *, csrf: bool = True) -> dict[str, str]:
    """Headers of a browser request by this person: the session cookie (sent explicitly: it is
    ``Secure`` and the test client talks plain HTTP) and, for unsafe methods, the CSRF token."""
    headers = {"Cookie": f"{session_settings().cookie_name}={person.cookie}"}
    if csrf:
        headers["X-CSRF-Token"] = person.csrf
    return headers


def pivot_claims(
    given_name: str = "Marie Louise", family_name: str = "DUPONT", **extra: Any
) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "sub": uuid.uuid4().hex + "v1",
        "given_name": given_name,
        "family_name": family_name,
        "birthdate": "1980-06-15",
        "gender": "female",
        "birthplace": "69123",
        "birthcountry": "99100",
        "email": "marie.fc@example.org",
        "acr": "eidas1",
        "amr": ["pwd"],
    }
    claims.update(extra)
    return claims


async def add_identity(
    sm: async_sessionmaker[AsyncSession],
    person_id: uuid.UUID,
    *,
    now: datetime,
    provider: str = "franceconnect",
    issuer: str = FC_ISSUER,
    claims: dict[str, Any] | None = None,
    retired_at: datetime | None = None,
    idp_id: str | None = "fip1",
) -> uuid.UUID:
    """A FederatedIdentity row with verified claims, as a FranceConnect login leaves it."""
    values = claims if claims is not None else pivot_claims()
    async with sm() as s, s.begin():
        identity = FederatedIdentity(
            provider=provider,
            issuer=issuer,
            subject=str(values.get("sub") or uuid.uuid4().hex),
            idp_id=idp_id,
            person_id=person_id,
            claims=values,
            acr=str(values.get("acr") or "eidas1"),
            verified_at=now,
            linked_at=now,
            retired_at=retired_at,
            retired_reason="sub modifié (rectification d'état civil)" if retired_at else None,
        )
        s.add(identity)
        await s.flush()
        return identity.id


async def add_mandate(
    sm: async_sessionmaker[AsyncSession],
    *,
    holder_person_id: uuid.UUID,
    now: datetime,
    represented_person_id: uuid.UUID | None = None,
    organisation_id: uuid.UUID | None = None,
    basis: str = "person_consent",
    procedures: list[str] | None = None,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    revoked_at: datetime | None = None,
    tenant_id: uuid.UUID | None = None,
    role: str = "aidant",
) -> uuid.UUID:
    async with sm() as s, s.begin():
        mandate = Mandate(
            holder_person_id=holder_person_id,
            represented_person_id=represented_person_id,
            organisation_id=organisation_id,
            role=role,
            basis=basis,
            scope={"procedures": list(procedures or [])},
            evidence="test",
            tenant_id=tenant_id,
            valid_from=valid_from or now - timedelta(days=1),
            valid_until=valid_until if valid_until is not None else now + timedelta(days=90),
            created_at=now,
            revoked_at=revoked_at,
            revoked_reason="révoqué pour le test" if revoked_at else None,
        )
        s.add(mandate)
        await s.flush()
        return mandate.id


async def add_organisation(
    sm: async_sessionmaker[AsyncSession], *, now: datetime, name: str = "Menuiserie Durand"
) -> uuid.UUID:
    async with sm() as s, s.begin():
        organisation = Organisation(
            siren="732829320",
            siret="73282932000074",
            name=name,
            source="agent",
            created_at=now,
        )
        s.add(organisation)
        await s.flush()
        return organisation.id


async def store_document(
    sm: async_sessionmaker[AsyncSession],
    case_id: uuid.UUID | str,
    *,
    now: datetime,
    kind: str = "are",
    data: bytes = b"%PDF-1.7\n% test document\n%%EOF\n",
) -> uuid.UUID:
    """A document of the case, its bytes in the storage the app reads (GUICHET_DATA_DIR)."""
    blob = await storage_from_settings().put(data)
    async with sm() as s, s.begin():
        document = StoredDocument(
            case_id=uuid.UUID(str(case_id)),
            kind=kind,
            seq=1,
            title="Accusé de réception",
            sha256=blob.sha256,
            size=blob.size,
            content_type="application/pdf",
            storage_key=blob.key,
            created_at=now,
        )
        s.add(document)
        await s.flush()
        return document.id


def web_request(**overrides: Any) -> dict[str, Any]:
    """A person's filing of ``test.permit`` in commune A: no submitter block (it comes from the
    account)."""
    body: dict[str, Any] = {
        "tenant": "69001",
        "procedure": "test.permit",
        "payload": {"title": "Abri de jardin", "area_m2": 12},
    }
    body.update(overrides)
    return body
