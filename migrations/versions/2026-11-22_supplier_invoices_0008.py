"""supplier invoices suppliers orders

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 03:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import services.kernel.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "invoice_buyer_siret",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("siret", sa.String(length=14), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_invoice_buyer_siret_tenant_id_tenant")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_buyer_siret")),
        sa.UniqueConstraint("siret", name=op.f("uq_invoice_buyer_siret_siret")),
    )
    with op.batch_alter_table("invoice_buyer_siret", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_invoice_buyer_siret_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "invoice_department",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_invoice_department_tenant_id_tenant")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_department")),
        sa.UniqueConstraint("tenant_id", "code", name=op.f("uq_invoice_department_tenant_id_code")),
    )
    with op.batch_alter_table("invoice_department", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_invoice_department_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "supplier",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("siren", sa.String(length=9), nullable=False),
        sa.Column("siret", sa.String(length=14), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("iban", sa.String(length=34), nullable=True),
        sa.Column(
            "contacts",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("organisation_id", sa.Uuid(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", services.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", services.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_supplier_organisation_id_organisation"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_supplier_tenant_id_tenant")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplier")),
        sa.UniqueConstraint("tenant_id", "siret", name=op.f("uq_supplier_tenant_id_siret")),
    )
    with op.batch_alter_table("supplier", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_supplier_organisation_id"), ["organisation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_supplier_siren"), ["siren"], unique=False)
        batch_op.create_index(batch_op.f("ix_supplier_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "purchase_order",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(length=100), nullable=False),
        sa.Column("department_code", sa.String(length=100), nullable=False),
        sa.Column("supplier_id", sa.Uuid(), nullable=True),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("remaining", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", services.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["supplier_id"], ["supplier.id"], name=op.f("fk_purchase_order_supplier_id_supplier")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_purchase_order_tenant_id_tenant")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchase_order")),
        sa.UniqueConstraint("tenant_id", "number", name=op.f("uq_purchase_order_tenant_id_number")),
    )
    with op.batch_alter_table("purchase_order", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_purchase_order_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "supplier_invoice",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("supplier_id", sa.Uuid(), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("number", sa.String(length=200), nullable=False),
        sa.Column("issue_date", sa.Date(), nullable=False),
        sa.Column("type_code", sa.String(length=3), nullable=False),
        sa.Column("seller_key", sa.String(length=14), nullable=False),
        sa.Column("seller_siren", sa.String(length=9), nullable=True),
        sa.Column("seller_siret", sa.String(length=14), nullable=True),
        sa.Column("seller_name", sa.String(length=200), nullable=True),
        sa.Column("buyer_siret", sa.String(length=14), nullable=True),
        sa.Column("department_code", sa.String(length=100), nullable=True),
        sa.Column("order_ref", sa.String(length=100), nullable=True),
        sa.Column("preceding_ref", sa.String(length=200), nullable=True),
        sa.Column("total_without_vat", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("total_vat", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("total_with_vat", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("amount_due", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("iban", sa.String(length=34), nullable=True),
        sa.Column("state", sa.String(length=60), nullable=False),
        sa.Column("chorus_status", sa.String(length=40), nullable=False),
        sa.Column("lifecycle_code", sa.String(length=3), nullable=False),
        sa.Column(
            "made_available_at", services.kernel.db.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("suspended_at", services.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("suspension_count", sa.Integer(), nullable=False),
        sa.Column("completed_at", services.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("dgp_due", sa.Date(), nullable=True),
        sa.Column("mandated_at", services.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("paid_at", services.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("live", sa.String(length=1), nullable=True),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "findings",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_at", services.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case.id"], name=op.f("fk_supplier_invoice_case_id_case")
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"], ["supplier.id"], name=op.f("fk_supplier_invoice_supplier_id_supplier")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_supplier_invoice_tenant_id_tenant")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplier_invoice")),
        sa.UniqueConstraint("case_id", name=op.f("uq_supplier_invoice_case_id")),
        sa.UniqueConstraint(
            "tenant_id",
            "seller_key",
            "number",
            "issue_date",
            "live",
            name=op.f("uq_supplier_invoice_tenant_id_seller_key_number_issue_date_live"),
        ),
    )
    with op.batch_alter_table("supplier_invoice", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_supplier_invoice_dgp_due"), ["dgp_due"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_supplier_invoice_supplier_id"), ["supplier_id"], unique=False
        )
        batch_op.create_index(
            "ix_supplier_invoice_tenant_state", ["tenant_id", "state"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("supplier_invoice", schema=None) as batch_op:
        batch_op.drop_index("ix_supplier_invoice_tenant_state")
        batch_op.drop_index(batch_op.f("ix_supplier_invoice_supplier_id"))
        batch_op.drop_index(batch_op.f("ix_supplier_invoice_dgp_due"))

    op.drop_table("supplier_invoice")
    with op.batch_alter_table("purchase_order", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_purchase_order_tenant_id"))

    op.drop_table("purchase_order")
    with op.batch_alter_table("supplier", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_supplier_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_supplier_siren"))
        batch_op.drop_index(batch_op.f("ix_supplier_organisation_id"))

    op.drop_table("supplier")
    with op.batch_alter_table("invoice_department", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invoice_department_tenant_id"))

    op.drop_table("invoice_department")
    with op.batch_alter_table("invoice_buyer_siret", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invoice_buyer_siret_tenant_id"))

    op.drop_table("invoice_buyer_siret")
