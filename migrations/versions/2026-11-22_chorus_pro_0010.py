"""chorus pro

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22 07:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.kernel.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "chorus_pull_cursor",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("siret", sa.String(length=14), nullable=False),
        sa.Column("structure_id", sa.String(length=30), nullable=True),
        sa.Column("since", sa.Date(), nullable=True),
        sa.Column("last_pull_at", services.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", services.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_chorus_pull_cursor_tenant_id_tenant")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chorus_pull_cursor")),
        sa.UniqueConstraint("siret", name=op.f("uq_chorus_pull_cursor_siret")),
    )
    with op.batch_alter_table("chorus_pull_cursor", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_chorus_pull_cursor_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "chorus_invoice",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("chorus_id", sa.String(length=30), nullable=False),
        sa.Column("siret", sa.String(length=14), nullable=False),
        sa.Column("number", sa.String(length=200), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("deposited_on", sa.Date(), nullable=False),
        sa.Column(
            "made_available_at", services.kernel.db.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("pulled_at", services.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case.id"], name=op.f("fk_chorus_invoice_case_id_case")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_chorus_invoice_tenant_id_tenant")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chorus_invoice")),
        sa.UniqueConstraint("case_id", name=op.f("uq_chorus_invoice_case_id")),
        sa.UniqueConstraint("chorus_id", name=op.f("uq_chorus_invoice_chorus_id")),
    )
    with op.batch_alter_table("chorus_invoice", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_chorus_invoice_tenant_id"), ["tenant_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("chorus_invoice", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chorus_invoice_tenant_id"))
    op.drop_table("chorus_invoice")
    with op.batch_alter_table("chorus_pull_cursor", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chorus_pull_cursor_tenant_id"))
    op.drop_table("chorus_pull_cursor")
