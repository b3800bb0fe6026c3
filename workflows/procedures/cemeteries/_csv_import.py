"""Import of an existing registry from CSV (format in ``_csv_format``): all or nothing.

The whole file is read and validated first — every cell, every reference between records, every
clash with what the registry already holds — and each problem is reported with its line number,
its column and a French message. Only a file without a single error is written, in the caller's
transaction (one transaction: a failure while writing rolls everything back).
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.errors import PayloadTooLarge
from workflows.procedures.cemeteries._csv_format import (
    CATEGORIES,
    COLUMNS,
    CONCESSION_STATUSES,
    CONTAINERS,
    DECEASED_STATUSES,
    DURATIONS,
    PLACE_STATUSES,
    PLACE_TYPES,
    RECORD_TYPES,
    ROLES,
    LineError,
    Row,
)
from workflows.procedures.cemeteries._registry_concessions import TEMPORARY_MAX_YEARS, term_of
from workflows.procedures.cemeteries._registry_settings import registry_settings
from workflows.procedures.cemeteries.models import (
    HOLDING_STATUSES,
    Cemetery,
    CemeteryAlley,
    CemeteryPlace,
    CemeteryZone,
    Concession,
)

PlaceKey = tuple[str, str, str, str]
Progress = Callable[[int], None]


@dataclass
class ImportReport:
    lines: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RECORD_TYPES, 0))
    errors: list[LineError] = field(default_factory=list)
    written: bool = False
    dry_run: bool = False

    @property
    def valid(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "written": self.written,
            "dry_run": self.dry_run,
            "lines": self.lines,
            "counts": dict(self.counts),
            "errors": [e.as_dict() for e in self.errors],
        }


def read_rows(data: bytes) -> tuple[list[Row], list[LineError]]:
    """Decodes (UTF-8, BOM tolerated), finds the separator, checks the header, splits the lines."""
    settings = registry_settings()
    if len(data) > settings.import_max_bytes:
        raise PayloadTooLarge(
            f"Fichier trop volumineux : {settings.import_max_bytes} octets au plus."
        )
    if b"\x00" in data:
        return [], [LineError(1, "", "Le fichier contient un octet nul : ce n'est pas un CSV.")]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return [], [LineError(line, "", "Encodage invalide : enregistrez le fichier en UTF-8.")]
    first = text.split("\n", 1)[0]
    if not first.strip():
        return [], [LineError(1, "", "Le fichier est vide ou sa première ligne aussi.")]
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    errors: list[LineError] = []
    try:
        header = [h.strip().lower() for h in next(reader)]
    except csv.Error as exc:
        return [], [LineError(1, "", f"En-tête illisible : {exc}.")]
    unknown = [h for h in header if h not in COLUMNS]
    for h in unknown:
        errors.append(LineError(1, h, f"Colonne inconnue « {h} »."))
    if "type" not in header:
        errors.append(LineError(1, "type", "La colonne « type » est obligatoire."))
    if len(set(header)) != len(header):
        errors.append(LineError(1, "", "Une colonne apparaît deux fois dans l'en-tête."))
    if errors:
        return [], errors
    rows: list[Row] = []
    line = 1
    try:
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                errors.append(
                    LineError(
                        line, "", f"{len(cells)} valeurs pour {len(header)} colonnes d'en-tête."
                    )
                )
                continue
            rows.append(Row(line, dict(zip(header, cells, strict=True))))
            if len(rows) > settings.import_max_rows:
                raise PayloadTooLarge(
                    f"Trop de lignes : {settings.import_max_rows} au plus par import."
                )
    except csv.Error as exc:
        errors.append(LineError(line + 1, "", f"Ligne illisible (guillemets ?) : {exc}."))
    return rows, errors


@dataclass
class _Plan:
    cemeteries: list[tuple[Row, dict[str, Any]]] = field(default_factory=list)
    places: list[tuple[Row, PlaceKey, dict[str, Any]]] = field(default_factory=list)
    concessions: list[tuple[Row, PlaceKey, dict[str, Any], str | None]] = field(
        default_factory=list
    )
    parties: list[tuple[Row, str, dict[str, Any]]] = field(default_factory=list)
    deceased: list[tuple[Row, PlaceKey, str | None, dict[str, Any]]] = field(default_factory=list)


def _place_key(r: Row) -> PlaceKey | None:
    parts = [r.text(c, required=True, max_len=40) for c in ("cimetiere", "zone", "allee", "numero")]
    if any(p is None for p in parts):
        return None
    return (parts[0] or "", parts[1] or "", parts[2] or "", parts[3] or "")


def _person(r: Row) -> dict[str, Any]:
    return {
        "civility": r.text("civilite", max_len=20),
        "family_name": r.text("nom", required=True, max_len=120),
        "usage_name": r.text("nom_usage", max_len=120),
        "given_names": r.text("prenoms", required=True, max_len=200),
    }


def _parse(rows: list[Row]) -> _Plan:
    plan = _Plan()
    values: dict[str, Any]
    for r in rows:
        kind = r.choice("type", {t: t for t in RECORD_TYPES}, required=True)
        if kind == "cimetiere":
            code = r.text("cimetiere", required=True, max_len=40)
            values = {
                "code": code,
                "name": r.text("nom", required=True, max_len=200),
                "address": r.text("adresse", max_len=300),
            }
            plan.cemeteries.append((r, values))
        elif kind == "emplacement":
            key = _place_key(r)
            values = {
                "place_type": r.choice("type_emplacement", PLACE_TYPES, required=True),
                "grave_type": r.text("type_sepulture", max_len=60),
                "capacity": r.decimal("capacite", maximum=Decimal(1000)),
                "area_m2": r.decimal("surface_m2", maximum=Decimal(10000)),
                "plan_ref": r.text("plan", max_len=60),
                "status": r.choice("statut", PLACE_STATUSES) or "libre",
            }
            if key is not None:
                plan.places.append((r, key, values))
        elif kind == "concession":
            key = _place_key(r)
            values = _concession_values(r)
            if key is not None:
                plan.concessions.append((r, key, values, r.text("precedente", max_len=40)))
        elif kind == "personne":
            number = r.text("concession", required=True, max_len=40)
            values = {
                "role": r.choice("role", ROLES, required=True),
                **_person(r),
                "relationship": r.text("lien", max_len=80),
                "address": r.text("adresse", max_len=300),
                "postal_code": r.text("code_postal", max_len=10),
                "city": r.text("ville", max_len=120),
                "phone": r.text("telephone", max_len=30),
                "email": r.text("courriel", max_len=254),
            }
            if values["email"] is not None and "@" not in values["email"]:
                r._err("courriel", "Adresse électronique invalide.")
            if number is not None:
                plan.parties.append((r, number, values))
        elif kind == "defunt":
            key = _place_key(r)
            values = {
                **_person(r),
                "birth_date": r.date("date_naissance"),
                "birth_place": r.text("lieu_naissance", max_len=120),
                "death_date": r.date("date_deces"),
                "last_domicile": r.text("adresse", max_len=300),
                "container": r.choice("contenant", CONTAINERS) or "coffin",
                "refused_cremation": r.flag("opposition_cremation"),
                "inhumed_on": r.date("date_inhumation"),
                "status": r.choice("statut", DECEASED_STATUSES) or "in_place",
            }
            if key is not None:
                plan.deceased.append((r, key, r.text("concession", max_len=40), values))
    return plan


def _concession_values(r: Row) -> dict[str, Any]:
    kind = r.choice("duree", DURATIONS, required=True)
    years = r.integer("duree_annees", low=1, high=100)
    if kind == "temporary" and (years is None or years > TEMPORARY_MAX_YEARS):
        r._err("duree_annees", "Une concession temporaire dure de 1 à 15 ans (L2223-14 CGCT).")
    elif kind in {"30", "50"}:
        if years is not None and years != int(kind):
            r._err("duree_annees", f"Une concession de {kind} ans dure {kind} ans.")
        years = int(kind)
    elif kind == "perpetual" and years is not None:
        r._err("duree_annees", "Une concession perpétuelle n'a pas de durée.")
    granted = r.date("date_acte", required=True)
    starts = r.date("date_debut") or granted
    sent = r.date("info_renouvellement")
    return {
        "number": r.text("concession", required=True, max_len=40),
        "category": r.choice("categorie", CATEGORIES, required=True),
        "duration_kind": kind,
        "duration_years": years,
        "granted_on": granted,
        "starts_on": starts,
        "ends_on": term_of(starts, years) if starts else None,
        "status": r.choice("statut", CONCESSION_STATUSES) or "attribuee",
        "price": r.decimal("prix"),
        "payment_ref": r.text("reference_paiement", max_len=80),
        "commune_upkeep": r.flag("entretien_commune"),
        "renewal_info_sent_on": sent,
        "area_m2": r.decimal("surface_m2", maximum=Decimal(10000)),
    }


async def _existing(
    session: AsyncSession, tenant_id: uuid.UUID
) -> tuple[set[str], dict[PlaceKey, tuple[str, bool]], dict[str, PlaceKey], set[PlaceKey]]:
    """Cemetery codes; place key → (type, held); concession number → place key; held places."""
    codes = set(
        (await session.scalars(select(Cemetery.code).where(Cemetery.tenant_id == tenant_id))).all()
    )
    rows = await session.execute(
        select(
            CemeteryPlace.id,
            Cemetery.code,
            CemeteryZone.code,
            CemeteryAlley.code,
            CemeteryPlace.number,
            CemeteryPlace.place_type,
        )
        .join(Cemetery, Cemetery.id == CemeteryPlace.cemetery_id)
        .join(CemeteryZone, CemeteryZone.id == CemeteryPlace.zone_id)
        .join(CemeteryAlley, CemeteryAlley.id == CemeteryPlace.alley_id)
        .where(CemeteryPlace.tenant_id == tenant_id)
    )
    by_id: dict[uuid.UUID, PlaceKey] = {}
    places: dict[PlaceKey, tuple[str, bool]] = {}
    for pid, c, z, a, n, t in rows.all():
        by_id[pid] = (c, z, a, n)
        places[(c, z, a, n)] = (t, False)
    numbers: dict[str, PlaceKey] = {}
    held: set[PlaceKey] = set()
    for number, place_id, active in (
        await session.execute(
            select(Concession.number, Concession.place_id, Concession.active_place_id).where(
                Concession.tenant_id == tenant_id
            )
        )
    ).all():
        numbers[number] = by_id[place_id]
        if active is not None:
            held.add(by_id[active])
    return codes, places, numbers, held


async def _check_references(session: AsyncSession, tenant_id: uuid.UUID, plan: _Plan) -> None:
    codes, places, numbers, held = await _existing(session, tenant_id)
    db_codes, db_places, db_numbers = set(codes), set(places), set(numbers)
    for r, v in plan.cemeteries:
        if v["code"] is None:
            continue
        if v["code"] in codes:
            where = "déjà enregistré" if v["code"] in db_codes else "déjà décrit plus haut"
            r._err("cimetiere", f"Le cimetière « {v['code']} » est {where}.")
        codes.add(v["code"])
    for r, key, v in plan.places:
        if key[0] not in codes:
            r._err("cimetiere", f"Cimetière « {key[0]} » inconnu : ajoutez une ligne cimetiere.")
        if key in places:
            where = "existe déjà dans le registre" if key in db_places else "est décrit deux fois"
            r._err("numero", f"L'emplacement {'/'.join(key)} {where}.")
        places[key] = (v["place_type"] or "", False)
    for r, key, v, _ in plan.concessions:
        if key not in places:
            r._err("numero", f"Emplacement {'/'.join(key)} inconnu : décrivez-le (emplacement).")
        elif places[key][0] in {"terrain_commun", "ossuaire"}:
            r._err("numero", "Un terrain commun ou un ossuaire ne fait pas l'objet de concession.")
        number = v["number"]
        if number is not None:
            if number in numbers:
                where = "existe déjà" if number in db_numbers else "apparaît deux fois"
                r._err("concession", f"La concession n° {number} {where}.")
            numbers[number] = key
        if v["status"] in HOLDING_STATUSES:
            if key in held:
                r._err("statut", f"L'emplacement {'/'.join(key)} a déjà une concession en cours.")
            held.add(key)
    for r, _, _, previous in plan.concessions:
        if previous is not None and previous not in numbers:
            r._err("precedente", f"Concession précédente n° {previous} inconnue.")
    for r, number, _ in plan.parties:
        if number not in numbers:
            r._err("concession", f"Concession n° {number} inconnue.")
    for r, key, number, v in plan.deceased:
        if key not in places:
            r._err("numero", f"Emplacement {'/'.join(key)} inconnu : décrivez-le (emplacement).")
        elif (places[key][0] == "ossuaire") != (v["status"] == "in_ossuary"):
            r._err("statut", "« ossuaire » pour un défunt déposé à l'ossuaire, et lui seul.")
        if number is not None and numbers.get(number) != key:
            r._err("concession", f"Concession n° {number} inconnue sur cet emplacement.")
