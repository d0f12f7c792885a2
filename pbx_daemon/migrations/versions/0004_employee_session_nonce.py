"""employees.session_nonce: the admin's session cookies carry it; a new value (logout,
password change) ends every session of that employee.

Existing employees get none: their current cookies stop working and the next login sets
one.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 06:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('employees', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_nonce', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('employees', schema=None) as batch_op:
        batch_op.drop_column('session_nonce')
