"""business profile for the public page: description, address, website, opening hours, logo, updated_at

Revision ID: 0003_profile
Revises: 0002
Create Date: 2026-12-03 10:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003_profile'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('business', schema=None) as batch_op:
        batch_op.add_column(sa.Column('description', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('address', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('website', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('opening_hours', sa.JSON(), server_default='[]', nullable=False))
        batch_op.add_column(sa.Column('logo', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('business', schema=None) as batch_op:
        batch_op.drop_column('updated_at')
        batch_op.drop_column('logo')
        batch_op.drop_column('opening_hours')
        batch_op.drop_column('website')
        batch_op.drop_column('address')
        batch_op.drop_column('description')
