"""open311 api keys and updates

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 03:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.kernel.db

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('open311_api_key',
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('key_prefix', sa.String(length=16), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', services.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_agent_id', sa.Uuid(), nullable=True),
    sa.Column('revoked_at', services.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_by_agent_id', sa.Uuid(), nullable=True),
    sa.Column('last_used_at', services.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_agent_id'], ['agent.id'], name=op.f('fk_open311_api_key_created_by_agent_id_agent')),
    sa.ForeignKeyConstraint(['revoked_by_agent_id'], ['agent.id'], name=op.f('fk_open311_api_key_revoked_by_agent_id_agent')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], name=op.f('fk_open311_api_key_tenant_id_tenant')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_open311_api_key')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_open311_api_key_key_hash'))
    )
    with op.batch_alter_table('open311_api_key', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_open311_api_key_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('open311_update_receipt',
    sa.Column('api_key_id', sa.Uuid(), nullable=False),
    sa.Column('client_update_id', sa.String(length=100), nullable=False),
    sa.Column('case_id', sa.Uuid(), nullable=False),
    sa.Column('update_id', sa.String(length=100), nullable=False),
    sa.Column('created_at', services.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['api_key_id'], ['open311_api_key.id'], name=op.f('fk_open311_update_receipt_api_key_id_open311_api_key')),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], name=op.f('fk_open311_update_receipt_case_id_case')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_open311_update_receipt')),
    sa.UniqueConstraint('api_key_id', 'client_update_id', name=op.f('uq_open311_update_receipt_api_key_id_client_update_id'))
    )
    with op.batch_alter_table('open311_update_receipt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_open311_update_receipt_case_id'), ['case_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('open311_update_receipt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_open311_update_receipt_case_id'))

    op.drop_table('open311_update_receipt')
    with op.batch_alter_table('open311_api_key', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_open311_api_key_tenant_id'))

    op.drop_table('open311_api_key')
