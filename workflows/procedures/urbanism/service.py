"""The urbanism file: facts recorded by the instructor, the legal timeline, the engine deadlines.

One writer for ``urbanism_file``: the projector (after a case is opened or transitioned, in the
same transaction) and the fact-recording functions below (a majoration, a consultation, an
opinion, a display…, recorded as a case event under the case's row lock). Both end in
``refresh``: the timeline is computed again from the facts (``timeline.compute``) and the engine
deadlines of kinds ``facts.TIMER_KINDS`` are made to match what the facts imply — a tacit decision
is then born by the ordinary timer job, at 00:00 on the right day, as the system.

Transitions whose legality depends on a date (pieces request within the first month, a decision
notified before the tacit date, a retrait within three months, DOC after the decision…) are
checked here on their payload whoever fires them (the urbanism routes or the generic case API):
a refusal is a ``Conflict`` naming the rule, and nothing is written.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import column, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.actor import Actor
from services.kernel.clock import Clock
from services.kernel.errors import Conflict, HiddenDenial, NotFound
from workflows.cases._store import calendar_of
from workflows.cases.models import Case, CaseEvent, Deadline, Outbox
from workflows.cases.service import CaseService
from workflows.engine.runner import Engine, Step
from workflows.procedures.urbanism import codec, intake, numbering, pieces, rulesets, timeline
from workflows.procedures.urbanism.definitions import FOLLOW_UP_KEYS, KEY_TYPES, build_definitions
from workflows.procedures.urbanism.facts import (
    TIMER_KINDS,
    Check,
    Decision,
    DecisionKind,
    Facts,
    FileKind,
    PermitType,
    PiecesReceipt,
    PiecesRequest,
    Timeline,
    Withdrawal,
)
from workflows.procedures.urbanism.models import UrbanismFile

LIVE = ("active", "suspended")
_DEFINITIONS = {d.key: d for d in build_definitions()}
"""The states and transitions, to keep only the timers whose transition is still possible."""
_TENANT = table("tenant", column("id"), column("insee_code"))
"""Workflows do not import identity: the tenant's INSEE code is read from its table."""
FACT_EVENT = "urbanism.fact"

_NATURE = {
    PermitType.PCMI: "PC",
    PermitType.PC: "PC",
    PermitType.PA: "PA",
    PermitType.PD: "PD",
    PermitType.DP: "DP",
    PermitType.CUA: "CU",
    PermitType.CUB: "CU",
}
_DECISION_TRANSITIONS: dict[str, frozenset[DecisionKind]] = {
    "grant": frozenset(
        {
            DecisionKind.GRANTED,
            DecisionKind.GRANTED_WITH_PRESCRIPTIONS,
            DecisionKind.NON_OPPOSITION,
            DecisionKind.CU_ISSUED,
        }
    ),
    "refuse": frozenset({DecisionKind.REFUSED, DecisionKind.OPPOSITION}),
    "defer": frozenset({DecisionKind.DEFERRED}),
}
TACIT_DECISIONS = {
    "tacit_favourable": "tacite_favorable",
    "tacit_rejection": "tacite_rejet",
    "pieces_timeout": "tacite_rejet_pieces",
}


def transition_for(kind: DecisionKind) -> str:
    """The engine transition that records the notification of a decision of this kind."""
    return next(name for name, kinds in _DECISION_TRANSITIONS.items() if kind in kinds)


def _today(case: Case) -> date:
    return calendar_of(case).local_date(case.updated_at)


def refusal(check: Check, fallback: str) -> Conflict:
    messages = [f.message for f in check.findings] or [fallback]
    return Conflict(
        " ".join(messages),
        extra={
            "constats": [
                {"code": f.code, "message": f.message, "reference": f.reference}
                for f in check.findings
            ]
        },
    )


async def file_of(session: AsyncSession, case_id: uuid.UUID) -> UrbanismFile:
    row = await session.scalar(select(UrbanismFile).where(UrbanismFile.case_id == case_id))
    if row is None:
        raise NotFound("Ce dossier n'est pas un dossier d'urbanisme.")
    return row


async def case_for(
    session: AsyncSession, engine: Engine, clock: Clock, case_id: uuid.UUID, actor: Actor
) -> Case:
    """The urbanism case ``actor`` may see: any other case (or one hidden from them) is the same
    404 as a case that does not exist."""
    case = await CaseService(session, engine, clock).get_for(case_id, actor)
    if not case.procedure_key.startswith("urbanism."):
        raise HiddenDenial("Dossier introuvable.")
    return case


def facts_of(row: UrbanismFile) -> Facts:
    return codec.facts_from_json(row.facts)


def timeline_of(row: UrbanismFile) -> Timeline:
    return codec.timeline_from_json(row.timeline)


# ----- opening -----------------------------------------------------------------------------------


async def _parent(session: AsyncSession, case: Case, number: str) -> UrbanismFile:
    wanted = numbering.parse_number(number).stored
    parent = await session.scalar(
        select(UrbanismFile)
        .where(UrbanismFile.tenant_id == case.tenant_id, UrbanismFile.number == wanted)
        .with_for_update()
    )
    if parent is None:
        raise NotFound(
            f"Aucune autorisation n° {numbering.display_number(wanted)} dans cette commune : "
            "vérifiez le numéro du permis à modifier ou à transférer."
        )
    if parent.state not in ("granted", "tacit_granted", "works_started"):
        raise Conflict(
            f"L'autorisation n° {numbering.display_number(wanted)} n'est pas en cours de "
            "validité (accordée, tacite ou chantier ouvert) : elle ne peut être ni modifiée ni "
            "transférée."
        )
    return parent


async def opened(session: AsyncSession, case: Case) -> UrbanismFile:
    insee = await session.scalar(select(_TENANT.c.insee_code).where(_TENANT.c.id == case.tenant_id))
    if insee is None:  # pragma: no cover - the case's foreign key guarantees it
        raise NotFound("Collectivité du dossier introuvable.")
    summary = intake.summary(case.payload)
    calendar = calendar_of(case)
    filed_on = calendar.local_date(case.received_at)
    parent: UrbanismFile | None = None
    if case.procedure_key in FOLLOW_UP_KEYS:
        if not summary.parent_number:
            raise Conflict("Indiquez le numéro de l'autorisation concernée (parent_number).")
        parent = await _parent(session, case, summary.parent_number)
        permit_type = PermitType(parent.permit_type)
        file_kind = (
            FileKind.MODIFICATIF
            if case.procedure_key == "urbanism.modificatif"
            else FileKind.TRANSFERT
        )
        number = await numbering.follow_up_number(
            session, parent.number, file_kind, tenant_id=case.tenant_id
        )
    else:
        permit_type = KEY_TYPES[case.procedure_key]
        file_kind = FileKind.INITIAL
        number = await numbering.next_number(
            session,
            tenant_id=case.tenant_id,
            insee=insee,
            nature=_NATURE[permit_type],
            year=filed_on.year,
        )
    facts = Facts(
        permit_type=permit_type,
        filed_on=filed_on,
        rule_set=rulesets.rule_set_for(insee, filed_on),
        file_kind=file_kind,
        is_maison_individuelle=summary.maison_individuelle or permit_type is PermitType.PCMI,
        exceptions=frozenset(summary.exceptions),
        tree_felling=summary.tree_felling,
        protected_area=summary.protected_area,
    )
    row = UrbanismFile(
        case_id=case.id,
        tenant_id=case.tenant_id,
        number=number,
        permit_type=permit_type.value,
        file_kind=file_kind.value,
        parent_id=parent.id if parent else None,
        filed_on=filed_on,
        applicant_name=summary.applicant_name[:300],
        address=summary.address[:400],
        parcels=summary.parcels[:400],
        state=case.state,
        facts=codec.facts_to_json(facts),
        timeline={},
        updated_at=case.updated_at,
    )
    session.add(row)
    await session.flush()
    await refresh(session, case, row, facts)
    return row


# ----- transitions -------------------------------------------------------------------------------


def _apply_step(facts: Facts, step: Step, today: date, case: Case) -> Facts:
    """The facts after ``step``, or a Conflict when the law does not allow it on those dates."""
    data: Mapping[str, Any] = step.data
    name = step.transition
    if name == "request_pieces":
        requested = tuple(str(p) for p in data["pieces"])
        request = PiecesRequest(
            notified_on=date.fromisoformat(data["notified_on"]),
            pieces=requested,
            not_required=pieces.not_required(facts.permit_type, case.payload, requested),
        )
        check = timeline.check_pieces_request(facts, request)
        if not check.effective:
            raise refusal(check, "Cette demande de pièces ne suspend pas le délai.")
        return dataclasses.replace(facts, pieces_requests=(*facts.pieces_requests, request))
    if name == "pieces_completed":
        received_on = date.fromisoformat(data["received_on"])
        current = timeline.compute(facts, calendar_of(case), today=today)
        if current.missing_pieces:
            facts = dataclasses.replace(
                facts,
                pieces_receipts=(
                    *facts.pieces_receipts,
                    PiecesReceipt(received_on=received_on, pieces=current.missing_pieces),
                ),
            )
        after = timeline.compute(facts, calendar_of(case), today=today)
        if not after.complete:
            raise Conflict(
                "Les pièces arrivent trop tard : "
                + " ".join(f.message for f in after.findings[-1:])
                if after.findings
                else "Le dossier reste incomplet."
            )
        return facts
    if name in _DECISION_TRANSITIONS:
        if facts.decision is None:
            raise Conflict(
                "Aucun arrêté n'a été établi pour ce dossier : établissez-le (POST …/arrete) "
                "avant d'en enregistrer la notification."
            )
        if facts.decision.kind not in _DECISION_TRANSITIONS[name]:
            raise Conflict(
                f"L'arrêté établi est « {facts.decision.kind.value} » : sa notification "
                f"s'enregistre par « {transition_for(facts.decision.kind)} »."
            )
        notified_on = date.fromisoformat(data["notified_on"])
        check = timeline.check_decision_notification(facts, notified_on)
        if not check.effective:
            raise refusal(
                check, "La décision est notifiée après la naissance d'une décision tacite."
            )
        return dataclasses.replace(
            facts, decision=dataclasses.replace(facts.decision, notified_on=notified_on)
        )
    if name == "withdraw":
        notified_on = date.fromisoformat(data["notified_on"])
        check = timeline.check_withdrawal(facts, notified_on)
        if not check.effective:
            raise refusal(check, "Le retrait n'est plus possible (L424-5).")
        return dataclasses.replace(facts, withdrawal=Withdrawal(notified_on=notified_on))
    if name == "declare_opening":
        opened_on = date.fromisoformat(data["opened_on"])
        check = timeline.check_opening(facts, opened_on)
        if not check.effective:
            raise refusal(check, "La déclaration d'ouverture de chantier est impossible.")
        return dataclasses.replace(facts, doc_on=opened_on)
    if name == "declare_completion":
        completed_on = date.fromisoformat(data["completed_on"])
        check = timeline.check_completion(facts, completed_on)
        if not check.effective:
            raise refusal(check, "La déclaration d'achèvement est impossible.")
        return dataclasses.replace(facts, daact_on=date.fromisoformat(data["received_on"]))
    if name == "contest_conformity":
        check = timeline.check_conformity_contest(facts, today)
        if not check.effective:
            raise refusal(check, "La conformité ne peut plus être contestée (R462-6).")
        return facts
    return facts


async def transitioned(session: AsyncSession, case: Case, steps: Sequence[Step]) -> None:
    row = await file_of(session, case.id)
    facts = facts_of(row)
    today = _today(case)
    for step in steps:
        facts = _apply_step(facts, step, today, case)
        if step.transition in TACIT_DECISIONS:
            tl = timeline.compute(facts, calendar_of(case), today=today)
            born = tl.get("tacit_decision")
            row.decided_on = born.on if born else today
            row.decision = TACIT_DECISIONS[step.transition]
        elif step.transition in _DECISION_TRANSITIONS and facts.decision is not None:
            row.decided_on = facts.decision.notified_on
            row.decision = facts.decision.kind.value
    await refresh(session, case, row, facts)


# ----- the timeline and the engine deadlines -------------------------------------------------------


async def refresh(
    session: AsyncSession, case: Case, row: UrbanismFile, facts: Facts | None = None
) -> Timeline:
    """Recompute the timeline from the facts and make the engine deadlines match it."""
    facts = facts if facts is not None else facts_of(row)
    calendar = calendar_of(case)
    today = _today(case)
    tl = timeline.compute(facts, calendar, today=today)
    row.facts = codec.facts_to_json(facts)
    row.timeline = codec.timeline_to_json(tl)
    row.state = case.state
    tacit = tl.get("tacit_decision")
    row.tacit_on = (
        tacit.on
        if tacit is not None and case.state in ("deposited", "under_instruction", "incomplete")
        else None
    )
    nxt = tl.next_legal_date
    row.next_legal_on = nxt.on if nxt else None
    row.next_legal_key = nxt.key if nxt else None
    row.updated_at = case.updated_at
    await _sync_deadlines(session, case, tl)
    await session.flush()
    return tl


async def _sync_deadlines(session: AsyncSession, case: Case, tl: Timeline) -> None:
    definition = _DEFINITIONS[case.procedure_key]
    possible = {t.name for t in definition.transitions_from(case.state)}
    planned = {t.kind: t for t in tl.timers if t.transition in possible}
    existing = list(
        await session.scalars(
            select(Deadline).where(Deadline.case_id == case.id, Deadline.kind.in_(TIMER_KINDS))
        )
    )
    calendar = calendar_of(case)
    now = case.updated_at
    for deadline in existing:
        if deadline.status not in LIVE:
            continue
        plan = planned.get(deadline.kind)
        if plan is not None and (plan.last_day, plan.transition) == (
            deadline.due_on,
            deadline.transition,
        ):
            planned.pop(deadline.kind)
            continue
        deadline.status = "cancelled"
    fired = {(d.kind, d.due_on, d.transition) for d in existing if d.status == "fired"}
    seq = await _last_seq(session, case.id)
    for plan in planned.values():
        if (plan.kind, plan.last_day, plan.transition) in fired:
            continue
        session.add(
            Deadline(
                case_id=case.id,
                kind=plan.kind,
                transition=plan.transition,
                rule={
                    "description": plan.rule,
                    "legal_reference": plan.reference,
                    "rule_set": tl.dates[0].rule_set if tl.dates else "",
                    "extensions": [],
                    "suspensions": [],
                },
                starts_on=calendar.local_date(case.received_at),
                due_on=plan.last_day,
                due_at=calendar.expiry_instant(plan.last_day),
                status="active",
                created_seq=seq,
                created_at=now,
            )
        )


async def _last_seq(session: AsyncSession, case_id: uuid.UUID) -> int:
    from sqlalchemy import func

    value = await session.scalar(
        select(func.max(CaseEvent.seq)).where(CaseEvent.case_id == case_id)
    )
    return int(value or 0)


# ----- facts recorded without a change of state ------------------------------------------------------


async def record_fact(
    session: AsyncSession,
    engine: Engine,
    clock: Clock,
    case_id: uuid.UUID,
    actor: Actor,
    *,
    fact: str,
    data: Mapping[str, Any],
    change: Callable[[Facts], Facts],
    document: tuple[str, dict[str, Any]] | None = None,
    public: bool = False,
) -> tuple[UrbanismFile, Timeline]:
    """Record ``fact`` (a journaled case event with ``data``) and update the facts with
    ``change``; queue ``document`` (kind, params) when given. Returns the file and its timeline."""
    cases = CaseService(session, engine, clock)
    event = await cases.record(
        case_id,
        FACT_EVENT,
        actor,
        {"fact": fact, **data},
        public=public,
        channel="api",
        visible_to=actor,
    )
    case = await cases.lock(case_id)
    row = await file_of(session, case_id)
    case.updated_at = clock.now()
    facts = change(facts_of(row))
    tl = await refresh(session, case, row, facts)
    if document is not None:
        kind, params = document
        requested_by = {"name": actor.display_name, "title": actor.title or ""}
        session.add(
            Outbox(
                case_id=case.id,
                kind="document.render",
                payload={
                    "case_id": str(case.id),
                    "kind": kind,
                    "seq": event.seq,
                    "params": {"requested_by": requested_by, **params},
                },
                dedupe_key=f"document:{case.id}:{kind}:{event.seq}",
                status="pending",
                attempts=0,
                created_at=clock.now(),
            )
        )
        await session.flush()
    return row, tl


def drafted_decision(kind: DecisionKind, signed_on: date) -> Callable[[Facts], Facts]:
    def change(facts: Facts) -> Facts:
        return dataclasses.replace(facts, decision=Decision(kind=kind, signed_on=signed_on))

    return change


def local_today(case: Case, now: datetime) -> date:
    return calendar_of(case).local_date(now)


async def receive_pieces(
    session: AsyncSession,
    engine: Engine,
    clock: Clock,
    case_id: uuid.UUID,
    actor: Actor,
    *,
    codes: Sequence[str],
    received_on: date,
    attachments: Sequence[str] = (),
) -> tuple[UrbanismFile, Timeline]:
    """Pieces received (uploaded by the applicant, or handed in at the counter on
    ``received_on``). When they complete an effective pieces request, the case moves on and the
    full instruction deadline restarts from that day (R423-39 c)."""
    wanted = tuple(dict.fromkeys(c.strip().upper() for c in codes if c.strip()))
    if not wanted:
        raise Conflict("Indiquez au moins une pièce (code CERFA, par exemple PCMI2).")
    row = await file_of(session, case_id)
    before = timeline_of(row)
    # Recorded as a fact first: a partial delivery keeps the file incomplete, and the record
    # stays even when it completes nothing (pieces after the three months, R423-39 b).
    row, tl = await record_fact(
        session,
        engine,
        clock,
        case_id,
        actor,
        fact="pieces_received",
        data={
            "pieces": list(wanted),
            "received_on": received_on.isoformat(),
            "attachments": list(attachments),
        },
        change=lambda f: f,
        public=True,
    )
    case = await CaseService(session, engine, clock).lock(case_id)
    missing = [p for p in before.missing_pieces if p not in wanted]
    if case.state == "incomplete" and before.missing_pieces and not missing:
        await CaseService(session, engine, clock).apply(
            case_id, "pieces_completed", actor, {"received_on": received_on.isoformat()}
        )
        row = await file_of(session, case_id)
        return row, timeline_of(row)
    if case.state == "incomplete":
        facts = facts_of(row)
        facts = dataclasses.replace(
            facts,
            pieces_receipts=(
                *facts.pieces_receipts,
                PiecesReceipt(received_on=received_on, pieces=wanted),
            ),
        )
        tl = await refresh(session, case, row, facts)
    return row, tl
