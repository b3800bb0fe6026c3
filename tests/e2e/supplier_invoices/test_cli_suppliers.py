"""`guichet suppliers import FILE --tenant T` (click's CliRunner on the group directly; the
integrator wires the group into ``guichet``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from services.cli_suppliers import suppliers
from services.kernel.db import make_engine, make_sessionmaker
from tests.conftest import Seed
from tests.support import supplier_invoices as si
from workflows.procedures.supplier_invoices.models import Supplier

pytestmark = pytest.mark.e2e
HEADER = "siret;nom;iban;contact_nom;contact_email;contact_telephone;actif\n"


def names(database_url: str) -> list[tuple[str, str]]:
    async def go() -> list[tuple[str, str]]:
        engine = make_engine(database_url)
        try:
            async with make_sessionmaker(engine)() as s:
                rows = await s.scalars(select(Supplier).order_by(Supplier.siret))
                return [(r.siret, r.name) for r in rows]
        finally:
            await engine.dispose()

    return asyncio.run(go())


def run(database_url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(suppliers, list(args), env={"GUICHET_DATABASE_URL": database_url})
    return result.exit_code, result.output


def test_import_writes_every_line_with_a_progress_bar(
    seed: Seed, database_url: str, tmp_path: Path
) -> None:
    file = tmp_path / "fournisseurs.csv"
    file.write_text(
        HEADER
        + f"{si.SELLER_SIRET};LE FOURNISSEUR;{si.SELLER_IBAN};Compta;c@f.invalid;;oui\n"
        + f"{si.SIRET_B};Élagage 🌳;;;;;non\n",
        encoding="utf-8-sig",
    )
    code, out = run(database_url, "import", str(file), "--tenant", "69001")
    assert code == 0, out
    assert "Import des fournisseurs" in out
    assert "2 ligne(s) importée(s) : 2 fournisseur(s) créé(s), 0 mis à jour." in out
    assert names(database_url) == [
        (si.SELLER_SIRET, "LE FOURNISSEUR"),
        (si.SIRET_B, "Élagage 🌳"),
    ]
    code, out = run(database_url, "import", str(file), "--tenant", "69001")
    assert code == 0 and "0 fournisseur(s) créé(s), 2 mis à jour" in out


def test_one_bad_line_and_nothing_is_imported(
    seed: Seed, database_url: str, tmp_path: Path
) -> None:
    file = tmp_path / "fournisseurs.csv"
    file.write_text(
        HEADER + f"{si.SELLER_SIRET};Bon;;;;;\n{si.BAD_SIRET};Mauvais;;;;;\n", encoding="utf-8"
    )
    code, out = run(database_url, "import", str(file), "--tenant", "69001")
    assert code == 1
    assert "aucun fournisseur n'a été enregistré" in out
    assert "ligne 3.siret : SIRET invalide" in out
    assert names(database_url) == []


def test_unknown_tenant_and_unreadable_file(seed: Seed, database_url: str, tmp_path: Path) -> None:
    file = tmp_path / "f.csv"
    file.write_text(HEADER + f"{si.SELLER_SIRET};Bon;;;;;\n", encoding="utf-8")
    code, out = run(database_url, "import", str(file), "--tenant", "99999")
    assert code == 2 and "collectivité « 99999 » inconnue" in out
    code, out = run(database_url, "import", str(tmp_path / "absent.csv"), "--tenant", "69001")
    assert code == 2 and "ne peut pas être lu" in out
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"\x00\x01\x02")
    code, out = run(database_url, "import", str(binary), "--tenant", "69001")
    assert code == 2 and "octet nul" in out


def seed_finance(database_url: str, seed: Seed) -> None:
    async def go() -> None:
        engine = make_engine(database_url)
        try:
            async with make_sessionmaker(engine)() as s, s.begin():
                await si.seed_finance(
                    s, commune_id=seed.commune_id, other_commune_id=seed.other_commune_id
                )
        finally:
            await engine.dispose()

    asyncio.run(go())


def test_invoices_validate_with_tenant_runs_the_business_checks(
    seed: Seed, database_url: str, tmp_path: Path
) -> None:
    """``guichet invoices validate --tenant`` (E1's command) runs the registered business
    stage on the configured database and prints each GUICHET rule id."""
    from services.cli_invoices import invoices

    seed_finance(database_url, seed)
    good = tmp_path / "bonne.xml"
    good.write_bytes(si.invoice_xml())
    wrong = tmp_path / "autre-commune.xml"
    wrong.write_bytes(si.invoice_xml(buyer_siret=si.SIRET_B, order="PO-X"))
    env = {"GUICHET_DATABASE_URL": database_url}
    result = CliRunner().invoke(invoices, ["validate", "--tenant", "69001", str(good)], env=env)
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(
        invoices, ["validate", "--tenant", "69001", str(good), str(wrong)], env=env
    )
    assert result.exit_code == 1
    assert "[business] GUICHET-BUYER-OTHER-TENANT fatal @ BT-46" in result.output
    assert "[business] GUICHET-ORDER-UNKNOWN fatal @ BT-13" in result.output
    assert names(database_url) == [(si.SELLER_SIRET, "LE FOURNISSEUR")]  # nothing stored
