"""urbanism files and numbering counters

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 07:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import services.kernel.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "urbanism_counter",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("nature", sa.String(length=4), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"]),
        sa.PrimaryKeyConstraint("tenant_id", "nature", "year"),
    )
    op.create_table(
        "urbanism_file",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("permit_type", sa.String(length=10), nullable=False),
        sa.Column("file_kind", sa.String(length=20), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("filed_on", sa.Date(), nullable=False),
        sa.Column("applicant_name", sa.String(length=300), nullable=False),
        sa.Column("address", sa.String(length=400), nullable=False),
        sa.Column("parcels", sa.String(length=400), nullable=False),
        sa.Column("state", sa.String(length=40), nullable=False),
        sa.Column("facts", _JSON, nullable=False),
        sa.Column("timeline", _JSON, nullable=False),
        sa.Column("tacit_on", sa.Date(), nullable=True),
        sa.Column("next_legal_on", sa.Date(), nullable=True),
        sa.Column("next_legal_key", sa.String(length=60), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("decision", sa.String(length=40), nullable=True),
        sa.Column("alerted_for", sa.Date(), nullable=True),
        sa.Column("updated_at", services.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.ForeignKeyConstraint(["parent_id"], ["urbanism_file.id"]),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id"),
        sa.UniqueConstraint("tenant_id", "number"),
    )
    with op.batch_alter_table("urbanism_file", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_urbanism_file_tenant_id"), ["tenant_id"], unique=False
        )
        batch_op.create_index(
            "ix_urbanism_file_tenant_next", ["tenant_id", "next_legal_on"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("urbanism_file", schema=None) as batch_op:
        batch_op.drop_index("ix_urbanism_file_tenant_next")
        batch_op.drop_index(batch_op.f("ix_urbanism_file_tenant_id"))
    op.drop_table("urbanism_file")
    op.drop_table("urbanism_counter")
