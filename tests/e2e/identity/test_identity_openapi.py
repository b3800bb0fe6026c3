"""Every identity endpoint the issue names is in the OpenAPI document."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

pytestmark = pytest.mark.e2e

EXPECTED = [
    ("get", "/api/v1/auth/{provider}/login"),
    ("get", "/api/v1/auth/{provider}/callback"),
    ("post", "/api/v1/auth/logout"),
    ("get", "/api/v1/auth/{provider}/logout/callback"),
    ("get", "/api/v1/auth/session"),
    ("post", "/api/v1/auth/token"),
    ("post", "/api/v1/auth/local/register"),
    ("post", "/api/v1/auth/local/login"),
    ("post", "/api/v1/auth/local/magic-link"),
    ("get", "/api/v1/me"),
    ("get", "/api/v1/me/identities"),
    ("get", "/api/v1/me/mandates"),
    ("get", "/api/v1/me/export"),
    ("post", "/api/v1/me/erase"),
    ("get", "/api/v1/admin/agents"),
    ("post", "/api/v1/admin/agents/invitations"),
    ("get", "/api/v1/admin/organisations"),
    ("post", "/api/v1/admin/mandates"),
    ("post", "/api/v1/admin/api-clients/{client_id}/rotate"),
    ("get", "/api/v1/admin/journal"),
    ("get", "/api/v1/admin/relink-requests"),
]


async def test_identity_endpoints_are_documented(app_client: AsyncTestClient[Any]) -> None:
    r = await app_client.get("/schema/openapi.json")
    assert r.status_code == 200
    paths = {p.rstrip("/") or "/": ops for p, ops in r.json()["paths"].items()}
    missing = [(m, p) for m, p in EXPECTED if m not in paths.get(p, {})]
    assert missing == []
    for method, path in EXPECTED:
        operation = paths[path][method]
        assert operation.get("summary"), (method, path)
