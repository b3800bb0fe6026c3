"""Street reports from people (web form), counter and phone agents, and qualified mails.

``POST /signalements`` is public: anyone may report, signed in or not (module ``_auth``); the
answer gives the reference, the tracking code (without an account) and the open reports of the
same category nearby. ``GET /signalements/{reference}`` is the public view (no personal data).
Following a report needs only an e-mail address (decision: not confirmed by a link — the mails
carry only the public state of the report, never personal data; an unsubscribe link is future
work).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from channels.street import service
from channels.street._auth import optional_person
from channels.street._mail import qualify_mail
from channels.street._reopen import reporter_actor
from channels.street.public import PublicReport, SuggestionRead, public_report, suggestion_read
from channels.street.schemas import (
    CategoryRead,
    CounterReportCreate,
    FollowCreate,
    FollowRead,
    MailQualify,
    ReopenCreate,
    ReopenRead,
    ReportCreate,
    ReportCreated,
    category_error,
    created_body,
)
from documents.storage import DocumentStorage
from identity.service import TenantCache
from services.kernel.actor import Actor, Role
from services.kernel.clock import Clock
from services.kernel.policy import PUBLIC, agents, policy_opt
from workflows.engine.runner import Engine
from workflows.procedures.street_reports.categories import list_categories
from workflows.procedures.street_reports.location import tenants_at
from workflows.procedures.street_reports.projector import add_follower
from workflows.procedures.street_reports.queries import get_report, nearby_open
from workflows.procedures.street_reports.settings import street_settings
from workflows.procedures.street_reports.states import state_title

FRONT_DESK = policy_opt(
    agents(
        Role.COUNTER_AGENT,
        Role.PHONE_AGENT,
        Role.INSTRUCTOR,
        Role.SUPERVISOR,
        Role.ADMIN,
        description="agents entering a report for a caller (the tenant is checked at intake)",
    )
)
TRIAGE = policy_opt(
    agents(
        Role.COUNTER_AGENT,
        Role.PHONE_AGENT,
        Role.INSTRUCTOR,
        description="agents sorting the mail of their tenants",
    )
)


class StreetReportController(Controller):
    path = "/signalements"
    tags = ["Signalements"]

    @get("/categories", opt=policy_opt(PUBLIC), summary="Les catégories proposées à un endroit")
    async def categories(
        self,
        session: NamedDependency[AsyncSession],
        lat: Annotated[str, QueryParameter(max_length=40)],
        lon: Annotated[str, QueryParameter(max_length=40)],
    ) -> list[CategoryRead]:
        point = service.parse_point(lat, lon)
        out: list[CategoryRead] = []
        seen: set[str] = set()
        for tenant_id in await tenants_at(session, *point):
            for category in await list_categories(session, tenant_id):
                if category.code not in seen:
                    seen.add(category.code)
                    out.append(
                        CategoryRead(
                            code=category.code,
                            name=category.name,
                            description=category.description,
                            group=category.group,
                            tenant_id=tenant_id,
                            attributes=list(category.attributes),
                        )
                    )
        return out

    @get(
        "/suggestions",
        opt=policy_opt(PUBLIC),
        summary="Signalements ouverts de même catégorie à proximité (avant de signaler)",
    )
    async def suggestions(
        self,
        session: NamedDependency[AsyncSession],
        category: Annotated[str, QueryParameter(min_length=1, max_length=60)],
        lat: Annotated[str, QueryParameter(max_length=40)],
        lon: Annotated[str, QueryParameter(max_length=40)],
    ) -> list[SuggestionRead]:
        point = service.parse_point(lat, lon)
        try:
            tenant_id, _ = await service.locate(session, *point, category)
        except service.UnknownCategory as exc:
            raise category_error(exc) from None
        found = await nearby_open(
            session,
            tenant_ids=[tenant_id],
            category_code=category,
            lat=point[0],
            lon=point[1],
            radius_m=street_settings().duplicate_radius_m,
        )
        return [suggestion_read(s) for s in service.suggestions_of(found)]

    @post("/", opt=policy_opt(PUBLIC), summary="Signaler un problème sur l'espace public")
    async def create(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[AsyncSession],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        tenants: NamedDependency[TenantCache],
        data: JSONBody[ReportCreate],
        idempotency_key: Annotated[
            str | None, HeaderParameter(name="Idempotency-Key", max_length=200, required=False)
        ] = None,
    ) -> Response[ReportCreated]:
        person = await optional_person(request)
        if person is not None:
            submitter: dict[str, Any] = {
                k: v for k, v in (("email", data.email), ("phone", data.phone)) if v
            }
        else:
            submitter = {
                "given_name": data.given_name,
                "family_name": data.family_name,
                "email": data.email,
                "phone": data.phone,
            }
        storage: DocumentStorage = request.app.state.storage
        try:
            done = await service.submit_report(
                session,
                engine,
                clock,
                category_code=data.category,
                lat=data.lat,
                lon=data.lon,
                address=data.address,
                description=data.description,
                attributes=data.attributes,
                channel="web",
                actor=person or service.WEB_REPORTER,
                submitter=submitter,
                public_name=data.public_name,
                tenant_hint=None,
                idempotency=idempotency_key,
                storage=storage,
                tenants=tenants,
            )
        except service.UnknownCategory as exc:
            raise category_error(exc) from None
        return Response(created_body(done), status_code=201 if done.created else 200)

    @get("/{reference:str}", opt=policy_opt(PUBLIC), summary="Un signalement (vue publique)")
    async def show(
        self, session: NamedDependency[AsyncSession], reference: FromPath[str]
    ) -> PublicReport:
        return await public_report(session, await get_report(session, reference))

    @post(
        "/{reference:str}/abonnement",
        opt=policy_opt(PUBLIC),
        status_code=200,
        summary="Suivre un signalement par e-mail",
    )
    async def follow(
        self,
        session: NamedDependency[AsyncSession],
        clock: NamedDependency[Clock],
        reference: FromPath[str],
        data: JSONBody[FollowCreate],
    ) -> FollowRead:
        report = await get_report(session, reference)
        _, created = await add_follower(
            session, report.case_id, data.email, person_id=None, now=clock.now()
        )
        return FollowRead(reference=report.reference, following=True, created=created)

    @post(
        "/{reference:str}/rouvrir",
        opt=policy_opt(PUBLIC),
        status_code=200,
        summary="Rouvrir un signalement résolu (pas réparé), dans les 30 jours",
    )
    async def reopen(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[AsyncSession],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        reference: FromPath[str],
        data: JSONBody[ReopenCreate],
    ) -> ReopenRead:
        # Both checks use their own transactions: before this request's first statement.
        person = await optional_person(request)
        actor = await reporter_actor(
            request.app.state.sessionmaker,
            reference,
            person,
            code=data.code,
            contact=data.contact,
        )
        report = await get_report(session, reference)
        done = await service.reopen(
            session, engine, clock, report, actor, data.comment, channel="web"
        )
        return ReopenRead(reference=done.reference, state=done.state, label=state_title(done.state))

    @post(
        "/guichet", opt=FRONT_DESK, summary="Saisir le signalement d'un usager (accueil, téléphone)"
    )
    async def enter(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        tenants: NamedDependency[TenantCache],
        data: JSONBody[CounterReportCreate],
        idempotency_key: Annotated[
            str | None, HeaderParameter(name="Idempotency-Key", max_length=200, required=False)
        ] = None,
    ) -> Response[ReportCreated]:
        caller = data.caller.model_dump(exclude_none=True) if data.caller else {}
        if data.caller_phone and "phone" not in caller:
            caller["phone"] = data.caller_phone
        try:
            done = await service.submit_report(
                session,
                engine,
                clock,
                category_code=data.category,
                lat=data.lat,
                lon=data.lon,
                address=data.address,
                description=data.description,
                attributes=data.attributes,
                channel=data.channel,
                actor=actor,
                submitter=caller,
                public_name=data.public_name,
                tenant_hint=None,
                idempotency=idempotency_key,
                storage=request.app.state.storage,
                channel_data={
                    "agent_id": str(actor.id),
                    "agent_name": actor.display_name,
                    "caller_phone": data.caller_phone,
                },
                tenants=tenants,
            )
        except service.UnknownCategory as exc:
            raise category_error(exc) from None
        return Response(created_body(done), status_code=201 if done.created else 200)

    @post(
        "/courriels/{mail_id:uuid}/qualifier",
        opt=TRIAGE,
        summary="Qualifier en signalement un courriel en attente de tri (catégorie + point)",
    )
    async def qualify(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        tenants: NamedDependency[TenantCache],
        mail_id: FromPath[uuid.UUID],
        data: JSONBody[MailQualify],
    ) -> Response[ReportCreated]:
        try:
            done = await qualify_mail(
                session,
                engine,
                clock,
                actor,
                mail_id,
                category=data.category,
                lat=data.lat,
                lon=data.lon,
                address=data.address,
                description=data.description,
                attributes=data.attributes,
                tenants=tenants,
            )
        except service.UnknownCategory as exc:
            raise category_error(exc) from None
        return Response(created_body(done), status_code=201 if done.created else 200)
