"""report_sends: the daily reports the daemon sent by itself (report.send_at), one row per
day, claimed before the e-mail leaves.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 12:55:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'report_sends',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('recipients', sa.String(length=500), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('error', sa.String(length=300), nullable=True),
        sa.CheckConstraint("status IN ('sending', 'sent', 'failed')", name=op.f('ck_report_sends_status')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_report_sends')),
        sa.UniqueConstraint('day', name=op.f('uq_report_sends_day')),
    )


def downgrade() -> None:
    op.drop_table('report_sends')
