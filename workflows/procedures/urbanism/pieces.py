"""Catalogue of the CERFA pieces per authorisation type, and which ones this file requires.

Mandatory pieces are required for every file of the type; situational pieces only when their
situation appears in the intake payload (land in a lotissement, project with demolitions, ERP…).
``not_required`` lists what a pieces request may not ask for: codes unknown for the type and
situational pieces whose situation is absent. Such a request suspends nothing (R423-41;
CE Sect. 9 déc. 2022 n°454521, Saint-Herblain).

Sure (urbanism.md §2): PCMI1–PCMI8 and their R431-7 to R431-10 references.

[to confirm] — keep them as data, have counsel check against the current CERFA bordereaux:
- PC1–PC8 mirroring PCMI1–PCMI8, and every situational PC/PCMI piece (PCMI9, PCMI10, PCMI12-1,
  PCMI13, PCMI16, PCMI-A1/A2 demolitions, PC39/PC40 ERP…);
- the PA list (R441-2 ff.), the PD list (R451-2), the DP list (R431-35, R431-36) and its DPC
  variant on CERFA 13703, DP11 notice; the CU list (R410-1): CU1 for both, CU2 for a CUb, CU3 only
  when buildings exist on the land;
- which DP pieces a project requires (the rule below: plan de situation always; plans and photos
  when a construction is created or its exterior changes; notice in protected areas).
A modificatif needs only the pieces the change concerns: none is mandatory for it, only unknown
codes are "not required". A transfert has no CERFA piece code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from workflows.procedures.urbanism.facts import PermitType


@dataclass(frozen=True, slots=True)
class Piece:
    code: str
    title: str
    """French, as on the CERFA's bordereau."""
    reference: str
    situation: str | None = None
    """None: mandatory. Otherwise the situation (see ``situations``) that makes it required."""
    to_confirm: bool = True


# ----- situations -------------------------------------------------------------------------------

LOTISSEMENT = "lotissement"
DEMOLITION = "demolition"
NON_COLLECTIVE_SANITATION = "assainissement_non_collectif"
RISK_PLAN = "ppr"
ENVIRONMENTAL_ASSESSMENT = "evaluation_environnementale"
ERP = "erp"
PROTECTED = "espace_protege"
CONSTRUCTION = "construction"
"""DP: a construction is created or its volume changes."""
EXTERIOR = "aspect_exterieur"
"""DP: the exterior of a construction changes."""
EXISTING_BUILDINGS = "constructions_existantes"
"""CUb: buildings exist on the land."""
SUBDIVISION = "division"
"""DP or PA for a lotissement / division."""

SITUATION_LABELS: dict[str, str] = {
    LOTISSEMENT: "terrain situé dans un lotissement",
    DEMOLITION: "projet comportant des démolitions",
    NON_COLLECTIVE_SANITATION: "assainissement non collectif",
    RISK_PLAN: "terrain couvert par un plan de prévention des risques",
    ENVIRONMENTAL_ASSESSMENT: "projet soumis à évaluation environnementale",
    ERP: "établissement recevant du public",
    PROTECTED: "site patrimonial remarquable, abords ou site protégé",
    CONSTRUCTION: "création ou agrandissement d'une construction",
    EXTERIOR: "modification de l'aspect extérieur",
    EXISTING_BUILDINGS: "constructions existantes sur le terrain",
    SUBDIVISION: "lotissement ou division foncière",
}


def _mirror(prefix: str) -> tuple[Piece, ...]:
    """The 8 common pieces of a building permit (R431-7 to R431-10)."""
    sure = prefix == "PCMI"
    return (
        Piece(f"{prefix}1", "Plan de situation du terrain", "R431-7 a", to_confirm=not sure),
        Piece(
            f"{prefix}2",
            "Plan de masse des constructions à édifier ou à modifier",
            "R431-9",
            to_confirm=not sure,
        ),
        Piece(
            f"{prefix}3",
            "Plan en coupe du terrain et de la construction",
            "R431-10 b",
            to_confirm=not sure,
        ),
        Piece(
            f"{prefix}4",
            "Notice décrivant le terrain et présentant le projet",
            "R431-8",
            to_confirm=not sure,
        ),
        Piece(f"{prefix}5", "Plan des façades et des toitures", "R431-10 a", to_confirm=not sure),
        Piece(
            f"{prefix}6",
            "Document graphique permettant d'apprécier l'insertion du projet",
            "R431-10 c",
            to_confirm=not sure,
        ),
        Piece(
            f"{prefix}7",
            "Photographie situant le terrain dans l'environnement proche",
            "R431-10 d",
            to_confirm=not sure,
        ),
        Piece(
            f"{prefix}8",
            "Photographie situant le terrain dans le paysage lointain",
            "R431-10 d",
            to_confirm=not sure,
        ),
    )


_BUILDING_SITUATIONAL = (
    ("9", "Certificat indiquant la surface constructible attribuée au lot", "R442-11", LOTISSEMENT),
    (
        "10",
        "Certificat attestant l'achèvement des équipements desservant le lot",
        "R431-22-1",
        LOTISSEMENT,
    ),
    (
        "12-1",
        "Attestation de conformité du projet d'installation d'assainissement non collectif",
        "R431-16 c",
        NON_COLLECTIVE_SANITATION,
    ),
    (
        "13",
        "Attestation de réalisation de l'étude préalable exigée par le plan de prévention des "
        "risques",
        "R431-16 f",
        RISK_PLAN,
    ),
    (
        "16",
        "Étude d'impact ou décision de dispense d'évaluation environnementale",
        "R431-16 a",
        ENVIRONMENTAL_ASSESSMENT,
    ),
    ("A1", "Plan de masse des constructions à démolir", "R451-2 b", DEMOLITION),
    ("A2", "Photographie des constructions à démolir", "R451-2 c", DEMOLITION),
)


def _building(prefix: str) -> tuple[Piece, ...]:
    situational = tuple(
        Piece(f"{prefix}{suffix}", title, ref, situation)
        for suffix, title, ref, situation in _BUILDING_SITUATIONAL
    )
    extra: tuple[Piece, ...] = ()
    if prefix == "PC":
        extra = (
            Piece(
                "PC39",
                "Dossier permettant de vérifier la conformité aux règles "
                "d'accessibilité des établissements recevant du public",
                "R431-30 a",
                ERP,
            ),
            Piece(
                "PC40",
                "Dossier permettant de vérifier la conformité aux règles de sécurité "
                "des établissements recevant du public",
                "R431-30 b",
                ERP,
            ),
        )
    return _mirror(prefix) + situational + extra


def _dp(prefix: str) -> tuple[Piece, ...]:
    return (
        Piece(f"{prefix}1", "Plan de situation du terrain", "R431-36 a"),
        Piece(
            f"{prefix}2", "Plan de masse coté dans les trois dimensions", "R431-36 b", CONSTRUCTION
        ),
        Piece(
            f"{prefix}3",
            "Plan en coupe du terrain et de la construction",
            "R431-36 b",
            CONSTRUCTION,
        ),
        Piece(f"{prefix}4", "Plan des façades et des toitures", "R431-36 c", EXTERIOR),
        Piece(
            f"{prefix}5",
            "Représentation de l'aspect extérieur de la construction",
            "R431-36 c",
            EXTERIOR,
        ),
        Piece(
            f"{prefix}6",
            "Document graphique permettant d'apprécier l'insertion du projet",
            "R431-36 c",
            CONSTRUCTION,
        ),
        Piece(
            f"{prefix}7",
            "Photographie situant le terrain dans l'environnement proche",
            "R431-36 c",
            CONSTRUCTION,
        ),
        Piece(
            f"{prefix}8",
            "Photographie situant le terrain dans le paysage lointain",
            "R431-36 c",
            CONSTRUCTION,
        ),
        Piece(
            f"{prefix}9",
            "Plan sommaire des lieux indiquant les bâtiments de toute nature",
            "R431-36 d",
            SUBDIVISION,
        ),
        Piece(f"{prefix}10", "Croquis et plan coté des lots à détacher", "R431-36 d", SUBDIVISION),
        Piece(
            f"{prefix}11",
            "Notice faisant apparaître les matériaux utilisés et les modalités "
            "d'exécution des travaux",
            "R431-14",
            PROTECTED,
        ),
    )


CATALOGUE: dict[PermitType, tuple[Piece, ...]] = {
    PermitType.PCMI: _building("PCMI"),
    PermitType.PC: _building("PC"),
    PermitType.PA: (
        Piece("PA1", "Plan de situation du terrain", "R441-2 a"),
        Piece("PA2", "Notice décrivant le terrain et le projet d'aménagement", "R441-3"),
        Piece("PA3", "Plan de l'état actuel du terrain et de ses abords", "R441-4 1°"),
        Piece(
            "PA4",
            "Plan de composition d'ensemble du projet coté dans les trois dimensions",
            "R441-4 2°",
        ),
        Piece("PA5", "Deux vues et coupes faisant apparaître la situation du projet", "R441-5"),
        Piece("PA6", "Photographie situant le terrain dans l'environnement proche", "R441-5"),
        Piece("PA7", "Photographie situant le terrain dans le paysage lointain", "R441-5"),
        Piece("PA8", "Programme et plans des travaux d'équipement", "R442-5 a", SUBDIVISION),
        Piece(
            "PA9",
            "Document graphique faisant apparaître une ou plusieurs hypothèses "
            "d'implantation des bâtiments",
            "R442-5 b",
            SUBDIVISION,
        ),
        Piece("PA10", "Projet de règlement du lotissement", "R442-6 a", SUBDIVISION),
        Piece(
            "PA16",
            "Étude d'impact ou décision de dispense d'évaluation environnementale",
            "R441-5",
            ENVIRONMENTAL_ASSESSMENT,
        ),
    ),
    PermitType.PD: (
        Piece("PD1", "Plan de situation du terrain", "R451-2 a"),
        Piece("PD2", "Plan de masse des constructions à démolir ou à conserver", "R451-2 b"),
        Piece("PD3", "Photographie des constructions à démolir", "R451-2 c"),
        Piece(
            "PD4",
            "Notice expliquant les modalités d'exécution des travaux (espace protégé)",
            "R451-3",
            PROTECTED,
        ),
    ),
    PermitType.DP: _dp("DP") + _dp("DPC"),
    PermitType.CUA: (Piece("CU1", "Plan de situation du terrain", "R410-1"),),
    PermitType.CUB: (
        Piece("CU1", "Plan de situation du terrain", "R410-1"),
        Piece("CU2", "Note descriptive succincte de l'opération projetée", "R410-1"),
        Piece(
            "CU3",
            "Plan du terrain indiquant l'emplacement des constructions existantes",
            "R410-1",
            EXISTING_BUILDINGS,
        ),
    ),
}

_BY_CODE: dict[str, Piece] = {p.code: p for pieces in CATALOGUE.values() for p in pieces}
_CODE = re.compile(r"^[A-Z]{2,4}(?:[0-9]{1,2}|A[0-9])(?:-[0-9]{1,2})?$")

FAMILIES: dict[PermitType, tuple[str, ...]] = {
    PermitType.PCMI: ("PCMI",),
    PermitType.PC: ("PC",),
    PermitType.PA: ("PA",),
    PermitType.PD: ("PD",),
    PermitType.DP: ("DP", "DPC"),
    PermitType.CUA: ("CU",),
    PermitType.CUB: ("CU",),
}
"""Code prefixes of each type's bordereau (DPC: CERFA 13703, maison individuelle)."""


_FOLLOW_UP_TYPES: dict[str, tuple[PermitType, ...]] = {
    "PC": (PermitType.PC, PermitType.PCMI),
    "PA": (PermitType.PA,),
    "PD": (PermitType.PD,),
    "DP": (PermitType.DP,),
}
"""A follow-up's pieces come from its parent's bordereau (a PC number may be a PCMI)."""


def normalise_code(code: str) -> str:
    return "".join(code.split()).upper()


def family_of(code: str) -> str | None:
    """The bordereau prefix of a well-formed code (``PCMI12-1`` → ``PCMI``), else None."""
    value = normalise_code(code)
    if not _CODE.match(value):
        return None
    for prefix in ("PCMI", "DPC", "PC", "PA", "PD", "DP", "CU"):
        if value.startswith(prefix) and (
            value[len(prefix) :][:1].isdigit() or value[len(prefix) :][:1] == "A"
        ):
            return prefix
    return None


def piece_title(code: str) -> str:
    """French title of a piece, or the code itself when unknown."""
    piece = _BY_CODE.get(normalise_code(code)) if isinstance(code, str) else None
    return piece.title if piece is not None else str(code)


def piece(code: str) -> Piece | None:
    return _BY_CODE.get(normalise_code(code))


def known_pieces(permit_type: PermitType) -> tuple[Piece, ...]:
    return CATALOGUE[PermitType(permit_type)]


# ----- what this file requires -------------------------------------------------------------------


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _flag(mapping: Mapping[str, Any], *keys: str) -> bool:
    return any(mapping.get(k) is True for k in keys)


def is_follow_up(payload: Mapping[str, Any]) -> bool:
    return isinstance(payload, Mapping) and bool(payload.get("parent_number"))


def situations(permit_type: PermitType, payload: Mapping[str, Any]) -> frozenset[str]:
    """The situations of ``SITUATION_LABELS`` present in an intake payload (JSON form)."""
    data = _obj(payload)
    land = _obj(data.get("land"))
    project = _obj(data.get("project"))
    operation = _obj(data.get("operation"))
    flags = _obj(data.get("flags"))
    natures = project.get("nature_of_works")
    natures = {n for n in natures if isinstance(n, str)} if isinstance(natures, list) else set()
    out: set[str] = set()
    if _flag(land, "in_lotissement"):
        out.add(LOTISSEMENT)
    if permit_type is PermitType.PD or _flag(project, "demolition") or "demolition" in natures:
        out.add(DEMOLITION)
    if _flag(project, "non_collective_sanitation"):
        out.add(NON_COLLECTIVE_SANITATION)
    if _flag(flags, "ppr"):
        out.add(RISK_PLAN)
    if _flag(flags, "evaluation_environnementale"):
        out.add(ENVIRONMENTAL_ASSESSMENT)
    if _flag(flags, "erp"):
        out.add(ERP)
    if _flag(
        flags,
        "site_patrimonial_remarquable",
        "abords_monument_historique",
        "site_classe",
        "site_inscrit",
        "immeuble_inscrit_mh",
        "adosse_monument_classe",
    ):
        out.add(PROTECTED)
    if natures & {"construction_nouvelle", "extension", "annexe", "piscine"}:
        out.add(CONSTRUCTION)
    if natures & {
        "construction_nouvelle",
        "extension",
        "travaux_existant",
        "changement_destination",
        "cloture",
    }:
        out.add(EXTERIOR)
    lots = project.get("lots")
    if natures & {"lotissement", "division"} or (isinstance(lots, int) and lots > 0):
        out.add(SUBDIVISION)
    if _flag(operation, "existing_buildings"):
        out.add(EXISTING_BUILDINGS)
    return frozenset(out)


def _dp_prefix(payload: Mapping[str, Any]) -> str:
    data = _obj(payload)
    project = _obj(data.get("project"))
    maison = data.get("cerfa") == "13703" or project.get("maison_individuelle") is True
    return "DPC" if maison else "DP"


def _applicable(permit_type: PermitType, payload: Mapping[str, Any]) -> tuple[Piece, ...]:
    pieces = known_pieces(permit_type)
    if permit_type is PermitType.DP:
        prefix = _dp_prefix(payload)
        pieces = tuple(p for p in pieces if family_of(p.code) == prefix)
    return pieces


def mandatory_pieces(permit_type: PermitType, payload: Mapping[str, Any]) -> tuple[str, ...]:
    """Codes this file must contain: mandatory pieces plus situational ones whose situation is
    present. A modificatif (``parent_number`` set) has none: only the pieces the change
    concerns."""
    permit_type = PermitType(permit_type)
    if is_follow_up(payload):
        return ()
    present = situations(permit_type, payload)
    return tuple(
        p.code
        for p in _applicable(permit_type, payload)
        if p.situation is None or p.situation in present
    )


def supplied_pieces(payload: Mapping[str, Any]) -> tuple[str, ...]:
    raw = _obj(payload).get("pieces")
    if not isinstance(raw, list):
        return ()
    return tuple(dict.fromkeys(normalise_code(c) for c in raw if isinstance(c, str)))


def missing_mandatory(permit_type: PermitType, payload: Mapping[str, Any]) -> tuple[str, ...]:
    """Required codes not among the payload's ``pieces`` (the counter checklist)."""
    supplied = set(supplied_pieces(payload))
    return tuple(c for c in mandatory_pieces(permit_type, payload) if c not in supplied)


def not_required(
    permit_type: PermitType, payload: Mapping[str, Any], requested: Sequence[str]
) -> tuple[str, ...]:
    """Requested codes the code does not require for this file (R423-41): codes unknown for the
    type, and situational pieces whose situation is absent. For a modificatif every known code
    of the type may be required (the change decides)."""
    permit_type = PermitType(permit_type)
    if is_follow_up(payload):
        nature = normalise_code(str(_obj(payload).get("parent_number")))[:2]
        types = _FOLLOW_UP_TYPES.get(nature, (permit_type,))
        allowed = {p.code for t in types for p in known_pieces(t)}
    else:
        allowed = set(mandatory_pieces(permit_type, payload))
    out: list[str] = []
    for code in requested:
        value = normalise_code(code) if isinstance(code, str) else str(code)
        if value not in allowed and value not in out:
            out.append(value)
    return tuple(out)
