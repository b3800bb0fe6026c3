"""Categories (Open311 services) and departments of a tenant, their attributes, the default set.

A category's ``code`` is its Open311 ``service_code`` (a string: "001" keeps its zeros). Each is
routed to one department, whose members see its queue, and has a service-level target in working
days. Attributes follow the Open311 service definition (datatype, required, order, values).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.errors import NotFound
from workflows.procedures.street_reports.definition import no_control
from workflows.procedures.street_reports.models import StreetCategory, StreetDepartment

Datatype = Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]


class AttributeValue(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    key: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=200)


class AttributeDef(BaseModel):
    """One question of a category (Open311 ``attribute``)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(min_length=1, max_length=100)
    description: str = Field(min_length=1, max_length=500)
    datatype: Datatype = "string"
    required: bool = False
    order: int = Field(default=1, ge=1, le=1000)
    values: list[AttributeValue] = Field(default_factory=list, max_length=200)
    variable: bool = True
    datatype_description: str = Field(default="", max_length=500)

    @field_validator("code", "description", "datatype_description")
    @classmethod
    def _one_line(cls, value: str) -> str:
        return no_control(value)

    @model_validator(mode="after")
    def _lists_have_values(self) -> AttributeDef:
        is_list = self.datatype in ("singlevaluelist", "multivaluelist")
        if is_list and not self.values:
            raise ValueError(f"une liste ({self.datatype}) demande ses valeurs (values)")
        if not is_list and self.values:
            raise ValueError("seules les listes ont des valeurs (values)")
        keys = [v.key for v in self.values]
        if len(keys) != len(set(keys)):
            raise ValueError("deux valeurs ont la même clé")
        return self


def checked_attributes(attributes: list[Any]) -> list[dict[str, Any]]:
    """Attribute definitions validated, with unique codes and orders, sorted by order."""
    defs = [AttributeDef.model_validate(a) for a in attributes]
    codes = [d.code for d in defs]
    orders = [d.order for d in defs]
    if len(codes) != len(set(codes)):
        raise ValueError("deux attributs ont le même code")
    if len(orders) != len(set(orders)):
        raise ValueError("deux attributs ont le même ordre (order)")
    return [d.model_dump(mode="json") for d in sorted(defs, key=lambda d: d.order)]


async def list_categories(
    session: AsyncSession, tenant_id: uuid.UUID, *, active_only: bool = True
) -> list[StreetCategory]:
    stmt = select(StreetCategory).where(StreetCategory.tenant_id == tenant_id)
    if active_only:
        stmt = stmt.where(StreetCategory.active.is_(True))
    return list(await session.scalars(stmt.order_by(StreetCategory.position, StreetCategory.code)))


async def get_category(
    session: AsyncSession, tenant_id: uuid.UUID, code: str, *, active_only: bool = False
) -> StreetCategory:
    found: StreetCategory | None = await session.scalar(
        select(StreetCategory).where(
            StreetCategory.tenant_id == tenant_id, StreetCategory.code == code
        )
    )
    if found is None or (active_only and not found.active):
        raise NotFound(
            f"Catégorie de signalement « {code[:60]} » inconnue dans cette collectivité : "
            "choisissez-en une dans la liste des catégories."
        )
    return found


async def get_department(
    session: AsyncSession, tenant_id: uuid.UUID, code: str
) -> StreetDepartment:
    found: StreetDepartment | None = await session.scalar(
        select(StreetDepartment).where(
            StreetDepartment.tenant_id == tenant_id, StreetDepartment.code == code
        )
    )
    if found is None:
        raise NotFound(f"Service « {code[:60]} » inconnu dans cette collectivité.")
    return found


async def list_departments(session: AsyncSession, tenant_id: uuid.UUID) -> list[StreetDepartment]:
    return list(
        await session.scalars(
            select(StreetDepartment)
            .where(StreetDepartment.tenant_id == tenant_id)
            .order_by(StreetDepartment.code)
        )
    )


# ----- the default set ------------------------------------------------------------------------

DEFAULT_DEPARTMENTS: tuple[tuple[str, str], ...] = (
    ("voirie", "Voirie"),
    ("eclairage", "Éclairage public"),
    ("proprete", "Propreté"),
    ("espaces-verts", "Espaces verts"),
)

DEFAULT_CATEGORIES: tuple[dict[str, Any], ...] = (
    {
        "code": "chaussee",
        "name": "Chaussée, nid-de-poule",
        "description": "Nid-de-poule, affaissement, trottoir ou chaussée abîmés.",
        "group": "Voirie",
        "keywords": "nid-de-poule,trou,chaussée,trottoir",
        "department": "voirie",
        "sla_working_days": 10,
        "attributes": [
            {
                "code": "dangerosite",
                "description": "Le défaut est-il dangereux pour la circulation ?",
                "datatype": "singlevaluelist",
                "required": False,
                "order": 1,
                "values": [{"key": "oui", "name": "Oui"}, {"key": "non", "name": "Non"}],
            }
        ],
    },
    {
        "code": "eclairage",
        "name": "Éclairage public",
        "description": "Lampadaire éteint, clignotant ou endommagé.",
        "group": "Éclairage",
        "keywords": "lampadaire,lumière,éclairage",
        "department": "eclairage",
        "sla_working_days": 5,
        "attributes": [
            {
                "code": "numero_lampadaire",
                "description": "Numéro du lampadaire (plaque sur le mât)",
                "datatype": "string",
                "required": False,
                "order": 1,
                "datatype_description": "Par exemple : EP-01234",
            }
        ],
    },
    {
        "code": "depot-sauvage",
        "name": "Propreté, dépôt sauvage",
        "description": "Déchets abandonnés, encombrants, dépôt sauvage.",
        "group": "Propreté",
        "keywords": "déchets,encombrants,dépôt",
        "department": "proprete",
        "sla_working_days": 3,
        "attributes": [
            {
                "code": "volume",
                "description": "Volume estimé (m³)",
                "datatype": "number",
                "required": False,
                "order": 1,
            }
        ],
    },
    {
        "code": "graffiti",
        "name": "Graffiti, tags",
        "description": "Tags ou graffitis sur un bâtiment ou du mobilier publics.",
        "group": "Propreté",
        "keywords": "tag,graffiti",
        "department": "proprete",
        "sla_working_days": 10,
        "attributes": [
            {
                "code": "support",
                "description": "Sur quel support ?",
                "datatype": "singlevaluelist",
                "required": False,
                "order": 1,
                "values": [
                    {"key": "facade", "name": "Façade"},
                    {"key": "mobilier", "name": "Mobilier urbain"},
                    {"key": "autre", "name": "Autre"},
                ],
            }
        ],
    },
    {
        "code": "mobilier",
        "name": "Mobilier urbain",
        "description": "Banc, barrière, poubelle, abribus endommagés.",
        "group": "Voirie",
        "keywords": "banc,barrière,poubelle,abribus",
        "department": "voirie",
        "sla_working_days": 15,
        "attributes": [],
    },
    {
        "code": "espaces-verts",
        "name": "Espaces verts",
        "description": "Arbre dangereux, pelouse, massif ou aire de jeux à entretenir.",
        "group": "Espaces verts",
        "keywords": "arbre,parc,jardin",
        "department": "espaces-verts",
        "sla_working_days": 10,
        "attributes": [],
    },
    {
        "code": "signalisation",
        "name": "Signalisation",
        "description": "Panneau ou feu tricolore abîmé, marquage au sol effacé.",
        "group": "Voirie",
        "keywords": "panneau,feu,marquage",
        "department": "voirie",
        "sla_working_days": 5,
        "attributes": [],
    },
)


async def seed_default_categories(
    session: AsyncSession, tenant_id: uuid.UUID, now: datetime
) -> list[StreetCategory]:
    """The default departments and categories of a tenant; those that exist are left as they
    are (idempotent). Returns the tenant's categories."""
    departments = {d.code: d for d in await list_departments(session, tenant_id)}
    for code, name in DEFAULT_DEPARTMENTS:
        if code not in departments:
            department = StreetDepartment(
                tenant_id=tenant_id, code=code, name=name, email=None, active=True
            )
            session.add(department)
            departments[code] = department
    await session.flush()
    existing = {c.code for c in await list_categories(session, tenant_id, active_only=False)}
    for position, spec in enumerate(DEFAULT_CATEGORIES, start=1):
        if spec["code"] in existing:
            continue
        session.add(
            StreetCategory(
                tenant_id=tenant_id,
                code=spec["code"],
                name=spec["name"],
                description=spec["description"],
                group=spec["group"],
                keywords=spec["keywords"],
                department_id=departments[spec["department"]].id,
                sla_working_days=spec["sla_working_days"],
                attributes=checked_attributes(spec["attributes"]),
                position=position,
                active=True,
                updated_at=now,
            )
        )
    await session.flush()
    return await list_categories(session, tenant_id, active_only=False)
