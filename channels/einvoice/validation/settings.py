"""Settings of the e-invoice validation pipeline (``GUICHET_EINVOICE_*``)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class EinvoiceValidationSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GUICHET_EINVOICE_", extra="ignore", env_file=None)

    max_bytes: int = Field(
        default=20 * 1024 * 1024,
        ge=1024,
        description=(
            "Largest document accepted (XML or PDF), in bytes; checked before any parsing. "
            "Chorus Pro accepts 10 MB per attachment and 120 MB per invoice with attachments."
        ),
    )
    max_xml_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        description="Largest invoice XML, also when extracted from a Factur-X PDF, in bytes.",
    )
    max_xml_depth: int = Field(
        default=64,
        ge=8,
        le=256,
        description=(
            "Deepest element nesting accepted. EN 16931 documents need about 12 levels; "
            "libxml2 itself stops at 256."
        ),
    )
    max_pdf_objects: int = Field(
        default=20_000,
        ge=100,
        description="Most indirect objects a Factur-X PDF may declare (PDF bomb guard).",
    )
    max_pdf_attachments: int = Field(
        default=50, ge=1, description="Most embedded files a Factur-X PDF may carry."
    )
    non_utf8: Literal["warn", "reject"] = Field(
        default="warn",
        description=(
            "An XML declaring another encoding than UTF-8 (e.g. ISO-8859-1): 'warn' parses it "
            "from its bytes with the declared encoding and records the warning "
            "GUICHET-XML-ENCODING; 'reject' makes that finding fatal. EN 16931 does not forbid "
            "other encodings, Peppol and the French platforms expect UTF-8."
        ),
    )
    br_fr_enabled: bool = Field(
        default=False,
        description=(
            "Run the French rules (BR-FR 'Flux 2', FNFE-MPE, written for the 2026 B2B reform) "
            "after EN 16931. Off by default: they are not yet required for invoices to public "
            "buyers received through Chorus Pro."
        ),
    )


@lru_cache(maxsize=1)
def get_validation_settings() -> EinvoiceValidationSettings:
    return EinvoiceValidationSettings()
