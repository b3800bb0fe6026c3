"""Settings of the supplier invoices procedure (``GUICHET_SUPPLIER_INVOICES_*``).

The legal figures (30 days, 20 + 10, 8 points, 40 euros) are settings with the law in force as
default because a decree changes them. The ECB rate is configuration, never fetched: finance
enters the main refinancing operations rate in force on the first day of each half-year.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SupplierInvoiceSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GUICHET_SUPPLIER_INVOICES_", extra="ignore", env_file=None
    )

    service_code: str = Field(
        default="finances",
        max_length=60,
        description="Code of the tenant service receiving supplier invoices (the finance "
        "department; its address goes on the rejection notice). Read when the definitions load.",
    )
    payment_days: int = Field(
        default=30,
        ge=1,
        le=60,
        description="Délai global de paiement in days (R2192-10: 30 days for collectivités "
        "territoriales and their établissements publics).",
    )
    ordonnateur_days: int = Field(
        default=20,
        ge=1,
        description="The ordonnateur's share of the DGP (reception → mandatement), the rest "
        "being the comptable public's (DGFiP circular of 15 April 2013: 20 + 10).",
    )
    ecb_rate_percent: Decimal = Field(
        default=Decimal("2.15"),
        ge=0,
        description="ECB main refinancing rate (percent) used when no half-year rate is set in "
        "``ecb_rates_percent`` (R2192-31).",
    )
    ecb_rates_percent: dict[str, Decimal] = Field(
        default_factory=dict,
        description='ECB rate in force on the first day of each half-year, e.g. {"2026-H1": '
        '"2.15", "2026-H2": "2.15"} (R2192-31: the rate of the half-year in which the '
        "interest starts to run).",
    )
    penalty_points: Decimal = Field(
        default=Decimal("8"),
        ge=0,
        description="Points added to the ECB rate for moratorium interest (R2192-31: 8).",
    )
    flat_indemnity: Decimal = Field(
        default=Decimal("40"),
        ge=0,
        description="Flat indemnity for recovery costs in euros (D2192-35: 40).",
    )
    alert_days: tuple[int, ...] = Field(
        default=(10, 5, 2),
        description="Days before the end of the DGP at which the cron records an alert on the "
        "invoice (each once).",
    )
    require_service_code: bool = Field(
        default=True,
        description="Refuse an invoice without code service (BT-10). Chorus Pro lets each "
        "structure require 'service', 'engagement', both or either: the default is both "
        "(D2192-2 CCP lists them as mandatory mentions for public buyers).",
    )
    require_engagement: bool = Field(
        default=True,
        description="Refuse an invoice (not a credit note) without engagement / purchase "
        "order number (BT-13).",
    )
    near_deadline_days: int = Field(
        default=10,
        ge=0,
        description="Default horizon of the finance view 'invoices near the payment deadline'.",
    )


@lru_cache
def get_supplier_invoice_settings() -> SupplierInvoiceSettings:
    return SupplierInvoiceSettings()
