"""A small "browser" for the federation tests: one cookie jar, redirects followed by hand.

It wraps one ``httpx.AsyncClient`` with ``follow_redirects=False``. Requests to
``https://guichet.test`` (or any other origin given in ``mounts``) go to an ASGI app in-process;
everything else (the local OpenID providers) goes over the network. The caller runs the apps'
lifespans.

    async with Browser(app) as browser:
        r = await browser.get("https://guichet.test/auth/franceconnect/login")
        r = await browser.follow(r)                      # lands on the provider's login form
        r = await browser.login_at_provider(r, "marie")  # ... and back to Guichet's callback
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from types import TracebackType
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

GUICHET_ORIGIN = "https://guichet.test"
REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Pages that a real browser submits by itself (oidc-provider's form_post pages, e.g. the logout
# of the previous account when another one logs in on the same browser).
AUTO_SUBMIT = re.compile(r"document\.forms\[0\]\.submit\(\)")


@dataclass
class Form:
    """A parsed HTML form: where it goes, and the fields a browser would send."""

    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    submit: tuple[str, str] | None = None  # first named submit button (name, value)
    form_id: str | None = None


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._by_id: dict[str, Form] = {}
        self._current: Form | None = None
        self._textarea: tuple[Form, str] | None = None
        self._textarea_text: list[str] = []
        self._select: tuple[Form, str] | None = None

    def _owner(self, attrs: Mapping[str, str | None]) -> Form | None:
        form_attr = attrs.get("form")
        if form_attr:
            return self._by_id.get(form_attr)
        return self._current

    def handle_starttag(self, tag: str, attrs_list: list[tuple[str, str | None]]) -> None:
        attrs = dict(attrs_list)
        if tag == "form":
            new = Form(
                action=attrs.get("action") or "",
                method=(attrs.get("method") or "get").upper(),
                form_id=attrs.get("id"),
            )
            self.forms.append(new)
            if new.form_id:
                self._by_id[new.form_id] = new
            self._current = new
            return
        form = self._owner(attrs)
        if form is None:
            return
        name = attrs.get("name")
        kind = (attrs.get("type") or ("submit" if tag == "button" else "text")).lower()
        if tag == "input" and name:
            if kind in {"submit", "image", "button", "reset", "file"}:
                if kind == "submit" and form.submit is None:
                    form.submit = (name, attrs.get("value") or "")
                return
            if kind in {"checkbox", "radio"} and "checked" not in attrs:
                return
            form.fields[name] = attrs.get("value") or ("on" if kind == "checkbox" else "")
            form.inputs.append(name)
        elif tag == "button" and kind == "submit" and name and form.submit is None:
            form.submit = (name, attrs.get("value") or "")
        elif tag == "textarea" and name:
            self._textarea = (form, name)
            self._textarea_text = []
        elif tag == "select" and name:
            form.inputs.append(name)
            form.fields.setdefault(name, "")
            self._select = (form, name)
        elif tag == "option" and self._select is not None and "selected" in attrs:
            sel_form, sel_name = self._select
            sel_form.fields[sel_name] = attrs.get("value") or ""

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea_text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None
        elif tag == "textarea" and self._textarea is not None:
            form, name = self._textarea
            form.fields[name] = "".join(self._textarea_text)
            form.inputs.append(name)
            self._textarea = None
        elif tag == "select":
            self._select = None


def parse_forms(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    parser.close()
    return parser.forms


class BrowserError(AssertionError):
    """The page is not what the test expected (no form, too many redirects, ...)."""


class Browser:
    """One cookie jar, manual redirects, HTML forms.

    ``app`` is mounted at ``https://guichet.test``; ``mounts`` adds other in-process origins
    (``{"https://rp.test": asgi_app}``). ``history`` lists every URL requested, in order.
    """

    def __init__(
        self,
        app: Any = None,
        *,
        mounts: Mapping[str, Any] | None = None,
        timeout: float = 10.0,
    ) -> None:
        transports: dict[str, httpx.AsyncBaseTransport] = {}
        if app is not None:
            transports[GUICHET_ORIGIN] = httpx.ASGITransport(app=app)
        for origin, asgi in (mounts or {}).items():
            transports[origin] = httpx.ASGITransport(app=asgi)
        self.client = httpx.AsyncClient(mounts=transports, follow_redirects=False, timeout=timeout)
        self.history: list[str] = []

    async def __aenter__(self) -> Browser:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.client.aclose()

    @property
    def cookies(self) -> httpx.Cookies:
        return self.client.cookies

    # ----- plain requests ----------------------------------------------------------------

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        self.history.append(url)
        return await self.client.request(method, url, **kwargs)

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", url, **kwargs)

    # ----- navigation --------------------------------------------------------------------

    async def follow(self, response: httpx.Response, max_hops: int = 20) -> httpx.Response:
        """Follow 30x redirects like a browser; return the first response that stays.

        301/302/303 become GET; 307/308 repeat the method and body. A page whose script submits
        its first form on load is submitted too, as a browser with JavaScript would.
        """
        for _ in range(max_hops):
            if response.status_code not in REDIRECTS:
                if not self._auto_submits(response):
                    return response
                response = await self.submit(response, self.forms(response)[0], follow=False)
                continue
            location = response.headers.get("location")
            if not location:
                raise BrowserError(f"{response.status_code} without Location from {response.url}")
            target = urljoin(str(response.url), location)
            if response.status_code in {307, 308}:
                request = response.request
                response = await self.request(
                    request.method,
                    target,
                    content=request.content,
                    headers={"content-type": request.headers.get("content-type", "")},
                )
            else:
                response = await self.get(target)
        if response.status_code in REDIRECTS or self._auto_submits(response):
            raise BrowserError(f"more than {max_hops} redirects; last: {self.history[-5:]}")
        return response

    def _auto_submits(self, response: httpx.Response) -> bool:
        kind = response.headers.get("content-type", "")
        return (
            response.status_code == 200
            and kind.startswith("text/html")
            and AUTO_SUBMIT.search(response.text) is not None
            and bool(self.forms(response))
        )

    def forms(self, response: httpx.Response) -> list[Form]:
        return parse_forms(response.text)

    async def submit(
        self,
        response: httpx.Response,
        form: Form,
        overrides: Mapping[str, str] | None = None,
        *,
        follow: bool = True,
    ) -> httpx.Response:
        """Submit ``form`` found on ``response`` (action resolved against the page URL)."""
        data = dict(form.fields)
        if form.submit is not None:
            data.setdefault(*form.submit)
        data.update(overrides or {})
        target = urljoin(str(response.url), form.action or str(response.url))
        if form.method == "POST":
            result = await self.post(target, data=data)
        else:
            split = urlsplit(target)
            result = await self.get(split._replace(query="").geturl(), params=data)
        return await self.follow(result) if follow else result

    async def submit_first_form(
        self,
        response: httpx.Response,
        overrides: Mapping[str, str] | None = None,
        *,
        follow: bool = True,
    ) -> httpx.Response:
        """Submit the page's first form (e.g. the provider's logout confirmation)."""
        response = await self.follow(response)
        forms = self.forms(response)
        if not forms:
            raise BrowserError(
                f"no form on {response.url} ({response.status_code}):\n{response.text[:500]}"
            )
        return await self.submit(response, forms[0], overrides, follow=follow)

    async def login_at_provider(
        self,
        response: httpx.Response,
        account: str,
        acr: str | None = None,
        amr: str | None = None,
        *,
        follow: bool = True,
    ) -> httpx.Response:
        """Log ``account`` in on the test provider's interaction page, then follow redirects.

        ``response`` may still be a redirect towards the page. ``acr`` defaults to the first
        requested ``acr_values`` (the form's default), ``amr`` to ``pwd``.
        """
        response = await self.follow(response)
        login = next((f for f in self.forms(response) if "account" in f.inputs), None)
        if login is None:
            raise BrowserError(
                f"no login form on {response.url} ({response.status_code}):\n{response.text[:500]}"
            )
        overrides = {"account": account}
        if acr is not None:
            overrides["acr"] = acr
        if amr is not None:
            overrides["amr"] = amr
        return await self.submit(response, login, overrides, follow=follow)

    async def abort_at_provider(self, response: httpx.Response) -> httpx.Response:
        """Press "Annuler" on the provider's login page: the RP gets ``error=access_denied``."""
        response = await self.follow(response)
        abort = next((f for f in self.forms(response) if f.action.endswith("/abort")), None)
        if abort is None:
            raise BrowserError(f"no abort form on {response.url}:\n{response.text[:500]}")
        return await self.submit(response, abort)
