"""The ``guichet`` command: run, worker, migrate, demo, and administration."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy import func, select

from services.kernel.clock import SystemClock
from services.kernel.db import make_engine, make_sessionmaker
from services.kernel.settings import (
    api_settings,
    clear_settings_cache,
    effective_database_url,
    path_settings,
    redis_settings,
)

T = TypeVar("T")


def _set_data_dir(data_dir: Path | None) -> None:
    if data_dir is not None:
        os.environ["GUICHET_DATA_DIR"] = str(data_dir)
        clear_settings_cache()
    path_settings().data_dir.mkdir(parents=True, exist_ok=True)


def _with_session(fn: Callable[[Any], Awaitable[T]]) -> T:
    async def main() -> T:
        engine = make_engine(effective_database_url())
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                return await fn(session)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _fail(message: str) -> None:
    click.echo(f"Erreur : {message}", err=True)
    sys.exit(2)


@click.group(help="Guichet : le guichet unique multicanal (API, worker, administration).")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Répertoire des données embarquées (défaut : ./.guichet ou GUICHET_DATA_DIR).",
)
def main(data_dir: Path | None) -> None:
    _set_data_dir(data_dir)


@main.command(help="Appliquer les migrations de la base de données.")
@click.option("--revision", default="head", show_default=True)
def migrate(revision: str) -> None:
    from services.kernel.migrate import upgrade

    upgrade(effective_database_url(), revision)
    click.echo(f"Base à jour ({revision}) : {_safe_url(effective_database_url())}")


def _safe_url(url: str) -> str:
    if "@" in url:
        scheme, _, rest = url.partition("://")
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def _base_url(host: str, port: int) -> str:
    return api_settings().public_url or f"http://{host}:{port}"


@main.command(help="Charger la collectivité de démonstration et afficher des identifiants.")
@click.option("--host", default=None, help="Hôte affiché dans l'exemple curl.")
@click.option("--port", type=int, default=None, help="Port affiché dans l'exemple curl.")
def demo(host: str | None, port: int | None) -> None:
    from services.demo import demo_instructions, load_demo

    creds = _with_session(lambda s: load_demo(s, SystemClock()))
    settings = api_settings()
    click.echo(demo_instructions(creds, _base_url(host or settings.host, port or settings.port)))


async def _is_empty() -> bool:
    from identity.models import Tenant

    engine = make_engine(effective_database_url())
    try:
        async with make_sessionmaker(engine)() as session:
            return (await session.scalar(select(func.count()).select_from(Tenant))) == 0
    finally:
        await engine.dispose()


@main.command(
    help="Lancer l'API et le worker ensemble (Redis embarqué si GUICHET_REDIS_URL est vide)."
)
@click.option("--host", default=None, help="Adresse d'écoute (défaut 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port d'écoute (défaut 8000).")
def run(host: str | None, port: int | None) -> None:
    import uvicorn

    from services.api.app import AppConfig, create_app
    from services.demo import demo_instructions, load_demo
    from services.kernel.logging import configure_logging
    from services.kernel.migrate import upgrade
    from services.worker.embedded_redis import EmbeddedRedis
    from services.worker.settings import WorkerConfig, build_worker, stop_worker

    settings = api_settings()
    host = host or settings.host
    port = port or settings.port
    embedded: EmbeddedRedis | None = None
    redis_url = redis_settings().redis_url
    if not redis_url:
        embedded = EmbeddedRedis(path_settings().data_dir.resolve() / "redis")
        redis_url = embedded.start()
        os.environ["GUICHET_REDIS_URL"] = redis_url
        clear_settings_cache()
    try:
        database_url = effective_database_url()
        upgrade(database_url)
        base = _base_url(host, port)
        if asyncio.run(_is_empty()):
            creds = _with_session(lambda s: load_demo(s, SystemClock()))
            click.echo(demo_instructions(creds, base))
        configure_logging()
        click.echo(
            f"Guichet écoute sur {base}/api/v1  —  OpenAPI : {base}/schema/  "
            f"(JSON : {base}/schema/openapi.json)"
        )
        click.echo(
            f"Base : {_safe_url(database_url)}  —  Redis : {redis_url}"
            + ("  (embarqué)" if embedded else "")
        )

        async def serve() -> None:
            app = create_app(AppConfig(database_url=database_url, redis_url=redis_url))
            server = uvicorn.Server(
                uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False)
            )
            worker = build_worker(WorkerConfig(database_url=database_url, redis_url=redis_url))
            worker_task = asyncio.create_task(worker.async_run())
            try:
                await server.serve()  # returns on SIGINT / SIGTERM (uvicorn handles them)
            finally:
                await stop_worker(worker, worker_task)

        try:
            asyncio.run(serve())
        except KeyboardInterrupt:  # uvicorn re-raises the SIGINT it caught, once it has stopped
            click.echo("Guichet arrêté.")
    finally:
        if embedded is not None:
            embedded.stop()


@main.command(help="Lancer seulement le worker arq (GUICHET_REDIS_URL requis).")
def worker() -> None:
    from services.kernel.logging import configure_logging
    from services.worker.settings import build_worker

    if not redis_settings().redis_url:
        _fail("GUICHET_REDIS_URL est vide : le worker seul a besoin d'un Redis.")
    configure_logging()
    w = build_worker(handle_signals=True)
    w.run()


# ----- administration -------------------------------------------------------------------------


@main.group(help="Collectivités (communes, métropole).")
def tenant() -> None:
    pass


@tenant.command("create", help="Créer une collectivité.")
@click.option("--insee", required=True, help="Code INSEE (5 caractères).")
@click.option("--slug", required=True)
@click.option("--name", required=True)
@click.option(
    "--kind", type=click.Choice(["commune", "metropole"]), default="commune", show_default=True
)
@click.option("--parent", default=None, help="INSEE ou slug de la métropole.")
@click.option("--address", required=True)
@click.option("--postal-code", required=True)
@click.option("--city", required=True)
@click.option("--phone", required=True)
@click.option("--email", required=True)
@click.option("--alsace-moselle", is_flag=True, help="Jours fériés d'Alsace-Moselle.")
def tenant_create(
    insee: str,
    slug: str,
    name: str,
    kind: str,
    parent: str | None,
    address: str,
    postal_code: str,
    city: str,
    phone: str,
    email: str,
    alsace_moselle: bool,
) -> None:
    from identity.service import create_tenant, get_tenant
    from services.kernel.errors import GuichetError

    async def go(session: Any) -> str:
        parent_tenant = await get_tenant(session, parent) if parent else None
        t = await create_tenant(
            session,
            now=SystemClock().now(),
            insee_code=insee,
            slug=slug,
            name=name,
            kind=kind,
            parent=parent_tenant,
            address=address,
            postal_code=postal_code,
            city=city,
            phone=phone,
            email=email,
            alsace_moselle=alsace_moselle,
        )
        return str(t.id)

    try:
        click.echo(f"Collectivité créée : {_with_session(go)}")
    except GuichetError as exc:
        _fail(exc.detail)


@tenant.command("add-service", help="Ajouter un service (avec ses coordonnées) à une collectivité.")
@click.argument("tenant_ref")
@click.option("--code", required=True)
@click.option("--name", required=True)
@click.option("--address", required=True)
@click.option("--phone", required=True)
@click.option("--email", required=True)
def tenant_add_service(
    tenant_ref: str, code: str, name: str, address: str, phone: str, email: str
) -> None:
    from identity.service import add_tenant_service, get_tenant
    from services.kernel.errors import GuichetError

    async def go(session: Any) -> str:
        t = await get_tenant(session, tenant_ref)
        s = await add_tenant_service(
            session, t, code=code, name=name, address=address, phone=phone, email=email
        )
        return str(s.id)

    try:
        click.echo(f"Service créé : {_with_session(go)}")
    except GuichetError as exc:
        _fail(exc.detail)


@main.group(help="Agents et rôles.")
def agent() -> None:
    pass


@agent.command("create", help="Créer un agent avec des rôles (ROLE@COLLECTIVITE, répétable).")
@click.option("--email", required=True)
@click.option("--given-name", required=True)
@click.option("--family-name", required=True)
@click.option("--title", default="", help="Fonction, affichée sur les courriers.")
@click.option("--role", "roles", multiple=True, help="ex. instructor@99001")
@click.option("--token/--no-token", default=True, show_default=True, help="Émettre un jeton.")
def agent_create(
    email: str, given_name: str, family_name: str, title: str, roles: tuple[str, ...], token: bool
) -> None:
    from identity.service import create_agent, get_tenant, grant_role, issue_agent_token
    from services.kernel.errors import GuichetError

    async def go(session: Any) -> tuple[str, str | None]:
        now = SystemClock().now()
        a = await create_agent(
            session,
            now=now,
            email=email,
            given_name=given_name,
            family_name=family_name,
            title=title,
        )
        for spec in roles:
            role, sep, tref = spec.partition("@")
            if not sep:
                raise click.BadParameter(f"{spec!r} : écrivez ROLE@COLLECTIVITE")
            await grant_role(session, a, role, await get_tenant(session, tref), now=now)
        issued = None
        if token:
            issued = (
                await issue_agent_token(
                    session, a, now=now, ttl=timedelta(days=api_settings().agent_token_ttl_days)
                )
            ).access_token
        return str(a.id), issued

    try:
        agent_id, issued = _with_session(go)
    except GuichetError as exc:
        _fail(exc.detail)
        return
    click.echo(f"Agent créé : {agent_id}")
    if issued:
        click.echo(f"Jeton : {issued}")


@agent.command("token", help="Émettre un jeton d'accès pour un agent.")
@click.argument("email")
def agent_token(email: str) -> None:
    from identity.models import Agent
    from identity.service import issue_agent_token

    async def go(session: Any) -> str | None:
        a = await session.scalar(select(Agent).where(Agent.email == email.strip().lower()))
        if a is None:
            return None
        issued = await issue_agent_token(
            session,
            a,
            now=SystemClock().now(),
            ttl=timedelta(days=api_settings().agent_token_ttl_days),
        )
        return issued.access_token

    value = _with_session(go)
    if value is None:
        _fail(f"aucun agent {email}")
    click.echo(f"Jeton : {value}")


@agent.command(
    "break-glass",
    help=(
        "Créer (ou réinitialiser) un administrateur de secours avec un mot de passe local, pour "
        "quand ProConnect est indisponible. Le mot de passe est généré et affiché une seule fois ; "
        "relancer la commande en génère un nouveau et ferme les sessions ouvertes. Journalisé."
    ),
)
@click.option("--email", required=True, help="Adresse de l'administrateur (son identifiant).")
@click.option("--given-name", required=True)
@click.option("--family-name", required=True)
@click.option(
    "--tenant", "tenant_ref", required=True, help="Code INSEE ou slug de la collectivité."
)
def agent_break_glass(email: str, given_name: str, family_name: str, tenant_ref: str) -> None:
    import getpass

    from identity.local_accounts import BreakGlass, create_break_glass
    from services.kernel.errors import GuichetError

    try:
        operator: str | None = getpass.getuser()
    except (OSError, KeyError):  # no login name (container with an arbitrary uid)
        operator = None

    async def go(session: Any) -> BreakGlass:
        return await create_break_glass(
            session,
            now=SystemClock().now(),
            email=email,
            given_name=given_name,
            family_name=family_name,
            tenant_ref=tenant_ref,
            operator=operator,
        )

    try:
        made = _with_session(go)
    except GuichetError as exc:
        _fail(exc.detail)
        return
    verb = "créé" if made.created else "réinitialisé (anciennes sessions fermées)"
    click.echo(f"Administrateur de secours {verb} : {made.agent_id}")
    click.echo(f"Identifiant : {made.email}")
    click.echo(
        f"Mot de passe : {made.password}   (affiché une seule fois : rangez-le dans un coffre)"
    )
    click.echo(
        "Connexion : POST "
        f"{_base_url(api_settings().host, api_settings().port)}/api/v1/auth/local/agent-login "
        '{"email": ..., "password": ...}'
    )


@main.group(help="Clients API (OAuth 2 client credentials).")
def client() -> None:
    pass


@client.command("create", help="Créer un client API pour une collectivité.")
@click.option("--tenant", "tenant_ref", required=True)
@click.option("--name", required=True)
@click.option("--scope", "scopes", multiple=True, required=True, help="intake:write, cases:read")
def client_create(tenant_ref: str, name: str, scopes: tuple[str, ...]) -> None:
    from identity.service import create_api_client, get_tenant
    from services.kernel.errors import GuichetError

    async def go(session: Any) -> tuple[str, str]:
        t = await get_tenant(session, tenant_ref)
        c, secret = await create_api_client(
            session, now=SystemClock().now(), tenant=t, name=name, scopes=scopes
        )
        return c.client_id, secret

    try:
        cid, secret = _with_session(go)
    except GuichetError as exc:
        _fail(exc.detail)
        return
    click.echo(f"client_id : {cid}\nclient_secret : {secret}   (affiché une seule fois)")


# ----- outbox ------------------------------------------------------------------------------------


@main.group(help="Tâches différées (documents, courriels, webhooks) : voir et relancer.")
def outbox() -> None:
    pass


@outbox.command("list", help="Lister les tâches, les plus récentes d'abord.")
@click.option(
    "--status",
    type=click.Choice(["pending", "enqueued", "done", "failed"]),
    default=None,
    help="Seulement ce statut (ex. failed : les tâches abandonnées après le dernier essai).",
)
@click.option("--kind", default=None, help="Seulement ce type (ex. document.render).")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
def outbox_list(status: str | None, kind: str | None, limit: int) -> None:
    from services.worker.outbox import list_rows

    async def go(session: Any) -> list[tuple[str, ...]]:
        found = await list_rows(session, status=status, kind=kind, limit=limit)
        return [
            (
                str(r.id),
                r.status,
                r.kind,
                str(r.attempts),
                str(r.case_id or "-"),
                r.created_at.isoformat(timespec="seconds"),
                (r.last_error or "").replace("\n", " ")[:120],
            )
            for r in found
        ]

    lines = _with_session(go)
    if not lines:
        click.echo("Aucune tâche.")
        return
    click.echo("\t".join(("id", "statut", "type", "essais", "dossier", "créée le", "erreur")))
    for line in lines:
        click.echo("\t".join(line))


@outbox.command("retry", help="Remettre une tâche en échec (failed) dans la file (journalisé).")
@click.argument("outbox_id", type=click.UUID)
def outbox_retry(outbox_id: Any) -> None:
    import getpass

    from services.kernel.errors import GuichetError
    from services.worker.outbox import retry_failed

    try:
        operator: str | None = getpass.getuser()
    except (OSError, KeyError):  # no login name (container with an arbitrary uid)
        operator = None

    async def go(session: Any) -> tuple[str, str]:
        row = await retry_failed(session, outbox_id, SystemClock(), operator=operator)
        return row.kind, str(row.case_id or "-")

    try:
        kind, case_id = _with_session(go)
    except GuichetError as exc:
        _fail(exc.detail)
        return
    click.echo(
        f"Tâche {outbox_id} ({kind}, dossier {case_id}) remise en attente : le worker la "
        "reprendra à son prochain passage."
    )


# ----- mail channel ---------------------------------------------------------------------------


@main.group(help="Canal courriel : réception LMTP/SMTP, relève IMAP.")
def mail() -> None:
    pass


def _mail_parts() -> tuple[Any, Any, Any, Any]:
    """What the listeners need. Acknowledgements go through the outbox: a worker (``guichet
    run`` or ``guichet worker``) sends them."""
    from channels.mail.service import MailSettings
    from documents.storage import storage_from_settings
    from services.kernel.settings import engine_settings
    from workflows.procedures import build_engine

    return (
        build_engine(engine_settings().extensions()),
        storage_from_settings(),
        MailSettings.from_env(),
        SystemClock(),
    )


@mail.command("lmtp", help="Recevoir les courriels du serveur de messagerie (LMTP, ou SMTP).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Adresse d'écoute.")
@click.option("--port", type=int, default=2424, show_default=True, help="Port d'écoute.")
@click.option("--smtp", is_flag=True, help="Parler SMTP au lieu de LMTP.")
def mail_lmtp(host: str, port: int, smtp: bool) -> None:
    from channels.mail.lmtp import MailHandler, serve
    from services.kernel.logging import configure_logging

    configure_logging()
    engine, storage, settings, clock = _mail_parts()

    async def go() -> None:
        db = make_engine(effective_database_url())
        handler = MailHandler(
            sessionmaker=make_sessionmaker(db),
            engine=engine,
            clock=clock,
            storage=storage,
            settings=settings,
            source="smtp" if smtp else "lmtp",
        )
        server = await serve(handler, host=host, port=port, lmtp=not smtp)
        click.echo(f"Réception {'SMTP' if smtp else 'LMTP'} sur {host}:{port}")
        try:
            await server.serve_forever()
        finally:
            server.close()
            await db.dispose()

    try:
        asyncio.run(go())
    except KeyboardInterrupt:
        click.echo("Réception arrêtée.")


@mail.command("poll", help="Relever une boîte IMAP (GUICHET_IMAP_HOST, _USER, _PASSWORD...).")
@click.option("--once", is_flag=True, help="Une seule relève, puis s'arrêter.")
@click.option("--interval", type=float, default=60.0, show_default=True, help="Secondes.")
def mail_poll(once: bool, interval: float) -> None:
    from channels.mail.imap import ImapPoller, ImapSettings
    from services.kernel.logging import configure_logging

    try:
        imap = ImapSettings.from_env()
    except ValueError as exc:
        _fail(str(exc))
        return
    configure_logging()
    engine, storage, settings, clock = _mail_parts()

    async def go() -> None:
        db = make_engine(effective_database_url())
        poller = ImapPoller(
            settings=imap,
            sessionmaker=make_sessionmaker(db),
            engine=engine,
            clock=clock,
            storage=storage,
            mail_settings=settings,
        )
        try:
            if once:
                result = await poller.poll_once()
                click.echo(
                    f"{len(result.outcomes)} courriel(s) traité(s), {result.rejected} refusé(s), "
                    f"{result.failed} en échec (repris à la prochaine relève)."
                )
            else:
                await poller.run(interval=interval, stop=asyncio.Event())
        finally:
            await db.dispose()

    try:
        asyncio.run(go())
    except KeyboardInterrupt:
        click.echo("Relève arrêtée.")


def _add_area_commands() -> None:
    from services.cli_cemeteries import cemeteries
    from services.cli_invoices import invoices
    from services.cli_suppliers import suppliers

    main.add_command(cemeteries)
    main.add_command(invoices)
    main.add_command(suppliers)


_add_area_commands()


if __name__ == "__main__":  # pragma: no cover
    main()
