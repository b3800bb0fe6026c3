"""The reporter reopens a fixed report from the web ("ce n'est pas réparé"): signed in as the
person who made it, or with the tracking code and the contact given at the time (as
``POST /suivi``; wrong answers are counted on the code, which is blocked after
``TRACKING_MAX_ATTEMPTS``).

The check runs in its own short transaction, before the request's: a failed attempt is counted
even though the request fails (and SQLite allows one writer at a time)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.intake import hash_code, hash_contact
from channels.models import TrackingCode
from channels.street.service import channel_actor
from channels.web.service import TRACKING_MAX_ATTEMPTS
from services.kernel.actor import Actor, ActorKind
from services.kernel.errors import Forbidden, NotFound, TooManyRequests
from workflows.cases.models import Case
from workflows.procedures.street_reports.queries import get_report

WRONG = (
    "Code de suivi ou contact incorrect pour ce signalement : vérifiez le code reçu au dépôt et "
    "l'adresse électronique (ou le téléphone) donnés alors."
)


async def reporter_actor(
    sessionmaker: async_sessionmaker[AsyncSession],
    reference: str,
    person: Actor | None,
    *,
    code: str | None,
    contact: str | None,
) -> Actor:
    """The actor reopening: the signed-in reporter, or the holder of the tracking code (a system
    actor named after them; the engine lets the system reopen)."""
    async with sessionmaker() as session, session.begin():
        report = await get_report(session, reference)
        case = await session.get(Case, report.case_id)
        assert case is not None
        if person is not None and person.kind is ActorKind.PERSON:
            if case.submitter_id == person.id:
                return person
            if not code:
                raise Forbidden("Seule la personne qui a fait ce signalement peut le rouvrir.")
        if not code or not contact:
            raise Forbidden(
                "Pour rouvrir ce signalement, connectez-vous, ou donnez le code de suivi reçu au "
                "dépôt et l'adresse électronique (ou le téléphone) donnés alors."
            )
        normal = "".join(ch for ch in code if ch.isalnum())[:40]
        row = await session.scalar(
            select(TrackingCode).where(TrackingCode.code_hash == hash_code(normal))
        )
        if row is None or row.case_id != report.case_id:
            raise NotFound(WRONG)
        if row.attempts >= TRACKING_MAX_ATTEMPTS:
            raise TooManyRequests(
                "Trop de tentatives erronées pour ce code de suivi : il est bloqué. Adressez-vous "
                "à l'accueil de la mairie avec la référence du signalement.",
                retry_after=86_400,
            )
        given = hash_contact(contact)
        matched = given is not None and row.contact_hash == given
        if not matched:
            row.attempts += 1
        row_id = row.id
    if not matched:
        raise NotFound(WRONG)
    return channel_actor("Usager (code de suivi)", f"tracking:{row_id}")
