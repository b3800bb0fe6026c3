"""What the instructor (and the applicant) record on an urbanism file.

Each route records a **fact** with its date — the notification date of a letter, the day an
opinion arrived — past dates allowed and journaled; the system computes the legal dates. A fact
that changes nothing in law (a majoration notified after the first month…) is still recorded, and
the answer says why it has no effect (``effective: false`` with the finding and its reference).
Decisions go in two steps, as in the mairie: ``arrete`` drafts the arrêté (PDF to sign), then
``notification-decision`` records when it was notified — the date it counts from.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import date
from typing import Any

from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.actor import Actor, ActorKind, Role
from services.kernel.clock import Clock
from services.kernel.errors import Conflict, ValidationFailed
from services.kernel.policy import agents, anyone_signed_in, policy_opt
from workflows.cases.service import CaseService
from workflows.engine.runner import Engine
from workflows.procedures.urbanism import service, timeline
from workflows.procedures.urbanism.facts import (
    Consultation,
    DecisionKind,
    Display,
    Exception_,
    Facts,
    Interruption,
    Majoration,
    MajorationGround,
    Opinion,
    PiecesRequest,
    Prorogation,
)

INSTRUCT_ROLES = (Role.INSTRUCTOR.value, Role.SUPERVISOR.value, Role.ADMIN.value)
DECIDE_ROLES = (Role.INSTRUCTOR.value, Role.SUPERVISOR.value, Role.MAYOR_OFFICE.value)
INSTRUCT = policy_opt(agents(*INSTRUCT_ROLES, description="instructors of the file's tenant"))
DECIDE = policy_opt(agents(*DECIDE_ROLES, description="instructors and the mayor's office"))
APPLICANT_OR_AGENT = policy_opt(
    anyone_signed_in(description="the applicant (or who represents them); the file's agents")
)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class FactAnswer(BaseModel):
    effective: bool
    message: str
    constats: list[dict[str, str]]
    state: str
    instruction_deadline: date | None
    tacit_on: date | None
    tacit_outcome: str | None
    next_legal_date: dict[str, Any] | None


class MajorationBody(_Body):
    ground: MajorationGround = Field(description="R423-24, R423-25, R423-28, R425-31 ou R423-35")
    notified_on: date = Field(description="Date de notification de la lettre (1re présentation)")
    ground_valid: bool = True


class PiecesRequestBody(_Body):
    pieces: list[str] = Field(min_length=1, max_length=60)
    notified_on: date
    comment: str | None = Field(default=None, max_length=4000)


class ConsultationBody(_Body):
    service: str = Field(min_length=2, max_length=40, pattern=r"^[A-Za-z0-9_\- ]+$")
    sent_on: date
    delay_months: int | None = Field(default=None, ge=1, le=12)
    delay_days: int | None = Field(default=None, ge=1, le=365)
    abf_accord_required: bool = False


class OpinionBody(_Body):
    answered_on: date
    opinion: Opinion


class ExceptionsBody(_Body):
    exceptions: list[Exception_] = Field(max_length=10)
    reason: str = Field(min_length=3, max_length=2000)


class DecisionDraftBody(_Body):
    kind: DecisionKind
    reasons: list[str] = Field(default_factory=list, max_length=40)
    prescriptions: list[str] = Field(default_factory=list, max_length=40)
    signatory_name: str = Field(min_length=2, max_length=200)
    signatory_title: str = Field(min_length=2, max_length=200)


class NotifiedBody(_Body):
    notified_on: date


class WithdrawalBody(_Body):
    notified_on: date
    reasons: list[str] = Field(min_length=1, max_length=30)


class DisplayBody(_Body):
    started_on: date
    mentions_complete: bool = True
    interrupted: bool = False


class InterruptionBody(_Body):
    from_on: date
    to_on: date | None = None


class ProrogationBody(_Body):
    requested_on: date
    granted_on: date | None = None


class AppealBody(_Body):
    since: date | None = Field(description="Recours contentieux formé le (null : clos)")


class OpeningBody(_Body):
    opened_on: date


class CompletionBody(_Body):
    completed_on: date
    received_on: date | None = Field(
        default=None, description="Réception en mairie (défaut : ce jour)"
    )


class CertificateAnswer(BaseModel):
    message: str
    tacit_on: date


CaseId = FromPath[uuid.UUID]


def answer(row: Any, tl: timeline.Timeline, check: Any, message: str) -> FactAnswer:
    findings = list(check.findings) if check is not None else []
    nxt = tl.next_legal_date
    return FactAnswer(
        effective=check.effective if check is not None else True,
        message=message
        if (check is None or check.effective)
        else " ".join(f.message for f in findings),
        constats=[
            {"code": f.code, "message": f.message, "reference": f.reference} for f in findings
        ],
        state=row.state,
        instruction_deadline=tl.instruction_deadline,
        tacit_on=row.tacit_on,
        tacit_outcome=tl.tacit_outcome.value if tl.tacit_outcome else None,
        next_legal_date=(
            {"key": nxt.key, "on": nxt.on, "label": nxt.label, "reference": nxt.reference}
            if nxt
            else None
        ),
    )


def _dates(data: BaseModel) -> dict[str, date | None]:
    return {k: v for k, v in data if isinstance(v, date)}


def _not_future(case: Any, clock: Clock, **dates: date | None) -> None:
    """Facts are recorded after they happen: a notification "tomorrow" is a typing error."""
    today = service.local_today(case, clock.now())
    late = [name for name, value in dates.items() if value is not None and value > today]
    if late:
        raise ValidationFailed(
            "Une date de fait ne peut pas être dans le futur (le "
            f"{today.strftime('%d/%m/%Y')} au plus tard) : vérifiez " + ", ".join(late) + ".",
            errors=[{"field": n, "message": "date future", "type": "date"} for n in late],
        )


class UrbanismActionsController(Controller):
    path = "/urbanisme/dossiers/{case_id:uuid}"
    tags = ["Urbanisme : instruction"]

    @post("/majorations", opt=INSTRUCT, status_code=200, summary="Notifier une majoration")
    async def majoration(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        case_id: CaseId,
        data: JSONBody[MajorationBody],
    ) -> FactAnswer:
        case = await service.case_for(session, engine, clock, case_id, actor)
        _not_future(case, clock, **_dates(data))
        majoration = Majoration(data.ground, data.notified_on, data.ground_valid)
        facts = service.facts_of(await service.file_of(session, case_id))
        check = timeline.check_majoration(facts, majoration)
        row, tl = await service.record_fact(
            session,
            engine,
            clock,
            case_id,
            actor,
            fact="majoration",
            data={**data.model_dump(mode="json"), "effective": check.effective},
            change=lambda f: dataclasses.replace(f, majorations=(*f.majorations, majoration)),
            document=(
                ("urbanism_majoration", data.model_dump(mode="json")) if check.effective else None
            ),
            public=check.effective,
        )
        return answer(row, tl, check, "Majoration enregistrée : la lettre est en préparation.")

    @post("/pieces-demandees", opt=INSTRUCT, status_code=200, summary="Demande de pièces (R423-38)")
    async def request_pieces(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        case_id: CaseId,
        data: JSONBody[PiecesRequestBody],
    ) -> FactAnswer:
        case = await service.case_for(session, engine, clock, case_id, actor)
        _not_future(case, clock, **_dates(data))
        row = await service.file_of(session, case_id)
        facts = service.facts_of(row)
        from workflows.procedures.urbanism import pieces

        requested = tuple(dict.fromkeys(p.strip().upper() for p in data.pieces))
        request = PiecesRequest(
            notified_on=data.notified_on,
            pieces=requested,
            not_required=pieces.not_required(facts.permit_type, case.payload, requested),
        )
        check = timeline.check_pieces_request(facts, request)
        if check.effective and case.state == "deposited":
            await CaseService(session, engine, clock).apply(
                case_id, "request_pieces", actor, data.model_dump(mode="json")
            )
            row = await service.file_of(session, case_id)
            return answer(
                row,
                service.timeline_of(row),
                check,
                "Demande de pièces enregistrée : le délai d'instruction est suspendu ; la lettre "
                "est en préparation.",
            )
        # Recorded for the file, with no effect on the deadlines (R423-41).
        row, tl = await service.record_fact(
            session,
            engine,
            clock,
            case_id,
            actor,
            fact="pieces_request_without_effect",
            data={**data.model_dump(mode="json"), "effective": False},
            change=lambda f: f,
        )
        if check.effective:  # effective in law, but the file is no longer "deposited"
            raise Conflict(
                "Une demande de pièces n'est possible que sur un dossier déposé, pas encore "
                f"réputé complet (état actuel : {case.state})."
            )
        return answer(row, tl, check, "")

    @post("/consultations", opt=INSTRUCT, status_code=200, summary="Consulter un service")
    async def consult(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        case_id: CaseId,
        data: JSONBody[ConsultationBody],
    ) -> FactAnswer:
        case = await service.case_for(session, engine, clock, case_id, actor)
        _not_future(case, clock, **_dates(data))
        code = data.service.strip().upper()
        facts = service.facts_of(await service.file_of(session, case_id))
        if any(c.service == code for c in facts.consultations):
            raise Conflict(f"Le service {code} est déjà consulté sur ce dossier.")
        consultation = Consultation(
            service=code,
            sent_on=data.sent_on,
            delay_months=data.delay_months,
            delay_days=data.delay_days,
            abf_accord_required=data.abf_accord_required,
        )
        row, tl = await service.record_fact(
            session,
            engine,
            clock,
            case_id,
            actor,
            fact="consultation",
            data=data.model_dump(mode="json"),
            change=lambda f: dataclasses.replace(f, consultations=(*f.consultations, consultation)),
            document=("urbanism_consultation", {**data.model_dump(mode="json"), "service": code}),
        )
        return answer(row, tl, None, f"Consultation de {code} enregistrée.")

    @post(
        "/consultations/{service_code:str}/avis",
        opt=INSTRUCT,
        status_code=200,
        summary="Enregistrer l'avis reçu d'un service consulté",
    )
    async def opinion(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        case_id: CaseId,
        service_code: FromPath[str],
        data: JSONBody[OpinionBody],
    ) -> FactAnswer:
        case = await service.case_for(session, engine, clock, case_id, actor)
        _not_future(case, clock, **_dates(data))
        code = service_code.strip().upper()
        facts = service.facts_of(await service.file_of(session, case_id))
        if not any(c.service == code for c in facts.consultations):
            raise Conflict(f"Le service {code} n'a pas été consulté sur ce dossier.")

        def change(f: Facts) -> Facts:
            return dataclasses.replace(
                f,
                consultations=tuple(
                    dataclasses.replace(c, answered_on=data.answered_on, opinion=data.opinion)
                    if c.service == code
                    else c
                    for c in f.consultations
                ),
            )

        row, tl = await service.record_fact(
            session,
            engine,
            clock,
            case_id,
            actor,
            fact="opinion",
            data={"service": code, **data.model_dump(mode="json")},
            change=change,
        )
        return answer(row, tl, None, f"Avis de {code} enregistré.")

    @post("/exceptions", opt=INSTRUCT, status_code=200, summary="Cas où le silence vaut rejet")
    async def exceptions(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        case_id: CaseId,
        data: JSONBody[ExceptionsBody],
    ) -> FactAnswer:
        case = await service.case_for(session, engine, clock, case_id, actor)
        _not_future(case, clock, **_dates(data))
        row, tl = await service.record_fact(
            session,
            engine,
            clock,
            case_id,
            actor,
            fact="exceptions",
            data=data.model_dump(mode="json"),
            change=lambda f: dataclasses.replace(f, exceptions=frozenset(data.exceptions)),
        )
        return answer(row, tl, None, "Régime du silence mis à jour.")

    @post("/arrete", opt=DECIDE, status_code=200, summary="Établir l'arrêté (à signer)")
    async def draft_decision(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        case_id: CaseId,
        data: JSONBody[DecisionDraftBody],
    ) -> FactAnswer:
        case = await service.case_for(session, engine, clock, case_id, actor)
        if case.state not in ("deposited", "under_instruction", "incomplete", "tacit_granted"):
            raise Conflict(f"Le dossier est déjà décidé (état : {case.state}).")
        needs_reasons = data.kind in (
            DecisionKind.REFUSED,
            DecisionKind.OPPOSITION,
            DecisionKind.DEFERRED,
        ) or (data.kind is DecisionKind.GRANTED_WITH_PRESCRIPTIONS)
        if needs_reasons and not (data.reasons or data.prescriptions):
            raise Conflict(
                "Un refus, une opposition, un sursis à statuer ou des prescriptions doivent être "
                "motivés (L424-3) : indiquez les motifs."
            )
        signed_on = service.local_today(case, clock.now())
        row, tl = await service.record_fact(
            session,
            engine,
            clock,
            case_id,
            actor,
            fact="decision_drafted",
            data=data.model_dump(mode="json"),
            change=service.drafted_decision(data.kind, signed_on),
            document=(
                "urbanism_decision",
                {**data.model_dump(mode="json"), "signed_on": signed_on.isoformat()},
            ),
        )
        return answer(
            row,
            tl,
            None,
            "Arrêté établi : il prend effet à sa notification, dont vous enregistrerez la date "
            f"(avant le {tl.instruction_deadline.strftime('%d/%m/%Y')} inclus pour éviter une "
            "décision tacite)."
            if tl.instruction_deadline
            else "Arrêté établi.",
        )

    @post(
        "/notification-decision",
        opt=DECIDE,
        status_code=200,
        summary="Date de notification de l'arrêté (elle fait foi)",
    )
    async def decision_notified(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        case_id: CaseId,
        data: JSONBody[NotifiedBody],
    ) -> FactAnswer:
        case = await service.case_for(session, engine, clock, case_id, actor)
        _not_future(case, clock, **_dates(data))
        facts = service.facts_of(await service.file_of(session, case_id))
        if facts.decision is None:
            raise Conflict(
                "Aucun arrêté n'a été établi : établissez-le (POST …/arrete) avant d'enregistrer "
                "sa notification."
            )
        check = timeline.check_decision_notification(facts, data.notified_on)
        if not check.effective:
            # Born tacit decision: this arrêté can only be a retrait (L424-5), with its own
            # procedure — whatever the state the timer job has reached yet.
            raise service.refusal(check, "La décision est notifiée trop tard.")
        await CaseService(session, engine, clock).apply(
            case_id,
            service.transition_for(facts.decision.kind),
            actor,
            data.model_dump(mode="json"),
        )
        row = await service.file_of(session, case_id)
        return answer(row, service.timeline_of(row), None, "Notification enregistrée.")

    @post("/retrait", opt=DECIDE, status_code=200, summary="Retrait de la décision (L424-5)")
    async def withdraw(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        case_id: CaseId,
        data: JSONBody[WithdrawalBody],
    ) -> FactAnswer:
        case = await service.case_for(session, engine, clock, case_id, actor)
        _not_future(case, clock, **_dates(data))
        await CaseService(session, engine, clock).apply(
            case_id, "withdraw", actor, data.model_dump(mode="json")
        )
        row = await service.file_of(session, case_id)
        return answer(row, service.timeline_of(row), None, "Retrait enregistré.")

    @post("/affichage", opt=INSTRUCT, status_code=200, summary="Affichage sur le terrain")
    async def display(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        case_id: CaseId,
        data: JSONBody[DisplayBody],
    ) -> FactAnswer:
        case = await service.case_for(session, engine, clock, case_id, actor)
        _not_future(case, clock, **_dates(data))
        display = Display(data.started_on, data.mentions_complete, data.interrupted)
        row, tl = await service.record_fact(
            session,
            engine,
            clock,
            case_id,
            actor,
            fact="display",
            data=data.model_dump(mode="json"),
            change=lambda f: dataclasses.replace(f, display=display),
        )
        return answer(row, tl, None, "Affichage enregistré.")

    @post("/interruptions", opt=INSTRUCT, status_code=200, summary="Interruption des travaux")
    async def interruption(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        case_id: CaseId,
        data: JSONBody[InterruptionBody],
    ) -> FactAnswer:
        case = await service.case_for(session, engine, clock, case_id, actor)
        _not_future(case, clock, **_dates(data))
        if data.to_on is not None and data.to_on < data.from_on:
            raise Conflict("La reprise des travaux ne peut précéder leur interruption.")
        item = Interruption(data.from_on, data.to_on)
        row, tl = await service.record_fact(
            session,
            engine,
            clock,
            case_id,
            actor,
            fact="interruption",
            data=data.model_dump(mode="json"),
            change=lambda f: dataclasses.replace(
                f,
                interruptions=(
                    *(i for i in f.interruptions if i.from_on != data.from_on),
                    item,
                ),
            ),
        )
        return answer(row, tl, None, "Interruption des travaux enregistrée.")

    @post("/prorogations", opt=DECIDE, status_code=200, summary="Demande de prorogation (R424-21)")
    async def prorogation(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        case_id: CaseId,
        data: JSONBody[ProrogationBody],
    ) -> FactAnswer:
        case = await service.case_for(session, engine, clock, case_id, actor)
        _not_future(case, clock, **_dates(data))
        facts = service.facts_of(await service.file_of(session, case_id))
        check = timeline.check_prorogation(facts, data.requested_on)
        if not check.effective:
            raise service.refusal(check, "La prorogation n'est pas recevable (R424-21).")
        item = Prorogation(data.requested_on, data.granted_on)
        row, tl = await service.record_fact(
            session,
            engine,
            clock,
            case_id,
            actor,
            fact="prorogation",
            data=data.model_dump(mode="json"),
            change=lambda f: dataclasses.replace(
                f,
                prorogations=(
                    *(p for p in f.prorogations if p.requested_on != data.requested_on),
                    item,
                ),
            ),
            public=True,
        )
        return answer(row, tl, check, "Prorogation enregistrée.")

    @post("/recours", opt=INSTRUCT, status_code=200, summary="Recours contentieux (R424-19)")
    async def appeal(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        case_id: CaseId,
        data: JSONBody[AppealBody],
    ) -> FactAnswer:
        case = await service.case_for(session, engine, clock, case_id, actor)
        _not_future(case, clock, **_dates(data))
        row, tl = await service.record_fact(
            session,
            engine,
            clock,
            case_id,
            actor,
            fact="appeal",
            data=data.model_dump(mode="json"),
            change=lambda f: dataclasses.replace(f, appeal_pending_since=data.since),
        )
        return answer(row, tl, None, "Recours enregistré.")

    @post("/doc", opt=APPLICANT_OR_AGENT, status_code=200, summary="Ouverture de chantier (DOC)")
    async def opening(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        case_id: CaseId,
        data: JSONBody[OpeningBody],
    ) -> FactAnswer:
        case = await service.case_for(session, engine, clock, case_id, actor)
        _not_future(case, clock, **_dates(data))
        await CaseService(session, engine, clock).apply(
            case_id, "declare_opening", actor, data.model_dump(mode="json")
        )
        row = await service.file_of(session, case_id)
        return answer(row, service.timeline_of(row), None, "Ouverture de chantier enregistrée.")

    @post("/daact", opt=APPLICANT_OR_AGENT, status_code=200, summary="Achèvement (DAACT)")
    async def completion(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        case_id: CaseId,
        data: JSONBody[CompletionBody],
    ) -> FactAnswer:
        case = await service.case_for(session, engine, clock, case_id, actor)
        _not_future(case, clock, **_dates(data))
        received = data.received_on or service.local_today(case, clock.now())
        if data.completed_on > received:
            raise Conflict("Les travaux ne peuvent être achevés après la réception de la DAACT.")
        await CaseService(session, engine, clock).apply(
            case_id,
            "declare_completion",
            actor,
            {"completed_on": data.completed_on.isoformat(), "received_on": received.isoformat()},
        )
        row = await service.file_of(session, case_id)
        return answer(row, service.timeline_of(row), None, "Déclaration d'achèvement enregistrée.")

    @post(
        "/attestation-conformite",
        opt=APPLICANT_OR_AGENT,
        status_code=200,
        summary="Attestation de non-contestation de la conformité (R462-10)",
    )
    async def conformity_attestation(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        case_id: CaseId,
    ) -> CertificateAnswer:
        case = await service.case_for(session, engine, clock, case_id, actor)
        facts = service.facts_of(await service.file_of(session, case_id))
        check, due = timeline.conformity_attestation(facts, service.local_today(case, clock.now()))
        if not check.effective or due is None:
            raise service.refusal(check, "L'attestation ne peut pas encore être délivrée.")
        await service.record_fact(
            session,
            engine,
            clock,
            case_id,
            actor,
            fact="conformity_attestation_requested",
            data={"due_on": due.isoformat()},
            change=lambda f: f,
            public=True,
        )
        return CertificateAnswer(
            message="Demande enregistrée : l'attestation est due dans les quinze jours "
            f"(au plus tard le {due.strftime('%d/%m/%Y')}, R462-10).",
            tacit_on=due,
        )

    @post(
        "/certificat-tacite",
        opt=APPLICANT_OR_AGENT,
        status_code=200,
        summary="Demander le certificat de décision tacite (R424-13)",
    )
    async def tacit_certificate(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        case_id: CaseId,
    ) -> CertificateAnswer:
        case = await service.case_for(session, engine, clock, case_id, actor)
        row = await service.file_of(session, case_id)
        if case.state not in ("tacit_granted", "works_started", "completion_declared"):
            raise Conflict(
                "Aucune décision tacite n'est née sur ce dossier : le certificat de l'article "
                "R424-13 ne peut pas être délivré."
            )
        born = service.timeline_of(row).get("tacit_decision")
        if born is None or row.decision not in service.TACIT_DECISIONS.values():
            raise Conflict("Ce dossier a reçu une décision expresse : pas de certificat tacite.")
        # The applicant asks; the maire (an agent of the mairie) certifies: the PDF is issued
        # under the name and title of the agent who issues it (L212-2 CRPA).
        by_agent = actor.kind is ActorKind.AGENT
        await service.record_fact(
            session,
            engine,
            clock,
            case_id,
            actor,
            fact="tacit_certificate_issued" if by_agent else "tacit_certificate_requested",
            data={"tacit_on": born.on.isoformat()},
            change=lambda f: f,
            document=("urbanism_tacit_certificate", {}) if by_agent else None,
            public=True,
        )
        return CertificateAnswer(
            message=(
                "Le certificat est en préparation ; il sera disponible dans les documents du "
                "dossier."
                if by_agent
                else "Votre demande est transmise à la mairie, qui vous délivrera le certificat "
                "(article R424-13 du code de l'urbanisme)."
            ),
            tacit_on=born.on,
        )
