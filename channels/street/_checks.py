"""Checks and keys of ``submit_report``: the reporter (named or anonymous), the description, the
fingerprint of a report (idempotence within a short window)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from typing import Any

from services.kernel.actor import Actor
from services.kernel.errors import ValidationFailed
from workflows.procedures.street_reports.definition import DESCRIPTION_MAX, no_control


def fingerprint_of(
    *,
    channel: str,
    actor: Actor,
    tenant_id: uuid.UUID,
    category: str,
    lat: float,
    lon: float,
    description: str,
    contact: str,
) -> str:
    parts = [
        channel,
        f"{actor.kind.value}:{actor.id}",
        str(tenant_id),
        category,
        f"{lat:.5f}",
        f"{lon:.5f}",
        " ".join(description.split()).lower(),
        contact.strip().lower(),
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def reporter_of(submitter: Mapping[str, Any]) -> dict[str, Any]:
    """A named person when names and a contact are given, else an anonymous reporter (keeping
    the e-mail address or phone given)."""
    clean = {k: v for k, v in submitter.items() if v not in (None, "")}
    named = clean.get("given_name") and clean.get("family_name")
    contact = clean.get("email") or clean.get("phone") or clean.get("postal_address")
    if clean.get("kind", "person") != "person" or (named and contact):
        return clean
    kept: dict[str, Any] = {k: clean[k] for k in ("email", "phone", "notification") if k in clean}
    return {"kind": "anonymous", **kept}


def checked_description(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationFailed(
            "La description doit être un texte.",
            errors=[{"field": "description", "message": "texte attendu", "type": "string"}],
        )
    if len(value) > DESCRIPTION_MAX:
        raise ValidationFailed(
            f"La description fait {len(value)} caractères : {DESCRIPTION_MAX} au plus.",
            errors=[
                {
                    "field": "description",
                    "message": f"{DESCRIPTION_MAX} caractères au plus ({len(value)} reçus)",
                    "type": "too_long",
                }
            ],
        )
    try:
        return no_control(value, lines=True).strip()
    except ValueError as exc:
        raise ValidationFailed(
            f"La description {exc}.",
            errors=[{"field": "description", "message": str(exc), "type": "control"}],
        ) from None
