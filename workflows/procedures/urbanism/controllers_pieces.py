"""The pieces of each authorisation (the CERFA bordereau) and a file's checklist.

``GET /urbanisme/pieces?type=PCMI`` is public: the web form and the counter show what to bring.
``GET /urbanisme/dossiers/{case_id}/pieces`` is the counter checklist of one file: the pieces its
payload must hold (mandatory ones plus those its situation calls for), which were handed in, which
are missing, and which the instructor asked for and have not arrived yet.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.actor import Actor
from services.kernel.clock import Clock
from services.kernel.policy import PUBLIC, anyone_signed_in, policy_opt
from workflows.engine.runner import Engine
from workflows.procedures.urbanism import pieces, service
from workflows.procedures.urbanism.facts import PermitType


class PieceRead(BaseModel):
    code: str
    titre: str
    reference: str
    obligatoire: bool
    situation: str | None


class ChecklistItem(BaseModel):
    code: str
    titre: str
    fournie: bool


class Checklist(BaseModel):
    numero: str
    pieces_requises: list[ChecklistItem]
    pieces_manquantes: list[ChecklistItem]
    pieces_demandees_non_recues: list[ChecklistItem]


def _item(code: str, supplied: set[str]) -> ChecklistItem:
    return ChecklistItem(code=code, titre=pieces.piece_title(code), fournie=code in supplied)


class UrbanismPiecesCatalogueController(Controller):
    path = "/urbanisme"
    tags = ["Urbanisme : pièces"]

    @get("/pieces", opt=policy_opt(PUBLIC), summary="Les pièces d'une demande, par type (CERFA)")
    async def catalogue(
        self, type_: Annotated[PermitType, QueryParameter(name="type")]
    ) -> list[PieceRead]:
        return [
            PieceRead(
                code=p.code,
                titre=p.title,
                reference=p.reference,
                obligatoire=p.situation is None,
                situation=p.situation,
            )
            for p in pieces.known_pieces(type_)
        ]

    @get(
        "/dossiers/{case_id:uuid}/pieces",
        opt=policy_opt(anyone_signed_in(description="the file's agents; the applicant")),
        summary="Liste de contrôle des pièces d'un dossier (guichet)",
    )
    async def checklist(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        case_id: FromPath[uuid.UUID],
    ) -> Checklist:
        case = await service.case_for(session, engine, clock, case_id, actor)
        row = await service.file_of(session, case.id)
        permit_type = PermitType(row.permit_type)
        supplied = set(pieces.supplied_pieces(case.payload))
        required = pieces.mandatory_pieces(permit_type, case.payload)
        timeline = service.timeline_of(row)
        return Checklist(
            numero=row.number,
            pieces_requises=[_item(c, supplied) for c in required],
            pieces_manquantes=[
                _item(c, supplied) for c in pieces.missing_mandatory(permit_type, case.payload)
            ],
            pieces_demandees_non_recues=[_item(c, set()) for c in timeline.missing_pieces],
        )
