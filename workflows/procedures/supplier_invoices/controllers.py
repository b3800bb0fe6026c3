"""HTTP API of supplier invoices, under ``/api/v1/factures-fournisseurs``:

- ``/{insee}/fournisseurs`` — supplier master data (list, create, one, update; finance agents),
  ``/{insee}/fournisseurs/import`` — CSV import (raw body, all lines or none);
- ``/{insee}/factures`` — invoices (filters ``service``, ``etat``), ``/synthese`` (by department
  and state), ``/echeances?jours=N`` (DGP ending within N days), ``/export`` (CSV), ``/{case_id}``;
- ``/api/v1/espace-fournisseur/factures`` — a supplier's software (an API client of an organisation) sees the
  state of its invoices.

Transitions (service fait, suspension, mandatement…) go through the case API
(``/api/v1/cases/{id}/transitions/{name}``). An agent without a role in the commune gets 404.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, PathParameter, QueryParameter
from pydantic import BaseModel
from sqlalchemy import column, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.actor import SYSTEM_ACTOR, Actor, ActorKind, Scope
from services.kernel.clock import Clock
from services.kernel.errors import Conflict, Forbidden, HiddenDenial, NotFound, PayloadTooLarge
from services.kernel.policy import Policy, agents, policy_opt
from workflows.cases.models import Case
from workflows.cases.service import CaseService
from workflows.engine.runner import Engine
from workflows.procedures.supplier_invoices import suppliers as sup
from workflows.procedures.supplier_invoices import views
from workflows.procedures.supplier_invoices.definition import (
    FINANCE_ROLES,
    READ_ROLES,
    Completion,
)
from workflows.procedures.supplier_invoices.models import Supplier, SupplierInvoice
from workflows.procedures.supplier_invoices.settings import get_supplier_invoice_settings

READ = policy_opt(agents(*READ_ROLES, description="finance and department agents: read"))
FINANCE = policy_opt(agents(*FINANCE_ROLES, description="finance (supervisors, admins)"))
SUPPLIER = policy_opt(
    Policy(
        kinds=frozenset({ActorKind.API_CLIENT}),
        scopes=frozenset({Scope.CASES_READ.value}),
        description="a supplier's API client (organisation) with cases:read",
    )
)
SUPPLIER_WRITE = policy_opt(
    Policy(
        kinds=frozenset({ActorKind.API_CLIENT}),
        scopes=frozenset({Scope.INTAKE_WRITE.value}),
        description="a supplier's API client (organisation) with intake:write",
    )
)
TENANT_NOT_FOUND = "Commune introuvable."
_tenant = table("tenant", column("id"), column("insee_code"))
_api_client = table("api_client", column("id"), column("organisation_id"))
Insee = Annotated[
    str,
    PathParameter(pattern=r"^[0-9][0-9AB][0-9]{3}$", description="Code INSEE", max_length=5),
]
Limit = Annotated[int, QueryParameter(ge=1, le=500, description="Nombre au plus")]
Offset = Annotated[int, QueryParameter(ge=0, le=10_000_000, description="À partir de")]
State = Annotated[
    str | None,
    QueryParameter(
        pattern="^(deposited|made_available|suspended|completed|service_done|mandated|paid|rejected)$",
        description="État de la facture",
    ),
]
Department = Annotated[
    str | None, QueryParameter(max_length=100, description="Code service (BT-10)")
]


async def tenant_for(
    session: AsyncSession, actor: Actor, insee: str, roles: tuple[str, ...] = READ_ROLES
) -> uuid.UUID:
    found = await session.scalar(select(_tenant.c.id).where(_tenant.c.insee_code == insee))
    if found is None:
        raise NotFound(TENANT_NOT_FOUND)
    tenant_id = found if isinstance(found, uuid.UUID) else uuid.UUID(str(found))
    mine = actor.roles_in(tenant_id) if actor.kind is ActorKind.AGENT else frozenset()
    if not mine:
        raise HiddenDenial(TENANT_NOT_FOUND)
    if not mine & set(roles):
        raise Forbidden("Votre rôle dans cette commune ne permet pas cette action.")
    return tenant_id


class SupplierPage(BaseModel):
    items: list[sup.SupplierRead]
    total: int
    limit: int
    offset: int


class InvoicePage(BaseModel):
    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


def _today(clock: Clock) -> Any:
    from zoneinfo import ZoneInfo

    return clock.now().astimezone(ZoneInfo("Europe/Paris")).date()


class SupplierInvoiceController(Controller):
    path = "/factures-fournisseurs/{insee:str}"
    tags = ["Factures fournisseurs"]

    @get("/fournisseurs", opt=FINANCE, summary="Les fournisseurs (recherche : nom ou SIRET)")
    async def list_suppliers(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        insee: Insee,
        q: Annotated[str | None, QueryParameter(max_length=200, description="Nom ou SIRET")] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> SupplierPage:
        tenant = await tenant_for(session, actor, insee, FINANCE_ROLES)
        rows, total = await sup.list_suppliers(session, tenant, q=q, limit=limit, offset=offset)
        return SupplierPage(
            items=[sup.SupplierRead.of(r) for r in rows], total=total, limit=limit, offset=offset
        )

    @post("/fournisseurs", opt=FINANCE, status_code=201, summary="Créer un fournisseur")
    async def create_supplier(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        insee: Insee,
        data: JSONBody[sup.SupplierIn],
    ) -> sup.SupplierRead:
        tenant = await tenant_for(session, actor, insee, FINANCE_ROLES)
        return sup.SupplierRead.of(
            await sup.create_supplier(session, tenant, data, now=clock.now())
        )

    @get("/fournisseurs/{supplier_id:uuid}", opt=FINANCE, summary="Un fournisseur")
    async def get_supplier(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        insee: Insee,
        supplier_id: FromPath[uuid.UUID],
    ) -> sup.SupplierRead:
        tenant = await tenant_for(session, actor, insee, FINANCE_ROLES)
        return sup.SupplierRead.of(await sup.get_supplier(session, tenant, supplier_id))

    @put("/fournisseurs/{supplier_id:uuid}", opt=FINANCE, summary="Modifier un fournisseur")
    async def update_supplier(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        insee: Insee,
        supplier_id: FromPath[uuid.UUID],
        data: JSONBody[sup.SupplierIn],
    ) -> sup.SupplierRead:
        tenant = await tenant_for(session, actor, insee, FINANCE_ROLES)
        row = await sup.update_supplier(session, tenant, supplier_id, data, now=clock.now())
        return sup.SupplierRead.of(row)

    @post(
        "/fournisseurs/import",
        opt=FINANCE,
        status_code=200,
        summary="Importer des fournisseurs (CSV ; tout ou rien ; rapport ligne par ligne)",
        description="Corps brut : CSV UTF-8 (BOM toléré, séparateur ; ou ,), colonnes siret, nom, "
        "iban, contact_nom, contact_email, contact_telephone, actif. Une erreur : 422, rien "
        "n'est importé, `errors` nomme chaque ligne et colonne.",
    )
    async def import_suppliers(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        insee: Insee,
    ) -> dict[str, int]:
        tenant = await tenant_for(session, actor, insee, FINANCE_ROLES)
        data = bytearray()
        async for chunk in request.stream():
            data.extend(chunk)
            if len(data) > sup.MAX_IMPORT_BYTES:
                raise PayloadTooLarge(
                    f"Fichier trop volumineux : {sup.MAX_IMPORT_BYTES} octets au plus."
                )
        return await sup.import_csv(session, tenant, bytes(data), now=clock.now())

    @get("/factures", opt=READ, summary="Les factures (filtres : code service, état)")
    async def list_invoices(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        insee: Insee,
        service: Department = None,
        etat: State = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> InvoicePage:
        tenant = await tenant_for(session, actor, insee)
        items, total = await views.list_invoices(
            session,
            tenant,
            today=_today(clock),
            department=service,
            state=etat,
            limit=limit,
            offset=offset,
        )
        return InvoicePage(items=items, total=total, limit=limit, offset=offset)

    @get("/factures/synthese", opt=READ, summary="Nombre et montant par service et par état")
    async def invoice_summary(
        self, session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], insee: Insee
    ) -> list[dict[str, Any]]:
        tenant = await tenant_for(session, actor, insee)
        return await views.summary(session, tenant)

    @get(
        "/factures/echeances",
        opt=READ,
        summary="Factures dont le délai global de paiement finit dans N jours (ou est dépassé)",
    )
    async def near_deadline(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        insee: Insee,
        jours: Annotated[int | None, QueryParameter(ge=0, le=365, description="Horizon")] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> InvoicePage:
        tenant = await tenant_for(session, actor, insee)
        horizon = get_supplier_invoice_settings().near_deadline_days if jours is None else jours
        items, total = await views.list_invoices(
            session, tenant, today=_today(clock), due_within=horizon, limit=limit, offset=offset
        )
        return InvoicePage(items=items, total=total, limit=limit, offset=offset)

    @get("/factures/export", opt=READ, summary="Export CSV des factures (mêmes filtres)")
    async def export_invoices(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        insee: Insee,
        service: Department = None,
        etat: State = None,
    ) -> Response[str]:
        tenant = await tenant_for(session, actor, insee)
        items, _ = await views.list_invoices(
            session, tenant, today=_today(clock), department=service, state=etat, limit=100_000
        )
        return Response(
            views.to_csv(items),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="factures-{insee}.csv"'},
        )

    @get("/factures/{case_id:uuid}", opt=READ, summary="Une facture, son délai et ses constats")
    async def get_invoice(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        insee: Insee,
        case_id: FromPath[uuid.UUID],
    ) -> dict[str, Any]:
        tenant = await tenant_for(session, actor, insee)
        found = (
            await session.execute(
                select(SupplierInvoice, Case.reference)
                .join(Case, Case.id == SupplierInvoice.case_id)
                .where(SupplierInvoice.case_id == case_id, SupplierInvoice.tenant_id == tenant)
            )
        ).first()
        if found is None:
            raise NotFound("Facture introuvable dans cette commune.")
        row, reference = found
        return {
            **views.invoice_dict(row, reference, _today(clock)),
            "data": row.data,
            "findings": row.findings.get("findings", []),
        }


class SupplierPortalController(Controller):
    path = "/espace-fournisseur"
    tags = ["Factures fournisseurs"]

    @get("/factures", opt=SUPPLIER, summary="Mes factures et leur état (logiciel du fournisseur)")
    async def my_invoices(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> InvoicePage:
        supplier_ids = await my_suppliers(session, actor)  # 403 unless a supplier's client
        found, total = await views.list_invoices(
            session,
            actor.home_tenant_id or uuid.UUID(int=0),
            today=_today(clock),
            supplier_ids=supplier_ids,
            limit=limit,
            offset=offset,
        )
        items = [views.supplier_view(item) for item in found]
        return InvoicePage(items=items, total=total, limit=limit, offset=offset)

    @post(
        "/factures/{case_id:uuid}/complement",
        opt=SUPPLIER_WRITE,
        status_code=200,
        summary="Signaler que les pièces demandées (facture suspendue) ont été fournies",
        description="R2192-29 : un nouveau délai de paiement court à réception des pièces.",
    )
    async def complete_invoice(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        engine: NamedDependency[Engine],
        case_id: FromPath[uuid.UUID],
        data: JSONBody[Completion],
    ) -> dict[str, Any]:
        supplier_ids = await my_suppliers(session, actor)
        row = await session.scalar(
            select(SupplierInvoice).where(
                SupplierInvoice.case_id == case_id,
                SupplierInvoice.tenant_id == actor.home_tenant_id,
                SupplierInvoice.supplier_id.in_(supplier_ids),
            )
        )
        if row is None:
            raise NotFound("Facture introuvable parmi les vôtres.")
        if row.state != "suspended":
            raise Conflict(
                f"La facture n° {row.number} n'est pas suspendue (état : "
                f"{views.STATE_TITLES.get(row.state, row.state)}) : aucun complément n'est attendu."
            )
        payload = {"note": data.note, "completed_at": clock.now().isoformat()}
        await CaseService(session, engine, clock).apply(
            case_id, "complete", SYSTEM_ACTOR, payload, channel="api"
        )
        return {"state": row.state, "dgp_due": row.dgp_due.isoformat() if row.dgp_due else None}


async def my_suppliers(session: AsyncSession, actor: Actor) -> list[uuid.UUID]:
    """The supplier rows of the organisation whose API client acts (403 for another client)."""
    organisation = await session.scalar(
        select(_api_client.c.organisation_id).where(_api_client.c.id == actor.id)
    )
    if organisation is None or actor.home_tenant_id is None:
        raise Forbidden(
            "Ce client API n'est pas celui d'une entreprise : il ne voit pas de factures."
        )
    organisation_id = (
        organisation if isinstance(organisation, uuid.UUID) else uuid.UUID(str(organisation))
    )
    return list(
        await session.scalars(
            select(Supplier.id).where(
                Supplier.tenant_id == actor.home_tenant_id,
                Supplier.organisation_id == organisation_id,
            )
        )
    )
