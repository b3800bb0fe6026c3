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
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from channels.attachments.controllers import unsupported_file_handler
from channels.attachments.service import UnsupportedFile
from channels.street import service
from channels.street._auth import optional_person
from channels.street._mail import qualify_mail
from channels.street._reopen import reporter_actor
from channels.street.photos import ProcessedPhoto, prepare_photos
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
from services.kernel.errors import ValidationFailed
from services.kernel.policy import PUBLIC, agents, policy_opt
from services.kernel.validation import french_errors
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


MAX_FORM_BYTES = 32 * 1024 * 1024
"""The multipart form: three photos of GUICHET_PHOTO_MAX_BYTES (10 MiB each) and the report.
Each photo is then held to its own limit (``channels.street.photos``)."""
PHOTO_FIELDS = ("photo1", "photo2", "photo3")
IdempotencyKey = Annotated[
    str | None, HeaderParameter(name="Idempotency-Key", max_length=200, required=False)
]
"""The same report sent again with the same key is the same case (retries, double taps)."""


class StreetReportController(Controller):
    path = "/signalements"
    tags = ["Signalements"]
    exception_handlers = {UnsupportedFile: unsupported_file_handler}  # a photo that is not one

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
        idempotency_key: IdempotencyKey = None,
    ) -> Response[ReportCreated]:
        return await _create(request, session, engine, clock, tenants, data, idempotency_key, [])

    @post(
        "/avec-photos",
        opt=policy_opt(PUBLIC),
        request_max_body_size=MAX_FORM_BYTES,
        summary="Signaler un problème, avec jusqu'à 3 photos (multipart/form-data)",
        description=(
            "Champ « signalement » : le même JSON que POST /signalements ; fichiers photo1 à "
            "photo3 (JPEG, PNG, WebP ou HEIC). Les photos sont réencodées, sans métadonnées "
            "(EXIF, position GPS), avec une vignette."
        ),
    )
    async def create_with_photos(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[AsyncSession],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        tenants: NamedDependency[TenantCache],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[ReportCreated]:
        data, photos = await _report_form(request)
        # Decoded and re-encoded before any database work (CPU, off the event loop).
        prepared = await prepare_photos(photos)
        return await _create(
            request, session, engine, clock, tenants, data, idempotency_key, prepared
        )

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
        idempotency_key: IdempotencyKey = None,
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


def _form_error(field: str, message: str, detail: str) -> ValidationFailed:
    return ValidationFailed(detail, errors=[{"field": field, "message": message, "type": "form"}])


async def _report_form(request: Request[Any, Any, Any]) -> tuple[ReportCreate, list[bytes]]:
    """The report (JSON in the ``signalement`` field) and the photo files of a multipart form."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise _form_error(
            "content-type",
            "multipart/form-data attendu",
            "Envoyez un formulaire multipart/form-data : le signalement (JSON) dans le champ "
            "« signalement », les photos dans photo1 à photo3.",
        )
    form = await request.form()
    raw: Any = None
    photos: list[tuple[int, bytes]] = []
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            if name not in PHOTO_FIELDS:
                raise _form_error(
                    name,
                    "fichier inattendu",
                    f"Fichier inattendu dans le champ « {name} » : les photos vont dans photo1, "
                    "photo2 et photo3.",
                )
            photos.append((PHOTO_FIELDS.index(name), await value.read()))
        elif name == "signalement":
            raw = value
        else:
            raise _form_error(
                name,
                "champ inconnu",
                f"Champ « {name} » inconnu : le signalement va, en JSON, dans « signalement ».",
            )
    if not isinstance(raw, str) or not raw.strip():
        raise _form_error(
            "signalement",
            "champ requis",
            "Le champ « signalement » (le signalement en JSON) manque.",
        )
    try:
        data = ReportCreate.model_validate_json(raw)
    except ValidationError as exc:
        raise ValidationFailed(
            "Le signalement est incomplet ou invalide : corrigez les champs indiqués.",
            errors=french_errors(exc, prefix="signalement"),
        ) from None
    # photo1 first, whatever order the browser sent the parts in (sorted() is stable).
    return data, [content for _, content in sorted(photos, key=lambda p: p[0])]


async def _create(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    engine: Engine,
    clock: Clock,
    tenants: TenantCache,
    data: ReportCreate,
    idempotency_key: str | None,
    photos: list[ProcessedPhoto],
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
            photos=photos,
        )
    except service.UnknownCategory as exc:
        raise category_error(exc) from None
    return Response(created_body(done), status_code=201 if done.created else 200)
