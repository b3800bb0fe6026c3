"""einvoice deposits

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22 07:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import services.kernel.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "einvoice_deposit",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("api_client_id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=True),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("syntax", sa.String(length=40), nullable=True),
        sa.Column("profile", sa.String(length=200), nullable=True),
        sa.Column("verdict", sa.String(length=20), nullable=False),
        sa.Column("valid", sa.Boolean(), nullable=False),
        sa.Column(
            "report",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("message", sa.String(length=600), nullable=False),
        sa.Column("created_at", services.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_client_id"],
            ["api_client.id"],
            name=op.f("fk_einvoice_deposit_api_client_id_api_client"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case.id"], name=op.f("fk_einvoice_deposit_case_id_case")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_einvoice_deposit_organisation_id_organisation"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_einvoice_deposit_tenant_id_tenant")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_einvoice_deposit")),
        sa.UniqueConstraint(
            "api_client_id",
            "idempotency_key",
            name=op.f("uq_einvoice_deposit_api_client_id_idempotency_key"),
        ),
    )
    with op.batch_alter_table("einvoice_deposit", schema=None) as batch_op:
        batch_op.create_index(
            "ix_einvoice_deposit_client_created", ["api_client_id", "created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_einvoice_deposit_case_id"), ["case_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_einvoice_deposit_tenant_id"), ["tenant_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("einvoice_deposit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_einvoice_deposit_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_einvoice_deposit_case_id"))
        batch_op.drop_index("ix_einvoice_deposit_client_created")
    op.drop_table("einvoice_deposit")
