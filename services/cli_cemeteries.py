"""`guichet cemeteries …`: registry import and export."""

from __future__ import annotations

import click


@click.group(help="Cimetières : registre, import et export.")
def cemeteries() -> None:
    pass
