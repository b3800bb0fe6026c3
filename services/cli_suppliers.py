"""`guichet suppliers …`: supplier master data.

``guichet suppliers import FICHIER --tenant 69123`` checks every line first; with one bad line
it writes nothing, prints each error (line, column, message) and exits with status 1; otherwise
it writes all the lines in one transaction with a progress bar. Exit 2: unreadable file or
unknown commune. The columns are described in ``workflows/procedures/supplier_invoices/
suppliers.py`` (siret, nom, iban, contact_nom, contact_email, contact_telephone, actif).
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click
from sqlalchemy import column, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.clock import SystemClock
from services.kernel.db import make_engine, make_sessionmaker
from services.kernel.errors import GuichetError, ValidationFailed
from services.kernel.settings import effective_database_url

T = TypeVar("T")
_tenant = table("tenant", column("id"), column("insee_code"))


def _run(fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def main() -> T:
        engine = make_engine(effective_database_url())
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                return await fn(session)
        finally:
            await engine.dispose()

    return asyncio.run(main())


@click.group(help="Fournisseurs : données de référence (SIRET, IBAN, contacts).")
def suppliers() -> None:
    pass


@suppliers.command("import", help="Importer des fournisseurs depuis un fichier CSV.")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--tenant", required=True, help="Code INSEE de la collectivité.")
def import_command(file: Path, tenant: str) -> None:
    from workflows.procedures.supplier_invoices import suppliers as sup

    try:
        data = file.read_bytes()
    except OSError as exc:
        click.echo(f"Erreur : le fichier ne peut pas être lu ({exc.strerror}).", err=True)
        sys.exit(2)
    try:
        good, errors = sup.parse_csv(data)
    except GuichetError as exc:
        click.echo(f"Erreur : {exc.detail}", err=True)
        sys.exit(2)
    if errors:
        _print_errors(len(errors), errors)
        sys.exit(1)

    async def go(session: AsyncSession) -> dict[str, int]:
        found = await session.scalar(select(_tenant.c.id).where(_tenant.c.insee_code == tenant))
        if found is None:
            raise LookupError(tenant)
        tenant_id = found if isinstance(found, uuid.UUID) else uuid.UUID(str(found))
        with click.progressbar(
            length=len(good), label="Import des fournisseurs", file=sys.stderr
        ) as bar:
            return await sup.import_csv(
                session, tenant_id, data, now=SystemClock().now(), progress=bar.update
            )

    try:
        counts = _run(go)
    except LookupError:
        click.echo(f"Erreur : collectivité « {tenant} » inconnue.", err=True)
        sys.exit(2)
    except ValidationFailed as exc:
        _print_errors(len(exc.errors), list(exc.errors))
        sys.exit(1)
    click.echo(
        f"{counts['lines']} ligne(s) importée(s) : {counts['created']} fournisseur(s) créé(s), "
        f"{counts['updated']} mis à jour."
    )


def _print_errors(count: int, errors: list[dict[str, object]]) -> None:
    click.echo(
        f"Import refusé : {count} erreur(s), aucun fournisseur n'a été enregistré.", err=True
    )
    for error in errors:
        click.echo(f"  {error['field']} : {error['message']}", err=True)
