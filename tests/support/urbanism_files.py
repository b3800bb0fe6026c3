"""Urbanism files inserted directly (a ``case`` row and its ``urbanism_file`` projection), for the
read-side tests: they do not depend on the intake schema nor on the projector.

The timeline JSON is handcrafted in the shape ``timeline_codec`` writes (see
workflows/procedures/urbanism/facts.py ``Timeline``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from workflows.cases.models import Case
from workflows.procedures.urbanism.models import UrbanismFile

PROCEDURE_KEYS = {
    "DP": "urbanism.dp",
    "PCMI": "urbanism.pcmi",
    "PC": "urbanism.pc",
    "PA": "urbanism.pa",
    "PD": "urbanism.pd",
    "CUa": "urbanism.cua",
    "CUb": "urbanism.cub",
}
RULE_SET = "ads-2025-12-31"


def legal_date(
    key: str, on: date, label: str, rule: str, reference: str, note: str = ""
) -> dict[str, Any]:
    return {
        "key": key,
        "on": on.isoformat(),
        "label": label,
        "rule": rule,
        "reference": reference,
        "rule_set": RULE_SET,
        "note": note,
    }


def running_timeline(
    filed_on: date,
    deadline: date,
    *,
    outcome: str = "accord_tacite",
    findings: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """A file deemed complete, whose instruction ends on ``deadline`` (tacit the day after)."""
    tacit = deadline + timedelta(days=1)
    dates = [
        legal_date("filed", filed_on, "Dépôt du dossier", "Date de réception", "R423-1"),
        legal_date(
            "instruction_deadline",
            deadline,
            "Fin du délai d'instruction",
            "3 mois à compter du dépôt (date à date)",
            "R423-23 c du code de l'urbanisme",
        ),
        legal_date(
            "tacit_decision",
            tacit,
            "Naissance de la décision tacite",
            "Lendemain de la fin du délai d'instruction",
            "R424-1 du code de l'urbanisme",
            note="note interne de l'instructeur",
        ),
    ]
    nxt = dates[1]
    return {
        "dates": dates,
        "findings": findings or [],
        "timers": [],
        "instruction_deadline": deadline.isoformat(),
        "tacit_outcome": outcome,
        "complete": True,
        "missing_pieces": [],
        "next_legal_date": nxt,
    }


def incomplete_timeline(filed_on: date, notified_on: date, pieces: list[str]) -> dict[str, Any]:
    limit = notified_on + timedelta(days=91)
    dates = [
        legal_date("filed", filed_on, "Dépôt du dossier", "Date de réception", "R423-1"),
        legal_date(
            "pieces_limit",
            limit,
            "Date limite pour fournir toutes les pièces",
            "3 mois à compter de la notification de la demande de pièces",
            "R423-39 du code de l'urbanisme",
        ),
    ]
    return {
        "dates": dates,
        "findings": [],
        "timers": [],
        "instruction_deadline": None,
        "tacit_outcome": "rejet_tacite",
        "complete": False,
        "missing_pieces": pieces,
        "next_legal_date": dates[1],
    }


@dataclass(frozen=True)
class InsertedFile:
    case_id: uuid.UUID
    file_id: uuid.UUID
    reference: str


async def insert_file(
    sm: async_sessionmaker[AsyncSession],
    *,
    tenant_id: uuid.UUID,
    number: str,
    permit_type: str = "PC",
    filed_on: date,
    state: str = "under_instruction",
    timeline: dict[str, Any] | None = None,
    facts: dict[str, Any] | None = None,
    tacit_on: date | None = None,
    next_legal_on: date | None = None,
    next_legal_key: str | None = None,
    decided_on: date | None = None,
    decision: str | None = None,
    applicant_name: str = "Jean Martin",
    address: str = "3 rue des Lilas, 69001 A",
    parcels: str = "AB 12",
    submitter_id: uuid.UUID | None = None,
    assignee_id: uuid.UUID | None = None,
    file_kind: str = "initial",
    alerted_for: date | None = None,
) -> InsertedFile:
    """A case of ``tenant_id`` and its urbanism file, as the projector would leave them."""
    received = datetime.combine(filed_on, time(9, 0), tzinfo=UTC)
    reference = f"U-{uuid.uuid4().hex[:10].upper()}"
    if timeline is None and tacit_on is not None:
        timeline = running_timeline(filed_on, tacit_on - timedelta(days=1))
    async with sm() as s, s.begin():
        case = Case(
            tenant_id=tenant_id,
            procedure_key=PROCEDURE_KEYS[permit_type],
            definition_version=1,
            reference=reference,
            state=state,
            channel="web",
            submitter_id=submitter_id,
            submitter={"kind": "person", "name": applicant_name},
            received_at=received,
            registered_at=received,
            payload={"applicant_name": applicant_name, "address": address},
            calendar_options={},
            search_text=reference.lower(),
            version=1,
            updated_at=received,
            assignee_id=assignee_id,
        )
        s.add(case)
        await s.flush()
        row = UrbanismFile(
            case_id=case.id,
            tenant_id=tenant_id,
            number=number,
            permit_type=permit_type,
            file_kind=file_kind,
            filed_on=filed_on,
            applicant_name=applicant_name,
            address=address,
            parcels=parcels,
            state=state,
            facts=facts if facts is not None else {"permit_type": permit_type},
            timeline=timeline if timeline is not None else {"dates": []},
            tacit_on=tacit_on,
            next_legal_on=next_legal_on,
            next_legal_key=next_legal_key,
            decided_on=decided_on,
            decision=decision,
            alerted_for=alerted_for,
            updated_at=received,
        )
        s.add(row)
        await s.flush()
        return InsertedFile(case.id, row.id, reference)
