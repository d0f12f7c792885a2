"""tasks.escalated_at: when an overdue missed-call task was escalated to the department's
head (inquiries.escalate_after_minutes), written before the head is told, so it happens once.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 14:05:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tasks') as batch:
        batch.add_column(sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('tasks') as batch:
        batch.drop_column('escalated_at')
