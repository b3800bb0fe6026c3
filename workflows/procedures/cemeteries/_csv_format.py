"""The registry CSV format: columns, vocabularies, and cell parsing with French error messages.

One file holds the whole registry; each line is one record, its kind in the ``type`` column:

=============  ==========================================================================
``type``       columns used (the others stay empty)
=============  ==========================================================================
cimetiere      cimetiere (code), nom, adresse
emplacement    cimetiere, zone, allee, numero, type_emplacement, type_sepulture, capacite,
               surface_m2, plan, statut (libre, attribuee, occupee, indisponible)
concession     cimetiere, zone, allee, numero (its place), concession (numéro d'ordre),
               categorie (individuelle, collective, familiale), duree (temporaire, 30, 50,
               perpetuelle), duree_annees (temporaire : 1 à 15), date_acte, date_debut,
               statut (attribuee, echue, renouvelee, convertie, en_procedure_abandon,
               reprise_deliberee, reprise), prix, reference_paiement, entretien_commune (oui/non),
               info_renouvellement (date), precedente (numéro de la concession renouvelée ou
               convertie), surface_m2
personne       concession, role (titulaire, ayant_droit, beneficiaire), civilite, nom, nom_usage,
               prenoms, lien, adresse, code_postal, ville, telephone, courriel
defunt         cimetiere, zone, allee, numero (where the remains are; the ossuary for those in it),
               concession (optional), civilite, nom, nom_usage, prenoms, date_naissance,
               lieu_naissance, date_deces, adresse (last domicile), contenant (cercueil, urne,
               reliquaire), opposition_cremation (oui/non), date_inhumation (for the ossuary: the
               date of deposit), statut (en_place, ossuaire)
=============  ==========================================================================

Encoding UTF-8 (a BOM is tolerated); separator ``;`` or ``,`` (read from the header line); dates
``AAAA-MM-JJ`` or ``JJ/MM/AAAA``; decimals with a point or a comma. Records may come in any order;
a record refers to others by their codes (cemetery code, zone, alley, number; concession number),
either in the same file or already in the registry. The export writes the same columns, so an
export imported into an empty commune gives the same export.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

COLUMNS: tuple[str, ...] = (
    "type",
    "cimetiere",
    "zone",
    "allee",
    "numero",
    "type_emplacement",
    "type_sepulture",
    "capacite",
    "surface_m2",
    "plan",
    "statut",
    "concession",
    "categorie",
    "duree",
    "duree_annees",
    "date_acte",
    "date_debut",
    "prix",
    "reference_paiement",
    "entretien_commune",
    "info_renouvellement",
    "precedente",
    "role",
    "civilite",
    "nom",
    "nom_usage",
    "prenoms",
    "lien",
    "adresse",
    "code_postal",
    "ville",
    "telephone",
    "courriel",
    "date_naissance",
    "lieu_naissance",
    "date_deces",
    "contenant",
    "opposition_cremation",
    "date_inhumation",
)

RECORD_TYPES = ("cimetiere", "emplacement", "concession", "personne", "defunt")

CATEGORIES = {"individuelle": "individual", "collective": "collective", "familiale": "family"}
DURATIONS = {"temporaire": "temporary", "30": "30", "50": "50", "perpetuelle": "perpetual"}
ROLES = {"titulaire": "holder", "ayant_droit": "ayant_droit", "beneficiaire": "beneficiary"}
CONTAINERS = {"cercueil": "coffin", "urne": "urn", "reliquaire": "box"}
DECEASED_STATUSES = {"en_place": "in_place", "ossuaire": "in_ossuary"}
PLACE_TYPES = {
    v: v
    for v in (
        "pleine_terre",
        "caveau",
        "cavurne",
        "columbarium",
        "enfeu",
        "terrain_commun",
        "ossuaire",
    )
}
PLACE_STATUSES = {v: v for v in ("libre", "attribuee", "occupee", "indisponible")}
CONCESSION_STATUSES = {
    v: v
    for v in (
        "attribuee",
        "echue",
        "renouvelee",
        "convertie",
        "en_procedure_abandon",
        "reprise_deliberee",
        "reprise",
    )
}
_TRUE = {"oui", "o", "vrai", "true", "1", "x"}
_FALSE = {"non", "n", "faux", "false", "0", ""}


def reverse(mapping: dict[str, str]) -> dict[str, str]:
    return {v: k for k, v in mapping.items()}


@dataclass
class LineError:
    line: int
    column: str
    message: str

    def as_dict(self) -> dict[str, object]:
        return {"line": self.line, "column": self.column, "message": self.message}


@dataclass
class Row:
    """One CSV line with its number, and typed accessors that record French errors."""

    line: int
    cells: dict[str, str]
    errors: list[LineError] = field(default_factory=list)

    def _err(self, column: str, message: str) -> None:
        self.errors.append(LineError(self.line, column, message))

    def text(self, column: str, *, required: bool = False, max_len: int = 200) -> str | None:
        value = self.cells.get(column, "").strip()
        if value[:1] == "'" and value[1:2] in {"=", "+", "-", "@"}:
            value = value[1:]  # the export's guard against spreadsheet formulas
        if not value:
            if required:
                self._err(column, f"La colonne « {column} » est obligatoire pour ce type de ligne.")
            return None
        if len(value) > max_len:
            self._err(column, f"Valeur trop longue ({len(value)} caractères, {max_len} au plus).")
            return None
        if any(ord(c) < 32 and c not in "\t" for c in value):
            self._err(column, "Caractère de contrôle interdit dans la valeur.")
            return None
        return value

    def date(self, column: str, *, required: bool = False) -> date | None:
        raw = self.text(column, required=required, max_len=20)
        if raw is None:
            return None
        for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
            try:
                parsed = datetime.strptime(raw, fmt).date()
            except ValueError:
                continue
            if not 1800 <= parsed.year <= 2200:
                break
            return parsed
        self._err(column, f"Date invalide « {raw} » : écrivez AAAA-MM-JJ ou JJ/MM/AAAA.")
        return None

    def decimal(
        self, column: str, *, required: bool = False, maximum: Decimal = Decimal(10_000_000)
    ) -> Decimal | None:
        raw = self.text(column, required=required, max_len=20)
        if raw is None:
            return None
        try:
            value = Decimal(raw.replace(" ", "").replace("\u00a0", "").replace(",", "."))
        except InvalidOperation:
            self._err(column, f"Nombre invalide « {raw} » (exemple : 2,50).")
            return None
        if not value.is_finite() or value < 0 or value > maximum:
            self._err(column, f"Nombre hors limites « {raw} » (entre 0 et {maximum}).")
            return None
        if value != value.quantize(Decimal("0.01")):
            self._err(column, f"Deux décimales au plus : « {raw} ».")
            return None
        return value

    def integer(self, column: str, *, low: int, high: int) -> int | None:
        raw = self.text(column, max_len=6)
        if raw is None:
            return None
        if not raw.isdigit() or not low <= int(raw) <= high:
            self._err(column, f"Nombre entier attendu entre {low} et {high} : « {raw} ».")
            return None
        return int(raw)

    def choice(self, column: str, mapping: dict[str, str], *, required: bool = False) -> str | None:
        raw = self.text(column, required=required, max_len=40)
        if raw is None:
            return None
        key = raw.lower()
        if key not in mapping:
            allowed = ", ".join(mapping)
            self._err(column, f"Valeur inconnue « {raw} » : valeurs possibles {allowed}.")
            return None
        return mapping[key]

    def flag(self, column: str) -> bool:
        raw = self.cells.get(column, "").strip().lower()
        if raw in _TRUE:
            return True
        if raw not in _FALSE:
            self._err(column, f"Valeur « {raw} » : écrivez oui ou non.")
        return False


def fmt_date(d: date | None) -> str:
    return d.isoformat() if d else ""


def fmt_decimal(d: Decimal | None) -> str:
    if d is None:
        return ""
    return format(d.quantize(Decimal("0.01")), "f").replace(".", ",")


def fmt_flag(b: bool) -> str:
    return "oui" if b else "non"
