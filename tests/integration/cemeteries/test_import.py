"""Registry CSV import (all or nothing, per-line report) and export (round trip)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import func, select

from services.kernel.errors import PayloadTooLarge
from tests.conftest import T0, Seed
from tests.support.cemeteries import SM, small_registry
from workflows.procedures.cemeteries import csv_io, registry
from workflows.procedures.cemeteries._registry_settings import registry_settings
from workflows.procedures.cemeteries.models import (
    Cemetery,
    CemeteryPlace,
    Concession,
    ConcessionParty,
    ConcessionStatus,
    Deceased,
    OssuaryEntry,
    PlaceStatus,
)

pytestmark = pytest.mark.integration

HEADER = (
    "type;cimetiere;zone;allee;numero;type_emplacement;capacite;surface_m2;statut;concession;"
    "categorie;duree;duree_annees;date_acte;prix;precedente;role;nom;prenoms;lien;courriel;"
    "date_deces;contenant;opposition_cremation;date_inhumation"
)
COLS = HEADER.split(";")


def line(kind: str, **cells: str) -> str:
    unknown = set(cells) - set(COLS)
    assert not unknown, unknown
    return ";".join([kind, *(cells.get(c, "") for c in COLS[1:])])


PLACE_14 = {"cimetiere": "EST", "zone": "B", "allee": "2", "numero": "14"}
OSSUARY = {"cimetiere": "EST", "zone": "OSS", "allee": "0", "numero": "1"}
GOOD = [
    line("cimetiere", cimetiere="EST", nom="Cimetière de l'Est"),
    line("emplacement", **PLACE_14, type_emplacement="caveau", capacite="2", surface_m2="2,50"),
    line(
        "emplacement",
        cimetiere="EST",
        zone="B",
        allee="2",
        numero="15",
        type_emplacement="pleine_terre",
        capacite="1",
        surface_m2="2",
    ),
    line("emplacement", **OSSUARY, type_emplacement="ossuaire"),
    line(
        "concession",
        **PLACE_14,
        statut="renouvelee",
        concession="1990-00007",
        categorie="familiale",
        duree="30",
        date_acte="12/05/1964",
        prix="120,00",
    ),
    line(
        "concession",
        **PLACE_14,
        statut="echue",
        concession="1994-00031",
        categorie="familiale",
        duree="30",
        date_acte="1994-05-12",
        prix="850",
        precedente="1990-00007",
    ),
    line(
        "personne",
        concession="1994-00031",
        role="titulaire",
        nom="Martin",
        prenoms="Jeanne",
        courriel="jeanne@example.org",
    ),
    line(
        "personne",
        concession="1994-00031",
        role="ayant_droit",
        nom="Martin",
        prenoms="Luc",
        lien="fils",
    ),
    line(
        "defunt",
        **PLACE_14,
        concession="1994-00031",
        nom="Martin",
        prenoms="Émile",
        date_deces="1970-03-01",
        contenant="cercueil",
        opposition_cremation="non",
        date_inhumation="1970-03-05",
    ),
    line(
        "defunt",
        **OSSUARY,
        statut="ossuaire",
        nom="Blanc",
        prenoms="Odile",
        date_deces="1950-01-02",
        contenant="cercueil",
        opposition_cremation="oui",
        date_inhumation="2020-06-01",
    ),
]


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    registry_settings.cache_clear()
    yield
    registry_settings.cache_clear()


def csv_bytes(lines: list[str], *, bom: bool = True, sep: str = ";") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=sep, lineterminator="\n")
    for text in [HEADER, *lines]:
        writer.writerow(text.split(";"))
    return (("\ufeff" if bom else "") + out.getvalue()).encode()


async def _counts(sm: SM, tenant: object) -> dict[str, int]:
    async with sm() as s:
        out = {}
        for model in (Cemetery, CemeteryPlace, Concession, ConcessionParty, Deceased, OssuaryEntry):
            out[model.__tablename__] = await s.scalar(
                select(func.count()).select_from(model).where(model.tenant_id == tenant)
            )
        return out


async def test_a_whole_registry_is_imported_with_its_links(sessionmaker: SM, seed: Seed) -> None:
    async with sessionmaker() as s, s.begin():
        report = await csv_io.import_registry(s, seed.commune_id, csv_bytes(GOOD), now=T0)
    assert report.errors == [] and report.written
    assert report.counts == {
        "cimetiere": 1,
        "emplacement": 3,
        "concession": 2,
        "personne": 2,
        "defunt": 2,
    }
    async with sessionmaker() as s:
        current = await registry.find_concession(s, seed.commune_id, "1994-00031")
        old = await registry.find_concession(s, seed.commune_id, "1990-00007")
        assert current is not None and old is not None
        assert current.previous_id == old.id and current.status == ConcessionStatus.ECHUE
        assert (current.ends_on, old.ends_on) == (date(2024, 5, 12), date(1994, 5, 12))
        assert current.active_place_id == current.place_id and old.active_place_id is None
        place = await registry.get_place(s, seed.commune_id, current.place_id)
        assert place.status == PlaceStatus.ATTRIBUEE and place.area_m2 == 2.5
        assert await registry.occupancy(s, place.id) == 1
        holders = await registry.parties_of(s, current.id)
        assert {(p.role, p.given_names) for p in holders} == {
            ("holder", "Jeanne"),
            ("ayant_droit", "Luc"),
        }
        [line] = await registry.ossuary_register(s, seed.commune_id)
        assert (line.family_name, line.kept_apart, line.deposited_on) == (
            "Blanc",
            True,
            date(2020, 6, 1),
        )


async def test_broken_lines_are_reported_one_by_one_and_nothing_is_written(
    sessionmaker: SM, seed: Seed
) -> None:
    broken = [
        *GOOD,
        line("emplacement", **PLACE_14, type_emplacement="caveau"),  # 12: same place twice
        line(
            "concession",
            cimetiere="EST",
            zone="B",
            allee="2",
            numero="15",
            concession="2001-1",
            categorie="familiale",
            duree="temporaire",
            duree_annees="20",
            date_acte="2001-13-01",
            prix="abc",
        ),  # 13
        line(
            "personne",
            concession="9999-1",
            role="titulaire",
            prenoms="Jean",
            courriel="pas-une-adresse",
        ),  # 14
        line(
            "defunt",
            cimetiere="EST",
            zone="Z",
            allee="9",
            numero="99",
            nom="Roux",
            prenoms="Anne",
            contenant="cercueil",
            opposition_cremation="peut-être",
        ),  # 15
        line("cercueil", cimetiere="EST"),  # 16: unknown type
    ]
    async with sessionmaker() as s, s.begin():
        report = await csv_io.import_registry(s, seed.commune_id, csv_bytes(broken), now=T0)
    assert not report.written
    got = {(e.line, e.column) for e in report.errors}
    assert got == {
        (12, "numero"),
        (13, "duree_annees"),
        (13, "date_acte"),
        (13, "prix"),
        (14, "concession"),
        (14, "nom"),
        (14, "courriel"),
        (15, "numero"),
        (15, "opposition_cremation"),
        (16, "type"),
    }
    by = {(e.line, e.column): e.message for e in report.errors}
    assert "15 ans" in by[(13, "duree_annees")] and "JJ/MM/AAAA" in by[(13, "date_acte")]
    assert "deux fois" in by[(12, "numero")] and "inconnue" in by[(14, "concession")]
    assert await _counts(sessionmaker, seed.commune_id) == dict.fromkeys(
        (
            "cemetery",
            "cemetery_place",
            "concession",
            "concession_party",
            "deceased",
            "ossuary_entry",
        ),
        0,
    )


async def test_dry_run_validates_without_writing(sessionmaker: SM, seed: Seed) -> None:
    async with sessionmaker() as s, s.begin():
        report = await csv_io.import_registry(
            s, seed.commune_id, csv_bytes(GOOD, bom=False, sep=","), now=T0, dry_run=True
        )
    assert report.valid and not report.written and report.counts["emplacement"] == 3
    assert (await _counts(sessionmaker, seed.commune_id))["cemetery_place"] == 0


async def test_clashes_with_the_existing_registry_are_reported(
    sessionmaker: SM, seed: Seed
) -> None:
    await small_registry(sessionmaker, seed.commune_id, now=T0, code="EST")
    A1 = {"cimetiere": "EST", "zone": "A", "allee": "1"}
    lines = [
        # exists already (small_registry):
        line("emplacement", **A1, numero="1", type_emplacement="caveau"),
        # an existing place: fine; then a second live concession on it; then terrain commun
        line(
            "concession",
            **A1,
            numero="2",
            concession="2026-1",
            categorie="familiale",
            duree="50",
            date_acte="2026-01-05",
        ),
        line(
            "concession",
            **A1,
            numero="2",
            concession="2026-2",
            categorie="familiale",
            duree="50",
            date_acte="2026-01-06",
        ),
        line(
            "concession",
            cimetiere="EST",
            zone="TC",
            allee="1",
            numero="T1",
            concession="2026-3",
            categorie="familiale",
            duree="50",
            date_acte="2026-01-06",
        ),
    ]
    async with sessionmaker() as s, s.begin():
        report = await csv_io.import_registry(s, seed.commune_id, csv_bytes(lines), now=T0)
    assert [(e.line, e.column) for e in report.errors] == [
        (2, "numero"),
        (4, "statut"),
        (5, "numero"),
    ]
    assert "existe déjà dans le registre" in report.errors[0].message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("type;nom\ncimetiere;Café\n".encode("latin-1"), "UTF-8"),
        (b"type;nom\x00\n", "octet nul"),
        (b"", "vide"),
        (b"type;couleur\n", "Colonne inconnue"),
        (b"cimetiere;nom\nX;Y\n", "type"),
        (b'type;cimetiere;nom\ncimetiere;"X;Y\n', "illisible"),
        ("type;cimetiere;nom\ncimetiere;X;\U0001f600\ncimetiere;Y\n".encode(), "valeurs pour"),
    ],
)
async def test_hostile_files_get_a_french_report_never_a_crash(
    sessionmaker: SM, seed: Seed, data: bytes, message: str
) -> None:
    async with sessionmaker() as s, s.begin():
        report = await csv_io.import_registry(s, seed.commune_id, data, now=T0)
    assert not report.written and report.errors
    assert any(message in e.message for e in report.errors), report.as_dict()


async def test_a_file_over_the_size_limit_is_refused(
    sessionmaker: SM, seed: Seed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GUICHET_CEMETERY_IMPORT_MAX_BYTES", "2000")
    registry_settings.cache_clear()
    async with sessionmaker() as s, s.begin():
        with pytest.raises(PayloadTooLarge):
            await csv_io.import_registry(s, seed.commune_id, csv_bytes(GOOD * 10), now=T0)


async def test_export_then_import_elsewhere_gives_the_same_export(
    sessionmaker: SM, seed: Seed
) -> None:
    """Round trip: commune A's export imported into commune B exports identically; a name that
    a spreadsheet would run as a formula is exported inert and comes back unchanged."""
    hostile = line(
        "personne", concession="1994-00031", role="titulaire", nom='=HYPERLINK("x")', prenoms="Zoé"
    )
    async with sessionmaker() as s, s.begin():
        first = await csv_io.import_registry(
            s, seed.commune_id, csv_bytes([*GOOD, hostile]), now=T0
        )
        assert first.written, first.as_dict()
        exported = await csv_io.export_registry(s, seed.commune_id)
    assert exported.startswith("\ufefftype;cimetiere;zone;")
    assert "'=HYPERLINK" in exported
    async with sessionmaker() as s, s.begin():
        second = await csv_io.import_registry(s, seed.other_commune_id, exported.encode(), now=T0)
        assert second.written, second.as_dict()
        again = await csv_io.export_registry(s, seed.other_commune_id)
    assert again == exported
    async with sessionmaker() as s:
        names = await s.scalars(
            select(ConcessionParty.family_name).where(
                ConcessionParty.tenant_id == seed.other_commune_id
            )
        )
        assert '=HYPERLINK("x")' in set(names)
