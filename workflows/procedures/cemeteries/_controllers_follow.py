"""Tariffs, follow-up views (JSON and CSV), registry import/export, and the public ossuary
register — under ``/api/v1/cimetieres/{insee}``."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody, QueryParameter
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.actor import Actor
from services.kernel.clock import Clock
from services.kernel.errors import PayloadTooLarge, ValidationFailed
from workflows.procedures.cemeteries import csv_io, registry, tariffs, views
from workflows.procedures.cemeteries._controllers_common import (
    MANAGE,
    MANAGE_ROLES,
    OPEN,
    READ,
    Insee,
    csv_response,
    tenant_for,
    tenant_id_of,
)
from workflows.procedures.cemeteries._registry_ossuary import local_date
from workflows.procedures.cemeteries._registry_settings import registry_settings
from workflows.procedures.cemeteries.models import (
    ConcessionCategory,
    DurationKind,
    PlaceType,
)

IMPORT_CEILING = 512 * 1024 * 1024
"""Hard ceiling of the import route; the real limit is GUICHET_CEMETERY_IMPORT_MAX_BYTES."""


class ImportReportRead(BaseModel):
    valid: bool
    written: bool
    dry_run: bool
    lines: int
    counts: dict[str, int]
    errors: list[dict[str, Any]]


def _today(clock: Clock) -> date:
    return local_date(clock.now())


class FollowUpController(Controller):
    path = "/cimetieres/{insee:str}"
    tags = ["Cimetières : suivi, tarifs, import"]

    # ----- tariffs ---------------------------------------------------------------------------
    @get("/tarifs", opt=READ, summary="Les tarifs votés (en vigueur à une date, si donnée)")
    async def list_tariffs(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        insee: Insee,
        date_: Annotated[date | None, QueryParameter(name="date")] = None,
    ) -> list[tariffs.TariffRead]:
        tenant = await tenant_for(session, actor, insee)
        rows = await tariffs.list_tariffs(session, tenant, on_date=date_)
        return [tariffs.TariffRead.model_validate(t) for t in rows]

    @post("/tarifs", opt=MANAGE, status_code=201, summary="Enregistrer un tarif délibéré")
    async def create_tariff(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        insee: Insee,
        data: JSONBody[tariffs.TariffIn],
    ) -> tariffs.TariffRead:
        tenant = await tenant_for(session, actor, insee, MANAGE_ROLES)
        row = await tariffs.create_tariff(session, tenant, data, now=clock.now())
        return tariffs.TariffRead.model_validate(row)

    @get(
        "/tarifs/en-vigueur",
        opt=READ,
        summary="Le tarif en vigueur à une date (pour un renouvellement : la date d'échéance)",
    )
    async def tariff_on(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        insee: Insee,
        categorie: FromQuery[ConcessionCategory],
        duree: FromQuery[DurationKind],
        annees: Annotated[int | None, QueryParameter(ge=1, le=15)] = None,
        type_: Annotated[PlaceType | None, QueryParameter(name="type")] = None,
        surface: Annotated[Decimal | None, QueryParameter(description="Surface en m²")] = None,
        date_: Annotated[date | None, QueryParameter(name="date")] = None,
    ) -> tariffs.TariffRead:
        tenant = await tenant_for(session, actor, insee)
        if surface is not None and not (0 <= surface <= 10000 and surface.is_finite()):
            message = "La surface est un nombre de m² entre 0 et 10 000."
            raise ValidationFailed(
                message, errors=[{"field": "surface", "message": message, "type": "value"}]
            )
        row = await tariffs.tariff_on(
            session,
            tenant,
            categorie,
            duree,
            type_,
            surface,
            date_ or _today(clock),
            duration_years=annees,
        )
        return tariffs.TariffRead.model_validate(row)

    # ----- views -----------------------------------------------------------------------------
    @get("/vues/places-libres", opt=READ, summary="Places libres par type et par cimetière")
    async def free_places(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        insee: Insee,
        format_: Annotated[str, QueryParameter(name="format", pattern="^(json|csv)$")] = "json",
    ) -> Response[Any]:
        tenant = await tenant_for(session, actor, insee)
        counts = await views.free_places_by_type(session, tenant)
        if format_ == "csv":
            return csv_response(views.free_places_csv(counts), "places-libres.csv")
        return Response([c.model_dump(mode="json") for c in counts])

    @get(
        "/vues/echeances",
        opt=READ,
        summary="Concessions arrivant à échéance dans les N mois",
    )
    async def expiring(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        insee: Insee,
        mois: Annotated[int, QueryParameter(ge=1, le=120)] = 12,
        format_: Annotated[str, QueryParameter(name="format", pattern="^(json|csv)$")] = "json",
    ) -> Response[Any]:
        tenant = await tenant_for(session, actor, insee)
        lines = await views.expiring_concessions(session, tenant, today=_today(clock), months=mois)
        return _lines(lines, format_, "echeances.csv")

    @get(
        "/vues/echues",
        opt=READ,
        summary="Concessions échues dans leur délai de renouvellement de 2 ans (ou au-delà)",
    )
    async def expired(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        insee: Insee,
        au_dela: Annotated[bool, QueryParameter(name="au-dela")] = False,
        format_: Annotated[str, QueryParameter(name="format", pattern="^(json|csv)$")] = "json",
    ) -> Response[Any]:
        tenant = await tenant_for(session, actor, insee)
        lines = await views.expired_concessions(
            session, tenant, today=_today(clock), past_window=au_dela
        )
        return _lines(lines, format_, "echues.csv")

    @get(
        "/vues/abandons",
        opt=READ,
        summary="Procédures d'abandon en cours et leur prochaine échéance légale",
    )
    async def abandons(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        insee: Insee,
        format_: Annotated[str, QueryParameter(name="format", pattern="^(json|csv)$")] = "json",
    ) -> Response[Any]:
        tenant = await tenant_for(session, actor, insee)
        return _lines(await views.abandon_procedures(session, tenant), format_, "abandons.csv")

    # ----- import / export -------------------------------------------------------------------
    @post(
        "/registre/import",
        opt=MANAGE,
        status_code=200,
        request_max_body_size=IMPORT_CEILING,
        summary="Importer un registre existant (CSV ; tout ou rien ; rapport ligne par ligne)",
        description="Corps brut : le fichier CSV (UTF-8, BOM toléré, séparateur ; ou ,). "
        "`?essai=true` valide sans rien écrire. Un fichier avec des erreurs n'écrit rien : "
        "422 dont `errors` donne ligne, colonne et message pour chacune.",
    )
    async def import_registry(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        clock: NamedDependency[Clock],
        insee: Insee,
        essai: Annotated[bool, QueryParameter(description="Essai à blanc")] = False,
    ) -> ImportReportRead:
        tenant = await tenant_for(session, actor, insee, MANAGE_ROLES)
        data = bytearray()
        limit = registry_settings().import_max_bytes
        async for chunk in request.stream():
            data.extend(chunk)
            if len(data) > limit:
                raise PayloadTooLarge(f"Fichier trop volumineux : {limit} octets au plus.")
        report = await csv_io.import_registry(
            session, tenant, bytes(data), now=clock.now(), dry_run=essai
        )
        if report.errors and not essai:
            raise ValidationFailed(
                f"{len(report.errors)} erreur(s) dans le fichier : rien n'a été importé. "
                "Corrigez les lignes signalées puis relancez l'import.",
                errors=[
                    {
                        "field": f"ligne {e.line}" + (f", colonne {e.column}" if e.column else ""),
                        "line": e.line,
                        "column": e.column,
                        "message": e.message,
                        "type": "csv",
                    }
                    for e in report.errors
                ],
            )
        return ImportReportRead.model_validate(report.as_dict())

    @get(
        "/registre/export",
        opt=READ,
        media_type="text/csv; charset=utf-8",
        summary="Exporter le registre (CSV, mêmes colonnes que l'import)",
    )
    async def export_registry(
        self, session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], insee: Insee
    ) -> Response[str]:
        tenant = await tenant_for(session, actor, insee)
        body = await csv_io.export_registry(session, tenant)
        return csv_response(body, f"registre-cimetieres-{insee}.csv")


def _lines(lines: list[views.ConcessionLine], format_: str, filename: str) -> Response[Any]:
    if format_ == "csv":
        return csv_response(views.lines_csv(lines), filename)
    return Response([x.model_dump(mode="json") for x in lines])


class PublicOssuaryController(Controller):
    path = "/cimetieres/{insee:str}/ossuaire"
    tags = ["Cimetières : registre public"]

    @get(
        "/registre",
        opt=OPEN,
        summary="Le registre de l'ossuaire, ouvert au public (L2223-4, R2223-6)",
        description="Noms, date de décès, date de dépôt, conservation à part (opposition à la "
        "crémation). Aucune autre donnée personnelle.",
    )
    async def register(
        self, session: NamedDependency[AsyncSession], insee: Insee
    ) -> list[registry.OssuaryEntryPublic]:
        tenant = await tenant_id_of(session, insee)
        return await registry.ossuary_register(session, tenant)
