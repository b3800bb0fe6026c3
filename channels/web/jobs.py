"""Draft housekeeping, run by the worker as crons: warn people before a draft expires, then drop
expired drafts (soft delete: ``deleted_at``; the row stays for the record)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.models import Draft
from identity.models import Person
from services.kernel.clock import Clock
from services.kernel.errors import Unavailable
from services.kernel.ports import Mailer

WARN_BATCH = 500


def _warning_text(name: str, title: str, expires: str, days: int) -> str:
    return (
        f"Bonjour {name},\n\n"
        f"Votre brouillon de demande « {title} » expire le {expires} (dans {days} jour(s) au "
        "plus). Passé cette date, il sera supprimé et vous devrez recommencer la saisie.\n\n"
        "Pour le conserver, connectez-vous et déposez votre demande avant cette date.\n\n"
        "Ce message est envoyé automatiquement : merci de ne pas y répondre.\n"
    )


async def warn_expiring_drafts(
    sessionmaker: async_sessionmaker[AsyncSession],
    mailer: Mailer,
    clock: Clock,
    days_before: int = 7,
) -> int:
    """One e-mail per open draft expiring within ``days_before`` days and not yet warned; the
    draft is marked ``warned_at`` once the mail is sent (a failed send is retried next run).
    Returns how many warnings were sent."""
    now = clock.now()
    horizon = now + timedelta(days=days_before)
    async with sessionmaker() as session, session.begin():
        rows = list(
            (
                await session.execute(
                    select(Draft.id, Draft.title, Draft.expires_at, Person)
                    .join(Person, Person.id == Draft.person_id)
                    .where(
                        Draft.deleted_at.is_(None),
                        Draft.submitted_case_id.is_(None),
                        Draft.warned_at.is_(None),
                        Draft.expires_at > now,
                        Draft.expires_at <= horizon,
                        Person.status == "active",
                    )
                    .order_by(Draft.expires_at)
                    .limit(WARN_BATCH)
                )
            ).all()
        )
    sent = 0
    for draft_id, title, expires_at, person in rows:
        address = person.contact_email or person.login_email
        if not address:
            continue
        days = max(1, (expires_at - now).days)
        try:
            await mailer.send(
                to=address,
                to_name=person.display_name.strip() or address,
                subject=f"Votre brouillon « {title[:80]} » expire bientôt",
                text=_warning_text(
                    person.display_name.strip() or "Madame, Monsieur",
                    title,
                    f"{expires_at:%d/%m/%Y}",
                    days,
                ),
            )
        except Unavailable:
            continue
        async with sessionmaker() as session, session.begin():
            await session.execute(
                update(Draft)
                .where(Draft.id == draft_id, Draft.warned_at.is_(None))
                .values(warned_at=now)
            )
        sent += 1
    return sent


async def purge_expired_drafts(sessionmaker: async_sessionmaker[AsyncSession], clock: Clock) -> int:
    """Soft-delete the open drafts past their expiry; returns how many."""
    now = clock.now()
    async with sessionmaker() as session, session.begin():
        result = await session.execute(
            update(Draft)
            .where(
                Draft.deleted_at.is_(None),
                Draft.submitted_case_id.is_(None),
                Draft.expires_at <= now,
            )
            .values(deleted_at=now)
        )
    return int(getattr(result, "rowcount", 0) or 0)
