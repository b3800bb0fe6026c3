"""Open311 GeoReport v2 over HTTP, the read side: discovery, services, service definitions,
formats, jurisdictions, errors and methods (open311.md §1–3, §5, §12 items 6–7, 12, 14–18, 38).

Every JSON answer is validated against the official schemas (../shared/data/open311) or ours."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.kernel.clock import FrozenClock
from tests.conftest import Seed
from tests.support.open311 import BASE, check_json, parse_xml, same_data, xml_data
from workflows.procedures.street_reports.models import StreetCategory

pytestmark = pytest.mark.e2e

XML = "text/xml; charset=utf-8"
JSON = "application/json; charset=utf-8"


async def both(client: AsyncTestClient[Any], path: str, **params: str) -> tuple[Any, bytes]:
    """(JSON body, XML bytes) of one resource, both 200, with the exact content types."""
    rj = await client.get(f"{BASE}/{path}.json", params=params)
    rx = await client.get(f"{BASE}/{path}.xml", params=params)
    assert rj.status_code == 200, rj.text
    assert rx.status_code == 200, rx.text
    assert rj.headers["content-type"] == JSON
    assert rx.headers["content-type"] == XML
    return rj.json(), rx.content


def assert_errors(r: Any, status: int, fmt: str = "xml") -> list[dict[str, Any]]:
    """A GeoReport error array with this status, in the expected format, French descriptions."""
    assert r.status_code == status, r.text
    if fmt == "xml":
        assert r.headers["content-type"] == XML, r.headers
        body = xml_data(r.content)
    else:
        assert r.headers["content-type"] == JSON, r.headers
        body = r.json()
    check_json("errors", body)
    assert all(item["code"] == status for item in body), body
    return list(body)


async def add_category(
    sm: async_sessionmaker[AsyncSession], tenant_id: Any, code: str, **fields: Any
) -> None:
    async with sm() as s, s.begin():
        model = await s.scalar(select(StreetCategory).where(StreetCategory.tenant_id == tenant_id))
        assert model is not None
        s.add(
            StreetCategory(
                tenant_id=tenant_id,
                code=code,
                name=fields.get("name", f"Catégorie {code}"),
                description=fields.get("description", ""),
                group="",
                keywords="",
                department_id=model.department_id,
                sla_working_days=5,
                attributes=fields.get("attributes", []),
                position=99,
                active=True,
                updated_at=model.updated_at,
            )
        )


# ----- discovery ------------------------------------------------------------------------------


async def test_discovery_in_xml_and_json_carries_every_field_and_the_same_data(
    client: AsyncTestClient[Any], clock: FrozenClock
) -> None:
    body, raw = await both(client, "discovery")
    check_json("discovery", body)
    same_data(raw, body)
    endpoint = body["endpoints"][0]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith("/api/v1/open311/v2")
    assert "text/xml" in endpoint["formats"] and "application/json" in endpoint["formats"]
    assert endpoint["type"] == "production"
    changeset = datetime.fromisoformat(body["changeset"])
    assert changeset <= clock.now()
    assert "Métropole de Test" in body["contact"]


async def test_discovery_changeset_moves_forward_when_a_category_changes(
    client: AsyncTestClient[Any],
    sessionmaker: async_sessionmaker[AsyncSession],
    territory: Seed,
    clock: FrozenClock,
) -> None:
    before = (await client.get(f"{BASE}/discovery.json")).json()["changeset"]
    clock.advance(timedelta(minutes=5))
    async with sessionmaker() as s, s.begin():
        category = await s.scalar(
            select(StreetCategory).where(StreetCategory.tenant_id == territory.metropole_id)
        )
        assert category is not None
        category.name = "Nouveau nom"
        category.updated_at = clock.now()
    after = (await client.get(f"{BASE}/discovery.json")).json()["changeset"]
    assert after > before  # sortable as text


# ----- services ----------------------------------------------------------------------------------


async def test_services_list_the_jurisdictions_categories_in_both_formats(
    client: AsyncTestClient[Any],
) -> None:
    body, raw = await both(client, "services")
    check_json("services.json", body)
    same_data(raw, body)
    codes = [s["service_code"] for s in body]
    assert "chaussee" in codes and "eclairage" in codes
    chaussee = next(s for s in body if s["service_code"] == "chaussee")
    assert chaussee["metadata"] is True
    assert chaussee["type"] == "realtime"
    mobilier = next(s for s in body if s["service_code"] == "mobilier")
    assert mobilier["metadata"] is False


async def test_service_codes_stay_strings_leading_zeros_included(
    client: AsyncTestClient[Any], sessionmaker: async_sessionmaker[AsyncSession], territory: Seed
) -> None:
    await add_category(sessionmaker, territory.metropole_id, "001")
    body, raw = await both(client, "services")
    assert "001" in [s["service_code"] for s in body]
    assert b"<service_code>001</service_code>" in raw
    definition, _ = await both(client, "services/001")
    assert definition == {"service_code": "001", "attributes": []}


async def test_service_definition_lists_attributes_with_datatype_required_order_and_values(
    client: AsyncTestClient[Any],
) -> None:
    body, raw = await both(client, "services/chaussee")
    check_json("service-definition.json", body)
    same_data(raw, body)
    (attribute,) = body["attributes"]
    assert attribute == {
        "variable": True,
        "code": "dangerosite",
        "datatype": "singlevaluelist",
        "required": False,
        "order": 1,
        "description": "Le défaut est-il dangereux pour la circulation ?",
        "values": [{"key": "oui", "name": "Oui"}, {"key": "non", "name": "Non"}],
    }


@pytest.mark.parametrize("code", ["voirie/trou", "café crème", "泥", "a.b"])
async def test_odd_service_codes_are_reachable_url_encoded_in_the_path(
    client: AsyncTestClient[Any],
    sessionmaker: async_sessionmaker[AsyncSession],
    territory: Seed,
    code: str,
) -> None:
    await add_category(sessionmaker, territory.metropole_id, code)
    r = await client.get(f"{BASE}/services/{quote(code, safe='')}.json")
    assert r.status_code == 200, r.text
    assert check_json("service-definition.json", r.json())["service_code"] == code


@pytest.mark.parametrize("fmt", ["xml", "json"])
async def test_unknown_service_code_is_404_in_the_requested_format(
    client: AsyncTestClient[Any], fmt: str
) -> None:
    r = await client.get(f"{BASE}/services/nope.{fmt}")
    (error,) = assert_errors(r, 404, fmt)
    assert "nope" in error["description"]


@pytest.mark.parametrize(
    "path", ["services/..%2F..%2Fetc%2Fpasswd.json", "services/1'%20OR%20'1'='1.json"]
)
async def test_hostile_codes_are_404_never_500(client: AsyncTestClient[Any], path: str) -> None:
    assert_errors(await client.get(f"{BASE}/{path}"), 404, "json")


# ----- jurisdictions -----------------------------------------------------------------------------


async def test_jurisdiction_is_the_tenant_insee_code_or_slug_missing_or_empty_is_the_metropole(
    client: AsyncTestClient[Any], sessionmaker: async_sessionmaker[AsyncSession], territory: Seed
) -> None:
    await add_category(sessionmaker, territory.commune_id, "seulement-a")
    default = (await client.get(f"{BASE}/services.json")).json()
    empty = (await client.get(f"{BASE}/services.json", params={"jurisdiction_id": ""})).json()
    metro = (await client.get(f"{BASE}/services.json", params={"jurisdiction_id": "69000"})).json()
    commune = (
        await client.get(f"{BASE}/services.json", params={"jurisdiction_id": "69001"})
    ).json()
    slug = (
        await client.get(f"{BASE}/services.json", params={"jurisdiction_id": "commune-a"})
    ).json()
    assert default == empty == metro
    assert commune == slug
    assert "seulement-a" in [s["service_code"] for s in commune]
    assert "seulement-a" not in [s["service_code"] for s in metro]


@pytest.mark.parametrize("fmt", ["xml", "json"])
async def test_unknown_jurisdiction_is_404(client: AsyncTestClient[Any], fmt: str) -> None:
    for resource in ("services", "requests", "discovery", "services/chaussee"):
        r = await client.get(f"{BASE}/{resource}.{fmt}", params={"jurisdiction_id": "99999"})
        (error,) = assert_errors(r, 404, fmt)
        assert "99999" in error["description"]


async def test_without_a_single_metropole_a_missing_jurisdiction_is_400(
    client: AsyncTestClient[Any], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    from identity.service import create_tenant

    async with sessionmaker() as s, s.begin():
        await create_tenant(
            s,
            now=datetime.fromisoformat("2026-01-01T00:00:00+00:00"),
            insee_code="13000",
            slug="autre-metropole",
            name="Autre métropole",
            kind="metropole",
            address="1 quai",
            postal_code="13000",
            city="Ailleurs",
            phone="04 00 00 00 00",
            email="m@ailleurs.invalid",
        )
    (error,) = assert_errors(await client.get(f"{BASE}/services.json"), 400, "json")
    assert "jurisdiction_id" in error["description"]
    ok = await client.get(f"{BASE}/services.json", params={"jurisdiction_id": "69000"})
    assert ok.status_code == 200


async def test_the_default_jurisdiction_can_be_configured(
    client: AsyncTestClient[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from channels.open311.settings import open311_settings

    monkeypatch.setenv("GUICHET_OPEN311_DEFAULT_JURISDICTION", "69002")
    open311_settings.cache_clear()
    try:
        body = (await client.get(f"{BASE}/discovery.json")).json()
    finally:
        monkeypatch.delenv("GUICHET_OPEN311_DEFAULT_JURISDICTION")
        open311_settings.cache_clear()
    assert "Commune B" in body["contact"]


# ----- formats, paths and methods ----------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["services.csv", "services.html", "services", "services.", "nothing.xml", "requests.js0n"],
)
async def test_unknown_extensions_and_resources_are_404_with_an_xml_body(
    client: AsyncTestClient[Any], path: str
) -> None:
    r = await client.get(f"{BASE}/{path}")
    assert_errors(r, 404, "json" if path.endswith(".json") else "xml")


async def test_the_base_url_alone_is_a_404_pointing_to_discovery(
    client: AsyncTestClient[Any],
) -> None:
    (error,) = assert_errors(await client.get(BASE), 404)
    assert "discovery" in error["description"]


@pytest.mark.parametrize(
    "path", ["services.XML", "services.Json", "services.xml/", "/services.xml"]
)
async def test_upper_case_extensions_and_extra_slashes_are_tolerated(
    client: AsyncTestClient[Any], path: str
) -> None:
    r = await client.get(f"{BASE}/{path}")
    assert r.status_code == 200, r.text
    if "xml" in path.lower():
        parse_xml(r.content)
    else:
        check_json("services.json", r.json())


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
async def test_other_methods_are_405_with_the_allowed_ones(
    client: AsyncTestClient[Any], method: str
) -> None:
    r = await client.request(method, f"{BASE}/requests.json")
    assert r.status_code == 405, r.text
    assert "GET" in r.headers["allow"]
    if method != "HEAD":
        assert_errors(r, 405, "json")


async def test_posting_to_a_read_only_resource_is_405(client: AsyncTestClient[Any]) -> None:
    assert_errors(await client.post(f"{BASE}/services.xml"), 405)


async def test_xml_is_declared_utf8_without_namespace_and_escapes_markup(
    client: AsyncTestClient[Any], sessionmaker: async_sessionmaker[AsyncSession], territory: Seed
) -> None:
    hostile = "<b>x</b> & ]]> <!DOCTYPE x> \u202eRTL é 🚧"
    await add_category(sessionmaker, territory.metropole_id, "hostile", name=hostile)
    r = await client.get(f"{BASE}/services.xml")
    root = parse_xml(r.content)
    names = [el.text for el in root.iter("service_name")]
    assert hostile in names
    assert b"<b>" not in r.content and b"<!DOCTYPE" not in r.content
    assert b"&lt;b&gt;x&lt;/b&gt; &amp; ]]&gt;" in r.content


async def test_text_xml_cannot_carry_is_replaced_the_same_way_in_both_formats(
    client: AsyncTestClient[Any], sessionmaker: async_sessionmaker[AsyncSession], territory: Seed
) -> None:
    await add_category(sessionmaker, territory.metropole_id, "ctrl", name="bell\x07 here")
    body, raw = await both(client, "services")
    same_data(raw, body)
    assert "bell\ufffd here" in [s["service_name"] for s in body]
