"""call_stats, call_stat_days, call_stat_dirty: the daily call rollup the analytics read.

Existing calls are not rolled up here (that could take minutes on a large history): a day
without a row in call_stat_days is built the first time a page or a report asks for it,
and ``pbx-crm stats rebuild`` builds the whole history at once.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 09:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('call_stats',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('employee_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('counted', sa.Boolean(), nullable=False),
    sa.Column('cold', sa.Boolean(), nullable=False),
    sa.Column('recovered_minutes', sa.Integer(), nullable=True),
    sa.Column('calls', sa.Integer(), nullable=False),
    sa.Column('talk_seconds', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_call_stats'))
    )
    with op.batch_alter_table('call_stats', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_call_stats_day'), ['day'], unique=False)
    op.create_table('call_stat_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('tz', sa.String(length=64), nullable=False),
    sa.Column('refreshed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_call_stat_days'))
    )
    op.create_table('call_stat_dirty',
    sa.Column('slot', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('slot', name=op.f('pk_call_stat_dirty'))
    )


def downgrade() -> None:
    op.drop_table('call_stat_dirty')
    op.drop_table('call_stat_days')
    with op.batch_alter_table('call_stats', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_call_stats_day'))
    op.drop_table('call_stats')
