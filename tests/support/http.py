"""Helpers shared by the HTTP tests: problem+json checks and API client tokens."""

from __future__ import annotations

import re
from typing import Any

PROBLEM = "application/problem+json"
_FRENCH = re.compile(
    r"[éèêàâçùûôîœ«»]|\b(la|le|les|de|des|du|une?|est|pas|vous|votre|aucune?|ce|cette|au|aux"
    r"|dossier|introuvable|jeton|demande)\b",
    re.IGNORECASE,
)


def assert_problem(r: Any, status: int | tuple[int, ...]) -> dict[str, Any]:
    """An RFC 9457 problem with the expected status and a French ``detail``."""
    statuses = status if isinstance(status, tuple) else (status,)
    assert r.status_code in statuses, r.text
    assert r.headers["content-type"].startswith(PROBLEM), r.headers
    body: dict[str, Any] = r.json()
    assert body["status"] == r.status_code
    detail = body["detail"]
    assert isinstance(detail, str), body
    assert _FRENCH.search(detail), f"detail not French: {detail!r}"
    return body


async def client_token(client: Any, client_id: str, client_secret: str) -> str:
    r = await client.post(
        "/api/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
        },
    )
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])
