"""`guichet cemeteries …`: registry import and export.

``guichet cemeteries import FICHIER --tenant 69123 [--dry-run]`` validates the whole file, then
writes it in one transaction with a progress bar — or, at the first broken line, writes nothing
and prints every error (line, column, message) and exits with status 1.
``guichet cemeteries export --tenant 69123 [-o FICHIER]`` writes the registry in the same columns.
The columns are described in ``workflows/procedures/cemeteries/_csv_format.py``.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.clock import SystemClock
from services.kernel.db import make_engine, make_sessionmaker
from services.kernel.errors import GuichetError
from services.kernel.settings import effective_database_url

T = TypeVar("T")


def _run(fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def main() -> T:
        engine = make_engine(effective_database_url())
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                return await fn(session)
        finally:
            await engine.dispose()

    return asyncio.run(main())


@click.group(help="Cimetières : registre, import et export.")
def cemeteries() -> None:
    pass


@cemeteries.command("import", help="Importer un registre existant depuis un fichier CSV.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tenant", required=True, help="Code INSEE de la commune.")
@click.option("--dry-run", is_flag=True, help="Valider seulement, sans rien écrire.")
def import_command(file: Path, tenant: str, dry_run: bool) -> None:
    from workflows.procedures.cemeteries import csv_io
    from workflows.procedures.cemeteries.registry import tenant_by_insee

    data = file.read_bytes()
    try:
        total = len(csv_io.read_rows(data)[0])
    except GuichetError as exc:
        click.echo(f"Erreur : {exc.detail}", err=True)
        sys.exit(2)

    async def go(session: AsyncSession) -> csv_io.ImportReport:
        tenant_id = await tenant_by_insee(session, tenant)
        with click.progressbar(length=total, label="Import du registre", file=sys.stderr) as bar:
            return await csv_io.import_registry(
                session,
                tenant_id,
                data,
                now=SystemClock().now(),
                dry_run=dry_run,
                progress=bar.update,
            )

    try:
        report = _run(go)
    except GuichetError as exc:
        click.echo(f"Erreur : {exc.detail}", err=True)
        sys.exit(2)
    counts = ", ".join(f"{n} {kind}" for kind, n in report.counts.items())
    if report.errors:
        click.echo(
            f"{len(report.errors)} erreur(s) : rien n'a été importé ({report.lines} lignes lues).",
            err=True,
        )
        for e in report.errors:
            where = f"ligne {e.line}" + (f", colonne {e.column}" if e.column else "")
            click.echo(f"  {where} : {e.message}", err=True)
        sys.exit(1)
    if dry_run:
        click.echo(f"Fichier valide ({counts}) : rien n'a été écrit (essai).")
    else:
        click.echo(f"Registre importé : {counts}.")


@cemeteries.command("export", help="Exporter le registre d'une commune en CSV.")
@click.option("--tenant", required=True, help="Code INSEE de la commune.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Fichier de sortie (défaut : la sortie standard).",
)
def export_command(tenant: str, output: Path | None) -> None:
    from workflows.procedures.cemeteries import csv_io
    from workflows.procedures.cemeteries.registry import tenant_by_insee

    async def go(session: AsyncSession) -> str:
        return await csv_io.export_registry(session, await tenant_by_insee(session, tenant))

    try:
        text = _run(go)
    except GuichetError as exc:
        click.echo(f"Erreur : {exc.detail}", err=True)
        sys.exit(2)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"Registre exporté dans {output}.")
