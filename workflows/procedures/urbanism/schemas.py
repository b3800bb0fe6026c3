"""Payloads of the urbanism transitions (the intake payloads are in ``intake``)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field, field_validator

from workflows.procedures.urbanism.intake import intake_schema

__all__ = [
    "CompletionPayload",
    "DecisionNotifiedPayload",
    "OpeningPayload",
    "PiecesCompletedPayload",
    "PiecesRequestPayload",
    "ReasonPayload",
    "WithdrawalPayload",
    "intake_schema",
]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PiecesRequestPayload(_Payload):
    """The exhaustive list of missing pieces (R423-38) and the day the letter was notified (first
    presentation of the registered letter, or electronic delivery)."""

    pieces: list[str] = Field(min_length=1, max_length=60)
    notified_on: date
    comment: str | None = Field(default=None, max_length=4000)

    @field_validator("pieces")
    @classmethod
    def _codes(cls, value: list[str]) -> list[str]:
        codes = [v.strip().upper() for v in value]
        if any(not c or len(c) > 12 for c in codes):
            raise ValueError("code de pièce CERFA attendu (par exemple PCMI2, DP3)")
        return list(dict.fromkeys(codes))


class PiecesCompletedPayload(_Payload):
    received_on: date


class DecisionNotifiedPayload(_Payload):
    """The drafted decision (``POST …/arrete``) was notified on this day: it counts from then."""

    notified_on: date


class ReasonPayload(_Payload):
    reason: str = Field(min_length=3, max_length=4000)


class WithdrawalPayload(_Payload):
    notified_on: date
    reasons: list[str] = Field(min_length=1, max_length=30)


class OpeningPayload(_Payload):
    opened_on: date


class CompletionPayload(_Payload):
    completed_on: date
    received_on: date
