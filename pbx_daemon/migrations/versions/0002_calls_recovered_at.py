"""calls.recovered_at: when a later answered call closed a missed call's call-back task.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 16:46:38.737291
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recovered_at', sa.DateTime(timezone=True), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_column('recovered_at')

