"""employees.mobile_follow, mobile_delay: the mobile rings too (follow-me, answered with 1);
departments.hold_seconds: every phone busy, the caller waits for one to free up (0: off).

Existing employees keep follow-me off; existing departments do not hold.

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-01 12:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('employees', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mobile_follow', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('mobile_delay', sa.Integer(), nullable=False,
                                      server_default='5'))
    with op.batch_alter_table('departments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hold_seconds', sa.Integer(), nullable=False,
                                      server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('departments', schema=None) as batch_op:
        batch_op.drop_column('hold_seconds')
    with op.batch_alter_table('employees', schema=None) as batch_op:
        batch_op.drop_column('mobile_delay')
        batch_op.drop_column('mobile_follow')
