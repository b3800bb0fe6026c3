"""street reports categories departments boundaries

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 03:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import services.kernel.db

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('street_department',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('code', sa.String(length=60), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], name=op.f('fk_street_department_tenant_id_tenant')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_street_department')),
    sa.UniqueConstraint('tenant_id', 'code', name=op.f('uq_street_department_tenant_id_code'))
    )
    with op.batch_alter_table('street_department', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_street_department_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('tenant_boundary',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('geojson', JSON, nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('updated_at', services.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], name=op.f('fk_tenant_boundary_tenant_id_tenant')),
    sa.PrimaryKeyConstraint('tenant_id', name=op.f('pk_tenant_boundary'))
    )
    op.create_table('street_category',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('code', sa.String(length=60), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('group', sa.String(length=100), nullable=False),
    sa.Column('keywords', sa.String(length=300), nullable=False),
    sa.Column('department_id', sa.Uuid(), nullable=False),
    sa.Column('sla_working_days', sa.Integer(), nullable=False),
    sa.Column('attributes', JSON, nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('updated_at', services.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['street_department.id'], name=op.f('fk_street_category_department_id_street_department')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], name=op.f('fk_street_category_tenant_id_tenant')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_street_category')),
    sa.UniqueConstraint('tenant_id', 'code', name=op.f('uq_street_category_tenant_id_code'))
    )
    with op.batch_alter_table('street_category', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_street_category_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('street_department_member',
    sa.Column('department_id', sa.Uuid(), nullable=False),
    sa.Column('agent_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agent.id'], name=op.f('fk_street_department_member_agent_id_agent')),
    sa.ForeignKeyConstraint(['department_id'], ['street_department.id'], name=op.f('fk_street_department_member_department_id_street_department')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_street_department_member')),
    sa.UniqueConstraint('department_id', 'agent_id', name=op.f('uq_street_department_member_department_id_agent_id'))
    )
    with op.batch_alter_table('street_department_member', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_street_department_member_agent_id'), ['agent_id'], unique=False)

    op.create_table('street_report',
    sa.Column('case_id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('reference', sa.String(length=40), nullable=False),
    sa.Column('category_id', sa.Uuid(), nullable=False),
    sa.Column('department_id', sa.Uuid(), nullable=False),
    sa.Column('state', sa.String(length=60), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('address', sa.String(length=300), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('attributes', JSON, nullable=False),
    sa.Column('public_name', sa.String(length=120), nullable=True),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('submitted_at', services.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', services.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sla_due', sa.Date(), nullable=False),
    sa.Column('scheduled_for', sa.Date(), nullable=True),
    sa.Column('fixed_at', services.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', services.kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('duplicate_of', sa.Uuid(), nullable=True),
    sa.Column('duplicate_reference', sa.String(length=40), nullable=True),
    sa.Column('transferred_to', sa.String(length=200), nullable=True),
    sa.Column('rejection_reason', sa.String(length=600), nullable=True),
    sa.Column('fingerprint', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], name=op.f('fk_street_report_case_id_case')),
    sa.ForeignKeyConstraint(['category_id'], ['street_category.id'], name=op.f('fk_street_report_category_id_street_category')),
    sa.ForeignKeyConstraint(['department_id'], ['street_department.id'], name=op.f('fk_street_report_department_id_street_department')),
    sa.ForeignKeyConstraint(['duplicate_of'], ['case.id'], name=op.f('fk_street_report_duplicate_of_case')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], name=op.f('fk_street_report_tenant_id_tenant')),
    sa.PrimaryKeyConstraint('case_id', name=op.f('pk_street_report'))
    )
    with op.batch_alter_table('street_report', schema=None) as batch_op:
        batch_op.create_index('ix_street_report_category_state', ['category_id', 'state'], unique=False)
        batch_op.create_index('ix_street_report_fingerprint', ['fingerprint'], unique=False)
        batch_op.create_index('ix_street_report_lat_lon', ['lat', 'lon'], unique=False)
        batch_op.create_index(batch_op.f('ix_street_report_reference'), ['reference'], unique=False)
        batch_op.create_index('ix_street_report_tenant_state', ['tenant_id', 'state'], unique=False)

    op.create_table('street_report_follower',
    sa.Column('case_id', sa.Uuid(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('person_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', services.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], name=op.f('fk_street_report_follower_case_id_case')),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_street_report_follower_person_id_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_street_report_follower')),
    sa.UniqueConstraint('case_id', 'email', name=op.f('uq_street_report_follower_case_id_email'))
    )
    with op.batch_alter_table('street_report_follower', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_street_report_follower_case_id'), ['case_id'], unique=False)

    op.create_table('street_report_photo',
    sa.Column('case_id', sa.Uuid(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('image_key', sa.String(length=300), nullable=False),
    sa.Column('thumb_key', sa.String(length=300), nullable=False),
    sa.Column('media_type', sa.String(length=60), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('created_at', services.kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], name=op.f('fk_street_report_photo_case_id_case')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_street_report_photo')),
    sa.UniqueConstraint('case_id', 'position', name=op.f('uq_street_report_photo_case_id_position'))
    )
    with op.batch_alter_table('street_report_photo', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_street_report_photo_case_id'), ['case_id'], unique=False)


def downgrade() -> None:
    for table in (
        'street_report_photo',
        'street_report_follower',
        'street_report',
        'street_department_member',
        'street_category',
        'tenant_boundary',
        'street_department',
    ):
        op.drop_table(table)
