"""Funeral operations: inhumation, urn deposit, exhumation (and réduction, réunion, transfer,
urn removal), dispersion, works on a grave.

Inhumation and exhumation requests (urns included) are SVR: two months of silence is a rejection
(décret 2015-1459), stated on the acknowledgement. The maire's authorisation is the ``authorise``
transition (rules checked by the projector: burial window R2213-33, right to burial L2223-3,
capacity; plus proche parent R2213-40), then the operation is recorded as done.
"""

from __future__ import annotations

from pydantic import BaseModel

from workflows.engine.definitions import Definition, State, Transition
from workflows.procedures.cemeteries._definitions_common import (
    COUNTER,
    DECIDE,
    DOCUMENTS,
    INTAKE_ROLES,
    acknowledgement,
    decision_sources,
    document,
    request_states,
    request_transitions,
    silence_timer,
)
from workflows.procedures.cemeteries.rules import silence_setting_for
from workflows.procedures.cemeteries.schemas import (
    Authorise,
    DispersionRequest,
    ExhumationPerformed,
    ExhumationRequest,
    InhumationRequest,
    Performed,
    Reason,
    UrnDepositRequest,
    WorksRequest,
)
from workflows.procedures.cemeteries.settings import CemeterySettings

SILENCE_REFERENCE = "décret n° 2015-1459 (annexe) ; article L231-4 du CRPA"


def _operation(
    *,
    key: str,
    kind: str,
    title: str,
    description: str,
    payload: type[BaseModel],
    cfg: CemeterySettings,
    document_kind: str | None,
    performed_schema: type[BaseModel] = Performed,
    performed_title: str = "Opération effectuée",
    extra_states: tuple[State, ...] = (),
    extra_transitions: tuple[Transition, ...] = (),
) -> Definition:
    silence = silence_setting_for(kind, settings=cfg)
    actions = (document(document_kind, operation=kind),) if document_kind else ()
    return Definition(
        key=key,
        version=1,
        title=title,
        description=description,
        states=(
            *request_states(silence),
            State(name="authorised", title="Autorisée"),
            State(name="performed", title=performed_title, terminal=True),
            State(name="cancelled", title="Annulée", terminal=True),
            *extra_states,
        ),
        initial_state="received",
        transitions=(
            *request_transitions(silence),
            Transition(
                name="authorise",
                title="Autoriser (arrêté du maire)",
                sources=decision_sources(silence),
                target="authorised",
                guard=DECIDE,
                payload_schema=Authorise,
                actions=actions,
            ),
            Transition(
                name="record_performed",
                title="Enregistrer l'opération effectuée",
                sources=("authorised",),
                target="performed",
                guard=COUNTER,
                payload_schema=performed_schema,
            ),
            Transition(
                name="cancel",
                title="Annuler l'opération",
                sources=("authorised",),
                target="cancelled",
                guard=COUNTER,
                payload_schema=Reason,
            ),
            *extra_transitions,
        ),
        timers=(
            silence_timer(
                silence,
                cfg,
                SILENCE_REFERENCE if silence == "rejection" else "article L231-1 du CRPA",
            ),
        ),
        documents=DOCUMENTS,
        payload_schema=payload,
        public=True,
        acknowledgement=acknowledgement(silence, cfg),
        intake_roles=INTAKE_ROLES,
    )


def operation_definitions(cfg: CemeterySettings) -> tuple[Definition, ...]:
    inhumation = _operation(
        key="cemeteries.inhumation",
        kind="inhumation",
        title="Autorisation d'inhumer",
        description="Inhumation d'un cercueil ou d'une urne (R2213-31 CGCT) : au moins 24 h et au "
        "plus le 14e jour calendaire après le décès (R2213-33), droit à sépulture (L2223-3).",
        payload=InhumationRequest,
        cfg=cfg,
        document_kind="burial_authorisation",
        performed_title="Inhumation effectuée",
    )
    urn_deposit = _operation(
        key="cemeteries.urn_deposit",
        kind="urn_deposit",
        title="Dépôt d'une urne",
        description="Dépôt d'une urne en case de columbarium, cavurne ou sépulture "
        "(L2223-18-2 CGCT).",
        payload=UrnDepositRequest,
        cfg=cfg,
        document_kind="burial_authorisation",
        performed_title="Urne déposée",
    )
    exhumation = _operation(
        key="cemeteries.exhumation",
        kind="exhumation",
        title="Autorisation d'exhumer",
        description="Exhumation, réduction ou réunion de corps, retrait d'une urne (R2213-40, "
        "R2223-23-3 CGCT) : demandée par le plus proche parent, avec attestation sur l'honneur ; "
        "un conflit familial connu est renvoyé au juge.",
        payload=ExhumationRequest,
        cfg=cfg,
        document_kind="exhumation_authorisation",
        performed_schema=ExhumationPerformed,
        performed_title="Exhumation effectuée",
        extra_states=(
            State(
                name="referred_to_judge",
                title="Refusée : conflit familial, à soumettre au juge",
                terminal=True,
            ),
        ),
        extra_transitions=(
            Transition(
                name="refer_to_judge",
                title="Refuser pour conflit familial (renvoi au juge)",
                sources=decision_sources("rejection", "incomplete"),
                target="referred_to_judge",
                guard=DECIDE,
                payload_schema=Reason,
            ),
        ),
    )
    dispersion = _operation(
        key="cemeteries.dispersion",
        kind="dispersion",
        title="Dispersion des cendres au jardin du souvenir",
        description="Dispersion des cendres dans l'espace aménagé du site cinéraire "
        "(L2223-18-2 CGCT) ; le nom de la personne est inscrit sur le dispositif prévu.",
        payload=DispersionRequest,
        cfg=cfg,
        document_kind="burial_authorisation",
        performed_title="Dispersion effectuée",
    )
    works = _operation(
        key="cemeteries.works",
        kind="works",
        title="Travaux sur une sépulture",
        description="Déclaration ou demande de travaux par une entreprise (monument, caveau).",
        payload=WorksRequest,
        cfg=cfg,
        document_kind=None,
        performed_title="Travaux terminés",
    )
    return inhumation, urn_deposit, exhumation, dispersion, works
