"""`guichet invoices …`: e-invoice validation."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click

_VERDICTS = {
    "valid": "VALIDE",
    "invalid": "INVALIDE",
    "unprocessable": "NON TRAITABLE",
}


@click.group(help="Factures électroniques : validation.")
def invoices() -> None:
    pass


def _describe(report: Any) -> str:
    parts = []
    if report.syntax:
        parts.append(report.syntax)
    if report.profile:
        parts.append(f"profil {report.profile}")
    if report.rules:
        parts.append("règles : " + ", ".join(report.rules))
    return f" ({' ; '.join(parts)})" if parts else ""


@invoices.command(
    "validate",
    help=(
        "Valide des factures UBL 2.1, CII D16B ou Factur-X (PDF) selon EN 16931, sans rien "
        "enregistrer. Code de sortie : 0 si toutes sont valides, 1 si l'une est invalide ou non "
        "traitable, 2 si l'un des fichiers ne peut pas être lu."
    ),
)
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Résultat en JSON (une entrée par fichier).")
@click.option(
    "--tenant",
    default=None,
    help="Code INSEE de la collectivité : exécute aussi les contrôles métier (s'ils existent).",
)
@click.option(
    "--br-fr/--no-br-fr",
    default=None,
    help="Appliquer les règles françaises BR-FR (par défaut : GUICHET_EINVOICE_BR_FR_ENABLED).",
)
def validate_cmd(
    files: tuple[Path, ...], as_json: bool, tenant: str | None, br_fr: bool | None
) -> None:
    from channels.einvoice.validation import Options, run_business_stage, validate

    options = Options(br_fr=br_fr)
    results: list[dict[str, Any]] = []
    exit_code = 0
    for file in files:
        try:
            data = file.read_bytes()
        except OSError as exc:
            exit_code = 2
            reason = exc.strerror or type(exc).__name__
            results.append({"file": str(file), "verdict": "unreadable", "error": reason})
            if not as_json:
                click.echo(f"{file} : ILLISIBLE — le fichier ne peut pas être lu ({reason}).")
            continue
        report, document = validate(data, options)
        if tenant is not None:
            asyncio.run(run_business_stage(report, document, tenant))
        if not report.valid and exit_code == 0:
            exit_code = 1
        results.append({"file": str(file), **report.to_dict()})
        if as_json:
            continue
        click.echo(f"{file} : {_VERDICTS[report.verdict]}{_describe(report)}")
        for stage in report.stages:
            if not stage.ran and stage.note and stage.stage.value in ("business",):
                click.echo(f"  [{stage.stage}] {stage.note}")
            for f in stage.findings:
                click.echo(
                    f"  [{f.stage}] {f.rule_id} {f.flag} @ {f.location or '-'} : {f.message}"
                )
    if as_json:
        click.echo(json.dumps(results, ensure_ascii=False, indent=2))
    sys.stdout.flush()
    raise SystemExit(exit_code)


@invoices.command(
    "pull-chorus",
    help=(
        "Relever maintenant les factures reçues sur Chorus Pro (toutes les collectivités, ou "
        "--tenant INSEE). Le worker le fait seul toutes les 15 minutes ; variables "
        "GUICHET_CHORUS_* requises (voir le README)."
    ),
)
@click.option("--tenant", "tenant", default=None, help="Code INSEE de la collectivité")
def pull_chorus(tenant: str | None) -> None:
    from channels.einvoice.chorus.settings import ChorusSettings
    from channels.einvoice.chorus.sync import http_port, pull
    from services.kernel.clock import SystemClock
    from services.kernel.db import make_engine, make_sessionmaker
    from services.kernel.settings import effective_database_url
    from workflows.procedures import build_engine

    if not ChorusSettings().configured:
        raise click.ClickException(
            "Chorus Pro n'est pas configuré : renseignez GUICHET_CHORUS_CLIENT_ID, "
            "GUICHET_CHORUS_CLIENT_SECRET et le compte technique (voir le README)."
        )

    async def main() -> None:
        db = make_engine(effective_database_url())
        try:
            async with http_port() as port:
                result = await pull(
                    make_sessionmaker(db), build_engine(), SystemClock(), port, tenant=tenant
                )
        finally:
            await db.dispose()
        for item in result.sirets:
            line = f"SIRET {item.siret} : {len(item.created)} facture(s) reçue(s)"
            if item.skipped:
                line += f", {item.skipped} déjà connue(s)"
            if item.failed:
                line += f", {len(item.failed)} à reprendre au prochain relevé"
            if item.error:
                line += f" — erreur : {item.error}"
            click.echo(line)
        if result.errors:
            sys.exit(1)

    asyncio.run(main())
