"""HTTP helpers shared by the identity controllers: session cookie, client address, safe redirects."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from litestar import Request
from litestar.datastructures import Cookie

from identity.models import WebSession
from identity.sessions import CSRF_FORM_FIELD, SessionSettings, csrf_matches, session_settings
from services.kernel.errors import Forbidden
from services.kernel.settings import api_settings

DEFAULT_AFTER_LOGIN = "/"


def client_ip(request: Request[Any, Any, Any]) -> str | None:
    """The peer address (a reverse proxy must be configured to pass the real one)."""
    client = request.client
    return client.host if client else None


def user_agent(request: Request[Any, Any, Any]) -> str | None:
    return request.headers.get("user-agent")


def session_cookie(token: str, settings: SessionSettings | None = None) -> Cookie:
    cfg = settings or session_settings()
    return Cookie(
        key=cfg.cookie_name,
        value=token,
        path="/",
        httponly=True,
        secure=cfg.cookie_secure,
        samesite="lax",
        max_age=cfg.absolute_hours * 3600,
    )


def expired_session_cookie(settings: SessionSettings | None = None) -> Cookie:
    cfg = settings or session_settings()
    return Cookie(
        key=cfg.cookie_name,
        value="",
        path="/",
        httponly=True,
        secure=cfg.cookie_secure,
        samesite="lax",
        max_age=0,
    )


def session_token(request: Request[Any, Any, Any]) -> str | None:
    return request.cookies.get(session_settings().cookie_name)


def safe_next(value: str | None) -> str:
    """Where to send the browser after login: a path of ours only, never another site.

    Refuses absolute URLs, scheme-relative ``//evil``, backslash tricks ``/\\evil``, control
    characters; anything refused becomes the default page (RFC 9700 §4.11: no open redirector)."""
    if not value or len(value) > 500:
        return DEFAULT_AFTER_LOGIN
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return DEFAULT_AFTER_LOGIN
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return DEFAULT_AFTER_LOGIN
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return DEFAULT_AFTER_LOGIN
    return value


def public_base_url() -> str:
    cfg = api_settings()
    return (cfg.public_url or f"http://{cfg.host}:{cfg.port}").rstrip("/")


def check_form_csrf(record: WebSession | None, given: str | None) -> None:
    """For HTML form posts (``opt={"csrf": "form"}``): the form's ``csrf_token`` field."""
    if record is None or not csrf_matches(record.csrf_token, given):
        raise Forbidden(
            "Jeton anti-falsification (CSRF) manquant ou invalide : rechargez la page puis "
            f"recommencez (champ « {CSRF_FORM_FIELD} »)."
        )
