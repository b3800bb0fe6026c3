"""Administration of Open311 keys (``/admin/open311/keys``): create (the key is shown once), list,
revoke. Tenant administrators manage their tenant's keys; a métropole administrator also the
keys valid for every tenant. Outside one's tenants: 404."""

from __future__ import annotations

import unicodedata
import uuid
from datetime import datetime
from typing import Annotated

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from channels.open311 import keys
from channels.open311.models import Open311ApiKey
from services.kernel.actor import Actor, Role
from services.kernel.clock import Clock
from services.kernel.policy import agents, policy_opt

ADMIN = policy_opt(agents(Role.ADMIN, description="administrators (per tenant)"))


def _one_line(value: str) -> str:
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
        raise ValueError("caractère de contrôle refusé (par exemple le caractère nul)")
    return value.strip()


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[
        str,
        Field(min_length=1, max_length=120, description="L'application ou le partenaire"),
        AfterValidator(_one_line),
    ]
    tenant: Annotated[
        str | None,
        Field(
            default=None,
            min_length=1,
            max_length=64,
            description=(
                "Collectivité (code INSEE, nom court ou identifiant) ; absente : toutes "
                "(administrateur de la métropole seulement)"
            ),
        ),
    ] = None


class KeyRead(BaseModel):
    id: uuid.UUID
    name: str
    key_prefix: str = Field(description="Début de la clé, pour la reconnaître")
    tenant_id: uuid.UUID | None = Field(description="Collectivité couverte ; null : toutes")
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, row: Open311ApiKey) -> KeyRead:
        return cls(
            id=row.id,
            name=row.name,
            key_prefix=row.key_prefix,
            tenant_id=row.tenant_id,
            created_at=row.created_at,
            revoked_at=row.revoked_at,
            last_used_at=row.last_used_at,
        )


class KeyWithSecret(KeyRead):
    api_key: str = Field(description="La clé, montrée cette seule fois : transmettez-la au client")


class Open311KeyAdminController(Controller):
    path = "/admin/open311/keys"
    tags = ["Administration", "Open311"]

    @get("/", opt=ADMIN, summary="Les clés Open311 des collectivités administrées")
    async def list_keys(
        self, session: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
    ) -> list[KeyRead]:
        return [KeyRead.of(k) for k in await keys.admin_list_keys(session, actor)]

    @post(
        "/",
        opt=ADMIN,
        status_code=201,
        summary="Créer une clé api_key Open311 (montrée une seule fois)",
    )
    async def create_key(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        data: JSONBody[KeyCreate],
    ) -> KeyWithSecret:
        row, key = await keys.admin_create_key(
            session, actor, name=data.name, tenant=data.tenant, now=clock.now()
        )
        return KeyWithSecret(**KeyRead.of(row).model_dump(), api_key=key)

    @post(
        "/{key_id:uuid}/revoke",
        opt=ADMIN,
        status_code=200,
        summary="Révoquer une clé Open311 (refusée aussitôt)",
    )
    async def revoke_key(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        key_id: FromPath[uuid.UUID],
    ) -> KeyRead:
        return KeyRead.of(await keys.admin_revoke_key(session, actor, key_id, now=clock.now()))
