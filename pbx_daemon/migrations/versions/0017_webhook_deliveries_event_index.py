"""webhook_deliveries.event_id indexed: deleting old webhook events (webhooks.keep_days)
finds each event's deliveries without reading the whole table, and so does PostgreSQL's
ON DELETE CASCADE.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 18:00:00
"""
from alembic import op


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f('ix_webhook_deliveries_event_id'), 'webhook_deliveries', ['event_id'])


def downgrade() -> None:
    op.drop_index(op.f('ix_webhook_deliveries_event_id'), table_name='webhook_deliveries')
