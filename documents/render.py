"""Rendering: a pure function ``render(kind, context) -> bytes`` (Jinja2 HTML + weasyprint PDF).

Templates live in documents/templates/<kind>.html and extend ``_layout.html``; a kind without its
own template uses ``generic.html``. Output is PDF/A-3b (archival; the Factur-X family) with a tagged
structure tree (headings, paragraphs, lists, the document language and title) for assistive
technologies. weasyprint writes one variant per file: its ``pdf/ua-1`` variant cannot be combined
with PDF/A, so the tags are added to the PDF/A-3b file without claiming PDF/UA conformance.

No network, ever: the URL fetcher serves ``data:`` URIs only (the tenant's logo) and refuses every
other URL, which stops the rendering. Fonts come from the system (Debian's fonts-dejavu-core).
The stylesheet and the font configuration are loaded once per process; renders are serialised
by a lock (weasyprint shares them, and the GIL gives threads no parallel speed-up anyway).
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

TEMPLATES = Path(__file__).resolve().parent / "templates"
DEFAULT_VARIANT = "pdf/a-3b"
_KIND = re.compile(r"[a-z][a-z0-9_]{0,59}")  # document kind names (never a path, never _layout)

_lock = threading.Lock()
_image_cache: dict[str, Any] = {}
"""Decoded images by URL (only data: URIs, i.e. the tenants' logos): shared between renders."""


class ExternalResourceRefused(ValueError):
    """A template referenced something other than a data: URI."""


class DataOnlyFetcher(URLFetcher):  # type: ignore[misc]  # weasyprint ships no types
    """Serves ``data:`` URIs (decoded by urllib, no I/O) and refuses everything else."""

    def __init__(self) -> None:
        super().__init__(allowed_protocols=("data",), allow_redirects=False, fail_on_errors=True)

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        if not url.lower().startswith("data:"):
            raise ExternalResourceRefused(f"ressource externe refusée : {url}")
        response: URLFetcherResponse = super().fetch(url, headers)
        return response


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@lru_cache(maxsize=1)
def _assets() -> tuple[CSS, FontConfiguration, DataOnlyFetcher]:
    fonts = FontConfiguration()
    fetcher = DataOnlyFetcher()
    css = CSS(filename=str(TEMPLATES / "print.css"), font_config=fonts, url_fetcher=fetcher)
    return css, fonts, fetcher


TEMPLATE_FAMILIES = ("cemeteries", "urbanism")
"""Sub-folders of templates/ holding one service's kinds (``cemeteries/concession_title.html``)."""


def template_for(kind: str) -> str:
    """``<kind>.html`` when the kind has its own template (or ``<family>/<kind>.html``), else
    ``generic.html``."""
    if _KIND.fullmatch(kind) and (TEMPLATES / f"{kind}.html").is_file():
        return f"{kind}.html"
    for family in TEMPLATE_FAMILIES:
        if _KIND.fullmatch(kind) and (TEMPLATES / family / f"{kind}.html").is_file():
            return f"{family}/{kind}.html"
    return "generic.html"


def render_html(kind: str, context: dict[str, Any]) -> str:
    """The document's HTML. A value the template needs but the context lacks is a ValueError.
    ``template_kind`` in the context: a family's variant of the kind (``contexts.KIND_VARIANTS``)."""
    try:
        template = template_for(str(context.get("template_kind") or kind))
        return _env().get_template(template).render({**context, "kind": kind})
    except jinja2.UndefinedError as exc:
        raise ValueError(
            f"Le document « {kind} » ne peut pas être établi : une donnée manque ({exc})."
        ) from exc


def render(kind: str, context: dict[str, Any], *, pdf_variant: str = DEFAULT_VARIANT) -> bytes:
    """The PDF of a document of ``kind`` (pure: same context, same text; no I/O but the fonts)."""
    html_text = render_html(kind, context)
    css, fonts, fetcher = _assets()
    with _lock:
        try:
            html = HTML(string=html_text, base_url=str(TEMPLATES), url_fetcher=fetcher)
            pdf: bytes = html.write_pdf(
                stylesheets=[css],
                font_config=fonts,
                pdf_variant=pdf_variant,
                pdf_tags=True,
                cache=_image_cache,
            )
        except FatalURLFetchingError as exc:
            # A BaseException in weasyprint: turned into an ordinary, reportable error.
            cause = exc.__cause__ or exc
            raise ExternalResourceRefused(
                f"Le document « {kind} » ne peut pas être établi : {cause}"
            ) from exc
    return pdf
