"""Rendering: a pure function ``render(kind, context) -> bytes`` (Jinja2 HTML + weasyprint PDF).

Templates live in documents/templates/<kind>.html; a kind without its own template uses
``generic.html``. Fonts come from the system (Debian's fonts-dejavu), never from the network.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration

TEMPLATES = Path(__file__).resolve().parent / "templates"


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )


@lru_cache(maxsize=1)
def _assets() -> tuple[CSS, FontConfiguration]:
    fonts = FontConfiguration()
    css = CSS(filename=str(TEMPLATES / "print.css"), font_config=fonts)
    return css, fonts


def _no_network(url: str, *_: Any, **__: Any) -> dict[str, Any]:
    raise ValueError(f"external resource refused: {url}")


def render_html(kind: str, context: dict[str, Any]) -> str:
    env = _env()
    name = f"{kind}.html" if (TEMPLATES / f"{kind}.html").exists() else "generic.html"
    return env.get_template(name).render(kind=kind, **context)


def render(kind: str, context: dict[str, Any]) -> bytes:
    css, fonts = _assets()
    html = HTML(string=render_html(kind, context), base_url=str(TEMPLATES), url_fetcher=_no_network)
    pdf: bytes = html.write_pdf(stylesheets=[css], font_config=fonts, pdf_variant="pdf/a-3b")
    return pdf
