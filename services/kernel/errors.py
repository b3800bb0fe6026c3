"""The error tree every service raises. One table in services.api maps it to RFC 9457 problem+json.

``detail`` is shown to people: it is French and says what to do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class GuichetError(Exception):
    """Base of every expected error. ``code`` is a stable machine-readable slug."""

    code = "error"
    title = "Erreur"

    def __init__(self, detail: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra: dict[str, Any] = dict(extra or {})


class NotFound(GuichetError):
    code = "not-found"
    title = "Introuvable"


class HiddenDenial(NotFound):
    """A denial shown as "not found" (another tenant's case): 404 to the caller, journaled."""


class Conflict(GuichetError):
    code = "conflict"
    title = "Conflit"


class StaleVersion(Conflict):
    code = "stale-version"
    title = "Version périmée"


class InvalidTransition(Conflict):
    code = "invalid-transition"
    title = "Transition impossible"

    def __init__(self, detail: str, *, allowed: Sequence[str], extra: dict[str, Any] | None = None):
        super().__init__(detail, extra={"allowed_transitions": list(allowed), **(extra or {})})
        self.allowed = list(allowed)


class Unauthenticated(GuichetError):
    code = "unauthenticated"
    title = "Authentification requise"


class Forbidden(GuichetError):
    code = "forbidden"
    title = "Accès refusé"


class ValidationFailed(GuichetError):
    code = "validation-failed"
    title = "Données invalides"

    def __init__(self, detail: str, *, errors: Sequence[dict[str, Any]] = ()) -> None:
        super().__init__(detail, extra={"errors": list(errors)})
        self.errors = list(errors)


class PayloadTooLarge(GuichetError):
    code = "payload-too-large"
    title = "Contenu trop volumineux"


class TooManyRequests(GuichetError):
    code = "too-many-requests"
    title = "Trop de tentatives"

    def __init__(
        self, detail: str, *, retry_after: int, extra: dict[str, Any] | None = None
    ) -> None:
        super().__init__(detail, extra={"retry_after": retry_after, **(extra or {})})
        self.retry_after = retry_after


class Unavailable(GuichetError):
    code = "unavailable"
    title = "Service indisponible"


class DefinitionError(Exception):
    """A procedure definition is wrong. Raised at start-up, never at request time."""

    def __init__(self, key: str, problems: Sequence[str]) -> None:
        self.key = key
        self.problems = list(problems)
        super().__init__(f"procedure definition {key!r} is invalid: " + "; ".join(problems))
