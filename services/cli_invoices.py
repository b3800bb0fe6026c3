"""`guichet invoices …`: e-invoice validation."""

from __future__ import annotations

import click


@click.group(help="Factures électroniques : validation.")
def invoices() -> None:
    pass
