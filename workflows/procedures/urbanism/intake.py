"""Intake payloads of the urbanism procedures: the CERFA's blocks (urbanism.md §4), one schema per
authorisation type (``intake_schema``) and per follow-up (``follow_up_schema``), and the
``summary`` the projector stores on ``urbanism_file``.

Blocks: ``applicants`` (≥ 1, personne physique or personne morale with a checked SIRET),
``architect``, ``mandataire``, ``land`` (address, cadastral parcels, total area), ``project``
(nature of works, floor areas by destination of R151-27, footprint, dwellings, height…), ``flags``
(protections and procedures that change the instruction: they give the R424-2 / R424-2-1
exceptions and the protected area of R462-7), ``pieces`` (CERFA codes supplied) and ``cerfa``.
Key names follow the cadastre for parcels (``prefixe``, ``section``, ``numero``).

[to confirm] (urbanism.md §4): the applicant fields of the current CERFA; the consent to
electronic notification; the maximum of two dwellings of a maison individuelle (L231-1 CCH);
the holder's consent on a transfert (CERFA 13412); the R462-7 list behind ``protected_area``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)
from stdnum.fr import siret as _siret

from workflows.procedures.urbanism import numbering, pieces
from workflows.procedures.urbanism.facts import Exception_, FileKind, PermitType

# ----- text types -----------------------------------------------------------------------------


_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Bidirectional overrides: they make a printed name read differently from what is stored."""


def _no_control(value: str, *, multiline: bool) -> str:
    allowed = {"\n", "\r", "\t"} if multiline else set()
    for ch in value:
        if ch in allowed:
            continue
        if unicodedata.category(ch) in {"Cc", "Cs", "Co", "Cn"} or ch in _BIDI_CONTROLS:
            raise ValueError(
                "caractère non imprimable interdit : retirez-le (copier-coller d'un autre logiciel ?)"
            )
    return unicodedata.normalize("NFC", value)


def _line(value: str) -> str:
    return _no_control(value, multiline=False)


def _text(value: str) -> str:
    return _no_control(value, multiline=True)


Line = Annotated[str, AfterValidator(_line)]
Text = Annotated[str, AfterValidator(_text)]


def _upper_compact(value: Any) -> Any:
    return "".join(value.split()).upper() if isinstance(value, str) else value


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# ----- people -----------------------------------------------------------------------------------

Civility = Literal["M.", "Mme"]

_PHONE = r"^\+?[0-9 ().-]{6,25}$"
_EMAIL = r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,60}$"


class Address(_In):
    street: Line | None = Field(default=None, max_length=200, title="Numéro et voie")
    lieu_dit: Line | None = Field(default=None, max_length=200, title="Lieu-dit")
    complement: Line | None = Field(default=None, max_length=200, title="Complément, BP, cedex")
    postal_code: str = Field(max_length=12, title="Code postal")
    city: Line = Field(min_length=1, max_length=100, title="Localité")
    country: Line = Field(default="France", min_length=2, max_length=60, title="Pays")

    @model_validator(mode="after")
    def _check(self) -> Address:
        if not self.street and not self.lieu_dit:
            raise ValueError("adresse : indiquez le numéro et la voie, ou le lieu-dit")
        france = self.country.strip().lower() in {"france", "fr"}
        if france and not re.fullmatch(r"[0-9]{5}", self.postal_code):
            raise ValueError("code postal français : 5 chiffres (par exemple 69001)")
        if not france and not re.fullmatch(r"[0-9A-Za-z -]{2,12}", self.postal_code):
            raise ValueError("code postal : lettres, chiffres, espaces ou tirets")
        return self


class _Contact(_In):
    address: Address = Field(title="Adresse")
    phone: str | None = Field(default=None, max_length=25, pattern=_PHONE, title="Téléphone")
    email: str | None = Field(default=None, max_length=254, pattern=_EMAIL, title="Courriel")
    electronic_consent: bool = Field(
        default=False,
        title="J'accepte de recevoir par courriel les documents de l'instruction",
    )

    @model_validator(mode="after")
    def _consent(self) -> _Contact:
        if self.electronic_consent and not self.email:
            raise ValueError(
                "indiquez un courriel pour recevoir les documents par voie électronique"
            )
        return self


class NaturalPerson(_Contact):
    """Personne physique."""

    kind: Literal["personne_physique"] = Field(title="Particulier")
    civility: Civility | None = Field(default=None, title="Civilité")
    family_name: Line = Field(min_length=1, max_length=100, title="Nom")
    given_name: Line = Field(min_length=1, max_length=100, title="Prénom")
    birth_date: date | None = Field(default=None, title="Date de naissance")
    birth_place: Line | None = Field(default=None, max_length=100, title="Lieu de naissance")

    @field_validator("birth_date")
    @classmethod
    def _born(cls, value: date | None) -> date | None:
        if value is not None and not date(1900, 1, 1) <= value <= date.today():
            raise ValueError("date de naissance invraisemblable : vérifiez l'année")
        return value


class Representative(_In):
    civility: Civility | None = Field(default=None, title="Civilité")
    family_name: Line = Field(min_length=1, max_length=100, title="Nom")
    given_name: Line = Field(min_length=1, max_length=100, title="Prénom")
    capacity: Line | None = Field(default=None, max_length=100, title="Qualité (gérant…)")


class LegalPerson(_Contact):
    """Personne morale (société, association, collectivité…)."""

    kind: Literal["personne_morale"] = Field(title="Personne morale")
    name: Line = Field(min_length=1, max_length=200, title="Dénomination")
    siret: str = Field(max_length=30, title="N° SIRET")
    legal_form: Line = Field(min_length=1, max_length=80, title="Type de société (SCI, SARL…)")
    representative: Representative = Field(title="Représentant")

    @field_validator("siret", mode="before")
    @classmethod
    def _siret(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        digits = "".join(value.split())
        if not _siret.is_valid(digits):
            raise ValueError(
                f"SIRET invalide « {value[:20]} » : 14 chiffres dont le dernier est une clé de "
                "contrôle ; recopiez-le depuis l'extrait Kbis ou annuaire-entreprises.data.gouv.fr"
            )
        return digits


def _applicant_kind(value: Any) -> str | None:
    kind = value.get("kind") if isinstance(value, Mapping) else getattr(value, "kind", None)
    return kind if kind in ("personne_physique", "personne_morale") else None


Applicant = Annotated[
    Annotated[NaturalPerson, Tag("personne_physique")]
    | Annotated[LegalPerson, Tag("personne_morale")],
    Discriminator(
        _applicant_kind,
        custom_error_type="applicant_kind",
        custom_error_message=(
            "demandeur : indiquez « kind » : « personne_physique » (particulier) ou "
            "« personne_morale » (société, association, collectivité)"
        ),
    ),
]


class Architect(_In):
    civility: Civility | None = Field(default=None, title="Civilité")
    family_name: Line = Field(min_length=1, max_length=100, title="Nom")
    given_name: Line = Field(min_length=1, max_length=100, title="Prénom")
    firm: Line | None = Field(default=None, max_length=200, title="Raison sociale du cabinet")
    registration_number: str = Field(
        min_length=1,
        max_length=20,
        pattern=r"^[0-9A-Za-z][0-9A-Za-z /-]*$",
        title="N° d'inscription au tableau de l'ordre des architectes",
    )
    address: Address | None = Field(default=None, title="Adresse")
    email: str | None = Field(default=None, max_length=254, pattern=_EMAIL, title="Courriel")
    phone: str | None = Field(default=None, max_length=25, pattern=_PHONE, title="Téléphone")


class Mandataire(_In):
    """Délégataire or mandataire who files for the applicants."""

    civility: Civility | None = Field(default=None, title="Civilité")
    family_name: Line = Field(min_length=1, max_length=100, title="Nom")
    given_name: Line = Field(min_length=1, max_length=100, title="Prénom")
    company: Line | None = Field(default=None, max_length=200, title="Société")
    capacity: Line | None = Field(default=None, max_length=100, title="Qualité")
    address: Address = Field(title="Adresse")
    email: str | None = Field(default=None, max_length=254, pattern=_EMAIL, title="Courriel")
    phone: str | None = Field(default=None, max_length=25, pattern=_PHONE, title="Téléphone")


# ----- land -------------------------------------------------------------------------------------

MAX_PARCELS = 200
MAX_AREA_M2 = 100_000_000
"""100 km²: larger is a typing error."""


class LandAddress(_In):
    street: Line | None = Field(default=None, max_length=200, title="Numéro et voie")
    lieu_dit: Line | None = Field(default=None, max_length=200, title="Lieu-dit")
    postal_code: str = Field(pattern=r"^[0-9]{5}$", title="Code postal")
    city: Line = Field(min_length=1, max_length=100, title="Localité")
    arrondissement: Line | None = Field(default=None, max_length=40, title="Arrondissement")

    @model_validator(mode="after")
    def _where(self) -> LandAddress:
        if not self.street and not self.lieu_dit:
            raise ValueError("terrain : indiquez le numéro et la voie, ou le lieu-dit")
        return self


class Parcel(_In):
    """Référence cadastrale: préfixe (commune absorbée), section, numéro, contenance."""

    prefixe: Annotated[str | None, BeforeValidator(_upper_compact)] = Field(
        default=None, title="Préfixe"
    )
    section: Annotated[str, BeforeValidator(_upper_compact)] = Field(title="Section")
    numero: Annotated[str, BeforeValidator(_upper_compact)] = Field(title="Numéro")
    area: int = Field(ge=1, le=MAX_AREA_M2, title="Superficie de la parcelle (m²)")

    @field_validator("prefixe")
    @classmethod
    def _prefixe(cls, value: str | None) -> str | None:
        if value in (None, "", "000"):
            return None
        if not re.fullmatch(r"[0-9]{3}", value):
            raise ValueError("préfixe cadastral : 3 chiffres (par exemple 012), ou rien")
        return value

    @field_validator("section")
    @classmethod
    def _section(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z]{1,2}|0[A-Z]", value):
            raise ValueError(
                f"section cadastrale « {value[:10]} » invalide : 1 ou 2 lettres (par exemple AB)"
            )
        return value

    @field_validator("numero")
    @classmethod
    def _numero(cls, value: str) -> str:
        if not re.fullmatch(r"[0-9]{1,4}", value) or int(value) == 0:
            raise ValueError(
                f"numéro de parcelle « {value[:10]} » invalide : 1 à 4 chiffres (par exemple 12)"
            )
        return str(int(value))

    @property
    def label(self) -> str:
        return f"{self.prefixe + ' ' if self.prefixe else ''}{self.section} {self.numero}"


class Land(_In):
    address: LandAddress = Field(title="Adresse du terrain")
    parcels: list[Parcel] = Field(
        min_length=1, max_length=MAX_PARCELS, title="Références cadastrales"
    )
    total_area: int = Field(ge=1, le=MAX_AREA_M2, title="Superficie totale du terrain (m²)")
    in_lotissement: bool = Field(default=False, title="Terrain situé dans un lotissement")
    in_zac: bool = Field(default=False, title="Terrain situé dans une ZAC")

    @model_validator(mode="after")
    def _parcels(self) -> Land:
        seen: set[tuple[str | None, str, str]] = set()
        for parcel in self.parcels:
            key = (parcel.prefixe, parcel.section, parcel.numero)
            if key in seen:
                raise ValueError(f"parcelle {parcel.label} indiquée deux fois")
            seen.add(key)
        total = sum(p.area for p in self.parcels)
        if self.total_area > total:
            raise ValueError(
                f"superficie du terrain ({self.total_area} m²) supérieure à celle des parcelles "
                f"({total} m²) : vérifiez les superficies"
            )
        return self


# ----- project ----------------------------------------------------------------------------------

Destination = Literal[
    "exploitation_agricole_forestiere",
    "habitation",
    "commerce_activites_service",
    "equipements_interet_collectif",
    "autres_activites_secondaire_tertiaire",
]
"""The 5 destinations of R151-27."""
DESTINATION_LABELS: dict[str, str] = {
    "exploitation_agricole_forestiere": "Exploitation agricole et forestière",
    "habitation": "Habitation",
    "commerce_activites_service": "Commerce et activités de service",
    "equipements_interet_collectif": "Équipements d'intérêt collectif et services publics",
    "autres_activites_secondaire_tertiaire": "Autres activités des secteurs secondaire ou tertiaire",
}
WorkNature = Literal[
    "construction_nouvelle",
    "extension",
    "annexe",
    "travaux_existant",
    "changement_destination",
    "piscine",
    "cloture",
    "demolition",
    "amenagement",
    "lotissement",
    "division",
    "abattage_arbres",
    "autre",
]
WORK_NATURE_LABELS: dict[str, str] = {
    "construction_nouvelle": "Construction nouvelle",
    "extension": "Extension d'une construction existante",
    "annexe": "Construction annexe",
    "travaux_existant": "Travaux sur construction existante",
    "changement_destination": "Changement de destination",
    "piscine": "Piscine",
    "cloture": "Clôture",
    "demolition": "Démolition",
    "amenagement": "Aménagement",
    "lotissement": "Lotissement",
    "division": "Division foncière",
    "abattage_arbres": "Coupe ou abattage d'arbres",
    "autre": "Autres travaux",
}
MAX_FLOOR_M2 = 10_000_000.0


def _m2(title: str) -> Any:
    return Field(default=0.0, ge=0, le=MAX_FLOOR_M2, allow_inf_nan=False, title=title)


class FloorArea(_In):
    """Surfaces de plancher of one destination (m²)."""

    destination: Destination = Field(title="Destination (R151-27)")
    existing: float = _m2("Surface existante avant travaux (m²)")
    created: float = _m2("Surface créée (m²)")
    removed: float = _m2("Surface supprimée (m²)")

    @model_validator(mode="after")
    def _removed(self) -> FloorArea:
        if self.removed > self.existing:
            raise ValueError(
                f"{DESTINATION_LABELS[self.destination]} : la surface supprimée "
                f"({self.removed:g} m²) dépasse la surface existante ({self.existing:g} m²)"
            )
        return self


def _unique_destinations(rows: list[FloorArea]) -> list[FloorArea]:
    seen = [r.destination for r in rows]
    if len(seen) != len(set(seen)):
        raise ValueError("une seule ligne de surfaces par destination")
    return rows


FloorAreas = Annotated[list[FloorArea], AfterValidator(_unique_destinations), Field(max_length=5)]


def _unique_natures(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


Natures = Annotated[
    list[WorkNature],
    AfterValidator(_unique_natures),
    Field(min_length=1, max_length=13, title="Nature des travaux"),
]


class _Project(_In):
    nature_of_works: Natures
    description: Text = Field(min_length=1, max_length=4000, title="Description du projet")
    floor_areas: FloorAreas = Field(default_factory=list, title="Surfaces de plancher")
    footprint: float | None = Field(
        default=None, ge=0, le=MAX_FLOOR_M2, allow_inf_nan=False, title="Emprise au sol (m²)"
    )
    dwellings: int | None = Field(default=None, ge=0, le=10_000, title="Logements créés")
    height: float | None = Field(
        default=None, ge=0, le=1000, allow_inf_nan=False, title="Hauteur maximale (m)"
    )


class BuildingProject(_Project):
    """PC, PCMI (CERFA 13406, 13409)."""

    parking_spaces: int | None = Field(
        default=None, ge=0, le=100_000, title="Places de stationnement"
    )
    demolition: bool = Field(default=False, title="Le projet comprend des démolitions")
    non_collective_sanitation: bool = Field(default=False, title="Assainissement non collectif")


class DeclarationProject(BuildingProject):
    """DP (CERFA 13703 maison individuelle, 13404 other)."""

    maison_individuelle: bool = Field(
        default=False, title="Travaux sur une maison individuelle ou ses annexes"
    )
    tree_felling: bool = Field(default=False, title="Coupe ou abattage d'arbres")


class DevelopmentProject(_Project):
    """PA (CERFA 13409)."""

    lots: int | None = Field(default=None, ge=1, le=10_000, title="Nombre de lots")
    max_floor_area: float | None = Field(
        default=None,
        ge=0,
        le=MAX_FLOOR_M2,
        allow_inf_nan=False,
        title="Surface de plancher maximale envisagée (m²)",
    )


class DemolitionProject(_In):
    """PD (CERFA 13405)."""

    extent: Literal["totale", "partielle"] = Field(title="Démolition totale ou partielle")
    description: Text = Field(min_length=1, max_length=4000, title="Description du projet")
    floor_areas: FloorAreas = Field(default_factory=list, title="Surfaces de plancher")


class CuOperation(_In):
    """CUb: the operation on which the applicant asks whether it can be carried out."""

    description: Text = Field(min_length=1, max_length=4000, title="Opération projetée")
    destinations: list[Destination] = Field(default_factory=list, max_length=5)
    floor_area: float | None = Field(
        default=None,
        ge=0,
        le=MAX_FLOOR_M2,
        allow_inf_nan=False,
        title="Surface de plancher envisagée (m²)",
    )
    existing_buildings: bool = Field(default=False, title="Constructions existantes sur le terrain")


# ----- flags ------------------------------------------------------------------------------------


class Flags(_In):
    """Protections and procedures known at intake (the instructor may add them later)."""

    site_patrimonial_remarquable: bool = Field(default=False, title="Site patrimonial remarquable")
    abords_monument_historique: bool = Field(default=False, title="Abords d'un monument historique")
    immeuble_inscrit_mh: bool = Field(
        default=False, title="Immeuble inscrit au titre des monuments historiques"
    )
    adosse_monument_classe: bool = Field(
        default=False, title="Immeuble adossé à un immeuble classé monument historique"
    )
    site_classe: bool = Field(default=False, title="Site classé ou réserve naturelle")
    site_inscrit: bool = Field(default=False, title="Site inscrit")
    erp: bool = Field(default=False, title="Établissement recevant du public")
    igh: bool = Field(default=False, title="Immeuble de grande hauteur")
    ppr: bool = Field(default=False, title="Plan de prévention des risques")
    evaluation_environnementale: bool = Field(
        default=False, title="Projet soumis à évaluation environnementale"
    )
    enquete_publique: bool = Field(default=False, title="Projet soumis à enquête publique")
    autorisation_defense: bool = Field(
        default=False, title="Travaux soumis à l'autorisation du ministre de la défense"
    )
    evocation_ministerielle: bool = Field(default=False, title="Évocation ministérielle")


PROTECTED_FLAGS = (
    "site_patrimonial_remarquable",
    "abords_monument_historique",
    "immeuble_inscrit_mh",
    "adosse_monument_classe",
    "site_classe",
    "erp",
    "igh",
    "ppr",
)
"""Récolement compulsory (R462-7 [to confirm: list]): 5-month conformity window."""

_EXCEPTION_FLAGS: dict[str, Exception_] = {
    "autorisation_defense": Exception_.DEFENCE_AUTHORISATION,
    "site_classe": Exception_.SITE_CLASSE_OR_RESERVE,
    "evocation_ministerielle": Exception_.MINISTERIAL_EVOCATION,
    "immeuble_inscrit_mh": Exception_.MONUMENT_INSCRIT_OR_ADJOINING,
    "adosse_monument_classe": Exception_.MONUMENT_INSCRIT_OR_ADJOINING,
    "enquete_publique": Exception_.PUBLIC_INQUIRY,
    "evaluation_environnementale": Exception_.ENVIRONMENTAL_ASSESSMENT,
}
"""Flag → why silence means rejection (R424-2, R424-2-1). ``site_inscrit`` with a demolition
gives DEMOLITION_SITE_INSCRIT (also inside a PC, CE 12 févr. 2020 n°421949). Whether
R424-2-1 applies (filing date) is decided by the timeline's rule set."""


# ----- requests ---------------------------------------------------------------------------------

MAX_PIECES = 100
CERFA_BY_TYPE: dict[PermitType, str] = {
    PermitType.PCMI: "13406",
    PermitType.PC: "13409",
    PermitType.PA: "13409",
    PermitType.PD: "13405",
    PermitType.CUA: "13410",
    PermitType.CUB: "13410",
}


def _piece_codes(values: list[str], families: tuple[str, ...], what: str) -> list[str]:
    out: list[str] = []
    for raw in values:
        code = pieces.normalise_code(raw)
        family = pieces.family_of(code)
        if family is None or family not in families:
            expected = " ou ".join(f"{f}…" for f in families)
            raise ValueError(
                f"pièce « {raw[:20]} » : code CERFA attendu pour {what} ({expected}, par exemple "
                f"{families[0]}1)"
            )
        if code not in out:
            out.append(code)
    return out


PieceList = Annotated[
    list[Annotated[str, Field(max_length=20)]],
    Field(default_factory=list, max_length=MAX_PIECES, title="Pièces jointes (codes CERFA)"),
]


class _Request(_In):
    permit_type: ClassVar[PermitType]
    what: ClassVar[str]

    applicants: list[Applicant] = Field(min_length=1, max_length=20, title="Demandeurs")
    mandataire: Mandataire | None = Field(default=None, title="Mandataire ou délégataire")
    land: Land = Field(title="Terrain")
    pieces: PieceList

    @field_validator("pieces")
    @classmethod
    def _pieces(cls, values: list[str]) -> list[str]:
        return _piece_codes(values, pieces.FAMILIES[cls.permit_type], cls.what)


class DeclarationRequest(_Request):
    """Déclaration préalable (CERFA 13703 maison individuelle, 13404 other)."""

    permit_type = PermitType.DP
    what = "une déclaration préalable"

    architect: Architect | None = Field(default=None, title="Architecte")
    project: DeclarationProject = Field(title="Projet")
    flags: Flags = Field(default_factory=Flags, title="Protections et procédures")
    cerfa: Literal["13703", "13404"] | None = Field(default=None, title="CERFA")

    @model_validator(mode="after")
    def _cerfa(self) -> DeclarationRequest:
        expected: Literal["13703", "13404"] = (
            "13703" if self.project.maison_individuelle else "13404"
        )
        if self.cerfa is not None and self.cerfa != expected:
            raise ValueError(
                "CERFA 13703 pour des travaux sur une maison individuelle, 13404 sinon : "
                f"indiquez {expected} ou corrigez « maison individuelle »"
            )
        self.cerfa = expected
        return self


class _Permit(_Request):
    architect: Architect | None = Field(default=None, title="Architecte")
    flags: Flags = Field(default_factory=Flags, title="Protections et procédures")


class HouseRequest(_Permit):
    """Permis de construire une maison individuelle (CERFA 13406)."""

    permit_type = PermitType.PCMI
    what = "un permis de construire de maison individuelle"
    project: BuildingProject = Field(title="Projet")
    cerfa: Literal["13406"] = "13406"

    @model_validator(mode="after")
    def _house(self) -> HouseRequest:
        if self.project.dwellings is not None and self.project.dwellings > 2:
            raise ValueError(
                "une maison individuelle comporte au plus deux logements (L231-1 CCH) : "
                "déposez un permis de construire (CERFA 13409)"
            )
        return self


class BuildingRequest(_Permit):
    """Permis de construire other than a maison individuelle (CERFA 13409)."""

    permit_type = PermitType.PC
    what = "un permis de construire"
    project: BuildingProject = Field(title="Projet")
    cerfa: Literal["13409"] = "13409"


class DevelopmentRequest(_Permit):
    """Permis d'aménager (CERFA 13409)."""

    permit_type = PermitType.PA
    what = "un permis d'aménager"
    project: DevelopmentProject = Field(title="Projet")
    cerfa: Literal["13409"] = "13409"


class DemolitionRequest(_Permit):
    """Permis de démolir (CERFA 13405)."""

    permit_type = PermitType.PD
    what = "un permis de démolir"
    project: DemolitionProject = Field(title="Projet")
    cerfa: Literal["13405"] = "13405"


class InformationCertificateRequest(_Request):
    """Certificat d'urbanisme d'information, CUa (CERFA 13410): no project, no architect."""

    permit_type = PermitType.CUA
    what = "un certificat d'urbanisme"
    question: Literal["information"] = Field(
        default="information", title="Certificat d'urbanisme d'information (a)"
    )
    cerfa: Literal["13410"] = "13410"


class OperationalCertificateRequest(_Request):
    """Certificat d'urbanisme opérationnel, CUb (CERFA 13410): the operation projected."""

    permit_type = PermitType.CUB
    what = "un certificat d'urbanisme"
    question: Literal["operationnel"] = Field(
        default="operationnel", title="Certificat d'urbanisme opérationnel (b)"
    )
    operation: CuOperation = Field(title="Opération projetée")
    cerfa: Literal["13410"] = "13410"


# ----- follow-ups --------------------------------------------------------------------------------

_FOLLOW_UP_FAMILIES: dict[str, tuple[str, ...]] = {
    "PC": ("PC", "PCMI"),
    "PA": ("PA",),
    "PD": ("PD",),
    "DP": ("DP", "DPC"),
}


def _parent_number(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        parsed = numbering.parse_number(value)
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    if parsed.follow_up is not None:
        raise ValueError(
            f"« {parsed.display} » est un modificatif ou un transfert : indiquez le numéro de "
            "l'autorisation initiale"
        )
    if parsed.nature == "CU":
        raise ValueError("un certificat d'urbanisme ne se modifie ni ne se transfère")
    return parsed.stored


ParentNumber = Annotated[
    str,
    BeforeValidator(_parent_number),
    Field(max_length=40, title="N° de l'autorisation concernée"),
]


class _FollowUp(_In):
    kind: ClassVar[FileKind]

    parent_number: ParentNumber
    applicants: list[Applicant] = Field(min_length=1, max_length=20, title="Demandeurs")
    mandataire: Mandataire | None = Field(default=None, title="Mandataire ou délégataire")
    pieces: PieceList

    @model_validator(mode="after")
    def _pieces(self) -> _FollowUp:
        families = _FOLLOW_UP_FAMILIES[self.parent_number[:2]]
        self.pieces = _piece_codes(self.pieces, families, "l'autorisation initiale")
        return self


class ModificatifRequest(_FollowUp):
    """Permis modificatif (CERFA 13411): only the pieces the change concerns."""

    kind = FileKind.MODIFICATIF
    architect: Architect | None = Field(default=None, title="Architecte")
    land: Land | None = Field(default=None, title="Terrain")
    changes: Text = Field(min_length=3, max_length=4000, title="Description des modifications")
    floor_areas: FloorAreas = Field(default_factory=list, title="Surfaces de plancher modifiées")
    maison_individuelle: bool = Field(
        default=False, title="Le permis porte sur une maison individuelle"
    )
    flags: Flags = Field(default_factory=Flags, title="Protections et procédures")
    cerfa: Literal["13411"] = "13411"


class TransfertRequest(_FollowUp):
    """Transfert de permis (CERFA 13412): the new holders, with the current holder's consent."""

    kind = FileKind.TRANSFERT
    holder_consent: bool = Field(title="Accord du titulaire actuel de l'autorisation")
    partial: bool = Field(default=False, title="Transfert partiel")
    partial_description: Text | None = Field(
        default=None, max_length=4000, title="Partie du projet transférée"
    )
    cerfa: Literal["13412"] = "13412"

    @model_validator(mode="after")
    def _consent(self) -> TransfertRequest:
        if not self.holder_consent:
            raise ValueError(
                "le transfert exige l'accord du titulaire actuel de l'autorisation (CERFA 13412)"
            )
        if self.partial and not self.partial_description:
            raise ValueError("transfert partiel : décrivez la partie du projet transférée")
        return self


_SCHEMAS: dict[PermitType, type[_Request]] = {
    PermitType.DP: DeclarationRequest,
    PermitType.PCMI: HouseRequest,
    PermitType.PC: BuildingRequest,
    PermitType.PA: DevelopmentRequest,
    PermitType.PD: DemolitionRequest,
    PermitType.CUA: InformationCertificateRequest,
    PermitType.CUB: OperationalCertificateRequest,
}
_FOLLOW_UPS: dict[FileKind, type[_FollowUp]] = {
    FileKind.MODIFICATIF: ModificatifRequest,
    FileKind.TRANSFERT: TransfertRequest,
}


def follow_up_schema(kind: FileKind) -> type[BaseModel]:
    """Payload of a modificatif or a transfert (``parent_number`` required)."""
    try:
        return _FOLLOW_UPS[FileKind(kind)]
    except (KeyError, ValueError):
        raise ValueError(f"pas de formulaire de suite pour « {kind} »") from None


def intake_schema(permit_type: PermitType, kind: FileKind = FileKind.INITIAL) -> type[BaseModel]:
    """Payload schema of an initial file of this type, or of a follow-up when ``kind`` says so
    (the follow-up definitions are declared with their parent's type, PermitType.PC)."""
    if FileKind(kind) is not FileKind.INITIAL:
        return follow_up_schema(kind)
    return _SCHEMAS[PermitType(permit_type)]


# ----- summary ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IntakeSummary:
    applicant_name: str
    address: str
    parcels: str
    exceptions: frozenset[Exception_]
    tree_felling: bool
    protected_area: bool
    maison_individuelle: bool
    parent_number: str | None
    pieces: tuple[str, ...]
    cerfa: str = ""
    applicants: tuple[str, ...] = ()
    """Every applicant's name (co-demandeurs), for search."""


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip(" ,") + "…"


def applicant_label(applicant: Mapping[str, Any]) -> str:
    """ "Jeanne Dupont" or "SCI Les Tilleuls" (the dénomination)."""
    if applicant.get("kind") == "personne_morale" or (
        _str(applicant.get("name")) and not _str(applicant.get("family_name"))
    ):
        return _str(applicant.get("name"))
    return " ".join(
        p for p in (_str(applicant.get("given_name")), _str(applicant.get("family_name"))) if p
    )


def address_label(address: Mapping[str, Any]) -> str:
    street = ", ".join(p for p in (_str(address.get("street")), _str(address.get("lieu_dit"))) if p)
    city = " ".join(p for p in (_str(address.get("postal_code")), _str(address.get("city"))) if p)
    return ", ".join(p for p in (street, city) if p)


def parcels_label(parcels: Any) -> str:
    """ "AB 12, AB 13" ("012 AB 12" with a préfixe)."""
    if not isinstance(parcels, list):
        return ""
    out: list[str] = []
    for parcel in parcels:
        p = _obj(parcel)
        section, numero = _str(p.get("section")), str(p.get("numero") or "").strip()
        if section and numero:
            prefix = _str(p.get("prefixe"))
            out.append(f"{prefix + ' ' if prefix else ''}{section} {numero}")
    return ", ".join(out)


def exceptions_of(flags: Mapping[str, Any], *, demolition: bool) -> frozenset[Exception_]:
    found = {exc for flag, exc in _EXCEPTION_FLAGS.items() if flags.get(flag) is True}
    if demolition and flags.get("site_inscrit") is True:
        found.add(Exception_.DEMOLITION_SITE_INSCRIT)
    return frozenset(found)


def summary(payload: Mapping[str, Any]) -> IntakeSummary:
    """What the projector stores, read from a validated payload in its JSON form (tolerant:
    an older or partial payload gives empty values, never an error)."""
    data = _obj(payload)
    applicants = [applicant_label(_obj(a)) for a in data.get("applicants") or () if _obj(a)]
    applicants = [a for a in applicants if a]
    land = _obj(data.get("land"))
    project = _obj(data.get("project"))
    flags = _obj(data.get("flags"))
    cerfa = _str(data.get("cerfa"))
    natures = project.get("nature_of_works")
    demolition = (
        cerfa == "13405"
        or project.get("demolition") is True
        or (isinstance(natures, list) and "demolition" in natures)
    )
    parent = _str(data.get("parent_number")) or None
    raw_pieces = data.get("pieces")
    return IntakeSummary(
        applicant_name=_clip(
            applicants[0] if applicants else _str(data.get("applicant_name")), 300
        ),
        address=_clip(address_label(_obj(land.get("address"))) or _str(data.get("address")), 400),
        parcels=_clip(parcels_label(land.get("parcels")), 400),
        exceptions=exceptions_of(flags, demolition=demolition),
        tree_felling=project.get("tree_felling") is True,
        protected_area=any(flags.get(f) is True for f in PROTECTED_FLAGS),
        maison_individuelle=(
            cerfa in ("13406", "13703")
            or project.get("maison_individuelle") is True
            or data.get("maison_individuelle") is True
        ),
        parent_number=parent,
        pieces=tuple(
            dict.fromkeys(pieces.normalise_code(c) for c in raw_pieces or () if isinstance(c, str))
        )
        if isinstance(raw_pieces, list)
        else (),
        cerfa=cerfa,
        applicants=tuple(applicants),
    )
