"""``supplier_invoices.invoice``: a supplier's invoice, from its reception to its payment.

States follow Chorus Pro's (einvoicing.md §7) and each maps to a Chorus Pro status and a 2026
lifecycle code (``lifecycle.py``). Roles (existing ones, there is no finance role yet):

- finance (accounts payable of the ordonnateur): ``supervisor`` and ``admin`` — make available,
  suspend, reject, mandate, record the payment;
- ordering department agents: ``instructor`` (and finance) — certify the service fait.

The DGP is not an engine timer: its end does not move the case (interest then runs on its own),
its start is the Chorus Pro "mise à disposition" date (possibly before Guichet saw the invoice)
and a completion opens a new period (R2192-29) rather than resuming: the projector computes it
with ``dgp.py`` and the cron of ``jobs.py`` alerts before it ends.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.kernel.actor import Role
from workflows.engine.definitions import (
    Acknowledgement,
    ActionSpec,
    Definition,
    DocumentKind,
    Guard,
    SilenceRule,
    State,
    Transition,
)
from workflows.procedures.supplier_invoices.settings import get_supplier_invoice_settings

KEY = "supplier_invoices.invoice"
FINANCE_ROLES = (Role.SUPERVISOR.value, Role.ADMIN.value)
DEPARTMENT_ROLES = (Role.INSTRUCTOR.value, Role.SUPERVISOR.value, Role.ADMIN.value)
READ_ROLES = (Role.INSTRUCTOR.value, Role.SUPERVISOR.value, Role.ADMIN.value)


class InvoicePayload(BaseModel):
    """What the e-invoice channel records on the case (never typed by a person)."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["chorus_pro", "deposit"]
    syntax: str | None = Field(default=None, max_length=40)
    profile: str | None = Field(default=None, max_length=200)
    verdict: Literal["valid", "invalid", "unprocessable"]
    data: dict[str, str | None] = Field(default_factory=dict)
    findings: list[dict[str, str]] = Field(default_factory=list, max_length=5_000)
    made_available_at: datetime | None = None
    chorus_id: str | None = Field(default=None, max_length=60)
    document_sha256: str | None = Field(default=None, max_length=64)


class MadeAvailable(BaseModel):
    model_config = ConfigDict(extra="forbid")

    made_available_at: datetime | None = None
    """The Chorus Pro notification date (starts the DGP); now when not given."""


class Reason(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=3, max_length=2_000)


class Rejection(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=3, max_length=2_000)
    findings: list[dict[str, str]] = Field(default_factory=list, max_length=5_000)


class Suspension(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=3, max_length=2_000)
    missing_pieces: list[str] = Field(min_length=1, max_length=50)
    """R2192-28: the suspension lists the missing pieces."""


class Completion(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    note: str = Field(default="", max_length=2_000)
    completed_at: datetime | None = None


class ServiceDone(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    note: str = Field(default="", max_length=2_000)


class Mandate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    mandate_number: str = Field(min_length=1, max_length=60)


class Payment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    paid_at: datetime | None = None


def _t(name: str, title: str, sources: tuple[str, ...], target: str, **kw: Any) -> Transition:
    return Transition(name=name, title=title, sources=sources, target=target, **kw)


FINANCE = Guard(roles=FINANCE_ROLES, system=True)
OPEN_STATES = ("deposited", "made_available", "suspended", "completed", "service_done", "mandated")


def build_definition() -> Definition:
    service_code = get_supplier_invoice_settings().service_code
    return Definition(
        key=KEY,
        version=1,
        title="Facture fournisseur",
        description="Facture électronique d'un fournisseur : réception, service fait, "
        "mandatement et paiement dans le délai global de paiement.",
        states=(
            State(name="deposited", title="Déposée"),
            State(name="made_available", title="Mise à disposition"),
            State(name="suspended", title="Suspendue"),
            State(name="completed", title="Complétée"),
            State(name="service_done", title="Service fait"),
            State(name="mandated", title="Mandatée"),
            State(name="paid", title="Mise en paiement", terminal=True),
            State(name="rejected", title="Rejetée", terminal=True),
        ),
        initial_state="deposited",
        transitions=(
            _t(
                "make_available",
                "Mettre à disposition",
                ("deposited",),
                "made_available",
                guard=FINANCE,
                payload_schema=MadeAvailable,
            ),
            _t(
                "reject",
                "Rejeter la facture",
                ("deposited", "made_available", "completed", "suspended"),
                "rejected",
                guard=FINANCE,
                payload_schema=Rejection,
                actions=(ActionSpec(key="document.request", params={"kind": "invoice_rejection"}),),
            ),
            _t(
                "suspend",
                "Suspendre le délai de paiement",
                ("made_available", "service_done"),
                "suspended",
                guard=FINANCE,
                payload_schema=Suspension,
            ),
            _t(
                "complete",
                "Compléments reçus du fournisseur",
                ("suspended",),
                "completed",
                guard=FINANCE,
                payload_schema=Completion,
            ),
            _t(
                "certify_service",
                "Constater le service fait",
                ("made_available", "completed"),
                "service_done",
                guard=Guard(roles=DEPARTMENT_ROLES),
                payload_schema=ServiceDone,
            ),
            _t(
                "mandate",
                "Mandater",
                ("service_done",),
                "mandated",
                guard=Guard(roles=FINANCE_ROLES),
                payload_schema=Mandate,
            ),
            _t(
                "pay",
                "Mise en paiement",
                ("mandated",),
                "paid",
                guard=FINANCE,
                payload_schema=Payment,
            ),
        ),
        documents=(
            DocumentKind(kind="are", title="Accusé de réception de la facture"),
            DocumentKind(kind="invoice_rejection", title="Avis de rejet de facture"),
        ),
        payload_schema=InvoicePayload,
        public=True,
        anonymous_intake=True,  # a seller with no French identifier (see channels.einvoice.intake)
        acknowledgement=Acknowledgement(
            request_kind="demande",
            service_code=service_code,
            silence=SilenceRule.NONE,
            legal_basis="R2192-3 et R2192-10 à R2192-36 du code de la commande publique",
        ),
        intake_roles=FINANCE_ROLES,
    )


DEFINITION = build_definition()
