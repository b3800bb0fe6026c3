"""Lenient, well-defined GeoReport v2 input: strict in what Guichet emits, lenient in what it reads.

Decisions (open311.md §8 and §12):
- A parameter sent empty is treated as absent (``jurisdiction_id=`` is no jurisdiction).
- Dates are ISO 8601; a date without a zone is read in **Europe/Paris** (the legal time zone of
  every tenant), a bare date (``2026-03-01``) is midnight in Paris. ``2024-02-30`` → 400.
- ``status`` lists are comma-separated and case-insensitive (``OPEN``, ``open,closed``).
- ``true``/``false`` (any case, also ``1``/``0``, ``yes``/``no``) are booleans.
- Attributes: ``attribute[code]=v``; multi-valued lists as ``attribute[code][]=v1&…`` or as the
  same ``attribute[code]`` repeated. Codes may hold any character but control characters.
- Text: control characters other than TAB, CR and LF are refused (400 naming the field); CRLF is
  kept as sent; lengths are counted in characters (code points), not bytes.
- Form bodies are UTF-8 whatever the announced charset; invalid UTF-8 → 400.
- XML bodies (accepted as an alternative to the form, see ``xml_form``) are parsed with defusedxml:
  a DOCTYPE, an entity declaration or an external reference makes the whole body refused before
  any of it is read.
"""

from __future__ import annotations

import ipaddress
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import defusedxml.ElementTree as DefusedET
from defusedxml import DefusedXmlException

from services.kernel.errors import ValidationFailed

PARIS = ZoneInfo("Europe/Paris")
WINDOW = timedelta(days=90)
"""GeoReport v2: the default window of GET requests, and the longest span of start/end dates."""
MAX_REQUESTS = 1000
MAX_IDS = 1000
MAX_FIELD_CHARS = 4000
MAX_ATTRIBUTES = 100
MAX_ID_CHARS = 100

Pairs = list[tuple[str, str]]


def invalid(field_name: str, message: str, detail: str | None = None) -> ValidationFailed:
    return ValidationFailed(
        detail or f"Paramètre « {field_name} » invalide : {message}.",
        errors=[{"field": field_name, "message": message, "type": "invalid"}],
    )


# ----- raw bodies and query strings ---------------------------------------------------------------


def parse_urlencoded(raw: bytes, where: str = "corps") -> Pairs:
    """Decode ``a=1&b=2`` as UTF-8 (strict); blank values kept (then treated as absent)."""
    try:
        return parse_qsl(
            raw.decode("utf-8"), keep_blank_values=True, encoding="utf-8", errors="strict"
        )
    except (UnicodeDecodeError, ValueError):
        raise ValidationFailed(
            f"Le {where} de la requête n'est pas de l'UTF-8 valide : envoyez le texte en UTF-8.",
            errors=[{"field": f"({where})", "message": "UTF-8 invalide", "type": "encoding"}],
        ) from None


def xml_form(raw: bytes) -> Pairs:
    """An XML body as form fields: each child of the root is a field (``<service_code>``), an
    ``<attribute code="c">v</attribute>`` child is ``attribute[c]``. Parsed by defusedxml with
    DTDs, entities and external references forbidden: nothing of a hostile document is read."""
    try:
        root = DefusedET.fromstring(
            raw, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException:
        raise ValidationFailed(
            "Le document XML contient une déclaration DOCTYPE, des entités ou une référence "
            "externe : refusé sans être lu. Envoyez un XML sans DOCTYPE, ou un formulaire.",
            errors=[{"field": "(corps)", "message": "DOCTYPE ou entités refusés", "type": "xml"}],
        ) from None
    except (DefusedET.ParseError, ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed(
            f"Le document XML est mal formé ({str(exc)[:120]}).",
            errors=[{"field": "(corps)", "message": "XML mal formé", "type": "xml"}],
        ) from None
    pairs: Pairs = []
    for child in root:
        tag = child.tag.rsplit("}", 1)[-1] if isinstance(child.tag, str) else ""
        if not tag:
            continue
        if tag == "attribute" and child.get("code"):
            pairs.append((f"attribute[{child.get('code')}]", (child.text or "").strip()))
        elif len(child) == 0:
            pairs.append((tag, (child.text or "").strip()))
    return pairs


# ----- fields --------------------------------------------------------------------------------------


def _control(value: str, multiline: bool) -> bool:
    allowed = "\t\r\n" if multiline else "\t"
    return any(unicodedata.category(ch) in ("Cc", "Cs") and ch not in allowed for ch in value)


@dataclass
class Fields:
    """Form or query fields. Empty values are absent; repeated fields are kept in order."""

    pairs: Pairs
    _map: dict[str, list[str]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        for key, value in self.pairs:
            if value.strip() == "":
                continue
            self._map.setdefault(key, []).append(value)

    def names(self) -> set[str]:
        return set(self._map)

    def all(self, name: str) -> list[str]:
        return list(self._map.get(name, []))

    def text(
        self, name: str, *, max_chars: int = 300, multiline: bool = False, strip: bool = True
    ) -> str | None:
        """A single text value (the first when repeated), checked for control characters."""
        values = self._map.get(name)
        if not values:
            return None
        value = values[0].strip() if strip else values[0]
        if _control(value, multiline):
            raise invalid(name, "caractère de contrôle refusé (par exemple le caractère nul)")
        if len(value) > max_chars:
            raise invalid(
                name,
                f"texte trop long ({len(value)} caractères, au plus {max_chars})",
                f"« {name} » est trop long : {len(value)} caractères pour {max_chars} au plus.",
            )
        return value or None

    def first_of(self, *names: str, max_chars: int = 300) -> str | None:
        for name in names:
            value = self.text(name, max_chars=max_chars)
            if value is not None:
                return value
        return None


def comma_list(value: str | None, name: str, *, max_items: int = MAX_IDS) -> list[str]:
    """``a, b,,c`` → [a, b, c]; spaces around items ignored."""
    if value is None:
        return []
    items = [item.strip() for item in value.split(",")]
    items = [item for item in items if item]
    if len(items) > max_items:
        raise invalid(name, f"au plus {max_items} valeurs")
    for item in items:
        if len(item) > MAX_ID_CHARS or _control(item, False):
            raise invalid(name, f"valeur invalide : {item[:40]!r}")
    return list(dict.fromkeys(items))


def boolean(value: str | None, name: str) -> bool | None:
    if value is None:
        return None
    word = value.strip().lower()
    if word in ("true", "1", "yes", "oui"):
        return True
    if word in ("false", "0", "no", "non"):
        return False
    raise invalid(name, "attendu : true ou false")


STATUSES = ("open", "closed")


def statuses(value: str | None) -> set[str] | None:
    """``open``, ``closed``, ``open,closed`` in any case; None: both."""
    items = {item.lower() for item in comma_list(value, "status", max_items=10)}
    unknown = sorted(items - set(STATUSES))
    if unknown:
        raise invalid(
            "status",
            f"valeur inconnue « {unknown[0][:40]} » (attendu : open, closed ou open,closed)",
        )
    if not items or items == set(STATUSES):
        return None
    return items


def instant(value: str | None, name: str) -> datetime | None:
    """ISO 8601; zone-less → Europe/Paris; a bare date → midnight in Paris."""
    if value is None:
        return None
    text = value.strip()
    if len(text) > 40:
        raise invalid(name, "date trop longue")
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(0), PARIS)
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise invalid(
            name,
            "date ISO 8601 attendue, par exemple 2026-03-01T10:00:00+01:00",
            f"« {name} » n'est pas une date valide ({text[:40]!r}) : attendu ISO 8601, "
            "par exemple 2026-03-01T10:00:00+01:00 (sans fuseau : heure de Paris).",
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=PARIS)
    return parsed


def window(
    start: datetime | None, end: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """The ``requested_datetime`` window of GET requests (GeoReport v2: at most 90 days).

    Decision: none → the last 90 days; only ``start_date`` → up to now; only ``end_date`` → the
    90 days before it; ``start_date`` after ``end_date`` or a span of more than 90 days → 400
    (not clamped: a client asking for more must learn it gets less)."""
    if start is None and end is None:
        return now - WINDOW, now
    if end is None:
        end = now
    if start is None:
        start = end - WINDOW
    if start > end:
        raise invalid(
            "start_date",
            "postérieure à end_date",
            "« start_date » est postérieure à « end_date » (maintenant quand elle manque) : "
            "corrigez l'intervalle.",
        )
    if end - start > WINDOW:
        raise invalid(
            "end_date",
            "intervalle de plus de 90 jours",
            "L'intervalle start_date – end_date dépasse 90 jours (limite GeoReport v2) : "
            "demandez plusieurs périodes successives.",
        )
    return start, end


# ----- attributes ----------------------------------------------------------------------------------


def attributes(pairs: Iterable[tuple[str, str]]) -> dict[str, str | list[str]]:
    """``attribute[c]=v`` → {c: v}; ``attribute[c][]`` or repeated ``attribute[c]`` → {c: [..]}.
    Empty values are absent."""
    found: dict[str, list[str]] = {}
    listed: set[str] = set()
    for key, value in pairs:
        if not key.startswith("attribute[") or not key.endswith("]"):
            continue
        inner = key[len("attribute[") : -1]
        if inner.endswith("]["):
            inner = inner[:-2]
            listed.add(inner)
        code = inner
        if not code or len(code) > MAX_ID_CHARS or _control(code, False):
            raise invalid("attribute", f"code d'attribut invalide : {code[:40]!r}")
        if _control(value, True):
            raise invalid(f"attribute[{code}]", "caractère de contrôle refusé")
        if len(value) > MAX_FIELD_CHARS:
            raise invalid(f"attribute[{code}]", f"texte trop long (au plus {MAX_FIELD_CHARS})")
        bucket = found.setdefault(code, [])
        if value.strip():
            bucket.append(value.strip())
    if len(found) > MAX_ATTRIBUTES:
        raise invalid("attribute", f"au plus {MAX_ATTRIBUTES} attributs")
    result: dict[str, str | list[str]] = {}
    for code, values in found.items():
        if code in listed or len(values) > 1:
            result[code] = values
        elif values:
            result[code] = values[0]
    return result


# ----- media URLs ----------------------------------------------------------------------------------


def check_media_url(value: str, name: str = "media_url") -> str:
    """An http(s) URL to a public host, or a ``data:image/…;base64,`` URI. ``javascript:``,
    ``file:`` and the like, credentials in the URL, and literal private, loopback or link-local
    addresses are refused (SSRF). Host names are checked again when fetched."""
    text = value.strip()
    if text.lower().startswith("data:"):
        if not text.lower().startswith("data:image/") or ";base64," not in text[:80].lower():
            raise invalid(name, "seules les images data:image/…;base64 sont acceptées")
        return text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise invalid(name, "URL invalide") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise invalid(name, "URL http(s) attendue (javascript:, file: et autres refusés)")
    if parts.username or parts.password:
        raise invalid(name, "identifiants interdits dans l'URL")
    if port is not None and port not in (80, 443, 8080, 8443):
        raise invalid(name, "port non autorisé")
    host = parts.hostname.strip("[]")
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(
        (".localhost", ".local", ".internal")
    ):
        raise invalid(name, "adresse locale refusée")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return text
    if not address.is_global:
        raise invalid(name, "adresse IP privée, locale ou réservée refusée")
    return text


def media_urls(values: Sequence[str]) -> list[str]:
    return [check_media_url(v) for v in values]


def describe(value: Any) -> str:
    """A short printable rendering of a bad value for messages."""
    return repr(str(value)[:40])
