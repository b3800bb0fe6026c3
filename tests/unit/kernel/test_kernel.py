"""The kernel: identifiers, clock, UTC datetimes in the database, French errors, settings."""

from __future__ import annotations

import itertools
import time
import types
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import BaseModel, Field, ValidationError, field_validator
from sqlalchemy.dialects import postgresql, sqlite

from services.kernel import ids
from services.kernel.clock import Clock, FrozenClock, SystemClock
from services.kernel.db import UTCDateTime
from services.kernel.errors import (
    Conflict,
    DefinitionError,
    Forbidden,
    GuichetError,
    InvalidTransition,
    NotFound,
    StaleVersion,
    ValidationFailed,
)
from services.kernel.settings import clear_settings_cache, effective_database_url
from services.kernel.validation import french_errors

pytestmark = pytest.mark.unit

PARIS_WINTER = timezone(timedelta(hours=1))


# ----- identifiers -----------------------------------------------------------------------------


def timestamp_ms(u: uuid.UUID) -> int:
    return u.int >> 80


def test_new_id_is_a_uuid_version_7_with_the_rfc_4122_variant() -> None:
    before = time.time_ns() // 1_000_000
    u = ids.new_id()
    assert isinstance(u, uuid.UUID)
    assert u.version == 7
    assert u.variant == uuid.RFC_4122
    # The first 48 bits are the creation time in milliseconds (never earlier than "before").
    assert timestamp_ms(u) >= before
    assert timestamp_ms(u) - before < 60_000


def test_new_ids_strictly_increase_in_a_tight_loop() -> None:
    generated = [ids.new_id() for _ in range(10_000)]
    assert all(a < b for a, b in itertools.pairwise(generated))
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in generated)
    assert [str(u) for u in generated] == sorted(str(u) for u in generated)


def test_new_ids_stay_ordered_when_the_clock_stops_or_goes_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frozen_ns = [1_767_225_600_000 * 1_000_000]  # 2026-01-01T00:00:00Z
    monkeypatch.setattr(ids, "time", types.SimpleNamespace(time_ns=lambda: frozen_ns[0]))
    monkeypatch.setattr(ids, "_last_ms", 0)
    monkeypatch.setattr(ids, "_counter", 0)
    # More ids than the 12-bit counter holds in one millisecond.
    same_ms = [ids.new_id() for _ in range(3 * 4096)]
    frozen_ns[0] -= 5_000 * 1_000_000  # the system clock jumps 5 s back
    after_jump = [ids.new_id() for _ in range(100)]
    generated = same_ms + after_jump
    assert all(a < b for a, b in itertools.pairwise(generated))
    assert timestamp_ms(generated[0]) == 1_767_225_600_000
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in generated)


# ----- clock -----------------------------------------------------------------------------------


def test_frozen_clock_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        FrozenClock(datetime(2026, 3, 2, 9, 0))
    clock = FrozenClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.set(datetime(2026, 3, 3, 9, 0))


def test_frozen_clock_stands_still_until_moved_and_speaks_utc() -> None:
    clock = FrozenClock(datetime(2026, 3, 2, 10, 0, tzinfo=PARIS_WINTER))
    assert clock.now() == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert clock.now().utcoffset() == timedelta(0)
    assert clock.now() == clock.now()
    clock.advance(timedelta(days=1, minutes=30))
    assert clock.now() == datetime(2026, 3, 3, 9, 30, tzinfo=UTC)
    clock.set(datetime(2026, 4, 1, 12, 0, tzinfo=PARIS_WINTER))
    assert clock.now() == datetime(2026, 4, 1, 11, 0, tzinfo=UTC)
    assert isinstance(clock, Clock)


def test_system_clock_is_aware_utc() -> None:
    now = SystemClock().now()
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)


# ----- UTC datetimes in the database -----------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def dialect(request: pytest.FixtureRequest) -> object:
    return sqlite.dialect() if request.param == "sqlite" else postgresql.dialect()


def test_utc_datetime_refuses_naive_datetimes(dialect: object) -> None:
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2026, 3, 2, 9, 0), dialect)


def test_utc_datetime_binds_the_utc_instant(dialect: object) -> None:
    bound = UTCDateTime().process_bind_param(
        datetime(2026, 3, 2, 10, 0, tzinfo=PARIS_WINTER), dialect
    )
    assert bound is not None
    if bound.tzinfo is None:  # SQLite stores naive text: it must be the UTC wall time
        assert dialect.name == "sqlite"
        assert bound == datetime(2026, 3, 2, 9, 0)
    else:
        assert bound.utcoffset() == timedelta(0)
        assert bound == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert UTCDateTime().process_bind_param(None, dialect) is None


def test_utc_datetime_results_are_aware_utc(dialect: object) -> None:
    col = UTCDateTime()
    from_naive = col.process_result_value(datetime(2026, 3, 2, 9, 0), dialect)
    from_aware = col.process_result_value(datetime(2026, 3, 2, 10, 0, tzinfo=PARIS_WINTER), dialect)
    for value in (from_naive, from_aware):
        assert value == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        assert value is not None and value.tzinfo is UTC
    assert col.process_result_value(None, dialect) is None


def test_utc_datetime_round_trips(dialect: object) -> None:
    col = UTCDateTime()
    instant = datetime(2026, 7, 14, 23, 30, tzinfo=timezone(timedelta(hours=2)))
    back = col.process_result_value(col.process_bind_param(instant, dialect), dialect)
    assert back == instant
    assert back is not None and back.tzinfo is UTC


# ----- French validation errors ----------------------------------------------------------------


class Address(BaseModel):
    street: str = Field(min_length=3)
    postal_code: str = Field(pattern=r"^\d{5}$")


class Person(BaseModel):
    name: str = Field(max_length=5)
    age: int = Field(ge=0)
    address: Address
    phones: list[str] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def no_digits(cls, v: str) -> str:
        if any(c.isdigit() for c in v):
            raise ValueError("le nom ne doit pas contenir de chiffres")
        return v


def errors_for(data: object, prefix: str = "") -> list[dict[str, object]]:
    with pytest.raises(ValidationError) as info:
        Person.model_validate(data)
    return french_errors(info.value, prefix=prefix)


def test_french_errors_use_dotted_paths_and_french_messages() -> None:
    errors = errors_for(
        {
            "name": "Bernadette",
            "age": -1,
            "address": {"street": "ab", "postal_code": "690"},
            "phones": [],
        }
    )
    assert errors == [
        {
            "field": "name",
            "message": "texte trop long (au plus 5 caractères)",
            "type": "string_too_long",
        },
        {
            "field": "age",
            "message": "doit être supérieur ou égal à 0",
            "type": "greater_than_equal",
        },
        {
            "field": "address.street",
            "message": "texte trop court (au moins 3 caractère(s))",
            "type": "string_too_short",
        },
        {
            "field": "address.postal_code",
            "message": "format invalide",
            "type": "string_pattern_mismatch",
        },
        {
            "field": "phones",
            "message": "liste trop courte (au moins 1 élément(s))",
            "type": "too_short",
        },
    ]


def test_french_errors_missing_fields_list_indexes_and_prefix() -> None:
    errors = errors_for({"age": "douze", "address": {}, "phones": ["ok", 3]}, prefix="payload")
    assert errors == [
        {"field": "payload.name", "message": "champ obligatoire manquant", "type": "missing"},
        {"field": "payload.age", "message": "doit être un nombre entier", "type": "int_parsing"},
        {
            "field": "payload.address.street",
            "message": "champ obligatoire manquant",
            "type": "missing",
        },
        {
            "field": "payload.address.postal_code",
            "message": "champ obligatoire manquant",
            "type": "missing",
        },
        {"field": "payload.phones.1", "message": "doit être un texte", "type": "string_type"},
    ]


def test_french_errors_keep_the_validator_message_and_name_the_root() -> None:
    errors = errors_for(
        {
            "name": "R2D2",
            "age": 3,
            "address": {"street": "rue", "postal_code": "69001"},
            "phones": ["0"],
        }
    )
    assert errors == [
        {
            "field": "name",
            "message": "le nom ne doit pas contenir de chiffres",
            "type": "value_error",
        }
    ]
    assert errors_for("pas un objet") == [
        {"field": "(racine)", "message": "doit être un objet JSON", "type": "model_type"}
    ]


# ----- error classes ---------------------------------------------------------------------------


def test_errors_carry_their_detail_and_extra() -> None:
    err = NotFound("Le dossier n'existe pas.", extra={"case_id": "x"})
    assert isinstance(err, GuichetError)
    assert str(err) == err.detail == "Le dossier n'existe pas."
    assert err.extra == {"case_id": "x"}
    assert (err.code, err.title) == ("not-found", "Introuvable")
    assert Forbidden("Non.").extra == {}
    assert issubclass(StaleVersion, Conflict)


def test_invalid_transition_carries_the_allowed_transitions() -> None:
    err = InvalidTransition("Impossible.", allowed=("start", "withdraw"), extra={"state": "draft"})
    assert isinstance(err, Conflict)
    assert err.code == "invalid-transition"
    assert err.allowed == ["start", "withdraw"]
    assert err.extra == {"allowed_transitions": ["start", "withdraw"], "state": "draft"}


def test_validation_failed_carries_the_field_errors() -> None:
    field_errors = [
        {"field": "payload.reason", "message": "champ obligatoire manquant", "type": "missing"}
    ]
    err = ValidationFailed("Données invalides.", errors=field_errors)
    assert err.errors == field_errors
    assert err.extra == {"errors": field_errors}
    assert err.code == "validation-failed"


def test_definition_error_lists_its_problems() -> None:
    err = DefinitionError("test.permit@2", ["a is wrong", "b is wrong"])
    assert err.key == "test.permit@2"
    assert err.problems == ["a is wrong", "b is wrong"]
    assert str(err) == "procedure definition 'test.permit@2' is invalid: a is wrong; b is wrong"
    assert not isinstance(err, GuichetError)  # a start-up error, never an HTTP answer


# ----- settings --------------------------------------------------------------------------------


def test_database_url_defaults_to_a_sqlite_file_in_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GUICHET_DATA_DIR", str(tmp_path / "donnees"))
    monkeypatch.delenv("GUICHET_DATABASE_URL", raising=False)
    clear_settings_cache()
    expected = tmp_path.resolve() / "donnees" / "guichet.sqlite3"
    assert effective_database_url() == f"sqlite+aiosqlite:///{expected}"


def test_a_relative_data_dir_becomes_an_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GUICHET_DATA_DIR", "var/guichet")
    monkeypatch.delenv("GUICHET_DATABASE_URL", raising=False)
    clear_settings_cache()
    url = effective_database_url()
    assert (
        url == f"sqlite+aiosqlite:///{tmp_path.resolve() / 'var' / 'guichet' / 'guichet.sqlite3'}"
    )
    assert Path(url.removeprefix("sqlite+aiosqlite:///")).is_absolute()


def test_database_url_is_used_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pg = "postgresql+asyncpg://guichet:secret@db.example.org:5432/guichet"
    monkeypatch.setenv("GUICHET_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GUICHET_DATABASE_URL", pg)
    clear_settings_cache()
    assert effective_database_url() == pg


def test_settings_are_read_once_until_the_cache_is_cleared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GUICHET_DATABASE_URL", "sqlite+aiosqlite:///first.sqlite3")
    clear_settings_cache()
    assert effective_database_url() == "sqlite+aiosqlite:///first.sqlite3"
    monkeypatch.setenv("GUICHET_DATABASE_URL", "sqlite+aiosqlite:///second.sqlite3")
    assert effective_database_url() == "sqlite+aiosqlite:///first.sqlite3"
    clear_settings_cache()
    assert effective_database_url() == "sqlite+aiosqlite:///second.sqlite3"
