"""Concession procedures: attribution, renewal, conversion.

Each goes: request → instruction → the town hall decides (for an attribution it chooses the
place, CE 1925 Valès; for a renewal or conversion the price is computed by the rules) → payment
recorded → the maire signs the title (``sign_title``), which the projector writes into the
registry and which requests the ``concession_title`` document.
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
    ChoosePlace,
    ConcessionRequest,
    ConversionRequest,
    Payment,
    RenewalRequest,
)
from workflows.procedures.cemeteries.settings import CemeterySettings

PAYMENT_STATES = (
    State(name="awaiting_payment", title="Décision prise, en attente du paiement"),
    State(name="paid", title="Payée, titre à signer"),
    State(name="granted", title="Titre de concession délivré", terminal=True),
)


def _payment_transitions(decide: Transition) -> tuple[Transition, ...]:
    return (
        decide,
        Transition(
            name="record_payment",
            title="Enregistrer le paiement",
            sources=("awaiting_payment",),
            target="paid",
            guard=COUNTER,
            payload_schema=Payment,
        ),
        Transition(
            name="sign_title",
            title="Signer le titre de concession",
            sources=("paid",),
            target="granted",
            guard=DECIDE,
            actions=(document("concession_title"),),
        ),
    )


def _definition(
    *,
    key: str,
    kind: str,
    title: str,
    description: str,
    payload: type[BaseModel],
    decide: Transition,
    cfg: CemeterySettings,
    extra: tuple[Transition, ...] = (),
) -> Definition:
    silence = silence_setting_for(kind, settings=cfg)
    return Definition(
        key=key,
        version=1,
        title=title,
        description=description,
        states=(*request_states(silence), *PAYMENT_STATES),
        initial_state="received",
        transitions=(
            *request_transitions(silence, refusable_from=("awaiting_payment",)),
            *_payment_transitions(decide),
            *extra,
        ),
        timers=(silence_timer(silence, cfg, "articles L231-1 et L231-4 du CRPA"),),
        documents=DOCUMENTS,
        payload_schema=payload,
        public=True,
        acknowledgement=acknowledgement(silence, cfg, flagged=kind == "attribution"),
        intake_roles=INTAKE_ROLES,
    )


def concession_definitions(cfg: CemeterySettings) -> tuple[Definition, ...]:
    attribution_silence = silence_setting_for("attribution", settings=cfg)
    other_silence = silence_setting_for("renewal", settings=cfg)
    concession = _definition(
        key="cemeteries.concession",
        kind="attribution",
        title="Achat d'une concession funéraire",
        description="Demande d'attribution d'une concession dans un cimetière communal "
        "(L2223-13 CGCT) : la mairie choisit l'emplacement, le paiement est enregistré, le maire "
        "signe le titre.",
        payload=ConcessionRequest,
        cfg=cfg,
        decide=Transition(
            name="choose_place",
            title="Choisir l'emplacement (décision du maire)",
            sources=decision_sources(attribution_silence),
            target="awaiting_payment",
            guard=DECIDE,
            payload_schema=ChoosePlace,
        ),
        extra=(
            Transition(
                name="change_place",
                title="Changer d'emplacement",
                sources=("awaiting_payment", "paid"),
                target="awaiting_payment",
                guard=DECIDE,
                payload_schema=ChoosePlace,
            ),
        ),
    )
    renewal = _definition(
        key="cemeteries.renewal",
        kind="renewal",
        title="Renouvellement d'une concession funéraire",
        description="Renouvellement dans les deux ans suivant le terme (L2223-15 CGCT) : la "
        "nouvelle période part de l'ancien terme, au tarif en vigueur à cette date.",
        payload=RenewalRequest,
        cfg=cfg,
        decide=Transition(
            name="accept",
            title="Accepter le renouvellement (prix au tarif du terme)",
            sources=decision_sources(other_silence),
            target="awaiting_payment",
            guard=DECIDE,
        ),
    )
    conversion = _definition(
        key="cemeteries.conversion",
        kind="conversion",
        title="Conversion d'une concession funéraire",
        description="Conversion vers une durée plus longue (L2223-16 CGCT) : prix = nouveau "
        "tarif moins la valeur du temps restant.",
        payload=ConversionRequest,
        cfg=cfg,
        decide=Transition(
            name="accept",
            title="Accepter la conversion (prix calculé)",
            sources=decision_sources(other_silence),
            target="awaiting_payment",
            guard=DECIDE,
        ),
    )
    return concession, renewal, conversion
