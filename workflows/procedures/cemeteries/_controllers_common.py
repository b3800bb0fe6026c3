"""What the cemetery controllers share: policies, the tenant from the INSEE code in the path,
the role check in that tenant, CSV responses."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Response
from litestar.params import PathParameter
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.actor import Actor, ActorKind, Role
from services.kernel.errors import Forbidden, HiddenDenial
from services.kernel.policy import PUBLIC, agents, policy_opt
from workflows.procedures.cemeteries._registry_places import TENANT_NOT_FOUND, tenant_by_insee

READ_ROLES = frozenset(
    {
        Role.ADMIN,
        Role.INSTRUCTOR,
        Role.COUNTER_AGENT,
        Role.PHONE_AGENT,
        Role.MAYOR_OFFICE,
        Role.SUPERVISOR,
    }
)
WRITE_ROLES = frozenset({Role.ADMIN, Role.INSTRUCTOR, Role.COUNTER_AGENT, Role.SUPERVISOR})
MANAGE_ROLES = frozenset({Role.ADMIN, Role.INSTRUCTOR, Role.SUPERVISOR})
"""Tariffs and registry import: the people who keep the registry, not the counter."""

READ = policy_opt(agents(*READ_ROLES, description="agents of the commune: read the registry"))
WRITE = policy_opt(
    agents(*WRITE_ROLES, description="instructors, counter agents, supervisors, admins: record")
)
MANAGE = policy_opt(
    agents(*MANAGE_ROLES, description="instructors, supervisors, admins: tariffs and import")
)
OPEN = policy_opt(PUBLIC)

tenant_id_of = tenant_by_insee
Insee = Annotated[
    str,
    PathParameter(
        pattern=r"^[0-9][0-9AB][0-9]{3}$", description="Code INSEE de la commune", max_length=5
    ),
]


async def tenant_for(
    session: AsyncSession, actor: Actor, insee: str, roles: frozenset[str] = READ_ROLES
) -> uuid.UUID:
    """The tenant the agent acts in: 404 (journaled, never revealed) if the agent has no role
    there; 403 if their roles there do not allow this action."""
    tenant_id = await tenant_id_of(session, insee)
    mine = actor.roles_in(tenant_id) if actor.kind is ActorKind.AGENT else frozenset()
    if not mine:
        raise HiddenDenial(TENANT_NOT_FOUND)
    if not mine & roles:
        raise Forbidden("Votre rôle dans cette commune ne permet pas cette action.")
    return tenant_id


def csv_response(body: str, filename: str) -> Response[str]:
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
