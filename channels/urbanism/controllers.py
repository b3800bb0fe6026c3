"""``POST /urbanisme/dossiers/{case_id}/pieces``: pieces received for an urbanism file.

The applicant first uploads each file to the case (``POST /cases/{case_id}/attachments``), then
declares here which CERFA piece each upload is. An agent may declare pieces handed in on paper,
with the day they were received at the mairie (past dates allowed, journaled); for the applicant
the day of receipt is today. The reception of the last missing piece restarts the instruction
deadline (R423-39 c).
"""

from __future__ import annotations

import uuid
from datetime import date

from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from channels.models import Attachment
from services.kernel.actor import Actor, ActorKind
from services.kernel.clock import Clock
from services.kernel.errors import Conflict, ValidationFailed
from services.kernel.policy import anyone_signed_in, policy_opt
from workflows.engine.runner import Engine
from workflows.procedures.urbanism import service
from workflows.procedures.urbanism.controllers_actions import FactAnswer, answer

DECLARE = policy_opt(
    anyone_signed_in(description="the applicant (or who represents them); the file's agents")
)


class PieceItem(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(min_length=2, max_length=12, pattern=r"^[A-Za-z]{2,5}[0-9]{0,3}(-[0-9])?$")
    attachment_id: uuid.UUID | None = None


class PiecesBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pieces: list[PieceItem] = Field(min_length=1, max_length=60)
    received_on: date | None = Field(
        default=None, description="Agents : date de réception en mairie (défaut : ce jour)"
    )


class UrbanismPiecesController(Controller):
    path = "/urbanisme/dossiers/{case_id:uuid}"
    tags = ["Urbanisme : pièces"]

    @post("/pieces", opt=DECLARE, status_code=200, summary="Déposer des pièces complémentaires")
    async def declare(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        case_id: FromPath[uuid.UUID],
        data: JSONBody[PiecesBody],
    ) -> FactAnswer:
        case = await service.case_for(session, engine, clock, case_id, actor)
        today = service.local_today(case, clock.now())
        received_on = today
        if data.received_on is not None:
            if actor.kind is not ActorKind.AGENT:
                raise ValidationFailed(
                    "La date de réception est celle du jour de votre dépôt : ne la donnez pas.",
                    errors=[
                        {
                            "field": "received_on",
                            "message": "réservé aux agents",
                            "type": "forbidden",
                        }
                    ],
                )
            if data.received_on > today:
                raise ValidationFailed(
                    "La date de réception ne peut pas être dans le futur.",
                    errors=[{"field": "received_on", "message": "date future", "type": "date"}],
                )
            received_on = data.received_on
        ids = [p.attachment_id for p in data.pieces if p.attachment_id is not None]
        if actor.kind is ActorKind.PERSON and len(ids) != len(data.pieces):
            raise ValidationFailed(
                "Joignez chaque pièce au dossier puis indiquez son identifiant (attachment_id).",
                errors=[
                    {"field": "pieces", "message": "attachment_id manquant", "type": "missing"}
                ],
            )
        if ids:
            found = {
                a.id: a
                for a in await session.scalars(
                    select(Attachment).where(Attachment.id.in_(ids), Attachment.case_id == case.id)
                )
            }
            unknown = [str(i) for i in ids if i not in found]
            if unknown:
                raise Conflict(
                    "Pièce jointe introuvable sur ce dossier : " + ", ".join(unknown) + "."
                )
            infected = [str(i) for i in ids if found[i].scan_status == "infected"]
            if infected:
                raise Conflict("Pièce refusée (virus détecté) : " + ", ".join(infected) + ".")
        row, tl = await service.receive_pieces(
            session,
            engine,
            clock,
            case_id,
            actor,
            codes=[p.code for p in data.pieces],
            received_on=received_on,
            attachments=[str(i) for i in ids],
        )
        message = (
            "Dossier complet : le délai d'instruction court à nouveau en entier à compter du "
            f"{received_on.strftime('%d/%m/%Y')} (R423-39 c)."
            if row.state == "under_instruction" and tl.complete
            else "Pièces reçues."
            + (f" Il manque encore : {', '.join(tl.missing_pieces)}." if tl.missing_pieces else "")
        )
        return answer(row, tl, None, message)
