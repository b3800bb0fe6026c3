"""Engine definitions of the urbanism procedures: one per authorisation type and follow-up.

The engine holds the **states**; the legal dates are computed by ``timeline`` from the facts the
instructor records and turned into engine deadlines (``urbanism_*`` kinds) that fire the system
transitions below. Transitions that depend on a legal check (a pieces request within the first
month, a decision notified before the tacit date, a retrait within three months…) are fired by
``the projector on the transition's payload (a ``Conflict`` rolls the whole transition back), so
the generic case API and the urbanism routes enforce the same rules.
"""

from __future__ import annotations

from pydantic import BaseModel

from services.kernel.actor import Role
from workflows.engine.calendar import DelaySpec, DelayUnit
from workflows.engine.definitions import (
    Acknowledgement,
    ActionSpec,
    Definition,
    DocumentKind,
    Guard,
    Relation,
    SilenceRule,
    State,
    Transition,
)
from workflows.procedures.urbanism.facts import FileKind, PermitType
from workflows.procedures.urbanism.intake import follow_up_schema
from workflows.procedures.urbanism.schemas import (
    CompletionPayload,
    DecisionNotifiedPayload,
    OpeningPayload,
    PiecesCompletedPayload,
    PiecesRequestPayload,
    ReasonPayload,
    WithdrawalPayload,
    intake_schema,
)

SERVICE_CODE = "urbanisme"
"""The tenant service in charge (its address and phone go on the récépissé)."""

INTAKE_ROLES = (
    Role.COUNTER_AGENT.value,
    Role.INSTRUCTOR.value,
    Role.SUPERVISOR.value,
    Role.ADMIN.value,
)
INSTRUCT = Guard(roles=(Role.INSTRUCTOR.value, Role.SUPERVISOR.value, Role.ADMIN.value))
DECIDE = Guard(roles=(Role.INSTRUCTOR.value, Role.SUPERVISOR.value, Role.MAYOR_OFFICE.value))
"""The maire's decision (signed by the maire or an adjoint), recorded by the instructor."""
SYSTEM = Guard(system=True)
APPLICANT_OR_SERVICE = Guard(
    roles=(Role.INSTRUCTOR.value, Role.COUNTER_AGENT.value, Role.SUPERVISOR.value),
    relations=(Relation.SUBMITTER,),
)

DOCUMENTS = (
    DocumentKind(kind="are", title="Récépissé de dépôt / accusé de réception"),
    DocumentKind(kind="urbanism_filing_notice", title="Avis de dépôt (affichage en mairie)"),
    DocumentKind(kind="urbanism_incompleteness", title="Lettre de demande de pièces"),
    DocumentKind(kind="urbanism_majoration", title="Lettre de majoration du délai"),
    DocumentKind(kind="urbanism_consultation", title="Demande d'avis à un service"),
    DocumentKind(kind="urbanism_decision", title="Arrêté"),
    DocumentKind(kind="urbanism_tacit_certificate", title="Certificat de décision tacite"),
)

_TITLES: dict[PermitType, tuple[str, str, str]] = {
    # key, title, CERFA
    PermitType.DP: ("dp", "Déclaration préalable", "13703 / 13404"),
    PermitType.PCMI: ("pcmi", "Permis de construire une maison individuelle", "13406"),
    PermitType.PC: ("pc", "Permis de construire", "13409"),
    PermitType.PA: ("pa", "Permis d'aménager", "13409"),
    PermitType.PD: ("pd", "Permis de démolir", "13405"),
    PermitType.CUA: ("cua", "Certificat d'urbanisme d'information", "13410"),
    PermitType.CUB: ("cub", "Certificat d'urbanisme opérationnel", "13410"),
}
_BASE_MONTHS = {
    PermitType.DP: 1,
    PermitType.PCMI: 2,
    PermitType.PD: 2,
    PermitType.PC: 3,
    PermitType.PA: 3,
    PermitType.CUA: 1,
    PermitType.CUB: 2,
}


def _doc(kind: str) -> ActionSpec:
    return ActionSpec(key="document.request", params={"kind": kind})


def _labels(permit_type: PermitType) -> dict[str, str]:
    if permit_type is PermitType.DP:
        return {
            "granted": "Non-opposition",
            "tacit_granted": "Non-opposition tacite",
            "refused": "Opposition",
            "tacit_rejected": "Opposition tacite",
        }
    if permit_type in (PermitType.CUA, PermitType.CUB):
        return {
            "granted": "Certificat d'urbanisme délivré",
            "tacit_granted": "Certificat d'urbanisme tacite",
            "refused": "Certificat d'urbanisme négatif",
            "tacit_rejected": "Rejet tacite",
        }
    return {
        "granted": "Permis accordé",
        "tacit_granted": "Permis tacite",
        "refused": "Permis refusé",
        "tacit_rejected": "Rejet tacite",
    }


def _states(permit_type: PermitType, *, works: bool) -> tuple[State, ...]:
    labels = _labels(permit_type)
    states = [
        State(name="deposited", title="Déposé"),
        State(name="incomplete", title="Incomplet : pièces demandées"),
        State(name="under_instruction", title="En cours d'instruction"),
        State(name="granted", title=labels["granted"]),
        State(name="tacit_granted", title=labels["tacit_granted"]),
        State(name="refused", title=labels["refused"], terminal=True),
        State(name="deferred", title="Sursis à statuer", terminal=True),
        State(name="tacit_rejected", title=labels["tacit_rejected"], terminal=True),
        State(name="abandoned", title="Demande retirée (classée sans suite)", terminal=True),
        State(name="withdrawn", title="Décision retirée (L424-5)", terminal=True),
        State(name="lapsed", title="Périmé", terminal=True),
    ]
    if works:
        states += [
            State(name="works_started", title="Chantier ouvert"),
            State(name="completion_declared", title="Achèvement déclaré"),
            State(name="conformity_contested", title="Conformité contestée"),
            State(name="conformity_acquired", title="Conformité acquise", terminal=True),
        ]
    return tuple(states)


OPEN = ("deposited", "under_instruction")
FAVOURABLE = ("granted", "tacit_granted")


def _t(
    name: str,
    title: str,
    sources: tuple[str, ...],
    target: str,
    guard: Guard,
    payload: type[BaseModel] | None = None,
    *,
    actions: tuple[ActionSpec, ...] = (),
    public: bool = True,
) -> Transition:
    return Transition(
        name=name,
        title=title,
        sources=sources,
        target=target,
        guard=guard,
        payload_schema=payload,
        actions=actions,
        public=public,
    )


def _transitions(*, works: bool) -> tuple[Transition, ...]:
    transitions = [
        _t(
            "request_pieces",
            "Notifier la demande de pièces (R423-38)",
            ("deposited",),
            "incomplete",
            INSTRUCT,
            PiecesRequestPayload,
            actions=(_doc("urbanism_incompleteness"),),
        ),
        _t(
            "pieces_completed",
            "Toutes les pièces sont reçues (R423-39 c)",
            ("incomplete",),
            "under_instruction",
            APPLICANT_OR_SERVICE,
            PiecesCompletedPayload,
        ),
        _t(
            "deem_complete",
            "Dossier réputé complet (R423-22)",
            ("deposited",),
            "under_instruction",
            SYSTEM,
        ),
        _t("tacit_favourable", "Décision tacite favorable (R424-1)", OPEN, "tacit_granted", SYSTEM),
        _t(
            "tacit_rejection",
            "Rejet tacite (R424-2, R424-2-1, R424-3)",
            OPEN,
            "tacit_rejected",
            SYSTEM,
        ),
        _t(
            "pieces_timeout",
            "Pièces non fournies dans les trois mois (R423-39 b)",
            ("incomplete",),
            "tacit_rejected",
            SYSTEM,
        ),
        _t(
            "grant",
            "Décision favorable notifiée",
            (*OPEN, "tacit_granted"),
            "granted",
            DECIDE,
            DecisionNotifiedPayload,
        ),
        _t(
            "refuse",
            "Refus (ou opposition) notifié",
            OPEN,
            "refused",
            DECIDE,
            DecisionNotifiedPayload,
        ),
        _t("defer", "Sursis à statuer notifié", OPEN, "deferred", DECIDE, DecisionNotifiedPayload),
        _t(
            "abandon",
            "Retrait de la demande par le demandeur",
            (*OPEN, "incomplete"),
            "abandoned",
            APPLICANT_OR_SERVICE,
            ReasonPayload,
        ),
        _t(
            "withdraw",
            "Retrait de la décision (L424-5)",
            FAVOURABLE,
            "withdrawn",
            DECIDE,
            WithdrawalPayload,
        ),
        _t(
            "lapse",
            "Péremption constatée (R424-17)",
            (*FAVOURABLE, *(("works_started",) if works else ())),
            "lapsed",
            INSTRUCT,
            ReasonPayload,
        ),
    ]
    if works:
        transitions += [
            _t(
                "declare_opening",
                "Déclaration d'ouverture de chantier (R424-16)",
                FAVOURABLE,
                "works_started",
                APPLICANT_OR_SERVICE,
                OpeningPayload,
            ),
            _t(
                "declare_completion",
                "Déclaration attestant l'achèvement (R462-1)",
                ("works_started",),
                "completion_declared",
                APPLICANT_OR_SERVICE,
                CompletionPayload,
            ),
            _t(
                "contest_conformity",
                "Mise en demeure : conformité contestée (R462-9)",
                ("completion_declared",),
                "conformity_contested",
                DECIDE,
                ReasonPayload,
            ),
            _t(
                "conformity_acquired",
                "Conformité acquise (R462-6)",
                ("completion_declared",),
                "conformity_acquired",
                SYSTEM,
            ),
            _t(
                "conformity_restored",
                "Travaux mis en conformité",
                ("conformity_contested",),
                "conformity_acquired",
                INSTRUCT,
                ReasonPayload,
            ),
        ]
    return tuple(transitions)


def _definition(
    key: str,
    permit_type: PermitType,
    title: str,
    description: str,
    *,
    months: int,
    follow_up: FileKind | None = None,
) -> Definition:
    works = permit_type not in (PermitType.CUA, PermitType.CUB)
    declaration = permit_type is PermitType.DP
    information = permit_type in (PermitType.CUA, PermitType.CUB)
    return Definition(
        key=key,
        version=1,
        title=title,
        description=description,
        states=_states(permit_type, works=works),
        initial_state="deposited",
        transitions=_transitions(works=works),
        documents=DOCUMENTS,
        on_open=(_doc("urbanism_filing_notice"),),
        payload_schema=(
            follow_up_schema(follow_up) if follow_up is not None else intake_schema(permit_type)
        ),
        intake_roles=INTAKE_ROLES,
        public=True,
        acknowledgement=Acknowledgement(
            request_kind="declaration" if declaration else "demande",
            service_code=SERVICE_CODE,
            silence=SilenceRule.ACCEPTANCE,
            decision_delay=DelaySpec(
                amount=months, unit=DelayUnit.MONTHS, legal_reference="R423-23"
            ),
            legal_basis=(
                "articles R410-9 à R410-12 du code de l'urbanisme"
                if information
                else "articles R423-23 et R424-1 du code de l'urbanisme"
            ),
        ),
    )


def build_definitions() -> tuple[Definition, ...]:
    out: list[Definition] = []
    for permit_type, (suffix, title, cerfa) in _TITLES.items():
        out.append(
            _definition(
                f"urbanism.{suffix}",
                permit_type,
                title,
                f"{title} (CERFA {cerfa}).",
                months=_BASE_MONTHS[permit_type],
            )
        )
    out.append(
        _definition(
            "urbanism.modificatif",
            PermitType.PC,
            "Permis modificatif",
            "Modification d'un permis en cours de validité (CERFA 13411).",
            months=3,
            follow_up=FileKind.MODIFICATIF,
        )
    )
    out.append(
        _definition(
            "urbanism.transfert",
            PermitType.PC,
            "Transfert de permis",
            "Transfert d'un permis à un nouveau titulaire (CERFA 13412).",
            months=2,
            follow_up=FileKind.TRANSFERT,
        )
    )
    return tuple(out)


KEY_TYPES: dict[str, PermitType] = {
    f"urbanism.{suffix}": permit_type for permit_type, (suffix, _t_, _c) in _TITLES.items()
}
"""Procedure key → authorisation type (follow-ups take their parent's type)."""
FOLLOW_UP_KEYS = ("urbanism.modificatif", "urbanism.transfert")
