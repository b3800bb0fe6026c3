"""What every cemetery rule returns: a verdict with the French reason and the article."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from services.kernel.errors import ValidationFailed
from workflows.engine.calendar import add_months


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of a rule: ``allowed``, and when not, why (French, for the agent and the
    family) and under which text. ``details`` carries what the rule computed (dates, prices)."""

    allowed: bool
    reason: str = ""
    reference: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def require(self, field_name: str = "payload") -> None:
        """Raise ValidationFailed (422, French detail) when the rule refuses."""
        if not self.allowed:
            raise ValidationFailed(
                f"{self.reason} ({self.reference})" if self.reference else self.reason,
                errors=[{"field": field_name, "message": self.reason, "type": "rule"}],
            )


def ok(reference: str = "", **details: Any) -> Verdict:
    return Verdict(True, "", reference, dict(details))


def refused(reason: str, reference: str, **details: Any) -> Verdict:
    return Verdict(False, reason, reference, dict(details))


def add_years(d: date, years: int) -> date:
    """Same day ``years`` later; 29 February becomes 28 February (CPC art. 641 style)."""
    return add_months(d, 12 * years)


def fr(d: date) -> str:
    """A date as French text: 12/07/2024."""
    return d.strftime("%d/%m/%Y")
