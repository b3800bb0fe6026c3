"""A423 numbering on the real database (A423-1 to A423-4, urbanism.md §3 and §12 item 22):
a continuous 5-digit sequence per tenant, nature and year, gap-free under concurrent filings;
M01/M02… and T01… counted separately under a lock of the parent's row."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.kernel.errors import NotFound, ValidationFailed
from tests.conftest import Seed
from workflows.cases.models import Case
from workflows.procedures.urbanism.facts import FileKind, PermitType
from workflows.procedures.urbanism.models import UrbanismCounter, UrbanismFile
from workflows.procedures.urbanism.numbering import follow_up_number, next_number

pytestmark = pytest.mark.integration

SM = async_sessionmaker[AsyncSession]
AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class FilingFailed(Exception):
    pass


async def take(
    sm: SM,
    tenant_id: uuid.UUID,
    nature: str | PermitType = "PC",
    year: int = 2026,
    insee: str = "69001",
) -> str:
    """One filing in its own session and transaction (like one HTTP request)."""
    async with sm() as s, s.begin():
        return await next_number(s, tenant_id=tenant_id, insee=insee, nature=nature, year=year)


async def add_file(
    s: AsyncSession,
    tenant_id: uuid.UUID,
    number: str,
    *,
    kind: FileKind = FileKind.INITIAL,
    parent_id: uuid.UUID | None = None,
) -> UrbanismFile:
    case = Case(
        tenant_id=tenant_id,
        procedure_key="urbanism.pc",
        definition_version=1,
        reference=f"U-{uuid.uuid4().hex[:10].upper()}",
        state="granted",
        channel="counter",
        submitter={"kind": "person", "name": "Jeanne Dupont"},
        received_at=AT,
        registered_at=AT,
        payload={},
        calendar_options={},
        search_text="",
        version=1,
        updated_at=AT,
    )
    s.add(case)
    await s.flush()
    row = UrbanismFile(
        case_id=case.id,
        tenant_id=tenant_id,
        number=number,
        permit_type="PC",
        file_kind=kind.value,
        parent_id=parent_id,
        filed_on=date(2026, 3, 2),
        applicant_name="Jeanne Dupont",
        address="12 chemin du Moulin, 69001 A",
        parcels="AB 12",
        state="granted",
        facts={},
        timeline={},
        updated_at=AT,
    )
    s.add(row)
    await s.flush()
    return row


async def file_follow_up(sm: SM, tenant_id: uuid.UUID, parent: str, kind: FileKind) -> str:
    """A modificatif or transfert filed in its own transaction: number, then its row."""
    async with sm() as s, s.begin():
        number = await follow_up_number(s, parent, kind, tenant_id=tenant_id)
        parent_id = await s.scalar(select(UrbanismFile.id).where(UrbanismFile.number == parent))
        await add_file(s, tenant_id, number, kind=kind, parent_id=parent_id)
        return number


async def test_a423_3_format_and_sequence_per_nature(sessionmaker: SM, seed: Seed) -> None:
    """Commune 69001, 2026: département 069, commune 001, year 26; PCMI counts as PC, each
    nature has its own sequence."""
    a = seed.commune_id
    assert await take(sessionmaker, a, "PC") == "PC0690012600001"
    assert await take(sessionmaker, a, PermitType.PCMI) == "PC0690012600002"
    assert await take(sessionmaker, a, "DP") == "DP0690012600001"
    assert await take(sessionmaker, a, PermitType.CUB) == "CU0690012600001"
    assert await take(sessionmaker, a, PermitType.CUA) == "CU0690012600002"
    assert await take(sessionmaker, a, "PA") == "PA0690012600001"
    assert await take(sessionmaker, a, "PD") == "PD0690012600001"
    assert await take(sessionmaker, a, "PC") == "PC0690012600003"


async def test_a423_3_sequence_per_tenant(sessionmaker: SM, seed: Seed) -> None:
    assert await take(sessionmaker, seed.commune_id) == "PC0690012600001"
    assert await take(sessionmaker, seed.other_commune_id, insee="69002") == "PC0690022600001"
    assert await take(sessionmaker, seed.commune_id) == "PC0690012600002"


async def test_a423_3_new_year_starts_again_at_00001(sessionmaker: SM, seed: Seed) -> None:
    """Edge case 22: a new year gives a new sequence per nature."""
    a = seed.commune_id
    for _ in range(3):
        await take(sessionmaker, a, year=2026)
    assert await take(sessionmaker, a, year=2027) == "PC0690012700001"
    assert await take(sessionmaker, a, year=2026) == "PC0690012600004"
    assert await take(sessionmaker, a, year=2027) == "PC0690012700002"


async def test_corsica_insee_gives_departement_02a(sessionmaker: SM, seed: Seed) -> None:
    number = await take(sessionmaker, seed.commune_id, insee="2A004")
    assert number == "PC02A0042600001"


async def test_a_rolled_back_filing_gives_its_number_back(sessionmaker: SM, seed: Seed) -> None:
    """Gap-free: the counter moves in the filing's transaction."""
    a = seed.commune_id
    assert await take(sessionmaker, a) == "PC0690012600001"

    async def failing_filing() -> None:
        async with sessionmaker() as s, s.begin():
            n = await next_number(s, tenant_id=a, insee="69001", nature="PC", year=2026)
            assert n == "PC0690012600002"
            raise FilingFailed  # e.g. a piece upload failed: the transaction rolls back

    with pytest.raises(FilingFailed):
        await failing_filing()
    assert await take(sessionmaker, a) == "PC0690012600002"


async def test_20_concurrent_filings_get_1_to_20_without_gap_or_duplicate(
    sessionmaker: SM, seed: Seed
) -> None:
    """20 filings at the same time, each in its own session and transaction, on a counter row
    that does not exist yet (the first INSERT races with the others)."""
    numbers = await asyncio.gather(*(take(sessionmaker, seed.commune_id) for _ in range(20)))
    assert sorted(numbers) == [f"PC06900126{i:05d}" for i in range(1, 21)]
    async with sessionmaker() as s:
        counter = await s.get(UrbanismCounter, (seed.commune_id, "PC", 2026))
    assert counter is not None and counter.last == 20


async def test_concurrent_filings_of_two_natures_and_tenants_stay_separate(
    sessionmaker: SM, seed: Seed
) -> None:
    jobs = [take(sessionmaker, seed.commune_id, "DP") for _ in range(6)]
    jobs += [take(sessionmaker, seed.other_commune_id, "DP", insee="69002") for _ in range(6)]
    numbers = await asyncio.gather(*jobs)
    assert sorted(n for n in numbers if n.startswith("DP069001")) == [
        f"DP06900126{i:05d}" for i in range(1, 7)
    ]
    assert sorted(n for n in numbers if n.startswith("DP069002")) == [
        f"DP06900226{i:05d}" for i in range(1, 7)
    ]


async def test_bad_insee_nature_or_year_is_a_validation_error(sessionmaker: SM, seed: Seed) -> None:
    for insee, nature, year in (("6900", "PC", 2026), ("69001", "XX", 2026), ("69001", "PC", 1999)):
        with pytest.raises((ValidationFailed, ValueError)) as caught:
            await take(sessionmaker, seed.commune_id, nature, year, insee)
        assert any(w in str(caught.value) for w in ("INSEE", "Nature", "Année"))


# ----- follow-ups (A423-4) ---------------------------------------------------------------------


async def test_a423_4_m01_m02_and_t01_counted_separately(sessionmaker: SM, seed: Seed) -> None:
    a = seed.commune_id
    parent = await take(sessionmaker, a)
    async with sessionmaker() as s, s.begin():
        await add_file(s, a, parent)
    assert await file_follow_up(sessionmaker, a, parent, FileKind.MODIFICATIF) == parent + "M01"
    assert await file_follow_up(sessionmaker, a, parent, FileKind.TRANSFERT) == parent + "T01"
    assert await file_follow_up(sessionmaker, a, parent, FileKind.MODIFICATIF) == parent + "M02"
    # the parent number may be typed with spaces
    async with sessionmaker() as s, s.begin():
        assert await follow_up_number(s, "PC 069 001 26 00001", FileKind.TRANSFERT) == (
            parent + "T02"
        )


async def test_a423_4_concurrent_modificatifs_are_numbered_one_after_the_other(
    sessionmaker: SM, seed: Seed
) -> None:
    a = seed.commune_id
    parent = await take(sessionmaker, a)
    async with sessionmaker() as s, s.begin():
        await add_file(s, a, parent)
    numbers = await asyncio.gather(
        *(file_follow_up(sessionmaker, a, parent, FileKind.MODIFICATIF) for _ in range(6))
    )
    assert sorted(numbers) == [f"{parent}M{i:02d}" for i in range(1, 7)]


async def test_follow_up_of_an_unknown_parent_or_of_another_tenant_is_not_found(
    sessionmaker: SM, seed: Seed
) -> None:
    parent = await take(sessionmaker, seed.commune_id)
    async with sessionmaker() as s, s.begin():
        await add_file(s, seed.commune_id, parent)
    async with sessionmaker() as s, s.begin():
        with pytest.raises(NotFound) as caught:
            await follow_up_number(s, "PC0690012600999", FileKind.MODIFICATIF)
        assert "PC 069 001 26 00999" in caught.value.detail
        with pytest.raises(NotFound):
            await follow_up_number(s, parent, FileKind.MODIFICATIF, tenant_id=seed.other_commune_id)


async def test_follow_up_refuses_garbage_a_suffixed_parent_and_a_cu(
    sessionmaker: SM, seed: Seed
) -> None:
    async with sessionmaker() as s, s.begin():
        for text, words in (
            ("bonjour", "Numéro de dossier invalide"),
            ("PC0690012600001M01", "autorisation initiale"),
            ("CU0690012600001", "certificat d'urbanisme"),
        ):
            with pytest.raises(ValidationFailed) as caught:
                await follow_up_number(s, text, FileKind.MODIFICATIF)
            assert words in caught.value.detail
        with pytest.raises(ValidationFailed):
            await follow_up_number(s, "PC0690012600001", FileKind.INITIAL)
