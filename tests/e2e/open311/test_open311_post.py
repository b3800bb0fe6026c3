"""POST requests over HTTP: the api key, the location, services and attributes, text, media,
bodies and idempotence (open311.md §4, §8, §12 items 1–13, 19–25, 33; issue 6 "Bad input")."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.kernel.clock import FrozenClock
from tests.conftest import Seed
from tests.support.open311 import BASE, FORM, api_key, check_json, encoded, same_data, xml_data
from tests.support.street_reports import POINT_IN_A, POINT_IN_B, POINT_IN_METROPOLE_ONLY
from workflows.cases.models import Case
from workflows.procedures.street_reports.models import StreetCategory, StreetReport

pytestmark = pytest.mark.e2e

JSON = "application/json; charset=utf-8"


def report_form(key: str | None, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "api_key": key,
        "service_code": "chaussee",
        "lat": str(POINT_IN_A[0]),
        "long": str(POINT_IN_A[1]),
        "address_string": "1 rue de l'École, Commune A",
        "description": "Nid-de-poule profond devant l'école",
        "email": "riverain@example.org",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


async def post(client: AsyncTestClient[Any], body: Any, fmt: str = "json", **kw: Any) -> Any:
    return await client.post(f"{BASE}/requests.{fmt}", data=body, **kw)


def created_id(r: Any) -> str:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == JSON
    body = check_json("post_reply", r.json())
    return str(body[0]["service_request_id"])


def errors(r: Any, status: int) -> list[dict[str, Any]]:
    assert r.status_code == status, r.text
    ctype = r.headers["content-type"]
    body = r.json() if ctype.startswith("application/json") else xml_data(r.content)
    check_json("errors", body)
    return list(body)


def described(r: Any, status: int) -> str:
    return " ".join(e["description"] for e in errors(r, status))


async def count_cases(sm: async_sessionmaker[AsyncSession]) -> int:
    async with sm() as s:
        return int(await s.scalar(select(func.count()).select_from(Case)) or 0)


async def get_request(client: AsyncTestClient[Any], ref: str) -> dict[str, Any]:
    r = await client.get(f"{BASE}/requests/{ref}.json")
    assert r.status_code == 200, r.text
    (item,) = check_json("requests.json", r.json())
    return dict(item)


def jpeg(size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


# ----- success ------------------------------------------------------------------------------------


async def test_a_posted_report_gets_an_id_and_lands_in_the_right_tenant_and_department(
    client: AsyncTestClient[Any],
    key: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    territory: Seed,
) -> None:
    ref = created_id(await post(client, report_form(key, **{"attribute[dangerosite]": "oui"})))
    async with sessionmaker() as s:
        row = await s.scalar(select(StreetReport).where(StreetReport.reference == ref))
        assert row is not None
        assert row.tenant_id == territory.commune_id
        assert row.channel == "open311"
        assert row.attributes == {"dangerosite": "oui"}
    item = await get_request(client, ref)
    assert item["status"] == "open"
    assert item["status_notes"] == "À qualifier"
    assert item["agency_responsible"] == "Voirie"
    assert item["service_code"] == "chaussee"
    assert item["address"] == "1 rue de l'École, Commune A"
    assert (item["lat"], item["long"]) == POINT_IN_A


async def test_the_xml_reply_and_the_json_reply_say_the_same(
    client: AsyncTestClient[Any], key: str
) -> None:
    rx = await post(client, report_form(key), "xml")
    assert rx.status_code == 200, rx.text
    assert rx.headers["content-type"] == "text/xml; charset=utf-8"
    (xml_item,) = xml_data(rx.content)
    ref = xml_item["service_request_id"]
    assert ref and isinstance(ref, str)
    rj = await client.get(f"{BASE}/requests/{ref}.json")
    rxx = await client.get(f"{BASE}/requests/{ref}.xml")
    same_data(rxx.content, check_json("requests.json", rj.json()))


async def test_a_point_in_the_metropole_only_is_the_metropoles_report(
    client: AsyncTestClient[Any],
    key: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    territory: Seed,
) -> None:
    lat, lon = POINT_IN_METROPOLE_ONLY
    ref = created_id(await post(client, report_form(key, lat=str(lat), long=str(lon))))
    async with sessionmaker() as s:
        row = await s.scalar(select(StreetReport).where(StreetReport.reference == ref))
        assert row is not None and row.tenant_id == territory.metropole_id


async def test_numbers_with_more_than_six_decimals_and_spaces_are_accepted(
    client: AsyncTestClient[Any], key: str
) -> None:
    ref = created_id(await post(client, report_form(key, lat=" 45.7500001234 ", long="4.80000009")))
    item = await get_request(client, ref)
    assert abs(item["lat"] - 45.7500001234) < 1e-9


async def test_address_id_and_device_ids_are_recorded_never_shown(
    client: AsyncTestClient[Any], key: str, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    body = report_form(
        key,
        address_id="#NOTPINPOINTED#",
        deviceid="device-123",
        phone="06 12 34 56 78",
        first_name="Camille",
        last_name="Martin",
    )
    ref = created_id(await post(client, body))
    async with sessionmaker() as s:
        row = await s.scalar(select(StreetReport).where(StreetReport.reference == ref))
        assert row is not None
        case = await s.get(Case, row.case_id)
        assert case is not None and case.channel_data is not None
        assert case.channel_data["open311"]["address_id"] == "#NOTPINPOINTED#"
        assert case.channel_data["open311"]["device_id"] == "device-123"
    for path in (f"requests/{ref}.json", "requests.json"):
        text = (await client.get(f"{BASE}/{path}")).text
        for secret in ("device-123", "06 12 34 56 78", "riverain@example.org", "Camille", "Martin"):
            assert secret not in text
    assert "Camille" not in (await client.get(f"{BASE}/requests/{ref}.xml")).text


async def test_unicode_and_emoji_in_every_text_field_come_back_intact(
    client: AsyncTestClient[Any],
    key: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    territory: Seed,
) -> None:
    async with sessionmaker() as s, s.begin():
        category = await s.scalar(
            select(StreetCategory).where(
                StreetCategory.tenant_id == territory.commune_id, StreetCategory.code == "eclairage"
            )
        )
        assert category is not None
    text = "Lampadaire éteint 💡 — 街灯 — مصباح — e\u0301 — \u202eRTL\r\n<b>&amp;</b>"
    body = report_form(
        key,
        service_code="eclairage",
        description=text,
        address_string="Place de l'Église 🏛️, 69001 — 中文",
        first_name="Zoë 🌸",
        last_name="Ŝtraße",
        **{"attribute[numero_lampadaire]": "EP-🔦-12"},
    )
    ref = created_id(await post(client, body))
    item = await get_request(client, ref)
    assert item["description"] == text.strip()
    assert item["address"] == "Place de l'Église 🏛️, 69001 — 中文"
    xml = (await client.get(f"{BASE}/requests/{ref}.xml")).content
    assert xml_data(xml)[0]["description"] == text.strip()
    assert b"<b>" not in xml


async def test_a_description_of_4000_characters_passes_4001_does_not(
    client: AsyncTestClient[Any], key: str
) -> None:
    ok = "é" * 3999 + "🚧"
    ref = created_id(await post(client, report_form(key, description=ok)))
    assert (await get_request(client, ref))["description"] == ok
    assert "4001" in described(await post(client, report_form(key, description=ok + "x")), 400)


async def test_a_form_without_charset_and_a_multipart_form_are_both_read_as_utf8(
    client: AsyncTestClient[Any], key: str
) -> None:
    raw = encoded(list(report_form(key, description="Déchets ♻").items()))
    r = await client.post(f"{BASE}/requests.json", content=raw, headers=FORM)
    assert (await get_request(client, created_id(r)))["description"] == "Déchets ♻"
    boundary = "guichet-open311-test"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in report_form(key, description="Encombrants ♻").items()
    ]
    body = ("".join(parts) + f"--{boundary}--\r\n").encode()
    r = await client.post(
        f"{BASE}/requests.json",
        content=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert (await get_request(client, created_id(r)))["description"] == "Encombrants ♻"


# ----- the key (403) ----------------------------------------------------------------------------


async def test_a_missing_wrong_or_revoked_key_is_403_and_nothing_is_created(
    client: AsyncTestClient[Any],
    key: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
) -> None:
    before = await count_cases(sessionmaker)
    assert "api_key" in described(await post(client, report_form(None)), 403)
    errors(await post(client, report_form("o311_wrong")), 403)
    errors(await post(client, report_form(""), "xml"), 403)
    revoked = await api_key(sessionmaker, clock, name="Ancienne appli")
    from channels.open311.models import Open311ApiKey

    async with sessionmaker() as s, s.begin():
        for row in await s.scalars(
            select(Open311ApiKey).where(Open311ApiKey.name == "Ancienne appli")
        ):
            row.revoked_at = clock.now()
    errors(await post(client, report_form(revoked)), 403)
    assert await count_cases(sessionmaker) == before


async def test_a_key_in_the_query_string_is_refused_saying_where_it_goes(
    client: AsyncTestClient[Any], key: str
) -> None:
    r = await client.post(f"{BASE}/requests.json", params={"api_key": key}, data=report_form(None))
    assert "corps" in described(r, 403)


async def test_a_key_given_to_a_get_is_ignored(client: AsyncTestClient[Any], key: str) -> None:
    r = await client.get(f"{BASE}/requests.json", params={"api_key": "anything"})
    assert r.status_code == 200
    check_json("requests.json", r.json())


async def test_a_tenant_key_files_only_in_its_tenant(
    client: AsyncTestClient[Any],
    territory: Seed,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
) -> None:
    key_b = await api_key(sessionmaker, clock, tenant_id=territory.other_commune_id)
    errors(await post(client, report_form(key_b, jurisdiction_id="69001")), 403)
    assert "territoire" in described(await post(client, report_form(key_b)), 400)
    lat, lon = POINT_IN_B
    assert created_id(await post(client, report_form(key_b, lat=str(lat), long=str(lon))))
    key_metro = await api_key(sessionmaker, clock, tenant_id=territory.metropole_id)
    assert created_id(await post(client, report_form(key_metro)))  # covers commune A


# ----- location ---------------------------------------------------------------------------------


async def test_lat_without_long_and_the_reverse_are_400(
    client: AsyncTestClient[Any], key: str
) -> None:
    assert "long" in described(await post(client, report_form(key, long=None)), 400)
    assert "lat" in described(await post(client, report_form(key, lat=None)), 400)
    assert "long" in described(await post(client, report_form(key, long="")), 400)


async def test_no_location_at_all_is_400_naming_it_even_with_an_address(
    client: AsyncTestClient[Any], key: str
) -> None:
    text = described(await post(client, report_form(key, lat=None, long=None)), 400)
    assert "lat" in text and "long" in text
    assert "address_string" in text


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        ("91", "4.8"),
        ("-91", "4.8"),
        ("45.75", "181"),
        ("NaN", "4.8"),
        ("45.75", "Infinity"),
        ("1e400", "4.8"),
        ("48,85", "4.8"),
        ("abc", "4.8"),
        ("45.75\x00", "4.8"),
    ],
)
async def test_coordinates_out_of_range_or_not_numbers_are_400(
    client: AsyncTestClient[Any], key: str, lat: str, lon: str
) -> None:
    errors(await post(client, report_form(key, lat=lat, long=lon)), 400)


async def test_a_point_outside_the_territory_is_400_saying_so(
    client: AsyncTestClient[Any], key: str, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    before = await count_cases(sessionmaker)
    text = described(await post(client, report_form(key, lat="0", long="0")), 400)
    assert "hors du territoire" in text
    assert await count_cases(sessionmaker) == before


# ----- services and attributes ------------------------------------------------------------------


async def test_missing_service_code_is_400_unknown_is_404(
    client: AsyncTestClient[Any], key: str
) -> None:
    assert "service_code" in described(await post(client, report_form(key, service_code=None)), 400)
    assert "inconnue" in described(await post(client, report_form(key, service_code="nope")), 404)


async def test_unknown_jurisdiction_on_post_is_404(client: AsyncTestClient[Any], key: str) -> None:
    errors(await post(client, report_form(key, jurisdiction_id="99999")), 404)


async def _require_attribute(
    sm: async_sessionmaker[AsyncSession], tenant_id: Any, attributes: list[dict[str, Any]]
) -> None:
    async with sm() as s, s.begin():
        category = await s.scalar(
            select(StreetCategory).where(
                StreetCategory.tenant_id == tenant_id, StreetCategory.code == "chaussee"
            )
        )
        assert category is not None
        category.attributes = attributes


LISTS = [
    {
        "code": "types",
        "description": "Types de dégâts",
        "datatype": "multivaluelist",
        "required": True,
        "order": 1,
        "values": [{"key": "trou", "name": "Trou"}, {"key": "fissure", "name": "Fissure"}],
        "variable": True,
    },
    {
        "code": "profondeur",
        "description": "Profondeur (cm)",
        "datatype": "number",
        "required": False,
        "order": 2,
        "variable": True,
    },
    {
        "code": "info",
        "description": "Information seulement",
        "datatype": "string",
        "required": False,
        "order": 3,
        "variable": False,
    },
]


async def test_attributes_required_lists_numbers_and_information_only(
    client: AsyncTestClient[Any],
    key: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    territory: Seed,
) -> None:
    await _require_attribute(sessionmaker, territory.commune_id, LISTS)
    assert "types" in described(await post(client, report_form(key)), 400)
    bad_value = report_form(key, **{"attribute[types][]": "volcan"})
    assert "volcan" in described(await post(client, bad_value), 400)
    bad_number = report_form(key, **{"attribute[types]": "trou", "attribute[profondeur]": "abc"})
    assert "profondeur" in described(await post(client, bad_number), 400)
    pairs = [
        *report_form(key, description="Liste en []").items(),
        ("attribute[types][]", "trou"),
        ("attribute[types][]", "fissure"),
        ("attribute[profondeur]", "12.5"),
        ("attribute[info]", "ignoré"),
    ]
    r = await client.post(f"{BASE}/requests.json", content=encoded(pairs), headers=FORM)
    ref = created_id(r)
    repeated = [
        *report_form(key, description="Liste répétée").items(),
        ("attribute[types]", "trou"),
        ("attribute[types]", "fissure"),
    ]
    r2 = await client.post(f"{BASE}/requests.json", content=encoded(repeated), headers=FORM)
    ref2 = created_id(r2)
    async with sessionmaker() as s:
        rows = {
            r.reference: r
            for r in await s.scalars(
                select(StreetReport).where(StreetReport.reference.in_([ref, ref2]))
            )
        }
    assert rows[ref].attributes == {"types": ["fissure", "trou"], "profondeur": 12.5}
    assert rows[ref2].attributes == {"types": ["fissure", "trou"]}


async def test_unknown_attributes_on_a_service_without_definition_are_accepted(
    client: AsyncTestClient[Any], key: str
) -> None:
    body = report_form(key, service_code="mobilier", **{"attribute[What is this?]": "un banc"})
    assert created_id(await post(client, body))


# ----- bodies -----------------------------------------------------------------------------------


async def test_a_json_body_is_400_naming_the_expected_type(
    client: AsyncTestClient[Any], key: str
) -> None:
    r = await client.post(f"{BASE}/requests.json", json=report_form(key))
    assert "application/x-www-form-urlencoded" in described(r, 400)


async def test_an_xml_body_is_accepted(client: AsyncTestClient[Any], key: str) -> None:
    lat, lon = POINT_IN_A
    raw = (
        f'<?xml version="1.0" encoding="utf-8"?><service_request><api_key>{key}</api_key>'
        f"<service_code>chaussee</service_code><lat>{lat}</lat><long>{lon}</long>"
        '<attribute code="dangerosite">non</attribute>'
        "<description>Déposé en XML 🧾</description></service_request>"
    ).encode()
    r = await client.post(
        f"{BASE}/requests.json", content=raw, headers={"Content-Type": "text/xml; charset=utf-8"}
    )
    assert (await get_request(client, created_id(r)))["description"] == "Déposé en XML 🧾"


async def test_xml_with_a_doctype_or_entities_is_refused_and_nothing_is_created(
    client: AsyncTestClient[Any], key: str, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    before = await count_cases(sessionmaker)
    lat, lon = POINT_IN_A
    raw = (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">'
        f"]><service_request><api_key>{key}</api_key><service_code>chaussee</service_code>"
        f"<lat>{lat}</lat><long>{lon}</long><description>&b;</description></service_request>"
    ).encode()
    r = await client.post(
        f"{BASE}/requests.xml", content=raw, headers={"Content-Type": "application/xml"}
    )
    assert "DOCTYPE" in described(r, 400)
    assert await count_cases(sessionmaker) == before


async def test_invalid_utf8_is_400_never_500(client: AsyncTestClient[Any], key: str) -> None:
    raw = encoded(list(report_form(key).items())) + b"&description=%FF%FE"
    r = await client.post(f"{BASE}/requests.json", content=raw, headers=FORM)
    assert "UTF-8" in described(r, 400)
    r = await client.post(
        f"{BASE}/requests.json",
        content=b"\xff\xfe\x00garbage",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=latin-1"},
    )
    errors(r, 400)


async def test_nul_characters_in_text_fields_are_400(
    client: AsyncTestClient[Any], key: str
) -> None:
    for field in ("description", "address_string", "email", "first_name"):
        errors(await post(client, report_form(key, **{field: "a\x00b"})), 400)


async def test_an_unknown_content_type_is_400(client: AsyncTestClient[Any], key: str) -> None:
    r = await client.post(
        f"{BASE}/requests.json", content=b"hello", headers={"Content-Type": "text/plain"}
    )
    assert "text/plain" in described(r, 400)


# ----- media ------------------------------------------------------------------------------------


async def test_a_multipart_photo_becomes_the_media_url(
    client: AsyncTestClient[Any], key: str
) -> None:
    r = await client.post(
        f"{BASE}/requests.json",
        data=report_form(key),
        files={"photo1": ("trou.jpg", jpeg(), "image/jpeg")},
    )
    item = await get_request(client, created_id(r))
    ref = item["service_request_id"]
    assert item["media_url"].startswith("http")
    assert item["media_url"].endswith(f"/api/v1/signalements/{ref}/photos/1")


async def test_a_data_uri_image_is_a_photo(client: AsyncTestClient[Any], key: str) -> None:
    uri = "data:image/jpeg;base64," + base64.b64encode(jpeg()).decode()
    r = await post(client, report_form(key, media_url=uri))
    item = await get_request(client, created_id(r))
    assert "/photos/1" in item["media_url"]


async def test_a_remote_media_url_is_kept_as_a_link_and_said_so(
    client: AsyncTestClient[Any], key: str, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    url = "https://photos.example.org/p/1.jpg"
    r = await post(client, report_form(key, media_url=url))
    ref = created_id(r)
    assert "media_url" in r.json()[0]["service_notice"]
    async with sessionmaker() as s:
        row = await s.scalar(select(StreetReport).where(StreetReport.reference == ref))
        assert row is not None
        case = await s.get(Case, row.case_id)
        assert case is not None and case.channel_data is not None
        assert case.channel_data["open311"]["media_urls"] == [url]


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "file:///etc/passwd",
        "http://169.254.169.254/",
        "http://10.1.2.3/a.jpg",
    ],
)
async def test_dangerous_media_urls_are_400(
    client: AsyncTestClient[Any], key: str, url: str
) -> None:
    assert "media_url" in described(await post(client, report_form(key, media_url=url)), 400)


async def test_a_file_that_is_not_an_image_is_refused(
    client: AsyncTestClient[Any], key: str, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    before = await count_cases(sessionmaker)
    r = await client.post(
        f"{BASE}/requests.json",
        data=report_form(key),
        files={"photo1": ("photo.jpg", b"%PDF-1.7 not an image", "image/jpeg")},
    )
    errors(r, 400)
    assert await count_cases(sessionmaker) == before


async def test_more_than_three_photos_are_refused(client: AsyncTestClient[Any], key: str) -> None:
    files = {f"photo{i}": (f"p{i}.jpg", jpeg(), "image/jpeg") for i in range(1, 5)}
    text = described(
        await client.post(f"{BASE}/requests.json", data=report_form(key), files=files), 400
    )
    assert "3" in text


async def test_a_50_mb_photo_is_413(client: AsyncTestClient[Any], key: str) -> None:
    big = b"\xff\xd8\xff" + b"\0" * (50 * 1024 * 1024)
    r = await client.post(
        f"{BASE}/requests.json",
        data=report_form(key),
        files={"photo1": ("big.jpg", big, "image/jpeg")},
    )
    errors(r, 413)


async def test_an_unexpected_file_field_is_400(client: AsyncTestClient[Any], key: str) -> None:
    r = await client.post(
        f"{BASE}/requests.json",
        data=report_form(key),
        files={"document": ("x.jpg", jpeg(), "image/jpeg")},
    )
    assert "document" in described(r, 400)


# ----- idempotence ------------------------------------------------------------------------------


async def test_the_same_post_twice_within_a_minute_gives_the_same_id(
    client: AsyncTestClient[Any],
    key: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
) -> None:
    from datetime import timedelta

    first = created_id(await post(client, report_form(key)))
    clock.advance(timedelta(seconds=30))
    again = await post(client, report_form(key))
    assert created_id(again) == first
    assert "déjà reçu" in again.json()[0]["service_notice"]
    clock.advance(timedelta(minutes=5))
    later = created_id(await post(client, report_form(key)))
    assert later != first
    assert (
        "semblables"
        in (await post(client, report_form(key, description="Autre trou"))).json()[0][
            "service_notice"
        ]
    )


async def test_an_idempotency_key_header_makes_a_retry_safe_for_good(
    client: AsyncTestClient[Any], key: str, clock: FrozenClock
) -> None:
    from datetime import timedelta

    headers = {"Idempotency-Key": "app-report-42"}
    first = created_id(await post(client, report_form(key), headers=headers))
    clock.advance(timedelta(hours=2))
    assert created_id(await post(client, report_form(key), headers=headers)) == first


async def test_two_apps_posting_the_same_text_get_two_reports(
    client: AsyncTestClient[Any],
    key: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
) -> None:
    other = await api_key(sessionmaker, clock, name="Autre appli")
    assert created_id(await post(client, report_form(key))) != created_id(
        await post(client, report_form(other))
    )
