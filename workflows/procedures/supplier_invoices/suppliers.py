"""Supplier master data: create, update, list, and the CSV import (all lines or none).

The CSV has a header line; columns (``;`` or ``,`` separated, UTF-8 with or without BOM):
``siret`` (required), ``nom`` (required), ``iban``, ``contact_nom``, ``contact_email``,
``contact_telephone``, ``actif`` (oui/non, default oui). A line whose SIRET exists updates the
supplier. Every line is checked first; one bad line and nothing is written, the error report
names each bad line and column.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.errors import Conflict, NotFound, ValidationFailed
from services.kernel.validation import french_errors
from workflows.procedures.supplier_invoices.identifiers import normal_iban, normal_siret
from workflows.procedures.supplier_invoices.models import Supplier

MAX_IMPORT_LINES = 50_000
MAX_IMPORT_BYTES = 10 * 1024 * 1024
SUPPLIER_NOT_FOUND = "Fournisseur introuvable dans cette collectivité."


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(default="", max_length=200)
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone: str | None = Field(default=None, max_length=30)


def _no_control(value: str) -> str:
    if any(ord(c) < 32 for c in value):
        raise ValueError("caractères de contrôle interdits")
    return value


class SupplierIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    siret: str = Field(max_length=20, description="SIRET (14 chiffres)")
    name: str = Field(min_length=1, max_length=200, description="Raison sociale")
    iban: str | None = Field(default=None, max_length=42)
    contacts: list[Contact] = Field(default_factory=list, max_length=20)
    organisation_id: uuid.UUID | None = None
    active: bool = True

    @field_validator("siret")
    @classmethod
    def _siret(cls, value: str) -> str:
        normal = normal_siret(value)
        if normal is None:
            raise ValueError("SIRET invalide : 14 chiffres dont la clé de contrôle (Luhn)")
        return normal

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _no_control(value)

    @field_validator("iban")
    @classmethod
    def _iban(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        normal = normal_iban(value)
        if normal is None:
            raise ValueError("IBAN invalide (clé de contrôle ISO 13616)")
        return normal


class SupplierRead(BaseModel):
    id: uuid.UUID
    siren: str
    siret: str
    name: str
    iban: str | None
    contacts: list[dict[str, Any]]
    organisation_id: uuid.UUID | None
    active: bool

    @classmethod
    def of(cls, row: Supplier) -> SupplierRead:
        return cls(
            id=row.id,
            siren=row.siren,
            siret=row.siret,
            name=row.name,
            iban=row.iban,
            contacts=list(row.contacts.get("contacts", [])),
            organisation_id=row.organisation_id,
            active=row.active,
        )


def _apply(row: Supplier, data: SupplierIn, now: datetime) -> None:
    row.siren = data.siret[:9]
    row.siret = data.siret
    row.name = data.name
    row.iban = data.iban
    row.contacts = {"contacts": [c.model_dump(exclude_none=True) for c in data.contacts]}
    row.organisation_id = data.organisation_id
    row.active = data.active
    row.updated_at = now


async def create_supplier(
    session: AsyncSession, tenant_id: uuid.UUID, data: SupplierIn, *, now: datetime
) -> Supplier:
    existing = await session.scalar(
        select(Supplier).where(Supplier.tenant_id == tenant_id, Supplier.siret == data.siret)
    )
    if existing is not None:
        raise Conflict(f"Le fournisseur SIRET {data.siret} existe déjà ({existing.name}).")
    row = Supplier(tenant_id=tenant_id, created_at=now)
    _apply(row, data, now)
    session.add(row)
    await session.flush()
    return row


async def get_supplier(
    session: AsyncSession, tenant_id: uuid.UUID, supplier_id: uuid.UUID
) -> Supplier:
    row = await session.get(Supplier, supplier_id)
    if row is None or row.tenant_id != tenant_id:
        raise NotFound(SUPPLIER_NOT_FOUND)
    return row


async def update_supplier(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    supplier_id: uuid.UUID,
    data: SupplierIn,
    *,
    now: datetime,
) -> Supplier:
    row = await get_supplier(session, tenant_id, supplier_id)
    if data.siret != row.siret:
        clash = await session.scalar(
            select(Supplier.id).where(Supplier.tenant_id == tenant_id, Supplier.siret == data.siret)
        )
        if clash is not None:
            raise Conflict(f"Le SIRET {data.siret} est déjà celui d'un autre fournisseur.")
    _apply(row, data, now)
    await session.flush()
    return row


async def list_suppliers(
    session: AsyncSession, tenant_id: uuid.UUID, *, q: str | None, limit: int, offset: int
) -> tuple[list[Supplier], int]:
    query = select(Supplier).where(Supplier.tenant_id == tenant_id)
    if q:
        like = f"%{q.lower()}%"
        query = query.where(
            func.lower(Supplier.name).like(like) | Supplier.siret.like(f"{q.strip()}%")
        )
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(
        query.order_by(Supplier.name, Supplier.id).limit(limit).offset(offset)
    )
    return list(rows), int(total)


# ----- CSV import -------------------------------------------------------------------------------

COLUMNS = ("siret", "nom", "iban", "contact_nom", "contact_email", "contact_telephone", "actif")
REQUIRED = ("siret", "nom")


def _decode(data: bytes) -> str:
    if len(data) > MAX_IMPORT_BYTES:
        raise ValidationFailed(
            f"Fichier trop volumineux ({len(data)} octets, maximum {MAX_IMPORT_BYTES}).",
            errors=[{"field": "fichier", "message": "trop volumineux", "type": "too_large"}],
        )
    if b"\x00" in data:
        raise ValidationFailed(
            "Le fichier n'est pas un CSV texte (octet nul).",
            errors=[{"field": "fichier", "message": "octet nul", "type": "binary"}],
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed(
            "Le fichier n'est pas en UTF-8 : enregistrez-le en « CSV UTF-8 ».",
            errors=[{"field": "fichier", "message": "encodage non UTF-8", "type": "encoding"}],
        ) from None


def parse_csv(data: bytes) -> tuple[list[tuple[int, SupplierIn]], list[dict[str, Any]]]:
    """(valid lines with their line number, errors) — nothing is written here."""
    text = _decode(data)
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ValidationFailed(
            f"En-tête incomplet : colonnes manquantes {', '.join(missing)} (colonnes attendues : "
            f"{', '.join(COLUMNS)}).",
            errors=[
                {"field": f"entete.{c}", "message": "colonne manquante", "type": "missing"}
                for c in missing
            ],
        )
    reader.fieldnames = header
    good: list[tuple[int, SupplierIn]] = []
    errors: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(reader, start=2):
        if index - 1 > MAX_IMPORT_LINES:
            errors.append(
                {"field": f"ligne {index}", "message": "trop de lignes", "type": "too_many"}
            )
            break
        line = {k: (v or "").strip() for k, v in raw.items() if isinstance(k, str)}
        if None in raw:
            errors.append(
                {"field": f"ligne {index}", "message": "trop de colonnes", "type": "columns"}
            )
            continue
        if not any(line.values()):
            continue
        active = line.get("actif", "").lower() or "oui"
        if active not in {"oui", "non", "1", "0", "true", "false"}:
            errors.append(
                {"field": f"ligne {index}.actif", "message": "oui ou non", "type": "bool"}
            )
            continue
        contact = {
            "name": line.get("contact_nom", ""),
            "email": line.get("contact_email") or None,
            "phone": line.get("contact_telephone") or None,
        }
        try:
            item = SupplierIn.model_validate(
                {
                    "siret": line.get("siret", ""),
                    "name": line.get("nom", ""),
                    "iban": line.get("iban") or None,
                    "contacts": [contact] if any(contact.values()) else [],
                    "active": active in {"oui", "1", "true"},
                }
            )
        except ValidationError as exc:
            for err in french_errors(exc):
                errors.append({**err, "field": f"ligne {index}.{err['field']}"})
            continue
        if item.siret in seen:
            errors.append(
                {
                    "field": f"ligne {index}.siret",
                    "message": f"SIRET déjà présent ligne {seen[item.siret]}",
                    "type": "duplicate",
                }
            )
            continue
        seen[item.siret] = index
        good.append((index, item))
    return good, errors


async def import_csv(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    data: bytes,
    *,
    now: datetime,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Import in the caller's transaction; ValidationFailed (per-line errors) writes nothing."""
    good, errors = parse_csv(data)
    if errors:
        raise ValidationFailed(
            f"Import refusé : {len(errors)} erreur(s) ; aucun fournisseur n'a été enregistré. "
            "Corrigez les lignes indiquées puis relancez l'import.",
            errors=errors,
        )
    existing = {
        row.siret: row
        for row in await session.scalars(select(Supplier).where(Supplier.tenant_id == tenant_id))
    }
    created = updated = 0
    for _line, item in good:
        row = existing.get(item.siret)
        if row is None:
            row = Supplier(tenant_id=tenant_id, created_at=now)
            session.add(row)
            created += 1
        else:
            updated += 1
            item = item.model_copy(update={"organisation_id": row.organisation_id})
        _apply(row, item, now)
        if progress is not None:
            progress(1)
    await session.flush()
    return {"created": created, "updated": updated, "lines": len(good)}
