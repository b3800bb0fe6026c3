"""Payload schemas of the cemetery procedures (intake data, cemeteries.md §7) and of their
transitions. Wire types only: the rules live in ``rules.py``, the registry checks in the projector.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

Capacity = Literal[
    "concessionnaire",
    "ayant_droit",
    "plus_proche_parent",
    "organisateur_obseques",
    "operateur_funeraire",
    "entreprise",
    "autre",
]
Relationship = Literal[
    "holder",
    "spouse",
    "child",
    "descendant",
    "descendant_spouse",
    "parent",
    "ascendant",
    "sibling",
    "grandchild",
    "grandparent",
    "nephew_niece",
    "other",
]
DurationKind = Literal["temporary", "30", "50", "perpetual"]
Category = Literal["individual", "collective", "family"]

_Text = Field(min_length=1, max_length=200)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Requester(_In):
    """Who asks and in which capacity (the identity itself is the case's submitter)."""

    capacity: Capacity = Field(description="Qualité du demandeur")
    relationship: Relationship | None = Field(
        default=None, description="Lien avec la personne défunte ou le titulaire"
    )
    habilitation_number: str | None = Field(
        default=None, max_length=40, description="N° d'habilitation de l'opérateur funéraire"
    )
    company_name: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _operator(self) -> Requester:
        if self.capacity == "operateur_funeraire" and not self.habilitation_number:
            raise ValueError("un opérateur funéraire indique son numéro d'habilitation")
        return self


class Beneficiary(_In):
    family_name: str = _Text
    given_names: str = _Text
    relationship: Relationship | None = None


class Deceased(_In):
    """The deceased person (cemeteries.md §7)."""

    title: Literal["M.", "Mme", ""] = ""
    family_name: str = _Text
    usage_name: str | None = Field(default=None, max_length=200)
    given_names: str = _Text
    birth_date: date | None = None
    birth_place: str | None = Field(default=None, max_length=200)
    death_at: AwareDatetime = Field(description="Date et heure du décès (avec fuseau)")
    death_place: str | None = Field(default=None, max_length=200)
    last_domicile: str | None = Field(default=None, max_length=300)
    died_in_commune: bool = False
    domiciled_in_commune: bool = False
    french_abroad_on_electoral_roll: bool = False
    container: Literal["coffin", "urn"] = "coffin"
    refused_cremation: bool = Field(
        default=False, description="Opposition connue à la crémation (règle de l'ossuaire)"
    )
    coffin_closing_ref: str | None = Field(default=None, max_length=100)
    relationship_to_holder: Relationship | None = None
    named_beneficiary: bool = False


class PrefectDerogationIn(_In):
    until: date
    kind: Literal["individual", "local"] = "individual"
    reference: str = Field(min_length=3, max_length=200)


# ----- requests -------------------------------------------------------------------------------


class Holder(_In):
    """The future holder when it is not the submitter (a funeral operator filing for a family)."""

    family_name: str = _Text
    given_names: str = _Text
    address: str | None = Field(default=None, max_length=300)
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    phone: str | None = Field(default=None, max_length=30, pattern=r"^[0-9+() .-]*$")


class ConcessionRequest(_In):
    """Attribution of a concession: the town hall alone chooses the place (CE 1925 Valès)."""

    requester: Requester
    holder: Holder | None = Field(default=None, description="Titulaire (par défaut : le demandeur)")
    category: Category
    duration_kind: DurationKind
    duration_years: int | None = Field(default=None, ge=1, le=15)
    cemetery_id: uuid.UUID | None = None
    place_type: Literal["pleine_terre", "caveau", "cavurne", "columbarium", "enfeu"] | None = None
    area_m2: Decimal | None = Field(default=None, gt=0, le=100)
    places_count: int | None = Field(default=None, ge=1, le=20)
    beneficiaries: list[Beneficiary] = Field(default_factory=list, max_length=50)
    wishes: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _shape(self) -> ConcessionRequest:
        if self.duration_kind == "temporary" and self.duration_years is None:
            raise ValueError("une concession temporaire indique sa durée (15 ans au plus)")
        if self.category == "collective" and not self.beneficiaries:
            raise ValueError("une concession collective nomme ses bénéficiaires")
        return self


class RenewalRequest(_In):
    requester: Requester
    concession_id: uuid.UUID
    duration_kind: DurationKind
    duration_years: int | None = Field(default=None, ge=1, le=15)


class ConversionRequest(_In):
    requester: Requester
    concession_id: uuid.UUID
    duration_kind: DurationKind
    duration_years: int | None = Field(default=None, ge=1, le=15)


class InhumationRequest(_In):
    """Inhumation (coffin or urn) in a concession or in terrain commun."""

    requester: Requester
    deceased: Deceased
    planned_at: AwareDatetime = Field(description="Date et heure prévues de l'inhumation")
    concession_id: uuid.UUID | None = None
    place_id: uuid.UUID | None = None
    start_event_on: date | None = Field(
        default=None,
        description="Entrée du corps en France ou autorisation du procureur (R2213-33)",
    )
    prefect_derogation: PrefectDerogationIn | None = None
    funeral_operator: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _where(self) -> InhumationRequest:
        if self.concession_id is None and self.place_id is None:
            raise ValueError("indiquez la concession ou l'emplacement (terrain commun)")
        return self


class UrnDepositRequest(InhumationRequest):
    """Deposit of an urn (columbarium case, cavurne, grave)."""


class ExhumationRequest(_In):
    """Exhumation, réduction, réunion de corps, transfer or urn removal (R2213-40)."""

    requester: Requester
    operation: Literal["exhumation", "reduction", "reunion", "transfer", "urn_removal"] = (
        "exhumation"
    )
    deceased_id: uuid.UUID
    reason: str = Field(min_length=3, max_length=2000)
    destination: Literal["other_place", "ossuary", "cremation", "other_commune"]
    destination_place_id: uuid.UUID | None = None
    destination_text: str | None = Field(default=None, max_length=300)
    requester_relationship: Literal[
        "spouse", "child", "parent", "sibling", "grandchild", "grandparent", "nephew_niece", "other"
    ]
    living_relatives: list[
        Literal[
            "spouse",
            "child",
            "parent",
            "sibling",
            "grandchild",
            "grandparent",
            "nephew_niece",
            "other",
        ]
    ] = Field(default_factory=list, max_length=50)
    sworn_statement: bool = Field(
        description="J'atteste sur l'honneur être le plus proche parent et qu'aucun parent au "
        "même degré ne s'oppose à l'exhumation"
    )
    known_objection: bool = False
    attending_relative: str | None = Field(default=None, max_length=200)
    planned_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _destination(self) -> ExhumationRequest:
        if self.destination == "other_place" and self.destination_place_id is None:
            raise ValueError("indiquez l'emplacement de destination")
        return self


class DispersionRequest(_In):
    requester: Requester
    deceased: Deceased
    cemetery_id: uuid.UUID
    planned_at: AwareDatetime


class WorksRequest(_In):
    requester: Requester
    company_name: str = _Text
    siret: str | None = Field(default=None, pattern=r"^\d{14}$")
    place_id: uuid.UUID
    nature: str = Field(min_length=3, max_length=2000)
    starts_on: date
    ends_on: date

    @model_validator(mode="after")
    def _dates(self) -> WorksRequest:
        if self.ends_on < self.starts_on:
            raise ValueError("la fin des travaux précède leur début")
        return self


class RepriseRequest(_In):
    """Ex officio: reprise of a concession not renewed (information first, L2223-15)."""

    concession_id: uuid.UUID


class AbandonRequest(_In):
    """Ex officio: abandon procedure on a concession (L2223-17)."""

    concession_id: uuid.UUID
    observations: str | None = Field(default=None, max_length=2000)


# ----- transition data --------------------------------------------------------------------------


class Reason(_In):
    reason: str = Field(min_length=3, max_length=2000)


class Pieces(_In):
    pieces: list[str] = Field(min_length=1, max_length=30)


class ChoosePlace(_In):
    place_id: uuid.UUID
    starts_on: date | None = Field(default=None, description="Début (par défaut : la signature)")


class Payment(_In):
    payment_ref: str = Field(min_length=1, max_length=100)
    amount: Decimal = Field(ge=0, le=1_000_000, decimal_places=2)
    paid_on: date | None = None


class Authorise(_In):
    planned_at: AwareDatetime | None = None
    place_id: uuid.UUID | None = Field(
        default=None, description="Tombe en terrain commun choisie par la mairie"
    )


class Performed(_In):
    performed_at: AwareDatetime


class ExhumationPerformed(_In):
    performed_at: AwareDatetime
    attending_relative: str = _Text
    coffin_intact: bool = False
    coffin_opened: bool = False


class AbandonNotice(_In):
    notice_sent_on: date
    finding_on: date
    method: Literal["lrar", "affichage"] = "lrar"


class FindingReport(_In):
    """A procès-verbal de constat d'abandon (R2223-14)."""

    finding_on: date
    description: str = Field(min_length=10, max_length=5000)
    present: list[str] = Field(min_length=1, max_length=20)
    notified_on: date | None = Field(
        default=None, description="Notification aux familles (par défaut : le jour du constat)"
    )


class Deliberation(_In):
    deliberation_on: date
    reference: str = Field(min_length=1, max_length=100)


class RepriseOrder(_In):
    published_on: date = Field(description="Publication et notification de l'arrêté")
    reference: str = Field(min_length=1, max_length=100)


class Execution(_In):
    executed_on: date
